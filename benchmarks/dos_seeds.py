"""Table 2 over seeds: mean ± standard deviation of runs written by ``dos_table2.py``.

Runs of the same model differ between seeds, so models are compared on seed means. Each group
is a label, the model's key and the result files (``benchmarks/results/<name>.json``) of its
seeds. With one ``dos_table2.py --epochs 290 --seed S --name dos_table2_e290_sS`` file per seed
(both models side by side in each)::

    python benchmarks/dos_seeds.py --name dos_seeds_table2 \\
        --group "CSGNN-DOS, configs/csgnn-dos-frames.yaml" csgnn-dos dos_table2_e290_s{0,1,2} \\
        --group "SOAP + MLP, same schedule" soap-dos dos_table2_e290_s{0,1,2}

(``--group LABEL MODEL FILE [FILE ...]``; MODEL is the key in the file: csgnn-dos, soap-dos or
schnet-dos.) Prints a Markdown table and writes ``benchmarks/results/dos_seeds.json``.

If the first two groups have the same number of files, they are also compared seed by seed
(list the files in the same seed order): wins, the mean paired difference and a paired t-test.

``--ensemble`` also evaluates each group's runs as one deep ensemble (the mean of their
predicted DOS, ``equisym eval RUN1/best.ckpt RUN2/best.ckpt ...``); it needs the run folders
named in the result files. Compare ensembles of equal size only.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import _common  # noqa: F401
from _common import RESULTS, write_result

import numpy as np


def _run_folders(model: str, names: list[str]) -> list[str]:
    return [json.loads((RESULTS / f"{name}.json").read_text())["results"][model]["run"] for name in names]


def ensemble(model: str, names: list[str], out: Path) -> dict:
    """Evaluate the runs of ``names`` as one ensemble (their best checkpoints) into ``out``."""
    from equisym.train.evaluate import evaluate_checkpoint

    checkpoints = [Path(run) / "best.ckpt" for run in _run_folders(model, names)]
    missing = [str(c) for c in checkpoints if not c.exists()]
    if missing:
        raise SystemExit(f"--ensemble needs the run folders of the result files; missing {missing[0]}")
    metrics = evaluate_checkpoint(checkpoints, out, ["eval.rotation_trials=0"])
    return {
        "members": metrics["ensemble/members"],
        "member_table2a": metrics["ensemble/member_band_energy_mae"],
        "table2a": metrics["table2a_band_energy_mae_ev_per_atom"],
        "table2b": metrics["table2b_band_energy_mae_ev_per_atom"],
        "within_chemical_accuracy": metrics["structures_within_chemical_accuracy"],
        "band_energy_spread_mean": metrics["ensemble/band_energy_spread_mean"],
        "spread_error_rank_correlation": metrics["ensemble/spread_error_rank_correlation"],
        "eval_folder": str(out),
    }


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
        "dos_rmse_mean": float(np.mean([r["dos_rmse"] for r in runs])),
        "fermi_level_mae_mean": float(np.mean([r["fermi_level_mae"] for r in runs])),
        "epochs": [r["epochs"] for r in runs],
    }


def paired(first: dict, second: dict) -> dict:
    """Seed-by-seed comparison of two groups' Table 2a (``first − second``, eV/atom)."""
    from scipy.stats import ttest_rel

    a, b = np.array(first["table2a"]), np.array(second["table2a"])
    difference = a - b
    test = ttest_rel(a, b)
    return {
        "difference": difference.tolist(),
        "first_lower": int((difference < 0).sum()),
        "seeds": len(difference),
        "mean_difference": float(difference.mean()),
        "std_difference": float(difference.std(ddof=1)),
        "relative_mean_difference": float(a.mean() / b.mean() - 1),
        "t_statistic": float(test.statistic),
        "p_value_two_sided": float(test.pvalue),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", nargs="+", action="append", required=True, metavar="LABEL MODEL FILE",
                        help="a label, the model key and the result files of its seeds")
    parser.add_argument("--name", default="dos_seeds", help="result file name")
    parser.add_argument("--ensemble", action="store_true", help="also evaluate each group's runs as one ensemble")
    parser.add_argument("--ensemble-out", default="runs/dos-ensembles", help="folder for the ensemble evaluations")
    args = parser.parse_args()
    groups = {}
    for group in args.group:
        if len(group) < 3:
            parser.error("--group needs a label, a model and at least one result file")
        label, model, *names = group
        groups[label] = summarize(model, names)
        if args.ensemble and len(names) > 1:
            groups[label]["ensemble"] = ensemble(model, names, Path(args.ensemble_out) / f"{args.name}-{len(groups)}")
    types = list(next(iter(groups.values()))["table2b_mean"])
    print("| model | seeds | Table 2a, each seed | mean ± sd | " + " | ".join(types) + " | types ≤ 0.043 | DOS RMSE | E_F MAE, eV | epochs |")
    print("|---|---|---|---|" + "---|" * len(types) + "---|---|---|---|")
    for label, g in groups.items():
        sd = "" if g["table2a_std"] is None else f" ± {g['table2a_std']:.4f}"
        print(f"| {label} | {len(g['files'])} | " + ", ".join(f"{v:.4f}" for v in g["table2a"])
              + f" | **{g['table2a_mean']:.4f}**{sd} | " + " | ".join(f"{g['table2b_mean'][t]:.3f}" for t in types)
              + " | " + ", ".join(str(c) for c in g["within_chemical_accuracy"])
              + f" | {g['dos_rmse_mean']:.4f} | {g['fermi_level_mae_mean']:.3f}"
              + " | " + ", ".join(str(e) for e in g["epochs"]) + " |")
    result = {"groups": groups}
    labels = list(groups)
    if len(labels) > 1 and len(groups[labels[0]]["files"]) == len(groups[labels[1]]["files"]) > 1:
        first, second = labels[:2]
        p = result["paired"] = {"first": first, "second": second, **paired(groups[first], groups[second])}
        print(f"\nSeed by seed, {first} minus {second}: lower in {p['first_lower']} of {p['seeds']} seeds; "
              f"mean difference {p['mean_difference']:+.5f} ± {p['std_difference']:.5f} eV/atom "
              f"({100 * p['relative_mean_difference']:+.1f} %), paired t = {p['t_statistic']:.2f}, "
              f"two-sided p = {p['p_value_two_sided']:.2f}")
    ensembles = {label: g["ensemble"] for label, g in groups.items() if "ensemble" in g}
    if ensembles:
        print("\n| ensemble | members | members' Table 2a | ensemble Table 2a | " + " | ".join(types) + " | types ≤ 0.043 | spread |")
        print("|---|---|---|---|" + "---|" * len(types) + "---|---|")
        for label, e in ensembles.items():
            print(f"| {label} | {e['members']} | " + ", ".join(f"{v:.4f}" for v in e["member_table2a"])
                  + f" | **{e['table2a']:.4f}** | " + " | ".join(f"{e['table2b'][t]:.3f}" for t in types)
                  + f" | {e['within_chemical_accuracy']} | {e['band_energy_spread_mean']:.4f} |")
    write_result(args.name, result)


if __name__ == "__main__":
    main()
