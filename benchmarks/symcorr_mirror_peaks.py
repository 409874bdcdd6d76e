"""How finely must the symmetry-correlation front end sample mirror axes?

A mirror of a wallpaper pattern can lie at any angle; ``wallpaper-symcorr`` correlates the
image with copies mirrored about ``mirror_axes`` axes evenly spaced over 180°, so a true mirror
falls up to half a step from the nearest sampled axis and its correlation peak drops. This
script generates test-size images (48 px, cells 8–20 px, the configs' crop) of p1 (no mirror)
and of pm, pg and cm (one mirror or glide direction), runs the front end with several axis
counts, and reports, per group, the 10th and 90th percentiles of the highest mirror-map peak:
a classifier can only separate p1 from the mirror groups where p1's 90th percentile stays below
the mirror groups' 10th. It also times one training step of the ``small`` model (batch 64, one
thread; median of 5 after one untimed step) for each axis count, relative to 24 axes.

    OMP_NUM_THREADS=1 python benchmarks/symcorr_mirror_peaks.py [--images 80] [--axes 24 48 96]

Writes benchmarks/results/symcorr_mirror_peaks.json.
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401
from _common import median_time, write_result

import numpy as np
import torch

from equisym.generate.wallpaper import WallpaperGenerator
from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS
from equisym.nn.registry import build_model
from equisym.nn.wallpaper_corr import SymmetryCorrelations

GROUPS = ("p1", "pm", "pg", "cm")


def step_seconds(axes: int, size: int, repeats: int = 5) -> float:
    """Median time of an AdamW training step of the ``small`` model on a batch of 64 images."""
    torch.manual_seed(0)
    model, _ = build_model({"name": "wallpaper-symcorr", "preset": "small", "mirror_axes": axes})
    opt = torch.optim.AdamW(model.parameters())
    x, y = torch.rand(64, 1, size, size), torch.randint(0, 17, (64,))

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return median_time(step, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=80, help="images per source (groups drawn evenly)")
    parser.add_argument("--axes", type=int, nargs="+", default=[24, 48, 96])
    parser.add_argument("--sources", nargs="+", default=["photos", "noise"])
    parser.add_argument("--size", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(1)
    table: dict = {}
    for source in args.sources:
        gen = WallpaperGenerator(",".join(GROUPS), source, size=args.size, seed=5, cell=(8, 20))
        samples = [gen.sample(i) for i in range(args.images)]
        x = torch.stack([torch.from_numpy(s.image.astype(np.float64) / 255) for s in samples])
        x = (x.mean(-1) if x.ndim == 4 else x)[:, None]
        labels = np.array([PLANE_GROUP_SYMBOLS[s.label] for s in samples])
        for axes in args.axes:
            front = SymmetryCorrelations(window=12, mirror_axes=axes).double()
            with torch.no_grad():
                maps = front(x)
            peak = maps[:, front.mirror_max_channels].amax(dim=(1, 2, 3)).numpy()
            table.setdefault(source, {})[str(axes)] = {
                g: {"p10": round(float(np.percentile(peak[labels == g], 10)), 3),
                    "p90": round(float(np.percentile(peak[labels == g], 90)), 3), "n": int((labels == g).sum())}
                for g in GROUPS
            }
            row = table[source][str(axes)]
            gap = min(row[g]["p10"] for g in GROUPS[1:]) - row["p1"]["p90"]
            row["separation"] = round(gap, 3)
            print(f"{source:7s} {axes:3d} axes: " + ", ".join(f"{g} {row[g]['p10']:.2f}-{row[g]['p90']:.2f}" for g in GROUPS)
                  + f"; lowest mirror p10 - p1 p90 = {gap:+.2f}", flush=True)
    steps = {str(a): step_seconds(a, args.size) for a in args.axes}
    base = steps.get("24", steps[str(args.axes[0])])
    step_cost = {a: {"seconds": round(t, 3), "relative": round(t / base, 2)} for a, t in steps.items()}
    print("training step (batch 64):", ", ".join(f"{a} axes {v['seconds']:.2f} s ({v['relative']:.2f}x)" for a, v in step_cost.items()))
    write_result("symcorr_mirror_peaks", {
        "description": "10th/90th percentile of the highest mirror-map peak of the symmetry-correlation front end, "
        "per group and number of sampled mirror axes; separation = lowest p10 of pm/pg/cm minus the p90 of p1",
        "settings": {"images_per_source": args.images, "size": args.size, "cell": [8, 20], "window": 12, "seed": 5},
        "peaks": table,
        "training_step": step_cost,
    })


if __name__ == "__main__":
    main()
