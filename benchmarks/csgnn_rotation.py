"""Rotation robustness on ``shapes-hard``: CSGNN, CSGNN + ECSE and the peers, several seeds.

Every model is trained through the real engine (task ``pointcloud-classification``,
``configs/csgnn-shapes-hard.yaml``) with the same data, the same augmentation and the same
number of epochs over the same clouds, once with random rotations about z and once with
Haar-random SO(3) rotations, then tested on the task's fixed test rotations: z/z, z/SO3 and
SO3/SO3. Models are ``NAME:PRESET`` with an optional ``+ecse`` (the task's
``symmetrize: ecse``: trained and evaluated inside :class:`equisym.nn.Symmetrized`).
For each ``+ecse`` model the script also measures, on the trained weights, the largest change
of the logits between the z- and SO(3)-rotated copies of the same test clouds (float32 and
float64).

The full grid (6 models, 3 protocols, 3 seeds, the config's data and epochs):

    OMP_NUM_THREADS=1 python benchmarks/csgnn_rotation.py

A reduced grid (every model side by side at the same reduced size):

    OMP_NUM_THREADS=1 python benchmarks/csgnn_rotation.py --seeds 0 --epochs 2 --train-size 640 --points 256

Options: ``--models csgnn:small pointnet:small ...``, ``--train-rotations z`` (skip SO3/SO3),
``--quick`` (a smoke test, results written to --runs), ``--finished-only`` (record the finished
runs of the grid, train nothing: for a grid trained in pieces), ``--keep-recorded`` (also count
the runs already in the result file, measured with the same settings, whose run folders are
elsewhere: for a grid trained on several machines). Finished runs (``metrics.json`` present) are reused, stopped ones (``last.ckpt`` only) resume from their last epoch,
and the result file is rewritten after every run (``complete: false`` until the grid is done).
Writes benchmarks/results/csgnn_rotation.json and .png; run folders go to --runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import _common  # noqa: F401
from _common import RESULTS, write_result

import torch

from equisym.config import load_yaml
from equisym.train.checkpoint import load_checkpoint
from equisym.train.runner import train
from equisym.train.task import load_config

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "csgnn-shapes-hard.yaml"
MODELS = ["csgnn:small", "csgnn:paper", "csgnn:small+ecse", "vn-dgcnn:small", "pointnet:small", "dgcnn:small"]


def _overrides(spec: str) -> list[str]:
    name, _, rest = spec.partition(":")
    preset, _, wrap = rest.partition("+")
    out = [f"model.name={name}", f"model.preset={preset or 'small'}"]
    return out + (["symmetrize=ecse"] if wrap == "ecse" else [])


def _ecse_logit_change(run: Path, clouds: int) -> dict:
    """Largest |logit(z-rotated cloud) - logit(SO3-rotated cloud)| of a trained ECSE run."""
    ckpt = load_checkpoint(run / "best.ckpt")
    task, cfg = load_config(ckpt["hyper_parameters"]["config"])
    module = task.build_module(cfg)
    module.load_state_dict(ckpt["state_dict"])
    module.eval()
    datamodule = task.build_datamodule(cfg)
    datamodule.setup()
    sets = [datamodule.test_dataset(rot, cfg.eval.rotation_seed) for rot in ("z", "so3")]
    n = min(clouds, len(sets[0]))
    x = [torch.stack([ds[i][0] for i in range(n)]) for ds in sets]
    out = {"clouds": n}
    with torch.no_grad():
        for dtype in (torch.float32, torch.float64):
            module.to(dtype)
            a, b = (module({"points": p.to(dtype)}) for p in x)
            key = str(dtype).split(".")[1]
            out[f"max_logit_change_{key}"] = float((a - b).abs().max())
            out[f"max_abs_logit_{key}"] = float(a.abs().max())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's trainer.max_epochs")
    parser.add_argument("--train-size", type=int, default=None, help="training clouds (default: the config's)")
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--points", type=int, default=None, help="points per cloud (default: the config's)")
    parser.add_argument("--models", nargs="+", default=MODELS, help="NAME:PRESET[+ecse]")
    parser.add_argument("--train-rotations", nargs="+", default=["z", "so3"], choices=["z", "so3"])
    parser.add_argument("--runs", default="runs/bench-rotation-hard", help="folder for the run folders")
    parser.add_argument("--ecse-clouds", type=int, default=64, help="clouds for the ECSE logit-change check")
    parser.add_argument("--quick", action="store_true", help="tiny data and 1 epoch (a smoke test)")
    parser.add_argument("--finished-only", action="store_true",
                        help="record the runs already finished in --runs and train none (a grid run in pieces)")
    parser.add_argument("--keep-recorded", action="store_true",
                        help="also count the runs of the result file already recorded with the same settings "
                             "whose run folders are not in --runs (a grid trained on several machines)")
    args = parser.parse_args()
    base = load_yaml(str(CONFIG))
    common = ["trainer.progress_bar=false", "eval.rotations=[z, so3]"]
    if args.quick:
        args.epochs, args.train_size, args.test_size, args.points = 1, 64, 32, 128
        common += ["data.val_size=32", "data.classes=4"]
    for key, value in (("trainer.max_epochs", args.epochs), ("data.train_size", args.train_size),
                       ("data.test_size", args.test_size), ("data.num_points", args.points)):
        if value is not None:
            common.append(f"{key}={value}")
    if args.train_size is not None and not args.quick:
        common.append(f"data.val_size={max(32, args.train_size // 5)}")
    recorded = _recorded_runs(args, common) if args.keep_recorded else {}
    rows = []
    for seed in args.seeds:
        for spec in args.models:
            for rot in args.train_rotations:
                out = Path(args.runs) / f"{spec.replace(':', '-').replace('+', '-')}-{rot}-seed{seed}"
                overrides = common + _overrides(spec) + [f"seed={seed}", f"data.augment.rotation={rot}"]
                if (out / "metrics.json").exists():
                    metrics = json.loads((out / "metrics.json").read_text())
                elif (spec, seed, rot) in recorded:
                    rows.append(recorded[spec, seed, rot])
                    continue
                elif args.finished_only:
                    continue
                else:  # a run stopped earlier (last.ckpt, no metrics.json) continues from its last epoch
                    metrics = train(base, out, overrides, resume=(out / "last.ckpt").exists())
                tr = metrics["training"]
                row = {"model": spec, "seed": seed, "train_rotation": rot, **metrics["protocols"],
                       "epochs": tr["epochs"], "wall_time_s": tr["wall_time_s"],
                       "time_per_epoch_s": round(tr["wall_time_s"] / max(tr["epochs"], 1), 1),
                       "parameters": tr["parameters"]}
                if spec.endswith("+ecse"):
                    row["ecse_check"] = _ecse_logit_change(out, args.ecse_clouds)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if len(rows) < len(args.seeds) * len(args.models) * len(args.train_rotations):
                    _record(rows, args, common, final=False)
    _record(rows, args, common, final=True)


def _recorded_runs(args: argparse.Namespace, common: list[str]) -> dict[tuple[str, int, str], dict]:
    """Rows of the recorded result file keyed by (model, seed, train rotation), provided it was
    measured with the same data sizes, epochs and overrides; an error otherwise."""
    path = RESULTS / "csgnn_rotation.json"
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    settings = {"epochs": args.epochs, "train_size": args.train_size, "test_size": args.test_size,
                "points": args.points, "overrides": common}
    differ = [key for key, value in settings.items() if old.get(key) != value]
    if differ:
        raise SystemExit(f"--keep-recorded: {path} was measured with other settings ({', '.join(differ)})")
    return {(r["model"], r["seed"], r["train_rotation"]): r for r in old["runs"]}


def _record(rows: list[dict], args: argparse.Namespace, common: list[str], final: bool) -> None:
    """Write the result file (and its bar chart) for the runs finished so far; ``complete`` says
    whether every run of the grid is in it (a long grid is recorded after each run)."""
    planned = len(args.seeds) * len(args.models) * len(args.train_rotations)
    summary = {}
    for spec in args.models:
        if not any(r["model"] == spec for r in rows):
            continue
        s = summary.setdefault(spec, {})
        for rot in args.train_rotations:
            sel = [r for r in rows if r["model"] == spec and r["train_rotation"] == rot]
            for test in ("z", "so3") if rot == "z" else ("so3",):
                vals = [r[f"{rot}/{test}"] for r in sel]
                if vals:
                    s[f"{rot}/{test}"] = {"mean": round(statistics.mean(vals), 4),
                                          "std": round(statistics.stdev(vals), 4) if len(vals) > 1 else 0.0, "n": len(vals)}
        sel = [r for r in rows if r["model"] == spec]
        s["time_per_epoch_s_mean"] = round(statistics.mean(r["time_per_epoch_s"] for r in sel), 1)
    config = {"epochs": args.epochs, "train_size": args.train_size, "test_size": args.test_size, "points": args.points,
              "seeds": args.seeds, "overrides": common, "config": str(CONFIG.name),
              "complete": final and len(rows) == planned, "runs_planned": planned, "runs_finished": len(rows)}
    results = Path(args.runs) if args.quick else RESULTS  # a smoke test leaves the recorded results alone
    write_result("csgnn_rotation", {**config, "runs": rows, "summary": summary}, results)
    _plot(summary, results / "csgnn_rotation.png", config)
    if final:
        for spec, s in summary.items():
            print(spec, json.dumps(s))


def _plot(summary: dict, path: Path, config: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in ("z/z", "z/so3", "so3/so3") if any(k in s for s in summary.values())]
    fig, ax = plt.subplots(figsize=(2.2 + 1.5 * len(summary), 3.8))
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        # a protocol a model has no finished run for gets no bar (not a bar at 0 %)
        means = [100 * summary[m][key]["mean"] if key in summary[m] else float("nan") for m in summary]
        stds = [100 * summary[m][key]["std"] if key in summary[m] else 0.0 for m in summary]
        ax.bar([i + j * width for i in range(len(summary))], means, width, yerr=stds, label=key, capsize=3)
    labels = [f"{m}\n(n = {max(v['n'] for v in summary[m].values() if isinstance(v, dict) and 'n' in v)})" for m in summary]
    ax.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(summary))], labels, rotation=15, fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(title="train/test", fontsize=8)
    ax.set_title(f"shapes-hard: {config['epochs'] or 'config'} epochs, {config['train_size'] or 'config'} clouds, "
                 f"{config['points'] or 1024} points, seeds {config['seeds']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
