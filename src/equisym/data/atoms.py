"""Atomistic data: structures with energies and forces read with ASE (extended XYZ).

- Energies are read from ``atoms.info[energy_key]`` (or from the single-point calculator ASE
  attaches when reading extxyz), forces from ``atoms.arrays[forces_key]``; the key names are
  configurable and the units explicit (``energy_unit``, ``length_unit``), converted on reading
  to eV and Å (forces to eV/Å).
- Neighbour lists are periodic (vesin, through :func:`equisym.geometry.graph.build_graph`);
  each structure's graph is built once.
- Batches are packed (:func:`equisym.geometry.graph.batch_graphs`): atoms of all structures
  of a batch are concatenated, no padding atoms.
- Per-species baseline energies ("self contributions") are fitted on the training set by
  linear least squares of the energy on the composition.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from equisym.data.loading import loader_workers
from equisym.errors import EquisymError
from equisym.geometry.graph import AtomicGraph, batch_graphs, build_graph

__all__ = [
    "ENERGY_UNITS",
    "LENGTH_UNITS",
    "AtomsDataConfig",
    "Structure",
    "read_structures",
    "structures_from_atoms",
    "graph_from_atoms",
    "fit_baseline",
    "AtomsDataset",
    "collate_atoms",
    "AtomsDataModule",
]

#: Factors converting an energy in the given unit to eV.
ENERGY_UNITS = {
    "eV": 1.0,
    "meV": 1e-3,
    "Hartree": 27.211386245988,
    "Ha": 27.211386245988,
    "Ry": 13.605693122994,
    "kcal/mol": 0.0433641043,
    "kJ/mol": 0.0103642688,
}
#: Factors converting a length in the given unit to Å.
LENGTH_UNITS = {"angstrom": 1.0, "Å": 1.0, "A": 1.0, "bohr": 0.529177210903, "nm": 10.0}


@dataclass
class AtomsDataConfig:
    """Atomistic structures with energy and force labels (extxyz files readable by ASE)."""

    train: str = ""
    """Training structures (extxyz file)."""
    val: str | None = None
    """Validation structures; if None, ``val_fraction`` of ``train`` is held out."""
    test: str | None = None
    """Test structures; if None, the test metrics use the validation set."""
    val_fraction: float = 0.1
    """Fraction of ``train`` held out for validation when ``val`` is not given."""
    split_seed: int = 0
    """Seed of the validation hold-out."""
    max_train: int | None = None
    """Use only the first N training structures (learning curves, quick tests)."""
    energy_key: str = "energy"
    """Name of the energy in ``atoms.info``."""
    forces_key: str | None = "forces"
    """Name of the forces in ``atoms.arrays``; None: energy-only training."""
    energy_unit: str = "eV"
    """Unit of the stored energies (eV, meV, Hartree, Ry, kcal/mol, kJ/mol)."""
    length_unit: str = "angstrom"
    """Unit of positions and cell (angstrom, bohr, nm); forces are energy_unit/length_unit."""
    batch_size: int = 16
    """Structures per training batch."""
    eval_batch_size: int = 50
    """Structures per validation/test batch."""
    num_workers: int = 0
    """Data-loader worker processes (graphs are precomputed, so 0 is usually fastest)."""

    def validate(self) -> None:
        if self.energy_unit not in ENERGY_UNITS:
            raise EquisymError(f"data.energy_unit = {self.energy_unit!r}; choose one of {', '.join(ENERGY_UNITS)}")
        if self.length_unit not in LENGTH_UNITS:
            raise EquisymError(f"data.length_unit = {self.length_unit!r}; choose one of {', '.join(LENGTH_UNITS)}")
        if not 0.0 < self.val_fraction < 1.0:
            raise EquisymError(f"data.val_fraction must be in (0, 1), got {self.val_fraction}")


@dataclass
class Structure:
    """One labelled structure, in eV and Å.

    Shapes: positions ``(n, 3)`` Å, numbers ``(n,)``, cell ``(3, 3)`` Å (rows), pbc ``(3,)``,
    energy scalar eV (NaN if absent), forces ``(n, 3)`` eV/Å or None.
    """

    positions: np.ndarray
    numbers: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    energy: float
    forces: np.ndarray | None


def _energy_of(atoms, key: str, where: str) -> float:
    if key in atoms.info:
        return float(atoms.info[key])
    calc = getattr(atoms, "calc", None)
    results = getattr(calc, "results", {}) if calc is not None else {}
    if key in results:
        return float(results[key])
    raise EquisymError(
        f"{where}: no energy under the key '{key}' (info keys: {sorted(atoms.info)}, "
        f"calculator results: {sorted(results)}); set data.energy_key"
    )


def _forces_of(atoms, key: str, where: str) -> np.ndarray:
    if key in atoms.arrays:
        return np.asarray(atoms.arrays[key], dtype=np.float64)
    calc = getattr(atoms, "calc", None)
    results = getattr(calc, "results", {}) if calc is not None else {}
    if key in results:
        return np.asarray(results[key], dtype=np.float64)
    raise EquisymError(
        f"{where}: no forces under the key '{key}' (per-atom arrays: {sorted(atoms.arrays)}, "
        f"calculator results: {sorted(results)}); set data.forces_key (or null for energy-only)"
    )


def structures_from_atoms(
    frames: Sequence,
    energy_key: str | None = "energy",
    forces_key: str | None = "forces",
    energy_unit: str = "eV",
    length_unit: str = "angstrom",
    name: str = "structures",
) -> list[Structure]:
    """Convert ``ase.Atoms`` objects into :class:`Structure` (eV, Å, eV/Å)."""
    if energy_unit not in ENERGY_UNITS:
        raise EquisymError(f"unknown energy unit {energy_unit!r}; choose one of {', '.join(ENERGY_UNITS)}")
    if length_unit not in LENGTH_UNITS:
        raise EquisymError(f"unknown length unit {length_unit!r}; choose one of {', '.join(LENGTH_UNITS)}")
    fe, fl = ENERGY_UNITS[energy_unit], LENGTH_UNITS[length_unit]
    out = []
    for k, atoms in enumerate(frames):
        where = f"{name}[{k}]"
        energy = _energy_of(atoms, energy_key, where) * fe if energy_key else float("nan")
        forces = _forces_of(atoms, forces_key, where) * (fe / fl) if forces_key else None
        if forces is not None and forces.shape != (len(atoms), 3):
            raise EquisymError(f"{where}: forces have shape {forces.shape}, expected ({len(atoms)}, 3)")
        if energy_key and not np.isfinite(energy):
            raise EquisymError(f"{where}: the energy is {energy}")
        if forces is not None and not np.isfinite(forces).all():
            raise EquisymError(f"{where}: some forces are not finite")
        out.append(
            Structure(
                positions=np.asarray(atoms.positions, dtype=np.float64) * fl,
                numbers=np.asarray(atoms.numbers, dtype=np.int64),
                cell=np.asarray(atoms.cell.array, dtype=np.float64) * fl,
                pbc=np.asarray(atoms.pbc, dtype=bool),
                energy=energy,
                forces=forces,
            )
        )
    return out


def read_structures(
    path: str | os.PathLike,
    energy_key: str | None = "energy",
    forces_key: str | None = "forces",
    energy_unit: str = "eV",
    length_unit: str = "angstrom",
    index: str = ":",
) -> list[Structure]:
    """Read every frame of an ASE-readable file (extxyz, ...) as :class:`Structure` (eV, Å).

    Raises:
        EquisymError: missing file, unreadable file, missing labels, bad units.
    """
    import ase.io

    path = os.fspath(path)
    if not os.path.exists(path):
        raise EquisymError(f"structure file not found: {path}")
    try:
        frames = ase.io.read(path, index)
    except Exception as err:  # noqa: BLE001 - any parse failure is a bad file
        raise EquisymError(f"cannot read structures from {path}: {err}") from None
    if not isinstance(frames, list):
        frames = [frames]
    if not frames:
        raise EquisymError(f"{path} holds no structures")
    return structures_from_atoms(frames, energy_key, forces_key, energy_unit, length_unit, name=os.path.basename(path))


def graph_from_atoms(atoms_list, cutoff: float, dtype: torch.dtype | None = None) -> AtomicGraph:
    """One packed :class:`AtomicGraph` from an ``ase.Atoms`` or a list of them (Å)."""
    if not isinstance(atoms_list, (list, tuple)):
        atoms_list = [atoms_list]
    graphs = [
        build_graph(a.positions, a.numbers, a.cell.array, a.pbc, cutoff, dtype=dtype, name=f"structure {k}")
        for k, a in enumerate(atoms_list)
    ]
    return batch_graphs(graphs)


def fit_baseline(structures: Sequence[Structure], species: Sequence[int], ridge: float = 1e-10) -> np.ndarray:
    """Per-species baseline energies (eV) fitted on the composition by least squares.

    Solves ``min_b Σ_s (E_s − Σ_Z n_{s,Z} b_Z)² + ridge |b|²`` (no intercept).

    Returns:
        ``(len(species),)`` baseline energy per species, in the order of ``species``.
    """
    index = {z: k for k, z in enumerate(species)}
    counts = np.zeros((len(structures), len(species)))
    energies = np.array([s.energy for s in structures])
    for row, s in enumerate(structures):
        for z in s.numbers:
            counts[row, index[int(z)]] += 1
    a = counts.T @ counts + ridge * np.eye(len(species))
    return np.linalg.solve(a, counts.T @ energies)


class AtomsDataset(Dataset):
    """Structures with precomputed neighbour graphs; items are dicts of tensors.

    Each item: ``graph`` (:class:`AtomicGraph` of one structure), ``energy`` ``(1,)`` eV,
    ``forces`` ``(n, 3)`` eV/Å (NaN-free; zeros with ``has_forces`` False when absent).
    """

    def __init__(self, structures: Sequence[Structure], cutoff: float, dtype: torch.dtype = torch.float32, name: str = "data") -> None:
        self.structures = list(structures)
        self.items = []
        for k, s in enumerate(self.structures):
            g = build_graph(s.positions, s.numbers, s.cell, s.pbc, cutoff, dtype=dtype, name=f"{name}[{k}]")
            forces = torch.zeros(len(s.numbers), 3, dtype=dtype) if s.forces is None else torch.as_tensor(s.forces, dtype=dtype)
            self.items.append(
                {
                    "graph": g,
                    "energy": torch.tensor([s.energy], dtype=dtype),
                    "forces": forces,
                    "has_forces": s.forces is not None,
                }
            )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]

    def species(self) -> set[int]:
        return {int(z) for s in self.structures for z in s.numbers}


def collate_atoms(items: list[dict]) -> dict:
    """Pack items of :class:`AtomsDataset` into one batch (no padding atoms).

    Returns ``{"graph": AtomicGraph, "energy": (S,), "forces": (N, 3), "has_forces": bool}``.
    """
    return {
        "graph": batch_graphs([it["graph"] for it in items]),
        "energy": torch.cat([it["energy"] for it in items]),
        "forces": torch.cat([it["forces"] for it in items]),
        "has_forces": all(it["has_forces"] for it in items),
    }


class AtomsDataModule(L.LightningDataModule):
    """Train/val/test structures for the ``potential`` task.

    Args:
        cfg: the data section.
        cutoff: neighbour-list radius of the model (Å).
        species: atomic numbers known to the model; other species are an error.
        dtype: float dtype of the graphs and labels.
    """

    def __init__(self, cfg: AtomsDataConfig, cutoff: float, species: Sequence[int], dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.cfg, self.cutoff, self.species, self.dtype = cfg, float(cutoff), [int(z) for z in species], dtype
        self.train_set = self.val_set = self.test_set = None
        self.baseline: np.ndarray | None = None

    def _read(self, path: str) -> list[Structure]:
        c = self.cfg
        return read_structures(path, c.energy_key, c.forces_key, c.energy_unit, c.length_unit)

    def _check_species(self, structures: list[Structure], where: str) -> None:
        present = {int(z) for s in structures for z in s.numbers}
        unknown = sorted(present - set(self.species))
        if unknown:
            raise EquisymError(
                f"{where} contains species {unknown} that the model does not know (model.species = {self.species}); "
                "add them to model.species"
            )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        c = self.cfg
        if not c.train:
            raise EquisymError("data.train must name a structure file (extxyz)")
        train = self._read(c.train)
        if c.val:
            val = self._read(c.val)
        else:
            order = np.random.default_rng(c.split_seed).permutation(len(train))
            n_val = max(1, int(round(c.val_fraction * len(train))))
            val = [train[k] for k in order[:n_val]]
            train = [train[k] for k in order[n_val:]]
        if c.max_train is not None:
            train = train[: c.max_train]
        test = self._read(c.test) if c.test else None
        for structures, where in ((train, c.train), (val, c.val or "validation split"), (test or [], c.test)):
            self._check_species(structures, where)
        self.baseline = fit_baseline(train, self.species)
        self.train_set = AtomsDataset(train, self.cutoff, self.dtype, "train")
        self.val_set = AtomsDataset(val, self.cutoff, self.dtype, "val")
        self.test_set = AtomsDataset(test, self.cutoff, self.dtype, "test") if test is not None else self.val_set

    def dataset_from_file(self, path: str) -> AtomsDataset:
        """Another labelled file, with the same keys, units and cutoff (for ``equisym eval --data``)."""
        structures = self._read(path)
        self._check_species(structures, path)
        return AtomsDataset(structures, self.cutoff, self.dtype, os.path.basename(path))

    def loader(self, dataset: AtomsDataset, batch_size: int, shuffle: bool = False) -> DataLoader:
        return DataLoader(
            dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_atoms, **loader_workers(self.cfg.num_workers)
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.train_set, self.cfg.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.val_set, self.cfg.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.test_set, self.cfg.eval_batch_size)
