"""Stress training and fine-tuning of PET on EMT-labelled periodic alloys (generated here).

1. Stress: 200 (``--n-pretrain``) strained and rattled 8-atom fcc cells of random Cu/Ni/Pd alloys, labelled by
   ASE's EMT (energy, forces, stress), split 80/10/10 %; PET (``configs/pet-default.yaml``,
   cutoff 4 Å) trained with ``loss.stress_weight: 1``. Reported: test stress MAE against the
   spread (standard deviation) of the test stress components (target: below 10 %).
2. Fine-tuning: a small second set of Cu/Ag/Au cells (Ag and Au are new species): 24 training
   cells (``--small-train``), 8 validation cells and 40 test cells (``--small-test``); the model of
   step 1 fine-tuned (``model.init_from``, full) against the same PET trained from scratch, same
   epochs, for each of ``--seeds``; both validation curves, the test errors and the error of the
   composition baseline (a least-squares fit of energy on composition over the training cells).
   The default 500 epochs are 3 000 optimizer steps (batch 4), the recipe's budget.

    OMP_NUM_THREADS=1 python benchmarks/pet_emt.py --runs runs/pet-emt --epochs 80 --finetune-epochs 500 --seeds 0 1

The summary goes to ``benchmarks/results/pet_emt.json``; runs are reused when finished.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _common import write_result  # noqa: E402


def emt_cells(n: int, symbols: list[str], seed: int) -> list:
    """``n`` strained (±4 %) and rattled (0.1 Å) 8-atom fcc alloy cells labelled by EMT."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        a = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 1, 1))
        a.set_chemical_symbols(list(rng.choice(symbols, size=len(a))))
        a.set_cell(a.cell.array @ (np.eye(3) + rng.uniform(-0.04, 0.04, size=(3, 3))), scale_atoms=True)
        a.rattle(0.1, seed=int(rng.integers(1 << 30)))
        a.calc = EMT()
        a.get_potential_energy(), a.get_forces(), a.get_stress()
        frames.append(a)
    return frames


def write_split(frames: list, folder: Path, name: str, n_val: int, n_test: int) -> dict:
    import ase.io

    folder.mkdir(parents=True, exist_ok=True)
    parts = {"test": frames[:n_test], "val": frames[n_test : n_test + n_val], "train": frames[n_test + n_val :]}
    out = {}
    for k, v in parts.items():
        out[k] = folder / f"{name}_{k}.xyz"
        if not out[k].exists():
            ase.io.write(out[k], v, format="extxyz")
    return out


def composition_baseline_mae(files: dict) -> float:
    """Test energy MAE (meV per structure) of the composition baseline fitted on the training cells."""
    import ase.io

    from equisym.data.atoms import composition, fit_baseline

    train_set, test_set = ase.io.read(files["train"], ":"), ase.io.read(files["test"], ":")
    species = sorted({int(z) for a in train_set for z in a.numbers})
    baseline = fit_baseline(train_set, species, energies=np.array([a.get_potential_energy() for a in train_set]))
    errors = composition(test_set, species) @ baseline - np.array([a.get_potential_energy() for a in test_set])
    return round(1e3 * float(np.abs(errors).mean()), 1)


