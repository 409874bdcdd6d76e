"""Neighbour lists with periodic boundary conditions (through the ``vesin`` library).

Convention (the same as ASE): the pair ``(i, j, S)`` has the vector
``r_ij = positions[j] − positions[i] + S @ cell`` (``cell`` rows are the lattice vectors,
in Å) and lies within ``cutoff``. Lists are *full*: both ``(i, j, S)`` and ``(j, i, −S)``
are present.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import vesin

from equisym.errors import EquisymError

__all__ = ["NeighborList", "neighbor_list", "check_structure", "require_neighbours"]


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


def neighbor_list(
    positions: np.ndarray,
    cutoff: float,
    cell: np.ndarray | None = None,
    pbc: bool | tuple[bool, bool, bool] | np.ndarray = False,
    min_distance: float | None = 1e-4,
    name: str = "structure",
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

    Returns:
        A full :class:`NeighborList`, pairs sorted by centre then neighbour.

    Raises:
        EquisymError: on invalid input or overlapping atoms.
    """
    if not cutoff > 0:
        raise EquisymError(f"{name}: the cutoff must be positive, got {cutoff}")
    positions, cell_arr, pbc_arr = check_structure(positions, cell, pbc, name)
    calc = vesin.NeighborList(cutoff=float(cutoff), full_list=True, sorted=True)
    i, j, shifts, vectors, distances = calc.compute(
        positions, cell_arr, pbc_arr if pbc_arr.any() else False, "ijSDd"
    )
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
