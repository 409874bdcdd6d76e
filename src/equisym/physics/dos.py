"""Densities of states on the CSGNN carbon grid, Fermi level and band energy.

The grid is the one of the CSGNN carbon data (del Rio et al. 2020): 310 points
``E_g = -30.0 + 0.1 g`` eV, ``g = 0 … 309`` (−30.0 … 0.9 eV). DOS values are *sampled at
the grid points* (not bin averages), in states/eV with spin included (a factor 2 per
eigenstate), so that a trapezoid integral over the grid counts electrons.

Energy reference: the tight-binding model (:mod:`equisym.physics.tight_binding`) has its own
zero. One **global** shift :data:`ENERGY_SHIFT` = −5.5 eV is added to every eigenvalue of every
structure before smearing, so that all occupied states of the eight carbon allotropes lie
inside the grid (lowest states ≈ −23.2 eV → −28.7 eV; Fermi levels ≈ 3.2–3.7 eV → −2.3 to
−1.8 eV). Being one constant, it leaves band-energy *differences* between structures
unchanged.

Band energy (per structure or per atom, following the normalisation of the DOS given):

    E_band = ∫_{-∞}^{E_F} E · DOS(E) dE,      ∫_{-∞}^{E_F} DOS(E) dE = n_electrons,

with the DOS taken as piecewise linear between grid points (both integrals are then exact,
so E_F and E_band are continuous functions of the DOS values). The data sets store
``band_energy`` per atom: the per-atom DOS with ``n_electrons = 4``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import torch

from equisym.errors import EquisymError

__all__ = [
    "GRID_START",
    "GRID_STEP",
    "GRID_SIZE",
    "ENERGY_SHIFT",
    "SMEARING",
    "dos_grid",
    "gaussian_dos",
    "integrated_dos",
    "BandEnergy",
    "band_energy",
]

GRID_START = -30.0  #: eV, first grid point
GRID_STEP = 0.1  #: eV
GRID_SIZE = 310  #: points, −30.0 … 0.9 eV
ENERGY_SHIFT = -5.5  #: eV, added to tight-binding eigenvalues before smearing
SMEARING = 0.2  #: eV, Gaussian standard deviation


def dos_grid(start: float = GRID_START, step: float = GRID_STEP, size: int = GRID_SIZE) -> np.ndarray:
    """The energy grid, ``(size,)`` float64 eV: ``start + step · arange(size)``."""
    return start + step * np.arange(size, dtype=np.float64)


def gaussian_dos(
    eigenvalues: np.ndarray,
    kweights: np.ndarray | None = None,
    energies: np.ndarray | None = None,
    sigma: float = SMEARING,
    atom_weights: np.ndarray | None = None,
    shift: float = 0.0,
    spin: float = 2.0,
) -> np.ndarray:
    """Gaussian-smeared total or atom-projected DOS.

    ``DOS(E) = spin · Σ_k w_k Σ_n [p_{a,nk}] · exp(−(E − ε_nk − shift)² / 2σ²) / (σ√(2π))``.

    Args:
        eigenvalues: ``(n_k, n_states)`` eV (or ``(n_states,)`` for one k-point).
        kweights: ``(n_k,)`` k-point weights summing to 1 (default uniform).
        energies: ``(G,)`` grid in eV (default :func:`dos_grid`).
        sigma: Gaussian standard deviation, eV (> 0).
        atom_weights: optional ``(n_k, n_atoms, n_states)`` projections ``p_{a,nk}``
            (summing to 1 over atoms); if given, the result is per atom.
        shift: added to every eigenvalue (eV), e.g. :data:`ENERGY_SHIFT`.
        spin: states per eigenvalue (2 for spin-degenerate bands).

    Returns:
        ``(G,)`` total DOS, or ``(n_atoms, G)`` atom-projected DOS; states/eV. The atom DOS
        sums over atoms to the total DOS.
    """
    if not sigma > 0:
        raise EquisymError(f"the smearing must be positive, got {sigma}")
    eig = np.atleast_2d(np.asarray(eigenvalues, dtype=np.float64))
    n_k = eig.shape[0]
    w = np.full(n_k, 1.0 / n_k) if kweights is None else np.asarray(kweights, dtype=np.float64)
    if w.shape != (n_k,):
        raise EquisymError(f"kweights must have shape ({n_k},), got {w.shape}")
    grid = dos_grid() if energies is None else np.asarray(energies, dtype=np.float64)
    lo, hi = grid.min() - 8 * sigma, grid.max() + 8 * sigma
    norm = spin / (sigma * np.sqrt(2 * np.pi))
    if atom_weights is None:
        out = np.zeros(len(grid))
    else:
        atom_weights = np.asarray(atom_weights)
        if atom_weights.ndim != 3 or atom_weights.shape[0] != n_k or atom_weights.shape[2] != eig.shape[1]:
            raise EquisymError(f"atom_weights must have shape ({n_k}, n_atoms, {eig.shape[1]}), got {atom_weights.shape}")
        out = np.zeros((atom_weights.shape[1], len(grid)))
    for q in range(n_k):
        e = eig[q] + shift
        keep = (e > lo) & (e < hi)  # states further than 8σ from the grid contribute < 1e-14
        if not keep.any():
            continue
        g = np.exp(-0.5 * ((grid[None, :] - e[keep, None]) / sigma) ** 2) * (norm * w[q])
        if atom_weights is None:
            out += g.sum(axis=0)
        else:
            out += atom_weights[q][:, keep] @ g
    return out


def integrated_dos(energies: np.ndarray, dos: np.ndarray) -> np.ndarray:
    """Cumulative trapezoid integral ``N(E_g) = ∫_{E_0}^{E_g} DOS``, same shape as ``dos`` (last axis = grid)."""
    energies = np.asarray(energies, dtype=np.float64)
    dos = np.asarray(dos, dtype=np.float64)
    h = np.diff(energies)
    steps = 0.5 * (dos[..., 1:] + dos[..., :-1]) * h
    return np.concatenate([np.zeros(dos.shape[:-1] + (1,)), np.cumsum(steps, axis=-1)], axis=-1)


class BandEnergy(NamedTuple):
    """Result of :func:`band_energy`; numpy (floats for one DOS row) or torch, as the DOS given.

    Attributes:
        fermi_level: ``()`` or ``(B,)`` eV; no gradient.
        band_energy: ``()`` or ``(B,)`` eV (per atom for a per-atom DOS); differentiable in the
            DOS when a torch tensor was given.
        filled: ``()`` or ``(B,)`` bool: the grid held ``n_electrons`` states. Where False
            (only with ``unfilled="flag"``) the missing electrons were put at the last grid
            energy: both values are finite but not physical.
    """

    fermi_level: object
    band_energy: object
    filled: object


def band_energy(energies, dos, n_electrons, *, unfilled: Literal["raise", "flag"] = "raise") -> BandEnergy:
    """Fermi level by electron counting and band energy by integration up to it: the one
    band-energy function of equisym (data generation, the training loss, metrics, inference).

    ``∫_{E_0}^{E_F} DOS dE = n_electrons`` and ``E_band = ∫_{E_0}^{E_F} E·DOS dE``, with the DOS
    linear between grid points, so both integrals are exact and E_F, E_band are continuous in
    the DOS values. ``C(E) = ∫_{E_0}^{E} DOS`` is piecewise quadratic and ``C(E_F) = n`` is solved
    in closed form. Integration by parts gives ``E_band = n·E_F − ∫_{E_0}^{E_F} C(E) dE``, whose
    derivative is ``∂E_band/∂DOS = ∫^{E_F} (E − E_F)·∂DOS dE`` (the ``E_F`` terms cancel because
    ``C(E_F) = n``): E_F is found without gradients and held fixed, and autograd of the
    right-hand side is the exact gradient. Computed in float64.

    Args:
        energies: ``(G,)`` increasing grid, eV (numpy or torch).
        dos: ``(G,)`` or ``(B, G)`` states/eV, spin included (numpy or torch; a torch tensor
            keeps its gradient).
        n_electrons: electrons to place, > 0: a scalar, or ``(B,)``. Pass the normalisation of
            ``dos``: 4 for a per-atom carbon DOS (band energy in eV/atom), ``4 N`` for a
            whole-structure DOS (eV per structure).
        unfilled: a row holding fewer than ``n_electrons`` states on the grid: ``"raise"`` an
            error, or ``"flag"`` it in :attr:`BandEnergy.filled` (the training loss: a finite
            value whose gradient adds states; metrics: counted as failed).

    Returns:
        :class:`BandEnergy` ``(fermi_level, band_energy, filled)``: floats and a bool for a
        numpy ``(G,)`` DOS, ``(B,)`` arrays for numpy ``(B, G)``, float64 tensors for torch.

    Raises:
        EquisymError: a grid that is not increasing, mismatched shapes, non-finite DOS values,
            ``n_electrons <= 0``, or (``unfilled="raise"``) too few states on the grid.

    Example:
        >>> E = dos_grid()
        >>> d = gaussian_dos(np.array([-10.0, -5.0]), energies=E, sigma=0.2)  # 4 states
        >>> round(band_energy(E, d, 2.0).band_energy, 6)  # fill the level at -10 eV
        -20.0
    """
    if unfilled not in ("raise", "flag"):
        raise EquisymError(f"band_energy: unfilled must be 'raise' or 'flag', got {unfilled!r}")
    as_torch = isinstance(dos, torch.Tensor)
    g = dos.to(torch.float64) if as_torch else torch.from_numpy(np.array(dos, dtype=np.float64))
    e = energies if isinstance(energies, torch.Tensor) else torch.from_numpy(np.array(energies, dtype=np.float64))
    e = e.to(device=g.device, dtype=torch.float64)
    if e.ndim != 1 or len(e) < 2 or bool((e[1:] <= e[:-1]).any()):
        raise EquisymError("band_energy: energies must be an increasing 1-D grid with at least 2 points")
    if g.ndim not in (1, 2) or g.shape[-1] != len(e):
        raise EquisymError(f"band_energy: dos must have shape ({len(e)},) or (B, {len(e)}), got {tuple(g.shape)}")
    if not bool(torch.isfinite(g).all()):
        raise EquisymError("band_energy: the DOS contains non-finite values")
    rows = g.reshape(-1, len(e))
    n = torch.as_tensor(n_electrons, dtype=torch.float64, device=g.device)
    if n.ndim > 1 or (n.ndim == 1 and len(n) != len(rows)):
        raise EquisymError(f"band_energy: n_electrons must be a scalar or have shape ({len(rows)},), got {tuple(n.shape)}")
    n = n.expand(len(rows))
    if not bool((n > 0).all()):
        raise EquisymError(f"band_energy: n_electrons must be positive, got {n_electrons}")
    fermi, band, filled = _solve(e, rows, n)
    if unfilled == "raise" and not bool(filled.all()):
        k = int((~filled).nonzero()[0, 0])
        total = float(_cumulative(e, rows[k : k + 1].detach())[0, -1])
        raise EquisymError(
            f"band_energy: the DOS{'' if g.ndim == 1 else f' of row {k}'} integrates to only {total:.4g} states over the "
            f"grid [{float(e[0]):g}, {float(e[-1]):g}] eV, fewer than the {float(n[k]):g} electrons to place: "
            "no Fermi level inside the grid"
        )
    if as_torch:
        if g.ndim == 1:
            return BandEnergy(fermi[0], band[0], filled[0])
        return BandEnergy(fermi, band, filled)
    fermi, band, filled = fermi.numpy(), band.detach().numpy(), filled.numpy()
    if g.ndim == 1:
        return BandEnergy(float(fermi[0]), float(band[0]), bool(filled[0]))
    return BandEnergy(fermi, band, filled)


def _cumulative(e: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``C(E_g)`` ``(B, G)``: the trapezoid integral of the rows of ``g`` from the first grid point."""
    width = e[1:] - e[:-1]
    return torch.cat([g.new_zeros(len(g), 1), (width * (g[:, :-1] + g[:, 1:]) / 2).cumsum(-1)], dim=-1)


