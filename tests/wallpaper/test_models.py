"""Wallpaper models: exact D4 invariance (and a plain CNN failing it), hierarchy, end-to-end CLI."""

from __future__ import annotations

import json

import pytest
import torch

from equisym.errors import EquisymError
from equisym.generate.wallpaper import GENERATOR_VERSION
from equisym.nn.registry import build_model
from equisym.nn.wallpaper import D4_ELEMENTS, d4_transform
from equisym.testing import equivariance_error
from equisym.train.tasks.wallpaper import predict
from tests.conftest import run_cli

D4 = torch.arange(8)


def _act(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return d4_transform(x, int(g))


def test_d4_model_exactly_invariant_and_resnet_not():
    x = torch.rand(3, 1, 32, 32, dtype=torch.float64)
    d4, _ = build_model({"name": "wallpaper-d4", "preset": "tiny", "hierarchical": True})
    d4 = d4.double().eval()
    err = equivariance_error(d4, x, D4, _act)
    assert err.shape == (8,) and float(err.max()) < 1e-10
    assert float(d4(x).detach().std()) > 1e-3  # not trivially constant
    cnn, _ = build_model({"name": "wallpaper-resnet", "preset": "tiny"})
    cnn = cnn.double().eval()
    err = equivariance_error(cnn, x, D4, _act)
    assert float(err[1:].min()) > 1e-4  # fails for every non-identity element
    assert len(D4_ELEMENTS) == 8
    with pytest.raises(EquisymError, match="divisible"):
        d4(torch.rand(1, 1, 31, 31, dtype=torch.float64))


def test_float32_invariance_tolerance():
    d4, _ = build_model({"name": "wallpaper-d4", "preset": "tiny"})
    d4.eval()
    x = torch.rand(2, 1, 64, 64)
    assert float(equivariance_error(d4, x, D4, _act).max()) < 1e-4


def test_hierarchical_prediction_picks_order_first():
    logits = torch.zeros(1, 22)
    logits[0, 16] = 5.0  # p6m has the best group logit ...
    logits[0, 17 + 3] = 9.0  # ... but the order head says 4-fold
    logits[0, 10] = 1.0  # p4m is the best 4-fold group
    assert int(predict(logits)) == 10
    assert int(predict(logits[:, :17])) == 16


def test_end_to_end_cli(tmp_path):
    out = tmp_path / "run"
    args = [
        "train", "configs/wallpaper-d4.yaml", "--out", str(out),
        "-o", "model.preset=tiny", "-o", "model.hierarchical=true", "-o", "data.size=48", "-o", "data.cell=[12,20]",
        "-o", "data.train_size=34", "-o", "data.val_size=17", "-o", "data.test_size=17", "-o", "data.groups=p1,p2,p4m",
        "-o", f"data.cache_dir={tmp_path / 'cache'}", "-o", "trainer.max_epochs=1", "-o", "trainer.progress_bar=false",
        "-o", "eval.sources=[photos,noise]", "-o", "eval.noise=[0.3]", "-o", "data.stream=false", "-o", "data.batch_size=32",
    ]  # fmt: skip
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    r = run_cli(*[a if a != "configs/wallpaper-d4.yaml" else str(repo / a) for a in args])
    assert r.returncode == 0, r.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["accuracy"]) == {"photos", "noise"} and "0.3" in metrics["noise"]["noise"]
    assert metrics["generator_version"] == GENERATOR_VERSION  # which images these accuracies are on
    assert (out / "confusion_photos_to_noise.png").exists() and (out / "best.ckpt").exists()
    # equisym eval on an HDF5 file written by the generator
    from equisym.generate.wallpaper import write_wallpaper_h5

    h5 = write_wallpaper_h5(tmp_path / "atoms.h5", dict(groups="p1,p2,p4m", source="atoms", size=48, cell=(12, 20)), 6, progress=False)
    r = run_cli("eval", str(out / "best.ckpt"), "--data", str(h5), "--out", str(tmp_path / "eval"))
    assert r.returncode == 0, r.stderr[-2000:]
    evaluated = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(evaluated["accuracy"]) == {"atoms"} and evaluated["test_size"] == 6  # the number scored
    assert "generator_version" not in evaluated  # images from a file
    assert metrics["test_size"] == 17
    # images smaller than the model's input: one clear line, exit code 2
    small = write_wallpaper_h5(tmp_path / "small.h5", dict(groups="p1", source="noise", size=32, cell=(8, 14)), 2, progress=False)
    r = run_cli("eval", str(out / "best.ckpt"), "--data", str(small), "--out", str(tmp_path / "eval-small"))
    assert r.returncode == 2 and "smaller than the model's input" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_config_errors():
    from pathlib import Path

    from equisym.config import load_yaml
    from equisym.train.task import load_config

    def cfg():
        return load_yaml(Path(__file__).resolve().parents[2] / "configs/wallpaper-scores.yaml")

    with pytest.raises(EquisymError, match="train_source"):
        load_config(cfg(), ["data.train_source=video"])
    with pytest.raises(EquisymError, match="eval.sources"):
        load_config(cfg(), ["eval.sources=[photos,movies]"])
    with pytest.raises(EquisymError, match="train_noise"):
        load_config(cfg(), ["data.train_noise=-0.1"])
    task, c = load_config(cfg(), ["model.hierarchical=true"])
    assert c.model["hierarchical"] is True and c.model["num_classes"] == 17


def test_train_noise_adds_a_noisy_copy_of_every_training_image():
    from pathlib import Path

    from equisym.config import load_yaml
    from equisym.train.task import load_config
    from equisym.train.tasks.wallpaper import WallpaperDataModule

    base = load_yaml(Path(__file__).resolve().parents[2] / "configs/wallpaper-d4.yaml")
    small = ["data.size=48", "data.cell=[12,20]", "data.train_size=6", "data.val_size=3", "data.groups=p1,p4m", "data.cache_dir=null", "data.crop=null", "data.stream=false"]
    sets = {}
    for noise in (0.0, 0.3):
        _, c = load_config(base, small + [f"data.train_noise={noise}"])
        dm = WallpaperDataModule(c)
        dm.setup("fit")
        sets[noise] = dm
    clean, noisy = sets[0.0].train_set, sets[0.3].train_set
    assert len(clean) == 6 and len(noisy) == 12 and len(sets[0.3].val_set) == 3
    x0, y0 = clean.tensors
    first = torch.stack([noisy[i][0] for i in range(6)])
    copy = torch.stack([noisy[i][0] for i in range(6, 12)])
    assert torch.equal(first, x0)  # the clean images come first, unchanged
    assert torch.equal(torch.stack([noisy[i][1] for i in range(6, 12)]), y0)  # same labels
    residual = (copy - x0).flatten(1).std(1)
    assert float(residual.max()) > 0.01 and float(residual.max()) < 0.3 + 0.05  # σ ~ U(0, 0.3) per image
