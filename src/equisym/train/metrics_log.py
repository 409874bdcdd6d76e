"""``metrics.csv``: every logged row of a run, kept across resumes (rows are appended, never
rewritten away)."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

__all__ = ["CSVMetricsLogger", "read_rows"]


def read_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a ``metrics.csv`` as dicts of strings (empty cells are empty strings)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _cell(value: Any) -> str:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


class CSVMetricsLogger(Logger):
    """A Lightning logger writing one row per ``log_metrics`` call (``step``, ``epoch`` and the
    metrics) to ``<folder>/metrics.csv``.

    A row is appended while the set of columns stays the same; a new column rewrites the file
    (temporary file + rename) with every row kept. With ``keep_until_epoch`` (a resume from a
    checkpoint of that epoch) the rows already in the file up to that epoch are kept and the
    rows of later epochs (an interrupted epoch that is now replayed) are dropped.
    """

    def __init__(self, folder: str | os.PathLike, keep_until_epoch: int | None = None) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.path = self.folder / "metrics.csv"
        self.rows: list[dict[str, str]] = []
        self.columns: list[str] = []
        if keep_until_epoch is not None:
            for row in read_rows(self.path):
                epoch = row.get("epoch", "")
                if epoch and float(epoch) > keep_until_epoch:
                    continue
                self.rows.append(row)
            for row in self.rows:
                self._add_columns(row)
            if rank_zero_only.rank == 0:
                self._rewrite()
        elif rank_zero_only.rank == 0 and self.path.exists():
            self.path.unlink()

    @property
    def name(self) -> str:
        return ""

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return str(self.folder)

    @property
    def log_dir(self) -> str:
        return str(self.folder)

    @property
    @rank_zero_experiment
    def experiment(self) -> None:
        return None

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """Hyperparameters live in ``config.yaml``; nothing to do."""

    def _add_columns(self, row: dict) -> bool:
        new = [key for key in row if key not in self.columns]
        self.columns.extend(new)
        return bool(new)

    def _rewrite(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(buffer.getvalue())
        os.replace(tmp, self.path)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        row = {"step": _cell(step if step is not None else len(self.rows))}
        if "epoch" in metrics:
            row["epoch"] = _cell(metrics["epoch"])
        row.update({key: _cell(value) for key, value in metrics.items() if key != "epoch"})
        self.rows.append(row)
        if self._add_columns(row) or not self.path.exists():
            self._rewrite()
            return
        buffer = io.StringIO()
        csv.DictWriter(buffer, fieldnames=self.columns, restval="", lineterminator="\n").writerow(row)
        with open(self.path, "a") as handle:
            handle.write(buffer.getvalue())
