"""Orthogonal sp3 tight binding for carbon (Xu, Wang, Chan & Ho 1992).

The model of C. H. Xu, C. Z. Wang, C. T. Chan and K. M. Ho, J. Phys.: Condens. Matter 4,
6047 (1992): one s and three p orbitals per carbon atom, orthogonal basis, two-centre
Slater-Koster hoppings

* on-site energies ``E_s = -2.99 eV``, ``E_p = 3.71 eV``;
* hoppings at ``r0 = 1.536329 Å`` (the diamond bond): ``V_ssσ = -5.0``, ``V_spσ = 4.7``,
  ``V_ppσ = 5.5``, ``V_ppπ = -1.55 eV``;
* one distance scaling for all four, ``s(r) = (r0/r)^n exp{n[-(r/rc)^nc + (r0/rc)^nc]}`` with
  ``n = 2``, ``nc = 6.5``, ``rc = 2.18 Å`` for ``r < r1 = 2.45 Å``, the published cubic tail
  ``t(r) = c0 + c1 (r-r1) + c2 (r-r1)^2 + c3 (r-r1)^3`` on ``[r1, rm) = [2.45, 2.6) Å``, and
  zero beyond ``rm``.

Periodic cells are handled with Bloch sums over a Γ-centred k-point grid,

    H_{iα, jβ}(k) = δ_ij δ_αβ E_α + Σ_S h_αβ(r_j + S·cell − r_i) exp(2πi k·S),

with ``k`` in fractional (reduced) coordinates and ``S`` the integer cell shift of the
neighbour image. This "lattice" gauge gives the same eigenvalues and the same atom-projected
weights as the "atomic" gauge. Molecules (no periodic direction) use Γ only.

Symmetry: eigenvalues and atom-projected weights are exactly invariant (to round-off) under
rotations, translations, and permutations of the atoms (weights permute with the atoms),
because the Slater-Koster blocks transform as s ⊕ p (l = 0 ⊕ 1) under rotation.

Energies are in eV on the model's own zero (the Xu on-site energies): no global shift is
applied here (see :mod:`equisym.physics.dos` for the data-set shift).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from equisym.errors import EquisymError
from equisym.geometry.neighbors import neighbor_list

__all__ = ["CarbonTightBinding", "TBResult", "kpoint_grid", "XWCH_PARAMETERS"]

#: Xu-Wang-Chan-Ho (1992) carbon parameters (eV, Å).
XWCH_PARAMETERS = {
    "E_s": -2.99,
    "E_p": 3.71,
    "V_sss": -5.0,
    "V_sps": 4.7,
    "V_pps": 5.5,
    "V_ppp": -1.55,
    "r0": 1.536329,
    "n": 2.0,
    "nc": 6.5,
    "rc": 2.18,
    "r1": 2.45,
    "rm": 2.6,
    "tail": (6.7392620074314e-3, -8.1885359517898e-2, 0.1932365259144, 0.3542874332380),
}


def kpoint_grid(kpts, pbc) -> tuple[np.ndarray, np.ndarray]:
    """A Γ-centred k-point grid in fractional coordinates.

    Args:
        kpts: three positive ints ``(n1, n2, n3)``: the grid ``k_a = m_a / n_a`` folded into
            ``(-1/2, 1/2]``; or an explicit ``(n_k, 3)`` array of fractional k-points.
        pbc: three bools; a non-periodic direction must have ``n_a = 1`` (resp. ``k_a = 0``).

    Returns:
        ``(kpoints, weights)``: ``(n_k, 3)`` float64 fractional k-points and ``(n_k,)``
        weights summing to 1.

    Raises:
        EquisymError: on a malformed grid or k-sampling along a non-periodic direction.
    """
    pbc = np.broadcast_to(np.asarray(pbc, dtype=bool), (3,))
    arr = np.asarray(kpts)
    if arr.ndim == 1:
        if arr.shape != (3,) or not np.issubdtype(arr.dtype, np.integer) or (arr < 1).any():
            raise EquisymError(f"kpts must be three positive integers or an (n_k, 3) array, got {kpts!r}")
        for a in range(3):
            if not pbc[a] and arr[a] != 1:
                raise EquisymError(f"kpts {tuple(arr.tolist())}: direction {'xyz'[a]} is not periodic, so it needs 1 k-point")
        axes = []
        for n in arr:
            m = np.arange(n, dtype=np.float64) / n
            axes.append(np.where(m > 0.5 + 1e-12, m - 1.0, m))
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    elif arr.ndim == 2 and arr.shape[1] == 3:
        grid = arr.astype(np.float64)
        if not np.isfinite(grid).all():
            raise EquisymError("kpts contains non-finite values")
        if (np.abs(grid[:, ~pbc]) > 1e-12).any():
            raise EquisymError("kpts: explicit k-points must be 0 along non-periodic directions")
    else:
        raise EquisymError(f"kpts must be three positive integers or an (n_k, 3) array, got shape {arr.shape}")
    return grid, np.full(len(grid), 1.0 / len(grid))


def _reduce_time_reversal(kpoints: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge k and −k (equivalent for a real-hopping Hamiltonian: H(−k) = H(k)*)."""
    keep: dict[tuple, int] = {}
    out_k, out_w = [], []
    for k, w in zip(kpoints, weights):
        key = tuple(np.round(k, 10))
        neg = tuple(np.round(_fold(-k), 10))
        if key in keep:
            out_w[keep[key]] += w
        elif neg in keep:
            out_w[keep[neg]] += w
        else:
            keep[tuple(np.round(_fold(k), 10))] = len(out_k)
            keep[key] = len(out_k)
            out_k.append(k)
            out_w.append(w)
    return np.array(out_k), np.array(out_w)


