"""Checking prediction paths and writing prediction files atomically.

:func:`atomic_output` (from :mod:`equisym.files`): a temporary name in the same folder, then a
rename, so a reader never sees a half-written file, and a failure (bad input, a crash, Ctrl-C)
leaves nothing behind: the temporary file is removed and an existing file of the same name is
untouched.

Example:
    >>> path = check_output_path("predictions.csv", (".csv",))
    >>> with atomic_output(path) as tmp:
    ...     tmp.write_text("input,prediction\\n")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from equisym.errors import EquisymError
from equisym.files import atomic_output

__all__ = ["check_output_path", "atomic_output", "progress"]


def check_output_path(path: str | os.PathLike, suffixes: Sequence[str] = ()) -> Path:
    """Check that ``path`` can be written: its folder exists, it is not a folder, its suffix fits.

    Args:
        path: the output file.
        suffixes: accepted suffixes (lower case, with the dot); empty accepts any.

    Raises:
        EquisymError: a missing folder, a folder given as the file, a wrong suffix.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise EquisymError(f"--out {path} is a folder; give the file to write (e.g. {path / ('predictions' + (suffixes[0] if suffixes else '.out'))})")
    if not folder.is_dir():
        raise EquisymError(f"the output folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK):
        raise EquisymError(f"the output folder {folder} is not writable")
    if suffixes and path.suffix.lower() not in suffixes:
        raise EquisymError(f"--out {path}: this prediction is written as {' or '.join(suffixes)}; name the file accordingly")
    return path


def progress(items, desc: str, enabled: bool = True, unit: str = "it", total: int | None = None):
    """``items`` wrapped in a tqdm progress bar on stderr (plain ``items`` when disabled)."""
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit=unit, total=total, leave=False, dynamic_ncols=True)
