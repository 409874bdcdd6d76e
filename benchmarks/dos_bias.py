"""Where does a DOS model's band-energy bias come from? Signed errors of trained runs, taken apart.

For each trained ``dos`` run (its ``best.ckpt``) and each split, the mean signed band-energy
error (prediction − truth, eV/atom) and the MAE:

- ``all``: the prediction as reported (with local frames: the weighted average over every
  frame of every atom, the exact ECSE average);
- ``sample``: one frame drawn per atom with probability = its weight, as in training
  (local frames only; the band energy is convex in the DOS, so averaging over frames lowers it);
- ``top``: each atom in its heaviest frame, as in validation (local frames only);
- ``subsets``: band energies of random 16-atom subsets of each structure (8 draws), the
  quantity the training loss sees, with the "subset gap" (mean over subsets − whole
  structure) for prediction and truth;
- ``by_energy_window`` (test split): the first-order split of each structure's band-energy
  error, ``∫^{E_F} (E − E_F)·(DOS_pred − DOS_true) dE`` at the true Fermi level, over windows
  of ``E − E_F`` (eV), with the mean signed and mean absolute part of each window and the
  ``residual`` the first order misses;
- ``calibrated_test_mae``: the test MAE after subtracting the validation split's mean signed
  error (a diagnostic of how much of the error is the shared bias; not a reported score).

Each split contributes ``--max-structures`` structures spread over it (default 160: the
whole test split, as reported)::

    OMP_NUM_THREADS=1 python benchmarks/dos_bias.py --name dos_bias_45min_ramp_s3 \\
        runs/dos-table2-45-frames-flatten-bw1-ramp-s3/csgnn-dos runs/dos-table2-45-soap-bw1-ramp-s3/soap-dos

Writes ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import _common  # noqa: F401
from _common import write_result

import numpy as np
import torch

from equisym.train.checkpoint import load_trained
from equisym.physics import band_energy
from equisym.train.tasks.dos import DOSDataModule
from equisym.train.tasks.dos.evaluate import predict_atom_contributions

SUBSET_ATOMS, SUBSET_DRAWS = 16, 8
WINDOWS = (-np.inf, -20.0, -15.0, -10.0, -5.0, -2.0, 0.0)  # edges of E − E_F, eV


def energy_windows(energies: np.ndarray, fermi: np.ndarray, pred: np.ndarray, true: np.ndarray, exact: np.ndarray) -> dict:
    """First-order band-energy error per window of ``E − E_F`` (rectangle rule on the grid).

    energies ``(G,)`` eV; fermi ``(S,)`` eV (true); pred/true ``(S, G)`` states/eV/atom; exact
    ``(S,)`` the exact band-energy errors, eV/atom. Returns ``{window: {mean_signed, mae}}``
    plus ``residual`` (exact − the sum of the windows)."""
    step = float(energies[1] - energies[0])
    relative = energies[None, :] - fermi[:, None]  # (S, G)
    weighted = np.where(relative <= 0, relative, 0.0) * (pred - true) * step  # (S, G) eV/atom
    out, total = {}, np.zeros(len(fermi))
    for low, high in zip(WINDOWS[:-1], WINDOWS[1:]):
        part = (weighted * ((relative > low) & (relative <= high))).sum(1)
        total += part
        out[f"{low:g} to {high:g}"] = _signed(part)
    out["residual"] = _signed(exact - total)
    return out


def _signed(errors: np.ndarray) -> dict:
    return {"mean_signed": round(float(np.nanmean(errors)), 5), "mae": round(float(np.nanmean(np.abs(errors))), 5)}


def analyse(run: Path, max_structures: int, splits: list[str]) -> dict:
    _, cfg, module = load_trained(str(run / "best.ckpt"), task_name="dos")
    module.eval()
    cfg.data.max_train = cfg.data.max_eval = max_structures
    datamodule = DOSDataModule(cfg)
    band = lambda dos: band_energy(  # noqa: E731  (the grid is known once a split is loaded)
        datamodule.energies, np.asarray(dos, dtype=np.float64), datamodule.n_electrons
    ).band_energy
    modes = ["all", "sample", "top"] if datamodule.local_frames else ["all"]
    result: dict = {"run": str(run), "splits": {}}
    errors_all = {}
    for name in splits:
        split = datamodule.load_split(name)
        true_dos = np.stack([np.asarray(a, dtype=np.float64).mean(0) for a in split.atom_dos])
        true_fermi, true, _ = band_energy(datamodule.energies, true_dos, datamodule.n_electrons)
        entry: dict = {"structures": len(split.atoms)}
        for mode in modes:
            contributions = predict_atom_contributions([module.model], datamodule, split, frame_mode=mode, seed=1)
            predicted_dos = np.stack([c.mean(0) for c in contributions])
            predicted = band(predicted_dos)
            errors = predicted - true
            entry[mode] = _signed(errors)
            if mode == "all":
                errors_all[name] = errors
                rng = np.random.default_rng(0)
                sub_pred, sub_true = [], []
                for c, t in zip(contributions, split.atom_dos):
                    t = np.asarray(t, dtype=np.float64)
                    for _ in range(SUBSET_DRAWS):
                        pick = rng.choice(len(c), min(SUBSET_ATOMS, len(c)), replace=False)
                        sub_pred.append(c[pick].mean(0))
                        sub_true.append(t[pick].mean(0))
                bp, bt = band(sub_pred), band(sub_true)
                entry["subsets"] = {
                    **_signed(bp - bt),
                    "gap_pred": round(float(np.nanmean(bp.reshape(-1, SUBSET_DRAWS).mean(1) - predicted)), 5),
                    "gap_true": round(float(np.nanmean(bt.reshape(-1, SUBSET_DRAWS).mean(1) - true)), 5),
                }
                if name == "test":
                    entry["by_energy_window"] = energy_windows(
                        np.asarray(datamodule.energies, dtype=np.float64), true_fermi, predicted_dos, true_dos, errors
                    )
                    groups = np.asarray(split.groups)
                    entry["mean_signed_by_type"] = {g: round(float(np.nanmean(errors[groups == g])), 5) for g in sorted(set(groups))}
        result["splits"][name] = entry
        print(run, name, entry, flush=True)
    if "val" in errors_all and "test" in errors_all:
        bias = float(np.nanmean(errors_all["val"]))
        result["calibrated_test_mae"] = round(float(np.nanmean(np.abs(errors_all["test"] - bias))), 5)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders of the dos task (with best.ckpt)")
    parser.add_argument("--name", default="dos_bias", help="result file name")
    parser.add_argument("--max-structures", type=int, default=160, help="structures per split, spread over it")
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"], choices=["train", "val", "test"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    write_result(args.name, {"runs": [analyse(run, args.max_structures, args.splits) for run in args.runs]})


if __name__ == "__main__":
    main()
