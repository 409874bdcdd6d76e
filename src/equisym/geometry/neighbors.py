"""Neighbour lists with periodic boundary conditions (through the ``vesin`` library).

Convention (the same as ASE): the pair ``(i, j, S)`` has the vector
``r_ij = positions[j] − positions[i] + S @ cell`` (``cell`` rows are the lattice vectors,
in Å) and lies within ``cutoff``. Lists are *full*: both ``(i, j, S)`` and ``(j, i, −S)``
are present.

Memory stays bounded and bad input fails early with one clear line: non-finite or absurd
coordinates, a singular periodic cell, a periodic cell so small that the list would hold
more than ``max_pairs`` pairs (each atom would see thousands of its own images), and atoms
of a structure that is not periodic in all three directions spread over more than
``max_extent`` (default :data:`MAX_EXTENT`) Å, which is a misplaced atom in practice.
Non-periodic structures use a k-d tree (scipy), periodic ones vesin.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np
import vesin
from scipy.spatial import cKDTree

from equisym.errors import EquisymError

__all__ = [
    "NeighborList",
    "neighbor_list",
    "check_structure",
    "require_neighbours",
    "estimate_pairs",
    "MAX_COORDINATE",
    "MAX_EXTENT",
    "MAX_PAIRS",
]

MAX_COORDINATE = 1e8
"""Largest accepted absolute coordinate (Å); anything larger is a unit or data error."""
MAX_EXTENT = 1e3
"""Default largest extent (Å) of the atoms of a structure that is not periodic in all directions."""
MAX_PAIRS = 50_000_000
"""Default limit on the number of pairs of one neighbour list (~3.6 GB as float64/int64)."""


@dataclass(frozen=True)
class NeighborList:
    """A full neighbour list.

    Shapes:
        - centers, neighbors: ``(E,)`` int64 atom indices i and j.
        - shifts: ``(E, 3)`` int64 cell shifts S.
        - vectors: ``(E, 3)`` float64, r_ij in Å.
        - distances: ``(E,)`` float64, |r_ij| in Å.
    """

    centers: np.ndarray
    neighbors: np.ndarray
    shifts: np.ndarray
    vectors: np.ndarray
    distances: np.ndarray

    def __len__(self) -> int:
        return len(self.centers)

    def counts(self, n_atoms: int) -> np.ndarray:
        """Number of neighbours of each atom, ``(n_atoms,)``."""
        return np.bincount(self.centers, minlength=n_atoms)


def check_structure(
    positions: np.ndarray,
    cell: np.ndarray | None = None,
    pbc: bool | tuple[bool, bool, bool] | np.ndarray = False,
    name: str = "structure",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate positions, cell and pbc; return them as float64 / bool arrays.

    Raises:
        EquisymError: on a wrong shape, non-finite positions or cell, or a singular cell
            along a periodic direction.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 3:
        raise EquisymError(f"{name}: positions must have shape (n_atoms, 3), got {positions.shape}")
    if not np.isfinite(positions).all():
        bad = int(np.nonzero(~np.isfinite(positions).all(1))[0][0])
        raise EquisymError(f"{name}: atom {bad} has a non-finite position {positions[bad].tolist()}")
    if positions.size and np.abs(positions).max() > MAX_COORDINATE:
        bad = int(np.argmax(np.abs(positions).max(1)))
        raise EquisymError(
            f"{name}: atom {bad} is at {positions[bad].tolist()}, beyond {MAX_COORDINATE:g} Å from the origin; "
            "positions must be in Å"
        )
    pbc_arr = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,)).copy()
    cell_arr = np.zeros((3, 3)) if cell is None else np.asarray(cell, dtype=np.float64)
    if cell_arr.shape != (3, 3):
        raise EquisymError(f"{name}: cell must have shape (3, 3), got {cell_arr.shape}")
    if not np.isfinite(cell_arr).all():
        raise EquisymError(f"{name}: the cell has non-finite entries")
    if pbc_arr.any():
        vol = abs(np.linalg.det(cell_arr))
        lengths = np.linalg.norm(cell_arr, axis=1)
        if vol < 1e-6 * max(lengths.prod(), 1e-30) or (lengths[pbc_arr] < 1e-8).any():
            raise EquisymError(
                f"{name}: the cell is singular (volume {vol:.3g} Å^3) but periodic along "
                f"{['xyz'[k] for k in range(3) if pbc_arr[k]]}; give three independent lattice vectors"
            )
    return positions, cell_arr, pbc_arr


def _heights(cell: np.ndarray) -> np.ndarray:
    """Distances between opposite faces of the cell ``(3,)`` (Å), i.e. V / |a_j × a_k|."""
    vol = abs(np.linalg.det(cell))
    areas = np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    return vol / np.maximum(areas, 1e-300)


def estimate_pairs(n_atoms: int, cutoff: float, cell: np.ndarray, pbc: np.ndarray) -> float:
    """Estimate of the number of pairs of a periodic structure's neighbour list, before computing it.

    With ``d`` periodic directions spanning a cell of measure ``M`` (volume, face area or
    length), each atom sees about ``n_atoms / M`` atoms per unit measure within the
    ``d``-dimensional ball of radius ``cutoff`` (every atom counted as if the structure were
    flat along its non-periodic directions), capped by ``n_atoms`` times the number of
    periodic images within ``cutoff`` of the cell (``2·ceil(cutoff / h) + 1`` per periodic
    direction, ``h`` the cell height). Exact on average for uniform bulk; a loose upper bound
    for thick slabs and wires.
    """
    if not pbc.any():
        return float(n_atoms) * max(n_atoms - 1, 0)
    vectors = cell[pbc]
    d = len(vectors)
    if d == 3:
        measure, ball = abs(np.linalg.det(cell)), 4.0 / 3.0 * math.pi * cutoff**3
    elif d == 2:
        measure, ball = float(np.linalg.norm(np.cross(vectors[0], vectors[1]))), math.pi * cutoff**2
    else:
        measure, ball = float(np.linalg.norm(vectors[0])), 2.0 * cutoff
    images = 1.0
    for h in _heights(cell)[pbc] if d == 3 else np.linalg.norm(vectors, axis=1):
        images *= 2 * math.ceil(cutoff / max(h, 1e-300)) + 1
    return float(n_atoms) ** 2 * min(ball / max(measure, 1e-300), images)


def _tree_pairs(positions: np.ndarray, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Full, sorted pairs ``(i, j)`` with ``|r_ij| < cutoff`` of a non-periodic structure."""
    pairs = cKDTree(positions).query_pairs(cutoff, output_type="ndarray").astype(np.int64).reshape(-1, 2)
    d = np.linalg.norm(positions[pairs[:, 1]] - positions[pairs[:, 0]], axis=1)
    pairs = pairs[d < cutoff]
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((j, i))
    return i[order], j[order]


