"""equisym predict on images: the wallpaper detector (17 groups), conversions, plots, classifiers."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile
from PIL import Image

from equisym.cli import main
from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS
from equisym.inference.images import read_image
from equisym.inference.wallpaper import OPERATIONS


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
    """17 images from ``equisym generate wallpaper --n 17`` (one per group), written as PNGs."""
    import h5py

    root = tmp_path_factory.mktemp("wallpaper-png")
    args = ["generate", "wallpaper", "--n", "17", "--size", "128", "--seed", "0", "--workers", "1", "--no-progress", "--out", str(root / "g.h5")]
    assert main(args) == 0
    with h5py.File(root / "g.h5", "r") as f:
        images, labels = f["images"][()], f["labels"][()]
    assert sorted(labels.tolist()) == list(range(17))
    out = []
    for image, label in zip(images, labels):
        path = root / f"{PLANE_GROUP_SYMBOLS[label]}.png"
        Image.fromarray(image).save(path)
        out.append((path, PLANE_GROUP_SYMBOLS[label]))
    return out


def test_detector_identifies_the_17_groups_without_a_lattice(pngs, tmp_path):
    out = tmp_path / "groups.csv"
    assert main(["predict", "wallpaper-detector", *[str(p) for p, _ in pngs], "--out", str(out), "--no-progress"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[:10] == ["input", "prediction", "confidence", "a_px", "b_px", "gamma_deg", "a_x", "a_y", "b_x", "b_y"]
    assert list(rows[0])[10:16] == list(OPERATIONS) and list(rows[0])[16:33] == [f"score_{g}" for g in PLANE_GROUP_SYMBOLS]
    assert list(rows[0])[33:] == ["note"] and all(r["note"] == "" for r in rows)
    right = sum(r["prediction"] == truth for r, (_, truth) in zip(rows, pngs))
    assert right >= 16, [(r["prediction"], t) for r, (_, t) in zip(rows, pngs)]
    by_group = {t: r for r, (_, t) in zip(rows, pngs)}
    # the operation scores say which operations are there
    assert float(by_group["pm"]["mirror"]) > 0.9 > float(by_group["pm"]["glide"])
    assert float(by_group["pg"]["glide"]) > 0.9 > float(by_group["pg"]["mirror"])
    assert float(by_group["p4"]["rot4"]) > 0.9 > float(by_group["p4"]["mirror"])
    assert by_group["p4"]["rot3"] == ""  # a square lattice admits no 3-fold rotation
    assert float(by_group["p6m"]["rot6"]) > 0.9
    for r in rows:
        a, b = float(r["a_px"]), float(r["b_px"])
        assert 8 < a <= b < 64 and 0.9 <= float(r["confidence"]) <= 1.0


def test_plot_writes_one_figure_per_image(pngs, tmp_path):
    chosen = [str(p) for p, g in pngs if g in ("p4g", "cm")]
    out = tmp_path / "groups.csv"
    assert main(["predict", "wallpaper-detector", *chosen, "--out", str(out), "--plot", "--no-progress"]) == 0
    figures = sorted(p.name for p in (tmp_path / "groups_plots").iterdir())
    assert figures == ["cm.png", "p4g.png"]
    with Image.open(tmp_path / "groups_plots" / "p4g.png") as img:
        assert img.size[0] > 300


def test_plot_elements_of_p4g():
    """p4g: 4-fold centres off the mirrors, 2-fold centres on them; mirrors and glides both drawn."""
    from equisym.generate.wallpaper import WallpaperGenerator
    from equisym.inference.wallpaper import detect
    from equisym.inference.wallpaper_plot import symmetry_elements

    image = WallpaperGenerator("all", "photos", size=128, seed=0).sample(11).image / 255.0
    result = detect(image)
    centres, lines = symmetry_elements(result.elements, result.lattice, image.shape)
    assert {2, 4} == set(centres.values())
    assert {"mirror", "glide"} == {kind for *_, kind in lines}
    for (x, y), order in centres.items():
        on_mirror = any(abs((np.array([x, y]) - p) @ np.array([-d[1], d[0]])) < 0.5 for p, d, k in lines if k == "mirror")
        assert on_mirror == (order == 2)


def test_conversions_16bit_tiff_rgba_png_and_jpeg(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 65536, size=(20, 24), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "g16.tif", grey)
    np.testing.assert_allclose(read_image(tmp_path / "g16.tif"), grey / 65535.0)
    rgba = rng.integers(0, 256, size=(20, 24, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    np.testing.assert_allclose(read_image(tmp_path / "rgba.png"), rgba[..., :3].mean(-1) / 255.0)  # alpha dropped
    Image.fromarray(grey.astype(np.uint16)).save(tmp_path / "g16.png")
    np.testing.assert_allclose(read_image(tmp_path / "g16.png"), grey / 65535.0)
    Image.fromarray(rgba[..., :3]).save(tmp_path / "rgb.jpg")
    assert read_image(tmp_path / "rgb.jpg").shape == (20, 24)
    tifffile.imwrite(tmp_path / "f32.tif", np.linspace(-2, 3, 480, dtype=np.float32).reshape(20, 24))
    x = read_image(tmp_path / "f32.tif")
    assert x.min() == 0.0 and x.max() == 1.0


@pytest.mark.parametrize("case, message", [
    ("constant", "the image is constant"),
    ("tiny-cells", "at least two unit cells"),
    ("one-cell-crop", "at least two unit cells"),
    ("unreadable", "cannot read image"),
    ("wrong-task", "its inputs are structure files"),
    ("not-a-model", "is not a model file"),
])
def test_bad_images_are_one_line_errors(models, pngs, tmp_path, capsys, case, message):
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(tmp_path / "flat.png")
    y, x = np.mgrid[0:64, 0:64]
    Image.fromarray((127 + 120 * np.sin(x / 9.0) * np.cos(y / 13.0 + 0.3 * x / 9.0)).astype(np.uint8)).save(tmp_path / "big-cell.png")
    from equisym.generate.wallpaper import WallpaperGenerator

    cell = WallpaperGenerator("p4m", "photos", size=192, seed=1, cell=(40, 44)).sample(0).image
    Image.fromarray(cell[:60, :60]).save(tmp_path / "crop.png")  # a 41 px cell: less than two across
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "model.txt").write_text("hello")
    model, image = {
        "constant": ("wallpaper-detector", "flat.png"),
        "tiny-cells": ("wallpaper-detector", "big-cell.png"),
        "one-cell-crop": ("wallpaper-detector", "crop.png"),
        "unreadable": ("wallpaper-detector", "broken.png"),
        "wrong-task": (str(models["pet0"]), "flat.png"),
        "not-a-model": (str(tmp_path / "model.txt"), "flat.png"),
    }[case]
    out = tmp_path / "groups.csv"
    assert main(["predict", model, str(pngs[0][0]), str(tmp_path / image), "--out", str(out), "--plot"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0, err
    assert not out.exists() and not (tmp_path / "groups_plots").exists()


@pytest.mark.parametrize("kind", ["resnet", "scores"])
def test_trained_classifiers(models, pngs, tmp_path, kind):
    """A classifier's CSV: probabilities, the detector's lattice and operation scores beside."""
    out = tmp_path / "groups.csv"
    images = [str(p) for p, _ in pngs[:3]]
    assert main(["predict", str(models[kind]), *images, "--out", str(out), "--no-progress"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["input"] for r in rows] == images
    probs = np.array([[float(r[f"p_{g}"]) for g in PLANE_GROUP_SYMBOLS] for r in rows])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    for r, p in zip(rows, probs):
        assert r["prediction"] == PLANE_GROUP_SYMBOLS[int(p.argmax())]
        assert float(r["confidence"]) == pytest.approx(p.max(), abs=1e-5)
        assert float(r["a_px"]) > 0


def test_classifier_refuses_images_smaller_than_its_input(models, tmp_path, capsys):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8)).save(tmp_path / "small.png")
    assert main(["predict", str(models["resnet"]), str(tmp_path / "small.png"), "--out", str(tmp_path / "g.csv")]) == 2
    assert "smaller than the 64×64 px this model was trained on" in capsys.readouterr().err


def test_classifier_flags_images_without_a_lattice(models, pngs, tmp_path, capsys):
    """A trained classifier still classifies an image with no detectable lattice, but the row
    says so (empty lattice, a note) and a warning counts such images."""
    y, x = np.mgrid[0:64, 0:64]
    Image.fromarray((127 + 120 * np.sin(x / 9.0) * np.cos(y / 13.0 + 0.3 * x / 9.0)).astype(np.uint8)).save(tmp_path / "big-cell.png")
    out = tmp_path / "groups.csv"
    images = [str(pngs[0][0]), str(tmp_path / "big-cell.png")]
    assert main(["predict", str(models["resnet"]), *images, "--out", str(out), "--no-progress"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["note"] == "" and float(rows[0]["a_px"]) > 0
    assert rows[1]["note"].startswith("no lattice found") and rows[1]["a_px"] == ""  # NaN is written empty
    assert rows[1]["prediction"] in PLANE_GROUP_SYMBOLS
    assert "no lattice in 1 of 2 images" in capsys.readouterr().err


def test_score_model_trains_on_the_features_predict_gives_it(pngs):
    """The score model's training features are the detector's noise-corrected group scores that
    ``equisym predict`` feeds it, on clean and on noisy images (plain scores would differ: under
    σ = 0.3 noise they fall towards the noise share of the image, the detector's stay near 1)."""
    from equisym.generate.wallpaper.verify import analyse
    from equisym.inference.wallpaper import detect
    from equisym.train.tasks.wallpaper import score_features

    rng = np.random.default_rng(0)
    for path, _ in pngs[::4]:
        clean = read_image(path)
        for image in (clean, np.clip(clean + rng.normal(0, 0.3, clean.shape), 0, 1)):
            trained_on = score_features(image[None])[0]
            np.testing.assert_allclose(trained_on, detect(image).group_scores, atol=1e-6)
    path, symbol = pngs[-1]
    assert symbol == "p6m"
    noisy = np.clip(read_image(path) + rng.normal(0, 0.5, clean.shape), 0, 1)
    plain, corrected = analyse(noisy).scores[16], score_features(noisy[None])[0][16]
    assert corrected > 0.9 and plain < corrected - 0.15, (plain, corrected)  # noise lowers p6m's plain score only


def test_keep_going_writes_a_row_for_every_image(models, pngs, tmp_path, capsys):
    """With --keep-going an unreadable, constant or too-small image gets a row with no prediction and
    the reason, the others are predicted as without it, and a warning counts the failures."""
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(tmp_path / "flat.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40), dtype=np.uint8)).save(tmp_path / "small.png")
    good = [str(p) for p, _ in pngs[:2]]
    images = [good[0], str(tmp_path / "flat.png"), str(tmp_path / "broken.png"), good[1]]
    out = tmp_path / "groups.csv"
    plots = tmp_path / "figures"
    assert main(["predict", "wallpaper-detector", *images, "--out", str(out), "--keep-going", "--plot", str(plots), "--no-progress"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["input"] for r in rows] == images
    assert [r["prediction"] for r in rows] == [pngs[0][1], "", "", pngs[1][1]]
    assert rows[1]["note"].endswith("there is no pattern to analyse") and rows[1]["a_px"] == ""
    assert rows[2]["note"].startswith("cannot read image") and rows[2]["confidence"] == ""
    assert rows[0]["note"] == rows[3]["note"] == ""
    assert sorted(p.name for p in plots.iterdir()) == sorted(f"{g}.png" for g in (pngs[0][1], pngs[1][1]))
    assert "2 of 4 images have no prediction" in capsys.readouterr().err

    # a trained classifier: the too-small image is refused alone, its batch is still classified
    images = [good[0], str(tmp_path / "small.png"), str(tmp_path / "broken.png"), good[1]]
    assert main(["predict", str(models["resnet"]), *images, "--out", str(out), "--keep-going", "--no-progress"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["prediction"] != "" for r in rows] == [True, False, False, True]
    assert "smaller than the 64×64 px" in rows[1]["note"]
    assert "2 of 4 images have no prediction" in capsys.readouterr().err

    # every image bad: an error, not a table of failures
    out.unlink()
    bad = [str(tmp_path / "flat.png"), str(tmp_path / "broken.png")]
    assert main(["predict", "wallpaper-detector", *bad, "--out", str(out), "--keep-going", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "none of the 2 images could be predicted (the first: " in err and "flat.png" in err and err.count("\n") == 0, err
    assert not out.exists()

    # without it, the first bad image stops the run and nothing is written
    assert main(["predict", str(models["resnet"]), *images, "--out", str(out), "--no-progress"]) == 2
    assert not out.exists()


def test_keep_going_is_for_images_only(models, tmp_path, capsys):
    structure = tmp_path / "ch4.xyz"
    from ase.build import molecule
    from ase.io import write

    write(structure, molecule("CH4"))
    assert main(["predict", str(models["pet0"]), str(structure), "--out", str(tmp_path / "o.xyz"), "--keep-going"]) == 2
    assert "--keep-going applies to wallpaper images" in capsys.readouterr().err


def test_score_model_from_another_detector_version_is_flagged(models, pngs, tmp_path, capsys):
    """A score model's file records the detector version of its training features; predicting or
    evaluating with another version's features (here a file that records none: version 1) warns,
    a file saved by the training module now does not."""
    from pathlib import Path

    import torch

    from equisym.config import load_yaml
    from equisym.generate.wallpaper.verify import DETECTOR_VERSION
    from equisym.train.task import load_config
    from equisym.train.tasks.wallpaper import WallpaperModule

    image = str(pngs[0][0])
    assert main(["predict", str(models["scores"]), image, "--out", str(tmp_path / "old.csv"), "--no-progress"]) == 0
    assert f"detector version 1; this equisym computes version {DETECTOR_VERSION}" in capsys.readouterr().err

    _, cfg = load_config(load_yaml(Path(__file__).resolve().parents[2] / "configs/wallpaper-scores.yaml"), [])
    module = WallpaperModule(cfg)
    checkpoint = {"state_dict": {f"model.{k}": v for k, v in module.model.state_dict().items()}}
    module.on_save_checkpoint(checkpoint)  # what Lightning calls when it saves best.ckpt / last.ckpt
    assert checkpoint["equisym"]["features"] == {"detector_version": DETECTOR_VERSION}
    torch.save(checkpoint, tmp_path / "current.ckpt")
    assert main(["predict", str(tmp_path / "current.ckpt"), image, "--out", str(tmp_path / "new.csv"), "--no-progress"]) == 0
    assert "detector version" not in capsys.readouterr().err
    # `equisym eval` reads model files through load_trained: the same warning, once per file
    from equisym.train.checkpoint import load_trained

    load_trained(models["scores"])
    assert capsys.readouterr().err.count("detector version 1;") == 1
    load_trained(tmp_path / "current.ckpt")
    assert "detector version" not in capsys.readouterr().err
