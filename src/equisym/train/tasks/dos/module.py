"""The LightningModule of the ``dos`` task: loss, schedules counted in optimizer steps, logging."""

from __future__ import annotations

import logging

import numpy as np
import torch

from equisym.errors import EquisymError
from equisym.nn.dos_batch import predict_batch
from equisym.nn.registry import build_model
from equisym.train.task import TaskModule
from equisym.train.tasks.dos.config import DOSConfig
from equisym.train.tasks.dos.loss import training_loss

__all__ = ["DOSModule"]

log = logging.getLogger("equisym")

#: A validation whose predicted DOS varies across structures less than this fraction of the
#: target's variation has collapsed (one output for every input: dead ReLU units).
COLLAPSE_RATIO = 1e-4


class DOSModule(TaskModule):
    """Trains a DOS model (``self.model``) with :func:`~equisym.train.tasks.dos.loss.training_loss`.

    The network's config carries its energy grid and electrons per atom (checked against the
    data), so a saved model needs nothing else to predict. Schedules follow
    :meth:`training_progress` (the fraction of the run's optimizer steps done): the band-energy
    weight (``band_energy_start``, ``band_energy_ramp``) and the BatchNorm freeze
    (``freeze_batchnorm_start``); a run of a config takes the same steps on any machine.
    """

    def __init__(self, cfg: DOSConfig, step: float | None = None) -> None:
        super().__init__(cfg)
        self.model, _ = build_model(cfg.model)
        head = self.model.config
        self.step_size = float(head.grid_step) if step is None else step
        self.energies = torch.as_tensor(head.energies(), dtype=torch.float32)
        self.n_electrons = float(head.electrons_per_atom)
        self.register_buffer("prior_set", torch.zeros((), dtype=torch.bool))
        self._spread = [0.0, 0.0]  # validation: summed std over structures of predicted and target DOS

    def on_fit_start(self) -> None:
        """Start the output at the training set's mean atom DOS (once; not again on resume)."""
        self.energies = self.energies.to(self.device)
        if bool(self.prior_set):
            return
        split = self.trainer.datamodule.load_split("train")
        mean = np.concatenate(split.atom_dos).astype(np.float64).mean(0)
        self.model.head.set_prior(torch.from_numpy(mean))
        self.prior_set.fill_(True)

    def forward(self, batch: dict) -> torch.Tensor:
        """The DOS per atom ``(S, G)`` of the structures of a packed batch."""
        return predict_batch(self.model, batch)[0]

    def on_train_batch_start(self, batch, batch_idx) -> None:
        start = self.cfg.freeze_batchnorm_start
        if start < 1 and self.training_progress() >= start:
            for m in self.model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()  # Lightning sets train mode again every epoch

    def band_energy_weight_now(self) -> float:
        """Weight of the band-energy term in the training loss at the current progress: 0 before
        ``band_energy_start``, then rising linearly over ``band_energy_ramp`` to ``band_energy_weight``."""
        c = self.cfg
        frac = self.training_progress()
        if c.band_energy_weight <= 0 or frac < c.band_energy_start:
            return 0.0
        if c.band_energy_ramp <= 0:
            return c.band_energy_weight
        return c.band_energy_weight * min(1.0, (frac - c.band_energy_start) / c.band_energy_ramp)

    def loss(self, pred: torch.Tensor, atoms: torch.Tensor, batch: dict, band_weight: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The training loss of ``pred`` ``(S, G)`` and ``atoms`` ``(N, G)`` with band-energy weight
        ``band_weight``, and the band-energy errors ``(S,)`` eV/atom (None when the weight is 0)."""
        c = self.cfg
        return training_loss(
            pred, atoms, batch, step=self.step_size, alpha=c.loss_alpha, atom_weight=c.atom_loss_weight,
            band_weight=band_weight, bias_weight=c.band_energy_bias_weight,
            energies=self.energies.to(pred.device), n_electrons=self.n_electrons,
        )

    def _step(self, batch: dict, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (logged) and predicted DOS ``(S, G)`` of one batch."""
        pred, atoms = predict_batch(self.model, batch)
        if not bool(torch.isfinite(pred).all()):
            raise EquisymError(f"the {stage} prediction became non-finite; lower optim.lr or check the data")
        weight = self.cfg.band_energy_weight if stage != "train" else self.band_energy_weight_now()
        loss, band_error = self.loss(pred, atoms, batch, weight)
        n = batch["num_structures"]
        if band_error is not None:
            for name, value in (("band_energy_mae", band_error.abs().mean()), ("band_energy_bias", band_error.mean())):
                self.log(f"{stage}/{name}", value, on_step=False, on_epoch=True, sync_dist=stage != "train", batch_size=n)
        if not torch.isfinite(loss):
            raise EquisymError(f"the {stage} loss became {float(loss)}; lower optim.lr or check the data")
        rmse = (pred - batch["dos"]).pow(2).mean().sqrt()
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, sync_dist=not on_step, batch_size=n)
        self.log(f"{stage}/dos_rmse", rmse, on_step=False, on_epoch=True, sync_dist=not on_step, batch_size=n)
        return loss, pred

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[0]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        pred = self._step(batch, "val")[1]
        if batch["num_structures"] >= 2:
            self._spread[0] += float(pred.detach().std(0).mean())
            self._spread[1] += float(batch["dos"].std(0).mean())

    def on_validation_epoch_start(self) -> None:
        self._spread = [0.0, 0.0]

    def on_validation_epoch_end(self) -> None:
        """Stop a run whose network has collapsed to one output for every structure (it cannot
        recover: the gradient through dead ReLUs is zero); the best checkpoint is evaluated."""
        predicted, target = self._spread
        if self.trainer.sanity_checking or target <= 0 or predicted >= COLLAPSE_RATIO * target:
            return
        self.collapsed_at_epoch = self.current_epoch
        log.warning(
            f"training collapsed at epoch {self.current_epoch}: the predicted DOS is the same for every validation "
            f"structure (spread {predicted / target:.1e} of the target's); stopping and evaluating the best checkpoint. "
            "Set trainer.gradient_clip_val (e.g. 1.0), lower optim.lr, or ramp the band-energy term in later"
        )
        self.trainer.should_stop = True
