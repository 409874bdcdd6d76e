"""PET's default recipe on three small real sets, beside metatrain's PET and trivial predictors.

Data sets (``../shared/data``): random methane (800/100/100 files), Li3PS4 (``lps``: 100
periodic cells with forces, split 80/10/10 by seed 0) and QM9 (``qm9``: 100 molecules, ``U0``
in Hartree, energies only, split 80/10/10). Our PET uses ``configs/pet-default.yaml``
(``configs/pet-methane.yaml`` on methane) with only the data keys, units and species changed;
metatrain's PET has the same size (d 64, 4 heads, FF 128, 2 GNN x 2 attention layers, same
cutoff) and is trained for the same number of epochs with the same batch size. Both read
the same split files. Trivial predictors on the test set: the training-mean energy, the
composition baseline (least squares on the training set) and zero forces.

    OMP_NUM_THREADS=1 python benchmarks/pet_datasets.py --datasets methane lps qm9 --runs runs/pet-datasets
    OMP_NUM_THREADS=1 python benchmarks/pet_datasets.py --datasets lps --models mtt --epochs lps=10   # one part

Each run goes to ``RUNS/<set>-<pet|mtt>-e<epochs>/`` (``...-s<seed>`` for seeds other than 0,
``--seeds 0 1``) and is reused when it has finished
(``metrics.json`` / ``model.pt``); the time each took is read from the run. The summary goes to
``benchmarks/results/pet_datasets.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _common import require_same_overrides, write_json, write_result  # noqa: E402

DATA = Path(os.environ.get("EQUISYM_SHARED_DATA", REPO.parent / "shared" / "data"))

SETS = {
    "methane": dict(config="pet-methane.yaml", files=None, energy_key="energy", forces=True, unit="eV",
                    species=["H", "C"], cutoff=5.0, width=0.2, batch=16, epochs=40),
    "lps": dict(config="pet-default.yaml", files="lps/lps_reduced_100.xyz", energy_key="energy", forces=True, unit="eV",
                species=["Li", "P", "S"], cutoff=4.5, width=0.5, batch=4, epochs=60),
    "qm9": dict(config="pet-default.yaml", files="qm9/qm9_reduced_100.xyz", energy_key="U0", forces=False, unit="Hartree",
                species=["H", "C", "N", "O"], cutoff=5.0, width=0.5, batch=4, epochs=150),
}
HARTREE = 27.211386245988


def split_files(name: str, runs: Path) -> dict[str, Path]:
    """Train/val/test files of a set (the shared methane files; 80/10/10 by seed 0 otherwise)."""
    spec = SETS[name]
    if spec["files"] is None:
        return {k: DATA / "methane" / f"methane_{k}.xyz" for k in ("train", "val", "test")}
    import ase.io

    out = {k: runs / "splits" / f"{name}_{k}.xyz" for k in ("train", "val", "test")}
    if not all(p.exists() for p in out.values()):
        frames = ase.io.read(DATA / spec["files"], ":")
        order = np.random.default_rng(0).permutation(len(frames))
        parts = {"test": order[:10], "val": order[10:20], "train": order[20:]}
        out["train"].parent.mkdir(parents=True, exist_ok=True)
        for k, idx in parts.items():
            ase.io.write(out[k], [frames[i] for i in idx], format="extxyz")
    return out


def _labels(path: Path, spec: dict):
    import ase.io

    frames = ase.io.read(path, ":")
    scale = HARTREE if spec["unit"] == "Hartree" else 1.0
    e = np.array([float(a.info[spec["energy_key"]]) if spec["energy_key"] in a.info else a.get_potential_energy() for a in frames]) * scale
    f = np.concatenate([a.get_forces() for a in frames]) if spec["forces"] else None
    return frames, e, f


def trivial(name: str, files: dict) -> dict:
    """Test MAE of the training-mean energy, the composition baseline and zero forces."""
    spec = SETS[name]
    train, e_tr, _ = _labels(files["train"], spec)
    test, e_te, f_te = _labels(files["test"], spec)
    from equisym.data.atoms import composition, fit_baseline

    species = sorted({int(z) for a in train for z in a.numbers})
    baseline = fit_baseline(train, species, energies=e_tr)
    res = {
        "mean_energy_mae_meV": round(float(np.abs(e_te - e_tr.mean()).mean()) * 1000, 1),
        "composition_energy_mae_meV": round(float(np.abs(e_te - composition(test, species) @ baseline).mean()) * 1000, 1),
    }
    if f_te is not None:
        res["zero_forces_mae_meV_per_A"] = round(float(np.abs(f_te).mean()) * 1000, 1)
    return res


PET_OVERRIDES: list[str] = []


def run_pet(name: str, files: dict, out: Path, epochs: int, seed: int = 0) -> None:
    spec = SETS[name]
    cmd = ["equisym", "train", str(REPO / "configs" / spec["config"]), "--out", str(out),
           "-o", f"data.train={files['train']}", "-o", f"data.val={files['val']}", "-o", f"data.test={files['test']}",
           "-o", f"trainer.max_epochs={epochs}", "-o", "trainer.max_time=null", "-o", f"seed={seed}"]
    if spec["config"] == "pet-default.yaml":
        cmd += ["-o", f"data.energy_key={spec['energy_key']}", "-o", f"data.energy_unit={spec['unit']}",
                "-o", f"model.species=[{','.join(spec['species'])}]", "-o", f"model.cutoff={spec['cutoff']}"]
        if not spec["forces"]:
            cmd += ["-o", "data.forces_key=null"]
    for o in PET_OVERRIDES:
        cmd += ["-o", o]
    write_json(out / "benchmark_overrides.json", {"overrides": PET_OVERRIDES})
    subprocess.run(cmd, check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))


def _check_reused_overrides(out: Path) -> None:
    """Stop (one line) when a finished PET run was trained with other ``-o`` overrides than now:
    the table would otherwise mix variants (runs from before the overrides were recorded count as
    none)."""
    marker = out / "benchmark_overrides.json"
    stored = json.loads(marker.read_text())["overrides"] if marker.exists() else []
    require_same_overrides(out, stored, PET_OVERRIDES, "give a fresh --runs folder for each variant")


def run_mtt(name: str, files: dict, out: Path, epochs: int, seed: int = 0) -> None:
    import yaml

    spec = SETS[name]
    target = {"key": spec["energy_key"], "unit": spec["unit"].replace("Hartree", "hartree")}
    if spec["forces"]:
        target["forces"] = {"key": "forces"}

    def ds(k):
        return {"systems": {"read_from": str(files[k]), "length_unit": "angstrom"}, "targets": {"energy": target}}

    from methane_benchmark import MTT_MODEL  # the size of our `small` PET

    model = {**MTT_MODEL, "cutoff": spec["cutoff"], "cutoff_width": spec["width"]}
    opts = {"seed": seed, "architecture": {"name": "pet", "model": model, "training": {
        "batch_size": spec["batch"], "num_epochs": epochs, "learning_rate": 1e-3, "log_interval": 1, "checkpoint_interval": 100000}},
        "training_set": ds("train"), "validation_set": ds("val"), "test_set": ds("test")}
    out.mkdir(parents=True, exist_ok=True)
    (out / "options.yaml").write_text(yaml.safe_dump(opts))
    t0 = time.time()
    proc = subprocess.run(["mtt", "train", "options.yaml"], cwd=out, capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    (out / "mtt.log").write_text(proc.stdout + proc.stderr + f"\nwall {time.time() - t0:.1f} s\n")
    if proc.returncode != 0:
        raise RuntimeError(f"mtt train failed in {out}")


def score_mtt(name: str, files: dict, out: Path) -> dict:
    from metatomic.torch.ase_calculator import MetatomicCalculator

    spec = SETS[name]
    frames, e_ref, f_ref = _labels(files["test"], spec)
    calc = MetatomicCalculator(str(out / "model.pt"), device="cpu")
    e, f = [], []
    for a in frames:
        a.calc = calc
        e.append(a.get_potential_energy())
        if spec["forces"]:
            f.append(a.get_forces())
    res = {"energy_mae": round(float(np.abs(np.array(e) - e_ref).mean()) * 1000, 2)}
    if spec["forces"]:
        res["forces_mae"] = round(float(np.abs(np.concatenate(f) - f_ref).mean()) * 1000, 2)
    m = re.findall(r"wall ([\d.]+) s", (out / "mtt.log").read_text())
    res["wall_s"] = float(m[-1]) if m else None
    return res


def score_pet(out: Path) -> dict:
    m = json.loads((out / "metrics.json").read_text())
    res = {"energy_mae": m["bare"]["energy_mae"], "wall_s": m["training"]["wall_time_s"],
           "optimizer_steps": m["training"]["optimizer_steps"]}
    if "forces_mae" in m["bare"]:
        res["forces_mae"] = m["bare"]["forces_mae"]
    return res


def _mean_over_seeds(runs: list[dict]) -> dict:
    """Per-key mean of the seeds' scores; a key missing from any seed is left out."""
    keys = [k for k in runs[0] if all(r.get(k) is not None for r in runs)]
    return {k: round(float(np.mean([r[k] for r in runs])), 2) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "pet-datasets")
    parser.add_argument("--models", nargs="+", default=["pet", "mtt"], choices=["pet", "mtt"])
    parser.add_argument("--epochs", nargs="+", default=[], metavar="SET=N", help="epochs of a set, e.g. lps=10")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0],
                        help="training seeds of both models (the split is always seed 0's); the table holds each seed and the mean")
    parser.add_argument("-o", "--pet-override", action="append", default=[], metavar="KEY=VALUE",
                        help="config override of our PET (repeatable), e.g. -o optim.warmup_epochs=0.5 for a short run; "
                        "give each variant its own --runs folder (a finished run with other overrides stops the benchmark)")
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    PET_OVERRIDES.extend(args.pet_override)
    for item in args.epochs:
        key, value = item.split("=")
        SETS[key]["epochs"] = int(value)
    table = {}
    for name in args.datasets:
        spec, files = SETS[name], split_files(name, args.runs)
        row = {"epochs": spec["epochs"], "batch_size": spec["batch"], "trivial": trivial(name, files)}
        for model in args.models:
            key = "equisym_pet" if model == "pet" else "metatrain_pet"
            per_seed = {}
            for seed in args.seeds:
                out = args.runs / (f"{name}-{model}-e{spec['epochs']}" + (f"-s{seed}" if seed else ""))
                done = (out / "metrics.json").exists() if model == "pet" else (out / "model.pt").exists()
                if done and model == "pet":
                    _check_reused_overrides(out)
                if not done and not args.summary_only:
                    (run_pet if model == "pet" else run_mtt)(name, files, out, spec["epochs"], seed)
                    done = True
                if done:
                    per_seed[seed] = score_pet(out) if model == "pet" else score_mtt(name, files, out)
            if per_seed:
                row[key] = _mean_over_seeds(list(per_seed.values()))
                row[key]["per_seed"] = {str(k): v for k, v in per_seed.items()}
        ours = row.get("equisym_pet", {})
        if "forces_mae" in ours and "zero_forces_mae_meV_per_A" in row["trivial"]:
            row["pet_vs_zero_forces"] = round(row["trivial"]["zero_forces_mae_meV_per_A"] / ours["forces_mae"], 2)
        if "metatrain_pet" in row and "forces_mae" in ours and "forces_mae" in row["metatrain_pet"]:
            row["force_mae_ratio_pet_over_metatrain"] = round(ours["forces_mae"] / row["metatrain_pet"]["forces_mae"], 3)
        table[name] = row
        print(name, json.dumps(row))
    write_result("pet_datasets", {
        "description": "Test MAE (energy: meV per structure; forces: meV/Å per component) of equisym's PET (default recipe) and "
        "metatrain's PET of the same size after the same number of epochs and batch size, with trivial predictors; "
        "each model's figures are the mean over the seeds that finished (per_seed: each one); "
        "wall_s = training time on one thread of a shared, loaded 2-core machine.",
        "table": table,
    })


if __name__ == "__main__":
    main()
