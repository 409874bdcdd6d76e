"""Stress training and fine-tuning of PET on EMT-labelled periodic alloys (generated here).

1. Stress: 200 (``--n-pretrain``) strained and rattled 8-atom fcc cells of random Cu/Ni/Pd alloys, labelled by
   ASE's EMT (energy, forces, stress), split 80/10/10 %; PET (``configs/pet-default.yaml``,
   cutoff 4 Å) trained with ``loss.stress_weight: 1``. Reported: test stress MAE against the
   spread (standard deviation) of the test stress components (target: below 10 %).
2. Fine-tuning: a small second set of 40 Cu/Ag/Au cells (Ag and Au are new species), split
   24/8/8; the model of step 1 fine-tuned (``model.init_from``, full) against the same PET trained
   from scratch, same epochs; both validation curves and the test errors.

    OMP_NUM_THREADS=1 python benchmarks/pet_emt.py --runs runs/pet-emt --epochs 80 --finetune-epochs 40

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
    parser.add_argument("--finetune-epochs", type=int, default=40)
    parser.add_argument("--n-pretrain", type=int, default=200, help="structures of the stress / pretraining set (10 %% val, 10 %% test)")
    args = parser.parse_args()
    n10 = max(1, args.n_pretrain // 10)
    pre = write_split(emt_cells(args.n_pretrain, ["Cu", "Ni", "Pd"], 0), args.runs / "data", "cunipd", n10, n10)
    small = write_split(emt_cells(40, ["Cu", "Ag", "Au"], 1), args.runs / "data", "cuagau", 8, 8)
    import ase.io

    test_stress = np.stack([a.get_stress(voigt=False) for a in ase.io.read(pre["test"], ":")])
    m = train(pre, args.runs / "stress", args.epochs, ["Cu", "Ni", "Pd"], ["-o", "loss.stress_weight=1.0"])
    spread = float(test_stress.std())
    result = {"stress": {
        "epochs": args.epochs, "test": m["bare"], "wall_s": m["training"]["wall_time_s"],
        "test_stress_std_eV_per_A3": round(spread, 6),
        "stress_mae_over_std": round(m["bare"]["stress_mae_eV_per_A3"] / spread, 4),
    }}
    ft, scratch = {}, {}
    common = ["-o", "loss.stress_weight=1.0"]
    ft = train(small, args.runs / "finetune", args.finetune_epochs, ["Cu", "Ag", "Au"],
               common + ["-o", f"model.init_from={args.runs / 'stress' / 'best.ckpt'}", "-o", "model.finetune=full"])
    scratch = train(small, args.runs / "scratch", args.finetune_epochs, ["Cu", "Ag", "Au"], common)
    result["finetune"] = {
        "epochs": args.finetune_epochs,
        "finetuned": {"test": ft["bare"], "wall_s": ft["training"]["wall_time_s"], "curve": curve(args.runs / "finetune")},
        "from_scratch": {"test": scratch["bare"], "wall_s": scratch["training"]["wall_time_s"], "curve": curve(args.runs / "scratch")},
    }
    for k in ("stress", "finetune"):
        print(k, json.dumps(result[k])[:600])
    write_result("pet_emt", {
        "description": "EMT-labelled fcc alloy cells (8 atoms): PET trained with stress (test stress MAE vs the spread of "
        "the test stress), then fine-tuned on a small Cu/Ag/Au set with two new species vs trained from scratch, equal epochs; "
        "errors: energy meV per structure, forces meV/Å, stress eV/Å³ and GPa; wall_s on one thread of a loaded 2-core machine.",
        **result,
    })


if __name__ == "__main__":
    main()
