"""File checks and atomic writes shared by every layer (it imports only :mod:`equisym.errors`).

- :func:`check_input_file`: an input file exists and its suffix names a format we read.
- :func:`atomic_output` and :func:`write_text_atomic`: write under a temporary name in the same
  folder, then rename. A reader never sees a half-written file, and a failure (bad input, a
  crash, Ctrl-C) leaves nothing behind: the temporary file is removed and an existing file of
  the same name is untouched.

Example:
    >>> with atomic_output("predictions.csv") as tmp:
    ...     tmp.write_text("input,prediction\\n")
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Sequence

from equisym.errors import EquisymError

__all__ = ["atomic_output", "check_input_file", "write_text_atomic"]


def check_input_file(path: str | os.PathLike, suffixes: Sequence[str], kind: str) -> str:
    """Check that ``path`` has one of ``suffixes`` and is a file; return its lower-case suffix.

    Args:
        path: the input file.
        suffixes: accepted suffixes (lower case, with the dot).
        kind: what the file holds, for the messages (``"image"``, ``"mesh"``, ...).

    Raises:
        EquisymError: ``"PATH: unknown KIND format '.x'; use one of ..."`` or
            ``"KIND file not found: PATH"`` (the suffix is checked first).
    """
    path = str(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in suffixes:
        raise EquisymError(f"{path}: unknown {kind} format {suffix or '(no suffix)'!r}; use one of {', '.join(suffixes)}")
    if not os.path.isfile(path):
        raise EquisymError(f"{kind} file not found: {path}")
    return suffix


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, else delete it.

    The temporary name is ``.NAME.PID.tmp`` (hidden, unique per process, same file system).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` with :func:`atomic_output`."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
