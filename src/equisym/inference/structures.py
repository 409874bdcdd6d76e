"""Batched potential predictions on structure files: energy, forces, stress, ensemble spread.

Used by ``equisym predict`` for ``potential`` model files; no Lightning, no training code.

- :func:`read_structures`: every frame of every file ASE reads (``ase.io.read(path, ":")``).
- :func:`load_potential_ensemble`: one or several ``potential`` model files, optionally each
  wrapped in ECSE (:class:`equisym.nn.symmetrize.Symmetrized`).
- :func:`predict_structures`: packed batches of structures through every model.
- :func:`write_extxyz`: the structures with their predictions, as extended XYZ.

Units: Å, eV, eV/Å, eV/Å³ (ASE's stress sign and Voigt order in the file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from equisym.errors import EquisymError
from equisym.inference.outputs import atomic_output, progress

__all__ = ["read_structures", "load_potential_ensemble", "check_species", "predict_structures", "write_extxyz", "StructurePrediction"]


def read_structures(paths: Sequence[str | os.PathLike]) -> tuple[list, list[str]]:
    """All frames of the given files, and a name ``file:index`` for each.

    Raises:
        EquisymError: a missing or unreadable file, or one with no structure.
    """
    from ase.io import read

    atoms, names = [], []
    for path in paths:
        path = str(path)
        if not os.path.isfile(path):
            raise EquisymError(f"structure file not found: {path}")
        try:
            frames = read(path, index=":")
        except Exception as err:  # noqa: BLE001 - ASE raises many types for unreadable files
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise EquisymError(f"cannot read structures from {path} with ASE ({first})") from None
        frames = frames if isinstance(frames, list) else [frames]
        if not frames:
            raise EquisymError(f"{path} holds no structure")
        for k, a in enumerate(frames):
            atoms.append(a)
            names.append(f"{path}:{k}")
    return atoms, names


def load_potential_ensemble(
    paths: Sequence[str | os.PathLike], ecse: bool = False, dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu",
    aux: str | os.PathLike | None = None,
) -> list[torch.nn.Module]:
    """``potential`` model files as networks in eval mode on ``device`` (each wrapped in ECSE
    with its run's ``eval.ecse`` options when ``ecse``; ``aux``: the model file of an invariant
    auxiliary potential for ECSE, needed for all-collinear structures such as dimers).

    Raises:
        EquisymError: a file of another task, unsafe or damaged; members with different species.
    """
    from equisym.inference.load import resolve_device
    from equisym.inference.model_file import read_model_file
    from equisym.inference.potential import load_potential

    dev = resolve_device(device)
    models = []
    for path in paths:
        model = load_potential(path, dtype=dtype)
        if ecse:
            from equisym.nn.symmetrize import Symmetrized

            options = dict((read_model_file(path).config.get("eval") or {}).get("ecse") or {})
            model = Symmetrized(model, aux_model=load_potential(aux, dtype=dtype) if aux else None, config=options)
        models.append(model.to(device=dev, dtype=dtype).eval())
    species = [tuple(known_species(m) or ()) for m in models]
    if len(set(species)) > 1:
        raise EquisymError(f"the models of an ensemble must know the same elements; {paths[0]} knows {list(species[0])}, "
                           f"{paths[species.index(next(s for s in species if s != species[0]))]} another set")
    return models


def known_species(model: torch.nn.Module) -> list[int] | None:
    """Atomic numbers a potential (or the model inside a wrapper) knows, or None."""
    for obj in (model, getattr(model, "model", None), getattr(model, "base", None)):
        if obj is not None and getattr(obj, "known_species", None) is not None:
            return [int(z) for z in obj.known_species]
    return None


def check_species(model: torch.nn.Module, atoms: Sequence, names: Sequence[str]) -> None:
    """Refuse, before any computation, a structure with an element the model does not know."""
    from ase.data import chemical_symbols

    known = known_species(model)
    if known is None:
        return
    allowed = set(known)
    for a, name in zip(atoms, names):
        bad = sorted(set(int(z) for z in a.numbers) - allowed)
        if bad:
            raise EquisymError(
                f"{name} contains {', '.join(chemical_symbols[z] for z in bad)}, which the model does not know "
                f"(it knows {', '.join(chemical_symbols[z] for z in known)})"
            )


@dataclass
class StructurePrediction:
    """Predictions for one structure (NumPy float64; mean over the ensemble, std when several).

    Shapes (N atoms): energy: float eV; forces ``(N, 3)`` eV/Å; stress ``(3, 3)`` eV/Å³ or None
    (structures not periodic in all three directions); energies ``(N,)`` eV or None;
    energy_std float, forces_std ``(N, 3)``, stress_std ``(3, 3)``: the ensemble's standard
    deviation (ddof = 0), None for a single model.
    """

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None = None
    energies: np.ndarray | None = None
    energy_std: float | None = None
    forces_std: np.ndarray | None = None
    stress_std: np.ndarray | None = None


def predict_structures(
    models: Sequence[torch.nn.Module],
    atoms: Sequence,
    names: Sequence[str] | None = None,
    batch_size: int = 16,
    show_progress: bool = True,
) -> list[StructurePrediction]:
    """Energy, forces (and stress of fully periodic structures) of every structure.

    Structures are packed ``batch_size`` at a time into one graph per batch (no padding); each
    model of the ensemble runs on it. Forces are −∂E/∂positions by autograd; symmetry is the
    model's (exact rotation invariance/equivariance with ECSE).

    Raises:
        EquisymError: an unknown element, NaN positions, overlapping atoms, a singular cell.
    """
    from equisym.geometry.graph import batch_graphs, build_graph
    from equisym.inference.potential import model_cutoff
    from equisym.nn.atomistic import compute_forces

    if not models:
        raise EquisymError("give at least one potential")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise EquisymError(f"--batch-size must be a positive integer, got {batch_size}")
    names = list(names) if names is not None else [f"structure {k}" for k in range(len(atoms))]
    check_species(models[0], atoms, names)
    cutoff = model_cutoff(models[0])
    if cutoff is None:
        raise EquisymError("the model does not declare its neighbour-list cutoff")
    weight = next(iter(models[0].parameters()))
    dtype, device = weight.dtype, weight.device
    results: list[StructurePrediction] = []
    starts = range(0, len(atoms), batch_size)
    for start in progress(starts, "predict", show_progress, unit="batch"):
        chunk = list(range(start, min(start + batch_size, len(atoms))))
        graphs = [build_graph(atoms[i].positions, atoms[i].numbers, atoms[i].cell.array, atoms[i].pbc, cutoff, dtype=dtype, name=names[i]) for i in chunk]
        graph = batch_graphs(graphs).to(device)
        periodic = graph.pbc.all(dim=1)
        want_stress = bool(periodic.any())
        outs = []
        for model in models:
            out = compute_forces(model, graph, forces=True, stress=want_stress)
            outs.append({k: out[k].detach().to("cpu", torch.float64).numpy() for k in ("energy", "forces", "stress", "atom_energy") if k in out})
        counts = graph.atoms_per_structure().cpu().numpy()
        bounds = np.concatenate([[0], np.cumsum(counts)])
        for s, i in enumerate(chunk):
            a, b = bounds[s], bounds[s + 1]
            energy = np.array([o["energy"][s] for o in outs])
            forces = np.stack([o["forces"][a:b] for o in outs])
            stress = np.stack([o["stress"][s] for o in outs]) if want_stress and bool(periodic[s]) else None
            per_atom = np.stack([o["atom_energy"][a:b] for o in outs]) if all("atom_energy" in o for o in outs) else None
            many = len(outs) > 1
            results.append(StructurePrediction(
                energy=float(energy.mean()),
                forces=forces.mean(0),
                stress=None if stress is None else stress.mean(0),
                energies=None if per_atom is None else per_atom.mean(0),
                energy_std=float(energy.std()) if many else None,
                forces_std=forces.std(0) if many else None,
                stress_std=None if stress is None or not many else stress.std(0),
            ))
    return results


def write_extxyz(path: str | os.PathLike, atoms: Sequence, predictions: Sequence[StructurePrediction], names: Sequence[str]) -> None:
    """Write the structures with their predictions as extended XYZ, atomically.

    Per frame: ``energy`` (eV), ``stress`` (Voigt 6, eV/Å³, periodic only), ``source``
    (``file:index``), ``energy_std`` / ``stress_std`` (ensembles); per atom: ``forces``
    (eV/Å), ``energies`` (eV, when the model gives them), ``forces_std`` (ensembles).
    Other ``info`` entries and per-atom arrays of the input are kept, except ones with these names.
    """
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write
    from ase.stress import full_3x3_to_voigt_6_stress

    reserved = {"energy", "forces", "stress", "energies", "free_energy", "energy_std", "forces_std", "stress_std", "source"}
    frames = []
    for a, p, name in zip(atoms, predictions, names):
        out = Atoms(numbers=a.numbers, positions=a.positions, cell=a.cell, pbc=a.pbc)
        out.info.update({k: v for k, v in a.info.items() if k not in reserved})
        for k, v in a.arrays.items():
            if k not in reserved and k not in ("numbers", "positions"):
                out.arrays[k] = v.copy()
        out.info["source"] = name
        results = {"energy": p.energy, "forces": p.forces}
        if p.stress is not None:
            results["stress"] = full_3x3_to_voigt_6_stress(p.stress)
        if p.energies is not None:
            results["energies"] = p.energies
        if p.energy_std is not None:
            out.info["energy_std"] = p.energy_std
            out.arrays["forces_std"] = p.forces_std
            if p.stress_std is not None:
                out.info["stress_std"] = full_3x3_to_voigt_6_stress(p.stress_std)
        out.calc = SinglePointCalculator(out, **results)
        frames.append(out)
    with atomic_output(path) as tmp:
        write(str(tmp), frames, format="extxyz")
