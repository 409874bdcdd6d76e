"""trainer.ema_decay: the run keeps, validates and saves an exponential moving average of the weights."""

import pytest
import torch
import yaml

from equisym.errors import EquisymError
from equisym.train.checkpoint import load_checkpoint
from equisym.train.runner import train
from tests.conftest import REPO

TINY = [
    "trainer.max_epochs=2", "data.train_size=32", "data.val_size=16", "data.test_size=16", "data.num_points=128",
    "data.batch_size=16", "data.num_workers=0", "trainer.progress_bar=false", "eval.rotations=[none]",
    "model.preset=tiny",
]


def _config() -> dict:
    return yaml.safe_load((REPO / "configs" / "csgnn-shapes.yaml").read_text())


def test_ema_weights_are_saved_and_differ_from_the_raw_weights(tmp_path):
    train(_config(), tmp_path / "ema", TINY + ["trainer.ema_decay=0.5"])
    ckpt = load_checkpoint(tmp_path / "ema" / "last.ckpt")
    raw = ckpt["current_model_state"]  # the optimiser's weights; state_dict holds the average
    avg = ckpt["state_dict"]
    floats = [k for k, v in avg.items() if v.is_floating_point() and k in raw]
    assert floats and any(not torch.equal(avg[k], raw[k]) for k in floats)
    # integer buffers (BatchNorm step counters) are copied, not averaged and truncated
    ints = [k for k, v in avg.items() if not v.is_floating_point()]
    assert ints and all(torch.equal(avg[k], raw[k]) for k in ints)
    # without the option there is no average in the checkpoint
    train(_config(), tmp_path / "plain", TINY)
    assert "current_model_state" not in load_checkpoint(tmp_path / "plain" / "last.ckpt")


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_ema_decay_out_of_range_is_a_clear_error(tmp_path, decay):
    with pytest.raises(EquisymError, match="ema_decay"):
        train(_config(), tmp_path / "bad", TINY + [f"trainer.ema_decay={decay}"])
    assert not (tmp_path / "bad").exists()


def test_snapshots_keep_the_last_epochs_weights(tmp_path):
    train(_config(), tmp_path / "snap", TINY + ["trainer.max_epochs=5", "trainer.snapshots=2", "trainer.snapshot_every_n_epochs=2"])
    kept = sorted(p.name for p in (tmp_path / "snap" / "snapshots").glob("*.ckpt"))
    assert kept == ["epoch=1.ckpt", "epoch=3.ckpt"]  # epochs 2 and 4 of 5 (0-based names), the last two kept
    first, second = (load_checkpoint(tmp_path / "snap" / "snapshots" / name)["state_dict"] for name in kept)
    assert any(not torch.equal(first[k], second[k]) for k in first if first[k].is_floating_point())
    train(_config(), tmp_path / "plain", TINY)
    assert not (tmp_path / "plain" / "snapshots").exists()
    with pytest.raises(EquisymError, match="snapshots"):
        train(_config(), tmp_path / "bad", TINY + ["trainer.snapshots=-1"])


def test_ema_forgets_the_initial_weights_early_and_reaches_the_set_decay():
    from equisym.train.callbacks import ema_decay_at, ema_step

    assert ema_decay_at(1, 0.999) == pytest.approx(2 / 11)
    assert ema_decay_at(100_000, 0.999) == 0.999
    # 300 updates from an "untrained" 0 towards a trained 1: the average is ~1, not 1 - 0.999^300 = 0.26
    avg = torch.zeros(4)
    for n in range(1, 301):
        avg = ema_step(avg, torch.ones(4), torch.tensor(n), decay=0.999)
    assert float(avg.min()) > 0.999
    plain = 1 - 0.999**300
    assert plain < 0.3  # what the fixed decay would have kept of the untrained weights
    # integer tensors follow the model
    assert torch.equal(ema_step(torch.zeros(2, dtype=torch.long), torch.ones(2, dtype=torch.long), torch.tensor(5), 0.9),
                       torch.ones(2, dtype=torch.long))
