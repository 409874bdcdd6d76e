"""Config of the ``dos`` task: data, loss and its schedules, refit, evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from equisym.data.atom_spheres import SphereInputConfig
from equisym.data.soap import SoapConfig
from equisym.train.config import RunConfig

__all__ = ["DOSDataConfig", "DOSEvalConfig", "DOSRefitConfig", "DOSConfig", "CHEMICAL_ACCURACY"]

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
    ``None``: all atoms (the paper)."""
    num_workers: int = 0
    """Data-loader worker processes building the training batches (neighbour spheres in
    local frames, SOAP rows) while the model trains on the previous one; each worker draws
    its own atom subsets and frames. 0 = in the training process. Validation and test
    batches are always built in the training process."""
    cache_val_batches: bool = True
    """Keep the validation batches in memory after the first pass: they are the same every
    time (no rotation, fixed atoms and frames). Costs the batches' size in RAM (``csgnn-dos``:
    4·V·B bytes per view)."""
    val_atoms_per_structure: int | None = None
    """Validate on this many atoms of every validation structure (``csgnn-dos`` and ``soap-dos``;
    target: their mean atom-projected DOS): one fixed draw per structure, the same atoms at every
    validation, so scores compare across epochs. ``None``: all atoms."""
    train_frames: Literal["sample", "all"] = "sample"
    """``csgnn-dos`` with ``spheres.frames: local``: the views of a training atom. ``sample``: one
    of its frames, drawn with probability = its weight (a one-view estimate of the frame average
    that evaluation uses); ``all``: every frame with its weight, so the loss is on exactly the
    frame-averaged prediction that is evaluated (a step costs as many views as frames)."""
    rotate_train: bool = True
    """``csgnn-dos``: rotate every training structure by a fresh Haar-random rotation
    (its lab-frame input is only approximately rotation invariant); the other models are invariant."""
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
    """``csgnn-dos`` in lab frames only: also score the prediction averaged over this many
    Haar-random rotations of every test structure (N× the inference cost); still only
    approximately invariant. 0: off. The other models are exactly invariant, so it is refused
    for them."""


@dataclass
class DOSRefitConfig:
    """Full-batch refit of the DOS head's output layer after training.

    Every other weight is held fixed; the output layer's input features are computed once for
    the training structures and the training loss (at full band-energy weight) is minimised
    over the whole set at once (L-BFGS, deterministic), so the output layer ends at the
    optimum for the features the network has, free of the last mini-batch steps' noise."""

    iterations: int = 0
    """L-BFGS iterations (strong-Wolfe line search); 0 = off."""
    atoms_per_structure: int | None = None
    """Atoms per training structure whose features enter the refit (one fixed, seeded draw;
    every local frame of each). ``None``: ``data.train_atoms_per_structure`` (all atoms if
    that is ``None``). Features cost 4·H bytes per view (H = ``head_dims[-1]``)."""


@dataclass
class DOSConfig(RunConfig):
    """Config of the ``dos`` task.

    Schedules (``band_energy_start``, ``band_energy_ramp``, ``freeze_batchnorm_start``) are
    fractions of the run's optimizer steps (``trainer.max_epochs`` × steps per epoch), so a
    config trains the same way on any machine; ``trainer.max_time`` is only a safety stop.
    """

    data: DOSDataConfig = field(default_factory=DOSDataConfig)
    """The data set."""
    model: dict = field(default_factory=lambda: {"name": "csgnn-dos", "preset": "small"})
    """Model section: ``name`` (csgnn-dos, schnet-dos, soap-dos), optional ``preset``, fields."""
    loss_alpha: float = 0.1
    """Weight α of MSE(DOS); 1 − α weighs MSE(integrated DOS)."""
    band_energy_weight: float = 0.0
    """Weight of a third loss term, MSE of the band energy (eV/atom)² of the predicted vs the
    target DOS (:func:`equisym.physics.band_energy`, the function that computes the reported
    figure). At a fixed electron count the band-energy error is the signed integral of the
    cumulative-DOS error below E_F, which the MSE terms barely see. 0 = the paper's loss."""
    band_energy_start: float = 0.0
    """The band-energy term is on from this fraction of the run's optimizer steps on:
    0 = throughout; 0.7 = only for the last 30 % (validation always reports it)."""
    band_energy_ramp: float = 0.0
    """Fraction of the run's optimizer steps over which the band-energy weight rises linearly
    from 0 to ``band_energy_weight`` after ``band_energy_start`` (0 = switched on at once). A
    sudden start of a heavy term at a high learning rate can undo the DOS fit; a ramp eases it
    in. Validation always uses the full weight."""
    band_energy_bias_weight: float = 0.0
    """Extra weight k on the *common* part of the band-energy error: the band-energy term
    becomes ``w · [mean(err²) + k · mean(err)²]`` over the structures of a batch, multiplying
    the gradient of the error shared by all structures by 1 + k. 0 = off."""
    freeze_batchnorm_start: float = 1.0
    """From this fraction of the run's optimizer steps on, BatchNorm layers use and keep their
    running statistics, as at evaluation. Batches of a few atoms of a few structures have
    statistics unlike the population's, so a model trained only on batch statistics is biased
    in evaluation mode; freezing for the last part lets the weights adapt to the statistics
    used at inference. 1 = never (the paper). Not meant for SchNet-DOS, which trains on whole
    structures, so its batch statistics carry no such bias."""
    atom_loss_weight: float = 0.0
    """Weight of the same loss on each atom's contribution against its atom-projected DOS
    (the data have it); 0 = the paper's structure-level loss only."""
    refit: DOSRefitConfig = field(default_factory=DOSRefitConfig)
    """Refit of the output layer after training (``equisym train`` writes ``refit.ckpt`` and
    evaluates it); off by default."""
    eval: DOSEvalConfig = field(default_factory=DOSEvalConfig)
    """Evaluation protocol."""
