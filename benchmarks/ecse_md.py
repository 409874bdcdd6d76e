"""Energy conservation and cost of ECSE-wrapped PET in NVE molecular dynamics.

Velocity Verlet (NVE) from structures of a data set (methane: the least distorted test
structures, or with ``--start equilibrium`` ideal CH4 rattled by 0.02 Å; LPS: the last structures
of the set; carbon: generated), Maxwell-Boltzmann velocities at
``--temperature`` (seeded, zero total momentum), ``--dt`` fs, ``--steps`` steps. Several
trajectories run side by side as one batched graph (one model call per step, the neighbour
list rebuilt every step). For each variant — the bare model and ECSE wrappers with chosen
options — reports per trajectory the total-energy drift (slope of a straight-line fit, meV/atom
per ps) and the largest ``|E(t) − E(0)|`` (meV/atom), and their means; frames per structure
along the path; and the cost of one energy + forces evaluation relative to the bare model
(medians of interleaved repeats, same run).

    OMP_NUM_THREADS=1 python benchmarks/ecse_md.py --system methane --checkpoint M.ckpt \\
        --steps 4000 --trajectories 4 --variants bare ecse
    OMP_NUM_THREADS=1 python benchmarks/ecse_md.py --system lps --checkpoint L.ckpt --steps 400 \\
        --variants bare ecse "ecse_r:delta_r_cut=0.5"
    OMP_NUM_THREADS=1 python benchmarks/ecse_md.py --system carbon --md-steps 0   # cost only

A variant is ``bare`` or ``NAME[:key=value,...]`` with :class:`equisym.nn.ECSEConfig` fields
(``ecse`` alone = the defaults). ``--system carbon`` generates a dense amorphous-like carbon
cell (a diamond supercell compressed and rattled, seeded) with ~80 neighbours per atom in the
cutoff and uses an untrained PET of the same size (cost does not depend on the weights).
Results go to ``benchmarks/results/ecse_md_<system>.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import _common  # noqa: F401
from _common import write_result

import numpy as np
import torch

from equisym.data.atoms import graph_from_atoms
from equisym.nn import PET, Symmetrized, compute_forces

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KB = 8.617333262e-5  # eV/K
FS = 0.09822694750253661  # ASE time unit per fs: 1 fs = FS * (Å sqrt(amu/eV))


def _parse_variant(text: str) -> tuple[str, dict]:
    name, _, opts = text.partition(":")
    overrides = {}
    for item in filter(None, opts.split(",")):
        key, _, value = item.partition("=")
        for kind in (int, float):
            try:
                overrides[key] = kind(value)
                break
            except ValueError:
                overrides[key] = {"true": True, "false": False}.get(value.lower(), value)
    return name, overrides


def dense_carbon(seed: int = 0, lattice: float = 3.65, reps: int = 2):
    """A compressed, rattled diamond supercell (8·reps³ atoms): ~80 neighbours within 5 Å."""
    from ase.build import bulk

    atoms = bulk("C", "diamond", a=lattice, cubic=True).repeat(reps)
    atoms.rattle(0.08, seed=seed)
    return atoms


def structures(system: str, n: int, start: str = "data"):
    import ase.io

    if system == "methane" and start == "equilibrium":  # ideal CH4 (C-H 1.09 A), rattled by 0.02 A per trajectory
        from ase.build import molecule

        out = []
        for k in range(n):
            atoms = molecule("CH4")
            atoms.rattle(0.02, seed=k)
            out.append(atoms)
        return out
    if system == "methane":  # the least distorted test structures (lowest reference energy)
        test = ase.io.read(DATA / "methane" / "methane_test.xyz", ":")
        return sorted(test, key=lambda a: a.get_potential_energy())[:n]
    if system == "lps":
        return ase.io.read(DATA / "lps" / "lps_reduced_100.xyz", f"-{n}:")
    return [dense_carbon(seed=k) for k in range(n)]


def neighbour_count(atoms, cutoff: float) -> float:
    from ase.neighborlist import neighbor_list

    i = neighbor_list("i", atoms, cutoff)
    return len(i) / len(atoms)


def run_md(model, atoms_list, cutoff, dtype, steps, dt_fs, temperature, seed, log_every):
    """Batched velocity Verlet; returns (times fs, total energy per atom (T, S) eV, frames (T, S))."""
    rng = np.random.default_rng(seed)
    pos = [a.positions.copy() for a in atoms_list]
    masses = [a.get_masses() for a in atoms_list]
    vel = []
    for m in masses:
        v = rng.normal(size=(len(m), 3)) * np.sqrt(KB * temperature / m)[:, None]
        v -= (m[:, None] * v).sum(0) / m.sum()
        vel.append(v)
    split = np.cumsum([len(a) for a in atoms_list])[:-1]

    def forces(positions):
        frames = [a.copy() for a in atoms_list]
        for a, p in zip(frames, positions):
            a.positions = p
        out = compute_forces(model, graph_from_atoms(frames, cutoff, dtype))
        f = np.split(out["forces"].detach().double().numpy(), split)
        e = out["energy"].detach().double().numpy()
        nf = out.get("num_frames", torch.ones_like(out["energy"])).detach().numpy()
        return f, e, nf

    dt = dt_fs * FS
    f, e, nf = forces(pos)
    energies, frames, times = [], [], []
    for step in range(steps + 1):
        if step % log_every == 0:
            kin = np.array([0.5 * (m[:, None] * v * v).sum() for m, v in zip(masses, vel)])
            energies.append((e + kin) / np.array([len(a) for a in atoms_list]))
            frames.append(nf)
            times.append(step * dt_fs)
        if step == steps:
            break
        vel = [v + 0.5 * dt * fi / m[:, None] for v, fi, m in zip(vel, f, masses)]
        pos = [p + dt * v for p, v in zip(pos, vel)]
        f, e, nf = forces(pos)
        vel = [v + 0.5 * dt * fi / m[:, None] for v, fi, m in zip(vel, f, masses)]
    return np.array(times), np.array(energies), np.array(frames)


def drift_stats(times, energies):
    """Per trajectory: slope (meV/atom/ps) and max |E − E0| (meV/atom)."""
    t_ps = times / 1000.0
    rel = (energies - energies[0]) * 1000.0
    slope = np.polyfit(t_ps, rel, 1)[0] if len(t_ps) > 1 else np.zeros(rel.shape[1])
    return {
        "drift_mev_per_atom_per_ps": [round(float(s), 4) for s in np.atleast_1d(slope)],
        "max_abs_de_mev_per_atom": [round(float(x), 4) for x in np.abs(rel).max(0)],
        "mean_abs_drift": round(float(np.abs(slope).mean()), 4),
        "mean_max_abs_de": round(float(np.abs(rel).max(0).mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", choices=["methane", "lps", "carbon"], default="methane")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--variants", nargs="+", default=["bare", "ecse"])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--dt", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=300.0)
    parser.add_argument("--trajectories", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=5)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--cost-repeats", type=int, default=3, help="0 = no cost measurement")
    parser.add_argument("--cutoff", type=float, default=5.0)
    parser.add_argument("--tag", default="", help="suffix of the result file name")
    parser.add_argument("--start", default="data", choices=["data", "equilibrium"],
                        help="methane: the least distorted test structures (data; C-H up to 3 A, they dissociate "
                             "at 300 K) or ideal CH4 rattled by 0.02 A (equilibrium)")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    torch.manual_seed(args.seed)
    if args.checkpoint:
        from equisym.inference.potential import load_potential, model_cutoff

        pet = load_potential(args.checkpoint, dtype).eval()
        cutoff = model_cutoff(pet) or args.cutoff
    else:
        species = {"methane": [1, 6], "lps": [3, 15, 16], "carbon": [6]}[args.system]
        pet = PET.from_preset("small", species=species, cutoff=args.cutoff).to(dtype).eval()
        cutoff = args.cutoff
    atoms_list = structures(args.system, args.trajectories, args.start)
    models = {}
    for text in args.variants:
        name, overrides = _parse_variant(text)
        models[name] = (pet if name == "bare" else Symmetrized(pet, **overrides), overrides)

    result = {
        "system": args.system,
        "model": args.checkpoint or "PET preset small (untrained)",
        "atoms": [len(a) for a in atoms_list],
        "neighbours_per_atom": round(statistics.mean(neighbour_count(a, cutoff) for a in atoms_list), 1),
        "cutoff": cutoff,
        "dtype": args.dtype,
        "md": {"steps": args.steps, "dt_fs": args.dt, "temperature_K": args.temperature, "seed": args.seed, "start": args.start},
        "variants": {},
    }
    graph = graph_from_atoms(atoms_list, cutoff, dtype)
    for name, (model, overrides) in models.items():
        entry = {"options": overrides}
        if name != "bare":
            with torch.no_grad():
                out = model(graph)
            entry["frames_per_structure"] = [int(x) for x in out["num_frames"]]
            entry["frames_unpruned"] = [int(x) for x in model.last_num_frames_unpruned]
        if args.steps > 0:
            start = time.perf_counter()
            times, energies, frames = run_md(
                model, atoms_list, cutoff, dtype, args.steps, args.dt, args.temperature, args.seed, args.log_every
            )
            entry.update(drift_stats(times, energies))
            entry["md_seconds"] = round(time.perf_counter() - start, 1)
            if name != "bare":
                entry["frames_along_path"] = {"mean": round(float(frames.mean()), 2), "min": int(frames.min()),
                                              "max": int(frames.max())}
        result["variants"][name] = entry
        print(name, {k: v for k, v in entry.items() if k not in ("drift_mev_per_atom_per_ps", "max_abs_de_mev_per_atom")}, flush=True)

    if args.cost_repeats > 0:
        timings = {name: [] for name in models}
        for _ in range(args.cost_repeats):
            for name, (model, _) in models.items():
                start = time.perf_counter()
                compute_forces(model, graph)
                timings[name].append(time.perf_counter() - start)
        med = {k: statistics.median(v) for k, v in timings.items()}
        base = med.get("bare", next(iter(med.values())))
        result["cost"] = {"seconds": {k: round(v, 4) for k, v in med.items()},
                          "ratio_to_bare": {k: round(v / base, 2) for k, v in med.items()},
                          "note": "energy + forces by autograd of all trajectories' start structures in one batch"}
        print("cost", result["cost"], flush=True)
    write_result(f"ecse_md_{args.system}{args.tag}", result)


if __name__ == "__main__":
    main()