def _solve(e: torch.Tensor, g: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """E_F ``(B,)`` (no gradient), E_band ``(B,)`` (differentiable) and filled ``(B,)`` of validated
    float64 rows ``g`` ``(B, G)`` on the grid ``e`` ``(G,)`` with ``n`` ``(B,)`` electrons."""
    width = e[1:] - e[:-1]  # (G-1,)
    cumulative = _cumulative(e, g)
    with torch.no_grad():
        reached = cumulative >= n[:, None]
        filled = reached.any(-1)
        # interval [E_{i-1}, E_i] holding E_F (the last one if the electrons do not fit)
        i = torch.where(filled, reached.to(torch.int64).argmax(-1), torch.full_like(filled, len(e) - 1, dtype=torch.int64))
        i = i.clamp(min=1)
    lower = (i - 1)[:, None]
    c0, g0, g1 = cumulative.gather(1, lower)[:, 0], g.gather(1, lower)[:, 0], g.gather(1, lower + 1)[:, 0]
    h = width[i - 1]
    with torch.no_grad():
        left = n - c0  # states to place in the interval
        # g0·x + (g1 − g0)·x²/(2h) = left, the root in [0, h] in its cancellation-free form
        root = torch.sqrt((g0 * g0 + 2 * (g1 - g0) / h * left).clamp(min=0))
        denominator = g0 + root
        x = torch.where(denominator > 0, 2 * left / denominator.clamp(min=1e-300), torch.zeros_like(left))
        x = torch.where(filled, x.clamp(min=0).minimum(h), h)
        fermi = e[i - 1] + x
    # ∫ C over the full intervals below E_{i-1}: per interval h·C_j + h²(2 g_j + g_{j+1})/6
    per_interval = width * cumulative[:, :-1] + width**2 * (2 * g[:, :-1] + g[:, 1:]) / 6
    below = torch.arange(len(width), device=g.device)[None, :] < lower
    full = (per_interval * below).sum(-1)
    partial = c0 * x + g0 * x**2 / 2 + (g1 - g0) * x**3 / (6 * h)
    return fermi, n * fermi - (full + partial), filled
