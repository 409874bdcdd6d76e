"""Task ``potential``: interatomic potentials (energies + conservative forces), e.g. PET.

Training (the recipe of the PET paper, restated in the reference notes):

- loss ``L = w_E · MSE_E / σ_E² + w_F · MSE_F / σ_F²`` with ``w_E = loss.energy_weight``
  (0.1) and ``w_F = loss.forces_weight`` (1). σ_E, σ_F are *sliding* validation RMSEs:
  initialised to the standard deviation of the validation energies (after the baseline) and
  the RMS of the validation forces, then after each validation ``σ ← s·σ + (1 − s)·RMSE_val``
  with ``s = loss.sliding_factor`` (0.7). The monitored ``val/loss`` uses the *initial* σ, so
  checkpoints are compared on a fixed scale.
- random O(3) augmentation inside the graph: every training batch draws a Haar-random
  rotation per structure, times −1 with probability ½, applied to the edge vectors inside the
  differentiated function, so predicted forces are in the lab frame and targets stay as they are.
- per-species baseline energies fitted on the training set, stored in the model; the
  readout is scaled by the RMS of the training forces.

Evaluation (``equisym eval RUN/best.ckpt -o 'eval.modes=[bare,ecse,average]'``): energy and
force MAE/RMSE on the test set for each mode: ``bare`` (the model as trained), ``ecse`` (wrapped
in :class:`equisym.nn.Symmetrized`), ``average`` (averaged over ``eval.n_rotations`` fixed
random O(3) rotations); with the cost of each mode relative to ``bare`` and, for ECSE, the
number of frames per structure.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from equisym.config import to_dict
from equisym.data.atoms import AtomsDataConfig, AtomsDataModule, AtomsDataset
from equisym.errors import EquisymError
from equisym.geometry.graph import AtomicGraph
from equisym.geometry.rotations import random_o3
from equisym.nn.atomistic import compute_forces
from equisym.nn.registry import build_model, expand_model_section
from equisym.train.config import RunConfig
from equisym.train.task import Task, TaskModule, register_task

__all__ = [
    "PotentialLossConfig",
    "PotentialEvalConfig",
    "PotentialConfig",
    "PotentialModule",
    "Potential",
    "load_potential",
    "wrap_model",
]

EvalMode = Literal["bare", "ecse", "average"]


@dataclass
class PotentialLossConfig:
    """Energy + force loss with sliding normalisation."""

    energy_weight: float = 0.1
    """w_E (the PET paper's ENERGY_WEIGHT)."""
    forces_weight: float = 1.0
    """w_F."""
    sliding_factor: float = 0.7
    """s in σ ← s·σ + (1 − s)·RMSE_val after every validation."""
    per_atom_energy: bool = False
    """Compare energies per atom instead of per structure."""


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
    """Structures, label keys, units and batching."""
    model: dict = field(default_factory=lambda: {"name": "pet", "preset": "small"})
    """Model section: ``name`` (pet), optional ``preset``, then fields (``species``, ``cutoff``...)."""
    loss: PotentialLossConfig = field(default_factory=PotentialLossConfig)
    """Loss weighting."""
    augment: bool = True
    """Random O(3) rotation of every training structure at every step."""
    eval: PotentialEvalConfig = field(default_factory=PotentialEvalConfig)
    """Evaluation options."""


def _plain(graph: AtomicGraph) -> AtomicGraph:
    """Copy every tensor of a graph so it can enter autograd (batches made under inference mode)."""
    fields = {}
    for f in dataclasses.fields(graph):
        v = getattr(graph, f.name)
        fields[f.name] = v.clone() if isinstance(v, torch.Tensor) else v
    return AtomicGraph(**fields)


class PotentialModule(TaskModule):
    """Energy + force training of an atomistic model (see the module docstring)."""

    def __init__(self, cfg: PotentialConfig) -> None:
        super().__init__(cfg)
        self.monitor = ("val/loss", "min")
        self.model, _ = build_model(cfg.model)
        self.register_buffer("sigma", torch.ones(2))  # sliding σ_E, σ_F
        self.register_buffer("sigma0", torch.ones(2))  # initial σ (fixed monitor scale)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self._val: list = []

    def forward(self, graph: AtomicGraph) -> dict:
        return self.model(graph)

    def on_fit_start(self) -> None:
        if bool(self.initialized):
            return
        dm = self.trainer.datamodule
        train = dm.train_set.structures
        forces = [s.forces for s in train if s.forces is not None]
        scale = float(np.sqrt(np.mean(np.concatenate(forces) ** 2))) if forces else 1.0
        if hasattr(self.model, "set_baseline"):
            self.model.set_baseline(torch.as_tensor(dm.baseline), energy_scale=scale)
        table = {z: k for k, z in enumerate(dm.species)}
        val = dm.val_set.structures
        resid = np.array([s.energy - sum(dm.baseline[table[int(z)]] for z in s.numbers) for s in val])
        if self.cfg.loss.per_atom_energy:
            resid = resid / np.array([len(s.numbers) for s in val])
        sig_e = float(resid.std()) if len(resid) > 1 else 1.0
        vforces = [s.forces for s in val if s.forces is not None]
        sig_f = float(np.sqrt(np.mean(np.concatenate(vforces) ** 2))) if vforces else 1.0
        sig = torch.tensor([max(sig_e, 1e-6), max(sig_f, 1e-6)], device=self.sigma.device)
        self.sigma.copy_(sig)
        self.sigma0.copy_(sig)
        self.initialized.fill_(True)

    def _predict(self, batch: dict, rotation: torch.Tensor | None, training: bool) -> dict:
        graph = batch["graph"]
        return compute_forces(self.model, graph, forces=batch["has_forces"], transform=rotation, create_graph=training)

    def _errors(self, batch: dict, out: dict) -> tuple[torch.Tensor, torch.Tensor | None]:
        de = out["energy"] - batch["energy"]
        if self.cfg.loss.per_atom_energy:
            de = de / batch["graph"].atoms_per_structure().to(de.dtype)
        df = out["forces"] - batch["forces"] if batch["has_forces"] else None
        return de, df

    def _loss(self, de: torch.Tensor, df: torch.Tensor | None, sigma: torch.Tensor) -> torch.Tensor:
        lc = self.cfg.loss
        loss = lc.energy_weight * (de**2).mean() / sigma[0] ** 2
        if df is not None and lc.forces_weight > 0:
            loss = loss + lc.forces_weight * (df**2).mean() / sigma[1] ** 2
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        graph = batch["graph"]
        rotation = None
        if self.cfg.augment:
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + int(self.global_step))
            rotation = random_o3(graph.n_structures, gen, dtype=graph.dtype).to(graph.device)
        out = self._predict(batch, rotation, training=True)
        de, df = self._errors(batch, out)
        loss = self._loss(de, df, self.sigma)
        if not torch.isfinite(loss):
            raise EquisymError(f"the training loss became {float(loss)}; lower optim.lr or check the data")
        s = graph.n_structures
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=s)
        self.log("train/energy_mae", de.detach().abs().mean() * 1000, on_step=False, on_epoch=True, batch_size=s)
        if df is not None:
            self.log("train/forces_mae", df.detach().abs().mean() * 1000, on_step=False, on_epoch=True, batch_size=s)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        with torch.inference_mode(False), torch.enable_grad():
            batch = dict(batch, graph=_plain(batch["graph"]))
            out = self._predict(batch, None, training=False)
        de, df = self._errors(batch, out)
        self._val.append((de.detach(), None if df is None else df.detach()))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        de = torch.cat([a for a, _ in self._val])
        dfs = [b for _, b in self._val if b is not None]
        self._val = []
        df = torch.cat(dfs) if dfs else None
        loss = self._loss(de, df, self.sigma0)
        self.log("val/loss", loss, prog_bar=True, sync_dist=True)
        self.log("val/energy_mae", de.abs().mean() * 1000, prog_bar=True, sync_dist=True)
        self.log("val/energy_rmse", de.pow(2).mean().sqrt() * 1000, sync_dist=True)
        s = self.cfg.loss.sliding_factor
        rmse_e = de.pow(2).mean().sqrt()
        new = self.sigma.clone()
        new[0] = s * self.sigma[0] + (1 - s) * rmse_e
        if df is not None:
            self.log("val/forces_mae", df.abs().mean() * 1000, prog_bar=True, sync_dist=True)
            self.log("val/forces_rmse", df.pow(2).mean().sqrt() * 1000, sync_dist=True)
            new[1] = s * self.sigma[1] + (1 - s) * df.pow(2).mean().sqrt()
        if not self.trainer.sanity_checking:
            self.sigma.copy_(new)


