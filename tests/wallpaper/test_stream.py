"""Streamed training images: deterministic in (seed, index), distinct, label-preserving
augmentation derived from the group tables, fresh indices every epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equisym.data.wallpaper import StreamSampler, WallpaperStream
from equisym.errors import EquisymError
from equisym.generate.wallpaper import WallpaperGenerator
from equisym.generate.wallpaper.verify import label_is_exact
from equisym.geometry.plane_groups import PIXEL_D4, isometry_keeps_group, label_preserving_d4
from equisym.nn.wallpaper import d4_transform

KW = dict(groups="p1,p2,pm,p4,p3", source="noise", size=40, seed=2, cell=(8, 12))


def test_stream_is_deterministic_distinct_and_cropped():
    a = WallpaperStream(1000, crop=32, jitter=0.2, aug_seed=1, **KW)
    b = WallpaperStream(1000, crop=32, jitter=0.2, aug_seed=1, **KW)
    x0, y0 = a[7]
    x1, y1 = b[7]
    assert x0.shape == (1, 32, 32) and x0.dtype == torch.float32 and y0 == y1 == 2  # pm = groups[7 % 5]
    assert torch.equal(x0, x1)
    assert not torch.equal(a[7][0], a[12][0])  # same group, another image
    assert 0.0 <= float(x0.min()) and float(x0.max()) <= 1.0
    assert not torch.equal(a[1007][0], a[7][0])  # same image (index mod n), another augmentation
    plain = WallpaperStream(1000, crop=32, augment=False, **KW)
    full = WallpaperGenerator(**KW).sample(7).image
    assert torch.equal(plain[7][0][0], torch.from_numpy(full[4:36, 4:36].astype(np.float32) / 255))
    with pytest.raises(EquisymError, match="crop"):
        WallpaperStream(10, crop=41, **KW)
    with pytest.raises(EquisymError, match="jitter"):
        WallpaperStream(10, jitter=1.5, **KW)


def test_sampler_gives_new_indices_every_epoch():
    s = StreamSampler(6, seed=0)
    first = list(s)
    s.set_epoch(1)
    second = list(s)
    assert sorted(first) == list(range(6)) and sorted(second) == list(range(6, 12)) and len(s) == 6


def test_label_preserving_d4_from_tables():
    # no enantiomorphic plane groups: every pixel-grid transform keeps every label
    assert all(label_preserving_d4(label) == tuple(range(8)) for label in range(17))
    assert not isometry_keeps_group(9, np.diag([1.0, 2.0]))  # a stretch is not an isometry


@pytest.mark.parametrize("group", ["pg", "p4g", "p31m"])
def test_flipped_and_rotated_images_keep_their_group(group):
    # independent check on pixels: the transformed image and its transformed lattice pass the
    # verifier for the same label (and no extra symmetry appears)
    gen = WallpaperGenerator(group, "noise", size=96, seed=5, cell=(16, 22))
    s = gen.sample(0)
    for e in (1, 4, 5):
        img = d4_transform(torch.from_numpy(s.image), e).numpy()
        M = PIXEL_D4[e].astype(float)
        ok, _, _ = label_is_exact(img, s.label, s.lattice @ M.T)
        assert ok, (group, e)


def test_streamed_training_through_the_cli(tmp_path):
    import json
    from pathlib import Path

    from tests.conftest import run_cli

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "run"
    r = run_cli(
        "train", str(repo / "configs/wallpaper-symcorr.yaml"), "--out", str(out),
        "-o", "model.preset=tiny", "-o", "data.size=40", "-o", "data.cell=[8,12]", "-o", "data.crop=32",
        "-o", "data.train_size=50", "-o", "data.epoch_size=16", "-o", "data.batch_size=8", "-o", "data.num_workers=0",
        "-o", "data.val_size=8", "-o", "data.test_size=8", "-o", "data.groups=p1,p4", "-o", "trainer.max_epochs=2",
        "-o", f"data.cache_dir={tmp_path / 'cache'}", "-o", "eval.sources=[noise]", "-o", "eval.noise=[]", "-o", "data.train_source=noise",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["training"]["optimizer_steps"] == 4 and (out / "learning_curves.png").exists()
    r = run_cli("train", str(repo / "configs/wallpaper-scores.yaml"), "--out", str(tmp_path / "bad"), "-o", "data.stream=true")
    assert r.returncode == 2 and "data.stream is for image models" in r.stderr
