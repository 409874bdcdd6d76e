"""Config sections of the ``potential`` task: data (:class:`~equisym.data.atoms.AtomsDataConfig`),
model, loss, fine-tuning, evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from equisym.data.atoms import AtomsDataConfig
from equisym.errors import EquisymError
from equisym.train.config import RunConfig

__all__ = ["PotentialLossConfig", "PotentialEvalConfig", "FinetuneConfig", "PotentialConfig", "EvalMode"]

EvalMode = Literal["bare", "ecse", "average"]


@dataclass
class PotentialLossConfig:
    """Energy + force (+ stress) loss with sliding normalisation (see the task docstring)."""

    energy_weight: float = 0.1
    """w_E (the PET paper's ENERGY_WEIGHT)."""
    forces_weight: float = 1.0
    """w_F."""
    stress_weight: float = 0.0
    """w_S (needs ``data.stress_key`` or ``data.virial_key``)."""
    sliding_factor: float = 0.7
    """s in σ ← s·σ + (1 − s)·RMSE_val after every validation."""
    per_atom_energy: bool = True
    """Compare energies per atom (so structures of every size count alike in the energy term)."""

    def __post_init__(self) -> None:
        for name in ("energy_weight", "forces_weight", "stress_weight"):
            if getattr(self, name) < 0:
                raise EquisymError(f"loss.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.sliding_factor <= 1.0:
            raise EquisymError(f"loss.sliding_factor must be in [0, 1], got {self.sliding_factor}")


@dataclass
class FinetuneConfig:
    """Start from a trained model file (``model.init_from`` / ``model.finetune`` in a config
    are moved here)."""

    init_from: str | None = field(default=None, metadata={"path": True})
    """Model file (``best.ckpt`` of a ``potential`` run) whose weights start the training."""
    mode: Literal["full", "heads"] = "full"
    """``full``: train every weight; ``heads``: only the readout heads (and the species
    embeddings, so new species can be learnt)."""


@dataclass
class PotentialEvalConfig:
    """Test-set evaluation."""

    modes: list[EvalMode] = field(default_factory=lambda: ["bare"])
    """Which predictions to score: ``bare``, ``ecse`` (Symmetrized), ``average`` (rotation average)."""
    n_rotations: int = 16
    """Number of fixed random O(3) rotations of the ``average`` mode."""
    rotation_seed: int = 2024
    """Seed of those rotations."""
    dtype: Literal["float32", "float64"] = "float64"
    """Precision of the evaluation."""
    batch_size: int = 10
    """Structures per evaluation batch."""
    ecse: dict = field(default_factory=dict)
    """Keyword options passed to ``equisym.nn.Symmetrized`` (frame hyperparameters)."""
    aux_checkpoint: str | None = None
    """Checkpoint of an invariant auxiliary model for ECSE (e.g. a ``use_only_length`` PET)."""
    max_structures: int | None = None
    """Score only the first N test structures (quick ECSE checks)."""


@dataclass
class PotentialConfig(RunConfig):
    """Config of the ``potential`` task."""

    data: AtomsDataConfig = field(default_factory=AtomsDataConfig)
    """Structures, label keys, units, splits and batching."""
    model: dict = field(default_factory=lambda: {"name": "pet", "preset": "small"}, metadata={"path_keys": ("init_from",)})
    """Model section: ``name`` (pet), optional ``preset``, then fields (``species`` as atomic
    numbers or symbols, ``cutoff``...); ``init_from``/``finetune`` go to :attr:`finetune`."""
    loss: PotentialLossConfig = field(default_factory=PotentialLossConfig)
    """Loss weighting."""
    augment: bool = True
    """Random O(3) rotation of every training structure at every step."""
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    """Start from a trained model (fine-tuning)."""
    eval: PotentialEvalConfig = field(default_factory=PotentialEvalConfig)
    """Evaluation options."""
