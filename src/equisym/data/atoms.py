"""Atomistic data: structures with energies and forces read with ASE (extended XYZ).

- Every label is looked up first in the structure's own data (``atoms.info`` for energies,
  stresses, virials and weights; ``atoms.arrays`` for forces), then in the calculator results
  (``atoms.calc.results``: the single-point calculator ASE attaches when an extxyz file stores
  ``energy``, ``forces`` or ``stress``). Key names are configurable and units explicit
  (``energy_unit``, ``length_unit``, ``stress_unit``), converted on reading to eV, Å, eV/Å and
  eV/Å³.
- Stress follows ASE's convention: ``σ = (1/V) ∂E/∂ε`` (eV/Å³; positive when the cell wants
  to shrink, i.e. under tension). A virial ``W = −∂E/∂ε`` (eV) is converted as ``σ = −W/V``.
- Species may be given as atomic numbers or chemical symbols (:func:`atomic_numbers`).
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

from equisym.data.atoms_labels import (
    ENERGY_UNITS,
    LENGTH_UNITS,
    STRESS_UNITS,
    Structure,
    atomic_numbers,
    read_structures,
    structures_from_atoms,
)
from equisym.data.loading import loader_workers
from equisym.errors import EquisymError
from equisym.geometry.graph import AtomicGraph, batch_graphs, build_graph

__all__ = [
    "ENERGY_UNITS",
    "LENGTH_UNITS",
    "STRESS_UNITS",
    "atomic_numbers",
    "AtomsDataConfig",
    "Structure",
    "read_structures",
    "structures_from_atoms",
    "graph_from_atoms",
    "fit_baseline",
    "composition",
    "atomic_energy_baseline",
    "split_structures",
    "AtomsDataset",
    "collate_atoms",
    "AtomsDataModule",
]

@dataclass
class AtomsDataConfig:
    """Atomistic structures with energy and force labels (extxyz files readable by ASE)."""

    train: str = ""
    """Training structures (extxyz file)."""
    val: str | None = None
    """Validation structures; if None, ``val_fraction`` of ``train`` is held out."""
    test: str | None = None
    """Test structures; if None, ``test_fraction`` of ``train`` is held out (with
    ``test_fraction: 0`` there is no test set and the final scores are labelled ``val``)."""
    val_fraction: float = 0.1
    """Fraction of ``train`` held out for validation when ``val`` is not given."""
    test_fraction: float = 0.0
    """Fraction of ``train`` held out for testing when ``test`` is not given (disjoint from the
    validation hold-out; ``val_fraction + test_fraction`` must be below 1)."""
    split_seed: int = 0
    """Seed of the hold-outs (one permutation of ``train``: test first, then validation)."""
    max_train: int | None = None
    """Use only the first N training structures (learning curves, quick tests)."""
    energy_key: str = "energy"
    """Name of the energy in ``atoms.info``."""
    forces_key: str | None = "forces"
    """Name of the forces in ``atoms.arrays``; None: energy-only training."""
    stress_key: str | None = None
    """Name of the stress (``info``, else calculator results; 6 Voigt ``xx yy zz yz xz xy``,
    9 or 3×3 values; ASE sign convention); periodic structures only."""
    virial_key: str | None = None
    """Name of the virial ``W = −∂E/∂ε`` in ``info`` (energy_unit; 6, 9 or 3×3 values),
    converted to stress ``−W/V``; alternative to ``stress_key``."""
    stress_unit: str = "eV/A^3"
    """Unit of the stored stress (eV/A^3, GPa, kbar, bar)."""
    weight_key: str | None = None
    """Name of a per-structure weight in ``info`` (finite, ≥ 0) multiplying every loss term of
    that structure; missing key: weight 1."""
    atomic_energies: dict | None = None
    """Isolated-atom reference energies ``{H: -13.6, C: ...}`` (energy_unit; symbols or atomic
    numbers; every species of the model): the energy baseline instead of the least-squares
    composition fit on the training set."""
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
        if self.stress_unit not in STRESS_UNITS:
            raise EquisymError(f"data.stress_unit = {self.stress_unit!r}; choose one of {', '.join(STRESS_UNITS)}")
        if self.stress_key and self.virial_key:
            raise EquisymError("give data.stress_key or data.virial_key, not both")
        if not 0.0 < self.val_fraction < 1.0:
            raise EquisymError(f"data.val_fraction must be in (0, 1), got {self.val_fraction}")
        if not 0.0 <= self.test_fraction < 1.0:
            raise EquisymError(f"data.test_fraction must be in [0, 1), got {self.test_fraction}")
        held = (0.0 if self.val else self.val_fraction) + (0.0 if self.test else self.test_fraction)
        if held >= 1.0:
            raise EquisymError(
                f"data.val_fraction + data.test_fraction = {held:g} leaves no training structures; they must sum below 1"
            )
        if self.atomic_energies is not None:
            if not isinstance(self.atomic_energies, dict) or not self.atomic_energies:
                raise EquisymError("data.atomic_energies must map species to energies, e.g. {H: -13.6, C: -1029.8}")
            atomic_numbers(list(self.atomic_energies), "data.atomic_energies")
            for k, v in self.atomic_energies.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                    raise EquisymError(f"data.atomic_energies[{k}] = {v!r} is not a finite number")

def graph_from_atoms(atoms_list, cutoff: float, dtype: torch.dtype | None = None) -> AtomicGraph:
    """One packed :class:`AtomicGraph` from an ``ase.Atoms`` or a list of them (Å)."""
    if not isinstance(atoms_list, (list, tuple)):
        atoms_list = [atoms_list]
    graphs = [
        build_graph(a.positions, a.numbers, a.cell.array, a.pbc, cutoff, dtype=dtype, name=f"structure {k}")
        for k, a in enumerate(atoms_list)
    ]
    return batch_graphs(graphs)


def composition(structures: Sequence[Structure], species: Sequence[int]) -> np.ndarray:
    """Counts ``(S, len(species))`` of each species in each structure."""
    index = {z: k for k, z in enumerate(species)}
    counts = np.zeros((len(structures), len(species)))
    for row, s in enumerate(structures):
        for z in s.numbers:
            counts[row, index[int(z)]] += 1
    return counts


def fit_baseline(
    structures: Sequence[Structure], species: Sequence[int], ridge: float = 1e-10, energies: np.ndarray | None = None
) -> np.ndarray:
    """Per-species baseline energies (eV) fitted on the composition by least squares.

    Solves ``min_b Σ_s w_s (E_s − Σ_Z n_{s,Z} b_Z)² + ridge |b|²`` (no intercept; ``w_s`` the
    structure weights). Species absent from ``structures`` get 0.

    Args:
        energies: the targets ``(S,)`` (default: the structures' energies), e.g. residuals.

    Returns:
        ``(len(species),)`` baseline energy per species, in the order of ``species``.
    """
    counts = composition(structures, species)
    e = np.array([s.energy for s in structures]) if energies is None else np.asarray(energies, dtype=np.float64)
    w = np.array([getattr(s, "weight", 1.0) for s in structures])
    a = counts.T @ (w[:, None] * counts) + ridge * np.eye(len(species))
    return np.linalg.solve(a, counts.T @ (w * e))


def atomic_energy_baseline(atomic_energies: dict, species: Sequence[int], energy_unit: str = "eV") -> np.ndarray:
    """Isolated-atom energies ``{symbol or Z: E}`` (``energy_unit``) as a baseline ``(len(species),)`` in eV.

    Raises:
        EquisymError: an unknown symbol, or a species of the model without an energy.
    """
    keys = atomic_numbers(list(atomic_energies), "data.atomic_energies")
    table = {z: float(v) * ENERGY_UNITS[energy_unit] for z, v in zip(keys, atomic_energies.values())}
    missing = [int(z) for z in species if int(z) not in table]
    if missing:
        raise EquisymError(f"data.atomic_energies has no energy for species {missing} (model.species = {list(species)})")
    return np.array([table[int(z)] for z in species])


class AtomsDataset(Dataset):
    """Structures with precomputed neighbour graphs; items are dicts of tensors.

    Each item: ``graph`` (:class:`AtomicGraph` of one structure), ``energy`` ``(1,)`` eV,
    ``forces`` ``(n, 3)`` eV/Å (NaN-free; zeros with ``has_forces`` False when absent),
    ``stress`` ``(1, 3, 3)`` eV/Å³ (zeros with ``has_stress`` False when absent), ``weight`` ``(1,)``.
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
                    "stress": torch.zeros(1, 3, 3, dtype=dtype) if s.stress is None else torch.as_tensor(s.stress, dtype=dtype)[None],
                    "has_stress": s.stress is not None,
                    "weight": torch.tensor([s.weight], dtype=dtype),
                }
            )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]

    def species(self) -> set[int]:
        return {int(z) for s in self.structures for z in s.numbers}

    @property
    def has_stress(self) -> bool:
        """Whether every structure carries a stress label."""
        return bool(self.items) and all(it["has_stress"] for it in self.items)


