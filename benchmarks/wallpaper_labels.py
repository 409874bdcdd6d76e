"""Label margins: the verifier confirms every generated image's group and rejects every
other operation, on N images per source (known lattice from the file's metadata).

    OMP_NUM_THREADS=1 python benchmarks/wallpaper_labels.py --n 1000

Also reports the training-free classical classifier (estimated lattice) on the same images.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import write_result

from equisym.data.wallpaper import SOURCES, WallpaperGenerator
from equisym.data.wallpaper_verify import DEFAULT_THRESHOLD, analyse, verify_label
from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="images per source")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--classify", type=int, default=340, help="images per source for the classical classifier")
    args = parser.parse_args()
    result = {"n_per_source": args.n, "size": args.size, "seed": args.seed, "threshold": DEFAULT_THRESHOLD, "sources": {}}
    for source in SOURCES:
        gen = WallpaperGenerator("all", source, size=args.size, seed=args.seed)
        confirm, excess, labels = [], [], []
        start = time.time()
        correct, n_cls = 0, 0
        confusion = np.zeros((17, 17), dtype=int)
        for i in range(args.n):
            s = gen.sample(i)
            c, e = verify_label(s.image, s.label, s.lattice)
            confirm.append(c)
            excess.append(e)
            labels.append(s.label)
            if i < args.classify:
                try:
                    pred = analyse(s.image).label
                except Exception:  # noqa: BLE001 - a failed lattice counts as wrong
                    pred = -1
                correct += pred == s.label
                n_cls += 1
                if pred >= 0:
                    confusion[s.label, pred] += 1
        confirm, excess, labels = np.array(confirm), np.array(excess), np.array(labels)
        bad_confirm = [(PLANE_GROUP_SYMBOLS[labels[i]], round(float(confirm[i]), 3)) for i in np.nonzero(confirm < DEFAULT_THRESHOLD)[0]]
        bad_excess = [(PLANE_GROUP_SYMBOLS[labels[i]], round(float(excess[i]), 3)) for i in np.nonzero(excess >= DEFAULT_THRESHOLD)[0]]
        result["sources"][source] = {
            "confirmed": int((confirm >= DEFAULT_THRESHOLD).sum()),
            "no_extra_symmetry": int((excess < DEFAULT_THRESHOLD).sum()),
            "min_confirm": round(float(confirm.min()), 4),
            "confirm_percentiles_1_5_50": [round(float(v), 4) for v in np.percentile(confirm, [1, 5, 50])],
            "max_excess": round(float(excess.max()), 4),
            "excess_percentiles_50_95_99": [round(float(v), 4) for v in np.percentile(excess, [50, 95, 99])],
            "margin_confirm_minus_excess_min": round(float((confirm - excess).min()), 4),
            "failures_confirm": bad_confirm[:20],
            "failures_excess": bad_excess[:20],
            "per_group_min_confirm": {PLANE_GROUP_SYMBOLS[g]: round(float(confirm[labels == g].min()), 4) for g in range(17)},
            "per_group_max_excess": {PLANE_GROUP_SYMBOLS[g]: round(float(excess[labels == g].max()), 4) for g in range(17)},
            "classical_classifier_accuracy": round(correct / max(n_cls, 1), 4),
            "classical_classifier_n": n_cls,
            "classical_confusion": confusion.tolist(),
            "seconds": round(time.time() - start, 1),
        }
        print(source, {k: v for k, v in result["sources"][source].items() if "per_group" not in k and k != "classical_confusion"}, flush=True)
    write_result("wallpaper_labels", result)


if __name__ == "__main__":
    main()
