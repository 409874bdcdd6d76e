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
    "band_energy",
    "fermi_and_band_energy",
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


def fermi_and_band_energy(
    energies: torch.Tensor, dos: torch.Tensor, n_electrons: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fermi level and band energy of a batch of DOS rows, differentiable in the DOS: the one
    implementation behind :func:`band_energy` (reports) and the training loss's band-energy
    term, so the trained and the reported quantity are the same.

    The DOS is linear between grid points, so ``C(E) = ∫_{E_0}^{E} DOS`` is piecewise quadratic
    and ``C(E_F) = n`` is solved exactly. Integration by parts gives
    ``E_band = ∫^{E_F} E·DOS dE = n·E_F − ∫_{E_0}^{E_F} C(E) dE``, whose derivative is
    ``∂E_band/∂DOS = ∫^{E_F} (E − E_F)·∂DOS dE``: the ``E_F`` terms cancel because ``C(E_F) = n``,
    so ``E_F`` is found without gradients and held fixed, and autograd of the right-hand side is
    the exact gradient.

    A row with fewer than ``n_electrons`` states on the grid gets the missing electrons at the
    last grid energy (a finite, large value) and ``filled = False``.

    Args:
        energies: ``(G,)`` increasing grid, eV.
        dos: ``(B, G)`` states/eV, spin included.
        n_electrons: electrons per row, > 0 (scalar or ``(B,)``).

    Returns:
        ``(fermi_level, band_energy, filled)``: ``(B,)`` eV (float64, no gradient),
        ``(B,)`` eV (float64, differentiable), ``(B,)`` bool.
    """
    e = energies.to(torch.float64)
    g = dos.to(torch.float64)
    n = torch.as_tensor(n_electrons, dtype=torch.float64, device=g.device).expand(len(g))
    width = e[1:] - e[:-1]  # (G-1,)
    cumulative = torch.cat([g.new_zeros(len(g), 1), (width * (g[:, :-1] + g[:, 1:]) / 2).cumsum(-1)], dim=-1)  # C(E_g)
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


def band_energy(energies: np.ndarray, dos: np.ndarray, n_electrons) -> tuple:
    """Fermi level by electron counting and band energy by integration up to it.

    Args:
        energies: ``(G,)`` increasing grid, eV.
        dos: ``(G,)`` DOS in states/eV, spin included (or ``(B, G)`` for a batch).
        n_electrons: electrons to place (scalar, or ``(B,)`` for a batch). Pass the
            normalisation matching ``dos``: 4 for a per-atom carbon DOS (→ band energy in
            eV/atom), ``4 N`` for a whole-structure DOS (→ eV per structure).

    Returns:
        ``(fermi_level, band_energy)``: floats for a single DOS, ``(B,)`` arrays for a batch.
        ``fermi_level`` solves ``∫_{E_0}^{E_F} DOS = n_electrons``; ``band_energy`` =
        ``∫_{E_0}^{E_F} E·DOS dE``; the DOS is linear between grid points.

    Raises:
        EquisymError: mismatched shapes, or fewer than ``n_electrons`` states on the grid.

    Example:
        >>> E = dos_grid()
        >>> d = gaussian_dos(np.array([-10.0, -5.0]), energies=E, sigma=0.2)  # 4 states
        >>> ef, eb = band_energy(E, d, 2.0)      # fill the level at -10 eV
        >>> round(eb, 6)
        -20.0
    """
    energies = np.asarray(energies, dtype=np.float64)
    dos = np.asarray(dos, dtype=np.float64)
    if energies.ndim != 1 or len(energies) < 2 or (np.diff(energies) <= 0).any():
        raise EquisymError("energies must be an increasing 1-D grid with at least 2 points")
    if dos.shape[-1] != len(energies) or dos.ndim not in (1, 2):
        raise EquisymError(f"dos must have shape ({len(energies)},) or (B, {len(energies)}), got {dos.shape}")
    if not np.isfinite(dos).all():
        raise EquisymError("dos contains non-finite values")
    n_el = np.broadcast_to(np.asarray(n_electrons, dtype=np.float64), dos.shape[:-1])
    if (n_el <= 0).any():
        raise EquisymError(f"n_electrons must be positive, got {n_electrons}")
    rows = torch.from_numpy(np.ascontiguousarray(dos.reshape(-1, len(energies))))
    grid, n_rows = torch.from_numpy(np.ascontiguousarray(energies)), torch.from_numpy(n_el.reshape(-1).copy())
    with torch.no_grad():
        fermi, band, filled = fermi_and_band_energy(grid, rows, n_rows)
    if not filled.all():
        k = int((~filled).nonzero()[0, 0])
        total = float(integrated_dos(energies, rows[k].numpy())[-1])
        raise EquisymError(
            f"the DOS integrates to only {total:.4g} states over the grid [{energies[0]:g}, {energies[-1]:g}] eV, "
            f"fewer than the {float(n_el.reshape(-1)[k]):g} electrons to place: no Fermi level inside the grid"
        )
    if dos.ndim == 1:
        return float(fermi[0]), float(band[0])
    return fermi.numpy(), band.numpy()
