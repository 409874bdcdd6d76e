"""Typed sections shared by every task's run config: trainer, optimizer, run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from equisym.config import to_dict
from equisym.errors import EquisymError

__all__ = ["TrainerConfig", "OptimConfig", "RunConfig"]


@dataclass
class TrainerConfig:
    """Options passed to the Lightning ``Trainer`` (see its documentation for details)."""

    max_epochs: int = 20
    """Number of passes over the training set (> 0). Together with the data size and batch size
    it fixes the number of optimizer steps, and every schedule is counted in those steps."""
    max_time: str | None = None
    """Safety stop only: wall-clock limit ``"DD:HH:MM:SS"`` after which training stops cleanly
    (a warning, and ``training.stopped_by_max_time: true`` in ``metrics.json``). No schedule
    depends on it."""
    accelerator: str = "auto"
    """``"cpu"``, ``"gpu"`` or ``"auto"``."""
    devices: int | str = 1
    """Number of devices (processes) per node, or ``"auto"``."""
    strategy: str = "auto"
    """``"auto"``, ``"ddp"`` (multi-process data parallel, gloo on CPU), ``"ddp_spawn"``, ..."""
    num_nodes: int = 1
    """Number of machines for DDP."""
    precision: str = "32-true"
    """``"32-true"``, ``"64-true"``, ``"bf16-mixed"``, ..."""
    gradient_clip_val: float | None = None
    """Clip the gradient norm to this value."""
    limit_train_batches: int | float = 1.0
    """Batches per epoch (int) or fraction of the training set (float)."""
    limit_val_batches: int | float = 1.0
    """Validation batches (int) or fraction (float)."""
    check_val_every_n_epoch: int = 1
    """Validate every N epochs."""
    log_every_n_steps: int = 10
    """Step-level logging interval."""
    progress_bar: bool = False
    """Show a progress bar (the console shows one summary line per epoch either way)."""
    logger: Literal["csv", "tensorboard"] = "csv"
    """Where step and epoch metrics go besides ``metrics.csv`` (always written):
    ``tensorboard`` also writes TensorBoard event files into the run folder (needs the
    ``tensorboard`` package)."""
    deterministic: bool = False
    """Ask torch for deterministic algorithms."""
    ema_decay: float | None = None
    """Keep an exponential moving average of the weights (and BatchNorm statistics) with this
    decay per step (e.g. 0.999; during the first ~10 / (1 − decay) steps the decay is
    ``(1 + n) / (10 + n)`` at step n, so the untrained weights are forgotten at once); validation,
    checkpoints and the final model use the average
    (Lightning's ``WeightAveraging`` with :func:`~equisym.train.callbacks.ema_step`, which copies integer buffers
    instead of averaging and truncating them). Damps the step-to-step noise of the weights."""
    snapshots: int = 0
    """Keep the weights of the last this many epochs (every ``snapshot_every_n_epochs``-th) as
    ``snapshots/epoch=N.ckpt`` in the run folder; 0 keeps none. ``equisym eval`` given several
    of them averages their *predictions* (a snapshot ensemble), unlike ``ema_decay``, which
    averages weights."""
    snapshot_every_n_epochs: int = 1
    """Spacing of the kept snapshots, in epochs."""
    stop_on_divergence: float | None = 1.0e4
    """Stop training when an epoch's mean training loss exceeds this multiple of the lowest
    epoch mean so far and the first epoch's mean
    (:class:`~equisym.train.callbacks.DivergenceStop`). The best checkpoint so far is
    evaluated as usual and ``metrics.json`` records the epoch
    (``training.diverged_at_epoch``). null = never stop. Non-finite losses always stop the
    run with an error."""

    def __post_init__(self) -> None:
        if isinstance(self.max_epochs, int) and self.max_epochs <= 0:
            raise EquisymError(f"trainer.max_epochs must be a positive number of epochs, got {self.max_epochs}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise EquisymError(f"trainer.ema_decay must lie in (0, 1) (e.g. 0.999) or be null, got {self.ema_decay}")
        if self.stop_on_divergence is not None and not self.stop_on_divergence > 1:
            raise EquisymError(f"trainer.stop_on_divergence must be > 1 (e.g. 1e4) or null, got {self.stop_on_divergence}")
        if self.snapshots < 0 or self.snapshot_every_n_epochs < 1:
            raise EquisymError(
                f"trainer.snapshots must be >= 0 and trainer.snapshot_every_n_epochs >= 1, "
                f"got {self.snapshots} and {self.snapshot_every_n_epochs}"
            )

    def lightning_kwargs(self) -> dict:
        kwargs = to_dict(self)
        kwargs.pop("progress_bar")
        for name in ("logger", "ema_decay", "snapshots", "snapshot_every_n_epochs", "stop_on_divergence"):
            kwargs.pop(name)
        kwargs["enable_progress_bar"] = self.progress_bar
        return kwargs


@dataclass
class OptimConfig:
    """Optimizer and learning-rate schedule."""

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    """Optimizer."""
    lr: float = 1e-3
    """Initial learning rate."""
    weight_decay: float = 0.0
    """Weight decay (decoupled for AdamW)."""
    momentum: float = 0.9
    """Momentum (SGD only)."""
    scheduler: Literal["none", "plateau", "cosine", "step"] = "none"
    """LR schedule, updated after every optimizer step: ``cosine`` (from ``lr`` to ``min_lr``
    over all optimizer steps of the run after the warm-up), ``step`` (× ``gamma`` every
    ``step_size`` epochs), ``plateau`` (× ``factor`` after ``patience`` validation epochs
    without improvement of the monitored metric), ``none`` (constant after the warm-up)."""
    warmup_epochs: float = 0
    """Linear warm-up from ``lr / W`` to ``lr`` over this many epochs (added to
    ``warmup_steps``); not with ``plateau``."""
    warmup_steps: int = 0
    """Linear warm-up over this many optimizer steps (added to ``warmup_epochs``)."""
    min_lr: float = 0.0
    """Final LR of the cosine schedule."""
    factor: float = 0.1
    """LR factor of the plateau schedule."""
    patience: int = 4
    """Epochs without improvement before a plateau reduction."""
    step_size: int = 10
    """Epochs between step reductions."""
    gamma: float = 0.5
    """LR factor of the step schedule."""

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise EquisymError(f"optim.lr must be > 0, got {self.lr}")
        if self.min_lr < 0 or self.warmup_epochs < 0 or self.warmup_steps < 0:
            raise EquisymError(
                f"optim.min_lr, optim.warmup_epochs and optim.warmup_steps must be >= 0, "
                f"got {self.min_lr}, {self.warmup_epochs} and {self.warmup_steps}"
            )
        if self.scheduler == "step" and self.step_size < 1:
            raise EquisymError(f"optim.step_size must be >= 1 epoch, got {self.step_size}")


@dataclass
class RunConfig:
    """The keys shared by every task's config."""

    task: str = ""
    """Which task (``pointcloud-classification``, ...)."""
    seed: int = 0
    """Seed of everything random in the run (model init, shuffling, augmentation)."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    """Lightning Trainer options."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Optimizer and schedule."""
