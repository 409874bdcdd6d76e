"""A tiny carbon DOS data set in the ``equisym generate carbon-dos`` format, made here with
:mod:`equisym.physics` (Xu tight binding at Γ, Gaussian smearing): small rattled clusters
and periodic cells of a few structure types, split into train / val / test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _structures(rng: np.random.Generator) -> list:
    from ase import Atoms
    from ase.build import graphene, molecule, nanotube

    def dodecahedron() -> Atoms:
        t = (1 + 5**0.5) / 2
        pts = [(a, b, c) for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)]
        for a in (-1, 1):
            for b in (-1, 1):
                pts += [(0, a / t, b * t), (a / t, b * t, 0), (a * t, 0, b / t)]
        pts = np.array(pts, dtype=float)
        edge = 2 / t  # edge length of this dodecahedron
        return Atoms("C20", positions=pts * 1.45 / edge)

    makers = {
        "Graphene": lambda: graphene(size=(3, 3, 1), vacuum=6.0),
        "C20": dodecahedron,
        "C60": lambda: molecule("C60"),
        "C_8_0": lambda: nanotube(8, 0, length=1, vacuum=6.0),
    }
    out = []
    for name, make in makers.items():
        for k in range(8):
            atoms = make()
            atoms.rattle(0.04, seed=int(rng.integers(1 << 30)))
            atoms.info.update(structure=name, temperature=300 if k % 2 == 0 else 600, snapshot=k)
            atoms.info["split"] = "train" if k < 4 else ("val" if k < 6 else "test")
            out.append(atoms)
    return out


def write_tiny_dos_set(root: Path, seed: int = 0, n_energies: int = 310) -> Path:
    """Write ``structures.extxyz`` + ``dos.h5`` (the data contract) into ``root``."""
    import ase.io
    import h5py

    from equisym.physics.dos import ENERGY_SHIFT, SMEARING, band_energy, dos_grid, gaussian_dos
    from equisym.physics.tight_binding import CarbonTightBinding

    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    structures = _structures(rng)
    energies = dos_grid(size=n_energies)
    tb = CarbonTightBinding()
    atom_dos, offsets, fermi, band = [], [0], [], []
    for atoms in structures:
        res = tb.solve(atoms, kpts=(1, 1, 1), projections=True)
        d = gaussian_dos(res.eigenvalues, res.weights, energies, SMEARING, res.atom_weights, shift=ENERGY_SHIFT)
        atom_dos.append(d.astype(np.float32))
        offsets.append(offsets[-1] + len(atoms))
        ef, eb = band_energy(energies, d.mean(0), 4.0)[:2] if n_energies == 310 else (0.0, 0.0)
        fermi.append(ef)
        band.append(eb)
    ase.io.write(root / "structures.extxyz", structures, format="extxyz")
    with h5py.File(root / "dos.h5", "w") as f:
        f["energies"] = energies
        f["atom_dos"] = np.concatenate(atom_dos)
        f["atom_offset"] = np.array(offsets, dtype=np.int64)
        f["fermi_level"] = np.array(fermi)
        f["band_energy"] = np.array(band)
        f.attrs.update(
            energy_shift=ENERGY_SHIFT, smearing=SMEARING, n_electrons_per_atom=4,
            grid_start=float(energies[0]), grid_step=float(energies[1] - energies[0]), grid_size=n_energies,
        )
    return root


@pytest.fixture(scope="session")
def tiny_dos(tmp_path_factory) -> Path:
    return write_tiny_dos_set(tmp_path_factory.mktemp("carbon-dos-tiny"))
