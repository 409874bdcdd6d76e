"""Training runs: validate the config, set up the data, write the run folder, fit, evaluate.

:func:`train` does this the same way for every task: validate the config, set up the data
(before writing anything), write the run directory (``config.yaml``, ``train.log``,
``metrics.csv``, ``best.ckpt``, ``last.ckpt``, ``metrics.json``, ``learning_curves.png``),
resume from ``last.ckpt``, multi-process training through Lightning's DDP.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from pathlib import Path

import lightning as L
import torch
import yaml

from equisym.config import to_dict
from equisym.errors import EquisymError
from equisym.inference.runtime import flush_denormals
from equisym.train.callbacks import DivergenceStop, EpochSummary, ema_step
from equisym.train.checkpoint import load_checkpoint, read_resume_checkpoint
from equisym.train.plots import plot_learning_curves
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


def _setup_file_log(out: Path) -> logging.Handler:
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("equisym", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    return handler


def _remove_file_log(handler: logging.Handler) -> None:
    for name in ("equisym", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def _check_resume(out: Path, cfg_dict: dict) -> None:
    last = out / "last.ckpt"
    if not last.exists():
        raise EquisymError(f"cannot resume: {last} does not exist")
    saved_path = out / "config.yaml"
    if saved_path.exists():
        saved = yaml.safe_load(saved_path.read_text())
        for key in set(saved) | set(cfg_dict):
            if key == "trainer":
                continue
            if saved.get(key) != cfg_dict.get(key):
                raise EquisymError(
                    f"cannot resume {out}: the config's '{key}' section differs from the run's config.yaml "
                    "(only trainer options may change on resume)"
                )


def _validate_final_weights(trainer, module, datamodule, checkpoint, best_path: Path) -> None:
    """With ``check_val_every_n_epoch > 1`` the last epochs of a run (often its best, at the
    end of the LR schedule) may never be validated: validate the final weights once and make
    them ``best.ckpt`` if they beat the best validated score (or if nothing was validated)."""
    results = trainer.validate(module, datamodule=datamodule, verbose=False)
    score = results[0].get(checkpoint.monitor) if results else None
    if score is None:
        return
    best = checkpoint.best_model_score
    better = best is None or (score < float(best) if checkpoint.mode == "min" else score > float(best))
    if better:
        trainer.save_checkpoint(best_path)
        checkpoint.best_model_path = str(best_path)
        checkpoint.best_model_score = torch.tensor(score)


def train(config: dict, out_dir: str | os.PathLike, overrides: list[str] | None = None, resume: bool = False) -> dict:
    """Train a task from a config mapping into ``out_dir``; return the final metrics.

    Raises:
        EquisymError: invalid config or data (nothing written), an existing run without
            ``resume``, or a resume whose config differs in anything but trainer options.
    """
    task, cfg = load_config(config, overrides)
    cfg_dict = to_dict(cfg)
    out = Path(out_dir)
    rank0 = global_rank() == 0
    if rank0:
        if resume:
            _check_resume(out, cfg_dict)
        elif (out / "last.ckpt").exists() or (out / "metrics.json").exists():
            raise EquisymError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    flush_denormals()
    datamodule = task.build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")  # data problems surface here, before anything is written
    module = task.build_module(cfg)
    if rank0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg_dict, sort_keys=False))
    handler = _setup_file_log(out) if rank0 else None
    try:
        from lightning.pytorch.callbacks import ModelCheckpoint
        from lightning.pytorch.loggers import CSVLogger

        metric, mode = task.monitor
        checkpoint = ModelCheckpoint(
            dirpath=out, filename="best", monitor=metric, mode=mode, save_last=True, enable_version_counter=False
        )
        callbacks: list = [checkpoint, EpochSummary()]
        divergence = None
        if cfg.trainer.stop_on_divergence is not None:
            divergence = DivergenceStop(cfg.trainer.stop_on_divergence)
            callbacks.append(divergence)
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
            logger=CSVLogger(out, name="", version=""),
            callbacks=callbacks,
            num_sanity_val_steps=0,
            **cfg.trainer.lightning_kwargs(),
        )
        if resume:
            epoch = read_resume_checkpoint(out / "last.ckpt").checkpoint.get("epoch", 0)  # refuses unsafe files
            log.info(f"resuming from epoch {epoch + 1} of {out / 'last.ckpt'}")
        start = time.time()
        log.info(f"training task {task.name} into {out} ({sum(p.numel() for p in module.parameters())} parameters)")
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(out / "last.ckpt") if resume else None, weights_only=True)
        if cfg.trainer.check_val_every_n_epoch > 1:
            _validate_final_weights(trainer, module, datamodule, checkpoint, out / "best.ckpt")
        if not trainer.is_global_zero:
            return {}
        elapsed = time.time() - start
        best = checkpoint.best_model_path or str(out / "last.ckpt")
        if os.path.exists(best):
            module.load_state_dict(load_checkpoint(best)["state_dict"])
        module.to(trainer.strategy.root_device).eval()  # Lightning's teardown left it on the CPU
        extra = task.after_training(module, datamodule, cfg, Path(best))
        if extra:
            log.info(f"after training: {json.dumps(extra)}")
        metrics = task.evaluate(module, datamodule, cfg, out, {})
        metrics.update(extra)
        metrics["training"] = {
            "epochs": trainer.current_epoch,
            "diverged_at_epoch": None if divergence is None else divergence.diverged_at_epoch,
            "wall_time_s": round(elapsed, 1),
            "best_checkpoint": os.path.basename(best),
            "monitor": metric,
            "best_score": None if checkpoint.best_model_score is None else float(checkpoint.best_model_score),
            "parameters": sum(p.numel() for p in module.parameters()),
        }
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        plot_learning_curves(out / "metrics.csv", out / "learning_curves.png")
        log.info(f"done: {json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)})}")
        return metrics
    finally:
        if handler is not None:
            _remove_file_log(handler)
