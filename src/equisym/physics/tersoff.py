"""Tersoff (1989) carbon potential, vectorised with forces by automatic differentiation.

J. Tersoff, "Modeling solid-state chemistry: interatomic potentials for multicomponent
systems", Phys. Rev. B 39, 5566 (1989), carbon parameters, in the LAMMPS form

    E = ½ Σ_i Σ_{j≠i} f_C(r_ij) [A e^{−λ1 r_ij} − b_ij B e^{−λ2 r_ij}],
    b_ij = (1 + β^n ζ_ij^n)^{−1/(2n)},
    ζ_ij = Σ_{k≠i,j} f_C(r_ik) g(θ_ijk) exp[λ3^m (r_ij − r_ik)^m],
    g(θ) = γ (1 + c²/d² − c² / (d² + (cos θ − h)²)),
    f_C(r) = 1 (r < R−D), ½ − ½ sin(π(r−R)/(2D)) (|r−R| ≤ D), 0 (r > R+D).

Energies in eV, forces in eV/Å. Used for the molecular dynamics of the carbon DOS data set;
ASE's own (loop-based) ``ase.calculators.tersoff.Tersoff`` gives the same numbers and is
the reference in the tests; this one is vectorised over all triplets.
Symmetry: energies are invariant and forces equivariant under rotations, translations and
permutations (exactly, to round-off).
"""

from __future__ import annotations

import numpy as np
import torch
from ase.calculators.calculator import Calculator, all_changes

from equisym.errors import EquisymError
from equisym.geometry.neighbors import neighbor_list

__all__ = ["TERSOFF_1989_CARBON", "TersoffCarbon", "tersoff_energy_forces"]

#: Tersoff 1989 carbon parameters (LAMMPS names; eV, Å).
TERSOFF_1989_CARBON = {
    "m": 3.0,
    "gamma": 1.0,
    "lambda3": 0.0,
    "c": 38049.0,
    "d": 4.3484,
    "h": -0.57058,
    "n": 0.72751,
    "beta": 1.5724e-7,
    "lambda2": 2.2119,
    "B": 346.74,
    "R": 1.95,
    "D": 0.15,
    "lambda1": 3.4879,
    "A": 1393.6,
}


def _triplets(centers: np.ndarray, n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of pairs (p, q) with the same centre and p ≠ q (pairs sorted by centre)."""
    counts = np.bincount(centers, minlength=n_atoms)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_pair = counts[centers]  # partners incl. itself
    p = np.repeat(np.arange(len(centers)), per_pair)
    offset = np.arange(len(p)) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
    q = start[centers[p]] + offset
    keep = p != q
    return p[keep], q[keep]


class _Pairs:
    """Candidate pairs within ``R + D + skin`` and their triplets (a Verlet list)."""

    def __init__(self, atoms, cutoff: float, skin: float) -> None:
        nl = neighbor_list(atoms.positions, cutoff + skin, atoms.cell.array, atoms.pbc, min_distance=0.3)
        self.i = torch.from_numpy(nl.centers)
        self.j = torch.from_numpy(nl.neighbors)
        self.offset = torch.from_numpy(nl.shifts.astype(np.float64) @ atoms.cell.array)
        tp, tq = _triplets(nl.centers, len(atoms))
        self.tp, self.tq = torch.from_numpy(tp), torch.from_numpy(tq)
        self.n_pairs = len(nl)
        self.positions = atoms.positions.copy()
        self.cell = atoms.cell.array.copy()
        self.pbc = atoms.pbc.copy()
        self.skin = skin

    def valid_for(self, atoms) -> bool:
        if len(atoms) != len(self.positions) or not np.array_equal(atoms.pbc, self.pbc) or not np.allclose(atoms.cell.array, self.cell):
            return False
        # each atom moved less than skin/2 → no pair crossed the cutoff unseen
        return bool(np.max(np.sum((atoms.positions - self.positions) ** 2, axis=1)) < (0.5 * self.skin) ** 2)


def tersoff_energy_forces(atoms, params: dict | None = None, pairs: _Pairs | None = None, skin: float = 0.0):
    """Tersoff energy, per-atom energies and forces of a carbon structure.

    Args:
        atoms: ``ase.Atoms`` of carbon.
        params: overrides of :data:`TERSOFF_1989_CARBON`.
        pairs: a Verlet list built for these atoms (reused while it stays valid).
        skin: Å added to the cutoff when a new list is built.

    Returns:
        ``(energy, energies, forces, pairs)``: eV, ``(N,)`` eV, ``(N, 3)`` eV/Å, the list used.
    """
    p = {**TERSOFF_1989_CARBON, **(params or {})}
    if set(atoms.get_chemical_symbols()) - {"C"}:
        raise EquisymError("the Tersoff carbon potential handles carbon only")
    n = len(atoms)
    R, D = p["R"], p["D"]
    if pairs is None or not pairs.valid_for(atoms):
        pairs = _Pairs(atoms, R + D, skin)
    if pairs.n_pairs == 0:
        return 0.0, np.zeros(n), np.zeros((n, 3)), pairs
    pos = torch.tensor(atoms.positions, dtype=torch.float64, requires_grad=True)
    i, j, tp, tq = pairs.i, pairs.j, pairs.tp, pairs.tq
    vec = pos[j] - pos[i] + pairs.offset
    r = vec.norm(dim=1)
    fc = torch.where(
        r < R - D,
        torch.ones_like(r),
        torch.where(r > R + D, torch.zeros_like(r), 0.5 - 0.5 * torch.sin(0.5 * np.pi * (r - R) / D)),
    )
    cos = (vec[tp] * vec[tq]).sum(dim=1) / (r[tp] * r[tq])
    c2, d2 = p["c"] ** 2, p["d"] ** 2
    g = p["gamma"] * (1 + c2 / d2 - c2 / (d2 + (cos - p["h"]) ** 2))
    term = fc[tq] * g
    if p["lambda3"] != 0.0:
        term = term * torch.exp((p["lambda3"] * (r[tp] - r[tq])) ** p["m"])
    zeta = torch.zeros_like(r).index_add(0, tp, term)
    nn = p["n"]
    bij = (1 + (p["beta"] * zeta) ** nn) ** (-0.5 / nn)
    pair = 0.5 * fc * (p["A"] * torch.exp(-p["lambda1"] * r) - bij * p["B"] * torch.exp(-p["lambda2"] * r))
    per_atom = torch.zeros(n, dtype=torch.float64).index_add(0, i, pair)
    energy = per_atom.sum()
    (grad,) = torch.autograd.grad(energy, pos)
    return float(energy.detach()), per_atom.detach().numpy(), -grad.numpy(), pairs


class TersoffCarbon(Calculator):
    """ASE calculator for the Tersoff (1989) carbon potential (energy, energies, forces).

    Args:
        skin: Å; the pair list (cutoff 2.1 Å + skin) is reused until an atom has moved by
            more than skin/2, which makes MD steps cheaper. Pairs beyond 2.1 Å contribute
            exactly zero, so the results do not depend on the skin.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces"]

    def __init__(self, skin: float = 0.4, **kwargs) -> None:
        super().__init__(**kwargs)
        self.skin = float(skin)
        self._pairs = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        energy, energies, forces, self._pairs = tersoff_energy_forces(self.atoms, pairs=self._pairs, skin=self.skin)
        self.results = {"energy": energy, "free_energy": energy, "energies": energies, "forces": forces}
