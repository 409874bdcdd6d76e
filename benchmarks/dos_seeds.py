"""Table 2 over seeds: mean ± standard deviation of runs written by ``dos_table2.py``.

Single 45-minute runs of the same model differ by 10-20 % between seeds, more than the gap
between CSGNN-DOS and SOAP + MLP, so the comparison is made on seed means. Each group is a
label and the result files (``benchmarks/results/<name>.json``) of its seeds::

    python benchmarks/dos_seeds.py \\
        --group "CSGNN-DOS, local frames, flatten" csgnn-dos dos_table2_45min_frames_flatten \\
            dos_table2_45min_frames_flatten_s1 dos_table2_45min_frames_flatten_s2 \\
        --group "SOAP + MLP" soap-dos dos_table2_45min_soap_flush_s0 dos_table2_45min_soap_flush_s1 \\
            dos_table2_45min_soap_flush_s2

(``--group LABEL MODEL FILE [FILE ...]``; MODEL is the key in the file: csgnn-dos, soap-dos or
schnet-dos.) Prints a Markdown table and writes ``benchmarks/results/dos_seeds.json``.
"""

from __future__ import annotations

import argparse
import json

import _common  # noqa: F401
from _common import RESULTS, write_result

import numpy as np


def summarize(model: str, names: list[str]) -> dict:
    runs = []
    for name in names:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            raise SystemExit(f"{path} does not exist: run benchmarks/dos_table2.py --name {name} first")
        results = json.loads(path.read_text())["results"]
        if model not in results:
            raise SystemExit(f"{path} has no {model} (it has {sorted(results)})")
        runs.append(results[model])
    overall = np.array([r["table2a"] for r in runs])
    types = sorted(runs[0]["table2b"])  # the structure types of the data, as dos_table2.py orders them
    return {
        "files": names,
        "table2a": overall.tolist(),
        "table2a_mean": float(overall.mean()),
        "table2a_std": float(overall.std(ddof=1)) if len(runs) > 1 else None,
        "table2b_mean": {t: float(np.mean([r["table2b"][t] for r in runs])) for t in types},
        "within_chemical_accuracy": [r["within_chemical_accuracy"] for r in runs],
        "epochs": [r["epochs"] for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", nargs="+", action="append", required=True, metavar="LABEL MODEL FILE",
                        help="a label, the model key and the result files of its seeds")
    parser.add_argument("--name", default="dos_seeds", help="result file name")
    args = parser.parse_args()
    groups = {}
    for group in args.group:
        if len(group) < 3:
            parser.error("--group needs a label, a model and at least one result file")
        label, model, *names = group
        groups[label] = summarize(model, names)
    types = list(next(iter(groups.values()))["table2b_mean"])
    print("| model | seeds | Table 2a, each seed | mean ± sd | " + " | ".join(types) + " | types ≤ 0.043 | epochs |")
    print("|---|---|---|---|" + "---|" * len(types) + "---|---|")
    for label, g in groups.items():
        sd = "" if g["table2a_std"] is None else f" ± {g['table2a_std']:.4f}"
        print(f"| {label} | {len(g['files'])} | " + ", ".join(f"{v:.4f}" for v in g["table2a"])
              + f" | **{g['table2a_mean']:.4f}**{sd} | " + " | ".join(f"{g['table2b_mean'][t]:.3f}" for t in types)
              + " | " + ", ".join(str(c) for c in g["within_chemical_accuracy"])
              + " | " + ", ".join(str(e) for e in g["epochs"]) + " |")
    write_result(args.name, {"groups": groups})


if __name__ == "__main__":
    main()
