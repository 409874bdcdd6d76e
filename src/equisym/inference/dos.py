"""DOS, Fermi level and band energy of carbon structures from trained ``dos`` model files.

No Lightning and no training code: the model is rebuilt from its model file
(:func:`~equisym.inference.model_file.read_model_file`, weights only), its energy grid and
electrons per atom come from its model config, its input settings (spheres or SOAP) from the
stored run config's ``data`` section, and the batches are those of training
(:mod:`equisym.data.carbon_batches`, :mod:`equisym.nn.dos_batch`), so a prediction equals the
evaluation's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from equisym.config import from_dict
from equisym.data.atom_spheres import AtomSpheresConfig
from equisym.data.carbon_batches import DOSCollate, DOSStructures, structure_inputs
from equisym.data.soap import SoapConfig
from equisym.errors import EquisymError
from equisym.inference.load import build_trained_model
from equisym.inference.model_file import read_model_file
from equisym.nn.dos_batch import predict_batch
from equisym.physics import band_energy

__all__ = ["DOSPrediction", "DOSModel", "load_dos_models", "predict_dos"]


@dataclass
class DOSPrediction:
    """The DOS that trained models predict for some structures (from :func:`predict_dos`).

    Shapes and units (S structures, G grid energies, N_s atoms in structure s):
        - energies: ``(G,)`` eV, the model's grid.
        - dos: ``(S, G)`` states/eV per atom (spin included), the mean of the atoms' contributions.
        - atom_dos: S arrays ``(N_s, G)`` states/eV, each atom's contribution.
        - fermi_level: ``(S,)`` eV; band_energy: ``(S,)`` eV/atom, by
          :func:`equisym.physics.band_energy` with the model's electrons per atom.
    """

    energies: np.ndarray
    dos: np.ndarray
    atom_dos: list
    fermi_level: np.ndarray
    band_energy: np.ndarray


@dataclass
class DOSModel:
    """A trained DOS network with what it needs to read structures.

    Attributes:
        network: the model (CSGNN-DOS, SchNet-DOS or SOAP + MLP) in eval mode.
        kind: its registry name; spheres / soap / cutoff: its input settings.
        energies: ``(G,)`` eV grid of its output; electrons_per_atom: for the band energy.
    """

    network: torch.nn.Module
    kind: str
    spheres: AtomSpheresConfig | None
    soap: SoapConfig | None
    cutoff: float | None
    energies: np.ndarray
    electrons_per_atom: float

    def input_key(self) -> tuple:
        """What the inputs depend on: models with equal keys can share one batch."""
        return (self.kind, repr(self.spheres), repr(self.soap), self.cutoff)


def load_dos_models(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[DOSModel]:
    """Read ``dos`` model files (``best.ckpt`` of runs) safely and rebuild their networks.

    Raises:
        EquisymError: a file is missing, unsafe, damaged, from a newer equisym or of another
            task; members of an ensemble read their inputs or grids differently.
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not paths:
        raise EquisymError("predict_dos: give at least one model file")
    models = []
    for path in paths:
        model_file = read_model_file(path)
        if model_file.task != "dos":
            raise EquisymError(f"{path} is a model file of the '{model_file.task}' task, not of the 'dos' task")
        network = build_trained_model(model_file)
        kind = str(model_file.model["name"])
        data = model_file.config.get("data", {}) or {}
        spheres = soap = None
        if kind == "csgnn-dos":
            spheres = from_dict(AtomSpheresConfig, {**(data.get("spheres") or {}), "level": model_file.model["level"]},
                                where=f"{path}: data.spheres")
        elif kind == "soap-dos":
            soap = from_dict(SoapConfig, data.get("soap") or {}, where=f"{path}: data.soap")
        head = network.config
        models.append(DOSModel(network, kind, spheres, soap, getattr(head, "cutoff", None) if kind == "schnet-dos" else None,
                               head.energies(), float(head.electrons_per_atom)))
    first = models[0]
    for path, m in zip(paths[1:], models[1:]):
        if m.input_key() != first.input_key() or not np.allclose(m.energies, first.energies) \
                or m.electrons_per_atom != first.electrons_per_atom:
            raise EquisymError(f"{path} cannot join an ensemble with {paths[0]}: its model, input settings or energy grid differ")
    return models


