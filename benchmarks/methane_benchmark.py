"""Methane benchmark: PET, PET + ECSE, PET + N-rotation averaging, metatrain's PET, SchNet.

Same split (800 train / 100 val / 100 test, ``../shared/data/methane``), the same number of
training epochs for every model (``--epochs``; our PET with the batch of ``configs/pet-methane.yaml``,
4 since that recipe changed, so 200 optimizer steps per epoch; metatrain's PET and SchNet with batch 16;
one thread each, run one after another), several seeds; the time each took is reported beside. Reported on the test set: energy MAE (meV, total energy of the
5-atom molecule) and force MAE (meV/Å, per component), plus the ECSE cost (frames per
structure, time relative to one PET evaluation of the same structure, energy + forces).

    OMP_NUM_THREADS=1 python benchmarks/methane_benchmark.py --models pet schnet metatrain --seeds 0 1 --epochs 200

Each (model, seed) runs in its own subprocess (metatensor and torch-geometric must not share
a process) and writes ``runs/methane-bench/<model>-s<seed>-e<epochs>/result.json``; existing results
are reused unless ``--force``. The summary goes to ``benchmarks/results/methane.json``.
``--rescore`` re-evaluates existing PET runs (ECSE, averaging, cost) with the current code.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _common import provenance, write_json, write_result  # noqa: E402

DATA = Path(os.environ.get("EQUISYM_SHARED_DATA", REPO.parent / "shared" / "data")) / "methane"
RUNS = Path(os.environ.get("EQUISYM_BENCH_RUNS", REPO / "runs" / "methane-bench"))
CUTOFF = 5.0


#: batch of the peers (metatrain's PET, SchNet); our PET keeps its config's (the recipe's)
PEER_BATCH_SIZE = 16


def _data_section() -> dict:
    return {
        "train": str(DATA / "methane_train.xyz"),
        "val": str(DATA / "methane_val.xyz"),
        "test": str(DATA / "methane_test.xyz"),
        "eval_batch_size": 50,
    }


def pet_batch_size(pet_overrides: list[str]) -> int:
    """The batch our PET trains with: ``configs/pet-methane.yaml``'s after the ``-o`` overrides."""
    import yaml

    from equisym.config import apply_overrides

    config = yaml.safe_load((REPO / "configs" / "pet-methane.yaml").read_text())
    return int(apply_overrides(config, pet_overrides)["data"]["batch_size"])


def stored_batch_size(result: dict) -> int:
    """The batch a stored run trained with. Runs from before it was recorded trained with 16
    (this benchmark then set every model's batch to 16) unless an override said otherwise."""
    if "batch_size" in result:
        return int(result["batch_size"])
    for item in result.get("overrides", []):
        if item.startswith("data.batch_size="):
            return int(item.split("=", 1)[1])
    return PEER_BATCH_SIZE


def pet_run_mismatch(result: dict, pet_overrides: list[str], batch_size: int) -> str | None:
    """Why a stored PET run is not a run of the current variant (other ``-o`` overrides, or
    another batch than ``batch_size``), or None: one check for reusing a run and for summarising it."""
    if result.get("overrides", []) != list(pet_overrides):
        return f"trained with overrides {result.get('overrides', [])}, not {list(pet_overrides)}"
    if stored_batch_size(result) != batch_size:
        return f"trained with batch {stored_batch_size(result)}, not the {batch_size} of configs/pet-methane.yaml"
    return None


# ---------------------------------------------------------------------------------- our models
def run_equisym(model: str, seed: int, epochs: int, out: Path, pet_overrides: list[str] | None = None) -> dict:
    import yaml

    from equisym.config import apply_overrides
    from equisym.train.runner import train

    config = yaml.safe_load((REPO / "configs" / "pet-methane.yaml").read_text())
    config["seed"] = seed
    config["data"].update(_data_section())
    config["trainer"].update({"max_epochs": epochs, "max_time": None, "progress_bar": False})
    if model == "pet":
        config["eval"]["modes"] = ["bare", "ecse", "average"]
        config = apply_overrides(config, pet_overrides or [])
    elif model == "schnet":
        config["data"]["batch_size"] = PEER_BATCH_SIZE
        config["model"] = {"name": "schnet", "preset": "default", "species": [1, 6], "cutoff": CUTOFF}
        config["augment"] = False  # exactly invariant already
        config["eval"]["modes"] = ["bare"]
    run_dir = out / "run"
    if run_dir.exists():  # an interrupted earlier attempt
        import shutil

        shutil.rmtree(run_dir)
    t0 = time.time()
    metrics = train(config, run_dir)
    result = {"model": model, "seed": seed, "epochs": epochs, "wall_s": round(time.time() - t0, 1), "training": metrics["training"]}
    if model == "pet":
        result["overrides"] = list(pet_overrides or [])
    result["batch_size"] = config["data"]["batch_size"]
    _store_scores(result, metrics)
    if model == "pet":
        result["cost"] = ecse_cost(run_dir / "best.ckpt")
    return result


