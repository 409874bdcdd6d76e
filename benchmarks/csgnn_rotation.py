"""Rotation robustness on ``shapes``: CSGNN vs PointNet and DGCNN, several seeds.

Every model is trained through the real engine with the same data (``shapes``, 1024
points), the same augmentation with random rotations about z, and the same budget (the
same number of epochs over the same clouds), then tested with fixed random rotations about z (z/z) and
Haar-random rotations (z/SO3). Optionally also trained with SO(3) rotations (SO3/SO3).

    python benchmarks/csgnn_rotation.py [--seeds 0 1 2] [--epochs 5] [--train-size 1200] [--models csgnn pointnet dgcnn] [--model-seeds dgcnn=0,1] [--quick]

Writes benchmarks/results/csgnn_rotation.json and .png; run folders go to --runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import _common  # noqa: F401
from _common import RESULTS, write_result

from equisym.config import load_yaml
from equisym.train.runner import train

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "csgnn-shapes.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=1200, help="training clouds (100 per class)")
    parser.add_argument("--models", nargs="+", default=["csgnn", "pointnet", "dgcnn"])
    parser.add_argument("--model-seeds", nargs="*", default=[], metavar="MODEL=S1,S2",
                        help="fewer seeds for a slow model, e.g. dgcnn=0,1")
    parser.add_argument("--so3", action="store_true", help="also train with SO(3) rotations (SO3/SO3)")
    parser.add_argument("--runs", default="runs/bench-rotation", help="folder for the run folders")
    parser.add_argument("--quick", action="store_true", help="tiny data and 1 epoch (a smoke test)")
    args = parser.parse_args()
    base = load_yaml(str(CONFIG))
    common = [f"trainer.max_epochs={args.epochs}", f"data.train_size={args.train_size}", "trainer.progress_bar=false"]
    if args.quick:
        common = ["trainer.max_epochs=1", "trainer.progress_bar=false", "data.train_size=48", "data.val_size=24", "data.test_size=24"]
    train_rotations = ["z", "so3"] if args.so3 else ["z"]
    model_seeds = {m: [int(x) for x in s.split(",")] for m, s in (item.split("=") for item in args.model_seeds)}
    rows = []
    for seed in args.seeds:
        for model in args.models:
            if seed not in model_seeds.get(model, args.seeds):
                continue
            for rot in train_rotations:
                out = Path(args.runs) / f"{model}-{rot}-seed{seed}"
                overrides = common + [f"seed={seed}", f"model.name={model}", "model.preset=small",
                                      f"data.augment.rotation={rot}", "eval.rotations=[z, so3]"]
                if (out / "metrics.json").exists():
                    metrics = json.loads((out / "metrics.json").read_text())
                else:
                    metrics = train(base, out, overrides)
                rows.append({"model": model, "seed": seed, "train_rotation": rot, **metrics["protocols"],
                             "epochs": metrics["training"]["epochs"], "wall_time_s": metrics["training"]["wall_time_s"]})
                print(json.dumps(rows[-1]))
    summary = {}
    for model in args.models:
        for rot in train_rotations:
            sel = [r for r in rows if r["model"] == model and r["train_rotation"] == rot]
            for test in ("z", "so3"):
                key = f"{rot}/{test}"
                vals = [r[key] for r in sel]
                summary.setdefault(model, {})[key] = {
                    "mean": round(statistics.mean(vals), 4),
                    "std": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0,
                }
            summary[model]["train_time_s_mean"] = round(statistics.mean(r["wall_time_s"] for r in sel), 1)
    write_result("csgnn_rotation", {"epochs": args.epochs, "train_size": args.train_size, "seeds": args.seeds, "runs": rows, "summary": summary})
    _plot(summary, RESULTS / "csgnn_rotation.png")
    for model, s in summary.items():
        print(model, {k: v for k, v in s.items()})


def _plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for s in summary.values() for k in s if "/" in k})
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(summary), 3.6))
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        means = [100 * summary[m].get(key, {"mean": 0})["mean"] for m in summary]
        stds = [100 * summary[m].get(key, {"std": 0})["std"] for m in summary]
        ax.bar([i + j * width for i in range(len(summary))], means, width, yerr=stds, label=key, capsize=3)
    ax.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(summary))], list(summary))
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(title="train/test rotation")
    ax.set_title("shapes: rotation robustness")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
