"""MD speed: ASE NVE (velocity Verlet) steps per second on methane, equisym vs exported vs metatrain.

On structures of the random-methane test set (shared data), runs ASE's velocity-Verlet NVE
MD with five calculators, side by side in one process (same machine, same thread count); the
five trajectories of a structure advance in turns of ``--block`` steps, so that load from
elsewhere on the machine falls on all of them alike:

- ``equisym-bare`` / ``equisym-ecse``: :class:`equisym.integrations.ase.EquisymCalculator`
  with the PET, bare or wrapped in ECSE (eager PyTorch);
- ``exported-bare`` / ``exported-ecse``: the same models exported with ``equisym export``
  (:func:`equisym.integrations.metatomic.export_potential`), run by
  ``metatomic_ase.MetatomicCalculator``;
- ``metatrain-pet``: metatrain's PET with matching hyperparameters (d_pet = d_node 64, 4 heads,
  feed-forward 128, head 128, 2 attention × 2 GNN layers, cutoff 5 Å with cosine width 0.2,
  LayerNorm, SiLU, pre-LN, per-layer "residual" readout; untrained), exported with metatrain's
  API and run by the same metatomic calculator.

The three metatomic calculators are built with ``do_gradients_with_energy=False``: by default
``MetatomicCalculator`` also differentiates with respect to the cell strain at every step (for
a stress the MD of a molecule never reads); ASE's integrator asks for forces only, which is
what ``EquisymCalculator`` computes too. Every model has the same precision (``--dtype``). Speed does not depend on the weights, so
without ``--checkpoint`` an untrained PET of the methane configuration's size is used (ECSE's
frame count depends on the geometry only). Steps per second exclude ``--warmup`` steps per
structure (TorchScript optimises on the first calls). Ratios are against ``equisym-bare``.

    OMP_NUM_THREADS=1 python benchmarks/md_speed.py [--checkpoint runs/pet-methane/best.ckpt] [--structures 5] [--steps 60]

Writes benchmarks/results/md_speed.json (needs ``pip install -e '.[export,bench]'``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import _common  # noqa: F401
from _common import write_result

import ase.io
import numpy as np
import torch
from ase import units
from ase.md import velocitydistribution
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet

from equisym.integrations.ase import EquisymCalculator
from equisym.integrations.metatomic import export_potential
from equisym.nn import PET, Symmetrized

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "methane" / "methane_test.xyz"
VARIANTS = ["equisym-bare", "exported-bare", "metatrain-pet", "equisym-ecse", "exported-ecse"]


def methane_pet(checkpoint: str | None) -> PET:
    """The trained PET of ``checkpoint``, or an untrained one of configs/pet-methane.yaml's size."""
    if checkpoint:
        from equisym.inference.potential import load_potential

        return load_potential(checkpoint)
    torch.manual_seed(0)
    model = PET.from_preset("small", species=[1, 6], cutoff=5.0, cutoff_width=0.2, norm="pre", d_head=128,
                            atom_readout_bias=False, bond_readout_bias=False).eval()
    model.set_baseline([-13.6, -1029.0])
    return model


def metatrain_pet(path: Path, dtype: torch.dtype) -> int:
    """Build metatrain's PET with hyperparameters matching :func:`methane_pet`, export it to ``path``."""
    from metatrain.pet import PET as MetatrainPET
    from metatrain.utils.architectures import get_default_hypers
    from metatrain.utils.data import DatasetInfo
    from metatrain.utils.data.target_info import get_energy_target_info

    hypers = get_default_hypers("pet")["model"]
    hypers.update(cutoff=5.0, cutoff_width=0.2, cutoff_function="Cosine", d_pet=64, d_node=64, d_head=128,
                  d_feedforward=128, num_heads=4, num_attention_layers=2, num_gnn_layers=2,
                  normalization="LayerNorm", activation="SiLU", transformer_type="PreLN", featurizer_type="residual")
    info = DatasetInfo(length_unit="angstrom", atomic_types=[1, 6],
                       targets={"energy": get_energy_target_info("energy", {"quantity": "energy", "unit": "eV"})})
    torch.manual_seed(0)
    model = MetatrainPET(hypers, info).to(dtype).eval()
    model.export().save(str(path))
    return sum(p.numel() for p in model.parameters())


