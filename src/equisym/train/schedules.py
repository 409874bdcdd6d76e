"""Optimizers and learning-rate schedules."""

from __future__ import annotations

import math

import lightning as L
import torch

from equisym.train.config import OptimConfig

__all__ = ["configure_optimizers"]


def configure_optimizers(module: L.LightningModule, optim: OptimConfig, monitor: tuple[str, str]) -> dict:
    """Optimizer + scheduler dict for ``LightningModule.configure_optimizers``."""
    params = [p for p in module.parameters() if p.requires_grad]
    if optim.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=optim.lr, weight_decay=optim.weight_decay)
    elif optim.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=optim.lr, momentum=optim.momentum, weight_decay=optim.weight_decay)
    if optim.scheduler == "none":
        return {"optimizer": opt}
    if optim.scheduler == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=monitor[1], factor=optim.factor, patience=optim.patience)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": monitor[0], "interval": "epoch"}}
    max_epochs = max(1, module.trainer.max_epochs if module._trainer is not None else 1)
    warm = optim.warmup_epochs

    def factor(epoch: int) -> float:
        if epoch < warm:
            return (epoch + 1) / (warm + 1)
        if optim.scheduler == "step":
            return optim.gamma ** ((epoch - warm) // optim.step_size)
        progress = min(1.0, (epoch - warm) / max(1, max_epochs - warm))
        floor = optim.min_lr / optim.lr
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
