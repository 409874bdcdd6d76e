"""Tasks: the registry, config loading and the base LightningModule.

A *task* (point-cloud classification, interatomic potential, DOS regression, wallpaper
classification, ...) is a :class:`Task` subclass registered with :func:`register_task`. It
declares its config dataclass (a :class:`~equisym.train.config.RunConfig` subclass adding
``data`` and ``model`` sections), builds its Lightning data module and module, and evaluates
a trained module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import lightning as L
import torch

from equisym.config import apply_overrides, from_dict, to_dict
from equisym.errors import EquisymError
from equisym.train.paths import check_batch_sizes, resolve_paths
from equisym.train.schedules import configure_optimizers, total_steps

__all__ = ["Task", "TASKS", "register_task", "load_config", "TaskModule"]


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

    def model_file_warnings(self, model_file: Any) -> list[str]:
        """Warnings about a trained model file read for evaluation or prediction (an
        :class:`equisym.inference.model_file.ModelFile`), e.g. features computed differently
        since it was trained; default: none."""
        return []

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


def load_config(
    data: dict, overrides: list[str] | None = None, base_dir: str | os.PathLike | None = None
) -> tuple[Task, Any]:
    """Validate a config mapping (after ``key=value`` overrides) against its task's dataclass.

    Args:
        data: the config mapping (parsed YAML).
        overrides: ``key=value`` overrides, applied after ``base_dir`` resolution: their
            relative paths resolve against the current directory.
        base_dir: folder of the config file: relative data paths written in ``data`` resolve
            against it (see :func:`equisym.train.paths.resolve_paths`); None: the current directory.

    Raises:
        EquisymError: unknown task, unknown key, wrong type, or an invalid value (e.g. a
            ``batch_size`` <= 0).
    """
    _ensure_tasks()
    data = dict(data)
    name = apply_overrides(dict(data), overrides or []).get("task")
    if name not in TASKS:
        raise EquisymError(f"config key 'task' must be one of {', '.join(sorted(TASKS))}; got {name!r}")
    task = TASKS[name]
    if base_dir is not None:
        data = resolve_paths(task.config_class, data, Path(base_dir))
    data = resolve_paths(task.config_class, apply_overrides(data, overrides or []), Path.cwd())
    cfg = task.expand(from_dict(task.config_class, data))
    check_batch_sizes(cfg)
    return task, cfg


class TaskModule(L.LightningModule):
    """Base LightningModule: stores the run config (so checkpoints are self-describing) and
    builds the optimizer from ``cfg.optim``."""

    monitor: tuple[str, str] = ("val/loss", "min")
    #: Epoch at which the task's own check stopped training because the network collapsed to
    #: one output for every input (recorded in ``metrics.json``); None while training is sound.
    collapsed_at_epoch: int | None = None

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.cfg = cfg
        self.save_hyperparameters({"config": to_dict(cfg), "equisym_version": _version()})

    def configure_optimizers(self):
        return configure_optimizers(self, self.cfg.optim, self.monitor)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Make every checkpoint a model file: plain data plus the ``equisym`` block
        (:func:`equisym.train.checkpoint.finish_checkpoint`). Subclasses call ``super()``."""
        from equisym.train.checkpoint import finish_checkpoint

        finish_checkpoint(checkpoint, to_dict(self.cfg))

    def training_progress(self) -> float:
        """Fraction of the run's optimizer steps done, in [0, 1]: ``global_step`` over
        ``trainer.estimated_stepping_batches`` (0 before training). Task schedules (loss ramps,
        freezes) follow it, so they depend on data size, batch size and epochs only."""
        if self._trainer is None:
            return 0.0
        return min(1.0, max(0.0, self.global_step / total_steps(self._trainer)))


def _version() -> str:
    from equisym import __version__

    return __version__
