"""Training-side checkpoints: read one, rebuild its trained module (or an ensemble)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from equisym.config import to_dict
from equisym.errors import EquisymError
from equisym.inference.runtime import flush_denormals
from equisym.train.task import Task, load_config

__all__ = ["load_checkpoint", "load_trained"]


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
