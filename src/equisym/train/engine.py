"""The training engine: typed run configs, the task registry and run directories.

A *task* (point-cloud classification, interatomic potential, DOS regression, wallpaper
classification, ...) is a :class:`Task` subclass registered with :func:`register_task`. It
declares its config dataclass (a :class:`RunConfig` subclass adding ``data`` and ``model``
sections), builds its Lightning data module and module, and evaluates a trained module.
The engine does the rest, the same way for every task:

- :func:`train`: validate the config, set up the data (before writing anything), write the
  run directory (``config.yaml``, ``train.log``, ``metrics.csv``, ``best.ckpt``,
  ``last.ckpt``, ``metrics.json``, ``learning_curves.png``), resume from ``last.ckpt``,
  multi-process training through Lightning's DDP;
- :func:`load_trained`: rebuild the trained module (or an ensemble) from the config and
  weights stored in checkpoints;
- :func:`evaluate_checkpoint`: evaluate it, optionally on other data.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import lightning as L
import torch
import yaml

from equisym.config import apply_overrides, from_dict, to_dict
from equisym.errors import EquisymError

__all__ = [
    "TrainerConfig",
    "OptimConfig",
    "RunConfig",
    "Task",
    "TaskModule",
    "TASKS",
    "register_task",
    "load_config",
    "configure_optimizers",
    "train",
    "evaluate_checkpoint",
    "load_checkpoint",
    "load_trained",
    "global_rank",
]

log = logging.getLogger("equisym")


@dataclass
class TrainerConfig:
    """Options passed to the Lightning ``Trainer`` (see its documentation for details)."""

    max_epochs: int = 20
    """Number of passes over the training set."""
    max_time: str | None = None
    """Wall-clock limit ``"DD:HH:MM:SS"``; training stops cleanly when reached."""
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
    progress_bar: bool = True
    """Show a progress bar."""
    deterministic: bool = False
    """Ask torch for deterministic algorithms."""
    ema_decay: float | None = None
    """Keep an exponential moving average of the weights (and BatchNorm statistics) with this
    decay per step (e.g. 0.999); validation, checkpoints and the final model use the average
    (Lightning's ``WeightAveraging`` with :func:`_ema_step`, which copies integer buffers
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
    epoch mean so far and the first epoch's mean (:class:`_DivergenceStop`): a blow-up the
    optimiser rarely recovers from (SchNet-DOS with ``freeze_batchnorm_start: 0.2`` jumped from
    0.003 to 3e7 at the freeze and then sat at a constant prediction for the remaining 35
    minutes). The best checkpoint so far is evaluated as usual and ``metrics.json`` records the
    epoch (``training.diverged_at_epoch``). null = never stop. Non-finite losses always stop the run with an error."""

    def __post_init__(self) -> None:
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
        for name in ("ema_decay", "snapshots", "snapshot_every_n_epochs", "stop_on_divergence"):
            kwargs.pop(name)
        kwargs["enable_progress_bar"] = self.progress_bar
        return kwargs

    @property
    def max_time_seconds(self) -> float | None:
        """``max_time`` in seconds (``"DD:HH:MM:SS"``, shorter forms count from the seconds), or None."""
        if not self.max_time:
            return None
        parts = [float(x) for x in self.max_time.split(":")]
        return sum(v * m for v, m in zip(reversed(parts), (1, 60, 3600, 86400)))


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
    """LR schedule: ``plateau`` (on the monitored validation metric), ``cosine`` (to ``min_lr``
    over ``trainer.max_epochs``), ``step`` (× ``gamma`` every ``step_size`` epochs)."""
    warmup_epochs: int = 0
    """Linear warm-up epochs before ``cosine``/``step`` schedules."""
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


class Task:
    """Base class of tasks; subclasses set the class attributes and implement the builders."""

    name: ClassVar[str]
    config_class: ClassVar[type]
    monitor: ClassVar[tuple[str, Literal["min", "max"]]] = ("val/loss", "min")
    supports_ensembles: ClassVar[bool] = False
    """Whether :meth:`ensemble` is implemented (``equisym eval`` with several checkpoints)."""

    def expand(self, cfg: Any) -> Any:
        """Fill in derived values (e.g. a model section from its preset); default: unchanged."""
        return cfg

    def build_datamodule(self, cfg: Any) -> L.LightningDataModule:
        raise NotImplementedError

    def build_module(self, cfg: Any) -> L.LightningModule:
        raise NotImplementedError

    def after_training(self, module: L.LightningModule, datamodule: L.LightningDataModule, cfg: Any, checkpoint: Path) -> dict:
        """A post-training step on the best weights (``module``, loaded from ``checkpoint``, in
        eval mode, which it must leave so), in place, before :meth:`evaluate`; it may write files beside ``checkpoint`` and returns
        JSON-safe metrics to add to the run's ``metrics.json``. Default: nothing."""
        return {}

    def evaluate(self, module: L.LightningModule, datamodule: L.LightningDataModule, cfg: Any, out_dir: Path, options: dict) -> dict:
        """Evaluate a trained module; write plots into ``out_dir``; return JSON-safe metrics."""
        raise NotImplementedError

    def ensemble(self, modules: list[L.LightningModule]) -> torch.nn.Module:
        """One module predicting the mean of ``modules`` (trained members of the same task,
        data and model config), for :meth:`evaluate`; tasks that implement it set
        :attr:`supports_ensembles`."""
        raise NotImplementedError


TASKS: dict[str, Task] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator registering a task under ``cls.name``."""
    TASKS[cls.name] = cls()
    return cls


def _ensure_tasks() -> None:
    import equisym.train.tasks  # noqa: F401  (registers the tasks)


def load_config(data: dict, overrides: list[str] | None = None) -> tuple[Task, Any]:
    """Validate a config mapping (after ``key=value`` overrides) against its task's dataclass."""
    _ensure_tasks()
    data = apply_overrides(dict(data), overrides or [])
    name = data.get("task")
    if name not in TASKS:
        raise EquisymError(f"config key 'task' must be one of {', '.join(sorted(TASKS))}; got {name!r}")
    task = TASKS[name]
    cfg = task.expand(from_dict(task.config_class, data))
    return task, cfg


class TaskModule(L.LightningModule):
    """Base LightningModule: stores the run config (so checkpoints are self-describing) and
    builds the optimizer from ``cfg.optim``."""

    monitor: tuple[str, str] = ("val/loss", "min")

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.cfg = cfg
        self.save_hyperparameters({"config": to_dict(cfg), "equisym_version": _version()})

    def configure_optimizers(self):
        return configure_optimizers(self, self.cfg.optim, self.monitor)

    def on_train_start(self) -> None:
        self._train_start = time.time()

    def elapsed_time_fraction(self) -> float | None:
        """Elapsed fraction of ``trainer.max_time`` since training (re)started, in [0, 1];
        None without a time budget. For schedules that follow the wall clock."""
        budget = self.cfg.trainer.max_time_seconds
        if budget is None:
            return None
        start = getattr(self, "_train_start", None)
        return 0.0 if start is None else min(1.0, (time.time() - start) / max(budget, 1.0))


def _version() -> str:
    from equisym import __version__

    return __version__


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


def global_rank() -> int:
    """Rank of this process in a (Lightning-launched) multi-process run, 0 otherwise."""
    for key in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        if key in os.environ:
            return int(os.environ[key])
    local = int(os.environ.get("LOCAL_RANK", 0))
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0)))
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    return node * per_node + local


