"""Callbacks of every run: the per-epoch summary, the divergence stop, the EMA step."""

from __future__ import annotations

import logging
import math
import time

import lightning as L
import torch

__all__ = ["EpochSummary", "DivergenceStop", "ema_step"]

log = logging.getLogger("equisym")


class EpochSummary(L.Callback):
    """Logs one line of epoch metrics (training and validation) per epoch to ``train.log``."""

    def __init__(self) -> None:
        self.start = time.time()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        values = {
            key.removesuffix("_epoch"): float(value)
            for key, value in trainer.callback_metrics.items()
            if value.numel() == 1 and not key.endswith("_step")
        }
        parts = [f"epoch {trainer.current_epoch:4d}"] + [f"{k} {v:.5g}" for k, v in sorted(values.items())]
        parts.append(f"({time.time() - self.start:.0f} s)")
        log.info("  ".join(parts))


class DivergenceStop(L.Callback):
    """Stops training after an epoch whose mean training loss (``train/loss``) exceeds both
    ``factor`` times the lowest epoch mean so far and the first epoch's mean (worse than the
    untrained model: a spike of a nearly fitted classifier from 1e-5 to 0.5 is not a blow-up),
    and logs a warning; ``diverged_at_epoch`` holds that epoch (None while training is sound).
    Training losses are non-negative."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.lowest = math.inf
        self.first: float | None = None
        self.diverged_at_epoch: int | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get("train/loss_epoch")
        if value is None:
            return
        loss = float(value)
        if self.first is None:
            self.first = loss
        diverged = 0 < self.lowest < math.inf and loss > self.factor * self.lowest and loss > self.first
        if trainer.strategy.reduce_boolean_decision(diverged, all=False):
            self.diverged_at_epoch = trainer.current_epoch
            log.warning(
                f"training diverged at epoch {trainer.current_epoch}: mean training loss {loss:.4g}, "
                f"{loss / self.lowest:.3g} times the lowest so far ({self.lowest:.4g}); stopping and "
                "evaluating the best checkpoint. Lower optim.lr, set trainer.gradient_clip_val, or undo "
                "the last schedule change (e.g. freeze_batchnorm_start); trainer.stop_on_divergence: null "
                "trains on regardless"
            )
            trainer.should_stop = True
        self.lowest = min(self.lowest, loss)


def ema_step(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor, decay: float) -> torch.Tensor:
    """One exponential-moving-average step for floating tensors; other tensors (and constants,
    which would drift by rounding) follow the model."""
    if not averaged.is_floating_point() or torch.equal(averaged, current):
        return current
    return averaged * decay + current * (1.0 - decay)
