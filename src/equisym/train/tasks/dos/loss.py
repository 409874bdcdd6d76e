"""The DOS training loss (Fox et al.) and its optional atom-level and band-energy terms."""

from __future__ import annotations

import torch

from equisym.physics import band_energy

__all__ = ["dos_loss", "band_energy_errors", "training_loss"]


def dos_loss(pred: torch.Tensor, target: torch.Tensor, step: float, alpha: float) -> torch.Tensor:
    """``α·MSE(DOS) + (1−α)·MSE(N)`` with the integrated DOS ``N(E_g) = ΔE·Σ_{g'≤g} DOS(E_g')``.

    Shapes:
        pred, target: ``(S, G)`` states/eV/atom; ``step`` ΔE in eV; returns a scalar.
    """
    mse = torch.nn.functional.mse_loss(pred, target)
    cum = torch.nn.functional.mse_loss(step * pred.cumsum(-1), step * target.cumsum(-1))
    return alpha * mse + (1 - alpha) * cum


def band_energy_errors(energies: torch.Tensor, pred: torch.Tensor, target: torch.Tensor, n_electrons: float) -> torch.Tensor:
    """Band energy of ``pred`` minus that of ``target`` (:func:`equisym.physics.band_energy`),
    differentiable in ``pred``.

    Shapes:
        energies ``(G,)`` eV; pred, target ``(S, G)`` states/eV/atom; returns ``(S,)`` eV/atom in
        ``pred``'s dtype. A predicted DOS with too few states on the grid keeps a finite value
        (its electrons placed at the last grid energy), whose gradient adds states.
    """
    predicted = band_energy(energies, pred, n_electrons, unfilled="flag").band_energy
    true = band_energy(energies, target, n_electrons, unfilled="flag").band_energy
    return (predicted - true).to(pred.dtype)  # float64 differences of ~50 eV values


def training_loss(
    pred: torch.Tensor, atoms: torch.Tensor, batch: dict, *, step: float, alpha: float, atom_weight: float,
    band_weight: float, bias_weight: float, energies: torch.Tensor, n_electrons: float,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The ``dos`` task's loss of structure predictions ``pred`` ``(S, G)`` and atom contributions
    ``atoms`` ``(N, G)`` against ``batch["dos"]`` and ``batch["atom_dos"]``:
    ``dos_loss(structures) + atom_weight·dos_loss(atoms) + band_weight·[mean(err²) + bias_weight·mean(err)²]``
    with ``err`` the band-energy errors ``(S,)`` eV/atom.

    Returns:
        ``(loss, err)``; ``err`` is None when ``band_weight`` is 0 (the term is then skipped).
    """
    loss = dos_loss(pred, batch["dos"], step, alpha)
    if atom_weight > 0:
        loss = loss + atom_weight * dos_loss(atoms, batch["atom_dos"], step, alpha)
    if band_weight <= 0:
        return loss, None
    err = band_energy_errors(energies, pred, batch["dos"], n_electrons)
    return loss + band_weight * (err.pow(2).mean() + bias_weight * err.mean().pow(2)), err
