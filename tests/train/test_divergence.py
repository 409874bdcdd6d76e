"""trainer.stop_on_divergence: a training loss that blows up mid-run stops training early."""

import lightning as L
import pytest
import torch

from equisym.errors import EquisymError
from equisym.train.callbacks import DivergenceStop
from equisym.train.runner import train
from tests.train.test_ema import TINY, _config


class _ScaledLoss(L.LightningModule):
    """Loss = scale[epoch] · (w² + 1): a toy whose epoch losses are set by the test."""

    def __init__(self, scales: list[float]) -> None:
        super().__init__()
        self.scales = scales
        self.w = torch.nn.Parameter(torch.tensor(1.0))

    def training_step(self, batch, batch_idx):
        loss = self.scales[self.current_epoch] * (self.w.pow(2) + 1)
        self.log("train/loss", loss, on_step=True, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-6)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.zeros(4, 1), batch_size=2)


def _fit(scales: list[float], factor: float) -> tuple[DivergenceStop, L.Trainer]:
    stop = DivergenceStop(factor)
    trainer = L.Trainer(max_epochs=len(scales), callbacks=[stop], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(_ScaledLoss(scales))
    return stop, trainer


def test_a_blow_up_stops_training_after_that_epoch(caplog):
    # the loss falls, then jumps 1e6-fold at epoch 3: training stops there instead of running 6 epochs
    with caplog.at_level("WARNING", logger="equisym"):
        stop, trainer = _fit([1.0, 0.1, 0.01, 1e4, 1e4, 1e4], 1e4)
    assert stop.diverged_at_epoch == 3
    assert trainer.current_epoch == 4  # epochs 0..3 ran
    assert "diverged at epoch 3" in caplog.text


def test_a_loss_that_rises_less_than_the_factor_trains_on():
    # 0.01 -> 50 is 5 000-fold: below the default factor of 1e4, so all six epochs run
    stop, trainer = _fit([1.0, 0.1, 0.01, 50.0, 1.0, 0.5], 1e4)
    assert stop.diverged_at_epoch is None and trainer.current_epoch == 6
    # the same losses with a tighter factor stop at the rise
    stop, trainer = _fit([1.0, 0.1, 0.01, 50.0, 1.0, 0.5], 1e3)
    assert stop.diverged_at_epoch == 3


def test_a_spike_below_the_first_epochs_loss_is_not_a_blow_up():
    # a nearly fitted model spiking 1e5-fold, but still better than the untrained first epoch
    stop, trainer = _fit([2.3, 0.01, 1e-5, 0.5, 1e-4], 1e4)
    assert stop.diverged_at_epoch is None and trainer.current_epoch == 5
    stop, trainer = _fit([2.3, 0.01, 1e-5, 5.0, 1e-4], 1e4)  # worse than where it started
    assert stop.diverged_at_epoch == 3


def test_the_run_records_no_divergence_and_refuses_a_bad_factor(tmp_path):
    metrics = train(_config(), tmp_path / "run", TINY)
    assert metrics["training"]["diverged_at_epoch"] is None and metrics["training"]["epochs"] == 2
    with pytest.raises(EquisymError, match="stop_on_divergence"):
        train(_config(), tmp_path / "bad", TINY + ["trainer.stop_on_divergence=1.0"])
    assert not (tmp_path / "bad").exists()
