"""equisym.physics: numpy science code — Slater-Koster tight binding for carbon, densities of
states on the CSGNN grid — and the Fermi level and band energy (one torch implementation,
differentiable, behind the numpy :func:`band_energy`)."""

from equisym.physics.dos import (
    ENERGY_SHIFT,
    GRID_SIZE,
    GRID_START,
    GRID_STEP,
    SMEARING,
    band_energy,
    dos_grid,
    fermi_and_band_energy,
    gaussian_dos,
    integrated_dos,
)
from equisym.physics.tight_binding import XWCH_PARAMETERS, CarbonTightBinding, TBResult, kpoint_grid

__all__ = [
    "CarbonTightBinding",
    "TBResult",
    "XWCH_PARAMETERS",
    "kpoint_grid",
    "band_energy",
    "fermi_and_band_energy",
    "dos_grid",
    "gaussian_dos",
    "integrated_dos",
    "ENERGY_SHIFT",
    "GRID_SIZE",
    "GRID_START",
    "GRID_STEP",
    "SMEARING",
]
