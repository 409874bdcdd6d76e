"""ECSE on point-cloud classifiers: exact invariance turns z/SO3 accuracy into z/z accuracy.

Trains (or reloads) CSGNN and PointNet (preset ``small``) through the real engine on the
built-in ``shapes`` data with random rotations about z, then evaluates on the fixed test
rotations of the task (z and Haar SO(3), ``eval.rotation_seed``) both the bare model and the
model wrapped in :class:`equisym.nn.Symmetrized` (preset ``point_cloud``, SO(3)). The wrapper
needs no retraining. Reports accuracies, the largest change of the symmetrized logits between
the z- and SO(3)-rotated copies of the same test cloud, the prediction agreement, frames per
cloud and the evaluation time relative to the bare model (same run, same clouds).

    OMP_NUM_THREADS=1 python benchmarks/ecse_pointcloud.py [--epochs 3] [--train-size 1200] [--models csgnn pointnet]

Writes benchmarks/results/ecse_pointcloud.json; run folders go to --runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import _common  # noqa: F401
from _common import write_result

import torch

from equisym.config import load_yaml
from equisym.nn import ECSE_PRESETS, Symmetrized
from equisym.train.checkpoint import load_trained
from equisym.train.runner import train

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "csgnn-shapes.yaml"


def _load(run: Path):
    task, cfg, module = load_trained(run / "best.ckpt")
    datamodule = task.build_datamodule(cfg)
    datamodule.setup()
    return module.model, datamodule, cfg


def _predict(model, dataset, batch: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    logits, labels, seconds = [], [], 0.0
    with torch.no_grad():
        for start in range(0, len(dataset), batch):
            items = [dataset[i] for i in range(start, min(start + batch, len(dataset)))]
            x = torch.stack([p for p, _ in items])
            t0 = time.perf_counter()
            logits.append(model(x))
            seconds += time.perf_counter() - t0
            labels.append(torch.as_tensor([y for _, y in items]))
    return torch.cat(logits), torch.cat(labels), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=1200)
    parser.add_argument("--test-size", type=int, default=480)
    parser.add_argument("--models", nargs="+", default=["csgnn", "pointnet"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--runs", default="runs/ecse-pointcloud")
    args = parser.parse_args()
    base = load_yaml(str(CONFIG))
    ecse_cfg = ECSE_PRESETS["point_cloud"]
    rows = {}
    for name in args.models:
        run = Path(args.runs) / f"{name}-z-seed0"
        overrides = [
            f"trainer.max_epochs={args.epochs}", f"data.train_size={args.train_size}", f"data.test_size={args.test_size}",
            "trainer.progress_bar=false", "seed=0", f"model.name={name}", "model.preset=small",
            "data.augment.rotation=z", "eval.rotations=[z, so3]",
        ]
        if not (run / "metrics.json").exists():
            train(base, run, overrides)
        train_metrics = json.loads((run / "metrics.json").read_text())
        model, datamodule, cfg = _load(run)
        sym = Symmetrized(model, config=ecse_cfg).eval()
        sets = {rot: datamodule.test_dataset(rot, cfg.eval.rotation_seed) for rot in ("z", "so3")}
        out = {"train_epochs": train_metrics["training"]["epochs"], "train_wall_time_s": train_metrics["training"]["wall_time_s"]}
        logits = {}
        frames = []
        times = {"bare": 0.0, "ecse": 0.0}
        for rot, ds in sets.items():
            lb, y, tb = _predict(model, ds, args.batch)
            counts = []

            def wrapped(x):
                res = sym(x)
                counts.append(sym.last_num_frames)
                return res

            ls, _, ts = _predict(wrapped, ds, args.batch)
            frames.append(torch.cat(counts))
            times["bare"] += tb
            times["ecse"] += ts
            logits[rot] = ls
            out[f"bare z/{rot}"] = round(float((lb.argmax(1) == y).double().mean()), 4)
            out[f"ecse z/{rot}"] = round(float((ls.argmax(1) == y).double().mean()), 4)
        n = torch.cat(frames).double()
        out["ecse_max_logit_change_z_vs_so3"] = float((logits["z"] - logits["so3"]).abs().max())
        out["ecse_max_logit_abs"] = float(logits["z"].abs().max())
        out["ecse_prediction_agreement_z_vs_so3"] = float((logits["z"].argmax(1) == logits["so3"].argmax(1)).double().mean())
        out["frames_per_cloud"] = {"mean": round(float(n.mean()), 2), "median": float(n.median()), "max": int(n.max()), "min": int(n.min())}
        out["eval_time_s"] = {k: round(v, 2) for k, v in times.items()}
        out["time_ratio_ecse_over_bare"] = round(times["ecse"] / times["bare"], 2)
        rows[name] = out
        print(name, json.dumps(out))
    write_result(
        "ecse_pointcloud",
        {
            "epochs": args.epochs, "train_size": args.train_size, "test_size": args.test_size,
            "ecse_config": ecse_cfg, "dtype": "float32", "models": rows,
            "note": "same checkpoint for bare and ecse (no retraining); test rotations fixed by eval.rotation_seed",
        },
    )


if __name__ == "__main__":
    main()
