"""Packed batches of carbon structures for the DOS models (training, evaluation, inference).

A batch concatenates the atoms of several structures (no padding) and carries each model's
input: ``csgnn-dos`` the per-atom concentric spherical signal (:mod:`equisym.data.atom_spheres`,
optionally in local frames), ``soap-dos`` SOAP rows (:mod:`equisym.data.soap`), ``schnet-dos``
positions and cells. :func:`structure_inputs` builds and checks the per-structure inputs once;
:class:`DOSCollate` turns structure indices into a batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from equisym.data.atom_spheres import AtomSpheresConfig, SparseAtomSpheres, atom_spheres_sparse, check_carbon, densify
from equisym.data.soap import SoapConfig, soap_features
from equisym.errors import EquisymError

__all__ = ["DOS_MODELS", "DOSStructures", "StructureIndices", "DOSCollate", "structure_inputs"]

DOS_MODELS = ("csgnn-dos", "schnet-dos", "soap-dos")  #: the model names the DOS batches serve


@dataclass
class DOSStructures:
    """Structures with their model inputs and (for labelled data) DOS targets.

    Shapes (S structures, G grid energies, N_s atoms of structure s):
        - atoms: S ``ase.Atoms``; groups: S structure-type names.
        - dos: ``(S, G)`` float32 states/eV/atom (the mean of the atom-projected DOS).
        - band_energy: ``(S,)`` eV/atom as stored in the data (NaN when unlabelled).
        - inputs: per structure a :class:`SparseAtomSpheres` (csgnn-dos), a SOAP array
          ``(N_s, F)`` (soap-dos) or None (schnet-dos).
        - atom_dos: per structure ``(N_s, G)`` float32 atom-projected DOS (zeros when unlabelled).
    """

    atoms: list
    dos: np.ndarray
    groups: list[str]
    band_energy: np.ndarray
    inputs: list
    atom_dos: list


def structure_inputs(
    atoms: list, names: list[str], kind: str, spheres: AtomSpheresConfig | None = None,
    soap: SoapConfig | None = None, cutoff: float | None = None,
) -> list:
    """Each structure's input for the DOS model ``kind``; every model refuses the same bad
    structures (:class:`~equisym.errors.EquisymError` naming the structure): other elements,
    non-finite positions, a singular periodic cell, overlapping atoms and an atom with no
    neighbour within the model's cutoff (``spheres.cutoff``, ``soap.cutoff`` or ``cutoff`` of
    schnet-dos).

    Returns:
        S inputs, as :attr:`DOSStructures.inputs`.
    """
    from equisym.geometry.neighbors import neighbor_list, require_neighbours

    if kind not in DOS_MODELS:
        raise EquisymError(f"the DOS model must be one of {', '.join(DOS_MODELS)}, got {kind!r}")
    for a, name in zip(atoms, names):
        check_carbon(a.get_atomic_numbers(), name)
        if kind != "csgnn-dos":  # csgnn-dos's input builder runs these checks itself
            r = soap.cutoff if kind == "soap-dos" else float(cutoff)
            nl = neighbor_list(a.get_positions(), r, np.asarray(a.get_cell()), a.get_pbc(), name=name)
            require_neighbours(nl, len(a), r, name, "the model was trained on bonded carbon only")
    if kind == "csgnn-dos":
        return [
            atom_spheres_sparse(a.get_positions(), np.asarray(a.get_cell()), a.get_pbc(), spheres, name=name)
            for a, name in zip(atoms, names)
        ]
    if kind == "soap-dos":
        return soap_features(atoms, soap)
    return [None] * len(atoms)


class StructureIndices(Dataset):
    """The indices ``0 … n−1`` as a data set (the collate function builds the batches)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class DOSCollate:
    """Builds a packed batch from structure indices of one split.

    Batch keys: ``dos`` ``(S, G)``, ``structure_index`` ``(N,)``, ``num_structures``, ``ids``
    and the model input: ``signal`` ``(N, V, B)`` (csgnn-dos), ``numbers``/``positions``/
    ``cells``/``pbc`` (schnet-dos) or ``features`` ``(N, F)`` (soap-dos).

    With local frames (``data.spheres.frames: local``) ``signal`` holds Q *views* ``(Q, V, B)``,
    each atom seen in some of its frames, with ``frame_atom`` ``(Q,)`` (the atom of each view)
    and ``frame_weight`` ``(Q,)`` (summing to 1 per atom). ``frame_mode`` picks the views:
    ``sample`` one frame per atom drawn with probability = its weight (training), ``top`` the
    frame of largest weight (validation: one view per atom, exactly invariant, not smooth),
    ``all`` every frame with its weight (the exact, smooth ECSE average; testing).

    Random draws (atom subsets, frames, rotations) come from ``seed``: an integer gives one
    reproducible stream for the collate's life (evaluation); ``None`` draws a fresh stream for
    every batch from torch's global generator (training: the trainer seeds it per epoch, and
    torch seeds every data-loader worker differently, so the draws of an epoch are a function
    of (seed, epoch) in the training process and in workers alike, and a resumed run repeats them).

    ``fixed_atoms=True`` makes the ``atoms_per_structure`` draw of each structure depend only on
    ``seed`` and the structure's index (the same atoms every pass; validation).

    ``cache=True`` keeps every batch it built, by its structure ids, and hands it out again
    (only for deterministic batches: no random rotation, atom draws that change per pass or
    frame draws).
    """

    def __init__(
        self,
        split: DOSStructures,
        kind: str,
        spheres: AtomSpheresConfig | None,
        rotate: bool,
        seed: int | None,
        fixed_rotations: np.ndarray | None = None,
        atoms_per_structure: int | None = None,
        frame_mode: str = "all",
        cache: bool = False,
        fixed_atoms: bool = False,
    ) -> None:
        if frame_mode not in ("sample", "top", "all"):
            raise EquisymError(f"frame_mode must be sample, top or all, got {frame_mode!r}")
        random_atoms = atoms_per_structure is not None and not fixed_atoms
        if cache and (rotate or random_atoms or frame_mode == "sample"):
            raise EquisymError(
                "only deterministic batches can be cached (no rotation, atom draws that change per pass or frame draws)"
            )
        if seed is None and (fixed_atoms or cache):
            raise EquisymError("fixed atom draws and cached batches need an integer seed")
        self.cache: dict[tuple[int, ...], dict] | None = {} if cache else None
        self.split, self.kind, self.spheres, self.rotate = split, kind, spheres, rotate
        self.seed = seed
        self.rng = np.random.default_rng(seed)  # replaced per batch when seed is None
        self.fixed_rotations = fixed_rotations
        self.atoms_per_structure = atoms_per_structure
        self.fixed_atoms = fixed_atoms
        self.frame_mode = frame_mode

    def _frame_choice(self, x: SparseAtomSpheres) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``(Q,)`` to view the atoms of ``x`` in, and their weights ``(Q,)`` (``frame_mode``)."""
        if self.frame_mode == "all":
            return np.arange(len(x.frame_atom)), x.frame_weight
        counts = np.bincount(x.frame_atom, minlength=x.n_atoms)
        first = np.cumsum(counts) - counts  # frames are sorted by atom
        if self.frame_mode == "top":
            order = np.lexsort((-x.frame_weight, x.frame_atom))  # by atom, then largest weight first
            best = order[first]
        else:  # draw one frame per atom with probability = its weight (weights sum to 1 per atom)
            cumulative = np.cumsum(x.frame_weight)
            below = cumulative[first] - x.frame_weight[first]
            best = np.searchsorted(cumulative, below + self.rng.random(x.n_atoms), side="right")
            best = np.clip(best, first, first + counts - 1)
        return best, np.ones(x.n_atoms)

    def _atom_subsets(self, ids: list[int]) -> list[np.ndarray] | None:
        """Sorted random atom indices per structure (``atoms_per_structure`` each), or None."""
        k = self.atoms_per_structure
        if k is None:
            return None
        subsets = []
        for i in ids:
            rng = np.random.default_rng([self.seed, int(i)]) if self.fixed_atoms else self.rng
            n = len(self.split.atoms[i])
            subsets.append(np.sort(rng.choice(n, size=min(k, n), replace=False)))
        return subsets

    def _rotations(self, ids: list[int]) -> list[np.ndarray] | None:
        if self.fixed_rotations is not None:
            return [self.fixed_rotations[i] for i in ids]
        if not self.rotate:
            return None
        from scipy.spatial.transform import Rotation

        return list(Rotation.random(len(ids), random_state=self.rng).as_matrix().reshape(len(ids), 3, 3))

    def __call__(self, ids: list[int]) -> dict:
        if self.seed is None:
            self.rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        if self.cache is None:
            return self._build(ids)
        key = tuple(int(i) for i in ids)
        if key not in self.cache:
            self.cache[key] = self._build(ids)
        return self.cache[key]

    def _build(self, ids: list[int]) -> dict:
        split = self.split
        subsets = self._atom_subsets(ids)
        if subsets is None:
            atom_dos = [split.atom_dos[i] for i in ids]
            dos = split.dos[ids]
        else:
            atom_dos = [split.atom_dos[i][sub] for i, sub in zip(ids, subsets)]
            dos = np.stack([a.mean(0) for a in atom_dos]).astype(np.float32)
        counts = [len(a) for a in atom_dos]
        batch: dict[str, Any] = {
            "ids": torch.tensor(ids),
            "dos": torch.from_numpy(dos),
            "atom_dos": torch.from_numpy(np.concatenate(atom_dos)),
            "structure_index": torch.repeat_interleave(torch.arange(len(ids)), torch.tensor(counts)),
            "num_structures": len(ids),
        }
        rotations = self._rotations(ids)
        if self.kind == "csgnn-dos":
            inputs = [split.inputs[i] for i in ids]
            if subsets is not None:
                inputs = [x.select(sub) for x, sub in zip(inputs, subsets)]
            if self.spheres.frames == "local":
                if rotations is not None:
                    inputs = [x.rotated(r, self.spheres) for x, r in zip(inputs, rotations)]
                views, frame_atom, frame_weight, offset = [], [], [], 0
                for x in inputs:
                    chosen, weight = self._frame_choice(x)
                    views.append(x.in_frames(chosen, self.spheres))
                    frame_atom.append(x.frame_atom[chosen] + offset)
                    frame_weight.append(weight)
                    offset += x.n_atoms
                batch["signal"] = densify(views, self.spheres)
                batch["frame_atom"] = torch.from_numpy(np.concatenate(frame_atom))
                batch["frame_weight"] = torch.from_numpy(np.concatenate(frame_weight)).float()
            else:
                batch["signal"] = densify(inputs, self.spheres, rotations)
        elif self.kind == "soap-dos":
            features = [split.inputs[i] for i in ids]
            if subsets is not None:
                features = [f[sub] for f, sub in zip(features, subsets)]
            batch["features"] = torch.from_numpy(np.concatenate(features))
        else:
            if subsets is not None:
                raise EquisymError("data.train_atoms_per_structure needs per-atom inputs (csgnn-dos or soap-dos), not schnet-dos")
            positions, cells = [], []
            for k, i in enumerate(ids):
                a = split.atoms[i]
                r = np.eye(3) if rotations is None else rotations[k]
                positions.append(a.get_positions() @ r.T)
                cells.append(np.asarray(a.get_cell()) @ r.T)
            batch["positions"] = torch.from_numpy(np.concatenate(positions)).float()
            batch["cells"] = torch.from_numpy(np.stack(cells)).float()
            batch["pbc"] = torch.from_numpy(np.stack([split.atoms[i].get_pbc() for i in ids]))
            batch["numbers"] = torch.from_numpy(np.concatenate([split.atoms[i].get_atomic_numbers() for i in ids])).long()
        return batch

