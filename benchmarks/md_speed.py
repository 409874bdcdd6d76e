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

Each calculator's own trajectory is what it is timed on, so two *different* models (ours and
metatrain's, both untrained) may be timed on different geometries: an untrained PET can pull a
cluster together (3 400 → 14 000 pairs within the cutoff over 100 steps) while another lets it
drift apart (3 000 → 1 400). The script records the mean number of neighbour pairs along each
trajectory (``mean_pairs``) and flags a comparison whose pair counts differ by more than 10 %.
``--replay`` times every calculator on the same frames instead: a velocity-Verlet trajectory of
the first variant, on which each calculator computes energy and forces, frame by frame in turns
(time per force call; the integrator's own cost, the same for all, is left out).

Two settings of the engine, applied to every TorchScript/metatomic calculator alike:
``--neighbor-skin`` (metatomic's Verlet-list skin, 2 Å by default; 0 rebuilds the list every
step) and ``--no-jit-optimize`` (TorchScript's graph optimiser off: its symbolic autodiff makes
the backward pass slower on large systems on CPU).

    OMP_NUM_THREADS=1 python benchmarks/md_speed.py [--checkpoint runs/pet-methane/best.ckpt] [--structures 5] [--steps 60]

Writes benchmarks/results/md_speed.json (``md_speed_<N>molecules.json`` with ``--molecules N``; needs ``pip install -e '.[export,bench]'``).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import warnings
from pathlib import Path

import _common  # noqa: F401
from _common import write_result

import ase.io
import numpy as np
import torch
from ase import Atoms, units
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


def molecule_clusters(frames: list, molecules: int, spacing: float) -> list:
    """Each system: ``molecules`` consecutive frames on a cubic grid ``spacing`` Å apart (not periodic)."""
    side = math.ceil(molecules ** (1 / 3) - 1e-9)
    out = []
    for start in range(0, len(frames) - molecules + 1, molecules):
        system = Atoms()
        for k, frame in enumerate(frames[start : start + molecules]):
            shift = spacing * np.array([k % side, k // side % side, k // side**2], dtype=float)
            system += Atoms(frame.numbers, positions=frame.positions - frame.positions.mean(0) + shift)
        out.append(system)
    return out


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


def _pair_count(atoms, cutoff: float) -> int:
    """Ordered neighbour pairs within ``cutoff`` Å (the work a PET step does scales with it)."""
    from ase.neighborlist import neighbor_list

    return len(neighbor_list("i", atoms, cutoff))


def _own_md(atoms, calcs, names, args, k, seconds, pairs, drift, cutoff) -> None:
    """Each calculator integrates its own trajectory from the same start, in turns of --block steps
    (``pairs``: the pair count within ``cutoff`` Å after each turn)."""
    # the turns make a burst of load on the machine slow every calculator alike
    runs = {name: start_md(atoms, calcs[name], args.warmup, seed=k) for name in names}
    for done in range(0, args.steps, args.block):
        for name in names:
            start = time.perf_counter()
            runs[name][0].run(min(args.block, args.steps - done))
            seconds[name] += time.perf_counter() - start
            pairs[name].append(_pair_count(runs[name][0].atoms, cutoff))
    for name, (dyn, e0) in runs.items():
        drift[name] = max(drift[name], abs(dyn.atoms.get_total_energy() - e0) / len(dyn.atoms))


def _replay(atoms, calcs, names, args, k, seconds, pairs, cutoff) -> None:
    """Every calculator computes energy and forces on the same frames: the velocity-Verlet
    trajectory of the first variant, in turns of --block frames. Its first --warmup frames are
    computed untimed by every calculator (TorchScript optimises on the first calls), as in own MD."""
    dyn, _ = start_md(atoms, calcs[names[0]], 0, seed=k)
    frames = []
    for _ in range(args.warmup + args.steps):
        dyn.run(1)
        frames.append(dyn.atoms.positions.copy())
    warmup, frames = frames[: args.warmup], frames[args.warmup :]
    replicas = {name: atoms.copy() for name in names}
    for name in names:
        replicas[name].calc = calcs[name]
        for positions in warmup:
            replicas[name].positions = positions
            replicas[name].get_forces()
    for done in range(0, args.steps, args.block):
        block = frames[done : done + args.block]
        for name in names:
            replica = replicas[name]
            start = time.perf_counter()
            for positions in block:
                replica.positions = positions
                replica.get_forces()
            seconds[name] += time.perf_counter() - start
        for name in names:
            pairs[name].append(_pair_count(replicas[name], cutoff))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a trained potential (default: an untrained PET of the same size)")
    parser.add_argument("--structures", type=int, default=5, help="methane test structures (first N)")
    parser.add_argument("--steps", type=int, default=60, help="timed MD steps per structure and calculator")
    parser.add_argument("--warmup", type=int, default=5, help="untimed MD steps first (per structure and calculator)")
    parser.add_argument("--molecules", type=int, default=1,
                        help="molecules per MD system: larger systems on a cubic grid (--spacing Å apart), so that the model's "
                        "own cost outweighs the per-step overhead of the calculator")
    parser.add_argument("--spacing", type=float, default=4.0, help="grid spacing of --molecules, Å")
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS,
                        help="calculators to run (ECSE on large systems needs many frames: leave it out there)")
    parser.add_argument("--block", type=int, default=10, help="steps each calculator runs before the next takes its turn")
    parser.add_argument("--neighbor-skin", type=float, default=None,
                        help="neighbor_skin of the metatomic calculators, Å (default: metatomic's, 2 Å, a Verlet list; "
                        "0 rebuilds the list every step)")
    parser.add_argument("--no-jit-optimize", action="store_true",
                        help="run the TorchScript models (exported, metatrain) with TorchScript's graph optimiser off "
                        "(torch.jit.optimized_execution(False)): its symbolic autodiff makes the backward pass slower on "
                        "large systems on CPU")
    parser.add_argument("--replay", action="store_true",
                        help="time every calculator on the same frames (a trajectory of the first variant) instead of its own MD")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--data", default=str(DATA), help="structures (extended XYZ)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.no_jit_optimize:
        torch._C._set_graph_executor_optimize(False)  # what torch.jit.optimized_execution(False) sets
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="metatomic_ase")  # NaN stress of molecules

    from metatomic_ase import MetatomicCalculator

    structures = ase.io.read(args.data, f":{args.structures * args.molecules}")
    if args.molecules > 1:
        structures = molecule_clusters(structures, args.molecules, args.spacing)
    model = methane_pet(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export_potential(model, tmp / "bare.pt", dtype=args.dtype)
        export_potential(Symmetrized(model).eval(), tmp / "ecse.pt", dtype=args.dtype)
        n_metatrain = metatrain_pet(tmp / "metatrain.pt", dtype)
        skin = {} if args.neighbor_skin is None else {"neighbor_skin": args.neighbor_skin}
        calcs = {
            "equisym-bare": lambda: EquisymCalculator(model, dtype=dtype),
            "equisym-ecse": lambda: EquisymCalculator(model, symmetrize=True, dtype=dtype),
            # a molecule has no stress: do not let the calculator add a strain derivative to every step
            "exported-bare": lambda: MetatomicCalculator(str(tmp / "bare.pt"), do_gradients_with_energy=False, **skin),
            "exported-ecse": lambda: MetatomicCalculator(str(tmp / "ecse.pt"), do_gradients_with_energy=False, **skin),
            "metatrain-pet": lambda: MetatomicCalculator(str(tmp / "metatrain.pt"), do_gradients_with_energy=False, **skin),
        }
        calcs = {name: calcs[name]() for name in args.variants}
        names = list(args.variants)
        seconds = {name: 0.0 for name in names}
        drift = {name: 0.0 for name in names}
        pairs = {name: [] for name in names}
        for k, atoms in enumerate(structures):
            if args.replay:
                _replay(atoms, calcs, names, args, k, seconds, pairs, model.cutoff)
            else:
                _own_md(atoms, calcs, names, args, k, seconds, pairs, drift, model.cutoff)
            print(f"structure {k + 1}/{len(structures)}: " + ", ".join(f"{n} {seconds[n]:.1f} s" for n in names))
    steps = args.steps * len(structures)
    rate = {name: steps / seconds[name] for name in names}
    table = {
        name: {
            "steps_per_s": round(rate[name], 2),
            "ms_per_step": round(1e3 / rate[name], 2),
            "vs_equisym_bare": round(rate[name] / rate["equisym-bare"], 3) if "equisym-bare" in rate else None,
            "max_energy_drift_eV_per_atom": None if args.replay else float(f"{drift[name]:.3g}"),
            "mean_pairs": round(float(np.mean(pairs[name])), 1),
        }
        for name in names
    }
    compared = {"exported_bare_vs_equisym_bare": ("exported-bare", "equisym-bare"),
             "exported_ecse_vs_equisym_ecse": ("exported-ecse", "equisym-ecse"),
             "exported_bare_vs_metatrain_pet": ("exported-bare", "metatrain-pet")}
    ratios = {key: round(rate[a] / rate[b], 3) for key, (a, b) in compared.items() if a in rate and b in rate}
    # a ratio of models timed on different geometries (own MD of different models) is not a speed ratio
    unequal = sorted(key for key, (a, b) in compared.items() if key in ratios
                     and abs(table[a]["mean_pairs"] - table[b]["mean_pairs"]) > 0.1 * table[b]["mean_pairs"])
    print(f"{'calculator':16s} {'steps/s':>9s} {'ms/step':>9s} {'vs equisym-bare':>16s}")
    for name, row in table.items():
        print(f"{name:16s} {row['steps_per_s']:9.1f} {row['ms_per_step']:9.2f} {row['vs_equisym_bare'] or float('nan'):16.2f}")
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}" + ("  (NOT comparable: the trajectories differ in pair count by > 10 %)" if key in unequal else ""))
    name = "md_speed" if args.molecules == 1 else f"md_speed_{args.molecules}molecules"
    skin_tag = "" if args.neighbor_skin is None else f"_skin{args.neighbor_skin:g}"
    write_result(name + ("_replay" if args.replay else "") + ("_nojitopt" if args.no_jit_optimize else "") + skin_tag, {
        "settings": {"structures": len(structures), "atoms_per_structure": len(structures[0]),
                     "molecules_per_system": args.molecules, "spacing_A": args.spacing if args.molecules > 1 else None, "steps": args.steps,
                     "warmup": args.warmup, "block": args.block, "replay": args.replay,
                     "jit_optimize": not args.no_jit_optimize, "metatomic_neighbor_skin_A": args.neighbor_skin, "timestep_fs": 0.5, "ensemble": "NVE velocity Verlet, 300 K start",
                     "dtype": args.dtype, "threads": args.threads, "checkpoint": args.checkpoint,
                     "parameters": {"equisym_pet": sum(p.numel() for p in model.parameters()), "metatrain_pet": n_metatrain}},
        "mode": "replay: every calculator on the same frames (first variant's trajectory), time per force call"
                if args.replay else "own MD: each calculator integrates its own trajectory",
        "calculators": table,
        "ratios": ratios,
        "ratios_on_different_geometries": unequal,
    })


if __name__ == "__main__":
    main()
