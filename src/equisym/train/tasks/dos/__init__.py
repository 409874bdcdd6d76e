"""Task ``dos``: the electronic density of states of carbon structures, atom by atom.

Data: a folder written by ``equisym generate carbon-dos`` (``structures.extxyz`` + ``dos.h5``,
read by :func:`equisym.data.carbon.load_carbon_dos`). The target of a structure is its DOS
per atom on the data's energy grid (states/eV/atom, spin included).

Models (``model.name``): ``csgnn-dos`` (per-atom concentric spherical input,
:mod:`equisym.data.atom_spheres`), ``schnet-dos`` (SchNet, periodic neighbour list) and
``soap-dos`` (SOAP + MLP). Every model predicts one non-negative DOS contribution per atom;
the structure's DOS per atom is their mean (= total DOS / N). Batches are packed
(:mod:`equisym.data.carbon_batches`): atoms of all structures are concatenated, no padding.

Loss (:mod:`~equisym.train.tasks.dos.loss`, Fox et al.): ``α·MSE(DOS) + (1−α)·MSE(N(E))``
with the integrated DOS ``N``, optionally an atom-level term and a band-energy term whose
weight follows the run's optimizer steps.

Evaluation (``equisym eval``, :mod:`~equisym.train.tasks.dos.evaluate`): band energy per atom
(:func:`equisym.physics.band_energy`, 4 electrons per atom) of the predicted and of the
reference DOS for every test structure; Table 2a (overall band-energy MAE, eV/atom) and 2b (per
structure type), Fermi-level MAE, DOS RMSE, the same under Haar-random rotations; plots.

Prediction for new structures without training code: :func:`equisym.inference.dos.predict_dos`.

Modules: ``config``, ``loss``, ``datamodule``, ``module``, ``refit``, ``ensemble``,
``evaluate``, ``plots``, ``task``.
"""

from equisym.train.tasks.dos.config import (
    CHEMICAL_ACCURACY,
    DOSConfig,
    DOSDataConfig,
    DOSEvalConfig,
    DOSRefitConfig,
)
from equisym.train.tasks.dos.datamodule import DOSDataModule
from equisym.train.tasks.dos.ensemble import DOSEnsemble
from equisym.train.tasks.dos.loss import dos_loss
from equisym.train.tasks.dos.module import DOSModule
from equisym.train.tasks.dos.task import DOSTask

__all__ = [
    "CHEMICAL_ACCURACY",
    "DOSConfig",
    "DOSDataConfig",
    "DOSEvalConfig",
    "DOSRefitConfig",
    "DOSDataModule",
    "DOSEnsemble",
    "DOSModule",
    "DOSTask",
    "dos_loss",
]
