"""Task ``potential``: interatomic potentials (energies + conservative forces + stress), e.g. PET.

Training (the recipe of the PET paper, restated in the reference notes, with energies per atom):

- loss ``L = w_E · MSE_E / σ_E² + w_F · MSE_F / σ_F² + w_S · MSE_S / σ_S²`` with
  ``w_E = loss.energy_weight`` (0.1), ``w_F = loss.forces_weight`` (1) and
  ``w_S = loss.stress_weight`` (0: stress not trained). Energies are compared per atom
  (``loss.per_atom_energy``). σ_E, σ_F, σ_S are *sliding* validation RMSEs: initialised to the
  standard deviation of the validation energies (after the baseline), the RMS of the
  validation forces and the standard deviation of the validation stress components, then after
  each validation ``σ ← s·σ + (1 − s)·RMSE_val`` with ``s = loss.sliding_factor`` (0.7). The
  monitored ``val/loss`` uses the *initial* σ, so checkpoints are compared on a fixed scale.
  Every term is a weighted mean over structures (``data.weight_key``; forces: the structure's
  weight on each of its atoms).
- random O(3) augmentation inside the graph: every training batch draws a Haar-random
  rotation per structure, times −1 with probability ½, applied to the edge vectors inside the
  differentiated function, so predicted forces and stresses are in the lab frame.
- the energy offset is fixed once before training and lives in the model's buffers: per-species
  baseline energies fitted by least squares on the training set's composition, or the
  isolated-atom energies of ``data.atomic_energies``; the readout is scaled by the RMS of the
  training forces. Fine-tuning (``model.init_from``) keeps the pretrained scale and adds a
  least-squares composition fit of what the pretrained model misses on the new training set.

Evaluation (``equisym eval RUN/best.ckpt -o 'eval.modes=[bare,ecse,average]'``): energy (total
and per atom), force and stress MAE/RMSE on the test set for each mode: ``bare`` (the model as
trained), ``ecse`` (wrapped in :class:`equisym.nn.Symmetrized`), ``average`` (averaged over
``eval.n_rotations`` fixed random O(3) rotations); with the cost of each mode relative to
``bare`` and, for ECSE, the number of frames per structure. Without a test set (no
``data.test``, ``data.test_fraction: 0``) the validation set is scored and the metrics are
labelled ``val/...``, never ``test/...``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import torch

from equisym.config import to_dict
from equisym.data.atoms import AtomsDataModule, atomic_numbers
from equisym.errors import EquisymError
from equisym.nn.registry import expand_model_section
from equisym.train.task import Task, register_task
from equisym.train.tasks.potential.config import (
    FinetuneConfig,
    PotentialConfig,
    PotentialEvalConfig,
    PotentialLossConfig,
)
from equisym.train.tasks.potential.finetune import finetune_section
from equisym.train.tasks.potential.module import PotentialModule
from equisym.train.tasks.potential.scoring import _device_of, parity_plot, score, wrap_model

__all__ = [
    "PotentialLossConfig",
    "PotentialEvalConfig",
    "FinetuneConfig",
    "PotentialConfig",
    "PotentialModule",
    "Potential",
    "load_potential",
    "wrap_model",
    "score",
]

log = logging.getLogger("equisym")


def load_potential(path: str | os.PathLike, dtype: torch.dtype | None = None, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained model (e.g. :class:`~equisym.nn.PET`) of a ``potential`` checkpoint, in eval mode
    (:func:`equisym.inference.potential.load_potential`)."""
    from equisym.inference.potential import load_potential as _load

    return _load(path, dtype, device)


def _model_section(cfg: PotentialConfig) -> tuple[dict, FinetuneConfig]:
    """The model section with species as atomic numbers and fine-tuning keys moved out."""
    section = dict(cfg.model)
    ft = cfg.finetune
    if "init_from" in section or "finetune" in section:
        init = section.pop("init_from", ft.init_from)
        mode = section.pop("finetune", ft.mode)
        if mode not in ("full", "heads"):
            raise EquisymError(f"model.finetune must be full or heads, got {mode!r}")
        ft = FinetuneConfig(init_from=None if init is None else os.fspath(init), mode=mode)
    if "species" in section:
        if not isinstance(section["species"], (list, tuple)):
            raise EquisymError("model.species must be a list of chemical symbols or atomic numbers, e.g. [H, C, O]")
        section["species"] = atomic_numbers(section["species"], "model.species")
    if ft.init_from and not _complete(section):  # a stored (expanded) config is not re-merged
        if not os.path.exists(ft.init_from):
            raise EquisymError(f"model.init_from: model file not found: {ft.init_from}")
        section = finetune_section(ft.init_from, section)
    return section, ft


