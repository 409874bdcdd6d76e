"""Reading labelled atomistic structures with ASE: units, species symbols, labels.

- Every label is looked up first in the structure's own data (``atoms.info`` for energies,
  stresses, virials and weights; ``atoms.arrays`` for forces), then in the calculator results
  (``atoms.calc.results``: the single-point calculator ASE attaches when an extxyz file stores
  ``energy``, ``forces`` or ``stress``). Units are converted on reading to eV, Å, eV/Å, eV/Å³.
- Stress follows ASE's convention: ``σ = (1/V) ∂E/∂ε`` (eV/Å³, positive under tension). A
  virial ``W = −∂E/∂ε`` (eV) is converted as ``σ = −W/V``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from equisym.errors import EquisymError

__all__ = [
    "ENERGY_UNITS",
    "LENGTH_UNITS",
    "STRESS_UNITS",
    "atomic_numbers",
    "Structure",
    "structures_from_atoms",
    "read_structures",
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
#: Factors converting a stress in the given unit to eV/Å³ (1 eV/Å³ = 160.21766 GPa).
STRESS_UNITS = {"eV/A^3": 1.0, "eV/Å^3": 1.0, "eV/Å³": 1.0, "GPa": 1 / 160.21766208, "kbar": 1 / 1602.1766208, "bar": 1 / 1602176.6208}


def atomic_numbers(species: Sequence, where: str = "species") -> list[int]:
    """Atomic numbers of a list of species given as numbers or chemical symbols (``[H, C, 8]``).

    Raises:
        EquisymError: an unknown symbol, a number outside 1..118, or another type.
    """
    from ase.data import atomic_numbers as table

    out = []
    for x in species:
        if isinstance(x, str) and x.strip().isdigit():
            x = int(x)
        if isinstance(x, bool) or not isinstance(x, (int, np.integer, str)):
            raise EquisymError(f"{where}: {x!r} is neither a chemical symbol nor an atomic number")
        if isinstance(x, str):
            if x not in table:
                raise EquisymError(f"{where}: unknown chemical symbol {x!r}")
            x = table[x]
        if not 1 <= int(x) <= 118:
            raise EquisymError(f"{where}: {x} is not an atomic number (1..118)")
        out.append(int(x))
    return out


@dataclass
class Structure:
    """One labelled structure, in eV and Å.

    Shapes: positions ``(n, 3)`` Å, numbers ``(n,)``, cell ``(3, 3)`` Å (rows), pbc ``(3,)``,
    energy scalar eV (NaN if absent), forces ``(n, 3)`` eV/Å or None, stress ``(3, 3)``
    eV/Å³ (ASE sign) or None, weight scalar ≥ 0.
    """

    positions: np.ndarray
    numbers: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    energy: float
    forces: np.ndarray | None
    stress: np.ndarray | None = None
    weight: float = 1.0


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


def _tensor3(value, where: str, what: str) -> np.ndarray:
    """A stress/virial given as 6 Voigt (xx yy zz yz xz xy), 9 or 3×3 values → ``(3, 3)``."""
    v = np.asarray(value, dtype=np.float64)
    if v.size == 6:
        xx, yy, zz, yz, xz, xy = v.reshape(6)
        return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    if v.size == 9:
        return v.reshape(3, 3)
    raise EquisymError(f"{where}: the {what} has shape {v.shape}; expected 6 (Voigt), 9 or 3x3 values")


def _stress_of(atoms, stress_key: str | None, virial_key: str | None, where: str) -> np.ndarray | None:
    """Stress ``(3, 3)`` in the file's units (from a stress or a virial; ASE sign)."""
    key = stress_key or virial_key
    if not key:
        return None
    if not bool(np.all(atoms.pbc)):
        raise EquisymError(f"{where}: data.{'stress' if stress_key else 'virial'}_key is set but the structure is not periodic in 3 directions")
    calc = getattr(atoms, "calc", None)
    results = getattr(calc, "results", {}) if calc is not None else {}
    if key in atoms.info:
        value = atoms.info[key]
    elif key in results:
        value = results[key]
    else:
        raise EquisymError(f"{where}: no {'stress' if stress_key else 'virial'} under the key '{key}' (info keys: {sorted(atoms.info)}, calculator results: {sorted(results)})")
    t = _tensor3(value, where, "stress" if stress_key else "virial")
    if stress_key:
        return t
    volume = abs(float(np.linalg.det(atoms.cell.array)))
    return -t / volume


def _weight_of(atoms, key: str | None, where: str) -> float:
    if not key or key not in atoms.info:
        return 1.0
    try:
        w = float(atoms.info[key])
    except (TypeError, ValueError):
        raise EquisymError(f"{where}: the weight '{key}' = {atoms.info[key]!r} is not a number") from None
    if not np.isfinite(w) or w < 0:
        raise EquisymError(f"{where}: the weight '{key}' is {w}; weights must be finite and >= 0")
    return w


def structures_from_atoms(
    frames: Sequence,
    energy_key: str | None = "energy",
    forces_key: str | None = "forces",
    energy_unit: str = "eV",
    length_unit: str = "angstrom",
    name: str = "structures",
    stress_key: str | None = None,
    virial_key: str | None = None,
    stress_unit: str = "eV/A^3",
    weight_key: str | None = None,
) -> list[Structure]:
    """Convert ``ase.Atoms`` objects into :class:`Structure` (eV, Å, eV/Å, eV/Å³).

    Raises:
        EquisymError: a missing label, a label of the wrong shape or not finite, a stress on a
            non-periodic structure, a negative or NaN weight, an unknown unit.
    """
    if energy_unit not in ENERGY_UNITS:
        raise EquisymError(f"unknown energy unit {energy_unit!r}; choose one of {', '.join(ENERGY_UNITS)}")
    if length_unit not in LENGTH_UNITS:
        raise EquisymError(f"unknown length unit {length_unit!r}; choose one of {', '.join(LENGTH_UNITS)}")
    if stress_unit not in STRESS_UNITS:
        raise EquisymError(f"unknown stress unit {stress_unit!r}; choose one of {', '.join(STRESS_UNITS)}")
    fe, fl = ENERGY_UNITS[energy_unit], LENGTH_UNITS[length_unit]
    out = []
    for k, atoms in enumerate(frames):
        where = f"{name}[{k}]"
        energy = _energy_of(atoms, energy_key, where) * fe if energy_key else float("nan")
        forces = _forces_of(atoms, forces_key, where) * (fe / fl) if forces_key else None
        stress = _stress_of(atoms, stress_key, virial_key, where)
        if stress is not None:
            stress = stress * (STRESS_UNITS[stress_unit] if stress_key else fe / fl**3)
            if not np.isfinite(stress).all():
                raise EquisymError(f"{where}: the stress is not finite")
        weight = _weight_of(atoms, weight_key, where)
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
                stress=stress,
                weight=weight,
            )
        )
    if out and weight_key and not any(s.weight > 0 for s in out):
        raise EquisymError(f"{name}: every structure has weight 0")
    return out


def read_structures(
    path: str | os.PathLike,
    energy_key: str | None = "energy",
    forces_key: str | None = "forces",
    energy_unit: str = "eV",
    length_unit: str = "angstrom",
    index: str = ":",
    **labels,
) -> list[Structure]:
    """Read every frame of an ASE-readable file (extxyz, ...) as :class:`Structure` (eV, Å).

    ``labels``: ``stress_key``, ``virial_key``, ``stress_unit``, ``weight_key`` of
    :func:`structures_from_atoms`.

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
    return structures_from_atoms(frames, energy_key, forces_key, energy_unit, length_unit, name=os.path.basename(path), **labels)
