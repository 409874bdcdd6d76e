"""ASE calculator for equisym interatomic potentials (bare or ECSE-symmetrized).

Example:
    >>> from ase.build import molecule
    >>> from equisym.integrations.ase import EquisymCalculator
    >>> atoms = molecule("CH4")
    >>> atoms.calc = EquisymCalculator("runs/pet-methane/best.ckpt", symmetrize=True)
    >>> atoms.get_potential_energy(), atoms.get_forces().shape   # eV, eV/Å
"""

from __future__ import annotations

import os

import numpy as np
import torch
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

from equisym.errors import EquisymError
from equisym.geometry.graph import build_graph
from equisym.nn.atomistic import compute_forces

__all__ = ["EquisymCalculator"]


def _find_cutoff(model: torch.nn.Module) -> float | None:
    for obj in (model, getattr(model, "model", None), getattr(model, "base", None)):
        if obj is None:
            continue
        c = getattr(obj, "cutoff", None)
        if c is None and hasattr(obj, "config"):
            c = getattr(obj.config, "cutoff", None)
        if isinstance(c, (int, float)):
            return float(c)
    return None


class EquisymCalculator(Calculator):
    """ASE calculator: energy (eV), forces (eV/Å), per-atom energies (eV) and, for cells
    periodic in all three directions, the stress (eV/Å³, ASE's sign and Voigt order).

    Args:
        model_or_checkpoint_path: a model ``graph -> {"energy", "atom_energy"}`` (e.g.
            :class:`equisym.nn.PET`, or one already wrapped in :class:`equisym.nn.Symmetrized`)
            or the path of a ``potential`` checkpoint (``best.ckpt``).
        symmetrize: wrap the model in :class:`equisym.nn.Symmetrized` (exact O(3) symmetry
            with ``improper=True``; SO(3) otherwise).
        aux_model: invariant auxiliary model for ECSE (model or checkpoint path); needed for
            all-collinear structures (dimers, linear molecules) when ``symmetrize``.
        ecse: options of :class:`~equisym.nn.ecse.ECSEConfig` (dict), e.g. ``{"improper": True}``.
        cutoff: neighbour-list radius in Å (default: the model's cutoff).
        dtype: ``torch.float64`` (default) or ``torch.float32``.
        device: torch device.

    Forces are conservative (autograd of the energy); with ``symmetrize`` they are exactly
    rotation-equivariant. Errors in the input structure (NaN positions, overlapping atoms, a
    singular periodic cell, unknown species) raise :class:`equisym.errors.EquisymError`.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(
        self,
        model_or_checkpoint_path,
        symmetrize: bool = False,
        aux_model=None,
        ecse: dict | None = None,
        cutoff: float | None = None,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        model = self._load(model_or_checkpoint_path, dtype)
        base_cutoff = _find_cutoff(model)
        if symmetrize:
            from equisym.nn.ecse import Symmetrized

            aux = self._load(aux_model, dtype) if aux_model is not None else None
            model = Symmetrized(model, aux_model=aux, config=dict(ecse or {}))
        self.model = model.to(device=device, dtype=dtype).eval()
        self.cutoff = float(cutoff) if cutoff is not None else base_cutoff
        if self.cutoff is None:
            raise EquisymError("EquisymCalculator: give cutoff= (the model does not expose one)")
        self.dtype, self.device = dtype, torch.device(device)
        self.symmetrize = symmetrize
        self.num_frames: int | None = None

    @staticmethod
    def _load(obj, dtype) -> torch.nn.Module:
        if isinstance(obj, torch.nn.Module):
            return obj.to(dtype)
        if isinstance(obj, (str, os.PathLike)):
            from equisym.train.tasks.potential import load_potential

            return load_potential(obj, dtype)
        raise EquisymError(f"EquisymCalculator needs a model or a checkpoint path, got {type(obj).__name__}")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        periodic = bool(np.all(atoms.pbc))
        graph = build_graph(
            atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc, self.cutoff, dtype=self.dtype, name="atoms"
        ).to(self.device)
        want_stress = "stress" in properties and periodic
        if "stress" in properties and not periodic:
            raise PropertyNotImplementedError("stress needs a cell that is periodic in all three directions")
        out = compute_forces(self.model, graph, forces=True, stress=want_stress)
        self.results["energy"] = float(out["energy"].detach()[0])
        self.results["free_energy"] = self.results["energy"]
        self.results["forces"] = out["forces"].detach().cpu().numpy().astype(np.float64)
        if "atom_energy" in out:
            self.results["energies"] = out["atom_energy"].detach().cpu().numpy().astype(np.float64)
        if want_stress:
            self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"].detach()[0].cpu().numpy())
        if "num_frames" in out:
            self.num_frames = int(out["num_frames"].sum())
