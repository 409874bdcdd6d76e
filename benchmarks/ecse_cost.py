"""Cost of ECSE on methane: frames per structure and time relative to one PET evaluation.

For the random-methane test set (100 CH4, shared data), counts the ECSE frames per structure
(before pruning, after pruning, with mirrored frames for O(3)) and times energy + forces
(autograd) of

- the bare PET (one evaluation: the reference cost),
- ECSE-symmetrized PET, SO(3) (``improper=False``) and O(3) (``improper=True``),
- a 16-rotation average (approximate symmetrization, for comparison),

batched (all structures in one call) and one structure at a time. Ratios are measured side
by side in one run (medians of interleaved repeats). Also reports the worst energy change
under 3 Haar-random rotations and the same rotations times the inversion (float64), so cost and exactness sit together.

    OMP_NUM_THREADS=1 python benchmarks/ecse_cost.py [--checkpoint runs/pet-methane/best.ckpt] [--preset small] [--repeats 5]

Without a checkpoint an untrained PET of the same size is used: frame counts do not depend
on the weights, and neither does the time. Writes benchmarks/results/ecse_cost.json.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path

import _common  # noqa: F401
from _common import write_result

import torch

from equisym.data.atoms import graph_from_atoms
from equisym.geometry import random_rotation
from equisym.nn import PET, RotationAveraged, Symmetrized, compute_forces

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "methane" / "methane_test.xyz"


def _stats(x: torch.Tensor) -> dict:
    x = x.double()
    return {"mean": round(float(x.mean()), 2), "median": float(x.median()), "min": int(x.min()), "max": int(x.max())}


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--checkpoint", default=None, help="a trained `potential` checkpoint (optional)")
    parser.add_argument("--preset", default="small", help="PET preset when no checkpoint is given")
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--single", type=int, default=20, help="structures timed one at a time")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    import ase.io

    dtype = getattr(torch, args.dtype)
    torch.manual_seed(0)
    if args.checkpoint:
        from equisym.train.tasks.potential import load_potential

        pet = load_potential(args.checkpoint, dtype)
    else:
        pet = PET.from_preset(args.preset, species=[1, 6], cutoff=args.cutoff).to(dtype).eval()
    aux = PET.from_preset(args.preset, species=[1, 6], cutoff=args.cutoff, use_only_length=True).to(dtype).eval()
    atoms = ase.io.read(args.data, ":")
    graph = graph_from_atoms(atoms, args.cutoff, dtype)
    singles = [graph_from_atoms([a], args.cutoff, dtype) for a in atoms[: args.single]]

    variants = {
        "bare": pet,
        "ecse_so3": Symmetrized(pet, aux_model=aux),
        "ecse_o3": Symmetrized(pet, aux_model=aux, improper=True),
        "ecse_so3_unpruned": Symmetrized(pet, aux_model=aux, use_prunning=False),
        "average16": RotationAveraged(pet, n_rotations=16, seed=0),
    }
    frames = {}
    for name in ("ecse_so3", "ecse_o3", "ecse_so3_unpruned"):
        sym = variants[name]
        with torch.no_grad():
            sym(graph)
        frames[name] = _stats(sym.last_num_frames)
        frames[name]["aux_used"] = int((sym.last_aux_weight > 0).sum())
    frames["unpruned_so3_per_structure"] = _stats(variants["ecse_so3"].last_num_frames_unpruned)

    batched = {k: [] for k in variants}
    single = {k: [] for k in variants}
    for _ in range(args.repeats):  # interleaved, so load changes hit every variant alike
        for name, model in variants.items():
            batched[name] += _time(lambda: compute_forces(model, graph), 1)
            single[name].append(sum(_time(lambda: [compute_forces(model, g) for g in singles], 1)))
    med_b = {k: statistics.median(v) for k, v in batched.items()}
    med_s = {k: statistics.median(v) for k, v in single.items()}

    # exactness next to cost: worst relative energy change under random O(3) rotations (float64)
    g64 = graph.to(dtype=torch.float64)
    pet64 = copy.deepcopy(pet).double().eval()
    aux64 = aux.double()
    check = {
        "bare": pet64,
        "ecse_so3": Symmetrized(pet64, aux_model=aux64),
        "ecse_o3": Symmetrized(pet64, aux_model=aux64, improper=True),
        "average16": RotationAveraged(pet64, n_rotations=16, seed=0),
    }
    proper = random_rotation(3, 123)
    groups = {"so3": proper, "improper": -proper}
    invariance = {}
    with torch.no_grad():
        for name, model in check.items():
            ref = model(g64)["energy"]
            for group, rots in groups.items():
                worst = 0.0
                for rot in rots:
                    e = model(g64.rotated(rot))["energy"]
                    worst = max(worst, float((e - ref).abs().max() / ref.abs().max()))
                invariance.setdefault(name, {})[group] = worst

    result = {
        "structures": len(atoms),
        "model": args.checkpoint or f"PET preset {args.preset} (untrained)",
        "dtype": args.dtype,
        "frames_per_structure": frames,
        "time_batched_s": {k: round(v, 4) for k, v in med_b.items()},
        "time_single_s": {k: round(v, 4) for k, v in med_s.items()},
        "ratio_batched": {k: round(v / med_b["bare"], 2) for k, v in med_b.items()},
        "ratio_single": {k: round(v / med_s["bare"], 2) for k, v in med_s.items()},
        "target_ratio": 20.0,
        "max_relative_energy_change": invariance,
        "note": "time = energy + forces by autograd; ratios relative to the bare PET in the same run",
    }
    write_result("ecse_cost", result)
    for key in ("frames_per_structure", "ratio_batched", "ratio_single", "max_relative_energy_change"):
        print(key, result[key])


if __name__ == "__main__":
    main()
