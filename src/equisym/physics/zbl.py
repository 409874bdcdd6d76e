"""Ziegler-Biersack-Littmark (ZBL) screened nuclear repulsion, a short-range prior for potentials.

The universal ZBL pair energy (Ziegler, Biersack & Littmark, *The Stopping and Range of Ions in
Solids*, 1985) between nuclei of charges Z_i, Z_j at distance r:

    E(r) = k Z_i Z_j / r · φ(r / a),   a = 0.8854 a₀ / (Z_i^0.23 + Z_j^0.23),
    φ(x) = 0.18175 e^(−3.19980 x) + 0.50986 e^(−0.94229 x) + 0.28022 e^(−0.40290 x) + 0.02817 e^(−0.20162 x),

with k = e²/(4π ε₀) = 14.399645 eV·Å and a₀ = 0.529177 Å (so 0.8854 a₀ = 0.46850 Å).

:func:`zbl_pair_energy` multiplies it by a C^∞ switch (:func:`equisym.geometry.switching.smooth_cutoff`)
that is 1 below half the sum of the two covalent radii and 0 from that sum on: the repulsion acts
only on pairs pushed well inside a chemical bond (C–H: fully on below 0.54 Å, off from 1.07 Å),
where training sets rarely have data and a network alone extrapolates freely. Covalent radii are
ASE's (``ase.data.covalent_radii``). Energies in eV, distances in Å.
"""

from __future__ import annotations

import torch

from equisym.geometry.switching import smooth_cutoff

__all__ = ["covalent_radii", "zbl_energy", "zbl_pair_energy"]


def covalent_radii(atomic_numbers: list[int]) -> torch.Tensor:
    """ASE's covalent radii (Å) of ``atomic_numbers``, shape ``(len(atomic_numbers),)`` float64."""
    from ase.data import covalent_radii as table

    return torch.tensor([float(table[z]) for z in atomic_numbers], dtype=torch.float64)


def zbl_energy(r: torch.Tensor, z_i: torch.Tensor, z_j: torch.Tensor) -> torch.Tensor:
    """The bare ZBL pair energy (eV) at distances ``r`` (Å, > 0) between charges ``z_i``, ``z_j``.

    Shapes: all three broadcast together (e.g. ``(E,)`` per pair); output the same shape.
    """
    # (TorchScript compiles this function: its constants are local)
    coulomb = 14.399645  # e²/(4π ε₀), eV·Å
    screening_length = 0.46850  # 0.8854 a₀, Å
    x = r * (z_i.pow(0.23) + z_j.pow(0.23)) / screening_length
    screening = (
        0.18175 * torch.exp(-3.19980 * x)
        + 0.50986 * torch.exp(-0.94229 * x)
        + 0.28022 * torch.exp(-0.40290 * x)
        + 0.02817 * torch.exp(-0.20162 * x)
    )
    return coulomb * z_i * z_j / r * screening


def zbl_pair_energy(r: torch.Tensor, z_i: torch.Tensor, z_j: torch.Tensor, bond_length: torch.Tensor) -> torch.Tensor:
    """ZBL pair energy (eV) switched off smoothly between ``bond_length / 2`` and ``bond_length``.

    Args:
        r: ``(E,)`` pair distances, Å (> 0).
        z_i, z_j: ``(E,)`` nuclear charges (atomic numbers, floating point).
        bond_length: ``(E,)`` the sum of the two covalent radii, Å: the repulsion is exactly 0
            from there on and exactly the bare ZBL energy below half of it.

    Returns:
        ``(E,)`` energies; smooth (C^∞) in ``r``, so forces from it are continuous.
    """
    return zbl_energy(r, z_i, z_j) * smooth_cutoff(r, bond_length, 0.5 * bond_length)
