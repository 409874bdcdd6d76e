"""Every task's checkpoints are model files: plain data (``weights_only=True``), the ``equisym``
block, and ``load_model`` rebuilds exactly the trained network."""

from __future__ import annotations

import pytest
import torch

from equisym.config import load_yaml
from equisym.inference import FORMAT, load_model, read_model_file
from tests.conftest import REPO

COMMON = ["trainer.max_epochs=1", "trainer.progress_bar=false", "trainer.max_time=null"]


def _overrides(task: str, tmp_path, shared_data_dir) -> tuple[str, list[str]]:
    if task == "pointcloud-classification":  # with EMA and a snapshot: their callback state too
        return "csgnn-shapes.yaml", [
            "model.name=pointnet", "model.preset=small", "data.train_size=32", "data.val_size=16", "data.test_size=16",
            "data.num_points=64", "data.batch_size=16", "data.num_workers=0", "eval.rotations=[none]",
            "trainer.ema_decay=0.9", "trainer.snapshots=1",
        ]  # fmt: skip
    if task == "wallpaper-classification":
        return "wallpaper-d4.yaml", [
            "model.preset=tiny", "data.size=32", "data.cell=[8,14]", "data.train_size=17", "data.val_size=17",
            "data.test_size=17", "data.groups=p1,p2,p4m", f"data.cache_dir={tmp_path / 'cache'}",
            "data.stream=false", "data.num_workers=0",
            "eval.sources=[noise]", "eval.noise=[]",
        ]  # fmt: skip
    if task == "potential":
        m = shared_data_dir / "methane"
        return "pet-methane.yaml", [
            f"data.train={m / 'methane_train.xyz'}", f"data.val={m / 'methane_val.xyz'}", f"data.test={m / 'methane_test.xyz'}",
            "data.max_train=16", "data.batch_size=8", "model.preset=tiny", "eval.max_structures=4",
        ]  # fmt: skip
    from tests.dos.conftest import write_tiny_dos_set

    root = write_tiny_dos_set(tmp_path / "dos-data")
    return "csgnn-dos.yaml", [f"data.root={root}", "model.preset=tiny", "eval.rotation_trials=0"]


@pytest.mark.parametrize("task", ["pointcloud-classification", "wallpaper-classification", "potential", "dos"])
def test_checkpoints_are_plain_model_files(task, tmp_path, request):
    from equisym.train.checkpoint import load_trained
    from equisym.train.runner import train

    shared = request.getfixturevalue("shared_data") if task == "potential" else None
    config, overrides = _overrides(task, tmp_path, shared)
    out = tmp_path / "run"
    train(load_yaml(REPO / "configs" / config), out, COMMON + overrides)
    files = [out / "best.ckpt", out / "last.ckpt", *sorted((out / "snapshots").glob("*.ckpt"))]
    assert len(files) == (3 if task == "pointcloud-classification" else 2)
    for path in files:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)  # would raise on any pickled class
        block = ckpt["equisym"]
        assert block["format"] == FORMAT and block["task"] == task and block["model"] == block["config"]["model"]
        assert read_model_file(path).task == task
    _, _, module = load_trained(out / "best.ckpt")
    model = load_model(out / "best.ckpt")
    assert not model.training and type(model) is type(module.model)
    want, got = module.model.state_dict(), model.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
