"""A figure of example point clouds per class (matplotlib 3-D scatter plots, one row per class)."""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

__all__ = ["plot_class_examples"]


def plot_class_examples(
    sample: Callable[[int, int], np.ndarray],
    class_names: list[str],
    path: str,
    per_class: int = 3,
    columns: int = 4,
    point_size: float = 1.0,
) -> None:
    """Write a PNG grid of ``per_class`` example clouds for every class.

    Args:
        sample: ``sample(label, k)`` returns the ``k``-th example cloud ``(N, 3)`` of a class.
        class_names: the names, in label order (one block of ``per_class`` panels each).
        path: output PNG; written to a temporary name in the same folder, then renamed.
        columns: classes per row of the figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = int(np.ceil(len(class_names) / columns))
    fig = plt.figure(figsize=(1.6 * per_class * columns, 1.8 * rows))
    for label, name in enumerate(class_names):
        for k in range(per_class):
            ax = fig.add_subplot(rows, columns * per_class, label // columns * columns * per_class + label % columns * per_class + k + 1, projection="3d")
            pts = np.asarray(sample(label, k))
            ax.scatter(pts[:, 0], pts[:, 1], pts[:, 2], s=point_size, c=pts[:, 2], cmap="viridis", linewidths=0)
            ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
            ax.set_box_aspect((1, 1, 1))
            ax.view_init(elev=20, azim=-60)
            ax.set_axis_off()
            if k == 0:
                ax.set_title(name, fontsize=8, loc="left")
    fig.tight_layout(pad=0.1)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)
