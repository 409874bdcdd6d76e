"""The ``dos`` task: carbon DOS regression (Fox et al., Table 2), registered with the trainer."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from equisym.errors import EquisymError
from equisym.nn.registry import expand_model_section
from equisym.train.task import Task, register_task
from equisym.train.tasks.dos.config import DOSConfig
from equisym.train.tasks.dos.datamodule import DOSDataModule, model_kind
from equisym.train.tasks.dos.ensemble import DOSEnsemble
from equisym.train.tasks.dos.module import DOSModule

__all__ = ["DOSTask"]


@register_task
class DOSTask(Task):
    """Carbon DOS regression (Fox et al., Table 2)."""

    name = "dos"
    config_class = DOSConfig
    monitor = ("val/loss", "min")
    supports_ensembles = True

    def expand(self, cfg: DOSConfig) -> DOSConfig:
        kind = model_kind(cfg.model)
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
                or not 0 <= cfg.freeze_batchnorm_start <= 1 or not 0 <= cfg.band_energy_ramp <= 1):  # fractions of the optimizer steps
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
        return dataclasses.replace(cfg, model=entry.section(model_cfg))

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

        from equisym.train.tasks.dos.refit import refit_output_layer, save_refit

        log.info(f"refitting the output layer of {checkpoint.name} on the training set ({cfg.refit.iterations} L-BFGS iterations)")
        info = refit_output_layer(module, datamodule, cfg.refit)
        saved = save_refit(module, checkpoint)
        return {"refit": {**info, "checkpoint": saved.name, "from": checkpoint.name}}

    def evaluate(self, module: DOSModule | DOSEnsemble, datamodule: DOSDataModule, cfg: DOSConfig, out_dir: Path,
                 options: dict) -> dict:
        """Table 2a/2b on the test split (:func:`equisym.train.tasks.dos.evaluate.evaluate`)."""
        from equisym.train.tasks.dos.evaluate import evaluate

        return evaluate(module, datamodule, cfg, out_dir, options)
