"""Training and evaluation: run configs, the task registry, the runner and one module per task."""

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
