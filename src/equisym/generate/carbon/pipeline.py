"""``equisym generate carbon-dos``: the carbon-allotrope DOS data set, resumable and parallel.

A locally generated stand-in for the DFT data of del Rio et al. (2020) used by CSGNN: the
eight allotropes of :data:`~equisym.generate.carbon.structures.STRUCTURES` with the paper's
atom counts, relaxed with the Tersoff (1989) potential; thermal snapshots from Langevin MD at
300 K and 600 K (:func:`~equisym.generate.carbon.md.run_md`); atom-projected tight-binding DOS
of each snapshot (:func:`~equisym.generate.carbon.md.snapshot_dos`).

Splits (paper layout): per structure and temperature one trajectory gives the train/val
snapshots (80 % / 20 %, assigned at random), a second, independent trajectory (other
velocities and noise) gives the test snapshots. Default: 100 train/val + 10 test per
structure and temperature → 8 × 2 × 110 = 1 760 snapshots. Every trajectory's seed is a
function of the data-set seed and its (structure, temperature, kind), so the data set does
not depend on the number of workers or on interruptions.

Output (format: :mod:`equisym.data.carbon`): ``OUT/structures.extxyz`` and ``OUT/dos.h5``,
plus ``OUT/settings.json``, ``OUT/timing.json`` and the per-trajectory cache ``OUT/parts/``.
Every file is written under a temporary name and renamed, so an interrupted run leaves no
half-written file under a final name; a rerun with the same options resumes from the parts
(a cached part that cannot be read back is recomputed). A folder that already holds a
complete data set is refused unless ``overwrite=True`` (``--overwrite``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from equisym.data.carbon import TEMPERATURES, CarbonDOSData, write_carbon_dos
from equisym.errors import EquisymError
from equisym.files import atomic_output, write_text_atomic
from equisym.generate.carbon.md import run_md, snapshot_dos
from equisym.generate.carbon.structures import STRUCTURES, build_structure

__all__ = ["generate_carbon_dos", "add_generate_parser"]


@dataclass
class _Unit:
    structure: str
    temperature: int
    kind: str  # "trainval" or "test"
    n: int
    first: int  # snapshot index of the first snapshot
    seed: int

    @property
    def name(self) -> str:
        return f"{self.structure}_{self.temperature}K_{self.kind}"


def _plan(snapshots: int, test: int, seed: int, structures=None) -> list[_Unit]:
    units = []
    per_t, test_t = snapshots // len(TEMPERATURES), test // len(TEMPERATURES)
    for s in structures or STRUCTURES:
        for t in TEMPERATURES:
            for kind, n, first in (("trainval", per_t, 0), ("test", test_t, per_t)):
                if n == 0:
                    continue
                unit_seed = (seed * 1_000_003 + zlib.crc32(f"{s}/{t}/{kind}".encode())) % (2**31)
                units.append(_Unit(s, t, kind, n, first, unit_seed))
    return units


def _split_labels(unit: _Unit) -> list[str]:
    if unit.kind == "test":
        return ["test"] * unit.n
    n_val = int(round(0.2 * unit.n))
    labels = np.array(["train"] * unit.n, dtype=object)
    labels[np.random.default_rng(unit.seed).choice(unit.n, n_val, replace=False)] = "val"
    return labels.tolist()



def _run_unit(unit: _Unit, base, md: dict, parts: str, queue=None) -> dict:
    """MD + DOS of one trajectory; writes ``parts/<name>.extxyz`` and ``.npz`` atomically."""
    import ase.io
    import torch

    from equisym.physics import CarbonTightBinding

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    snaps = run_md(base, unit.temperature, unit.n, unit.seed, **md)
    t_md = time.perf_counter() - t0
    tb = CarbonTightBinding()
    kpts = STRUCTURES[unit.structure][1]
    doses, fermis, bands = [], [], []
    t1 = time.perf_counter()
    for k, (snap, split) in enumerate(zip(snaps, _split_labels(unit))):
        dos, ef, eb = snapshot_dos(snap, kpts, tb)
        doses.append(dos)
        fermis.append(ef)
        bands.append(eb)
        snap.info = {"structure": unit.structure, "temperature": unit.temperature, "split": split, "snapshot": unit.first + k}
        if queue is not None:
            queue.put(1)
    t_dos = time.perf_counter() - t1
    t2 = time.perf_counter()
    tmp = os.path.join(parts, f".{unit.name}.tmp")
    for snap in snaps:
        snap.info = {k: (v.item() if hasattr(v, "item") else v) for k, v in snap.info.items()}
    ase.io.write(tmp + ".extxyz", snaps, format="extxyz")
    np.savez(tmp + ".npz", atom_dos=np.concatenate(doses), fermi_level=np.array(fermis), band_energy=np.array(bands), n_atoms=np.array([len(s) for s in snaps]), timing=np.array([t_md, t_dos, 0.0]))
    os.replace(tmp + ".extxyz", os.path.join(parts, unit.name + ".extxyz"))
    os.replace(tmp + ".npz", os.path.join(parts, unit.name + ".npz"))  # the .npz marks completion
    return {"unit": unit.name, "md_s": t_md, "dos_s": t_dos, "write_s": time.perf_counter() - t2, "snapshots": unit.n}


def _worker(args):
    return _run_unit(*args)



def _read_part(parts: Path, unit: _Unit) -> tuple[list, dict] | None:
    """The snapshots and arrays of a finished part, or None if it is missing; a part that cannot
    be read back whole (truncated, from another run) is deleted with a warning, to be recomputed."""
    import ase.io

    npz, xyz = parts / f"{unit.name}.npz", parts / f"{unit.name}.extxyz"
    if not npz.exists():
        return None
    try:
        with np.load(npz) as part:
            arrays = {k: part[k] for k in ("atom_dos", "fermi_level", "band_energy", "n_atoms")}
        snaps = ase.io.read(xyz, ":", format="extxyz")
        counts = [len(s) for s in snaps]
        if len(snaps) != unit.n or list(arrays["n_atoms"]) != counts or len(arrays["atom_dos"]) != sum(counts):
            raise ValueError(f"{len(snaps)} snapshots for {unit.n} expected, or arrays of other sizes")
    except Exception as err:  # any unreadable part is rebuilt, whatever the reader raised
        warnings.warn(f"{npz.name}: cached part unreadable ({type(err).__name__}: {err}); recomputing it", stacklevel=2)
        npz.unlink(missing_ok=True)
        xyz.unlink(missing_ok=True)
        return None
    return snaps, arrays


def _relaxed_structures(parts: Path, needed: set[str], progress: bool) -> dict:
    """The relaxed starting structures by name: read from ``parts/relaxed.extxyz``, the missing
    ones built (:func:`build_structure`) and added to it (written and read back, so that fresh and
    resumed runs start from identical numbers). An unreadable file is rebuilt."""
    import ase.io
    from tqdm import tqdm

    path = parts / "relaxed.extxyz"
    bases = {}
    if path.exists():
        try:
            bases = {a.info["structure"]: a for a in ase.io.read(path, ":", format="extxyz")}
        except Exception as err:  # truncated or foreign: rebuild every structure
            warnings.warn(f"{path.name}: unreadable ({type(err).__name__}: {err}); relaxing the structures again", stacklevel=2)
            bases = {}
    missing = needed - set(bases)
    for name in tqdm(sorted(missing), desc="relaxing structures", disable=not progress or not missing, unit="structure"):
        bases[name] = build_structure(name)
    if missing:
        with atomic_output(path) as tmp:
            ase.io.write(tmp, [bases[n] for n in STRUCTURES if n in bases], format="extxyz")
        bases = {a.info["structure"]: a for a in ase.io.read(path, ":", format="extxyz")}
    return bases


def generate_carbon_dos(out, snapshots: int = 200, test: int | None = None, workers: int = 2, seed: int = 0,
                        md: dict | None = None, structures=None, progress: bool = True, overwrite: bool = False) -> dict:
    """Generate (or resume) the carbon DOS data set in ``out``.

    Args:
        out: output folder; partial results live in ``out/parts`` and are reused on resume.
        snapshots: train + val snapshots per structure (split evenly over 300 K / 600 K, 80/20).
        test: test snapshots per structure (default ``snapshots // 10``, at least 2).
        workers: parallel processes (one trajectory per task).
        seed: data-set seed (every trajectory's seed derives from it and its name).
        md: overrides of :func:`run_md` settings (timestep, equilibration, interval, friction).
        structures: names to generate (default all of :data:`STRUCTURES`).
        progress: show progress bars.
        overwrite: replace a complete data set already in ``out`` (parts made with the same
            settings are reused; with other settings they are deleted first).

    Returns:
        A timing summary (also written to ``out/timing.json``).

    Raises:
        EquisymError: bad options, a folder with a complete data set (without ``overwrite``),
            or a folder holding a generation with other settings (without ``overwrite``).
    """
    import multiprocessing as mp

    from tqdm import tqdm

    from equisym.physics import ENERGY_SHIFT, GRID_SIZE, GRID_START, GRID_STEP, SMEARING, dos_grid

    if snapshots < 2 or snapshots % 2:
        raise EquisymError(f"--snapshots must be an even number ≥ 2 (split over 300 K and 600 K), got {snapshots}")
    test = max(2, snapshots // 10) if test is None else test
    if test < 0 or test % 2:
        raise EquisymError(f"--test must be an even number ≥ 0, got {test}")
    md = {"timestep": 1.0, "equilibration": 1000, "interval": 50, "friction": 0.01, **(md or {})}
    structures = list(STRUCTURES) if not structures else list(structures)
    unknown = [s for s in structures if s not in STRUCTURES]
    if unknown:
        raise EquisymError(f"unknown carbon structure(s) {unknown}; choose from {list(STRUCTURES)}")
    if workers < 1:
        raise EquisymError(f"--workers must be at least 1, got {workers}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EquisymError(f"--out {out} is a file, not a folder")
    if not overwrite and ((out / "dos.h5").exists() or (out / "structures.extxyz").exists()):
        raise EquisymError(f"{out} already holds a carbon DOS data set; use another --out folder, or --overwrite to regenerate it")
    parts = out / "parts"
    settings = {"snapshots": snapshots, "test": test, "seed": seed, "md": md, "structures": structures, "energy_shift": ENERGY_SHIFT, "smearing": SMEARING}
    cfg = out / "settings.json"
    if cfg.exists():
        try:
            same = json.loads(cfg.read_text()) == settings
        except ValueError:  # a truncated settings file: its parts cannot be trusted either
            same = False
        if not same and not overwrite:
            raise EquisymError(f"{out} holds a generation with other settings ({cfg}); use a new --out folder, the same options, or --overwrite")
        if not same:
            shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cfg, json.dumps(settings, indent=2))

    timing = {"structures_s": 0.0, "md_s": 0.0, "dos_s": 0.0, "write_s": 0.0}
    t_start = time.perf_counter()
    units = _plan(snapshots, test, seed, structures)
    todo = [u for u in units if _read_part(parts, u) is None]
    t0 = time.perf_counter()
    bases = _relaxed_structures(parts, {u.structure for u in todo}, progress)
    timing["structures_s"] = time.perf_counter() - t0

    total = sum(u.n for u in units)
    done = total - sum(u.n for u in todo)
    bar = tqdm(total=total, initial=done, desc="carbon DOS snapshots", unit="snap", disable=not progress)
    results = []
    if todo:
        ctx = mp.get_context("spawn")
        with ctx.Manager() as manager:
            queue = manager.Queue()
            tasks = [(u, bases[u.structure], md, str(parts), queue) for u in todo]
            # longest first: the periodic structures with many k-points
            tasks.sort(key=lambda t: -len(t[1]) * np.prod(STRUCTURES[t[0].structure][1]) * t[0].n)
            if workers <= 1:
                for task in tasks:
                    results.append(_worker(task))
                    while not queue.empty():
                        bar.update(queue.get())
            else:
                with ctx.Pool(workers) as pool:
                    pending = pool.map_async(_worker, tasks, chunksize=1)
                    while not pending.ready():
                        pending.wait(0.5)
                        while not queue.empty():
                            bar.update(queue.get())
                    results = pending.get()
                while not queue.empty():
                    bar.update(queue.get())
    bar.close()
    for r in results:
        timing["md_s"] += r["md_s"]
        timing["dos_s"] += r["dos_s"]
        timing["write_s"] += r["write_s"]

    # merge the parts in canonical order
    t3 = time.perf_counter()
    atoms, doses, fermis, bands = [], [], [], []
    for u in units:
        part = _read_part(parts, u)
        if part is None:
            raise EquisymError(f"{parts / u.name}.npz could not be read back after it was written; rerun the same command")
        snaps, arrays = part
        atoms += snaps
        doses.append(arrays["atom_dos"])
        fermis.append(arrays["fermi_level"])
        bands.append(arrays["band_energy"])
    counts = np.array([len(a) for a in atoms])
    data = CarbonDOSData(
        atoms=atoms,
        energies=dos_grid(),
        atom_dos=np.concatenate(doses),
        atom_offset=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        fermi_level=np.concatenate(fermis),
        band_energy=np.concatenate(bands),
        attrs={"energy_shift": ENERGY_SHIFT, "smearing": SMEARING, "n_electrons_per_atom": 4, "grid_start": GRID_START, "grid_step": GRID_STEP, "grid_size": GRID_SIZE, "tight_binding": "Xu-Wang-Chan-Ho 1992 sp3", "md_potential": "Tersoff 1989 carbon"},
    )
    write_carbon_dos(out, data)
    timing["merge_s"] = time.perf_counter() - t3
    timing["wall_s"] = time.perf_counter() - t_start
    timing["snapshots"] = len(atoms)
    timing["snapshots_computed_now"] = sum(r["snapshots"] for r in results)
    timing["workers"] = workers
    timing["per_unit"] = results
    write_text_atomic(out / "timing.json", json.dumps(timing, indent=2))
    return timing


def add_generate_parser(subparsers) -> None:
    """``equisym generate carbon-dos``."""
    parser = subparsers.add_parser(
        "carbon-dos",
        help="generate the carbon-allotrope DOS data set (tight binding on Tersoff MD snapshots)",
        description="Relax the 8 carbon allotropes of CSGNN, sample MD snapshots at 300 K and 600 K, and compute "
        "atom-projected tight-binding DOS on the CSGNN grid. Resumable: rerun the same command to continue.",
    )
    parser.add_argument("--out", required=True, help="output folder (structures.extxyz, dos.h5)")
    parser.add_argument("--snapshots", type=int, default=200, help="train+val snapshots per structure (default 200; 80/20 split)")
    parser.add_argument("--test", type=int, default=None, help="test snapshots per structure (default snapshots/10 = 20)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="data-set seed")
    parser.add_argument("--md-interval", type=int, default=50, help="MD steps (1 fs) between snapshots (default 50)")
    parser.add_argument("--md-equilibration", type=int, default=1000, help="MD steps before the first snapshot (default 1000)")
    parser.add_argument("--structures", default=None, help=f"comma-separated subset of {','.join(STRUCTURES)} (default all)")
    parser.add_argument("--overwrite", action="store_true", help="replace a data set already in --out")
    parser.set_defaults(run=_generate)


def _generate(args) -> None:
    timing = generate_carbon_dos(
        args.out, snapshots=args.snapshots, test=args.test, workers=args.workers, seed=args.seed,
        md={"interval": args.md_interval, "equilibration": args.md_equilibration},
        structures=[s.strip() for s in args.structures.split(",")] if args.structures else None,
        overwrite=args.overwrite,
    )
    print(f"wrote {timing['snapshots']} snapshots to {args.out} in {timing['wall_s']:.1f} s "
          f"(structures {timing['structures_s']:.1f} s, MD {timing['md_s']:.1f} s, DOS {timing['dos_s']:.1f} s of worker time)")
