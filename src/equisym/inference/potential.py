"""Interatomic potentials at inference: load one, compute energy, forces and stress of a structure.

No Lightning and no training code is imported.

Example:
    >>> from ase.build import molecule
    >>> from equisym.inference.potential import load_potential, predict_potential
    >>> model = load_potential("runs/pet-methane/best.ckpt", dtype=torch.float64)
    >>> out = predict_potential(model, molecule("CH4"))
    >>> out["energy"], out["forces"].shape          # eV, (5, 3) eV/Å
"""

from __future__ import annotations

import os

import numpy as np
import torch

from equisym.errors import EquisymError
from equisym.inference.load import build_trained_model, resolve_device
from equisym.inference.model_file import read_model_file

__all__ = ["load_potential", "model_cutoff", "predict_potential"]


def load_potential(
    path: str | os.PathLike, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
) -> torch.nn.Module:
    """The network of a ``potential`` model file (e.g. :class:`equisym.nn.PET`), in eval mode.

    Raises:
        EquisymError: the file is unsafe, damaged, from a newer equisym, of another task, or its
            weights do not match its config.
    """
    model_file = read_model_file(path)
    if model_file.task != "potential":
        raise EquisymError(f"{path} is a model file of the '{model_file.task}' task, not an interatomic potential")
    model = build_trained_model(model_file)
    if dtype is not None:
        model = model.to(dtype)
    return model.to(resolve_device(device))


def model_cutoff(model: torch.nn.Module) -> float | None:
    """The neighbour-list radius (Å) a model (or the model inside a wrapper) declares, or None."""
    for obj in (model, getattr(model, "model", None), getattr(model, "base", None)):
        if obj is None:
            continue
        cutoff = getattr(obj, "cutoff", None)
        if cutoff is None and hasattr(obj, "config"):
            cutoff = getattr(obj.config, "cutoff", None)
        if isinstance(cutoff, (int, float)):
            return float(cutoff)
    return None


def predict_potential(
    model: torch.nn.Module,
    atoms,
    cutoff: float | None = None,
    stress: bool = False,
    dtype: torch.dtype | None = None,
) -> dict:
    """Energy, forces, per-atom energies (and stress) of one structure.

    Args:
        model: a potential ``graph -> {"energy", "atom_energy"}`` in eval mode (bare, or
            wrapped in :class:`equisym.nn.Symmetrized`); its device is used.
        atoms: an ``ase.Atoms``.
        cutoff: neighbour-list radius in Å (default: the model's).
        stress: also compute the stress (needs a cell periodic in all three directions).
        dtype: precision of the computation (default: that of the model's weights).

    Returns:
        ``energy`` (float, eV), ``forces`` ``(N, 3)`` eV/Å, ``energies`` ``(N,)`` eV when the
        model gives per-atom energies, ``stress`` ``(3, 3)`` eV/Å³ (ASE's sign) when asked,
        ``num_frames`` (int) for a symmetrized model. NumPy float64 arrays.

    Forces are conservative (−∂E/∂positions by autograd); their symmetry is the model's.

    Raises:
        EquisymError: bad structures (NaN positions, overlapping atoms, unknown species, a
            singular cell), stress of a non-periodic cell, no cutoff known.
    """
    from equisym.geometry.graph import build_graph
    from equisym.nn.atomistic import compute_forces

    cutoff = model_cutoff(model) if cutoff is None else float(cutoff)
    if cutoff is None:
        raise EquisymError("give the neighbour-list cutoff (the model does not declare one)")
    if stress and not bool(np.all(atoms.pbc)):
        raise EquisymError("stress needs a cell that is periodic in all three directions")
    weight = next(iter(model.parameters()), None)
    device = weight.device if weight is not None else torch.device("cpu")
    if dtype is None:
        dtype = weight.dtype if weight is not None and weight.is_floating_point() else torch.float64
    graph = build_graph(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc, cutoff, dtype=dtype, name="atoms").to(device)
    out = compute_forces(model, graph, forces=True, stress=stress)
    result = {
        "energy": float(out["energy"].detach()[0]),
        "forces": out["forces"].detach().cpu().numpy().astype(np.float64),
    }
    if "atom_energy" in out:
        result["energies"] = out["atom_energy"].detach().cpu().numpy().astype(np.float64)
    if stress:
        result["stress"] = out["stress"].detach()[0].cpu().numpy().astype(np.float64)
    if "num_frames" in out:
        result["num_frames"] = int(out["num_frames"].sum())
    return result
