"""Evaluate a trained checkpoint (or an ensemble) into a folder of metrics and plots."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path

import torch

from equisym.errors import EquisymError
from equisym.inference.load import resolve_device
from equisym.train.checkpoint import load_trained

__all__ = ["evaluate_checkpoint", "check_output_folder", "check_data_path"]

_MODEL_SUFFIXES = (".ckpt", ".pt", ".pth")


def check_output_folder(out: Path) -> None:
    """Raise unless ``out`` is an existing writable folder or can be created in an existing
    writable folder (nothing is created).

    Raises:
        EquisymError: ``out`` is a file, its parent folder is missing, or either is read-only.
    """
    if out.exists():
        if not out.is_dir():
            raise EquisymError(f"output folder {out} is a file; give a folder")
        if not os.access(out, os.W_OK | os.X_OK):
            raise EquisymError(f"output folder {out} is not writable; give another --out")
        return
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise EquisymError(f"cannot write to {out}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EquisymError(f"cannot write to {out}: the folder {parent} is not writable; give another --out")


def check_data_path(data: str | os.PathLike) -> None:
    """Raise if ``data`` (the ``--data`` of ``equisym eval``) is missing or is a model file.

    Raises:
        EquisymError: naming the problem.
    """
    path = Path(data)
    if not path.exists():
        raise EquisymError(f"--data {path} does not exist")
    is_model = path.is_file() and (
        path.suffix.lower() in _MODEL_SUFFIXES
        or (zipfile.is_zipfile(path) and any(n.endswith("data.pkl") for n in zipfile.ZipFile(path).namelist()))
    )
    if is_model:
        raise EquisymError(
            f"--data {path} is a model file, not data: give the checkpoint as the first argument and the data to evaluate on after --data"
        )


def evaluate_checkpoint(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
    data: str | None = None,
    device: str | torch.device | None = None,
) -> dict:
    """Evaluate a trained checkpoint, or an ensemble of them; write ``metrics.json`` and plots.

    Every argument is checked before anything is written; if the evaluation fails, an output
    folder it created is removed again.

    Args:
        path: ``best.ckpt`` or ``last.ckpt`` of a run, or a list of several (an ensemble,
            see :func:`~equisym.train.checkpoint.load_trained`).
        out_dir: output folder (default: ``<run>/eval``, ``<first run>/eval-ensemble<N>``);
            its parent folder must exist.
        overrides: ``key=value`` overrides of the stored configs (e.g. ``eval.votes=5``).
        data: task-specific alternative data (a folder or file), passed as ``options["data"]``.
        device: where the model runs (``"cpu"``, ``"cuda"``, ...); None: the stored config's
            ``eval.device`` where the task has one, else the CPU. ``options["device"]`` tells
            the task.

    Raises:
        EquisymError: a bad checkpoint, data path, output folder or device (nothing written).
    """
    if device is not None:
        resolve_device(device)  # an unusable device fails before anything is read
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    if not paths:
        raise EquisymError("no checkpoint given")
    if out_dir is not None:
        out = Path(out_dir)
    elif len(paths) > 1:
        out = Path(paths[0]).parent / f"eval-ensemble{len(paths)}"
    else:
        out = Path(paths[0]).parent / "eval"
    if data is not None:
        check_data_path(data)
    task, cfg, module = load_trained(paths, overrides)
    if device is None:
        device = getattr(getattr(cfg, "eval", None), "device", None) or "cpu"
    dev = resolve_device(device)
    module = module.to(dev)
    check_output_folder(out)
    datamodule = task.build_datamodule(cfg)
    created = not out.exists()
    out.mkdir(exist_ok=True)
    try:
        metrics = task.evaluate(module, datamodule, cfg, out, {"data": data, "device": dev})
        metrics["checkpoint"] = str(paths[0]) if len(paths) == 1 else [str(p) for p in paths]
        metrics["device"] = str(dev)
        tmp = out / ".metrics.json.tmp"
        tmp.write_text(json.dumps(metrics, indent=2))
        os.replace(tmp, out / "metrics.json")
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return metrics
