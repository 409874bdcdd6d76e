"""Where a run's messages go: everything to ``train.log``; to the console only the one-line
epoch summaries, the resume note and warnings (Lightning's start-up notes, tips and
dataloader advice go to ``train.log`` only)."""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

__all__ = ["quiet_console", "ConsoleFilter"]

_LIGHTNING = ("lightning.pytorch", "lightning.fabric")
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ConsoleFilter(logging.Filter):
    """Passes warnings and errors, and records logged with ``extra={"console": True}``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or bool(getattr(record, "console", False))


def _is_lightning_warning(category: type, filename: str) -> bool:
    try:
        from lightning.fabric.utilities.warnings import PossibleUserWarning
    except ImportError:  # pragma: no cover
        PossibleUserWarning = ()  # noqa: N806
    return (isinstance(PossibleUserWarning, type) and issubclass(category, PossibleUserWarning)) or (
        "/lightning/" in filename.replace("\\", "/") or "/lightning_fabric/" in filename.replace("\\", "/")
    )


@contextlib.contextmanager
def quiet_console(out: Path | None) -> Iterator[None]:
    """Within the block: the ``equisym`` and Lightning loggers write to ``out/train.log``
    (when ``out`` is given); the console shows what :class:`ConsoleFilter` passes; Lightning's
    own console handlers show warnings only; Lightning's Python warnings are logged to
    ``train.log`` instead of printed. Everything is restored afterwards."""
    equisym = logging.getLogger("equisym")
    file_handler = None
    added: list[tuple[logging.Logger, logging.Handler]] = []
    saved_levels: list[tuple[logging.Logger | logging.Handler, int]] = []
    if out is not None:
        file_handler = logging.FileHandler(out / "train.log")
        file_handler.setFormatter(logging.Formatter(_FORMAT))
        for name in ("equisym", *_LIGHTNING):
            logger = logging.getLogger(name)
            logger.addHandler(file_handler)
            added.append((logger, file_handler))
            saved_levels.append((logger, logger.level))
            logger.setLevel(logging.INFO)
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        console.addFilter(ConsoleFilter())
        equisym.addHandler(console)
        added.append((equisym, console))
    for name in _LIGHTNING:
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                saved_levels.append((handler, handler.level))
                handler.setLevel(logging.WARNING)
    lightning_log = logging.getLogger("lightning.pytorch")
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if _is_lightning_warning(category, filename):
            if file_handler is not None:
                lightning_log.info(f"{category.__name__}: {message}")
            return
        original(message, category, filename, lineno, file, line)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield
    finally:
        for target, level in saved_levels:
            target.setLevel(level)
        for logger, handler in added:
            logger.removeHandler(handler)
        if file_handler is not None:
            file_handler.close()
