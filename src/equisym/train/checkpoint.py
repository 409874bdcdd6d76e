"""Training-side model files: write checkpoints as plain data, read them back, rebuild the
trained module (or an ensemble).

Every read goes through :func:`equisym.inference.model_file.read_model_file`
(``torch.load(weights_only=True)``, format checked); every checkpoint :func:`train` writes
passes through :func:`finish_checkpoint` (called by ``TaskModule.on_save_checkpoint``), which
adds the ``equisym`` block and makes sure nothing in it needs unpickling of a class.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import torch

from equisym.config import to_dict
from equisym.errors import EquisymError
from equisym.inference.load import load_weights, resolve_device
from equisym.inference.model_file import ModelFile, model_file_block, plain, read_model_file
from equisym.inference.runtime import flush_denormals
from equisym.train.task import Task, load_config

__all__ = ["finish_checkpoint", "load_checkpoint", "read_resume_checkpoint", "load_trained"]


def finish_checkpoint(checkpoint: dict, config: dict) -> None:
    """Make a checkpoint being saved a model file, in place: add the ``equisym`` block
    (:func:`~equisym.inference.model_file.model_file_block` of the full run ``config``) and
    convert every entry to plain data (:func:`~equisym.inference.model_file.plain`).

    Raises:
        EquisymError: an entry holds an object that cannot be made plain.
    """
    for key in list(checkpoint):
        checkpoint[key] = plain(checkpoint[key], f"checkpoint[{key!r}]")
    checkpoint["equisym"] = model_file_block(config)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """The whole checkpoint mapping of a model file (read safely, format checked)."""
    return read_model_file(path).checkpoint


def read_resume_checkpoint(path: str | os.PathLike) -> ModelFile:
    """Check that ``path`` is a full training checkpoint to resume from (plain data, known
    format, with loop and optimizer state); Lightning then reads it with ``weights_only=True``.

    Raises:
        EquisymError: the file is unsafe, damaged, from a newer equisym, or holds weights only.
    """
    model_file = read_model_file(path)
    missing = [k for k in ("loops", "optimizer_states") if k not in model_file.checkpoint]
    if missing:
        raise EquisymError(f"cannot resume from {path}: it holds no training state ({missing[0]} missing)")
    return model_file


def load_trained(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    overrides: list[str] | None = None,
    task_name: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[Task, Any, torch.nn.Module]:
    """Rebuild the trained module of a checkpoint, or the ensemble of several, in eval mode.

    Args:
        path: ``best.ckpt`` or ``last.ckpt`` of a run, or a list of several: the ensemble
            predicts the mean of their predictions (tasks that support it, see
            :meth:`Task.ensemble`). The members must share the task and the ``data`` and
            ``model`` sections of their configs; seeds, optimizer and trainer may differ.
        overrides: ``key=value`` overrides of the stored configs (e.g. ``eval.votes=5``).
        task_name: refuse checkpoints of any other task (before loading their weights).
        device: where the module is placed (``"cpu"``, ``"cuda"``, ...).

    Returns:
        ``(task, config, module)``: the config is the (first) checkpoint's, with the overrides.

    Raises:
        EquisymError: a file is missing, unsafe, damaged or from a newer equisym; its weights do
            not match its config; members of an ensemble differ; the device is unavailable.
    """
    dev = resolve_device(device)
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        raise EquisymError("no checkpoint given")
    task, cfg, modules = None, None, []
    for p in paths:
        model_file = read_model_file(p)
        if task_name is not None and model_file.task != task_name:
            raise EquisymError(f"{p} is a checkpoint of the {model_file.task} task, not of the {task_name} task")
        member_task, member_cfg = load_config(model_file.config, overrides)
        if task is None:
            task, cfg = member_task, member_cfg
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
        for warning in member_task.model_file_warnings(model_file):
            print(f"warning: {p}: {warning}", file=sys.stderr)
        module = task.build_module(member_cfg)
        load_weights(module, model_file.state_dict, p, f"the {task.name} module of model {model_file.model['name']}")
        modules.append(module.eval())
    flush_denormals()
    module = modules[0] if len(modules) == 1 else task.ensemble(modules)
    return task, cfg, module.to(dev)
