"""The LightningModule of the ``potential`` task: energy + force (+ stress) loss with sliding
normalisation, per-structure weights, random O(3) augmentation, baseline set up once."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import torch

from equisym.data.atoms import collate_atoms, composition, fit_baseline
from equisym.errors import EquisymError
from equisym.geometry.graph import AtomicGraph
from equisym.geometry.rotations import random_o3
from equisym.nn.atomistic import compute_forces
from equisym.nn.registry import build_model
from equisym.train.task import TaskModule
from equisym.train.tasks.potential.config import PotentialConfig
from equisym.train.tasks.potential.finetune import freeze_for_heads, load_pretrained

__all__ = ["PotentialModule"]

log = logging.getLogger("equisym")
TERMS = ("energy", "forces", "stress")


def _plain(graph: AtomicGraph) -> AtomicGraph:
    """Copy every tensor of a graph so it can enter autograd (batches made under inference mode)."""
    fields = {}
    for f in dataclasses.fields(graph):
        v = getattr(graph, f.name)
        fields[f.name] = v.clone() if isinstance(v, torch.Tensor) else v
    return AtomicGraph(**fields)


def _wmean(sq: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Weighted mean of squared errors ``sq`` ``(K, ...)`` with weights ``w`` ``(K,)``."""
    sq = sq.reshape(sq.shape[0], -1).mean(1)
    return (w * sq).sum() / w.sum().clamp_min(1e-12)


def _zero_readouts(model: torch.nn.Module) -> None:
    """Zero the last linear layer of every readout head (modules named ``*_head``), so training
    starts from the baseline energies exactly instead of a random energy offset."""
    for name, mod in model.named_modules():
        if name.endswith("_head") and isinstance(mod, torch.nn.Sequential) and isinstance(mod[-1], torch.nn.Linear):
            torch.nn.init.zeros_(mod[-1].weight)
            if mod[-1].bias is not None:
                torch.nn.init.zeros_(mod[-1].bias)


