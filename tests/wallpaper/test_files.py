"""Wallpaper HDF5 files: atomic shards with a manifest, no silent overwrite, bad input refused."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from equisym.data.wallpaper import WallpaperH5, check_images, read_wallpaper_h5
from equisym.errors import EquisymError
from equisym.generate.wallpaper import manifest_path, safe_name, write_wallpaper_h5, write_wallpaper_shards
from tests.conftest import run_cli

KW = dict(groups="p1,p2,p4m", source="noise", size=32, cell=(8, 14))


def _write(path, images, labels, **extra):
    n = len(images) if np.ndim(images) >= 1 else 1
    with h5py.File(path, "w") as f:
        f["images"] = images
        f["labels"] = labels
        f["lattice"] = extra.get("lattice", np.tile(np.eye(2) * 10, (n, 1, 1)))
        f["origin"] = np.zeros((n, 2))
        f["source"] = np.array([extra.get("source", "atoms")] * n, dtype=h5py.string_dtype())
    return path


def test_shards_manifest_and_missing_shard(tmp_path):
    out = tmp_path / "set" / "wp.h5"
    manifest = write_wallpaper_shards(out, KW, 10, 4, progress=False)
    assert manifest == manifest_path(out) and manifest.name == "wp.manifest.json"
    body = json.loads(manifest.read_text())
    assert [e["n"] for e in body["shards"]] == [4, 4, 2] and body["n"] == 10
    whole = read_wallpaper_h5(tmp_path / "set")
    assert len(whole["labels"]) == 10 and list(whole["labels"][:4]) == [0, 1, 10, 0]
    assert np.array_equal(read_wallpaper_h5(manifest)["images"], whole["images"])
    assert not [p for p in (tmp_path / "set").iterdir() if p.name.startswith(".")]  # no temporary files left
    import shutil

    shutil.copy(tmp_path / "set" / "wp_00002.h5", tmp_path / "set" / "wp_00003.h5")  # a stray shard
    with pytest.raises(EquisymError, match="not listed"):
        read_wallpaper_h5(tmp_path / "set")
    (tmp_path / "set" / "wp_00003.h5").unlink()
    (tmp_path / "set" / "wp_00001.h5").unlink()
    with pytest.raises(EquisymError, match="missing wp_00001.h5|1 are missing"):
        read_wallpaper_h5(tmp_path / "set")
    with pytest.raises(EquisymError, match="1 are missing"):
        read_wallpaper_h5(manifest)
    manifest.unlink()  # shards without their manifest: an unfinished set
    with pytest.raises(EquisymError, match="incomplete"):
        read_wallpaper_h5(tmp_path / "set")


def test_refuses_to_overwrite_unless_asked(tmp_path):
    out = write_wallpaper_h5(tmp_path / "a.h5", KW, 3, progress=False)
    with pytest.raises(EquisymError, match="exists.*--overwrite"):
        write_wallpaper_h5(out, KW, 2, progress=False)
    assert len(read_wallpaper_h5(out)["labels"]) == 3
    write_wallpaper_h5(out, KW, 2, progress=False, overwrite=True)
    assert len(read_wallpaper_h5(out)["labels"]) == 2
    write_wallpaper_shards(tmp_path / "s.h5", KW, 4, 2, progress=False)
    with pytest.raises(EquisymError, match="exists"):
        write_wallpaper_shards(tmp_path / "s.h5", KW, 4, 2, progress=False)
    r = run_cli("generate", "wallpaper", "--groups", "p1", "--source", "noise", "--n", "2", "--size", "32", "--cell", "8,14",
                "--workers", "1", "--no-progress", "--out", str(out))  # fmt: skip
    assert r.returncode == 2 and "--overwrite" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    write_wallpaper_shards(tmp_path / "s.h5", KW, 6, 2, progress=False, overwrite=True)  # 3 shards
    write_wallpaper_shards(tmp_path / "s.h5", KW, 3, 2, progress=False, overwrite=True)  # 2: the third goes
    assert len(read_wallpaper_h5(tmp_path / "s.manifest.json")["labels"]) == 3
    assert len(read_wallpaper_h5(str(tmp_path / "s_*.h5"))["labels"]) == 3


def test_float_images_in_unit_range_are_quantised_once(tmp_path):
    imgs = np.random.default_rng(0).random((3, 16, 16))
    data = read_wallpaper_h5(_write(tmp_path / "f.h5", imgs, [0, 1, 2]))
    assert data["images"].dtype == np.uint8 and np.array_equal(data["images"], np.rint(imgs * 255).astype(np.uint8))
    x, _ = WallpaperH5(tmp_path / "f.h5")[0]
    assert abs(float(x.max()) - imgs[0].max()) < 1 / 255  # divided by 255 exactly once


@pytest.mark.parametrize(
    "images, labels, match",
    [
        (np.full((2, 16, 16), 300.0), [0, 1], r"float images must lie in \[0, 1\]"),
        (np.full((2, 16, 16), np.nan), [0, 1], "NaN"),
        (np.zeros((16, 16), np.uint8), np.zeros(16, int), r"shape \(16, 16\); expected \(N, H, W\)"),
        (np.zeros((2, 16, 16), np.uint16) + 4000, [0, 1], "8-bit"),
        (np.zeros((2, 16, 16), np.uint8), [0, -1], "outside 0-16"),
        (np.zeros((2, 16, 16), np.uint8), [0, 17], "outside 0-16"),
        (np.zeros((3, 16, 16), np.uint8), [0, 1], "2 labels for 3 images"),
        (np.zeros((2, 16, 16), np.uint8), [0.5, 1.0], "integers"),
    ],
)
def test_bad_files_are_refused(tmp_path, images, labels, match):
    path = _write(tmp_path / "bad.h5", images, labels)
    with pytest.raises(EquisymError, match=match):
        read_wallpaper_h5(path)


def test_colour_and_small_integer_images_convert():
    rgba = np.zeros((1, 8, 8, 4), np.uint8)
    rgba[..., :3] = 90
    rgba[..., 3] = 255
    assert np.all(check_images(rgba, "x") == 90)
    assert check_images(np.full((1, 8, 8), 200, np.int64), "x").dtype == np.uint8


def test_source_names_are_sanitised():
    assert safe_name("../../etc/passwd") == "etc_passwd"
    assert safe_name("atoms") == "atoms" and safe_name("") == "_" and "/" not in safe_name("a/b\\c d")
