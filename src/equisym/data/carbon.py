"""Carbon-allotrope DOS data set: structures, thermal snapshots, tight-binding DOS, files.

A locally generated stand-in for the DFT data of del Rio et al. (2020) used by CSGNN: the
eight allotropes with the paper's atom counts,

=========  =====  ==========================================  ===========
name       atoms  built from                                   k-points
=========  =====  ==========================================  ===========
graphene   128    8×8 graphene sheet (periodic in x, y)         3×3×1
graphite   108    3×3×3 AB (Bernal) graphite, c = 6.70 Å        3×3×1
C20        20     buckygen fullerene (the only C20 cage)        Γ
C40        40     buckygen fullerene (see :func:`fullerene`)    Γ
C60        60     buckygen-equivalent Ih C60 (``ase.build``)    Γ
CNT64      152    (6,4) nanotube, one translational cell        1×1×4
CNT99      144    (9,9) nanotube, 4 cells                       1×1×6
CNT80      128    (8,0) nanotube, 4 cells                       1×1×4
=========  =====  ==========================================  ===========

Each structure is relaxed with the Tersoff (1989) carbon potential (periodic cells: the
lattice constant along the periodic directions is optimised too, except graphite's c, since
Tersoff has no interlayer binding), then thermal snapshots are drawn from Langevin molecular
dynamics with the same potential at 300 K and 600 K. Snapshot DOS: Xu-Wang-Chan-Ho tight
binding (:class:`equisym.physics.CarbonTightBinding`), atom-projected, Gaussian-smeared on the
CSGNN grid after the global shift :data:`equisym.physics.ENERGY_SHIFT`.

Splits (paper layout): per structure and temperature one trajectory gives the train/val
snapshots (80 % / 20 %, assigned at random), a second, independent trajectory (other
velocities and noise) gives the test snapshots. Default: 100 train/val + 10 test per
structure and temperature → 8 × 2 × 110 = 1 760 snapshots.

Files written by ``equisym generate carbon-dos --out DIR`` (read with :func:`load_carbon_dos`):

- ``DIR/structures.extxyz``: all snapshots (ASE extxyz); ``info`` keys ``structure`` (name),
  ``temperature`` (K), ``split`` (``train``/``val``/``test``), ``snapshot`` (int, index along
  the (structure, temperature) trajectories; test snapshots continue after train/val).
- ``DIR/dos.h5``: ``energies (310,)`` float64 eV (grid after the shift), ``atom_dos
  (total_atoms, 310)`` float32 states/eV per atom incl. spin, ``atom_offset (n+1,)`` int64
  (snapshot k owns rows ``atom_offset[k]:atom_offset[k+1]``, same atom order as the extxyz),
  ``fermi_level (n,)`` eV, ``band_energy (n,)`` eV/atom; attributes ``energy_shift``,
  ``smearing``, ``n_electrons_per_atom`` (4), ``grid_start``, ``grid_step``, ``grid_size``.
  Fermi level and band energy are computed with :func:`equisym.physics.band_energy` from the
  stored (float32) per-atom DOS averaged over the atoms, with 4 electrons per atom:
  ``E_band = ∫_{-∞}^{E_F} E · DOS(E) dE / N_atoms``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from equisym.errors import EquisymError

__all__ = [
    "STRUCTURES",
    "TEMPERATURES",
    "CarbonDOSData",
    "load_carbon_dos",
    "write_carbon_dos",
    "build_structure",
    "fullerene",
    "buckygen_graphs",
    "snapshot_dos",
    "run_md",
    "generate_carbon_dos",
]

#: name → (atom count, k-point grid for the DOS)
STRUCTURES: dict[str, tuple[int, tuple[int, int, int]]] = {
    "graphene": (128, (3, 3, 1)),
    "graphite": (108, (3, 3, 1)),
    "C20": (20, (1, 1, 1)),
    "C40": (40, (1, 1, 1)),
    "C60": (60, (1, 1, 1)),
    "CNT64": (152, (1, 1, 4)),
    "CNT99": (144, (1, 1, 6)),
    "CNT80": (128, (1, 1, 4)),
}
TEMPERATURES = (300, 600)
SPLITS = ("train", "val", "test")


# =====================================================================================
# reader / writer
# =====================================================================================
@dataclass
class CarbonDOSData:
    """The carbon DOS data set in memory.

    Attributes:
        atoms: ``n`` snapshots (``ase.Atoms``; ``info`` has structure, temperature, split, snapshot).
        energies: ``(G,)`` eV, the grid (after the global shift).
        atom_dos: ``(total_atoms, G)`` float32, states/eV per atom incl. spin.
        atom_offset: ``(n + 1,)`` int64; snapshot k owns rows ``atom_offset[k]:atom_offset[k+1]``.
        fermi_level: ``(n,)`` eV. band_energy: ``(n,)`` eV/atom.
        structure, split: ``(n,)`` str arrays; temperature, snapshot: ``(n,)`` int arrays.
        attrs: the file attributes (energy_shift, smearing, n_electrons_per_atom, grid_*).
    """

    atoms: list
    energies: np.ndarray
    atom_dos: np.ndarray
    atom_offset: np.ndarray
    fermi_level: np.ndarray
    band_energy: np.ndarray
    attrs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.structure = np.array([a.info.get("structure", "") for a in self.atoms])
        self.temperature = np.array([int(a.info.get("temperature", 0)) for a in self.atoms])
        self.split_name = np.array([a.info.get("split", "") for a in self.atoms])
        self.snapshot = np.array([int(a.info.get("snapshot", -1)) for a in self.atoms])

    def __len__(self) -> int:
        return len(self.atoms)

    def dos_of(self, k: int) -> np.ndarray:
        """Per-atom DOS of snapshot ``k``, ``(n_atoms_k, G)``."""
        return self.atom_dos[self.atom_offset[k] : self.atom_offset[k + 1]]

    def mean_dos(self, k: int) -> np.ndarray:
        """Structure DOS per atom (mean over its atoms), ``(G,)``, states/eV/atom."""
        return self.dos_of(k).astype(np.float64).mean(axis=0)

    def subset(self, indices) -> "CarbonDOSData":
        """A new data set with the snapshots ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64)
        counts = np.diff(self.atom_offset)[idx]
        rows = np.concatenate([np.arange(self.atom_offset[k], self.atom_offset[k + 1]) for k in idx]) if len(idx) else np.zeros(0, np.int64)
        return CarbonDOSData(
            atoms=[self.atoms[k] for k in idx],
            energies=self.energies,
            atom_dos=self.atom_dos[rows],
            atom_offset=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            fermi_level=self.fermi_level[idx],
            band_energy=self.band_energy[idx],
            attrs=dict(self.attrs),
        )

    def split(self, name: str) -> "CarbonDOSData":
        """The snapshots of one split (``train``, ``val`` or ``test``)."""
        if name not in SPLITS:
            raise EquisymError(f"unknown split {name!r}; choose one of {list(SPLITS)}")
        return self.subset(np.nonzero(self.split_name == name)[0])


