"""A config means one training: same weights twice on one machine, optimizer steps fixed by
data size, batch size and epochs, schedules counted in steps, ties broken by the loss."""

import io
import json

import pytest
import torch
import yaml

from equisym.train.checkpoint import load_checkpoint
from equisym.train.config import OptimConfig
from equisym.train.runner import train
from equisym.train.saving import BestCheckpoint
from equisym.train.schedules import lr_factor
from tests.conftest import REPO

TINY = ["data.train_size=40", "data.val_size=16", "data.test_size=16", "data.num_points=64", "data.batch_size=16",
        "data.num_workers=0", "eval.rotations=[none]", "trainer.max_epochs=2", "model.preset=tiny"]


def _config() -> dict:
    return yaml.safe_load((REPO / "configs" / "csgnn-shapes.yaml").read_text())


def test_the_same_config_twice_gives_identical_weights_and_step_counts(tmp_path):
    first = train(_config(), tmp_path / "a", TINY)
    second = train(_config(), tmp_path / "b", TINY)
    a, b = (load_checkpoint(tmp_path / run / "last.ckpt")["state_dict"] for run in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # 40 samples in batches of 16, the partial batch dropped: 2 optimizer steps per epoch
    assert first["training"]["optimizer_steps"] == second["training"]["optimizer_steps"] == 2 * (40 // 16)
    assert first["training"]["stopped_by_max_time"] is False


def test_max_time_is_only_a_safety_stop_and_is_recorded(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="equisym"):
        metrics = train(_config(), tmp_path / "t", TINY + ["trainer.max_epochs=50", "trainer.max_time=00:00:00:01"])
    assert metrics["training"]["stopped_by_max_time"] is True and metrics["training"]["epochs"] < 50
    assert "trainer.max_time" in caplog.text
    assert json.loads((tmp_path / "t" / "metrics.json").read_text())["training"]["stopped_by_max_time"] is True


def test_the_learning_rate_follows_optimizer_steps():
    optim = OptimConfig(lr=1.0, scheduler="cosine", min_lr=0.1, warmup_steps=4)
    factors = [lr_factor(step, 104, 10.0, optim) for step in range(105)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]  # linear warm-up in steps
    assert factors[4] == pytest.approx(1.0) and factors[104] == pytest.approx(0.1)  # cosine to min_lr
    assert all(x >= y for x, y in zip(factors[4:], factors[5:]))
    epochs = OptimConfig(lr=1.0, scheduler="step", step_size=2, gamma=0.5, warmup_epochs=1)
    # 10 steps per epoch: 10 warm-up steps, then x0.5 every 20 steps
    assert [lr_factor(s, 100, 10.0, epochs) for s in (9, 10, 29, 30, 50)] == [1.0, 1.0, 1.0, 0.5, 0.25]


def test_equal_scores_are_ranked_by_the_validation_loss(tmp_path):
    best = BestCheckpoint(tmp_path, "val/accuracy", "max")
    best.best_score, best.best_tie = 1.0, 0.5
    assert best.is_better(1.0, 0.1)  # saturated accuracy, falling loss: the later epoch wins
    assert not best.is_better(1.0, 0.6) and not best.is_better(0.9, 0.01)
    assert not best.is_better(float("nan"), 0.0)
    assert BestCheckpoint(tmp_path, "val/loss", "min").is_better(3.0, None)


def test_relative_data_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    from equisym.train.task import load_config

    (tmp_path / "configs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    data = {"task": "potential", "data": {"train": "../data/train.xyz", "val": "/abs/val.xyz"}}
    _, cfg = load_config(data, ["data.test=test.xyz"], base_dir=tmp_path / "configs")
    assert cfg.data.train == str(tmp_path / "data" / "train.xyz")
    assert cfg.data.val == "/abs/val.xyz"
    assert cfg.data.test == str(tmp_path / "elsewhere" / "test.xyz")  # an override: the current folder


def test_metrics_csv_keeps_earlier_rows_and_drops_a_replayed_epoch(tmp_path):
    from equisym.train.metrics_log import CSVMetricsLogger, read_rows

    first = CSVMetricsLogger(tmp_path)
    first.log_metrics({"epoch": 0, "val/loss": 1.0}, step=2)
    first.log_metrics({"epoch": 0, "train/loss_epoch": 2.0}, step=2)
    first.log_metrics({"epoch": 1, "train/loss_step": 1.5}, step=3)  # the interrupted epoch
    resumed = CSVMetricsLogger(tmp_path, keep_until_epoch=0)
    resumed.log_metrics({"epoch": 1, "val/loss": 0.5, "lr": 0.1}, step=5)
    rows = read_rows(tmp_path / "metrics.csv")
    assert [(r["epoch"], r["val/loss"], r["train/loss_epoch"], r["lr"]) for r in rows] == [
        ("0", "1.0", "", ""), ("0", "", "2.0", ""), ("1", "0.5", "", "0.1")]


def test_random_states_round_trip_through_a_checkpoint():
    import random

    import numpy as np

    from equisym.train.callbacks import EpochSeeds

    seeds = EpochSeeds(0)
    state = seeds.state_dict()
    expected = (random.random(), float(np.random.rand()), float(torch.rand(())))
    random.random(), np.random.rand(), torch.rand(())  # move on
    seeds.load_state_dict(state)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True)["next_epoch"] == 0  # plain data only


def test_model_init_from_resolves_against_the_config_folder(tmp_path, monkeypatch):
    """``model.init_from`` is a path inside the free-form model section: it too resolves against
    the config file's folder (the missing file's error names the resolved path)."""
    from equisym.errors import EquisymError
    from equisym.train.task import load_config

    (tmp_path / "configs").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    data = {"task": "potential", "data": {"train": "/abs/train.xyz"},
            "model": {"name": "pet", "species": ["H", "C"], "init_from": "../runs/pretrained/best.ckpt"}}
    with pytest.raises(EquisymError, match="model file not found") as info:
        load_config(data, base_dir=tmp_path / "configs")
    assert str(tmp_path / "runs" / "pretrained" / "best.ckpt") in str(info.value)
