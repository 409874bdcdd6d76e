"""Evaluate a trained checkpoint (or an ensemble) into a folder of metrics and plots."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from equisym.train.checkpoint import load_trained

__all__ = ["evaluate_checkpoint"]


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