class PotentialModule(TaskModule):
    """Energy + force (+ stress) training of an atomistic model (see the task docstring)."""

    def __init__(self, cfg: PotentialConfig) -> None:
        super().__init__(cfg)
        self.monitor = ("val/loss", "min")
        self.model, _ = build_model(cfg.model)
        _zero_readouts(self.model)
        self.register_buffer("sigma", torch.ones(3))  # sliding σ_E, σ_F, σ_S
        self.register_buffer("sigma0", torch.ones(3))  # initial σ (fixed monitor scale)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self._val: list = []
        self._loaded = False

    def forward(self, graph: AtomicGraph) -> dict:
        return self.model(graph)

    # ------------------------------------------------------------------ set-up
    def setup(self, stage: str) -> None:
        ft = self.cfg.finetune
        if stage == "fit" and ft.init_from and not self._loaded and not bool(self.initialized):
            new = load_pretrained(self.model, ft.init_from, list(self.cfg.model["species"]))
            self._loaded = True
            log.info(f"fine-tuning from {ft.init_from} ({ft.mode}); new species indices: {new}")
        if stage == "fit" and ft.init_from and ft.mode == "heads":
            freeze_for_heads(self.model)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("state_dict", {})
        for key in ("sigma", "sigma0"):  # checkpoints from before stress training held (σ_E, σ_F)
            if key in state and state[key].shape == (2,):
                state[key] = torch.cat([state[key], torch.ones(1, dtype=state[key].dtype)])

    def on_fit_start(self) -> None:
        if bool(self.initialized):
            return
        dm = self.trainer.datamodule
        train = dm.train_set.structures
        forces = [s.forces for s in train if s.forces is not None]
        baseline = np.asarray(dm.baseline, dtype=np.float64)
        if forces:  # readout scale: the RMS force (eV/Å, times 1 Å)
            scale = float(np.sqrt(np.mean(np.concatenate(forces) ** 2)))
        else:  # energies only: the spread of the per-atom energies the baseline misses
            counts = composition(train, dm.species)
            resid = (np.array([s.energy for s in train]) - counts @ baseline) / counts.sum(1)
            scale = float(resid.std()) if len(resid) > 1 and resid.std() > 0 else 1.0
        if self.cfg.finetune.init_from:
            # keep the pretrained scale; fit a baseline correction to what the network misses
            scale = None
            baseline = self._residual_baseline(dm)
        if hasattr(self.model, "set_baseline"):
            self.model.set_baseline(torch.as_tensor(baseline), energy_scale=scale)
        val = dm.val_set.structures
        counts = composition(val, dm.species)
        resid = np.array([s.energy for s in val]) - counts @ baseline
        if self.cfg.loss.per_atom_energy:
            resid = resid / counts.sum(1)
        sig_e = float(resid.std()) if len(resid) > 1 else 1.0
        vforces = [s.forces for s in val if s.forces is not None]
        sig_f = float(np.sqrt(np.mean(np.concatenate(vforces) ** 2))) if vforces else 1.0
        vstress = [s.stress for s in val if s.stress is not None]
        sig_s = float(np.std(np.stack(vstress))) if len(vstress) > 1 else 1.0
        sig = torch.tensor([max(sig_e, 1e-6), max(sig_f, 1e-6), max(sig_s, 1e-9)], device=self.sigma.device)
        self.sigma.copy_(sig)
        self.sigma0.copy_(sig)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _residual_baseline(self, dm) -> np.ndarray:
        """Baseline of a fine-tuning run: the pretrained baseline plus a least-squares
        composition fit of the training energies the pretrained model misses."""
        model = self.model
        was = model.training
        model.eval()
        pred = []
        items = [dm.train_set[k] for k in range(len(dm.train_set))]
        for k in range(0, len(items), 32):
            graph = collate_atoms(items[k : k + 32])["graph"].to(self.device)
            pred.append(model(graph)["energy"].detach().cpu().double())
        model.train(was)
        train = dm.train_set.structures
        resid = np.array([s.energy for s in train]) - torch.cat(pred).numpy()
        return model.baseline.detach().cpu().double().numpy() + fit_baseline(train, dm.species, energies=resid)

    # ------------------------------------------------------------------ loss
    def _wants_stress(self, batch: dict) -> bool:
        return bool(batch["has_stress"]) and self.cfg.loss.stress_weight > 0

    def _predict(self, batch: dict, rotation: torch.Tensor | None, training: bool, stress: bool) -> dict:
        return compute_forces(
            self.model, batch["graph"], forces=batch["has_forces"], stress=stress, transform=rotation, create_graph=training
        )

    def _errors(self, batch: dict, out: dict) -> dict:
        graph = batch["graph"]
        total = out["energy"] - batch["energy"]
        per_atom = total / graph.atoms_per_structure().to(total.dtype)
        de = per_atom if self.cfg.loss.per_atom_energy else total
        err = {"energy": de, "energy_total": total, "energy_per_atom": per_atom, "w": batch["weight"].to(de.dtype)}
        if batch["has_forces"]:
            err["forces"] = out["forces"] - batch["forces"]
            err["w_atoms"] = err["w"][graph.structure]
        if "stress" in out and batch["has_stress"]:
            err["stress"] = out["stress"] - batch["stress"]
        return err

    def _loss(self, err: dict, sigma: torch.Tensor) -> torch.Tensor:
        lc = self.cfg.loss
        loss = lc.energy_weight * _wmean(err["energy"] ** 2, err["w"]) / sigma[0] ** 2
        if "forces" in err and lc.forces_weight > 0:
            loss = loss + lc.forces_weight * _wmean(err["forces"] ** 2, err["w_atoms"]) / sigma[1] ** 2
        if "stress" in err and lc.stress_weight > 0:
            loss = loss + lc.stress_weight * _wmean(err["stress"] ** 2, err["w"]) / sigma[2] ** 2
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        graph = batch["graph"]
        rotation = None
        if self.cfg.augment:
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + int(self.global_step))
            rotation = random_o3(graph.n_structures, gen, dtype=graph.dtype).to(graph.device)
        out = self._predict(batch, rotation, training=True, stress=self._wants_stress(batch))
        err = self._errors(batch, out)
        loss = self._loss(err, self.sigma)
        if not torch.isfinite(loss):
            raise EquisymError(f"the training loss became {float(loss)}; lower optim.lr or check the data")
        s = graph.n_structures
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=s)
        self.log("train/energy_mae", err["energy_total"].detach().abs().mean() * 1000, on_step=False, on_epoch=True, batch_size=s)
        if "forces" in err:
            self.log("train/forces_mae", err["forces"].detach().abs().mean() * 1000, on_step=False, on_epoch=True, batch_size=s)
        return loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        with torch.inference_mode(False), torch.enable_grad():
            batch = dict(batch, graph=_plain(batch["graph"]))
            out = self._predict(batch, None, training=False, stress=self._wants_stress(batch))
        err = self._errors(batch, out)
        self._val.append({k: v.detach() for k, v in err.items()})

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        keys = set.intersection(*(set(e) for e in self._val))
        err = {k: torch.cat([e[k] for e in self._val]) for k in keys}
        self._val = []
        self.log("val/loss", self._loss(err, self.sigma0), prog_bar=True, sync_dist=True)
        self.log("val/energy_mae", err["energy_total"].abs().mean() * 1000, prog_bar=True, sync_dist=True)
        self.log("val/energy_rmse", err["energy_total"].pow(2).mean().sqrt() * 1000, sync_dist=True)
        self.log("val/energy_per_atom_mae", err["energy_per_atom"].abs().mean() * 1000, sync_dist=True)
        s = self.cfg.loss.sliding_factor
        new = self.sigma.clone()
        for k, term in enumerate(TERMS):
            if term not in err:
                continue
            rmse = err[term].pow(2).mean().sqrt()
            new[k] = s * self.sigma[k] + (1 - s) * rmse
            if term != "energy":
                self.log(f"val/{term}_mae", err[term].abs().mean() * 1000, prog_bar=term == "forces", sync_dist=True)
                self.log(f"val/{term}_rmse", rmse * 1000, sync_dist=True)
        if not self.trainer.sanity_checking:
            self.sigma.copy_(new.clamp_min(1e-9))