def wrap_model(model: torch.nn.Module, mode: str, cfg: PotentialEvalConfig | None = None, aux: torch.nn.Module | None = None) -> torch.nn.Module:
    """The model to evaluate in a given mode: ``bare``, ``ecse`` or ``average``.

    ``ecse`` and ``average`` use :class:`equisym.nn.Symmetrized` and
    :class:`equisym.nn.RotationAveraged` (the ECSE module).
    """
    cfg = cfg or PotentialEvalConfig()
    if mode == "bare":
        return model
    import equisym.nn as enn

    if mode == "ecse":
        if not hasattr(enn, "Symmetrized"):
            raise EquisymError("ECSE is not available in this installation (equisym.nn.Symmetrized is missing)")
        return enn.Symmetrized(model, aux_model=aux, config=dict(cfg.ecse))
    if mode == "average":
        if not hasattr(enn, "RotationAveraged"):
            raise EquisymError("rotation averaging is not available (equisym.nn.RotationAveraged is missing)")
        return enn.RotationAveraged(model, n_rotations=cfg.n_rotations, seed=cfg.rotation_seed)
    raise EquisymError(f"unknown evaluation mode {mode!r}; choose bare, ecse or average")


def _frames_of(wrapped: torch.nn.Module, out: dict) -> float | None:
    for key in ("num_frames", "n_frames"):
        if key in out:
            v = out[key]
            return float(v.float().sum()) if isinstance(v, torch.Tensor) else float(np.sum(v))
    stats = getattr(wrapped, "last_stats", None) or getattr(wrapped, "stats", None)
    if isinstance(stats, dict):
        for key in ("n_frames", "frames"):
            if key in stats:
                v = stats[key]
                return float(v.float().sum()) if isinstance(v, torch.Tensor) else float(np.sum(v))
    return None


