"""Plots shared by tasks (matplotlib, Agg backend)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_confusion_matrix", "plot_learning_curves"]


def plot_confusion_matrix(matrix: np.ndarray, class_names: list[str], path: Path, title: str = "") -> None:
    """Save a row-normalised confusion matrix (rows: true class, columns: predicted)."""
    matrix = np.asarray(matrix, dtype=float)
    norm = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    n = len(class_names)
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), class_names, rotation=90, fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if norm[i, j] >= 0.01:
                    ax.text(j, i, f"{100 * norm[i, j]:.0f}", ha="center", va="center", fontsize=6,
                            color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_learning_curves(csv_path: Path, png_path: Path) -> None:
    """Plot every logged epoch-level metric of ``metrics.csv`` against the epoch."""
    if not csv_path.exists():
        return
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    series: dict[str, dict[int, float]] = {}
    for row in rows:
        if not row.get("epoch"):
            continue
        epoch = int(float(row["epoch"]))
        for key, value in row.items():
            if key in ("epoch", "step") or not value or key.endswith("_step"):
                continue
            series.setdefault(key.removesuffix("_epoch"), {})[epoch] = float(value)
    groups: dict[str, list[str]] = {}
    for key in series:
        groups.setdefault(key.split("/", 1)[-1], []).append(key)
    if not groups:
        return
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.5), squeeze=False)
    for ax, (metric, keys) in zip(axes[0], sorted(groups.items())):
        for key in sorted(keys):
            xs = sorted(series[key])
            ax.plot(xs, [series[key][x] for x in xs], marker="o", ms=3, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.legend(fontsize=8)
        if metric.startswith("loss") and all(series[k][x] > 0 for k in keys for x in series[k]):
            ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
