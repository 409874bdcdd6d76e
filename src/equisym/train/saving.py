"""When a run saves its checkpoints: ``last.ckpt`` after every epoch (the previous one kept as
``last.prev.ckpt``) and ``best.ckpt`` at the best validation score, ties broken by the
validation loss. Every file is written under a temporary name and renamed."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Checkpoint

__all__ = ["LastCheckpoint", "BestCheckpoint", "save_atomically", "LAST", "PREVIOUS", "BEST"]

log = logging.getLogger("equisym")

LAST, PREVIOUS, BEST = "last.ckpt", "last.prev.ckpt", "best.ckpt"


def save_atomically(trainer: L.Trainer, path: Path, keep_previous: Path | None = None) -> None:
    """``trainer.save_checkpoint`` to ``path`` through a temporary file in the same folder and
    a rename, so ``path`` is always a complete checkpoint; with ``keep_previous``, the old
    ``path`` is first renamed to it. Every process calls it; the global-zero process writes."""
    tmp = path.with_name(path.name + ".tmp")
    # Lightning's default writes the full state (optimizer, schedulers, loops: what resuming needs);
    # every load of such a file is torch.load(weights_only=True)
    trainer.save_checkpoint(tmp)
    if trainer.is_global_zero:
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    trainer.strategy.barrier("equisym-save")


class LastCheckpoint(Checkpoint):
    """Saves ``last.ckpt`` at the end of every training epoch (after validation and after
    :class:`BestCheckpoint`, so it holds the best score so far), rotating the previous one to
    ``last.prev.ckpt``."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        save_atomically(trainer, self.folder / LAST, keep_previous=self.folder / PREVIOUS)


class BestCheckpoint(Checkpoint):
    """Saves ``best.ckpt`` after every validated epoch whose ``monitor`` beats the best so far
    (``mode`` ``min`` or ``max``), or equals it with a lower ``tie_breaker`` (the validation
    loss); a non-finite score never counts as better. Same attribute names as Lightning's
    ``ModelCheckpoint`` (``monitor``, ``mode``, ``best_model_path``, ``best_model_score``)."""

    def __init__(self, folder: str | os.PathLike, monitor: str, mode: str, tie_breaker: str = "val/loss") -> None:
        self.folder = Path(folder)
        self.monitor, self.mode, self.tie_breaker = monitor, mode, tie_breaker
        self.best_score: float | None = None
        self.best_tie: float | None = None
        self.best_epoch: int | None = None
        self.best_model_path = ""
        self._validated = False

    @property
    def best_model_score(self) -> float | None:
        return self.best_score

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit":
            self._validated = True

    def is_better(self, score: float, tie: float | None) -> bool:
        """Whether ``(score, tie)`` beats the best so far."""
        if not math.isfinite(score):
            return False
        if self.best_score is None:
            return True
        if score != self.best_score:
            return score < self.best_score if self.mode == "min" else score > self.best_score
        return tie is not None and math.isfinite(tie) and (self.best_tie is None or tie < self.best_tie)

    def consider(self, trainer: L.Trainer, score: float, tie: float | None) -> bool:
        """Save ``best.ckpt`` if ``(score, tie)`` is better; return whether it was."""
        if not self.is_better(score, tie):
            return False
        self.best_score, self.best_tie, self.best_epoch = score, tie, trainer.current_epoch
        self.best_model_path = str(self.folder / BEST)
        save_atomically(trainer, self.folder / BEST)
        return True

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not self._validated:
            return
        self._validated = False
        metrics = trainer.callback_metrics
        if self.monitor not in metrics:
            return
        tie = metrics.get(self.tie_breaker)
        self.consider(trainer, float(metrics[self.monitor]), None if tie is None else float(tie))

    def state_dict(self) -> dict:
        return {"monitor": self.monitor, "best_score": self.best_score, "best_tie": self.best_tie,
                "best_epoch": self.best_epoch, "best_model_path": self.best_model_path}

    def load_state_dict(self, state: dict) -> None:
        self.best_score, self.best_tie = state.get("best_score"), state.get("best_tie")
        self.best_epoch = state.get("best_epoch")
        self.best_model_path = state.get("best_model_path", "")