def score(model: torch.nn.Module, dataset: AtomsDataset, batch_size: int = 10, dtype: torch.dtype = torch.float64, max_structures: int | None = None) -> dict:
    """Energy (meV) and force (meV/Å) MAE/RMSE of ``model`` on ``dataset``, with timing.

    Returns a dict with ``energy_mae``, ``energy_rmse`` (meV), ``forces_mae``,
    ``forces_rmse`` (meV/Å), ``seconds_per_structure``, ``frames_per_structure`` (when the
    model reports frames) and the raw predictions under ``_pred``.
    """
    from equisym.data.atoms import collate_atoms

    items = [dataset[k] for k in range(len(dataset) if max_structures is None else min(max_structures, len(dataset)))]
    device = _device_of(model)  # score where the model is (eval --device)
    de_all, df_all, e_pred, e_true = [], [], [], []
    frames, n_frames_known = 0.0, True
    elapsed = 0.0
    for k in range(0, len(items), batch_size):
        batch = collate_atoms(items[k : k + batch_size])
        graph = batch["graph"].to(device=device, dtype=dtype)
        t = time.perf_counter()
        out = compute_forces(model, graph, forces=batch["has_forces"])
        elapsed += time.perf_counter() - t
        fr = _frames_of(model, out)
        if fr is None:
            n_frames_known = False
        else:
            frames += fr
        de = out["energy"].detach().cpu() - batch["energy"].to(dtype)
        de_all.append(de)
        e_pred.append(out["energy"].detach().cpu())
        e_true.append(batch["energy"].to(dtype))
        if batch["has_forces"]:
            df_all.append(out["forces"].detach().cpu() - batch["forces"].to(dtype))
    de = torch.cat(de_all)
    res: dict[str, Any] = {
        "n_structures": len(items),
        "energy_mae": round(float(de.abs().mean()) * 1000, 4),
        "energy_rmse": round(float(de.pow(2).mean().sqrt()) * 1000, 4),
        "seconds_per_structure": elapsed / max(1, len(items)),
    }
    if df_all:
        df = torch.cat(df_all)
        res["forces_mae"] = round(float(df.abs().mean()) * 1000, 4)
        res["forces_rmse"] = round(float(df.pow(2).mean().sqrt()) * 1000, 4)
    if n_frames_known:
        res["frames_per_structure"] = frames / max(1, len(items))
    res["_pred"] = (torch.cat(e_true).numpy(), torch.cat(e_pred).numpy())
    return res


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


