"""equisym.physics: the science code — Slater-Koster tight binding and the Tersoff potential
for carbon, the ZBL short-range repulsion (:mod:`equisym.physics.zbl`), densities of states on
the CSGNN grid, and :func:`band_energy`, the one Fermi-level and band-energy function (numpy or
differentiable torch input)."""

from equisym.physics.dos import (
    ENERGY_SHIFT,
    GRID_SIZE,
    GRID_START,
    GRID_STEP,
    SMEARING,
    BandEnergy,
    band_energy,
    dos_grid,
    gaussian_dos,
    integrated_dos,
)
from equisym.physics.tight_binding import XWCH_PARAMETERS, CarbonTightBinding, TBResult, kpoint_grid

__all__ = [
    "CarbonTightBinding",
    "TBResult",
    "XWCH_PARAMETERS",
    "kpoint_grid",
    "BandEnergy",
    "band_energy",
    "dos_grid",
    "gaussian_dos",
    "integrated_dos",
    "ENERGY_SHIFT",
    "GRID_SIZE",
    "GRID_START",
    "GRID_STEP",
    "SMEARING",
]
