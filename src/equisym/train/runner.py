"""Training runs: validate the config, set up the data, write the run folder, fit, evaluate.

:func:`train` does this the same way for every task: validate the config and the run folder
and set up the data before writing anything; write the run folder (``config.yaml``,
``train.log``, ``metrics.csv``, ``best.ckpt``, ``last.ckpt`` and ``last.prev.ckpt``,
``metrics.json``, ``learning_curves.png``); resume from ``last.ckpt`` exactly where an
uninterrupted run would be; multi-process training through Lightning's DDP.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path

import lightning as L
import yaml

from equisym.config import to_dict
from equisym.errors import EquisymError
from equisym.files import write_text_atomic
from equisym.inference.runtime import flush_denormals
from equisym.train.callbacks import DivergenceStop, EpochSeeds, EpochSummary, RunClock, ema_step
from equisym.train.checkpoint import load_checkpoint
from equisym.train.metrics_log import CSVMetricsLogger
from equisym.train.plots import plot_learning_curves
from equisym.train.run_folder import check_fresh, check_resume_config, check_writable, finished_message, pick_resume_checkpoint
from equisym.train.run_logging import quiet_console
from equisym.train.saving import LAST, BestCheckpoint, LastCheckpoint
from equisym.train.task import load_config

__all__ = ["train", "global_rank", "log"]

log = logging.getLogger("equisym")


def global_rank() -> int:
    """Rank of this process in a (Lightning-launched) multi-process run, 0 otherwise."""
    for key in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        if key in os.environ:
            return int(os.environ[key])
    local = int(os.environ.get("LOCAL_RANK", 0))
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0)))
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    return node * per_node + local


def _check_training_set(datamodule: L.LightningDataModule) -> None:
    """Refuse a training set without a single batch (after ``setup("fit")``)."""
    try:
        loader = datamodule.train_dataloader()
    except Exception:  # noqa: BLE001 - a loader that needs the trainer is checked by Lightning later
        return
    dataset = getattr(loader, "dataset", None)
    size = len(dataset) if hasattr(dataset, "__len__") else None
    if size == 0:
        raise EquisymError("the training set is empty (0 samples): check the data paths and sizes in the data section")
    try:
        batches = len(loader)
    except TypeError:
        return
    if batches == 0:
        raise EquisymError(
            f"the training set gives no batch: {size} samples with batch size {getattr(loader, 'batch_size', '?')} "
            "and incomplete batches dropped; lower data.batch_size"
        )


def _loggers(cfg, out: Path, resume_epoch: int | None) -> list:
    loggers: list = [CSVMetricsLogger(out, keep_until_epoch=resume_epoch)]
    if cfg.trainer.logger == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(out, name="tensorboard", version=""))
    return loggers


def _require_tensorboard() -> None:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        try:
            import tensorboardX  # noqa: F401
        except ImportError:
            raise EquisymError(
                "trainer.logger: tensorboard needs the tensorboard package (pip install tensorboard), "
                "or use trainer.logger: csv"
            ) from None


def _validate_final_weights(trainer: L.Trainer, module, datamodule, best: BestCheckpoint) -> None:
    """With ``check_val_every_n_epoch > 1`` the last epochs of a run (often its best, at the
    end of the LR schedule) may never be validated: validate the final weights once and make
    them ``best.ckpt`` if they beat the best validated score (or if nothing was validated)."""
    results = trainer.validate(module, datamodule=datamodule, verbose=False)
    score = results[0].get(best.monitor) if results else None
    if score is not None:
        best.consider(trainer, float(score), results[0].get(best.tie_breaker))


def _stopped_by_max_time(trainer: L.Trainer, max_epochs: int) -> bool:
    from lightning.pytorch.callbacks import Timer

    for callback in trainer.callbacks:
        if isinstance(callback, Timer):
            remaining = callback.time_remaining()
            return trainer.current_epoch < max_epochs and remaining is not None and remaining <= 0
    return False


def train(
    config: dict,
    out_dir: str | os.PathLike,
    overrides: list[str] | None = None,
    resume: bool = False,
    config_dir: str | os.PathLike | None = None,
) -> dict:
    """Train a task from a config mapping into ``out_dir``; return the final metrics.

    Args:
        config: the config mapping (parsed YAML).
        out_dir: the run folder: new or empty, or (with ``resume``) an earlier run.
        overrides: ``key=value`` overrides of the config.
        resume: continue the run in ``out_dir`` from ``last.ckpt`` (``last.prev.ckpt`` if that
            is unreadable). A finished run is left as it is: one line says so, and the result
            is an empty dict.
        config_dir: folder of the config file; relative data paths in ``config`` resolve
            against it (default: the current folder).

    Raises:
        EquisymError: invalid config or data, an empty training set, an ``out_dir`` that cannot
            be written or holds something else (an existing run without ``resume``, files
            that are not a run), or a resume whose config differs in anything but trainer
            options. Nothing is written before these checks pass.
    """
    task, cfg = load_config(config, overrides, base_dir=config_dir if config_dir is not None else os.getcwd())
    cfg_dict = to_dict(cfg)
    out = Path(out_dir)
    rank0 = global_rank() == 0
    if cfg.trainer.logger == "tensorboard":
        _require_tensorboard()
    ckpt_path, resume_epoch = None, None
    if resume:
        check_resume_config(out, cfg_dict)
        note = finished_message(out, cfg.trainer.max_epochs, cfg.trainer.max_time)
        if note is not None:
            if rank0:
                print(note)
            return {}
        ckpt_path, resume_epoch = pick_resume_checkpoint(out)
    elif rank0:
        check_fresh(out)
    if rank0:
        check_writable(out)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    flush_denormals()
    datamodule = task.build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")  # data problems surface here, before anything is written
    _check_training_set(datamodule)
    module = task.build_module(cfg)
    if rank0:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "config.yaml", yaml.safe_dump(cfg_dict, sort_keys=False))
    with quiet_console(out if rank0 else None):
        return _fit(task, cfg, module, datamodule, out, ckpt_path, resume_epoch)


def _fit(task, cfg, module, datamodule, out: Path, ckpt_path: Path | None, resume_epoch: int | None) -> dict:
    from lightning.pytorch.callbacks import ModelCheckpoint

    metric, mode = task.monitor
    clock = RunClock()
    best = BestCheckpoint(out, metric, mode)
    start = 0 if resume_epoch is None else resume_epoch + 1
    callbacks: list = [EpochSeeds(cfg.seed, start), clock, EpochSummary(clock), best, LastCheckpoint(out)]
    divergence = None
    if cfg.trainer.stop_on_divergence is not None:
        divergence = DivergenceStop(cfg.trainer.stop_on_divergence)
        callbacks.insert(3, divergence)
    if cfg.trainer.snapshots > 0:  # the last K epochs' weights, ranked by the step counter
        callbacks.append(ModelCheckpoint(
            dirpath=out / "snapshots", filename="{epoch}", monitor="step", mode="max",
            save_top_k=cfg.trainer.snapshots, every_n_epochs=cfg.trainer.snapshot_every_n_epochs,
            save_on_train_epoch_end=True, enable_version_counter=False,
        ))
    if cfg.trainer.ema_decay is not None:
        from lightning.pytorch.callbacks import WeightAveraging

        # not EMAWeightAveraging: its average also lerps integer buffers (BatchNorm counters,
        # sparse-graph indices) and truncation corrupts them
        callbacks.append(WeightAveraging(avg_fn=functools.partial(ema_step, decay=cfg.trainer.ema_decay)))
    trainer = L.Trainer(
        default_root_dir=out,
        logger=_loggers(cfg, out, resume_epoch),
        callbacks=callbacks,
        num_sanity_val_steps=0,
        **cfg.trainer.lightning_kwargs(),
    )
    if ckpt_path is not None:
        log.info(f"resuming from epoch {resume_epoch + 1} of {ckpt_path}", extra={"console": True})
    log.info(f"training task {task.name} into {out} ({sum(p.numel() for p in module.parameters())} parameters)")
    trainer.fit(module, datamodule=datamodule, ckpt_path=None if ckpt_path is None else str(ckpt_path), weights_only=True)
    if cfg.trainer.check_val_every_n_epoch > 1:
        _validate_final_weights(trainer, module, datamodule, best)
    if not trainer.is_global_zero:
        return {}
    by_time = _stopped_by_max_time(trainer, cfg.trainer.max_epochs)
    if by_time:
        log.warning(
            f"trainer.max_time ({cfg.trainer.max_time}) stopped training after {trainer.current_epoch} of "
            f"{cfg.trainer.max_epochs} epochs; the schedules assumed all of them (metrics.json: training.stopped_by_max_time)"
        )
    best_path = best.best_model_path or str(out / LAST)
    if os.path.exists(best_path):
        module.load_state_dict(load_checkpoint(best_path)["state_dict"])
    module.to(trainer.strategy.root_device).eval()  # Lightning's teardown left it on the CPU
    extra = task.after_training(module, datamodule, cfg, Path(best_path))
    if extra:
        log.info(f"after training: {json.dumps(extra)}")
    metrics = task.evaluate(module, datamodule, cfg, out, {})
    metrics.update(extra)
    metrics["training"] = {
        "epochs": trainer.current_epoch,
        "optimizer_steps": trainer.global_step,
        "stopped_by_max_time": by_time,
        "diverged_at_epoch": None if divergence is None else divergence.diverged_at_epoch,
        "collapsed_at_epoch": module.collapsed_at_epoch,
        "wall_time_s": round(clock.total(), 1),
        "best_checkpoint": os.path.basename(best_path),
        "best_epoch": best.best_epoch,
        "monitor": metric,
        "best_score": best.best_score,
        "parameters": sum(p.numel() for p in module.parameters()),
    }
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2))
    plot_learning_curves(out / "metrics.csv", out / "learning_curves.png")
    log.info(f"done: {json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)})}")
    return metrics