def load_potential(path: str | os.PathLike, dtype: torch.dtype | None = None, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained model (e.g. :class:`~equisym.nn.PET`) of a ``potential`` checkpoint, in eval mode
    (:func:`equisym.inference.potential.load_potential`)."""
    from equisym.inference.potential import load_potential as _load

    return _load(path, dtype, device)


@register_task
class Potential(Task):
    """Interatomic potential: energies and conservative forces (PET, ...)."""

    name = "potential"
    config_class = PotentialConfig
    monitor = ("val/loss", "min")

    def expand(self, cfg: PotentialConfig) -> PotentialConfig:
        entry, model_cfg = expand_model_section(cfg.model)
        if cfg.eval.n_rotations < 1:
            raise EquisymError("eval.n_rotations must be >= 1")
        return dataclasses.replace(cfg, model={"name": entry.name, **to_dict(model_cfg)})

    def build_datamodule(self, cfg: PotentialConfig) -> AtomsDataModule:
        _, model_cfg = expand_model_section(cfg.model)
        dtype = torch.float64 if cfg.trainer.precision.startswith("64") else torch.float32
        return AtomsDataModule(cfg.data, model_cfg.cutoff, model_cfg.species, dtype)

    def build_module(self, cfg: PotentialConfig) -> PotentialModule:
        return PotentialModule(cfg)

    def evaluate(self, module: PotentialModule, datamodule: AtomsDataModule, cfg: PotentialConfig, out_dir: Path, options: dict) -> dict:
        datamodule.setup("test")
        dataset = datamodule.dataset_from_file(options["data"]) if options.get("data") else datamodule.test_set
        ev = cfg.eval
        dtype = torch.float64 if ev.dtype == "float64" else torch.float32
        import copy

        model = copy.deepcopy(module.model).to(dtype).eval()
        aux = load_potential(ev.aux_checkpoint, dtype, _device_of(model)) if ev.aux_checkpoint else None
        metrics: dict[str, Any] = {"test_size": len(dataset) if ev.max_structures is None else min(len(dataset), ev.max_structures)}
        base_time = None
        for mode in ["bare"] + [m for m in ev.modes if m != "bare"]:
            wrapped = wrap_model(model, mode, ev, aux)
            res = score(wrapped, dataset, ev.batch_size, dtype, ev.max_structures)
            e_true, e_pred = res.pop("_pred")
            if mode == "bare":
                base_time = res["seconds_per_structure"]
                _parity_plot(e_true, e_pred, out_dir / "energy_parity.png")
            res["time_relative_to_bare"] = round(res["seconds_per_structure"] / base_time, 3) if base_time else None
            metrics[mode] = res
            metrics[f"test/{mode}/energy_mae_meV"] = res["energy_mae"]
            if "forces_mae" in res:
                metrics[f"test/{mode}/forces_mae_meV_per_A"] = res["forces_mae"]
        return metrics


def _parity_plot(e_true: np.ndarray, e_pred: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(e_true, e_pred, s=6)
    lo, hi = float(min(e_true.min(), e_pred.min())), float(max(e_true.max(), e_pred.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel("reference energy (eV)")
    ax.set_ylabel("predicted energy (eV)")
    mae = float(np.abs(e_true - e_pred).mean()) * 1000
    ax.set_title(f"test energies: MAE {mae:.1f} meV")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