def train(files: dict, out: Path, epochs: int, species: list[str], extra: list[str]) -> dict:
    if not (out / "metrics.json").exists():
        cmd = ["equisym", "train", str(REPO / "configs" / "pet-default.yaml"), "--out", str(out),
               "-o", f"data.train={files['train']}", "-o", f"data.val={files['val']}", "-o", f"data.test={files['test']}",
               "-o", "data.stress_key=stress", "-o", f"model.species=[{','.join(species)}]", "-o", "model.cutoff=4.0",
               "-o", f"trainer.max_epochs={epochs}", "-o", "trainer.max_time=null", *extra]
        subprocess.run(cmd, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return json.loads((out / "metrics.json").read_text())


def curve(out: Path) -> list[dict]:
    rows = []
    with open(out / "metrics.csv") as handle:
        for r in csv.DictReader(handle):
            if r.get("val/forces_mae"):
                rows.append({"epoch": int(r["epoch"]), "val_forces_mae": round(float(r["val/forces_mae"]), 2),
                             "val_energy_mae": round(float(r["val/energy_mae"]), 2)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "pet-emt")
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--finetune-epochs", type=int, default=500)
    parser.add_argument("--small-train", type=int, default=24, help="training cells of the fine-tuning set")
    parser.add_argument("--small-test", type=int, default=40, help="test cells of the fine-tuning set")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the fine-tuning comparison")
    parser.add_argument("--n-pretrain", type=int, default=200, help="structures of the stress / pretraining set (10 %% val, 10 %% test)")
    args = parser.parse_args()
    n10 = max(1, args.n_pretrain // 10)
    pre = write_split(emt_cells(args.n_pretrain, ["Cu", "Ni", "Pd"], 0), args.runs / "data", "cunipd", n10, n10)
    n_small = args.small_train + 8 + args.small_test
    small = write_split(emt_cells(n_small, ["Cu", "Ag", "Au"], 1), args.runs / f"data-small{args.small_train}-{args.small_test}",
                        "cuagau", 8, args.small_test)
    import ase.io

    test_stress = np.stack([a.get_stress(voigt=False) for a in ase.io.read(pre["test"], ":")])
    m = train(pre, args.runs / "stress", args.epochs, ["Cu", "Ni", "Pd"], ["-o", "loss.stress_weight=1.0"])
    spread = float(test_stress.std())
    result = {"stress": {
        "epochs": args.epochs, "test": m["bare"], "wall_s": m["training"]["wall_time_s"],
        "test_stress_std_eV_per_A3": round(spread, 6),
        "stress_mae_over_std": round(m["bare"]["stress_mae_eV_per_A3"] / spread, 4),
    }}
    common = ["-o", "loss.stress_weight=1.0"]
    tag = f"e{args.finetune_epochs}-n{args.small_train}-{args.small_test}"
    runs, summary = [], {}
    for seed in args.seeds:
        for name, extra in (("finetuned", ["-o", f"model.init_from={args.runs / 'stress' / 'best.ckpt'}", "-o", "model.finetune=full"]),
                            ("from_scratch", [])):
            out = args.runs / f"{name}-{tag}-s{seed}"
            m = train(small, out, args.finetune_epochs, ["Cu", "Ag", "Au"], common + extra + ["-o", f"seed={seed}"])
            runs.append({"model": name, "seed": seed, "test": m["bare"], "wall_s": m["training"]["wall_time_s"], "curve": curve(out)})
    for name in ("finetuned", "from_scratch"):
        sel = [r["test"] for r in runs if r["model"] == name]
        summary[name] = {key: round(float(np.mean([t[key] for t in sel])), 4)
                         for key in ("energy_mae", "forces_mae", "stress_mae_eV_per_A3", "stress_mae_GPa")}
    result["finetune"] = {
        "epochs": args.finetune_epochs, "optimizer_steps": args.finetune_epochs * -(-args.small_train // 4),
        "cells": {"train": args.small_train, "val": 8, "test": args.small_test}, "seeds": args.seeds,
        "composition_baseline_energy_mae": composition_baseline_mae(small),
        "mean_over_seeds": summary, "runs": runs,
    }
    for k in ("stress", "finetune"):
        print(k, json.dumps(result[k])[:900])
    write_result("pet_emt", {
        "description": "EMT-labelled fcc alloy cells (8 atoms): PET trained with stress (test stress MAE vs the spread of "
        "the test stress), then fine-tuned on a small Cu/Ag/Au set with two new species vs trained from scratch, equal epochs (mean over seeds); "
        "errors: energy meV per structure, forces meV/Å, stress eV/Å³ and GPa; wall_s on one thread of a 2-core machine.",
        **result,
    })


if __name__ == "__main__":
    main()