class _EpochSummary(L.Callback):
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


class _DivergenceStop(L.Callback):
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


def _ema_step(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor, decay: float) -> torch.Tensor:
    """One exponential-moving-average step for floating tensors; other tensors (and constants,
    which would drift by rounding) follow the model."""
    if not averaged.is_floating_point() or torch.equal(averaged, current):
        return current
    return averaged * decay + current * (1.0 - decay)


def flush_denormals() -> bool:
    """Round subnormal floats (|x| < 1.2e-38 in float32) to zero on the CPU.

    Late in training, gradients of saturated units decay into the subnormal range, where x86
    arithmetic is 10-100x slower: a SOAP + MLP run on the carbon DOS set slowed from 1.5 to
    13 s per epoch (backward 90 vs 7 ms per batch on the same weights). Flushing changes
    values only below 1.2e-38. Returns False (and changes nothing) where the CPU cannot flush.
    """
    return torch.set_flush_denormal(True)


def _setup_file_log(out: Path) -> logging.Handler:
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("equisym", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    return handler


def _remove_file_log(handler: logging.Handler) -> None:
    for name in ("equisym", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def _check_resume(out: Path, cfg_dict: dict) -> None:
    last = out / "last.ckpt"
    if not last.exists():
        raise EquisymError(f"cannot resume: {last} does not exist")
    saved_path = out / "config.yaml"
    if saved_path.exists():
        saved = yaml.safe_load(saved_path.read_text())
        for key in set(saved) | set(cfg_dict):
            if key == "trainer":
                continue
            if saved.get(key) != cfg_dict.get(key):
                raise EquisymError(
                    f"cannot resume {out}: the config's '{key}' section differs from the run's config.yaml "
                    "(only trainer options may change on resume)"
                )


def _validate_final_weights(trainer, module, datamodule, checkpoint, best_path: Path) -> None:
    """With ``check_val_every_n_epoch > 1`` the last epochs of a run (often its best, at the
    end of the LR schedule) may never be validated: validate the final weights once and make
    them ``best.ckpt`` if they beat the best validated score (or if nothing was validated)."""
    results = trainer.validate(module, datamodule=datamodule, verbose=False)
    score = results[0].get(checkpoint.monitor) if results else None
    if score is None:
        return
    best = checkpoint.best_model_score
    better = best is None or (score < float(best) if checkpoint.mode == "min" else score > float(best))
    if better:
        trainer.save_checkpoint(best_path)
        checkpoint.best_model_path = str(best_path)
        checkpoint.best_model_score = torch.tensor(score)


def train(config: dict, out_dir: str | os.PathLike, overrides: list[str] | None = None, resume: bool = False) -> dict:
    """Train a task from a config mapping into ``out_dir``; return the final metrics.

    Raises:
        EquisymError: invalid config or data (nothing written), an existing run without
            ``resume``, or a resume whose config differs in anything but trainer options.
    """
    task, cfg = load_config(config, overrides)
    cfg_dict = to_dict(cfg)
    out = Path(out_dir)
    rank0 = global_rank() == 0
    if rank0:
        if resume:
            _check_resume(out, cfg_dict)
        elif (out / "last.ckpt").exists() or (out / "metrics.json").exists():
            raise EquisymError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    flush_denormals()
    datamodule = task.build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")  # data problems surface here, before anything is written
    module = task.build_module(cfg)
    if rank0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg_dict, sort_keys=False))
    handler = _setup_file_log(out) if rank0 else None
    try:
        from lightning.pytorch.callbacks import ModelCheckpoint
        from lightning.pytorch.loggers import CSVLogger

        metric, mode = task.monitor
        checkpoint = ModelCheckpoint(
            dirpath=out, filename="best", monitor=metric, mode=mode, save_last=True, enable_version_counter=False
        )
        callbacks: list = [checkpoint, _EpochSummary()]
        divergence = None
        if cfg.trainer.stop_on_divergence is not None:
            divergence = _DivergenceStop(cfg.trainer.stop_on_divergence)
            callbacks.append(divergence)
        if cfg.trainer.snapshots > 0:  # the last K epochs' weights, ranked by the step counter
            callbacks.append(ModelCheckpoint(
                dirpath=out / "snapshots", filename="{epoch}", monitor="step", mode="max",
                save_top_k=cfg.trainer.snapshots, every_n_epochs=cfg.trainer.snapshot_every_n_epochs,
                save_on_train_epoch_end=True, enable_version_counter=False,
            ))
        if cfg.trainer.ema_decay is not None:
            from lightning.pytorch.callbacks import WeightAveraging

            # not EMAWeightAveraging: its average also lerps integer buffers (BatchNorm counters,
            # sparse-graph indices) and truncation corrupts them
            callbacks.append(WeightAveraging(avg_fn=functools.partial(_ema_step, decay=cfg.trainer.ema_decay)))
        trainer = L.Trainer(
            default_root_dir=out,
            logger=CSVLogger(out, name="", version=""),
            callbacks=callbacks,
            num_sanity_val_steps=0,
            **cfg.trainer.lightning_kwargs(),
        )
        if resume:
            epoch = torch.load(out / "last.ckpt", map_location="cpu", weights_only=False).get("epoch", 0)
            log.info(f"resuming from epoch {epoch + 1} of {out / 'last.ckpt'}")
        start = time.time()
        log.info(f"training task {task.name} into {out} ({sum(p.numel() for p in module.parameters())} parameters)")
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(out / "last.ckpt") if resume else None)
        if cfg.trainer.check_val_every_n_epoch > 1:
            _validate_final_weights(trainer, module, datamodule, checkpoint, out / "best.ckpt")
        if not trainer.is_global_zero:
            return {}
        elapsed = time.time() - start
        best = checkpoint.best_model_path or str(out / "last.ckpt")
        if os.path.exists(best):
            module.load_state_dict(load_checkpoint(best)["state_dict"])
        module.eval()
        extra = task.after_training(module, datamodule, cfg, Path(best))
        if extra:
            log.info(f"after training: {json.dumps(extra)}")
        metrics = task.evaluate(module, datamodule, cfg, out, {})
        metrics.update(extra)
        metrics["training"] = {
            "epochs": trainer.current_epoch,
            "diverged_at_epoch": None if divergence is None else divergence.diverged_at_epoch,
            "wall_time_s": round(elapsed, 1),
            "best_checkpoint": os.path.basename(best),
            "monitor": metric,
            "best_score": None if checkpoint.best_model_score is None else float(checkpoint.best_model_score),
            "parameters": sum(p.numel() for p in module.parameters()),
        }
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        plot_learning_curves(out / "metrics.csv", out / "learning_curves.png")
        log.info(f"done: {json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)})}")
        return metrics
    finally:
        if handler is not None:
            _remove_file_log(handler)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint written by :func:`train` (a Lightning checkpoint holding the config)."""
    path = Path(path)
    if not path.exists():
        raise EquisymError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a bad file
        raise EquisymError(f"cannot read checkpoint {path}: {err}") from None
    if not isinstance(ckpt, dict) or "config" not in ckpt.get("hyper_parameters", {}):
        raise EquisymError(f"{path} is not an equisym checkpoint (no stored config)")
    return ckpt


def load_trained(
    path: str | os.PathLike | Sequence[str | os.PathLike], overrides: list[str] | None = None, task_name: str | None = None
) -> tuple[Task, Any, torch.nn.Module]:
    """Rebuild the trained module of a checkpoint, or the ensemble of several, in eval mode.

    Args:
        path: ``best.ckpt`` or ``last.ckpt`` of a run, or a list of several: the ensemble
            predicts the mean of their predictions (tasks that support it, see
            :meth:`Task.ensemble`). The members must share the task and the ``data`` and
            ``model`` sections of their configs; seeds, optimizer and trainer may differ.
        overrides: ``key=value`` overrides of the stored configs (e.g. ``eval.votes=5``).
        task_name: refuse checkpoints of any other task (before loading their weights).

    Returns:
        ``(task, config, module)``: the config is the (first) checkpoint's, with the overrides.
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        raise EquisymError("no checkpoint given")
    task, cfg, modules = None, None, []
    for p in paths:
        ckpt = load_checkpoint(p)
        member_task, member_cfg = load_config(ckpt["hyper_parameters"]["config"], overrides)
        if task is None:
            task, cfg = member_task, member_cfg
            if task_name is not None and task.name != task_name:
                raise EquisymError(f"{p} is a checkpoint of the {task.name} task, not of the {task_name} task")
            if len(paths) > 1 and not task.supports_ensembles:  # refuse before loading the other members
                raise EquisymError(f"the {task.name} task cannot evaluate an ensemble of checkpoints; give one checkpoint")
        else:
            first, this = to_dict(cfg), to_dict(member_cfg)
            differ = [k for k in ("task", "data", "model") if first.get(k) != this.get(k)]
            if differ:
                raise EquisymError(
                    f"{p} cannot join an ensemble with {paths[0]}: their '{differ[0]}' sections differ "
                    "(members must share task, data and model; seeds, optim and trainer may differ)"
                )
        module = task.build_module(member_cfg)
        module.load_state_dict(ckpt["state_dict"])
        modules.append(module.eval())
    flush_denormals()
    return task, cfg, modules[0] if len(modules) == 1 else task.ensemble(modules)


