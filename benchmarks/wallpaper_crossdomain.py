"""Cross-domain wallpaper-group classification: train on one content source, test on all
three (clean, and with additive Gaussian noise σ = 0.1, 0.3) and on sparse-dot images (clean,
cells 16–20 px; ``--extra-sources``), for the symmetry-correlation
network, the ResNet-18-layout CNN, the exact D4 group CNN and the symmetry-score MLP (flat and
hierarchical), beside the training-free classical detector on the same test images.

    OMP_NUM_THREADS=1 python benchmarks/wallpaper_crossdomain.py                # all runs
    OMP_NUM_THREADS=1 python benchmarks/wallpaper_crossdomain.py --runs symcorr:photos classical:photos
    OMP_NUM_THREADS=1 python benchmarks/wallpaper_crossdomain.py --runs resnet:photos -o trainer.max_epochs=4

Each run is ``equisym train configs/wallpaper-<model>.yaml -o data.train_source=<source>``
into ``runs/wallpaper-bench/<model>-<source>`` (skipped when its metrics.json exists; its
training wall time and optimizer steps are reported from there). ``classical:<source>``
runs :func:`equisym.inference.wallpaper.detect` on the test images of the config named by
``--classical-config`` (the same cache, so the same images as the models of that config;
``--runs classical:photos --classical-config configs/wallpaper-scores.yaml`` gives the detector on
the score models' 128 px images, recorded as ``classical:photos:scores``). ``--tag NAME`` keeps runs
with other settings beside the default ones (key ``scores:photos@NAME``, folder ``scores-photos-NAME``):

    OMP_NUM_THREADS=1 python benchmarks/wallpaper_crossdomain.py --merge --tag 64px -o data.size=64 -o "data.cell=[8,20]" \
        --runs scores:photos scores:photos:h classical:photos --classical-config configs/wallpaper-scores.yaml

The summary goes to
``benchmarks/results/wallpaper_crossdomain.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import REPO, write_json, write_result
from equisym.generate.wallpaper import GENERATOR_VERSION
from equisym.generate.wallpaper.verify import DETECTOR_VERSION

DEFAULT_CLASSICAL_CONFIG = "configs/wallpaper-symcorr.yaml"
"""The detector sees the image models' test images (48 px crops) unless told otherwise."""

DEFAULT_RUNS = [
    "symcorr:photos", "symcorr:atoms", "symcorr:noise", "resnet:photos", "resnet:atoms", "resnet:noise",
    "scores:photos", "scores:photos:h", "symcorr:photos:h", "classical:photos",
]  # fmt: skip


def classical(config: str, overrides: list[str]) -> dict:
    """Accuracy of the training-free detector on the test images (clean and noisy) of ``config``."""
    sys.path.insert(0, str(REPO / "src"))
    from equisym.errors import EquisymError
    from equisym.inference.wallpaper import detect
    from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS
    from equisym.train.task import load_config
    from equisym.train.tasks.wallpaper import WallpaperDataModule

    from equisym.config import load_yaml

    path = REPO / config
    loaded = load_config(load_yaml(str(path)), overrides, base_dir=path.parent)
    cfg = loaded[1] if isinstance(loaded, tuple) else loaded
    dm = WallpaperDataModule(cfg)
    out: dict = {"accuracy": {}, "noise": {}, "failed": {}}
    start = time.time()
    for source in cfg.eval.sources:
        images, labels = dm.test_arrays(source)
        for sigma in [0.0, *cfg.eval.noise]:
            x = dm.test_images(images, sigma)  # what the models read (the score model: its features' images)
            hits = failed = 0
            for img, y in zip(x, labels):
                try:
                    hits += PLANE_GROUP_SYMBOLS.index(detect(img.astype(np.float64)).prediction) == int(y)
                except EquisymError:
                    failed += 1  # no lattice: counted wrong
            acc = round(hits / len(labels), 4)
            if sigma == 0:
                out["accuracy"][source] = acc
                out["failed"][source] = failed
            else:
                out["noise"].setdefault(source, {})[str(sigma)] = acc
    out["wall_time_s"] = round(time.time() - start, 1)
    out["test_size"] = int(len(labels))
    return out


# test images of the extra sources: sparse dots need cells of at least 16 px (the generator's bar)
EXTRA_SOURCE_OVERRIDES = {"sparse": ["data.cell=[16,20]"]}