@torch.no_grad()
def predict_dos(model_files, structures, batch_size: int = 32, device: str | torch.device = "cpu",
                show_progress: bool = False) -> DOSPrediction:
    """Predict the DOS, Fermi level and band energy of carbon structures with trained models.

    Args:
        model_files: ``best.ckpt`` of a ``dos`` run, or a list of several (their mean: a deep
            ensemble; the members must share model type, input settings and grid).
        structures: an ``ase.Atoms`` or a sequence of them (carbon only; molecules or
            periodic cells).
        batch_size: structures per forward pass.
        device: where the networks run (``cpu``, ``cuda``, ...); inputs are built on the CPU.
        show_progress: a progress bar over the batches (stderr).

    Symmetry: the prediction inherits the model's: exactly invariant under every rotation
    (local frames, SOAP, SchNet) or under the 60 icosahedral rotations (lab-frame CSGNN-DOS),
    and under translations and permutations of the atoms (``atom_dos`` is permuted with them).

    Raises:
        EquisymError: a model file of another task (or unsafe, damaged), an element other than
            carbon, an atom with no neighbour within the cutoff, overlapping atoms, NaN
            positions, a predicted DOS without enough states for the electrons.

    Example::

        >>> from ase.build import graphene
        >>> sheet = graphene(a=2.53, size=(8, 8, 1), vacuum=10.0)  # bonds of 1.46 Å, as in the data
        >>> p = predict_dos("runs/csgnn-dos/best.ckpt", sheet)
        >>> p.band_energy[0], p.fermi_level[0]  # eV/atom, eV
    """
    from ase import Atoms

    atoms = [structures] if isinstance(structures, Atoms) else list(structures)
    if not atoms or not all(isinstance(a, Atoms) for a in atoms):
        raise EquisymError("predict_dos: give an ase.Atoms or a non-empty sequence of them")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise EquisymError(f"predict_dos: batch_size must be a positive integer, got {batch_size}")
    from equisym.inference.load import resolve_device
    from equisym.inference.outputs import progress

    dev = resolve_device(device)
    models = load_dos_models(model_files)
    for m in models:
        m.network.to(dev)
    first = models[0]
    energies = first.energies
    names = [f"structure {i} ({a.get_chemical_formula()})" for i, a in enumerate(atoms)]
    structures_in = DOSStructures(
        atoms=atoms,
        dos=np.zeros((len(atoms), len(energies)), dtype=np.float32),
        groups=names,
        band_energy=np.full(len(atoms), np.nan),
        inputs=structure_inputs(atoms, names, first.kind, first.spheres, first.soap, first.cutoff),
        atom_dos=[np.zeros((len(a), len(energies)), dtype=np.float32) for a in atoms],
    )
    collate = DOSCollate(structures_in, first.kind, first.spheres, rotate=False, seed=0, frame_mode="all")
    atom_dos: list = [None] * len(atoms)
    for start in progress(range(0, len(atoms), batch_size), "predict DOS", show_progress, unit="batch"):
        ids = list(range(start, min(start + batch_size, len(atoms))))
        batch = {k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in collate(ids).items()}
        per_atom = torch.stack([predict_batch(m.network, batch)[1] for m in models]).mean(0).double().cpu().numpy()
        batch["structure_index"] = batch["structure_index"].cpu()
        counts = np.bincount(batch["structure_index"].numpy(), minlength=len(ids))
        for i, block in zip(ids, np.split(per_atom, np.cumsum(counts)[:-1])):
            atom_dos[i] = block
    dos = np.stack([block.mean(0) for block in atom_dos])
    fermi, band, filled = band_energy(energies, dos, first.electrons_per_atom, unfilled="flag")
    if not filled.all():
        k = int(np.flatnonzero(~filled)[0])
        raise EquisymError(
            f"predict_dos: the predicted DOS of {names[k]} holds fewer than {first.electrons_per_atom:g} states per atom "
            "on the grid, so it has no Fermi level (is the structure far from the training data?)"
        )
    return DOSPrediction(energies=energies, dos=dos, atom_dos=atom_dos, fermi_level=fermi, band_energy=band)