def neighbor_list(
    positions: np.ndarray,
    cutoff: float,
    cell: np.ndarray | None = None,
    pbc: bool | tuple[bool, bool, bool] | np.ndarray = False,
    min_distance: float | None = 1e-4,
    name: str = "structure",
    max_pairs: int = MAX_PAIRS,
    max_extent: float = MAX_EXTENT,
) -> NeighborList:
    """All pairs closer than ``cutoff`` (Å), including periodic images.

    Args:
        positions: ``(n_atoms, 3)`` Cartesian positions in Å.
        cutoff: radius in Å (> 0).
        cell: ``(3, 3)`` lattice vectors as rows, Å; ignored along non-periodic directions.
        pbc: periodicity per direction (one bool or three).
        min_distance: raise if two atoms (or an atom and an image) are closer than this (Å);
            ``None`` disables the check.
        name: how to call the structure in error messages.
        max_pairs: refuse (before allocating anything) a periodic structure whose list could
            hold more pairs than this (:func:`estimate_pairs`).
        max_extent: refuse a structure not periodic in all directions whose atoms span more
            than this (Å) along any axis.

    Returns:
        A full :class:`NeighborList`, pairs sorted by centre (non-periodic: then by neighbour).

    Raises:
        EquisymError: on invalid input (non-finite or absurd coordinates, a singular cell, a
            cell far smaller than the cutoff, atoms of a not fully periodic structure spread
            over more than ``max_extent`` Å) or overlapping atoms.
    """
    if not (np.isfinite(cutoff) and cutoff > 0):
        raise EquisymError(f"{name}: the cutoff must be a positive number, got {cutoff}")
    positions, cell_arr, pbc_arr = check_structure(positions, cell, pbc, name)
    if not pbc_arr.all() and len(positions):
        extent = positions.max(0) - positions.min(0)
        if extent.max() > max_extent:
            axis = "xyz"[int(np.argmax(extent))]
            raise EquisymError(
                f"{name}: the atoms span {extent.max():.3g} Å along {axis} (more than {max_extent:g} Å) in a structure "
                "that is not periodic in all directions; check for a misplaced atom (positions are in Å)"
            )
    if not pbc_arr.any():
        i, j = _tree_pairs(positions, float(cutoff))
        shifts = np.zeros((len(i), 3), dtype=np.int64)
        vectors = positions[j] - positions[i]
        distances = np.linalg.norm(vectors, axis=1)
    else:
        _check_images(len(positions), float(cutoff), cell_arr, pbc_arr, name, max_pairs)
        calc = vesin.NeighborList(cutoff=float(cutoff), full_list=True, sorted=True)
        i, j, shifts, vectors, distances = calc.compute(positions, cell_arr, pbc_arr, "ijSDd")
    nl = NeighborList(
        centers=i.astype(np.int64),
        neighbors=j.astype(np.int64),
        shifts=shifts.astype(np.int64),
        vectors=vectors.astype(np.float64),
        distances=distances.astype(np.float64),
    )
    if min_distance is not None and len(nl) and nl.distances.min() < min_distance:
        k = int(np.argmin(nl.distances))
        raise EquisymError(
            f"{name}: atoms {int(nl.centers[k])} and {int(nl.neighbors[k])} overlap "
            f"(distance {nl.distances[k]:.2e} Å < {min_distance:g} Å)"
        )
    return nl