def _complete(section: dict) -> bool:
    """Whether a model section already lists every field (an expanded, stored section)."""
    if "preset" in section:
        return False
    _, model_cfg = expand_model_section(section)
    return set(to_dict(model_cfg)) <= set(section)


@register_task
class Potential(Task):
    """Interatomic potential: energies, conservative forces and stress (PET, ...)."""

    name = "potential"
    config_class = PotentialConfig
    monitor = ("val/loss", "min")

    def expand(self, cfg: PotentialConfig) -> PotentialConfig:
        section, ft = _model_section(cfg)
        entry, model_cfg = expand_model_section(section)
        if cfg.eval.n_rotations < 1:
            raise EquisymError("eval.n_rotations must be >= 1")
        if cfg.loss.stress_weight > 0 and not (cfg.data.stress_key or cfg.data.virial_key):
            raise EquisymError("loss.stress_weight > 0 needs data.stress_key or data.virial_key")
        return dataclasses.replace(cfg, model=entry.section(model_cfg), finetune=ft)

    def build_datamodule(self, cfg: PotentialConfig) -> AtomsDataModule:
        _, model_cfg = expand_model_section(cfg.model)
        dtype = torch.float64 if cfg.trainer.precision.startswith("64") else torch.float32
        return AtomsDataModule(cfg.data, model_cfg.cutoff, model_cfg.species, dtype)

    def build_module(self, cfg: PotentialConfig) -> PotentialModule:
        return PotentialModule(cfg)

    def evaluate(self, module: PotentialModule, datamodule: AtomsDataModule, cfg: PotentialConfig, out_dir: Path, options: dict) -> dict:
        datamodule.setup("test")
        prefix = "test"
        if options.get("data"):
            dataset = datamodule.dataset_from_file(options["data"])
        elif datamodule.test_set is not None:
            dataset = datamodule.test_set
        else:
            prefix, dataset = "val", datamodule.val_set
            log.warning("no test set (data.test or data.test_fraction): scoring the validation set, metrics labelled val/...")
        ev = cfg.eval
        dtype = torch.float64 if ev.dtype == "float64" else torch.float32
        model = copy.deepcopy(module.model).to(dtype).eval()
        aux = load_potential(ev.aux_checkpoint, dtype, _device_of(model)) if ev.aux_checkpoint else None
        n = len(dataset) if ev.max_structures is None else min(len(dataset), ev.max_structures)
        metrics: dict[str, Any] = {"scored_set": "test" if prefix == "test" else "validation", f"{prefix}_size": n}
        base_time = None
        for mode in ["bare"] + [m for m in ev.modes if m != "bare"]:
            wrapped = wrap_model(model, mode, ev, aux)
            res = score(wrapped, dataset, ev.batch_size, dtype, ev.max_structures)
            e_true, e_pred = res.pop("_pred")
            if mode == "bare":
                base_time = res["seconds_per_structure"]
                parity_plot(e_true, e_pred, out_dir / "energy_parity.png")
            res["time_relative_to_bare"] = round(res["seconds_per_structure"] / base_time, 3) if base_time else None
            metrics[mode] = res
            metrics[f"{prefix}/{mode}/energy_mae_meV"] = res["energy_mae"]
            metrics[f"{prefix}/{mode}/energy_per_atom_mae_meV"] = res["energy_per_atom_mae"]
            if "forces_mae" in res:
                metrics[f"{prefix}/{mode}/forces_mae_meV_per_A"] = res["forces_mae"]
            if "stress_mae_GPa" in res:
                metrics[f"{prefix}/{mode}/stress_mae_GPa"] = res["stress_mae_GPa"]
                metrics[f"{prefix}/{mode}/stress_mae_eV_per_A3"] = res["stress_mae_eV_per_A3"]
        return metrics
