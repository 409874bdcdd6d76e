"""Cross-domain wallpaper-group classification: train on one content source, test on all
three (clean, and with additive Gaussian noise σ = 0.1, 0.3), for the symmetry-score MLP,
the exact D4 group CNN and the ResNet baseline, on identical images (shared cache).

    OMP_NUM_THREADS=1 python benchmarks/wallpaper_crossdomain.py                # all runs
    OMP_NUM_THREADS=1 python benchmarks/wallpaper_crossdomain.py --runs scores:photos d4:photos

Each run is ``equisym train configs/wallpaper-<model>.yaml -o data.train_source=<source>``
into ``runs/wallpaper-bench/<model>-<source>`` (skipped when its metrics.json exists); the
summary goes to ``benchmarks/results/wallpaper_crossdomain.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import REPO, write_result

DEFAULT_RUNS = [
    "scores:photos", "scores:photos:h", "d4:photos", "resnet:photos", "scores:atoms", "scores:noise", "d4:atoms", "resnet:atoms",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", nargs="*", default=DEFAULT_RUNS, help="model:train_source[:h] (h: hierarchical head)")
    parser.add_argument("--out", default="runs/wallpaper-bench")
    parser.add_argument("-o", "--override", action="append", default=[], help="extra overrides for every run")
    args = parser.parse_args()
    summary: dict = {"runs": {}}
    for spec in args.runs:
        model, source, *flags = spec.split(":")
        hier = "h" in flags
        out = REPO / args.out / (f"{model}-{source}" + ("-hierarchical" if hier else ""))
        metrics_path = out / "metrics.json"
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
        summary["runs"][spec] = {
            "model": model,
            "hierarchical": hier,
            "train_source": source,
            "accuracy": m["accuracy"],
            "cross_domain_min_accuracy": m.get("cross_domain_min_accuracy"),
            "noise": m["noise"],
            "per_class_recall": m["per_class_recall"],
            "training": m.get("training"),
            "test_size": m.get("test_size"),
            "run_dir": str(out.relative_to(REPO)),
        }
        print(spec, json.dumps({"accuracy": m["accuracy"], "noise": m["noise"]}), flush=True)
        write_result("wallpaper_crossdomain", summary)


if __name__ == "__main__":
    main()
