"""Task ``dos``: the electronic density of states of carbon structures, atom by atom.

Data: a folder written by ``equisym generate carbon-dos`` (``structures.extxyz`` +
``dos.h5``, read by :func:`equisym.data.carbon.load_carbon_dos`). The target of a structure
is its DOS per atom on the data's energy grid (states/eV/atom, spin included).

Models (``model.name``): ``csgnn-dos`` (per-atom concentric spherical input,
:mod:`equisym.data.atom_spheres`), ``schnet-dos`` (torch-geometric SchNet, periodic vesin
neighbour list) and ``soap-dos`` (featomic SOAP + MLP). Every model predicts one
non-negative DOS contribution per atom; the structure's DOS per atom is their mean (= total
DOS / N). Batches are packed: atoms of all structures are concatenated, no padding.

Loss (Fox et al.): ``α·MSE(DOS) + (1−α)·MSE(N(E))`` with the integrated DOS
``N(E_g) = ΔE·Σ_{g'≤g} DOS(E_g')`` and ``α = loss_alpha = 0.1``.

Evaluation (``equisym eval``): band energy per atom (:func:`equisym.physics.dos.band_energy`,
4 electrons per atom) of the predicted and of the reference DOS, for every test structure;
Table 2a (overall band-energy MAE, eV/atom) and Table 2b (per structure type), Fermi-level
MAE, DOS RMSE; the same under Haar-random rotations of the test structures (``eval.
rotation_trials``); plots of predicted vs true DOS and a band-energy parity plot.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from equisym.config import to_dict
from equisym.data.atom_spheres import AtomSpheresConfig, SparseAtomSpheres, SphereInputConfig, atom_spheres_sparse, check_carbon, densify
from equisym.data.loading import loader_workers
from equisym.data.soap import SoapConfig, soap_features
from equisym.errors import EquisymError
from equisym.nn.registry import build_model, expand_model_section
from equisym.physics.dos import band_energy
from equisym.train.config import RunConfig
from equisym.train.task import Task, TaskModule, register_task

__all__ = [
    "DOSDataConfig", "DOSEvalConfig", "DOSConfig", "DOSTask", "DOSPrediction", "predict_dos", "predict_atom_contributions", "dos_loss",
    "CHEMICAL_ACCURACY",
]

CHEMICAL_ACCURACY = 0.043  #: eV/atom (1 kcal/mol), the paper's threshold for the band energy


@dataclass
class DOSDataConfig:
    """The carbon DOS data and how batches are made."""

    root: str = "runs/data/carbon-dos"
    """Folder written by ``equisym generate carbon-dos``."""
    batch_size: int = 16
    """Structures per training batch (atoms are packed)."""
    eval_batch_size: int = 32
    """Structures per evaluation batch."""
    max_train: int | None = None
    """Use only this many training structures (spread over the set; for quick runs)."""
    max_eval: int | None = None
    """Use only this many validation and test structures each."""
    train_atoms_per_structure: int | None = None
    """Train on this many randomly drawn atoms of every structure per step (fresh draw every
    time; ``csgnn-dos`` and ``soap-dos``): the structure target becomes the mean of their
    atom-projected DOS, so the loss stays exact while a step costs a fraction of the atoms.
    Atoms of one structure have near-identical environments, so this buys many more
    structures per second. ``None``: all atoms (the paper)."""
    num_workers: int = 0
    """Data-loader worker processes building the training batches (neighbour spheres in
    local frames, SOAP rows) while the model trains on the previous one; each worker draws
    its own atom subsets and frames. 0 = in the training process. Pays off when a core is
    free: building a ``csgnn-dos`` batch takes about a quarter of a training step on one
    thread. Validation and test batches are always built in the training process."""
    cache_val_batches: bool = True
    """Keep the validation batches in memory after the first pass: they are the same every
    time (no rotation, fixed atoms and frames), so later validations skip building
    them. Costs the batches' size in RAM (``csgnn-dos``: 4·V·B bytes per view, 21 kB at
    162 vertices x 32 bins, about 0.65 GB for the carbon set's 31 k validation atoms in one
    frame each)."""
    val_atoms_per_structure: int | None = None
    """Validate on this many atoms of every validation structure (``csgnn-dos`` and ``soap-dos``;
    target: their mean atom-projected DOS): one fixed draw per structure, the same atoms at every
    validation, so scores compare across epochs. Worth setting with ``train_frames: all``, where
    validation views every atom in all its frames (the prediction that is evaluated, about 6x
    the views of the single heaviest frame used otherwise). ``None``: all atoms."""
    train_frames: Literal["sample", "all"] = "sample"
    """``csgnn-dos`` with ``spheres.frames: local``: the views of a training atom. ``sample``: one
    of its frames, drawn with probability = its weight (a one-view estimate of the frame average
    that evaluation uses); ``all``: every frame with its weight, so the loss is on exactly the
    frame-averaged prediction that is evaluated (carbon: about 6 frames per atom, so a step costs
    about 6x the views; lower ``train_atoms_per_structure`` to match)."""
    rotate_train: bool = True
    """``csgnn-dos``: rotate every training structure by a fresh Haar-random rotation
    (its input is only approximately rotation invariant); the other models are invariant."""
    spheres: SphereInputConfig = field(default_factory=SphereInputConfig)
    """Spherical input of ``csgnn-dos`` (the icosphere level is the model's ``level``)."""
    soap: SoapConfig = field(default_factory=SoapConfig)
    """SOAP settings of ``soap-dos``."""


@dataclass
class DOSEvalConfig:
    """Evaluation protocol."""

    rotation_trials: int = 1
    """Test passes with Haar-random rotations of every test structure (0: none)."""
    rotation_seed: int = 2024
    """Seed of the test rotations (the same for every model)."""
    average_rotations: int = 0
    """``csgnn-dos`` only: also score the prediction averaged over this many Haar-random
    rotations of every test structure (the same checkpoint; N× the inference cost). The
    averaged DOS is still only approximately invariant, but its per-atom grid noise shrinks
    ~1/√N. 0: off. The other models are exactly invariant, so it is refused for them."""


@dataclass
class DOSRefitConfig:
    """Full-batch refit of the DOS head's output layer after training.

    Stochastic training leaves the weights wherever the last mini-batch steps put them, and the
    band energy (a ~−40 eV/atom integral whose per-window errors largely cancel) inherits a
    common offset from that last noise: a CSGNN-DOS checkpoint was off by −0.007 eV/atom on
    its own training structures and by −0.0069 on the test set, although the training batches'
    mean error averaged 0 over every epoch. The refit holds every other weight fixed, computes
    the output layer's input features once for the training structures, and minimises the
    training loss over the whole set at once (L-BFGS, deterministic): the output layer ends at
    the optimum for the features the network has, with no step noise."""

    iterations: int = 0
    """L-BFGS iterations (strong-Wolfe line search); 0 = off."""
    atoms_per_structure: int | None = None
    """Atoms per training structure whose features enter the refit (one fixed, seeded draw;
    every local frame of each). ``None``: ``data.train_atoms_per_structure`` (all atoms if
    that is ``None``). Features cost 4·H bytes per view (H = ``head_dims[-1]``)."""


@dataclass
class DOSConfig(RunConfig):
    """Config of the ``dos`` task."""

    data: DOSDataConfig = field(default_factory=DOSDataConfig)
    """The data set."""
    model: dict = field(default_factory=lambda: {"name": "csgnn-dos", "preset": "small"})
    """Model section: ``name`` (csgnn-dos, schnet-dos, soap-dos), optional ``preset``, fields."""
    loss_alpha: float = 0.1
    """Weight α of MSE(DOS); 1 − α weighs MSE(integrated DOS)."""
    band_energy_weight: float = 0.0
    """Weight of a third loss term, MSE of the band energy (eV/atom)² of the predicted vs the
    target DOS (:func:`equisym.physics.fermi_and_band_energy`, the same function as the reported
    figure). At a fixed electron count the band-energy error is the signed integral of the
    cumulative-DOS error below E_F, which the MSE losses barely see: a small systematic deficit
    of deep states becomes a band-energy bias. This term targets that quantity directly. 0 = the paper's loss."""
    band_energy_start: float = 0.0
    """The band-energy term is on from this fraction of training on (of ``trainer.max_time``
    when set, else of ``max_epochs``): 0 = throughout; e.g. 0.7 = only for the last 30 %,
    once the DOS is close (validation always reports it)."""
    band_energy_ramp: float = 0.0
    """Fraction of training over which the band-energy weight rises linearly from 0 to
    ``band_energy_weight`` after ``band_energy_start`` (0 = switched on at once). When the term
    is switched on its errors can be 0.1–0.4 eV/atom, and at weight 1 its squared error outweighs
    the DOS loss ~100×: a sudden start at a high learning rate sent CSGNN-DOS's validation DOS
    RMSE from 0.030 to 0.068 within three epochs; ramped over 25 % of the budget it rose more
    slowly, to 0.052. Validation always uses the full weight."""
    band_energy_bias_weight: float = 0.0
    """Extra weight k on the *common* part of the band-energy error: the band-energy term
    becomes ``w · [mean(err²) + k · mean(err)²]`` over the structures of a batch. The MSE alone
    lets a small error shared by all structures survive when removing it would cost DOS loss
    (CSGNN-DOS, 45 minutes, seed 3: mean signed error −0.0032 eV/atom on its own training
    structures, SOAP + MLP +0.0003); k multiplies the gradient of that shared part by 1 + k.
    It did not help there (k = 8, seeds 3 / 5: 0.0126 / 0.0078 eV/atom instead of 0.0057 /
    0.0058; the scatter and the DOS error grew). 0 = off."""
    freeze_batchnorm_start: float = 1.0
    """From this fraction of training on (as ``band_energy_start``), BatchNorm layers use and
    keep their running statistics, as at evaluation. Training batches hold a few atoms of a few
    structures, so their statistics differ from the population's, and a model trained only
    with batch statistics is biased in evaluation mode: CSGNN-DOS's band energy came out
    +0.05–0.12 eV/atom too high on its own training batches in evaluation mode and within
    ±0.04 in training mode. Freezing for the last part lets the weights (and the band-energy
    term) adapt to the statistics used at inference. 1 = never (the paper). Not for SchNet-DOS
    (whole structures per batch, so no such bias): at 0.2 all three 45-minute runs tried
    diverged (two at the freeze, loss 0.003 → 3e7; one 9 minutes later, stopped by
    ``trainer.stop_on_divergence``)."""
    atom_loss_weight: float = 0.0
    """Weight of the same loss on each atom's contribution against its atom-projected DOS
    (the data have it); 0 = the paper's structure-level loss only."""
    lr_by_time: bool = True
    """With ``optim.scheduler: cosine`` and ``trainer.max_time``, anneal the learning rate by
    the elapsed fraction of the wall-clock budget (so a time-limited run ends at ``min_lr``)."""
    refit: DOSRefitConfig = field(default_factory=DOSRefitConfig)
    """Refit of the output layer after training (``equisym train`` writes ``refit.ckpt`` and
    evaluates it); off by default."""
    eval: DOSEvalConfig = field(default_factory=DOSEvalConfig)
    """Evaluation protocol."""


def dos_loss(pred: torch.Tensor, target: torch.Tensor, step: float, alpha: float) -> torch.Tensor:
    """``α·MSE(DOS) + (1−α)·MSE(ΔE·cumsum(DOS))``; pred/target ``(S, G)`` states/eV/atom."""
    mse = torch.nn.functional.mse_loss(pred, target)
    cum = torch.nn.functional.mse_loss(step * pred.cumsum(-1), step * target.cumsum(-1))
    return alpha * mse + (1 - alpha) * cum


def _kind(model_section: dict) -> str:
    return str(model_section.get("name"))


# ----------------------------------------------------------------------------- data


@dataclass
class _Split:
    atoms: list
    dos: np.ndarray  # (S, G) states/eV/atom
    groups: list[str]
    band_energy: np.ndarray  # (S,) eV/atom as stored
    inputs: list  # per structure: SparseAtomSpheres | np.ndarray (SOAP) | None
    atom_dos: list  # per structure (N_s, G) atom-projected DOS


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
    data = _read(root)
    which = [i for i, a in enumerate(data.atoms) if a.info.get("split") == split]
    if not which:
        raise EquisymError(f"{root}: the '{split}' split is empty")
    idx = [which[k] for k in _spread(len(which), keep)]
    atoms = [data.atoms[i] for i in idx]
    dos = data.dos[idx].astype(np.float32)
    groups = [str(a.info.get("structure", "?")) for a in atoms]
    return data, atoms, dos, groups, data.band_energy[idx], [data.atom_dos[i] for i in idx]


class _Indices(Dataset):
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

    ``fixed_atoms=True`` makes the ``atoms_per_structure`` draw of each structure depend only on
    ``seed`` and the structure's index (the same atoms every pass; validation).

    ``cache=True`` keeps every batch it built, by its structure ids, and hands it out again
    (only for deterministic batches: no random rotation, atom draws that change per pass or
    frame draws).
    """

    def __init__(
        self,
        split: _Split,
        kind: str,
        spheres: AtomSpheresConfig | None,
        rotate: bool,
        seed: int,
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
        self.cache: dict[tuple[int, ...], dict] | None = {} if cache else None
        self.split, self.kind, self.spheres, self.rotate = split, kind, spheres, rotate
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._worker: int | None = None  # the data-loader worker self.rng was seeded for
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

    def _reseed_in_worker(self) -> None:
        """In a data-loader worker, give this copy its own random stream (seed, worker id):
        every worker starts from a copy of the same generator and would otherwise draw the
        same atoms, frames and rotations. Workers must be persistent (one copy for the whole
        fit), else every epoch would repeat the first one's draws."""
        info = torch.utils.data.get_worker_info()
        if info is not None and self._worker != info.id:
            self._worker = info.id
            self.rng = np.random.default_rng([self.seed, info.id + 1])

    def __call__(self, ids: list[int]) -> dict:
        self._reseed_in_worker()
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


def _spheres_config(cfg: DOSConfig) -> AtomSpheresConfig:
    return AtomSpheresConfig(level=int(cfg.model["level"]), **dataclasses.asdict(cfg.data.spheres))


class DOSDataModule(L.LightningDataModule):
    """Train / validation / test splits of the carbon DOS data, with per-model inputs."""

    def __init__(self, cfg: DOSConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.kind = _kind(cfg.model)
        self.spheres = _spheres_config(cfg) if self.kind == "csgnn-dos" else None
        self.splits: dict[str, _Split] = {}
        self.energies: np.ndarray | None = None
        self.n_electrons = 4.0
        self._val_loader: DataLoader | None = None

    def _inputs(self, atoms: list, names: list[str]) -> list:
        """Each structure's model input; every model refuses the same bad structures: other
        elements, non-finite positions, a singular periodic cell, overlapping atoms and an atom
        with no neighbour within the model's cutoff (nothing like it is in the data)."""
        from equisym.geometry.neighbors import neighbor_list, require_neighbours

        for a, name in zip(atoms, names):
            check_carbon(a.get_atomic_numbers(), name)
            if self.kind != "csgnn-dos":  # csgnn-dos's input builder runs these checks itself
                cutoff = self.cfg.data.soap.cutoff if self.kind == "soap-dos" else float(self.cfg.model["cutoff"])
                nl = neighbor_list(a.get_positions(), cutoff, np.asarray(a.get_cell()), a.get_pbc(), name=name)
                require_neighbours(nl, len(a), cutoff, name, "the model was trained on bonded carbon only")
        if self.kind == "csgnn-dos":
            return [
                atom_spheres_sparse(a.get_positions(), np.asarray(a.get_cell()), a.get_pbc(), self.spheres, name=name)
                for a, name in zip(atoms, names)
            ]
        if self.kind == "soap-dos":
            return soap_features(atoms, self.cfg.data.soap)
        return [None] * len(atoms)

    def load_split(self, split: str, root: str | None = None) -> _Split:
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
        if model.get("output") == "smeared_lines":
            if not np.isclose(steps[0], model["grid_step"], rtol=1e-6):
                raise EquisymError(
                    f"{root or d.root}: the DOS grid step is {steps[0]:g} eV but model.grid_step is {model['grid_step']:g} eV"
                )
            if data.smearing is not None and not np.isclose(data.smearing, model["smearing"], rtol=1e-6):
                raise EquisymError(
                    f"{root or d.root}: the data were smeared with σ = {data.smearing:g} eV but model.smearing is "
                    f"{model['smearing']:g} eV (the smeared_lines output must use the data's σ)"
                )
        if self.energies is not None and not np.allclose(self.energies, energies):
            raise EquisymError(f"{root or d.root}: its energy grid differs from the training data's grid")
        self.energies = energies
        self.n_electrons = float(getattr(data, "n_electrons_per_atom", 4))
        names = [f"{split} structure {i} ({g})" for i, g in enumerate(groups)]
        self.splits[key] = _Split(atoms, dos, groups, band, self._inputs(atoms, names), atom_dos)
        return self.splits[key]

    @property
    def step(self) -> float:
        return float(self.energies[1] - self.energies[0])

    def setup(self, stage: str | None = None) -> None:
        self.load_split("train")
        self.load_split("val")

    def loader(
        self,
        split: _Split,
        batch_size: int,
        shuffle: bool,
        rotate: bool,
        seed: int,
        fixed_rotations=None,
        atoms_per_structure=None,
        frame_mode: str = "all",
        cache: bool = False,
        num_workers: int = 0,
        fixed_atoms: bool = False,
    ) -> DataLoader:
        return DataLoader(
            _Indices(len(split.atoms)),
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
        return self.loader(
            self.load_split("train"), d.batch_size, True, rotate, self.cfg.seed,
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


# ----------------------------------------------------------------------------- module


def predict_batch(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Run any DOS model on a packed batch.

    Returns:
        ``(structure_dos (S, G), atom_contributions (N, G))``; the structure DOS per atom is
        the mean of its atoms' contributions.
    """
    if "signal" in batch:  # csgnn-dos: atoms, or their views in local frames
        views = model.atom_dos(batch["signal"])
    elif "features" in batch:
        views = model.atom_dos(batch["features"])
    else:
        views = model.atom_dos(batch["numbers"], batch["positions"], batch["structure_index"], batch["cells"], batch["pbc"])
    return pool_views(views, batch)


def pool_views(views: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-view DOS contributions ``(Q, G)`` of a packed batch → ``(structure_dos (S, G),
    atom_contributions (N, G))``: with local frames (``frame_atom`` in the batch) each atom's
    contribution is the weighted mean of its views, else views are atoms; a structure's DOS
    per atom is the mean of its atoms' contributions."""
    from equisym.nn.csgnn_dos import structure_sum

    idx, s = batch["structure_index"], batch["num_structures"]
    atoms = views
    if "frame_atom" in batch:
        atoms = structure_sum(views * batch["frame_weight"][:, None].to(views.dtype), batch["frame_atom"], len(idx))
    counts = torch.bincount(idx, minlength=s).clamp(min=1).to(atoms.dtype)
    return structure_sum(atoms, idx, s) / counts[:, None], atoms


class DOSModule(TaskModule):
    """Trains a DOS model with the DOS + integrated-DOS loss."""

    def __init__(self, cfg: DOSConfig, step: float = 0.1) -> None:
        super().__init__(cfg)
        self.model, _ = build_model(cfg.model)
        self.step_size = step
        self.register_buffer("prior_set", torch.zeros((), dtype=torch.bool))

    def take_grid(self, datamodule: "DOSDataModule") -> None:
        """Take the energy grid ``(G,)`` eV and the electrons per atom from the loaded data (the
        band-energy term needs both)."""
        self.energies = torch.as_tensor(datamodule.energies, dtype=torch.float32, device=self.device)
        self.n_electrons = datamodule.n_electrons

    def on_fit_start(self) -> None:
        """Take the energy grid from the data; start the output at the training set's mean atom
        DOS (once; not again on resume)."""
        datamodule = self.trainer.datamodule
        self.take_grid(datamodule)
        if bool(self.prior_set):
            return
        split = datamodule.load_split("train")
        mean = np.concatenate(split.atom_dos).astype(np.float64).mean(0)
        self.model.head.set_prior(torch.from_numpy(mean))
        self.prior_set.fill_(True)

    def forward(self, batch: dict) -> torch.Tensor:
        return predict_batch(self.model, batch)[0]

    def configure_optimizers(self):
        if self._by_time():
            from equisym.train.schedules import configure_optimizers
            import dataclasses as _dc

            return configure_optimizers(self, _dc.replace(self.cfg.optim, scheduler="none"), self.monitor)
        return super().configure_optimizers()

    def _by_time(self) -> bool:
        return self.cfg.lr_by_time and self.cfg.optim.scheduler == "cosine" and self.cfg.trainer.max_time is not None

    def _progress(self) -> float:
        """Elapsed fraction of training: of ``trainer.max_time`` when set, else of ``max_epochs``."""
        frac = self.elapsed_time_fraction()
        if frac is None:
            return min(1.0, self.current_epoch / max(1, self.cfg.trainer.max_epochs))
        return frac

    def on_train_batch_start(self, batch, batch_idx) -> None:
        frac = self._progress()
        if self.cfg.freeze_batchnorm_start < 1 and frac >= self.cfg.freeze_batchnorm_start:
            for m in self.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()  # Lightning sets train mode again every epoch
        if not self._by_time():
            return
        o = self.cfg.optim
        lr = o.min_lr + (o.lr - o.min_lr) * 0.5 * (1 + math.cos(math.pi * frac))
        for group in self.optimizers().param_groups:
            group["lr"] = lr

    def band_energy_weight_now(self) -> float:
        """Weight of the band-energy term in the training loss at the current progress: 0 before
        ``band_energy_start``, then rising linearly over ``band_energy_ramp`` to ``band_energy_weight``."""
        c = self.cfg
        frac = self._progress()
        if c.band_energy_weight <= 0 or frac < c.band_energy_start:
            return 0.0
        if c.band_energy_ramp <= 0:
            return c.band_energy_weight
        return c.band_energy_weight * min(1.0, (frac - c.band_energy_start) / c.band_energy_ramp)

    def loss(self, pred: torch.Tensor, atoms: torch.Tensor, batch: dict, band_weight: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The training loss of predictions ``pred`` ``(S, G)`` and ``atoms`` ``(N, G)`` against
        ``batch["dos"]`` and ``batch["atom_dos"]``, with band-energy weight ``band_weight``;
        also the band-energy errors ``(S,)`` eV/atom (None when ``band_weight`` is 0)."""
        loss = dos_loss(pred, batch["dos"], self.step_size, self.cfg.loss_alpha)
        if self.cfg.atom_loss_weight > 0:
            loss = loss + self.cfg.atom_loss_weight * dos_loss(atoms, batch["atom_dos"], self.step_size, self.cfg.loss_alpha)
        if band_weight <= 0:
            return loss, None
        band_pred = band_energy(self.energies, pred, self.n_electrons, unfilled="flag").band_energy
        band_true = band_energy(self.energies, batch["dos"], self.n_electrons, unfilled="flag").band_energy
        band_error = (band_pred - band_true).to(pred.dtype)  # float64 differences of ~50 eV values
        loss = loss + band_weight * (band_error.pow(2).mean() + self.cfg.band_energy_bias_weight * band_error.mean().pow(2))
        return loss, band_error

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        pred, atoms = predict_batch(self.model, batch)
        weight = self.cfg.band_energy_weight if stage != "train" else self.band_energy_weight_now()
        loss, band_error = self.loss(pred, atoms, batch, weight)
        if band_error is not None:
            for name, value in (("band_energy_mae", band_error.abs().mean()), ("band_energy_bias", band_error.mean())):
                self.log(f"{stage}/{name}", value, on_step=False, on_epoch=True,
                         sync_dist=stage != "train", batch_size=batch["num_structures"])
        if not torch.isfinite(loss):
            raise EquisymError(f"the {stage} loss became {float(loss)}; lower optim.lr or check the data")
        rmse = (pred - batch["dos"]).pow(2).mean().sqrt()
        on_step = stage == "train"
        n = batch["num_structures"]
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, sync_dist=not on_step, batch_size=n)
        self.log(f"{stage}/dos_rmse", rmse, on_step=False, on_epoch=True, sync_dist=not on_step, batch_size=n)
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")


def refit_output_layer(module: DOSModule, datamodule: DOSDataModule, refit: DOSRefitConfig) -> dict:
    """Refit ``module``'s output layer (:attr:`AtomDOSHead.output_layer`) on the training split
    at full batch, every other weight fixed (:class:`DOSRefitConfig`); in place.

    The loss is the training loss at full band-energy weight (:meth:`DOSModule.loss`); the
    structures' targets are the mean atom-projected DOS of the drawn atoms, as in training.
    Symmetry: unchanged (only a linear map of invariant per-atom features is refitted).

    Returns:
        ``{"applied", "iterations", "views", "train_loss_before", "train_loss_after", "seconds"}``;
        ``applied`` is False (and the layer keeps its trained weights) if the refit did not
        lower the training loss.
    """
    import time

    from tqdm import tqdm

    if refit.iterations <= 0:
        raise EquisymError(f"refit.iterations must be positive to refit, got {refit.iterations}")
    cfg = module.cfg
    start = time.time()
    split = datamodule.load_split("train")
    module.take_grid(datamodule)
    module.eval()
    head = module.model.head
    layer = head.output_layer
    keep = refit.atoms_per_structure if refit.atoms_per_structure is not None else cfg.data.train_atoms_per_structure
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _layer, inputs, _output: captured.append(inputs[0].detach()))
    parts: dict[str, list] = {key: [] for key in ("dos", "atom_dos", "structure_index", "frame_atom", "frame_weight")}
    atoms_seen = structures_seen = 0
    try:
        with torch.no_grad():
            loader = datamodule.loader(split, cfg.data.eval_batch_size, False, False, cfg.seed, atoms_per_structure=keep)
            for batch in tqdm(loader, desc="refit: features", unit="batch", leave=False):
                predict_batch(module.model, batch)
                n_atoms = len(batch["structure_index"])
                parts["dos"].append(batch["dos"])
                parts["atom_dos"].append(batch["atom_dos"])
                parts["structure_index"].append(batch["structure_index"] + structures_seen)
                if "frame_atom" in batch:
                    parts["frame_atom"].append(batch["frame_atom"] + atoms_seen)
                    parts["frame_weight"].append(batch["frame_weight"])
                atoms_seen += n_atoms
                structures_seen += batch["num_structures"]
    finally:
        hook.remove()
    hidden = torch.cat(captured)
    merged: dict[str, Any] = {key: torch.cat(value) for key, value in parts.items() if value}
    merged["num_structures"] = structures_seen

    original = (layer.weight.detach().clone(), layer.bias.detach().clone())
    frozen = [p for p in module.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    for p in layer.parameters():
        p.requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        list(layer.parameters()), lr=1.0, max_iter=refit.iterations, history_size=20, line_search_fn="strong_wolfe"
    )

    def training_loss() -> torch.Tensor:
        return module.loss(*pool_views(head.output(hidden), merged), merged, cfg.band_energy_weight)[0]

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = training_loss()
        loss.backward()
        return loss

    try:
        with torch.no_grad():
            before = float(training_loss())
        optimizer.step(closure)
        with torch.no_grad():
            after = float(training_loss())
    finally:
        for p in frozen:
            p.requires_grad_(True)
    applied = math.isfinite(after) and after <= before
    if not applied:  # never hand back weights worse than the trained ones
        with torch.no_grad():
            layer.weight.copy_(original[0])
            layer.bias.copy_(original[1])
    return {
        "applied": applied,
        "iterations": int(optimizer.state[layer.weight].get("n_iter", 0)),
        "views": len(hidden),
        "train_loss_before": before,
        "train_loss_after": after,
        "seconds": round(time.time() - start, 1),
    }


def save_refit(module: DOSModule, checkpoint: Path) -> Path:
    """Save ``module``'s (refitted) weights as ``refit.ckpt`` beside ``checkpoint``, which
    lends everything else (config, trainer state); returns the new path."""
    from equisym.train.checkpoint import load_checkpoint

    stored = load_checkpoint(checkpoint)
    stored["state_dict"] = module.state_dict()
    path = Path(checkpoint).parent / "refit.ckpt"
    torch.save(stored, path)
    return path


# ----------------------------------------------------------------------------- evaluation


def band_energies(energies: np.ndarray, dos: np.ndarray, n_electrons: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fermi level and band energy (eV/atom) of each DOS row ``(B, G)``; a DOS holding fewer than
    ``n_electrons`` states on the grid (or a non-finite value) gets NaN and is flagged in the
    returned mask."""
    dos = np.asarray(dos, dtype=np.float64)
    with torch.no_grad():
        fermi, band, filled = band_energy(torch.as_tensor(energies), torch.from_numpy(dos), n_electrons, unfilled="flag")
    ok = filled.numpy() & np.isfinite(dos).all(axis=-1)
    return np.where(ok, fermi.numpy(), np.nan), np.where(ok, band.numpy(), np.nan), ok


class DOSEnsemble(torch.nn.Module):
    """The mean prediction of several trained DOS models (a deep ensemble).

    ``forward(batch)`` returns the mean over ``members`` of their DOS per atom ``(S, G)``
    (states/eV/atom). Symmetry: whatever every member guarantees (e.g. exact rotation
    invariance with local frames) holds for the mean.
    """

    def __init__(self, members: list[DOSModule]) -> None:
        super().__init__()
        if len(members) < 2:
            raise EquisymError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = torch.nn.ModuleList(members)

    def forward(self, batch: dict) -> torch.Tensor:
        return torch.stack([member(batch) for member in self.members]).mean(0)


@torch.no_grad()
def predict_split(module: torch.nn.Module, datamodule: DOSDataModule, split: _Split, rotations: np.ndarray | None,
                  frame_mode: str = "all", seed: int = 0) -> np.ndarray:
    """The DOS ``(S, G)`` predicted for every structure of ``split`` (optionally rotated by
    ``rotations`` ``(S, 3, 3)``); with local frames each atom is viewed in ``frame_mode``
    (:class:`DOSCollate`; ``seed`` draws the ``sample`` frames)."""
    loader = datamodule.loader(split, datamodule.cfg.data.eval_batch_size, False, False, seed, rotations, frame_mode=frame_mode)
    out = np.zeros_like(split.dos, dtype=np.float64)
    for batch in loader:
        out[batch["ids"].numpy()] = module(batch).double().numpy()
    return out


@torch.no_grad()
def predict_atom_contributions(
    models: list[torch.nn.Module], datamodule: DOSDataModule, split: _Split, batch_size: int = 32,
    frame_mode: str = "all", seed: int = 0,
) -> list[np.ndarray]:
    """Each structure's predicted atom contributions ``(N_s, G)`` (states/eV, float64), the mean
    over ``models`` (one model, or the members of an ensemble); a structure's DOS per atom is
    the mean of its rows. ``frame_mode`` and ``seed`` pick the local-frame views (:class:`DOSCollate`)."""
    out: list = [None] * len(split.atoms)
    for batch in datamodule.loader(split, batch_size, False, False, seed, frame_mode=frame_mode):
        per_atom = torch.stack([predict_batch(model, batch)[1] for model in models]).mean(0).double().numpy()
        ids = batch["ids"].numpy()
        counts = np.bincount(batch["structure_index"].numpy(), minlength=len(ids))
        for i, block in zip(ids, np.split(per_atom, np.cumsum(counts)[:-1])):
            out[i] = block
    return out


@dataclass
class DOSPrediction:
    """The DOS that a trained model predicts for some structures (from :func:`predict_dos`).

    Shapes and units (S structures, G = 310 grid energies, N_s atoms in structure s):
        - energies: ``(G,)`` eV, the data's grid (:func:`equisym.physics.dos.dos_grid`).
        - dos: ``(S, G)`` states/eV per atom (spin included), the mean of the atoms' contributions.
        - atom_dos: S arrays ``(N_s, G)`` states/eV, each atom's contribution.
        - fermi_level: ``(S,)`` eV; band_energy: ``(S,)`` eV/atom, by
          :func:`equisym.physics.dos.band_energy` with 4 electrons per atom (NaN where the
          predicted DOS holds fewer states than electrons).
    """

    energies: np.ndarray
    dos: np.ndarray
    atom_dos: list
    fermi_level: np.ndarray
    band_energy: np.ndarray


@torch.no_grad()
def predict_dos(checkpoint, structures, batch_size: int = 32) -> DOSPrediction:
    """Predict the DOS, Fermi level and band energy of carbon structures with trained models.

    Args:
        checkpoint: ``best.ckpt`` of a ``dos`` run, or a list of several (their mean: a deep
            ensemble, see :func:`equisym.train.load_trained`).
        structures: an ``ase.Atoms`` or a sequence of them (carbon only; molecules or
            periodic cells).
        batch_size: structures per forward pass.

    Symmetry: the prediction inherits the model's: exactly invariant under every rotation
    (local frames, SOAP) or under the 60 icosahedral rotations (lab-frame CSGNN-DOS), and
    under translations and permutations of the atoms (``atom_dos`` is permuted with them).

    Raises:
        EquisymError: a checkpoint of another task, an element other than carbon, an atom
            with no neighbour within the cutoff, overlapping atoms, NaN positions (every model).

    Example::

        >>> from ase.build import graphene
        >>> sheet = graphene(a=2.53, size=(8, 8, 1), vacuum=10.0)  # bonds of 1.46 Å, as in the data
        >>> p = predict_dos("runs/csgnn-dos/best.ckpt", sheet)
        >>> p.band_energy[0], p.fermi_level[0]  # eV/atom, eV
    """
    from ase import Atoms

    from equisym.physics.dos import dos_grid
    from equisym.train.checkpoint import load_trained

    atoms = [structures] if isinstance(structures, Atoms) else list(structures)
    if not atoms or not all(isinstance(a, Atoms) for a in atoms):
        raise EquisymError("predict_dos: give an ase.Atoms or a non-empty sequence of them")
    if batch_size < 1:
        raise EquisymError(f"predict_dos: batch_size must be a positive integer, got {batch_size}")
    _, cfg, module = load_trained(checkpoint, task_name="dos")
    energies = dos_grid()
    datamodule = DOSDataModule(cfg)
    names = [f"structure {i} ({a.get_chemical_formula()})" for i, a in enumerate(atoms)]
    split = _Split(
        atoms=atoms,
        dos=np.zeros((len(atoms), len(energies)), dtype=np.float32),
        groups=names,
        band_energy=np.full(len(atoms), np.nan),
        inputs=datamodule._inputs(atoms, names),
        atom_dos=[np.zeros((len(a), len(energies)), dtype=np.float32) for a in atoms],
    )
    members = list(module.members) if isinstance(module, DOSEnsemble) else [module]
    atom_dos = predict_atom_contributions([member.model for member in members], datamodule, split, batch_size)
    dos = np.stack([block.mean(0) for block in atom_dos])
    fermi, band, _ = band_energies(energies, dos, datamodule.n_electrons)
    return DOSPrediction(energies=energies, dos=dos, atom_dos=atom_dos, fermi_level=fermi, band_energy=band)


def _haar_rotations(n: int, seed: int) -> np.ndarray:
    """``(n, 3, 3)`` Haar-random rotation matrices, reproducible from ``seed``."""
    from scipy.spatial.transform import Rotation

    return Rotation.random(n, random_state=seed).as_matrix().reshape(n, 3, 3)


def _scores(energies, n_el, pred, true, groups, ref_band) -> dict:
    fermi_true, band_true, _ = band_energies(energies, true, n_el)
    fermi_pred, band_pred, ok_pred = band_energies(energies, pred, n_el)
    err = np.abs(band_pred - band_true)
    failed = int((~ok_pred).sum())
    err_f = np.where(ok_pred, err, np.nan)
    per_group = {}
    for g in sorted(set(groups)):
        mask = np.array([x == g for x in groups])
        per_group[g] = {
            "band_energy_mae": _r(np.nanmean(err_f[mask])) if np.isfinite(err_f[mask]).any() else None,
            "within_chemical_accuracy": bool(np.nanmean(err_f[mask]) <= CHEMICAL_ACCURACY) if np.isfinite(err_f[mask]).any() else False,
            "count": int(mask.sum()),
        }
    return {
        "band_energy_mae": _r(np.nanmean(err_f)),
        "fermi_level_mae": _r(np.nanmean(np.abs(fermi_pred - fermi_true))),
        "dos_rmse": _r(float(np.sqrt(np.mean((pred - true) ** 2)))),
        "failed_band_energy": failed,
        "reference_vs_stored_band_energy_max": _r(float(np.nanmax(np.abs(band_true - ref_band)))),
        "table2b": per_group,
        "_band_pred": band_pred,
        "_band_true": band_true,
    }


def _r(x: float) -> float:
    return float(round(float(x), 6)) if x is not None and math.isfinite(float(x)) else float("nan")


def _plot(out_dir: Path, energies, pred, true, groups, band_pred, band_true, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(set(groups))
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, g in zip(axes.flat, names):
        k = [i for i, x in enumerate(groups) if x == g][0]
        ax.plot(energies, true[k], "k-", lw=1.2, label="true")
        ax.plot(energies, pred[k], "r--", lw=1.0, label="predicted")
        ax.set_title(f"{g}: ΔE_band {abs(band_pred[k] - band_true[k]) * 1000:.0f} meV/atom", fontsize=9)
        ax.set_xlabel("E (eV)")
        ax.set_ylabel("DOS (states/eV/atom)")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_dir / "dos_examples.png", dpi=100)
    plt.close(fig)

    _scatter_by_type(out_dir / "band_energy_parity.png", band_true, band_pred, groups, "true band energy (eV/atom)",
                     "predicted band energy (eV/atom)", title)


def _scatter_by_type(path: Path, x, y, groups, xlabel: str, ylabel: str, title: str, log: bool = False) -> None:
    """One point per test structure, coloured by structure type, with the line y = x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for g in sorted(set(groups)):
        mask = np.array([t == g for t in groups])
        ax.plot(x[mask], y[mask], "o", ms=3, label=g)
    ok = np.isfinite(x) & np.isfinite(y) & ((x > 0) & (y > 0) if log else True)
    if ok.any():
        lo, hi = min(x[ok].min(), y[ok].min()), max(x[ok].max(), y[ok].max())
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


@register_task
class DOSTask(Task):
    """Carbon DOS regression (Fox et al., Table 2)."""

    name = "dos"
    config_class = DOSConfig
    monitor = ("val/loss", "min")
    supports_ensembles = True

    def expand(self, cfg: DOSConfig) -> DOSConfig:
        kind = _kind(cfg.model)
        fixed: dict[str, Any] = {}
        if kind == "csgnn-dos":
            fixed["in_channels"] = cfg.data.spheres.num_bins
        elif kind == "soap-dos":
            fixed["num_features"] = cfg.data.soap.num_features
        elif kind != "schnet-dos":
            raise EquisymError(f"model.name must be csgnn-dos, schnet-dos or soap-dos for the dos task, got {kind!r}")
        for name in ("train_atoms_per_structure", "val_atoms_per_structure"):
            k = getattr(cfg.data, name)
            if k is not None and (k < 1 or kind == "schnet-dos"):
                raise EquisymError(
                    f"data.{name} must be a positive integer (or null) and needs csgnn-dos or soap-dos; got {k} with {kind}"
                )
        if cfg.data.num_workers < 0:
            raise EquisymError(f"data.num_workers must be >= 0, got {cfg.data.num_workers}")
        r = cfg.refit
        if r.iterations < 0 or (r.atoms_per_structure is not None and (r.atoms_per_structure < 1 or kind == "schnet-dos")):
            raise EquisymError(
                "refit.iterations must be >= 0 and refit.atoms_per_structure a positive integer (or null), "
                f"for csgnn-dos or soap-dos; got {r.iterations} and {r.atoms_per_structure} with {kind}"
            )
        if (cfg.band_energy_weight < 0 or cfg.atom_loss_weight < 0 or cfg.band_energy_bias_weight < 0
                or not 0 <= cfg.band_energy_start <= 1
                or not 0 <= cfg.freeze_batchnorm_start <= 1 or not 0 <= cfg.band_energy_ramp <= 1):
            raise EquisymError(
                "band_energy_weight, band_energy_bias_weight and atom_loss_weight must be >= 0, band_energy_start, "
                "band_energy_ramp and freeze_batchnorm_start in [0, 1]"
            )
        if not 0.0 <= cfg.loss_alpha <= 1.0:
            raise EquisymError(f"loss_alpha must lie in [0, 1], got {cfg.loss_alpha}")
        if kind == "csgnn-dos" and cfg.model.get("readout", "pool") == "flatten" and cfg.data.spheres.frames != "local":
            raise EquisymError(
                "model.readout: flatten keeps directions and is not rotation invariant; it needs data.spheres.frames: local"
            )
        invariant = kind != "csgnn-dos" or cfg.data.spheres.frames == "local"
        if cfg.eval.average_rotations < 0 or (cfg.eval.average_rotations > 0 and invariant):
            raise EquisymError(
                "eval.average_rotations must be >= 0 and is for csgnn-dos in lab frames only (the other models and "
                f"local frames are exactly rotation invariant); got {cfg.eval.average_rotations}"
            )
        entry, model_cfg = expand_model_section(cfg.model, **fixed)
        return dataclasses.replace(cfg, model={"name": entry.name, **to_dict(model_cfg)})

    def build_datamodule(self, cfg: DOSConfig) -> DOSDataModule:
        return DOSDataModule(cfg)

    def build_module(self, cfg: DOSConfig) -> DOSModule:
        return DOSModule(cfg)

    def ensemble(self, modules: list[DOSModule]) -> DOSEnsemble:
        return DOSEnsemble(modules)

    def after_training(self, module: DOSModule, datamodule: DOSDataModule, cfg: DOSConfig, checkpoint: Path) -> dict:
        """With ``refit.iterations > 0``: refit the output layer (:func:`refit_output_layer`) and
        save the result as ``refit.ckpt`` beside ``checkpoint`` (which stays as it was)."""
        if cfg.refit.iterations <= 0:
            return {}
        from equisym.train.runner import log

        log.info(f"refitting the output layer of {checkpoint.name} on the training set ({cfg.refit.iterations} L-BFGS iterations)")
        info = refit_output_layer(module, datamodule, cfg.refit)
        saved = save_refit(module, checkpoint)
        return {"refit": {**info, "checkpoint": saved.name, "from": checkpoint.name}}

    def evaluate(self, module: DOSModule | DOSEnsemble, datamodule: DOSDataModule, cfg: DOSConfig, out_dir: Path,
                 options: dict) -> dict:
        """Table 2a/2b on the test split, rotation trials, plots and ``test_dos.npz``. For a
        :class:`DOSEnsemble` also each member's Table 2a and the members' band-energy spread
        (standard deviation over members per structure, eV/atom: an uncertainty estimate)."""
        root = options.get("data")
        test = datamodule.load_split("test", root)
        energies, n_el = datamodule.energies, datamodule.n_electrons
        module.eval()
        members = list(module.members) if isinstance(module, DOSEnsemble) else [module]
        member_preds = [predict_split(member, datamodule, test, None) for member in members]
        pred = np.mean(member_preds, axis=0)
        scores = _scores(energies, n_el, pred, test.dos, test.groups, test.band_energy)
        band_pred, band_true = scores.pop("_band_pred"), scores.pop("_band_true")
        metrics: dict[str, Any] = {
            "model": _kind(cfg.model),
            "test_size": len(test.atoms),
            "test/band_energy_mae": scores["band_energy_mae"],
            "test/fermi_level_mae": scores["fermi_level_mae"],
            "test/dos_rmse": scores["dos_rmse"],
            "test/failed_band_energy": scores["failed_band_energy"],
            "table2a_band_energy_mae_ev_per_atom": scores["band_energy_mae"],
            "table2b_band_energy_mae_ev_per_atom": {g: v["band_energy_mae"] for g, v in scores["table2b"].items()},
            "structures_within_chemical_accuracy": sum(v["within_chemical_accuracy"] for v in scores["table2b"].values()),
            "structure_types": len(scores["table2b"]),
            "chemical_accuracy_ev_per_atom": CHEMICAL_ACCURACY,
            "reference_vs_stored_band_energy_max": scores["reference_vs_stored_band_energy_max"],
        }
        spread = None
        if len(members) > 1:
            from scipy.stats import spearmanr

            member_scores = [_scores(energies, n_el, p, test.dos, test.groups, test.band_energy) for p in member_preds]
            spread = np.std([s["_band_pred"] for s in member_scores], axis=0)
            metrics["ensemble/members"] = len(members)
            metrics["ensemble/member_band_energy_mae"] = [s["band_energy_mae"] for s in member_scores]
            metrics["ensemble/band_energy_spread_mean"] = _r(np.nanmean(spread))
            ok = np.isfinite(spread) & np.isfinite(band_pred)
            # Spearman rank correlation of spread and error: does a larger spread flag a larger error?
            metrics["ensemble/spread_error_rank_correlation"] = _r(
                spearmanr(spread[ok], np.abs(band_pred - band_true)[ok]).statistic
            ) if ok.sum() > 2 else None
        if _kind(cfg.model) != "soap-dos" and cfg.eval.rotation_trials > 0:
            maes, diffs, per_group = [], [], []
            for trial in range(cfg.eval.rotation_trials):
                rot_pred = predict_split(module, datamodule, test, _haar_rotations(len(test.atoms), cfg.eval.rotation_seed + trial))
                s = _scores(energies, n_el, rot_pred, test.dos, test.groups, test.band_energy)
                maes.append(s["band_energy_mae"])
                per_group.append({g: v["band_energy_mae"] for g, v in s["table2b"].items()})
                diffs.append(float(np.abs(rot_pred - pred).max()))
            metrics["test_rotated/band_energy_mae"] = _r(np.mean(maes))
            metrics["test_rotated/table2b"] = {  # None where a type's band energies all failed
                g: None if any(p[g] is None for p in per_group) else _r(np.mean([p[g] for p in per_group])) for g in per_group[0]
            }
            metrics["test_rotated/max_dos_change"] = _r(max(diffs))
        if cfg.eval.average_rotations > 0:
            n_avg = cfg.eval.average_rotations
            averaged = np.zeros_like(pred)
            for k in range(n_avg):
                rots = _haar_rotations(len(test.atoms), cfg.eval.rotation_seed + 1000 + k)
                averaged += predict_split(module, datamodule, test, rots) / n_avg
            s = _scores(energies, n_el, averaged, test.dos, test.groups, test.band_energy)
            metrics["test_averaged/rotations"] = n_avg
            metrics["test_averaged/band_energy_mae"] = s["band_energy_mae"]
            metrics["test_averaged/table2b"] = {g: v["band_energy_mae"] for g, v in s["table2b"].items()}
            metrics["test_averaged/structures_within_chemical_accuracy"] = sum(
                v["within_chemical_accuracy"] for v in s["table2b"].values()
            )
        rows = [
            {"structure": g, "band_energy_true": _r(t), "band_energy_pred": _r(p)}
            for g, t, p in zip(test.groups, band_true, band_pred)
        ]
        if spread is not None:
            for row, sd in zip(rows, spread):
                row["band_energy_spread"] = _r(sd)
            _scatter_by_type(  # does a larger spread of the members flag a larger error of their mean?
                out_dir / "ensemble_spread.png", spread, np.abs(band_pred - band_true), test.groups,
                "members' band-energy spread (eV/atom)", "|band-energy error| of the mean (eV/atom)",
                f"{_kind(cfg.model)}: ensemble of {len(members)}", log=True,
            )
        (out_dir / "predictions.json").write_text(json.dumps(rows))
        np.savez_compressed(
            out_dir / "test_dos.npz", energies=energies, predicted=pred.astype(np.float32), true=test.dos,
            structure=np.array(test.groups), band_energy_predicted=band_pred, band_energy_true=band_true,
        )
        _plot(out_dir, energies, pred, test.dos, test.groups, band_pred, band_true, f"{_kind(cfg.model)}: test")
        return metrics
