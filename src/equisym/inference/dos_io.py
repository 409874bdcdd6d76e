"""DOS predictions as HDF5 files, and as ASE's ``GridDOSData``.

File layout written by :func:`write_dos_h5` (S structures, G grid energies, N atoms in all):

====================  ==========  ==============================================================
dataset               shape       meaning
====================  ==========  ==============================================================
``energies``          ``(G,)``    the model's energy grid, eV
``dos``               ``(S, G)``  DOS per atom of each structure, states/eV/atom (spin included)
``atom_dos``          ``(N, G)``  each atom's contribution, states/eV (``dos`` = mean over atoms)
``atom_offsets``      ``(S+1,)``  atoms of structure s: rows ``atom_offsets[s]:atom_offsets[s+1]``
``numbers``           ``(N,)``    atomic numbers, in the same order
``fermi_level``       ``(S,)``    eV
``band_energy``       ``(S,)``    eV/atom (:func:`equisym.physics.band_energy`)
``source``            ``(S,)``    ``file:index`` of each structure (UTF-8 strings)
====================  ==========  ==============================================================

Attributes: ``electrons_per_atom``, ``models`` (the model files), ``equisym_version``,
``units`` (a one-line reminder of the units above).

Example:
    >>> from equisym.inference.dos_io import read_dos_h5, to_grid_dos
    >>> data = read_dos_h5("dos.h5")
    >>> dos = to_grid_dos("dos.h5", structure=0)           # total DOS, states/eV
    >>> dos.plot(width=0.1)                                # ASE's broadened plot
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from equisym.errors import EquisymError
from equisym.inference.outputs import atomic_output

__all__ = ["write_dos_h5", "read_dos_h5", "to_grid_dos"]


def write_dos_h5(path: str | os.PathLike, prediction, atoms: Sequence, names: Sequence[str], models: Sequence[str], electrons_per_atom: float) -> None:
    """Write a :class:`~equisym.inference.dos.DOSPrediction` in the layout above, atomically."""
    import h5py

    from equisym import __version__

    offsets = np.concatenate([[0], np.cumsum([len(a) for a in atoms])]).astype(np.int64)
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("energies", data=np.asarray(prediction.energies, dtype=np.float64))
            f.create_dataset("dos", data=np.asarray(prediction.dos, dtype=np.float64))
            f.create_dataset("atom_dos", data=np.concatenate(prediction.atom_dos).astype(np.float64))
            f.create_dataset("atom_offsets", data=offsets)
            f.create_dataset("numbers", data=np.concatenate([a.numbers for a in atoms]).astype(np.int64))
            f.create_dataset("fermi_level", data=np.asarray(prediction.fermi_level, dtype=np.float64))
            f.create_dataset("band_energy", data=np.asarray(prediction.band_energy, dtype=np.float64))
            f.create_dataset("source", data=np.array(list(names), dtype=h5py.string_dtype()))
            f.attrs["electrons_per_atom"] = float(electrons_per_atom)
            f.attrs["models"] = [str(m) for m in models]
            f.attrs["equisym_version"] = __version__
            f.attrs["units"] = "energies, fermi_level: eV; dos: states/eV/atom; atom_dos: states/eV; band_energy: eV/atom"


def read_dos_h5(path: str | os.PathLike) -> dict:
    """Read a file written by :func:`write_dos_h5` into a dict of arrays (``source`` as str).

    Raises:
        EquisymError: a missing file or dataset.
    """
    import h5py

    keys = ("energies", "dos", "atom_dos", "atom_offsets", "numbers", "fermi_level", "band_energy", "source")
    if not os.path.isfile(path):
        raise EquisymError(f"DOS file not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in keys if k not in f]
            if missing:
                raise EquisymError(f"{path} is not an equisym DOS prediction: dataset '{missing[0]}' is missing")
            out = {k: f[k][()] for k in keys}
            out["source"] = np.array([s.decode() if isinstance(s, bytes) else str(s) for s in out["source"]])
            out["electrons_per_atom"] = float(f.attrs.get("electrons_per_atom", np.nan))
    except OSError as err:
        raise EquisymError(f"cannot read {path}: {err}") from None
    return out


def to_grid_dos(data: str | os.PathLike | dict, structure: int = 0, atom: int | None = None, per_atom: bool = False):
    """One DOS of a prediction file as :class:`ase.spectrum.dosdata.GridDOSData`.

    Args:
        data: the HDF5 path or the dict of :func:`read_dos_h5`.
        structure: index of the structure.
        atom: index of an atom inside that structure: its contribution (states/eV); None: the
            structure's DOS.
        per_atom: with ``atom=None``: the DOS per atom (states/eV/atom) instead of the total
            (states/eV = per atom × number of atoms).

    Returns:
        ``GridDOSData(energies, weights, info)``; ``info`` holds ``source``, ``structure``,
        ``fermi_level`` (eV) and ``atom`` when given (ASE's info values are strings).

    Raises:
        EquisymError: an index out of range.
    """
    from ase.spectrum.dosdata import GridDOSData

    if not isinstance(data, dict):
        data = read_dos_h5(data)
    n = len(data["dos"])
    if not 0 <= structure < n:
        raise EquisymError(f"structure {structure} out of range: the file holds {n} structures")
    a, b = int(data["atom_offsets"][structure]), int(data["atom_offsets"][structure + 1])
    info = {"source": str(data["source"][structure]), "structure": str(structure), "fermi_level": f"{float(data['fermi_level'][structure]):.6f}"}
    if atom is not None:
        if not 0 <= atom < b - a:
            raise EquisymError(f"atom {atom} out of range: structure {structure} has {b - a} atoms")
        info["atom"] = str(atom)
        weights = data["atom_dos"][a + atom]
    else:
        weights = data["dos"][structure] * (1 if per_atom else b - a)
    return GridDOSData(np.asarray(data["energies"], dtype=np.float64), np.asarray(weights, dtype=np.float64), info=info)