def start_md(atoms, calc, warmup: int, seed: int) -> tuple[VelocityVerlet, float]:
    """A velocity-Verlet integrator on a copy of ``atoms`` (300 K start) after ``warmup`` steps, and
    the total energy then."""
    atoms = atoms.copy()
    atoms.calc = calc
    thermalize = getattr(velocitydistribution, "thermalize_momenta", MaxwellBoltzmannDistribution)  # ASE >= 3.28
    thermalize(atoms, temperature_K=300, rng=np.random.default_rng(seed))
    dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    dyn.run(warmup)
    return dyn, atoms.get_total_energy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a trained potential (default: an untrained PET of the same size)")
    parser.add_argument("--structures", type=int, default=5, help="methane test structures (first N)")
    parser.add_argument("--steps", type=int, default=60, help="timed MD steps per structure and calculator")
    parser.add_argument("--warmup", type=int, default=5, help="untimed MD steps first (per structure and calculator)")
    parser.add_argument("--block", type=int, default=10, help="steps each calculator runs before the next takes its turn")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--data", default=str(DATA), help="structures (extended XYZ)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="metatomic_ase")  # NaN stress of molecules

    from metatomic_ase import MetatomicCalculator

    structures = ase.io.read(args.data, f":{args.structures}")
    model = methane_pet(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export_potential(model, tmp / "bare.pt", dtype=args.dtype)
        export_potential(Symmetrized(model).eval(), tmp / "ecse.pt", dtype=args.dtype)
        n_metatrain = metatrain_pet(tmp / "metatrain.pt", dtype)
        calcs = {
            "equisym-bare": EquisymCalculator(model, dtype=dtype),
            "equisym-ecse": EquisymCalculator(model, symmetrize=True, dtype=dtype),
            # a molecule has no stress: do not let the calculator add a strain derivative to every step
            "exported-bare": MetatomicCalculator(str(tmp / "bare.pt"), do_gradients_with_energy=False),
            "exported-ecse": MetatomicCalculator(str(tmp / "ecse.pt"), do_gradients_with_energy=False),
            "metatrain-pet": MetatomicCalculator(str(tmp / "metatrain.pt"), do_gradients_with_energy=False),
        }
        seconds = {name: 0.0 for name in VARIANTS}
        drift = {name: 0.0 for name in VARIANTS}
        for k, atoms in enumerate(structures):
            # the five trajectories advance in turns of --block steps, so that a burst of load on
            # the machine slows every calculator alike
            runs = {name: start_md(atoms, calcs[name], args.warmup, seed=k) for name in VARIANTS}
            for done in range(0, args.steps, args.block):
                for name in VARIANTS:
                    start = time.perf_counter()
                    runs[name][0].run(min(args.block, args.steps - done))
                    seconds[name] += time.perf_counter() - start
            for name, (dyn, e0) in runs.items():
                drift[name] = max(drift[name], abs(dyn.atoms.get_total_energy() - e0) / len(dyn.atoms))
            print(f"structure {k + 1}/{len(structures)}: " + ", ".join(f"{n} {seconds[n]:.1f} s" for n in VARIANTS))
    steps = args.steps * len(structures)
    rate = {name: steps / seconds[name] for name in VARIANTS}
    table = {
        name: {
            "steps_per_s": round(rate[name], 2),
            "ms_per_step": round(1e3 / rate[name], 2),
            "vs_equisym_bare": round(rate[name] / rate["equisym-bare"], 3),
            "max_energy_drift_eV_per_atom": float(f"{drift[name]:.3g}"),
        }
        for name in VARIANTS
    }
    ratios = {
        "exported_bare_vs_equisym_bare": round(rate["exported-bare"] / rate["equisym-bare"], 3),
        "exported_ecse_vs_equisym_ecse": round(rate["exported-ecse"] / rate["equisym-ecse"], 3),
        "exported_bare_vs_metatrain_pet": round(rate["exported-bare"] / rate["metatrain-pet"], 3),
    }
    print(f"{'calculator':16s} {'steps/s':>9s} {'ms/step':>9s} {'vs equisym-bare':>16s}")
    for name in VARIANTS:
        row = table[name]
        print(f"{name:16s} {row['steps_per_s']:9.1f} {row['ms_per_step']:9.2f} {row['vs_equisym_bare']:16.2f}")
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}")
    write_result("md_speed", {
        "settings": {"structures": len(structures), "atoms_per_structure": len(structures[0]), "steps": args.steps,
                     "warmup": args.warmup, "block": args.block, "timestep_fs": 0.5, "ensemble": "NVE velocity Verlet, 300 K start",
                     "dtype": args.dtype, "threads": args.threads, "checkpoint": args.checkpoint,
                     "parameters": {"equisym_pet": sum(p.numel() for p in model.parameters()), "metatrain_pet": n_metatrain}},
        "calculators": table,
        "ratios": ratios,
    })


if __name__ == "__main__":
    main()
