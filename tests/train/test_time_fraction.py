"""TaskModule.elapsed_time_fraction: the wall-clock progress that time-based schedules follow."""

import time

import yaml

from equisym.train.task import load_config
from tests.conftest import REPO


def _module(max_time):
    config = yaml.safe_load((REPO / "configs" / "csgnn-shapes.yaml").read_text())
    task, cfg = load_config(config, [f"trainer.max_time={max_time}"])
    return task.build_module(cfg)


def test_fraction_of_the_time_budget():
    assert _module("null").elapsed_time_fraction() is None  # no budget: callers fall back to epochs
    module = _module("00:00:01:40")  # 100 s
    assert module.elapsed_time_fraction() == 0.0  # before training starts
    module.on_train_start()
    module._train_start -= 25.0
    assert 0.25 <= module.elapsed_time_fraction() < 0.26
    module._train_start = time.time() - 1000.0
    assert module.elapsed_time_fraction() == 1.0  # clipped at the end of the budget
