"""Train / validation / test splits of the carbon DOS data with each model's inputs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from equisym.data.atom_spheres import AtomSpheresConfig
from equisym.data.carbon_batches import DOSCollate, DOSStructures, StructureIndices, structure_inputs
from equisym.data.loading import loader_workers
from equisym.errors import EquisymError
from equisym.train.tasks.dos.config import DOSConfig

__all__ = ["DOSDataModule", "spheres_config", "model_kind"]


def model_kind(model_section: dict) -> str:
    """The DOS model's name (``csgnn-dos``, ``schnet-dos`` or ``soap-dos``)."""
    return str(model_section.get("name"))


def spheres_config(cfg: DOSConfig) -> AtomSpheresConfig:
    """The spherical input of ``csgnn-dos``: ``data.spheres`` at the model's icosphere level."""
    return AtomSpheresConfig(level=int(cfg.model["level"]), **dataclasses.asdict(cfg.data.spheres))


def _spread(n: int, keep: int | None) -> np.ndarray:
    if keep is None or keep >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, keep).round().astype(int))


@dataclass
class _Raw:
    energies: np.ndarray
    n_electrons_per_atom: float
    atoms: list
    dos: np.ndarray  # (S, G) per atom
    band_energy: np.ndarray
    atom_dos: list  # per structure (N_s, G) float32
    smearing: float | None  # eV, as written by the generator


def _read(root: str) -> _Raw:
    from equisym.data.carbon import load_carbon_dos

    data = load_carbon_dos(root)
    off = np.asarray(data.atom_offset)
    per_atom = [np.asarray(data.atom_dos[i:j], dtype=np.float32) for i, j in zip(off[:-1], off[1:])]
    dos = np.stack([d.astype(np.float64).mean(0) for d in per_atom])
    n_el = float(data.attrs.get("n_electrons_per_atom", 4))
    smearing = data.attrs.get("smearing")
    return _Raw(
        np.asarray(data.energies), n_el, list(data.atoms), dos, np.asarray(data.band_energy), per_atom,
        None if smearing is None else float(smearing),
    )


def _load_split(root: str, split: str, keep: int | None):
    """The structures of one split (``keep`` of them, spread evenly), with their DOS."""
    data = _read(root)
    which = [i for i, a in enumerate(data.atoms) if a.info.get("split") == split]
    if not which:
        raise EquisymError(f"{root}: the '{split}' split is empty")
    idx = [which[k] for k in _spread(len(which), keep)]
    atoms = [data.atoms[i] for i in idx]
    dos = data.dos[idx].astype(np.float32)
    groups = [str(a.info.get("structure", "?")) for a in atoms]
    return data, atoms, dos, groups, data.band_energy[idx], [data.atom_dos[i] for i in idx]