def collate_atoms(items: list[dict]) -> dict:
    """Pack items of :class:`AtomsDataset` into one batch (no padding atoms).

    Returns ``{"graph": AtomicGraph, "energy": (S,), "forces": (N, 3), "has_forces": bool,
    "stress": (S, 3, 3), "has_stress": bool, "weight": (S,)}``.
    """
    return {
        "graph": batch_graphs([it["graph"] for it in items]),
        "energy": torch.cat([it["energy"] for it in items]),
        "forces": torch.cat([it["forces"] for it in items]),
        "has_forces": all(it["has_forces"] for it in items),
        "stress": torch.cat([it["stress"] for it in items]),
        "has_stress": all(it["has_stress"] for it in items),
        "weight": torch.cat([it["weight"] for it in items]),
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
        return read_structures(
            path, c.energy_key, c.forces_key, c.energy_unit, c.length_unit,
            stress_key=c.stress_key, virial_key=c.virial_key, stress_unit=c.stress_unit, weight_key=c.weight_key,
        )

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
        c.validate()
        train = self._read(c.train)
        train, val, test = split_structures(train, c)
        if c.val:
            val = self._read(c.val)
        if c.test:
            test = self._read(c.test)
        if c.max_train is not None:
            train = train[: c.max_train]
        for structures, where in ((train, c.train), (val, c.val or "validation split"), (test or [], c.test or "test split")):
            self._check_species(structures, where)
        if c.atomic_energies is not None:
            self.baseline = atomic_energy_baseline(c.atomic_energies, self.species, c.energy_unit)
        else:
            self.baseline = fit_baseline(train, self.species)
        self.train_set = AtomsDataset(train, self.cutoff, self.dtype, "train")
        self.val_set = AtomsDataset(val, self.cutoff, self.dtype, "val")
        # no test file and no test fraction: no test set (evaluation says it scores the validation set)
        self.test_set = AtomsDataset(test, self.cutoff, self.dtype, "test") if test is not None else None

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
        return self.loader(self.test_set if self.test_set is not None else self.val_set, self.cfg.eval_batch_size)


def split_structures(structures: list[Structure], cfg: AtomsDataConfig) -> tuple[list, list | None, list | None]:
    """Hold out test and validation structures of one file: ``(train, val, test)``.

    One permutation of ``structures`` by ``cfg.split_seed``: the first
    ``round(test_fraction · n)`` are the test set (when ``cfg.test`` is not given and
    ``test_fraction > 0``), the next ``round(val_fraction · n)`` (at least 1) the validation
    set (when ``cfg.val`` is not given), the rest the training set. The three never overlap.

    Raises:
        EquisymError: the hold-outs leave no training structure.
    """
    n = len(structures)
    order = np.random.default_rng(cfg.split_seed).permutation(n)
    n_test = int(round(cfg.test_fraction * n)) if (not cfg.test and cfg.test_fraction > 0) else 0
    if not cfg.test and cfg.test_fraction > 0:
        n_test = max(1, n_test)
    n_val = 0 if cfg.val else max(1, int(round(cfg.val_fraction * n)))
    if n_test + n_val >= n:
        raise EquisymError(f"{cfg.train}: {n} structures cannot give {n_test} test and {n_val} validation structures and a training set")
    test = [structures[k] for k in order[:n_test]] if n_test else None
    val = [structures[k] for k in order[n_test : n_test + n_val]] if n_val else None
    return [structures[k] for k in order[n_test + n_val :]], val, test