def _check_images(n_atoms: int, cutoff: float, cell: np.ndarray, pbc: np.ndarray, name: str, max_pairs: int) -> None:
    """Refuse a periodic structure whose neighbour list could exceed ``max_pairs`` pairs."""
    pairs = estimate_pairs(n_atoms, cutoff, cell, pbc)
    if pairs > max_pairs:
        h = _heights(cell)[pbc].min()
        raise EquisymError(
            f"{name}: the periodic cell is far smaller than the {cutoff:g} Å cutoff (thinnest height {h:.3g} Å): "
            f"its neighbour list could hold ~{pairs:.1e} pairs (limit {max_pairs:.0e}); "
            "use a supercell at least as wide as the cutoff, or a smaller cutoff"
        )


def require_neighbours(nl: NeighborList, n_atoms: int, cutoff: float, name: str, consequence: str) -> None:
    """Raise if an atom has no neighbour in ``nl`` (a list built with ``cutoff`` Å).

    Args:
        nl: the structure's neighbour list.
        n_atoms: number of atoms of the structure.
        cutoff: the cutoff ``nl`` was built with, Å (for the message).
        name: how to call the structure in error messages.
        consequence: why an isolated atom cannot be used (ends the message).

    Raises:
        EquisymError: naming the first isolated atom and how many there are.
    """
    counts = nl.counts(n_atoms)
    if (counts == 0).any():
        lonely = np.nonzero(counts == 0)[0]
        raise EquisymError(
            f"{name}: atom {int(lonely[0])} has no neighbour within the {cutoff:g} Å cutoff "
            f"({len(lonely)} such atom(s)); {consequence}"
        )
