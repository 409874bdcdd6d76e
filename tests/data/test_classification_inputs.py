"""Bad input to the point-cloud classification task: float64 clouds, a data set whose class count
differs from the model's, and a test_size that counts what was scored."""

import numpy as np
import pytest
import torch

from equisym.data.modelnet import write_modelnet_h5
from equisym.errors import EquisymError
from equisym.train.task import load_config
from equisym.train.tasks.classification import CloudCollate

CONFIG = {
    "task": "pointcloud-classification",
    "data": {"dataset": "shapes", "num_points": 32, "train_size": 24, "val_size": 12, "test_size": 12, "num_workers": 0},
    "model": {"name": "pointnet", "point_dims": [8, 16], "head_dims": [8], "input_transform": False},
    "eval": {"rotations": ["z"], "batch_size": 8},
}


def _task(tmp_path):
    task, cfg = load_config(CONFIG)
    module = task.build_module(cfg)
    return task, cfg, module, task.build_datamodule(cfg)


def _h5(root, classes, n=6, dtype=np.float64):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(n, 40, 3)).astype(dtype)
    write_modelnet_h5(str(root), "test", [(points, np.arange(n) % len(classes))], classes)
    return points


def test_float64_clouds_are_batched_as_float32():
    batch = CloudCollate(None, None)([(torch.randn(10, 3, dtype=torch.float64), 1), (np.random.rand(10, 3), 0)])
    assert batch["points"].dtype == torch.float32


def test_data_with_another_class_count_is_refused(tmp_path):
    task, cfg, module, dm = _task(tmp_path)
    _h5(tmp_path / "mn40", [f"c{k}" for k in range(40)])
    with pytest.raises(EquisymError, match=r"has 40 classes but the model was trained on 12"):
        task.evaluate(module, dm, cfg, tmp_path, {"data": str(tmp_path / "mn40")})
    assert not list(tmp_path.glob("*.png"))  # refused before anything was written


def test_float64_test_data_and_scored_test_size(tmp_path):
    task, cfg, module, dm = _task(tmp_path)
    _h5(tmp_path / "d", [f"c{k}" for k in range(12)], n=7)
    metrics = task.evaluate(module, dm, cfg, tmp_path, {"data": str(tmp_path / "d")})
    assert metrics["test_size"] == 7 and 0.0 <= metrics["protocols"]["z/z"] <= 1.0
    own = task.evaluate(module, dm, cfg, tmp_path, {})
    assert own["test_size"] == 12
