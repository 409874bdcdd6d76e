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
from equisym.inference.load import resolve_device
from equisym.inference.potential import load_potential, model_cutoff, predict_potential

__all__ = ["EquisymCalculator"]


class EquisymCalculator(Calculator):
    """ASE calculator: energy (eV), forces (eV/Å), per-atom energies (eV) and, for cells
    periodic in all three directions, the stress (eV/Å³, ASE's sign and Voigt order).

    Args:
        model_or_checkpoint_path: a model ``graph -> {"energy", "atom_energy"}`` (e.g.
            :class:`equisym.nn.PET`, or one already wrapped in :class:`equisym.nn.Symmetrized`)
            or the path of a ``potential`` model file (``best.ckpt``), opened with
            :func:`equisym.inference.potential.load_potential` (plain data only: a file that
            would run code when unpickled is refused).
        symmetrize: wrap the model in :class:`equisym.nn.Symmetrized` (exact O(3) symmetry
            with ``improper=True``; SO(3) otherwise).
        aux_model: invariant auxiliary model for ECSE (model or checkpoint path); needed for
            all-collinear structures (dimers, linear molecules) when ``symmetrize``.
        ecse: options of :class:`~equisym.geometry.ecse_frames.ECSEConfig` (dict), e.g. ``{"improper": True}``.
        cutoff: neighbour-list radius in Å (default: the model's cutoff).
        dtype: ``torch.float64`` (default) or ``torch.float32``.
        device: torch device (``"cpu"``, ``"cuda"``, ...); the model runs there.

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
        device = resolve_device(device)
        model = self._load(model_or_checkpoint_path, dtype)
        base_cutoff = model_cutoff(model)
        if symmetrize:
            from equisym.nn.symmetrize import Symmetrized

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
            return load_potential(obj, dtype)
        raise EquisymError(f"EquisymCalculator needs a model or a checkpoint path, got {type(obj).__name__}")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        want_stress = "stress" in properties
        if want_stress and not bool(np.all(atoms.pbc)):
            raise PropertyNotImplementedError("stress needs a cell that is periodic in all three directions")
        out = predict_potential(self.model, atoms, self.cutoff, stress=want_stress, dtype=self.dtype)
        self.results["energy"] = out["energy"]
        self.results["free_energy"] = out["energy"]
        self.results["forces"] = out["forces"]
        if "energies" in out:
            self.results["energies"] = out["energies"]
        if want_stress:
            self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"])
        if "num_frames" in out:
            self.num_frames = out["num_frames"]
