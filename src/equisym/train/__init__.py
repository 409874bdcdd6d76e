"""Training and evaluation: the run-directory engine and one module per task."""

from equisym.train.engine import (
    TASKS,
    OptimConfig,
    RunConfig,
    Task,
    TaskModule,
    TrainerConfig,
    evaluate_checkpoint,
    load_checkpoint,
    load_config,
    load_trained,
    register_task,
    train,
)

__all__ = [
    "TASKS",
    "OptimConfig",
    "RunConfig",
    "Task",
    "TaskModule",
    "TrainerConfig",
    "evaluate_checkpoint",
    "load_checkpoint",
    "load_config",
    "load_trained",
    "register_task",
    "train",
]
