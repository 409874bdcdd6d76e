"""Training and evaluation: run configs, the task registry, the runner and one module per task.

Modules: :mod:`~equisym.train.config` (trainer/optim/run sections), :mod:`~equisym.train.task`
(tasks, config loading, the base LightningModule), :mod:`~equisym.train.schedules` (optimizer
and LR schedules in optimizer steps), :mod:`~equisym.train.callbacks`,
:mod:`~equisym.train.saving` (last/best checkpoints), :mod:`~equisym.train.metrics_log`
(``metrics.csv``), :mod:`~equisym.train.run_folder` and :mod:`~equisym.train.run_logging`
(checks and console of a run), :mod:`~equisym.train.paths` (config paths and batch sizes),
:mod:`~equisym.train.runner` (:func:`train`), :mod:`~equisym.train.checkpoint`,
:mod:`~equisym.train.evaluate`, :mod:`~equisym.train.plots`, ``tasks/``.
"""

from equisym.train.checkpoint import load_checkpoint, load_trained
from equisym.train.config import OptimConfig, RunConfig, TrainerConfig
from equisym.train.evaluate import evaluate_checkpoint
from equisym.train.runner import global_rank, train
from equisym.train.schedules import configure_optimizers
from equisym.train.task import TASKS, Task, TaskModule, load_config, register_task

__all__ = [
    "TASKS",
    "OptimConfig",
    "RunConfig",
    "Task",
    "TaskModule",
    "TrainerConfig",
    "configure_optimizers",
    "evaluate_checkpoint",
    "global_rank",
    "load_checkpoint",
    "load_config",
    "load_trained",
    "register_task",
    "train",
]
