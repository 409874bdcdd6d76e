"""Figure: one example per group (columns) per source (rows), with the lattice drawn
(the conventional cell at the group's origin).

    python benchmarks/wallpaper_figure.py      # -> benchmarks/results/wallpaper_examples.png
"""

from __future__ import annotations

import argparse

import matplotlib
import numpy as np
from _common import RESULTS

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from equisym.generate.wallpaper import SOURCES, WallpaperGenerator  # noqa: E402
from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    fig, axes = plt.subplots(3, 17, figsize=(17 * 1.6, 3 * 1.75))
    for r, source in enumerate(SOURCES):
        gen = WallpaperGenerator("all", source, size=args.size, seed=args.seed)
        for g in range(17):
            s = gen.sample(g)
            ax = axes[r, g]
            ax.imshow(s.image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            # the cell nearest the image centre whose corner is origin + i a + j b
            a, b = s.lattice
            centre = np.array([args.size / 2, args.size / 2])
            ij = np.floor(np.linalg.solve(s.lattice.T, centre - s.origin))
            o = s.origin + ij[0] * a + ij[1] * b
            cell = np.array([o, o + a, o + a + b, o + b, o])
            ax.plot(cell[:, 0], cell[:, 1], color="red", lw=1.0)
            ax.set_xlim(0, args.size)
            ax.set_ylim(args.size, 0)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(PLANE_GROUP_SYMBOLS[g], fontsize=11)
            if g == 0:
                ax.set_ylabel(source, fontsize=11)
    fig.tight_layout(pad=0.3)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "wallpaper_examples.png"
    fig.savefig(path, dpi=70)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
