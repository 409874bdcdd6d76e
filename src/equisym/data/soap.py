"""SOAP power-spectrum descriptors per atom (through ``featomic``), for the DOS baseline.

SOAP (smooth overlap of atomic positions) is a hand-crafted, exactly rotation-invariant
description of each atom's neighbourhood: the neighbour density (Gaussians of width
``density_width`` Å, smooth cutoff at ``cutoff`` Å) is expanded in GTO radial functions ×
spherical harmonics and contracted into the rotation-invariant power spectrum.

Optional dependency: ``pip install equisym[dos]`` (``featomic``).

Symmetry: exactly invariant (up to float rounding) to any rotation, reflection,
translation and permutation of the neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from equisym.errors import EquisymError

__all__ = ["SoapConfig", "soap_features"]


@dataclass
class SoapConfig:
    """SOAP hyperparameters (featomic ``SoapPowerSpectrum``)."""

    cutoff: float = 5.0
    """Cutoff radius in Å."""
    smoothing: float = 0.5
    """Width of the shifted-cosine cutoff smoothing in Å."""
    density_width: float = 0.3
    """Width of the Gaussian placed on each neighbour, in Å."""
    max_angular: int = 6
    """Largest angular channel l."""
    max_radial: int = 7
    """Largest radial index n (max_radial + 1 GTO functions)."""

    @property
    def num_features(self) -> int:
        n = self.max_radial + 1
        return n * n * (self.max_angular + 1)


def _fully_periodic(atoms, cutoff: float):
    """featomic needs all-or-nothing periodicity: make mixed-periodic cells fully periodic,
    stretching each non-periodic lattice vector so that images are farther than ``cutoff``."""
    pbc = atoms.get_pbc()
    if pbc.all() or not pbc.any():
        return atoms
    atoms = atoms.copy()
    cell = np.array(atoms.get_cell())
    positions = atoms.get_positions()
    for axis in np.nonzero(~pbc)[0]:
        others = [k for k in range(3) if k != axis]
        normal = np.cross(cell[others[0]], cell[others[1]])
        normal /= np.linalg.norm(normal)
        height = abs(cell[axis] @ normal)
        span = np.ptp(positions @ normal)
        need = span + cutoff + 1.0
        if height < need:
            cell[axis] *= need / max(height, 1e-9) if height > 1e-9 else 1.0
            if height <= 1e-9:
                cell[axis] = normal * need
    atoms.set_cell(cell, scale_atoms=False)
    atoms.set_pbc(True)
    return atoms


def soap_features(structures: Sequence, config: SoapConfig | None = None) -> list[np.ndarray]:
    """SOAP power spectrum of every atom of every structure.

    Args:
        structures: ``ase.Atoms`` objects (single element assumed: carbon).
        config: :class:`SoapConfig`.

    Returns:
        One float32 array ``(N_s, config.num_features)`` per structure.

    Raises:
        EquisymError: ``featomic`` is not installed.
    """
    try:
        import featomic
        from featomic.basis import Gto, TensorProduct
        from featomic.cutoff import Cutoff, ShiftedCosine
        from featomic.density import Gaussian
    except ImportError:
        raise EquisymError("the SOAP baseline needs featomic: pip install 'equisym[dos]'") from None
    config = config or SoapConfig()
    calc = featomic.SoapPowerSpectrum(
        cutoff=Cutoff(radius=config.cutoff, smoothing=ShiftedCosine(width=config.smoothing)),
        density=Gaussian(width=config.density_width),
        basis=TensorProduct(max_angular=config.max_angular, radial=Gto(max_radial=config.max_radial)),
    )
    systems = [_fully_periodic(a, config.cutoff) for a in structures]
    out: list[np.ndarray] = []
    chunk = 64
    for start in range(0, len(systems), chunk):
        part = systems[start : start + chunk]
        tm = calc.compute(part)
        tm = tm.keys_to_samples("center_type").keys_to_properties(["neighbor_1_type", "neighbor_2_type"])
        block = tm.block()
        values = np.asarray(block.values, dtype=np.float32)
        samples = np.asarray(block.samples.values)
        order = np.lexsort((samples[:, 1], samples[:, 0]))
        values, samples = values[order], samples[order]
        for k, atoms in enumerate(part):
            rows = values[samples[:, 0] == k]
            if len(rows) != len(atoms):  # pragma: no cover - featomic always returns every centre
                raise RuntimeError("featomic returned a different number of atoms")
            out.append(rows)
    return out