def _grid_attrs() -> dict:
    from equisym.physics import dos

    return {"grid_start": dos.GRID_START, "grid_step": dos.GRID_STEP, "grid_size": dos.GRID_SIZE}


def write_carbon_dos(directory, data: CarbonDOSData) -> None:
    """Write ``structures.extxyz`` and ``dos.h5`` (the format of this module's docstring)."""
    import ase.io
    import h5py

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ase.io.write(directory / "structures.extxyz", data.atoms, format="extxyz")
    with h5py.File(directory / "dos.h5", "w") as f:
        f.create_dataset("energies", data=np.asarray(data.energies, dtype=np.float64))
        f.create_dataset("atom_dos", data=np.asarray(data.atom_dos, dtype=np.float32), compression="gzip", compression_opts=4, shuffle=True, chunks=(min(4096, max(1, len(data.atom_dos))), len(data.energies)))
        f.create_dataset("atom_offset", data=np.asarray(data.atom_offset, dtype=np.int64))
        f.create_dataset("fermi_level", data=np.asarray(data.fermi_level, dtype=np.float64))
        f.create_dataset("band_energy", data=np.asarray(data.band_energy, dtype=np.float64))
        for key, value in data.attrs.items():
            f.attrs[key] = value


def load_carbon_dos(directory) -> CarbonDOSData:
    """Read a data set written by ``equisym generate carbon-dos``.

    Args:
        directory: folder with ``structures.extxyz`` and ``dos.h5``.

    Returns:
        A :class:`CarbonDOSData`.

    Raises:
        EquisymError: missing files, a grid other than the CSGNN grid (310 points of 0.1 eV
            from −30 eV), or inconsistent array sizes.
    """
    import ase.io
    import h5py

    directory = Path(directory)
    xyz, h5 = directory / "structures.extxyz", directory / "dos.h5"
    for path in (xyz, h5):
        if not path.is_file():
            raise EquisymError(f"carbon DOS data: {path} not found (generate it with `equisym generate carbon-dos --out {directory}`)")
    try:
        with h5py.File(h5, "r") as f:
            missing = [k for k in ("energies", "atom_dos", "atom_offset", "fermi_level", "band_energy") if k not in f]
            if missing:
                raise EquisymError(f"{h5}: missing dataset(s) {missing}")
            attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
            energies = f["energies"][()]
            atom_dos = f["atom_dos"][()]
            offset = f["atom_offset"][()].astype(np.int64)
            fermi = f["fermi_level"][()]
            band = f["band_energy"][()]
    except OSError as err:
        raise EquisymError(f"{h5}: not a readable HDF5 file ({err})") from err
    expected = _grid_attrs()
    grid = expected["grid_start"] + expected["grid_step"] * np.arange(expected["grid_size"])
    for key, value in expected.items():
        if key not in attrs or not np.isclose(float(attrs[key]), value):
            raise EquisymError(
                f"{h5}: wrong energy grid: {key} = {attrs.get(key)!r}, expected {value} "
                f"({expected['grid_size']} points of {expected['grid_step']} eV from {expected['grid_start']} eV)"
            )
    if energies.shape != grid.shape or not np.allclose(energies, grid, atol=1e-6):
        raise EquisymError(f"{h5}: wrong energy grid: 'energies' has shape {energies.shape} or values other than {grid[0]} … {grid[-1]} eV")
    if atom_dos.ndim != 2 or atom_dos.shape[1] != len(grid):
        raise EquisymError(f"{h5}: atom_dos has shape {atom_dos.shape}, expected (total_atoms, {len(grid)})")
    atoms = ase.io.read(xyz, index=":", format="extxyz")
    n = len(atoms)
    if offset.shape != (n + 1,) or fermi.shape != (n,) or band.shape != (n,):
        raise EquisymError(f"{directory}: {n} structures in the extxyz but arrays for {len(offset) - 1} snapshots in dos.h5")
    counts = np.array([len(a) for a in atoms])
    if offset[0] != 0 or not np.array_equal(np.diff(offset), counts) or offset[-1] != len(atom_dos):
        raise EquisymError(f"{h5}: atom_offset does not match the atom counts of structures.extxyz")
    return CarbonDOSData(atoms, energies, atom_dos, offset, fermi, band, attrs)