def evaluate_checkpoint(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
    data: str | None = None,
) -> dict:
    """Evaluate a trained checkpoint, or an ensemble of them; write ``metrics.json`` and plots.

    Args:
        path: ``best.ckpt`` or ``last.ckpt`` of a run, or a list of several (an ensemble,
            see :func:`load_trained`).
        out_dir: output folder (default: ``<run>/eval``, ``<first run>/eval-ensemble<N>``).
        overrides: ``key=value`` overrides of the stored configs (e.g. ``eval.votes=5``).
        data: task-specific alternative data (a folder or file), passed as ``options["data"]``.
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    task, cfg, module = load_trained(paths, overrides)
    if len(paths) > 1:
        out = Path(out_dir) if out_dir is not None else Path(paths[0]).parent / f"eval-ensemble{len(paths)}"
    else:
        out = Path(out_dir) if out_dir is not None else Path(paths[0]).parent / "eval"
    datamodule = task.build_datamodule(cfg)
    out.mkdir(parents=True, exist_ok=True)
    metrics = task.evaluate(module, datamodule, cfg, out, {"data": data})
    metrics["checkpoint"] = str(paths[0]) if len(paths) == 1 else [str(p) for p in paths]
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def plot_learning_curves(csv_path: Path, png_path: Path) -> None:
    """Plot every logged epoch-level metric of ``metrics.csv`` against the epoch."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not csv_path.exists():
        return
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    series: dict[str, dict[int, float]] = {}
    for row in rows:
        if not row.get("epoch"):
            continue
        epoch = int(float(row["epoch"]))
        for key, value in row.items():
            if key in ("epoch", "step") or not value or key.endswith("_step"):
                continue
            series.setdefault(key.removesuffix("_epoch"), {})[epoch] = float(value)
    groups: dict[str, list[str]] = {}
    for key in series:
        groups.setdefault(key.split("/", 1)[-1], []).append(key)
    if not groups:
        return
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.5), squeeze=False)
    for ax, (metric, keys) in zip(axes[0], sorted(groups.items())):
        for key in sorted(keys):
            xs = sorted(series[key])
            ax.plot(xs, [series[key][x] for x in xs], marker="o", ms=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend(fontsize=8)
        if metric.startswith("loss") and all(series[k][x] > 0 for k in keys for x in series[k]):
            ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