def _fold(k: np.ndarray) -> np.ndarray:
    f = k - np.round(k)
    return np.where(f <= -0.5 + 1e-12, f + 1.0, f)


@dataclass
class TBResult:
    """Eigen-solution of the tight-binding Hamiltonian on a k-point set.

    Shapes:
        - kpoints: ``(n_k, 3)`` fractional k-points; weights: ``(n_k,)``, summing to 1.
        - eigenvalues: ``(n_k, 4 n_atoms)`` eV, ascending per k-point, model zero.
        - atom_weights: ``(n_k, n_atoms, 4 n_atoms)`` or ``None``: Σ over the atom's four
          orbitals of ``|c|^2`` per eigenstate (each column sums to 1 over atoms).
    """

    kpoints: np.ndarray
    weights: np.ndarray
    eigenvalues: np.ndarray
    atom_weights: np.ndarray | None = None


class CarbonTightBinding:
    """Xu-Wang-Chan-Ho (1992) orthogonal sp3 tight binding for carbon.

    Args:
        parameters: overrides of :data:`XWCH_PARAMETERS` (keys as there).

    Example:
        >>> from ase.build import molecule
        >>> tb = CarbonTightBinding()
        >>> e = tb.eigenvalues(molecule("C60"))      # (1, 240) eV, Γ only
        >>> round(float(e[0, 120] - e[0, 119]), 2)   # HOMO-LUMO gap
        1.63
    """

    n_orbitals_per_atom = 4

    def __init__(self, **parameters) -> None:
        unknown = set(parameters) - set(XWCH_PARAMETERS)
        if unknown:
            raise EquisymError(f"unknown tight-binding parameter(s) {sorted(unknown)}; valid: {sorted(XWCH_PARAMETERS)}")
        self.p = {**XWCH_PARAMETERS, **parameters}
        self.cutoff = float(self.p["rm"])

    # -- radial part ---------------------------------------------------------------------
    def scaling(self, r: np.ndarray) -> np.ndarray:
        """Distance scaling ``s(r)`` of the hoppings (dimensionless, ``s(r0) = 1``), shape of ``r``."""
        p = self.p
        r = np.asarray(r, dtype=np.float64)
        r_safe = np.maximum(r, 1e-6)
        gsp = (p["r0"] / r_safe) ** p["n"] * np.exp(p["n"] * (-((r_safe / p["rc"]) ** p["nc"]) + (p["r0"] / p["rc"]) ** p["nc"]))
        x = r - p["r1"]
        c0, c1, c2, c3 = p["tail"]
        tail = c0 + x * (c1 + x * (c2 + x * c3))
        return np.where(r < p["r1"], gsp, np.where(r < p["rm"], tail, 0.0))

    def hopping_blocks(self, vectors: np.ndarray) -> np.ndarray:
        """Slater-Koster blocks for bond vectors ``r_ij`` (Å).

        Shapes:
            vectors ``(M, 3)`` → ``(M, 4, 4)`` eV, orbital order ``s, px, py, pz``;
            entry ``[a, b]`` is ``<a on i | H | b on j>``.
        """
        p = self.p
        r = np.linalg.norm(vectors, axis=1)
        cosines = vectors / r[:, None]
        s = self.scaling(r)
        h = np.empty((len(r), 4, 4))
        h[:, 0, 0] = p["V_sss"] * s
        h[:, 0, 1:] = cosines * (p["V_sps"] * s)[:, None]
        h[:, 1:, 0] = -h[:, 0, 1:]
        ll = cosines[:, :, None] * cosines[:, None, :]
        h[:, 1:, 1:] = ll * ((p["V_pps"] - p["V_ppp"]) * s)[:, None, None] + np.eye(3) * (p["V_ppp"] * s)[:, None, None]
        return h

    # -- Hamiltonian ---------------------------------------------------------------------
    def _check(self, atoms) -> None:
        symbols = set(atoms.get_chemical_symbols())
        if symbols - {"C"}:
            raise EquisymError(
                f"CarbonTightBinding handles carbon only; the structure contains {sorted(symbols - {'C'})}"
            )
        if len(atoms) == 0:
            raise EquisymError("CarbonTightBinding: the structure has no atoms")

    def real_space_blocks(self, atoms) -> tuple[np.ndarray, np.ndarray]:
        """Real-space Hamiltonian blocks ``H_S`` per integer cell shift ``S``.

        Returns:
            ``(shifts, H)``: ``(n_S, 3)`` int64 shifts (the first is ``(0, 0, 0)``) and
            ``(n_S, 4N, 4N)`` float64 eV, with ``H(k) = Σ_S H_S exp(2πi k·S)``; the on-site
            energies are in ``H_0``.
        """
        self._check(atoms)
        n = len(atoms)
        norb = 4 * n
        nl = neighbor_list(atoms.positions, self.cutoff, atoms.cell.array, atoms.pbc, min_distance=0.3, name="structure")
        shifts = nl.shifts if len(nl) else np.zeros((0, 3), dtype=np.int64)
        unique, inverse = np.unique(np.vstack([np.zeros((1, 3), np.int64), shifts]), axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        zero = int(inverse[0])
        order = [zero] + [s for s in range(len(unique)) if s != zero]
        remap = np.empty(len(unique), dtype=np.int64)
        remap[order] = np.arange(len(unique))
        unique = unique[order]
        shift_id = remap[inverse[1:]]
        blocks = self.hopping_blocks(nl.vectors) if len(nl) else np.zeros((0, 4, 4))
        a = np.arange(4)
        rows = (4 * nl.centers)[:, None, None] + a[None, :, None]
        cols = (4 * nl.neighbors)[:, None, None] + a[None, None, :]
        flat = (shift_id[:, None, None] * norb + rows) * norb + cols
        H = np.bincount(flat.reshape(-1), weights=blocks.reshape(-1), minlength=len(unique) * norb * norb)
        H = H.reshape(len(unique), norb, norb)
        onsite = np.tile([self.p["E_s"], self.p["E_p"], self.p["E_p"], self.p["E_p"]], n)
        H[0][np.diag_indices(norb)] += onsite
        return unique, H

    def solve(self, atoms, kpts=(1, 1, 1), projections: bool = False, time_reversal: bool = True) -> TBResult:
        """Diagonalise ``H(k)`` on a k-point set.

        Args:
            atoms: ``ase.Atoms`` of carbon; periodic directions follow ``atoms.pbc``.
            kpts: Γ-centred grid ``(n1, n2, n3)`` or explicit ``(n_k, 3)`` fractional k-points.
            projections: also return atom-projected weights.
            time_reversal: merge ``k`` and ``−k`` (same eigenvalues and weights), doubling
                the weight of the kept one.

        Returns:
            A :class:`TBResult`.

        Raises:
            EquisymError: for elements other than carbon, overlapping atoms, or a bad ``kpts``.
        """
        kpoints, weights = kpoint_grid(kpts, atoms.pbc)
        if time_reversal:
            kpoints, weights = _reduce_time_reversal(kpoints, weights)
        shifts, H_S = self.real_space_blocks(atoms)
        n = len(atoms)
        eigs = np.empty((len(kpoints), 4 * n))
        proj = np.empty((len(kpoints), n, 4 * n)) if projections else None
        for q, k in enumerate(kpoints):
            phases = np.exp(2j * np.pi * (shifts @ k))
            if np.allclose(phases.imag, 0.0, atol=1e-14):
                Hk = np.tensordot(phases.real, H_S, axes=1)
            else:
                Hk = np.tensordot(phases, H_S, axes=1)
            if projections:
                e, c = np.linalg.eigh(Hk)
                proj[q] = (np.abs(c) ** 2).reshape(n, 4, -1).sum(axis=1)
            else:
                e = np.linalg.eigvalsh(Hk)
            eigs[q] = e
        return TBResult(kpoints=kpoints, weights=weights, eigenvalues=eigs, atom_weights=proj)

    def eigenvalues(self, atoms, kpts=(1, 1, 1)) -> np.ndarray:
        """Band energies on the full k-point set (no time-reversal reduction).

        Args:
            atoms: ``ase.Atoms`` of carbon.
            kpts: Γ-centred grid ``(n1, n2, n3)`` (1 along non-periodic directions) or an
                explicit ``(n_k, 3)`` array of fractional k-points.

        Returns:
            ``(n_kpoints, 4 n_atoms)`` float64, eV, ascending, the model's own zero.
        """
        return self.solve(atoms, kpts, projections=False, time_reversal=False).eigenvalues

    def fermi_level(self, atoms, kpts=(1, 1, 1), electrons_per_atom: int = 4) -> float:
        """Mid-gap Fermi level from the eigenvalues (eV, model zero).

        The ``n_e = electrons_per_atom · N`` electrons fill the lowest ``n_e / 2`` states per
        k-point on average (spin-degenerate); the Fermi level is halfway between the highest
        occupied and lowest unoccupied eigenvalue over the whole k set (0 gap for a metal).
        """
        res = self.solve(atoms, kpts)
        flat = res.eigenvalues.reshape(-1)
        order = np.argsort(flat, kind="stable")
        e = flat[order]
        w = np.repeat(res.weights, res.eigenvalues.shape[1])[order]
        n_occ = int((np.cumsum(2 * w) <= electrons_per_atom * len(atoms) + 1e-9).sum())
        if n_occ == 0 or n_occ >= len(e):
            raise EquisymError("fermi_level: the electron count does not fit the number of states")
        return float(0.5 * (e[n_occ - 1] + e[n_occ]))
