"""Optimizers and learning-rate schedules, counted in optimizer steps.

Every schedule is a function of the optimizer step (and the epoch length in steps), never of
the wall clock, so a config means the same training on any machine: the number of optimizer
steps of a run is ``trainer.estimated_stepping_batches`` (data size, batch size, epochs).
"""

from __future__ import annotations

import math

import lightning as L
import torch

from equisym.train.config import OptimConfig

__all__ = ["configure_optimizers", "lr_factor", "total_steps"]


def total_steps(trainer: L.Trainer | None) -> int:
    """Optimizer steps of the whole run (``trainer.estimated_stepping_batches``); 1 without a
    trainer or when it cannot be known (an endless run)."""
    if trainer is None:
        return 1
    steps = trainer.estimated_stepping_batches
    if not math.isfinite(steps) or steps < 1:
        return 1
    return int(steps)


def lr_factor(step: int, total: int, steps_per_epoch: float, optim: OptimConfig) -> float:
    """Learning rate of optimizer step ``step`` (0-based) as a multiple of ``optim.lr``.

    Linear warm-up over ``warmup_steps + warmup_epochs · steps_per_epoch`` steps (from
    ``1/W`` to 1), then ``cosine`` (half a cosine from 1 to ``min_lr / lr`` over the remaining
    ``total - W`` steps), ``step`` (× ``gamma`` every ``step_size`` epochs) or a constant 1.

    Args:
        step: optimizer steps done so far.
        total: optimizer steps of the whole run.
        steps_per_epoch: optimizer steps per epoch (> 0).
        optim: the optimizer section.
    """
    warm = optim.warmup_steps + int(round(optim.warmup_epochs * steps_per_epoch))
    if step < warm:
        return (step + 1) / warm
    if optim.scheduler == "step":
        epoch = int((step - warm) // max(steps_per_epoch, 1e-9))
        return optim.gamma ** (epoch // optim.step_size)
    if optim.scheduler == "cosine":
        progress = min(1.0, (step - warm) / max(1, total - warm))
        floor = optim.min_lr / optim.lr
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


def configure_optimizers(module: L.LightningModule, optim: OptimConfig, monitor: tuple[str, str]) -> dict:
    """Optimizer + scheduler dict for ``LightningModule.configure_optimizers``.

    ``cosine``, ``step`` and ``none`` (with a warm-up) update the learning rate after every
    optimizer step (:func:`lr_factor`); ``plateau`` reduces it after validation epochs
    without improvement of ``monitor``.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    if optim.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=optim.lr, weight_decay=optim.weight_decay)
    elif optim.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    if optim.scheduler == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=monitor[1], factor=optim.factor, patience=optim.patience)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": monitor[0], "interval": "epoch"}}
    if optim.scheduler == "none" and optim.warmup_steps == 0 and optim.warmup_epochs == 0:
        return {"optimizer": opt}
    trainer = module._trainer
    total = total_steps(trainer)
    epochs = trainer.max_epochs if trainer is not None and trainer.max_epochs and trainer.max_epochs > 0 else 1
    per_epoch = max(total / epochs, 1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, total, per_epoch, optim))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
