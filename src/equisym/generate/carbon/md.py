"""Thermal snapshots of carbon structures (Tersoff Langevin MD) and their tight-binding DOS.

Snapshot DOS: Xu-Wang-Chan-Ho tight binding (:class:`equisym.physics.CarbonTightBinding`),
atom-projected, Gaussian-smeared on the CSGNN grid after the global shift
:data:`equisym.physics.ENERGY_SHIFT`; Fermi level and band energy by
:func:`equisym.physics.band_energy` with 4 electrons per atom.
"""

from __future__ import annotations

import numpy as np

from equisym.errors import EquisymError

__all__ = ["run_md", "snapshot_dos"]


class _FixGroupComs:
    """ASE constraint: fix the centre of mass of each atom group (e.g. each graphite layer).

    (``ase.constraints.FixSubsetCom`` shifts *all* atoms when restoring a subset's centre in
    ASE 3.29, so several of them interfere; this one moves each group on its own.)
    """

    def __init__(self, groups: list[np.ndarray]) -> None:
        self.groups = [np.asarray(g, dtype=np.int64) for g in groups]

    def get_removed_dof(self, atoms) -> int:
        return 3 * len(self.groups)

    def adjust_positions(self, atoms, new) -> None:
        m = atoms.get_masses()
        for g in self.groups:
            new[g] += (m[g] @ atoms.positions[g] - m[g] @ new[g]) / m[g].sum()

    def adjust_momenta(self, atoms, momenta) -> None:
        m = atoms.get_masses()
        for g in self.groups:
            momenta[g] -= m[g, None] * (momenta[g].sum(axis=0) / m[g].sum())

    def adjust_forces(self, atoms, forces) -> None:
        m = atoms.get_masses()
        for g in self.groups:
            forces[g] -= m[g, None] * ((m[g] @ forces[g]) / (m[g] ** 2).sum())

    def index_shuffle(self, atoms, ind):  # pragma: no cover - not used by MD
        raise NotImplementedError

    def copy(self):
        return _FixGroupComs(self.groups)

    def todict(self):
        return {"name": "FixCom", "kwargs": {}}


def _graphite_layers(atoms) -> list[np.ndarray]:
    z = atoms.positions[:, 2]
    levels = np.round(z / 0.5) * 0.5
    return [np.nonzero(levels == v)[0] for v in np.unique(levels)]


def run_md(atoms, temperature: float, n_snapshots: int, seed: int, timestep: float = 1.0, equilibration: int = 1000, interval: int = 50, friction: float = 0.01):
    """Langevin MD with the Tersoff potential; returns ``n_snapshots`` copies of the atoms.

    Args:
        atoms: relaxed starting structure (not modified).
        temperature: K. seed: random seed of velocities and noise.
        timestep: fs. equilibration: steps before the first snapshot.
        interval: steps between snapshots. friction: 1/fs (Langevin coupling).

    Graphite layers keep their centres of mass (Tersoff does not bind them, so they would
    drift); for other structures the total centre of mass is fixed.
    """
    from ase import units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation

    from equisym.physics.tersoff import TersoffCarbon

    a = atoms.copy()
    if atoms.info.get("structure") == "graphite":
        a.set_constraint(_FixGroupComs(_graphite_layers(a)))
    else:
        a.set_constraint(FixCom())
    a.calc = TersoffCarbon()
    rng = np.random.default_rng(seed)
    try:  # ASE ≥ 3.29 renamed MaxwellBoltzmannDistribution
        from ase.md.velocitydistribution import thermalize_momenta

        thermalize_momenta(a, temperature_K=temperature, rng=rng)
    except ImportError:
        MaxwellBoltzmannDistribution(a, temperature_K=temperature, rng=rng)
    Stationary(a)
    if not a.pbc.any():
        ZeroRotation(a)
    dyn = Langevin(a, timestep=timestep * units.fs, temperature_K=temperature, friction=friction / units.fs, rng=rng, fixcm=False, logfile=None)
    dyn.run(equilibration)
    out = []
    for _ in range(n_snapshots):
        dyn.run(interval)
        snap = a.copy()
        snap.set_constraint()
        snap.calc = None
        snap.arrays.pop("momenta", None)
        snap.info = {}
        out.append(snap)
    return out


def snapshot_dos(atoms, kpts, tb=None, smearing: float | None = None) -> tuple[np.ndarray, float, float]:
    """Atom-projected DOS of one snapshot on the shifted grid, with E_F and E_band.

    Returns:
        ``(atom_dos, fermi_level, band_energy)``: ``(N, 310)`` float32 states/eV per atom,
        eV, eV/atom.
    """
    from equisym.physics import ENERGY_SHIFT, SMEARING, CarbonTightBinding, band_energy, dos_grid, gaussian_dos

    tb = tb or CarbonTightBinding()
    sigma = SMEARING if smearing is None else smearing
    grid = dos_grid()
    res = tb.solve(atoms, kpts, projections=True)
    lowest = res.eigenvalues.min() + ENERGY_SHIFT
    if lowest < grid[0] + 5 * sigma:
        raise EquisymError(f"a state at {lowest:.2f} eV (shifted) falls below the DOS grid starting at {grid[0]} eV")
    dos = gaussian_dos(res.eigenvalues, res.weights, grid, sigma, atom_weights=res.atom_weights, shift=ENERGY_SHIFT).astype(np.float32)
    fermi, band, _ = band_energy(grid, dos.astype(np.float64).mean(axis=0), 4.0)
    return dos, fermi, band

