"""The run folder before training: may it be written, is it a run, which checkpoint resumes
it, is it already finished. Every check here writes nothing."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import yaml

from equisym.errors import EquisymError
from equisym.train.saving import LAST, PREVIOUS

__all__ = ["check_writable", "check_fresh", "check_resume_config", "pick_resume_checkpoint", "finished_message"]

log = logging.getLogger("equisym")

RUN_MARKERS = ("config.yaml", LAST, PREVIOUS, "metrics.json")
"""Files that make a folder an equisym run."""


def check_writable(out: Path) -> None:
    """Raise :class:`EquisymError` unless ``out`` (or, if it does not exist yet, its nearest
    existing parent folder) is a folder this process can create files in (probed with a
    temporary file, removed at once)."""
    if out.exists() and not out.is_dir():
        raise EquisymError(f"--out {out} is a file, not a folder")
    folder = out
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise EquisymError(f"cannot create --out {out}: {folder} is a file")
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=".equisym-write-test-")
        os.close(handle)
        os.unlink(name)
    except OSError as err:
        raise EquisymError(f"cannot write to --out {out}: {err.strerror or err} ({folder})") from None


def check_fresh(out: Path) -> None:
    """Refuse an ``out`` that already holds a run (without resume) or holds other files."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    if any((out / name).exists() for name in RUN_MARKERS):
        raise EquisymError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    raise EquisymError(f"{out} is not empty and is not an equisym run (no config.yaml or last.ckpt); choose a new or empty --out")


def check_resume_config(out: Path, cfg_dict: dict) -> None:
    """Refuse to resume ``out`` when it holds no run, or with a config that differs from the
    run's ``config.yaml`` in anything but the ``trainer`` section."""
    saved_path = out / "config.yaml"
    if not saved_path.exists():
        raise EquisymError(f"cannot resume {out}: it holds no run (no config.yaml)")
    saved = yaml.safe_load(saved_path.read_text()) or {}
    for key in sorted(set(saved) | set(cfg_dict)):
        if key != "trainer" and saved.get(key) != cfg_dict.get(key):
            raise EquisymError(
                f"cannot resume {out}: the config's '{key}' section differs from the run's config.yaml "
                "(only trainer options may change on resume)"
            )


def pick_resume_checkpoint(out: Path) -> tuple[Path, int]:
    """The checkpoint to resume from and its epoch: ``last.ckpt``, or, when it is missing or
    unreadable (e.g. truncated by a crash), ``last.prev.ckpt`` with a warning.

    Raises:
        EquisymError: neither file can be read.
    """
    from equisym.train.checkpoint import read_resume_checkpoint

    problems = []
    for name in (LAST, PREVIOUS):
        path = out / name
        if not path.exists():
            problems.append(f"{name} missing")
            continue
        try:
            checkpoint = read_resume_checkpoint(path).checkpoint
        except EquisymError as err:
            problems.append(str(err))
            continue
        if problems:
            log.warning(f"{out / LAST} cannot be read ({problems[0]}); resuming from {path} instead, one epoch earlier")
        return path, int(checkpoint.get("epoch", 0))
    raise EquisymError(f"cannot resume {out}: no readable checkpoint ({'; '.join(problems)})")


def finished_message(out: Path, max_epochs: int, max_time: str | None) -> str | None:
    """A one-line note if the run in ``out`` has finished (``metrics.json`` written after its
    last epoch, a divergence stop, or the same ``max_time`` safety stop), else None."""
    path = out / "metrics.json"
    if not path.exists():
        return None
    try:
        training = json.loads(path.read_text()).get("training", {})
    except (OSError, ValueError, AttributeError):
        return None
    epochs = int(training.get("epochs", 0) or 0)
    saved = yaml.safe_load((out / "config.yaml").read_text()) if (out / "config.yaml").exists() else {}
    saved_time = ((saved or {}).get("trainer") or {}).get("max_time")
    if epochs >= max_epochs:
        why = f"all {epochs} epochs done"
    elif training.get("diverged_at_epoch") is not None:
        why = f"stopped at epoch {training['diverged_at_epoch']} by divergence"
    elif training.get("collapsed_at_epoch") is not None:
        why = f"stopped at epoch {training['collapsed_at_epoch']}: the network collapsed to a constant output"
    elif training.get("stopped_by_max_time") and max_time == saved_time:
        why = f"stopped by trainer.max_time after {epochs} epochs (raise it to continue)"
    else:
        return None
    return f"{out} holds a finished run ({why}); nothing to do (raise trainer.max_epochs to train on)"