class DOSDataModule(L.LightningDataModule):
    """Train / validation / test splits of the carbon DOS data, with per-model inputs."""

    def __init__(self, cfg: DOSConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.kind = model_kind(cfg.model)
        self.spheres = spheres_config(cfg) if self.kind == "csgnn-dos" else None
        self.splits: dict[str, DOSStructures] = {}
        self.energies: np.ndarray | None = None
        self.n_electrons = 4.0
        self._val_loader: DataLoader | None = None

    def _inputs(self, atoms: list, names: list[str]) -> list:
        """Each structure's model input (:func:`~equisym.data.carbon_batches.structure_inputs`)."""
        return structure_inputs(atoms, names, self.kind, self.spheres, self.cfg.data.soap, self.cfg.model.get("cutoff"))

    def load_split(self, split: str, root: str | None = None) -> DOSStructures:
        key = f"{root or ''}:{split}"
        if key in self.splits:
            return self.splits[key]
        d = self.cfg.data
        keep = d.max_train if split == "train" else d.max_eval
        data, atoms, dos, groups, band, atom_dos = _load_split(root or d.root, split, keep)
        energies = np.asarray(data.energies, dtype=np.float64)
        expected = int(self.cfg.model.get("num_energies", 310))
        if len(energies) != expected:
            raise EquisymError(
                f"{root or d.root}: the DOS grid has {len(energies)} energies but the model expects {expected} "
                "(model.num_energies); regenerate the data or change the model"
            )
        steps = np.diff(energies)
        if not np.allclose(steps, steps[0], rtol=1e-6, atol=1e-9) or steps[0] <= 0:
            raise EquisymError(f"{root or d.root}: the DOS energy grid must be increasing and evenly spaced")
        model = self.cfg.model
        for key, value in (("grid_start", energies[0]), ("grid_step", steps[0]), ("electrons_per_atom", data.n_electrons_per_atom)):
            if key in model and not np.isclose(value, model[key], rtol=1e-6, atol=1e-9):
                raise EquisymError(
                    f"{root or d.root}: the data's {key.replace('_', ' ')} is {value:g} but model.{key} is {model[key]:g}; "
                    "set it to the data's value (a trained model keeps it to interpret its output)"
                )
        if model.get("output") == "smeared_lines" and data.smearing is not None and not np.isclose(
            data.smearing, model["smearing"], rtol=1e-6
        ):
            raise EquisymError(
                f"{root or d.root}: the data were smeared with σ = {data.smearing:g} eV but model.smearing is "
                f"{model['smearing']:g} eV (the smeared_lines output must use the data's σ)"
            )
        if self.energies is not None and not np.allclose(self.energies, energies):
            raise EquisymError(f"{root or d.root}: its energy grid differs from the training data's grid")
        self.energies = energies
        self.n_electrons = float(getattr(data, "n_electrons_per_atom", 4))
        names = [f"{split} structure {i} ({g})" for i, g in enumerate(groups)]
        self.splits[key] = DOSStructures(atoms, dos, groups, band, self._inputs(atoms, names), atom_dos)
        return self.splits[key]

    @property
    def step(self) -> float:
        return float(self.energies[1] - self.energies[0])

    def setup(self, stage: str | None = None) -> None:
        self.load_split("train")
        self.load_split("val")

    def loader(
        self,
        split: DOSStructures,
        batch_size: int,
        shuffle: bool,
        rotate: bool,
        seed: int | None,
        fixed_rotations=None,
        atoms_per_structure=None,
        frame_mode: str = "all",
        cache: bool = False,
        num_workers: int = 0,
        fixed_atoms: bool = False,
    ) -> DataLoader:
        return DataLoader(
            StructureIndices(len(split.atoms)),
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=False,
            **loader_workers(num_workers),
            collate_fn=DOSCollate(
                split, self.kind, self.spheres, rotate, seed, fixed_rotations, atoms_per_structure, frame_mode, cache,
                fixed_atoms,
            ),
        )

    @property
    def local_frames(self) -> bool:
        """csgnn-dos with ``data.spheres.frames: local`` (exactly invariant inputs)."""
        return self.spheres is not None and self.spheres.frames == "local"

    def train_dataloader(self) -> DataLoader:
        d = self.cfg.data
        # random rotations only matter for the lab-frame input (local frames rotate with the structure)
        rotate = d.rotate_train and self.kind == "csgnn-dos" and not self.local_frames
        return self.loader(  # seed None: draws follow torch's generator, which the trainer seeds per epoch
            self.load_split("train"), d.batch_size, True, rotate, None,
            atoms_per_structure=d.train_atoms_per_structure, frame_mode=d.train_frames, num_workers=d.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        d = self.cfg.data
        if self._val_loader is None:  # one loader (and one batch cache) for the whole fit
            # validate the prediction that is trained: the frame average when training sees every frame
            self._val_loader = self.loader(
                self.load_split("val"), d.eval_batch_size, False, False, 0,
                atoms_per_structure=d.val_atoms_per_structure, fixed_atoms=True,
                frame_mode="all" if d.train_frames == "all" else "top", cache=d.cache_val_batches,
            )
        return self._val_loader