def _store_scores(result: dict, metrics: dict) -> None:
    """Copy the test scores of each evaluation mode (bare, ECSE, averaging) into ``result``."""
    for mode in ("bare", "ecse", "average"):
        if mode in metrics:
            result[mode] = metrics[mode]


def ecse_cost(ckpt: Path, n: int = 20) -> dict:
    """Per-structure cost (energy + forces, float64, one structure per call) of ECSE (SO(3) and
    O(3)) and 16-rotation averaging, relative to one bare PET evaluation; O(3) ECSE errors."""
    import torch

    from equisym.data.atoms import AtomsDataset, read_structures
    from equisym.nn import RotationAveraged, Symmetrized, compute_forces
    from equisym.train.tasks.potential import load_potential, score

    model = load_potential(ckpt, torch.float64)
    structures = read_structures(DATA / "methane_test.xyz")
    ds = AtomsDataset(structures, CUTOFF, torch.float64, "test")
    graphs = [ds[k]["graph"] for k in range(n)]
    wrappers = {
        "bare": model,
        "ecse_so3": Symmetrized(model),
        "ecse_o3": Symmetrized(model, improper=True),
        "average16": RotationAveraged(model, n_rotations=16, seed=2024),
    }
    res: dict = {}
    for name, w in wrappers.items():
        compute_forces(w, graphs[0])  # warm-up
        frames, unpruned = [], []
        times = []
        for g in graphs:
            for _ in range(3):
                t = time.perf_counter()
                out = compute_forces(w, g)
                times.append(time.perf_counter() - t)
            if "num_frames" in out:
                frames.append(int(out["num_frames"].sum()))
                unpruned.append(int(w.last_num_frames_unpruned.sum()))
        times.sort()
        res[name] = {"median_seconds_per_structure": times[len(times) // 2]}
        if frames:
            res[name]["frames_per_structure"] = sum(frames) / len(frames)
            res[name]["frames_max"] = max(frames)
            res[name]["frames_unpruned_per_structure"] = sum(unpruned) / len(unpruned)
    for name in res:
        res[name]["time_relative_to_bare"] = round(res[name]["median_seconds_per_structure"] / res["bare"]["median_seconds_per_structure"], 2)
    o3 = score(wrappers["ecse_o3"], ds, batch_size=10)
    o3.pop("_pred")
    res["ecse_o3_test_errors"] = o3
    res["structures_timed"] = n
    return res


# ---------------------------------------------------------------------------------- metatrain
MTT_MODEL = {
    # sized like our `small` PET preset (d 64, 4 heads, FF 128, 2 attention layers x 2 GNN layers):
    # 263 k parameters against our 264 k (metatrain's default d_node = 2 d_pet would make it 730 k)
    "cutoff": CUTOFF,
    "cutoff_width": 0.2,
    "d_pet": 64,
    "d_head": 64,
    "d_node": 64,
    "d_feedforward": 128,
    "num_heads": 4,
    "num_attention_layers": 2,
    "num_gnn_layers": 2,
}


def _mtt_options(seed: int, epochs: int) -> dict:
    def ds(name):
        return {
            "systems": {"read_from": str(DATA / f"methane_{name}.xyz"), "length_unit": "angstrom"},
            "targets": {"energy": {"key": "energy", "unit": "eV", "forces": {"key": "forces"}}},
        }

    return {
        "seed": seed,
        "architecture": {
            "name": "pet",
            "model": MTT_MODEL,
            "training": {"batch_size": PEER_BATCH_SIZE, "num_epochs": epochs, "learning_rate": 1e-3, "log_interval": 1, "checkpoint_interval": 100000},
        },
        "training_set": ds("train"),
        "validation_set": ds("val"),
        "test_set": ds("test"),
    }


def _epoch_times(log: str) -> list[float]:
    stamps = []
    for line in log.splitlines():
        m = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\]\[INFO\] - Epoch:\s+(\d+)", line)
        if m:
            stamps.append(time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")))
    return stamps


def _mtt(out: Path, options: dict, timeout: int | None) -> tuple[float, str]:
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    (out / "options.yaml").write_text(yaml.safe_dump(options))
    t0 = time.time()
    proc = subprocess.run(["mtt", "train", "options.yaml"], cwd=out, capture_output=True, text=True, timeout=timeout)
    (out / "mtt.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"mtt train failed in {out}: {(proc.stdout + proc.stderr)[-2000:]}")
    return time.time() - t0, proc.stdout + proc.stderr


def run_metatrain(seed: int, epochs: int, out: Path) -> dict:
    wall, log = _mtt(out / "train", _mtt_options(seed, epochs), None)
    stamps = _epoch_times(log)
    train_s = (stamps[-1] - stamps[0]) * len(stamps) / max(1, len(stamps) - 1) if len(stamps) > 1 else None
    errors = score_metatomic(out / "train" / "model.pt")
    from metatomic.torch import load_atomistic_model

    n_params = sum(p.numel() for p in load_atomistic_model(str(out / "train" / "model.pt")).parameters())
    return {
        "model": "metatrain-pet",
        "seed": seed,
        "epochs": epochs,
        "training_time_s": train_s,
        "wall_s": round(wall, 1),
        "hypers": MTT_MODEL,
        "parameters": n_params,
        "bare": errors,
    }


def score_metatomic(model_path: Path) -> dict:
    import ase.io
    import numpy as np
    from metatomic.torch.ase_calculator import MetatomicCalculator

    frames = ase.io.read(DATA / "methane_test.xyz", ":")
    calc = MetatomicCalculator(str(model_path), device="cpu")
    de, df = [], []
    for atoms in frames:
        e_ref, f_ref = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = calc
        de.append(atoms.get_potential_energy() - e_ref)
        df.append(atoms.get_forces() - f_ref)
    de, df = np.array(de), np.concatenate(df)
    return {
        "n_structures": len(frames),
        "energy_mae": round(float(np.abs(de).mean()) * 1000, 4),
        "energy_rmse": round(float(np.sqrt((de**2).mean())) * 1000, 4),
        "forces_mae": round(float(np.abs(df).mean()) * 1000, 4),
        "forces_rmse": round(float(np.sqrt((df**2).mean())) * 1000, 4),
    }


# ---------------------------------------------------------------------------------- driver
def result_dir(model: str, seed: int, epochs: int) -> Path:
    """One folder per (model, seed, epochs): results of another length are never reused."""
    return RUNS / f"{model}-s{seed}-e{epochs}"


def run_one(model: str, seed: int, epochs: int, pet_overrides: list[str]) -> None:
    import torch

    torch.set_num_threads(1)
    out = result_dir(model, seed, epochs)
    out.mkdir(parents=True, exist_ok=True)
    if model == "metatrain":
        result = run_metatrain(seed, epochs, out)
    else:
        result = run_equisym(model, seed, epochs, out, pet_overrides)
    result["provenance"] = provenance()
    write_json(out / "result.json", result)


def rescore_pet(seed: int, epochs: int) -> None:
    """Re-evaluate an existing PET run (bare, ECSE, averaging, ECSE cost) with the current code,
    e.g. after a change of the ECSE defaults; training is not repeated."""
    import torch

    from equisym.train.evaluate import evaluate_checkpoint

    torch.set_num_threads(1)
    out = result_dir("pet", seed, epochs)
    result = json.loads((out / "result.json").read_text())
    _store_scores(result, evaluate_checkpoint(out / "run" / "best.ckpt", out / "run" / "eval"))
    result["cost"] = ecse_cost(out / "run" / "best.ckpt")
    result["rescored"] = time.strftime("%Y-%m-%d %H:%M")
    write_json(out / "result.json", result)


def summarise(models: list[str], seeds: list[int], epochs: int, name: str = "methane", pet_overrides: list[str] | None = None) -> None:
    import numpy as np

    runs = {}
    pet_overrides = list(pet_overrides or [])
    batch_size = pet_batch_size(pet_overrides)
    for path in sorted(RUNS.glob("*-s*/result.json")):
        r = json.loads(path.read_text())
        if r.get("epochs") != epochs:
            continue
        reason = pet_run_mismatch(r, pet_overrides, batch_size) if r.get("model") == "pet" else None
        if reason:
            print(f"left out {path.parent.name}: a PET run {reason}")
            continue
        runs[path.parent.name] = r
    table: dict = {}

    def add(name, seed, res):
        row = table.setdefault(name, {"energy_mae": [], "forces_mae": [], "seeds": [], "wall_s": []})
        row["energy_mae"].append(res["energy_mae"])
        row["forces_mae"].append(res["forces_mae"])
        row["seeds"].append(seed)
        row["wall_s"].append(runs_wall.get((name, seed)))

    runs_wall = {}
    for r in runs.values():
        label = {"pet": "PET", "schnet": "SchNet (torch-geometric)", "metatrain-pet": "metatrain PET"}.get(r["model"])
        runs_wall[(label, r["seed"])] = r.get("training_time_s") or r.get("wall_s")
    for key, r in runs.items():
        if r["model"] == "pet":
            add("PET", r["seed"], r["bare"])
            if "ecse" in r:
                add("PET + ECSE (SO(3))", r["seed"], r["ecse"])
            if "cost" in r:
                add("PET + ECSE (O(3))", r["seed"], r["cost"]["ecse_o3_test_errors"])
            if "average" in r:
                add("PET + 16-rotation average", r["seed"], r["average"])
        elif r["model"] == "schnet":
            add("SchNet (torch-geometric)", r["seed"], r["bare"])
        elif r["model"] == "metatrain-pet":
            add("metatrain PET", r["seed"], r["bare"])
    for row in table.values():
        for k in ("energy_mae", "forces_mae"):
            v = np.array(row[k])
            row[k + "_mean"] = round(float(v.mean()), 1)
            row[k + "_std"] = round(float(v.std()), 1)
    costs = [r["cost"] for r in runs.values() if r["model"] == "pet" and "cost" in r]
    write_result(
        name,
        {
            "description": "CH4 random-methane set, 800/100/100, test energy MAE (meV per molecule) and force MAE (meV/Å); "
            f"each model trained for the same {epochs} epochs (our PET: the batch in each run's training section, "
            f"the recipe's unless overridden; the peers: batch {PEER_BATCH_SIZE}) on one CPU thread of a shared 2-core machine; "
            "wall_s: the training time of each run (depends on the load at the time).",
            "epochs": epochs,
            "table": table,
            "ecse_cost": costs,
            "runs": runs,
        },
    )
    for name, row in table.items():
        print(f"{name:32s} E {row['energy_mae_mean']:8.1f} ± {row['energy_mae_std']:5.1f} meV   "
              f"F {row['forces_mae_mean']:8.1f} ± {row['forces_mae_std']:5.1f} meV/Å  (seeds {row['seeds']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["pet", "schnet", "metatrain"], choices=["pet", "schnet", "metatrain"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--epochs", type=int, default=200, help="training epochs of every model")
    parser.add_argument("--force", action="store_true", help="rerun existing results")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--rescore", action="store_true",
                        help="re-evaluate the existing PET runs of --seeds with the current code (no training), then summarise")
    parser.add_argument("--name", default="methane", help="result file name under benchmarks/results/")
    parser.add_argument("-o", "--pet-override", action="append", default=[], metavar="KEY=VALUE",
                        help="override of configs/pet-methane.yaml for our PET (repeatable), e.g. -o optim.lr=0.002; "
                        "use a fresh EQUISYM_BENCH_RUNS folder for each variant: results are reused by (model, seed, epochs), "
                        "and a stored PET run with other overrides stops the benchmark")
    args = parser.parse_args()
    if args.run:
        run_one(args.run, args.seeds[0], args.epochs, args.pet_override)
        return
    if args.rescore:
        for seed in args.seeds:
            print(f"rescoring pet seed {seed}", flush=True)
            env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO / "benchmarks")]))
            code = f"import methane_benchmark as m; m.rescore_pet({seed}, {args.epochs})"
            subprocess.run([sys.executable, "-c", code], check=True, env=env)
        args.summary_only = True
    if not args.summary_only:
        for seed in args.seeds:
            for model in args.models:
                out = result_dir(model, seed, args.epochs)
                if (out / "result.json").exists() and not args.force:
                    if model == "pet":
                        stored = json.loads((out / "result.json").read_text())
                        reason = pet_run_mismatch(stored, args.pet_override, pet_batch_size(args.pet_override))
                        if reason:
                            sys.exit(f"{out} holds a PET run {reason}: give a fresh EQUISYM_BENCH_RUNS folder for each "
                                     "variant (or --force to retrain)")
                    print(f"reusing {model} seed {seed}")
                    continue
                if args.force and out.exists():
                    import shutil

                    shutil.rmtree(out)
                print(f"running {model} seed {seed} ({args.epochs} epochs)", flush=True)
                env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO / "src"))
                cmd = [sys.executable, __file__, "--run", model, "--seeds", str(seed), "--epochs", str(args.epochs)]
                cmd += [f"--pet-override={o}" for o in args.pet_override]
                subprocess.run(cmd, check=True, env=env)
    summarise(args.models, args.seeds, args.epochs, args.name, args.pet_override)


if __name__ == "__main__":
    main()