def _evaluate_extra(run: Path, sources: list[str]) -> dict:
    """Clean-image accuracy of a finished run's best checkpoint on each extra source
    (``equisym eval`` into ``RUN/eval-<source>``, reused when present; None if it failed)."""
    out = {}
    for source in sources:
        folder = run / f"eval-{source}"
        metrics = folder / "metrics.json"
        if not metrics.exists():
            cmd = [sys.executable, "-m", "equisym", "eval", str(run / "best.ckpt"), "--out", str(folder),
                   "-o", f"eval.sources=[{source}]", "-o", "eval.noise=[]"]  # fmt: skip
            for o in EXTRA_SOURCE_OVERRIDES.get(source, []):
                cmd += ["-o", o]
            r = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
            if r.returncode != 0:
                out[source] = None
                continue
        out[source] = json.loads(metrics.read_text())["accuracy"].get(source)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", nargs="*", default=DEFAULT_RUNS, help="model:train_source[:h] (h: hierarchical head); classical:SOURCE")
    parser.add_argument("--out", default="runs/wallpaper-bench")
    parser.add_argument("--classical-config", default=DEFAULT_CLASSICAL_CONFIG,
                        help="config whose test images the detector sees (another than the default adds its name to the "
                             "run's key: classical:SOURCE:scores for configs/wallpaper-scores.yaml)")
    parser.add_argument("-o", "--override", action="append", default=[], help="extra overrides for every run")
    parser.add_argument("--tag", default="",
                        help="a name for runs with --override settings: appended to every run's key (scores:photos@TAG) "
                             "and to its folder, so they sit beside the default runs instead of replacing them")
    parser.add_argument("--merge", action="store_true", help="keep the runs already in the result file (other invocations)")
    parser.add_argument("--extra-sources", nargs="*", default=["sparse"],
                        help="clean test sources besides the config's: trained runs are evaluated on them with "
                             "`equisym eval` (into RUN/eval-SOURCE), the detector sees them too")
    args = parser.parse_args()
    summary: dict = {"runs": {}}
    previous = REPO / "benchmarks/results/wallpaper_crossdomain.json"
    if args.merge and previous.exists():
        summary["runs"] = json.loads(previous.read_text()).get("runs", {})
    suffix = f"@{args.tag}" if args.tag else ""
    for spec in args.runs:
        model, source, *flags = spec.split(":")
        if model == "classical":
            images_of = Path(args.classical_config).stem.removeprefix("wallpaper-")
            if args.classical_config != DEFAULT_CLASSICAL_CONFIG:  # the detector on another config's test images
                spec = f"classical:{source}:{images_of}"
            spec += suffix
            saved = REPO / args.out / f"classical-{source}-{images_of}{suffix}.json"  # reused like a run's metrics.json
            stale = saved.exists() and json.loads(saved.read_text()).get("detector_version") != DETECTOR_VERSION
            if not saved.exists() or stale:
                result = classical(args.classical_config, [f"data.train_source={source}", *args.override])
                for extra in args.extra_sources:
                    # the extra source's own settings come last: they win over --override (sparse dots need large cells)
                    more = classical(args.classical_config, [f"data.train_source={source}", f"eval.sources=[{extra}]", "eval.noise=[]",
                                                             *args.override, *EXTRA_SOURCE_OVERRIDES.get(extra, [])])
                    result["accuracy"][extra] = more["accuracy"][extra]
                    result["failed"][extra] = more["failed"][extra]
                    result["wall_time_s"] += more["wall_time_s"]
                result["generator_version"] = GENERATOR_VERSION
                result["detector_version"] = DETECTOR_VERSION
                write_json(saved, result)
            summary["runs"][spec] = {"model": "classical detector (training-free)", "test_images_of": args.classical_config,
                                     "overrides": args.override, **json.loads(saved.read_text())}
            print(spec, json.dumps(summary["runs"][spec]["accuracy"]), flush=True)
            write_result("wallpaper_crossdomain", summary)
            continue
        hier = "h" in flags
        spec += suffix
        out = REPO / args.out / (f"{model}-{source}" + ("-hierarchical" if hier else "") + (f"-{args.tag}" if args.tag else ""))
        metrics_path = out / "metrics.json"
        if metrics_path.exists() and model == "scores":
            trained_on = json.loads(metrics_path.read_text()).get("detector_version", 1)
            if trained_on != DETECTOR_VERSION:  # a score model on an older detector's features: keep it aside, retrain
                aside = out.with_name(f"{out.name}.detector-v{trained_on}")
                shutil.rmtree(aside, ignore_errors=True)
                out.rename(aside)
                print(f"{spec}: trained on detector version {trained_on} features, moved to {aside.name}; retraining", flush=True)
        if not metrics_path.exists():
            cmd = [sys.executable, "-m", "equisym", "train", str(REPO / f"configs/wallpaper-{model}.yaml"), "--out", str(out),
                   "-o", f"data.train_source={source}", "-o", "trainer.progress_bar=false"]  # fmt: skip
            if hier:
                cmd += ["-o", "model.hierarchical=true"]
            for o in args.override:
                cmd += ["-o", o]
            start = time.time()
            print(" ".join(cmd), flush=True)
            r = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
            print(f"{spec}: exit {r.returncode} after {time.time() - start:.0f} s", flush=True)
            if r.returncode != 0:
                summary["runs"][spec] = {"error": f"exit {r.returncode}"}
                continue
        m = json.loads(metrics_path.read_text())
        extra = _evaluate_extra(out, args.extra_sources)
        m["accuracy"] = {**m["accuracy"], **extra}
        summary["runs"][spec] = {
            "model": model,
            "hierarchical": hier,
            "train_source": source,
            "overrides": args.override,
            "accuracy": m["accuracy"],
            "cross_domain_min_accuracy": m.get("cross_domain_min_accuracy"),
            "noise": m["noise"],
            "per_class_recall": m["per_class_recall"],
            "training": m.get("training"),
            "test_size": m.get("test_size"),
            "generator_version": m.get("generator_version"),  # None: a run from before it was recorded (version ≤ 4)
            **({"detector_version": m["detector_version"]} if "detector_version" in m else {}),  # score models' features
            "run_dir": os.path.relpath(out, REPO),
        }
        print(spec, json.dumps({"accuracy": m["accuracy"], "noise": m["noise"]}), flush=True)
        write_result("wallpaper_crossdomain", summary)


if __name__ == "__main__":
    main()
