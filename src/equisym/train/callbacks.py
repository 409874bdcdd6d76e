"""Callbacks of every run: per-epoch summary, divergence stop, EMA step, per-epoch seeding
with saved random states, and the wall-clock total of a run made of several parts."""

from __future__ import annotations

import logging
import math
import random
import time

import lightning as L
import numpy as np
import torch

__all__ = ["EpochSummary", "DivergenceStop", "ema_decay_at", "ema_step", "EpochSeeds", "epoch_seed", "RunClock"]

log = logging.getLogger("equisym")


class EpochSummary(L.Callback):
    """Logs one line of epoch metrics (training and validation) per epoch to the ``equisym``
    logger (``train.log`` and the console), with the run's wall time so far."""

    def __init__(self, clock: RunClock | None = None) -> None:
        self.clock = clock
        self.start = time.time()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        values = {
            key.removesuffix("_epoch"): float(value)
            for key, value in trainer.callback_metrics.items()
            if value.numel() == 1 and not key.endswith("_step")
        }
        parts = [f"epoch {trainer.current_epoch:4d}"] + [f"{k} {v:.5g}" for k, v in sorted(values.items())]
        elapsed = self.clock.total() if self.clock is not None else time.time() - self.start
        parts.append(f"({elapsed:.0f} s)")
        log.info("  ".join(parts), extra={"console": True})


class DivergenceStop(L.Callback):
    """Stops training after an epoch whose mean training loss (``train/loss``) exceeds both
    ``factor`` times the lowest epoch mean so far and the first epoch's mean (worse than the
    untrained model: a spike of a nearly fitted classifier from 1e-5 to 0.5 is not a blow-up),
    and logs a warning; ``diverged_at_epoch`` holds that epoch (None while training is sound).
    Training losses are non-negative."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.lowest = math.inf
        self.first: float | None = None
        self.diverged_at_epoch: int | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get("train/loss_epoch")
        if value is None:
            return
        loss = float(value)
        if self.first is None:
            self.first = loss
        diverged = 0 < self.lowest < math.inf and loss > self.factor * self.lowest and loss > self.first
        if trainer.strategy.reduce_boolean_decision(diverged, all=False):
            self.diverged_at_epoch = trainer.current_epoch
            log.warning(
                f"training diverged at epoch {trainer.current_epoch}: mean training loss {loss:.4g}, "
                f"{loss / self.lowest:.3g} times the lowest so far ({self.lowest:.4g}); stopping and "
                "evaluating the best checkpoint. Lower optim.lr, set trainer.gradient_clip_val, or undo "
                "the last schedule change; trainer.stop_on_divergence: null trains on regardless"
            )
            trainer.should_stop = True
        self.lowest = min(self.lowest, loss)

    def state_dict(self) -> dict:
        return {"lowest": self.lowest, "first": self.first}

    def load_state_dict(self, state: dict) -> None:
        self.lowest = float(state.get("lowest", math.inf))
        self.first = state.get("first")


def ema_decay_at(num_averaged: int, decay: float) -> float:
    """The decay used at update ``num_averaged`` (1, 2, ...): ``min(decay, (1 + n) / (10 + n))``.

    The warm-up forgets the initial weights within the first tens of steps, so the average
    never carries a share of the untrained network (with a fixed 0.999 the initial weights keep
    ``0.999^n`` of the average: 4 % after 3 200 steps, which ruined short runs); from about
    ``10 / (1 − decay)`` steps on, ``decay`` itself applies."""
    n = float(num_averaged)
    return min(decay, (1.0 + n) / (10.0 + n))


def ema_step(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor, decay: float) -> torch.Tensor:
    """One exponential-moving-average step for floating tensors, with the decay of
    :func:`ema_decay_at`; other tensors (and constants, which would drift by rounding) follow
    the model."""
    if not averaged.is_floating_point() or torch.equal(averaged, current):
        return current
    d = ema_decay_at(int(num_averaged), decay)
    return averaged * d + current * (1.0 - d)


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A 32-bit seed that is a function of (run seed, epoch, process rank) only."""
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, epoch, rank]).generate_state(1)[0])


class EpochSeeds(L.Callback):
    """Makes every epoch's randomness a function of (seed, epoch, rank), and keeps the random
    states of Python, NumPy and torch in checkpoints.

    The Python, NumPy and torch (CPU and CUDA) generators are seeded with :func:`epoch_seed`
    for the first epoch of a fit (``setup``, before anything iterates the data: epoch 0, or
    ``start_epoch`` for a resumed run) and, after each epoch's training and validation
    (``on_train_epoch_end``), for the next one: before the data loader of that epoch is
    iterated. The epoch's shuffling order (a ``RandomSampler`` draws its seed from torch), the
    seeds of its data-loader workers (drawn the same way; workers start anew each epoch) and
    every augmentation or dropout draw in the training process follow from it, so a resumed
    run replays exactly the epochs an uninterrupted run would. The states at checkpoint time
    are saved (as tensors) and restored on resume.
    """

    def __init__(self, seed: int, start_epoch: int = 0) -> None:
        self.seed = seed
        self.next_epoch = start_epoch

    def _seed(self, trainer: L.Trainer, epoch: int) -> None:
        value = epoch_seed(self.seed, epoch, trainer.global_rank)
        random.seed(value)
        np.random.seed(value)
        torch.manual_seed(value)  # also seeds every CUDA device

    def setup(self, trainer: L.Trainer, module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._seed(trainer, self.next_epoch)

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.next_epoch = trainer.current_epoch + 1
        self._seed(trainer, self.next_epoch)

    def state_dict(self) -> dict:
        version, py_state, gauss = random.getstate()
        name, keys, pos, has_gauss, cached = np.random.get_state()
        state = {
            "seed": self.seed,
            "next_epoch": self.next_epoch,
            "python": {"version": version, "state": torch.tensor(py_state, dtype=torch.int64),
                       "gauss": gauss},
            "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)},
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        self.next_epoch = int(state.get("next_epoch", 0))
        py = state["python"]
        random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
        npy = state["numpy"]
        np.random.set_state((npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached"]))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            try:
                torch.cuda.set_rng_state_all(state["cuda"])
            except (RuntimeError, IndexError):  # fewer devices now: their streams restart
                pass


class RunClock(L.Callback):
    """Wall time of a run's training over all its parts (a resumed run adds to the time saved
    in its checkpoint)."""

    def __init__(self) -> None:
        self.before = 0.0
        self.started = time.time()

    def total(self) -> float:
        """Seconds of training in earlier parts (up to their last checkpoint) plus this part."""
        return self.before + time.time() - self.started

    def state_dict(self) -> dict:
        return {"wall_time_s": self.total()}

    def load_state_dict(self, state: dict) -> None:
        self.before = float(state.get("wall_time_s", 0.0))