# =====================================================================================
# structures
# =====================================================================================
def _buckygen_binary() -> str:
    try:
        import sage_wheels
    except ImportError as err:
        raise EquisymError("the fullerene builder needs buckygen: pip install passagemath-buckygen") from err
    for base in sage_wheels.__path__:
        path = os.path.join(base, "bin", "buckygen")
        if os.path.isfile(path):
            return path
    raise EquisymError("buckygen binary not found in the passagemath-buckygen package")


def _parse_planar_code(blob: bytes) -> list[list[list[int]]]:
    """planar_code → per graph, per vertex the clockwise list of neighbours (0-based)."""
    header = b">>planar_code<<"
    pos = len(header) if blob.startswith(header) else 0
    graphs = []
    while pos < len(blob):
        n = blob[pos]
        pos += 1
        if n == 0:
            raise EquisymError("planar_code with 2-byte entries is not supported (more than 255 vertices)")
        adj = []
        for _ in range(n):
            nb = []
            while blob[pos] != 0:
                nb.append(blob[pos] - 1)
                pos += 1
            pos += 1
            adj.append(nb)
        graphs.append(adj)
    return graphs


def buckygen_graphs(n_atoms: int) -> list[list[list[int]]]:
    """All fullerene isomers C_n as planar graphs (clockwise neighbour lists), from buckygen.

    buckygen's size argument counts faces (``n/2 + 2``), not atoms.
    """
    if n_atoms < 20 or n_atoms % 2 or n_atoms == 22:
        raise EquisymError(f"no fullerene C{n_atoms}: n must be even, ≥ 20 and ≠ 22")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cages.pc")
        subprocess.run([_buckygen_binary(), "-d", str(n_atoms // 2 + 2), out], check=True, capture_output=True)
        return _parse_planar_code(Path(out).read_bytes())


def _faces(adj: list[list[int]]) -> list[list[int]]:
    """Faces of a plane graph given clockwise rotations."""
    seen = set()
    faces = []
    for u in range(len(adj)):
        for v in adj[u]:
            if (u, v) in seen:
                continue
            face, a, b = [], u, v
            while (a, b) not in seen:
                seen.add((a, b))
                face.append(a)
                nb = adj[b]
                c = nb[(nb.index(a) - 1) % len(nb)]  # next edge around the face
                a, b = b, c
            faces.append(face)
    return faces


def _pentagon_adjacency(adj) -> int:
    faces = [f for f in _faces(adj) if len(f) == 5]
    edges = [{frozenset((f[k], f[(k + 1) % 5])) for k in range(5)} for f in faces]
    return sum(len(edges[a] & edges[b]) for a in range(len(faces)) for b in range(a + 1, len(faces)))


def _embed(adj, bond: float = 1.42) -> np.ndarray:
    """Topological coordinates: adjacency eigenvectors 2–4, scaled to the mean bond."""
    n = len(adj)
    A = np.zeros((n, n))
    for u, nb in enumerate(adj):
        A[u, nb] = 1.0
    w, v = np.linalg.eigh(A)
    xyz = v[:, -4:-1][:, ::-1].copy()
    edges = np.array([(u, x) for u, nb in enumerate(adj) for x in nb if u < x])
    xyz *= bond / np.linalg.norm(xyz[edges[:, 0]] - xyz[edges[:, 1]], axis=1).mean()
    return xyz - xyz.mean(axis=0)


def _relax(atoms, fmax: float = 0.01, steps: int = 2000):
    from ase.optimize import BFGS

    from equisym.physics.tersoff import TersoffCarbon

    atoms.calc = TersoffCarbon()
    BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps)
    return atoms


def fullerene(n_atoms: int, vacuum: float = 6.0):
    """A relaxed fullerene cage C_n (Tersoff), built from buckygen graphs.

    Of all isomers, those with the fewest pentagon–pentagon edges are embedded by topological
    coordinates and relaxed; the one of lowest Tersoff energy is returned (C20: the single
    cage; C40: one of the two isomers with 10 pentagon adjacencies, D2 or D5d).
    """
    from ase import Atoms

    graphs = buckygen_graphs(n_atoms)
    adjacency = [_pentagon_adjacency(g) for g in graphs]
    best = min(adjacency)
    candidates = [g for g, a in zip(graphs, adjacency) if a == best]
    results = []
    for g in candidates:
        atoms = Atoms(f"C{n_atoms}", positions=_embed(g))
        _relax(atoms)
        results.append((atoms.get_potential_energy(), atoms))
    atoms = min(results, key=lambda t: t[0])[1]
    atoms.calc = None
    atoms.center(vacuum=vacuum)
    atoms.pbc = False
    return atoms


def _scan_periodic(atoms, axes: list[int]):
    """Relax positions and the lattice scale along ``axes`` (one common factor) with Tersoff."""
    from scipy.optimize import minimize_scalar

    ref_cell = atoms.cell.array.copy()
    ref_pos = atoms.get_scaled_positions()

    def energy(scale):
        a = atoms.copy()
        cell = ref_cell.copy()
        cell[axes] *= scale
        a.set_cell(cell)
        a.set_scaled_positions(ref_pos)
        _relax(a, fmax=0.02, steps=300)
        return a.get_potential_energy(), a

    res = minimize_scalar(lambda s: energy(s)[0], bounds=(0.97, 1.06), method="bounded", options={"xatol": 1e-4})
    relaxed = energy(res.x)[1]
    _relax(relaxed, fmax=0.005)
    relaxed.calc = None
    return relaxed


def build_structure(name: str):
    """One of :data:`STRUCTURES`, relaxed with the Tersoff potential (``ase.Atoms``)."""
    from ase import Atoms
    from ase.build import graphene, molecule, nanotube

    if name not in STRUCTURES:
        raise EquisymError(f"unknown carbon structure {name!r}; choose one of {list(STRUCTURES)}")
    if name == "graphene":
        atoms = _scan_periodic(graphene(a=2.46, vacuum=8.0).repeat((8, 8, 1)), [0, 1])
    elif name == "graphite":
        a, c = 2.46, 6.70
        cell = [[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]]
        unit = Atoms("C4", scaled_positions=[(0, 0, 0.25), (0, 0, 0.75), (1 / 3, 2 / 3, 0.25), (2 / 3, 1 / 3, 0.75)], cell=cell, pbc=True)
        atoms = _scan_periodic(unit.repeat((3, 3, 3)), [0, 1])
    elif name in ("C20", "C40"):
        atoms = fullerene(int(name[1:]))
    elif name == "C60":
        atoms = _relax(molecule("C60"))
        atoms.calc = None
        atoms.center(vacuum=6.0)
        atoms.pbc = False
    else:
        n, m = int(name[3]), int(name[4])
        length = {"CNT64": 1, "CNT99": 4, "CNT80": 4}[name]
        atoms = _scan_periodic(nanotube(n, m, length=length, bond=1.42, vacuum=6.0), [2])
    assert len(atoms) == STRUCTURES[name][0], (name, len(atoms))
    atoms.info = {"structure": name}
    return atoms


class _FixGroupComs:
    """ASE constraint: fix the centre of mass of each atom group (e.g. each graphite layer).

    (``ase.constraints.FixSubsetCom`` shifts *all* atoms when restoring a subset's centre in
    ASE 3.29, so several of them interfere; this one moves each group on its own.)
    """

    def __init__(self, groups: list[np.ndarray]) -> None:
        self.groups = [np.asarray(g, dtype=np.int64) for g in groups]

    def get_removed_dof(self, atoms) -> int:
        return 3 * len(self.groups)

    def adjust_positions(self, atoms, new) -> None:
        m = atoms.get_masses()
        for g in self.groups:
            new[g] += (m[g] @ atoms.positions[g] - m[g] @ new[g]) / m[g].sum()

    def adjust_momenta(self, atoms, momenta) -> None:
        m = atoms.get_masses()
        for g in self.groups:
            momenta[g] -= m[g, None] * (momenta[g].sum(axis=0) / m[g].sum())

    def adjust_forces(self, atoms, forces) -> None:
        m = atoms.get_masses()
        for g in self.groups:
            forces[g] -= m[g, None] * ((m[g] @ forces[g]) / (m[g] ** 2).sum())

    def index_shuffle(self, atoms, ind):  # pragma: no cover - not used by MD
        raise NotImplementedError

    def copy(self):
        return _FixGroupComs(self.groups)

    def todict(self):
        return {"name": "FixCom", "kwargs": {}}


def _graphite_layers(atoms) -> list[np.ndarray]:
    z = atoms.positions[:, 2]
    levels = np.round(z / 0.5) * 0.5
    return [np.nonzero(levels == v)[0] for v in np.unique(levels)]


# =====================================================================================
# molecular dynamics and DOS
# =====================================================================================
def run_md(atoms, temperature: float, n_snapshots: int, seed: int, timestep: float = 1.0, equilibration: int = 1000, interval: int = 50, friction: float = 0.01):
    """Langevin MD with the Tersoff potential; returns ``n_snapshots`` copies of the atoms.

    Args:
        atoms: relaxed starting structure (not modified).
        temperature: K. seed: random seed of velocities and noise.
        timestep: fs. equilibration: steps before the first snapshot.
        interval: steps between snapshots. friction: 1/fs (Langevin coupling).

    Graphite layers keep their centres of mass (Tersoff does not bind them, so they would
    drift); for other structures the total centre of mass is fixed.
    """
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation

    from equisym.physics.tersoff import TersoffCarbon

    a = atoms.copy()
    if atoms.info.get("structure") == "graphite":
        a.set_constraint(_FixGroupComs(_graphite_layers(a)))
    else:
        a.set_constraint(FixCom())
    a.calc = TersoffCarbon()
    rng = np.random.default_rng(seed)
    try:  # ASE ≥ 3.29 renamed MaxwellBoltzmannDistribution
        from ase.md.velocitydistribution import thermalize_momenta

        thermalize_momenta(a, temperature_K=temperature, rng=rng)
    except ImportError:
        MaxwellBoltzmannDistribution(a, temperature_K=temperature, rng=rng)
    Stationary(a)
    if not a.pbc.any():
        ZeroRotation(a)
    dyn = Langevin(a, timestep=timestep * units.fs, temperature_K=temperature, friction=friction / units.fs, rng=rng, fixcm=False, logfile=None)
    dyn.run(equilibration)
    out = []
    for _ in range(n_snapshots):
        dyn.run(interval)
        snap = a.copy()
        snap.set_constraint()
        snap.calc = None
        snap.arrays.pop("momenta", None)
        snap.info = {}
        out.append(snap)
    return out


def snapshot_dos(atoms, kpts, tb=None, smearing: float | None = None) -> tuple[np.ndarray, float, float]:
    """Atom-projected DOS of one snapshot on the shifted grid, with E_F and E_band.

    Returns:
        ``(atom_dos, fermi_level, band_energy)``: ``(N, 310)`` float32 states/eV per atom,
        eV, eV/atom.
    """
    from equisym.physics import ENERGY_SHIFT, SMEARING, CarbonTightBinding, band_energy, dos_grid, gaussian_dos

    tb = tb or CarbonTightBinding()
    sigma = SMEARING if smearing is None else smearing
    grid = dos_grid()
    res = tb.solve(atoms, kpts, projections=True)
    lowest = res.eigenvalues.min() + ENERGY_SHIFT
    if lowest < grid[0] + 5 * sigma:
        raise EquisymError(f"a state at {lowest:.2f} eV (shifted) falls below the DOS grid starting at {grid[0]} eV")
    dos = gaussian_dos(res.eigenvalues, res.weights, grid, sigma, atom_weights=res.atom_weights, shift=ENERGY_SHIFT).astype(np.float32)
    fermi, band = band_energy(grid, dos.astype(np.float64).mean(axis=0), 4.0)
    return dos, fermi, band


# =====================================================================================
# generator
# =====================================================================================
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


def generate_carbon_dos(out, snapshots: int = 200, test: int | None = None, workers: int = 2, seed: int = 0, md: dict | None = None, structures=None, progress: bool = True) -> dict:
    """Generate (or resume) the carbon DOS data set in ``out``.

    Args:
        out: output folder; partial results live in ``out/parts`` and are reused on resume.
        snapshots: train + val snapshots per structure (split evenly over 300 K / 600 K, 80/20).
        test: test snapshots per structure (default ``snapshots // 10``, at least 2).
        workers: parallel processes (one trajectory per task).
        seed: data-set seed (every trajectory's seed derives from it and its name).
        md: overrides of :func:`run_md` settings (timestep, equilibration, interval, friction).
        structures: names to generate (default all of :data:`STRUCTURES`).

    Returns:
        A timing summary (also written to ``out/timing.json``).
    """
    import multiprocessing as mp

    import ase.io
    from tqdm import tqdm

    from equisym.physics import ENERGY_SHIFT, SMEARING, dos_grid

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
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    settings = {"snapshots": snapshots, "test": test, "seed": seed, "md": md, "structures": structures, "energy_shift": ENERGY_SHIFT, "smearing": SMEARING}
    cfg = out / "settings.json"
    if cfg.exists() and json.loads(cfg.read_text()) != settings:
        raise EquisymError(f"{out} holds a generation with other settings ({cfg}); use a new --out folder or the same options")
    cfg.write_text(json.dumps(settings, indent=2))

    timing = {"structures_s": 0.0, "md_s": 0.0, "dos_s": 0.0, "write_s": 0.0}
    t_start = time.perf_counter()
    units = _plan(snapshots, test, seed, structures)
    todo = [u for u in units if not (parts / f"{u.name}.npz").exists()]
    t0 = time.perf_counter()
    bases = {}
    structures_file = parts / "relaxed.extxyz"
    if structures_file.exists():
        bases = {a.info["structure"]: a for a in ase.io.read(structures_file, ":")}
    needed = {u.structure for u in todo} - set(bases)
    for name in tqdm(sorted(needed), desc="relaxing structures", disable=not progress or not needed, unit="structure"):
        bases[name] = build_structure(name)
    if needed:  # written and read back, so that fresh and resumed runs start from identical numbers
        ase.io.write(structures_file, [bases[n] for n in STRUCTURES if n in bases], format="extxyz")
        bases = {a.info["structure"]: a for a in ase.io.read(structures_file, ":")}
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
        part = np.load(parts / f"{u.name}.npz")
        snaps = ase.io.read(parts / f"{u.name}.extxyz", ":", format="extxyz")
        if len(snaps) != u.n:
            raise EquisymError(f"{parts / u.name}.extxyz holds {len(snaps)} snapshots, expected {u.n}; delete it to regenerate")
        atoms += snaps
        doses.append(part["atom_dos"])
        fermis.append(part["fermi_level"])
        bands.append(part["band_energy"])
    counts = np.array([len(a) for a in atoms])
    from equisym.physics.dos import GRID_SIZE, GRID_START, GRID_STEP

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
    (out / "timing.json").write_text(json.dumps(timing, indent=2))
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
    parser.set_defaults(run=_generate)


def _generate(args) -> None:
    timing = generate_carbon_dos(
        args.out, snapshots=args.snapshots, test=args.test, workers=args.workers, seed=args.seed,
        md={"interval": args.md_interval, "equilibration": args.md_equilibration},
        structures=[s.strip() for s in args.structures.split(",")] if args.structures else None,
    )
    print(f"wrote {timing['snapshots']} snapshots to {args.out} in {timing['wall_s']:.1f} s "
          f"(structures {timing['structures_s']:.1f} s, MD {timing['md_s']:.1f} s, DOS {timing['dos_s']:.1f} s of worker time)")
