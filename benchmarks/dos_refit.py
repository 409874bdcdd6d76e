"""Does a full-batch refit of the output layer remove the band-energy offset of trained DOS runs?

For each trained ``dos`` run (its ``best.ckpt``): the test Table 2a/2b and mean signed
band-energy error of the checkpoint as trained, then the same after
:func:`equisym.train.tasks.dos.refit.refit_output_layer` (the step ``refit.iterations`` adds to
``equisym train``), on the same test structures. Runs trained before that option existed are
refitted here with ``--iterations`` and ``--atoms-per-structure``; the refitted weights are
saved as ``<run>/refit.ckpt`` (``equisym eval <run>/refit.ckpt`` reproduces the figures)::

    OMP_NUM_THREADS=2 python benchmarks/dos_refit.py --name dos_refit_45min_s3 \\
        runs/dos-table2-45-frames-flatten-bw3-ramp-s3/csgnn-dos runs/dos-table2-45-soap-bw3-ramp-s3/soap-dos

Writes ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _common  # noqa: F401
from _common import write_result

import numpy as np

from equisym.train.checkpoint import load_trained
from equisym.train.tasks.dos import DOSDataModule
from equisym.train.tasks.dos.evaluate import predict_split, scores
from equisym.train.tasks.dos.refit import refit_output_layer, save_refit


def test_scores(module, datamodule: DOSDataModule) -> dict:
    """Table 2a/2b, the mean signed band-energy error (eV/atom) and the DOS RMSE on the test
    split, scored as ``equisym eval`` scores them."""
    test = datamodule.load_split("test")
    pred = predict_split(module, datamodule, test, None)
    result = scores(datamodule.energies, datamodule.n_electrons, pred, test.dos, test.groups, test.band_energy)
    return {
        "table2a": result["band_energy_mae"],
        "mean_signed_error": round(float(np.nanmean(result["_band_pred"] - result["_band_true"])), 6),
        "table2b": {g: v["band_energy_mae"] for g, v in result["table2b"].items()},
        "dos_rmse": result["dos_rmse"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders holding best.ckpt")
    parser.add_argument("--name", required=True, help="result file name (benchmarks/results/<name>.json)")
    parser.add_argument("--iterations", type=int, default=100, help="L-BFGS iterations of the refit")
    parser.add_argument("--atoms-per-structure", type=int, default=None,
                        help="atoms per training structure in the refit (default: the run's data.train_atoms_per_structure)")
    args = parser.parse_args()
    results = []
    for run in args.runs:
        run = Path(run)
        overrides = [f"refit.iterations={args.iterations}"]
        if args.atoms_per_structure is not None:
            overrides.append(f"refit.atoms_per_structure={args.atoms_per_structure}")
        _, cfg, module = load_trained(run / "best.ckpt", overrides, task_name="dos")
        datamodule = DOSDataModule(cfg)
        start = time.time()
        before = test_scores(module, datamodule)
        info = refit_output_layer(module, datamodule, cfg.refit)
        after = test_scores(module.eval(), datamodule)
        save_refit(module, run / "best.ckpt")
        row = {"run": str(run), "model": cfg.model["name"], "seed": cfg.seed, "refit": info, "before": before, "after": after,
               "seconds": round(time.time() - start, 1)}
        print(f"{run}: Table 2a {before['table2a']} -> {after['table2a']} eV/atom, "
              f"mean signed {before['mean_signed_error']} -> {after['mean_signed_error']}", flush=True)
        results.append(row)
    write_result(args.name, {"iterations": args.iterations, "atoms_per_structure": args.atoms_per_structure, "runs": results})


if __name__ == "__main__":
    main()
