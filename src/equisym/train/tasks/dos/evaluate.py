"""Evaluation of the ``dos`` task: Table 2a/2b band-energy errors, rotation trials, ensembles,
``predictions.json``, ``test_dos.npz`` and figures."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from equisym.data.carbon_batches import DOSStructures
from equisym.files import atomic_output, write_text_atomic
from equisym.nn.dos_batch import predict_batch
from equisym.physics import band_energy
from equisym.train.tasks.dos.config import CHEMICAL_ACCURACY, DOSConfig
from equisym.train.tasks.dos.datamodule import DOSDataModule, model_kind
from equisym.train.tasks.dos.ensemble import DOSEnsemble
from equisym.train.tasks.dos.plots import plot_dos_examples, scatter_by_type

__all__ = ["evaluate", "scores", "predict_split", "predict_atom_contributions", "haar_rotations"]


@torch.no_grad()
def predict_split(module: torch.nn.Module, datamodule: DOSDataModule, split: DOSStructures, rotations: np.ndarray | None,
                  frame_mode: str = "all", seed: int = 0) -> np.ndarray:
    """The DOS ``(S, G)`` predicted for every structure of ``split`` (optionally rotated by
    ``rotations`` ``(S, 3, 3)``); with local frames each atom is viewed in ``frame_mode``
    (:class:`DOSCollate`; ``seed`` draws the ``sample`` frames)."""
    loader = datamodule.loader(split, datamodule.cfg.data.eval_batch_size, False, False, seed, rotations, frame_mode=frame_mode)
    out = np.zeros_like(split.dos, dtype=np.float64)
    for batch in loader:
        out[batch["ids"].numpy()] = module(batch).double().numpy()
    return out


@torch.no_grad()
def predict_atom_contributions(
    models: list[torch.nn.Module], datamodule: DOSDataModule, split: DOSStructures, batch_size: int = 32,
    frame_mode: str = "all", seed: int = 0,
) -> list[np.ndarray]:
    """Each structure's predicted atom contributions ``(N_s, G)`` (states/eV, float64), the mean
    over ``models`` (one model, or the members of an ensemble); a structure's DOS per atom is
    the mean of its rows. ``frame_mode`` and ``seed`` pick the local-frame views (:class:`DOSCollate`)."""
    out: list = [None] * len(split.atoms)
    for batch in datamodule.loader(split, batch_size, False, False, seed, frame_mode=frame_mode):
        per_atom = torch.stack([predict_batch(model, batch)[1] for model in models]).mean(0).double().numpy()
        ids = batch["ids"].numpy()
        counts = np.bincount(batch["structure_index"].numpy(), minlength=len(ids))
        for i, block in zip(ids, np.split(per_atom, np.cumsum(counts)[:-1])):
            out[i] = block
    return out


def haar_rotations(n: int, seed: int) -> np.ndarray:
    """``(n, 3, 3)`` Haar-random rotation matrices, reproducible from ``seed``."""
    from scipy.spatial.transform import Rotation

    return Rotation.random(n, random_state=seed).as_matrix().reshape(n, 3, 3)


def scores(energies, n_el, pred, true, groups, ref_band) -> dict:
    """Band-energy, Fermi-level and DOS errors of predicted DOS rows ``pred`` ``(S, G)`` against
    ``true`` ``(S, G)`` (states/eV/atom), overall and per structure type (Table 2a/2b).

    Both band energies come from :func:`equisym.physics.band_energy`; a predicted DOS with too
    few states on the grid has no band energy: it is counted in ``failed_band_energy`` and left
    out of the band-energy and Fermi-level errors (``scored`` = the structures that count).
    ``_band_pred`` holds NaN for those structures.

    Raises:
        EquisymError: a non-finite predicted DOS, or a reference DOS without enough states.
    """
    fermi_true, band_true, _ = band_energy(energies, true, n_el)
    fermi_pred, band_pred, ok_pred = band_energy(energies, pred, n_el, unfilled="flag")
    fermi_pred, band_pred = np.where(ok_pred, fermi_pred, np.nan), np.where(ok_pred, band_pred, np.nan)
    err = np.abs(band_pred - band_true)
    failed = int((~ok_pred).sum())
    err_f = err
    per_group = {}
    for g in sorted(set(groups)):
        mask = np.array([x == g for x in groups])
        per_group[g] = {
            "band_energy_mae": _r(np.nanmean(err_f[mask])) if np.isfinite(err_f[mask]).any() else None,
            "within_chemical_accuracy": bool(np.nanmean(err_f[mask]) <= CHEMICAL_ACCURACY) if np.isfinite(err_f[mask]).any() else False,
            "count": int(mask.sum()),
        }
    return {
        "band_energy_mae": _r(np.nanmean(err_f)) if ok_pred.any() else float("nan"),
        "fermi_level_mae": _r(np.nanmean(np.abs(fermi_pred - fermi_true))) if ok_pred.any() else float("nan"),
        "dos_rmse": _r(float(np.sqrt(np.mean((pred - true) ** 2)))),
        "failed_band_energy": failed,
        "scored": int(ok_pred.sum()),
        "reference_vs_stored_band_energy_max": _r(float(np.nanmax(np.abs(band_true - ref_band)))),
        "table2b": per_group,
        "_band_pred": band_pred,
        "_band_true": band_true,
    }


def _r(x: float) -> float:
    return float(round(float(x), 6)) if x is not None and math.isfinite(float(x)) else float("nan")


def evaluate(module: torch.nn.Module, datamodule: DOSDataModule, cfg: DOSConfig, out_dir: Path, options: dict) -> dict:
    """Table 2a/2b on the test split, rotation trials, plots and ``test_dos.npz``. For a
    :class:`DOSEnsemble` also each member's Table 2a and the members' band-energy spread
    (standard deviation over members per structure, eV/atom: an uncertainty estimate)."""
    root = options.get("data")
    test = datamodule.load_split("test", root)
    energies, n_el = datamodule.energies, datamodule.n_electrons
    module.eval()
    members = list(module.members) if isinstance(module, DOSEnsemble) else [module]
    member_preds = [predict_split(member, datamodule, test, None) for member in members]
    pred = np.mean(member_preds, axis=0)
    s0 = scores(energies, n_el, pred, test.dos, test.groups, test.band_energy)
    band_pred, band_true = s0.pop("_band_pred"), s0.pop("_band_true")
    metrics: dict[str, Any] = {
        "model": model_kind(cfg.model),
        "test_size": s0["scored"],  # structures whose band energy was scored
        "test_structures": len(test.atoms),
        "test/band_energy_mae": s0["band_energy_mae"],
        "test/fermi_level_mae": s0["fermi_level_mae"],
        "test/dos_rmse": s0["dos_rmse"],
        "test/failed_band_energy": s0["failed_band_energy"],
        "table2a_band_energy_mae_ev_per_atom": s0["band_energy_mae"],
        "table2b_band_energy_mae_ev_per_atom": {g: v["band_energy_mae"] for g, v in s0["table2b"].items()},
        "structures_within_chemical_accuracy": sum(v["within_chemical_accuracy"] for v in s0["table2b"].values()),
        "structure_types": len(s0["table2b"]),
        "chemical_accuracy_ev_per_atom": CHEMICAL_ACCURACY,
        "reference_vs_stored_band_energy_max": s0["reference_vs_stored_band_energy_max"],
    }
    spread = None
    if len(members) > 1:
        from scipy.stats import spearmanr

        member_scores = [scores(energies, n_el, p, test.dos, test.groups, test.band_energy) for p in member_preds]
        spread = np.std([s["_band_pred"] for s in member_scores], axis=0)
        metrics["ensemble/members"] = len(members)
        metrics["ensemble/member_band_energy_mae"] = [s["band_energy_mae"] for s in member_scores]
        metrics["ensemble/band_energy_spread_mean"] = _r(np.nanmean(spread))
        ok = np.isfinite(spread) & np.isfinite(band_pred)
        # Spearman rank correlation of spread and error: does a larger spread flag a larger error?
        metrics["ensemble/spread_error_rank_correlation"] = _r(
            spearmanr(spread[ok], np.abs(band_pred - band_true)[ok]).statistic
        ) if ok.sum() > 2 else None
    if model_kind(cfg.model) != "soap-dos" and cfg.eval.rotation_trials > 0:
        maes, diffs, per_group = [], [], []
        for trial in range(cfg.eval.rotation_trials):
            rot_pred = predict_split(module, datamodule, test, haar_rotations(len(test.atoms), cfg.eval.rotation_seed + trial))
            s = scores(energies, n_el, rot_pred, test.dos, test.groups, test.band_energy)
            maes.append(s["band_energy_mae"])
            per_group.append({g: v["band_energy_mae"] for g, v in s["table2b"].items()})
            diffs.append(float(np.abs(rot_pred - pred).max()))
        metrics["test_rotated/band_energy_mae"] = _r(np.mean(maes))
        metrics["test_rotated/table2b"] = {  # None where a type's band energies all failed
            g: None if any(p[g] is None for p in per_group) else _r(np.mean([p[g] for p in per_group])) for g in per_group[0]
        }
        metrics["test_rotated/max_dos_change"] = _r(max(diffs))
    if cfg.eval.average_rotations > 0:
        n_avg = cfg.eval.average_rotations
        averaged = np.zeros_like(pred)
        for k in range(n_avg):
            rots = haar_rotations(len(test.atoms), cfg.eval.rotation_seed + 1000 + k)
            averaged += predict_split(module, datamodule, test, rots) / n_avg
        s = scores(energies, n_el, averaged, test.dos, test.groups, test.band_energy)
        metrics["test_averaged/rotations"] = n_avg
        metrics["test_averaged/band_energy_mae"] = s["band_energy_mae"]
        metrics["test_averaged/table2b"] = {g: v["band_energy_mae"] for g, v in s["table2b"].items()}
        metrics["test_averaged/structures_within_chemical_accuracy"] = sum(
            v["within_chemical_accuracy"] for v in s["table2b"].values()
        )
    rows = [
        {"structure": g, "band_energy_true": _r(t), "band_energy_pred": _r(p)}
        for g, t, p in zip(test.groups, band_true, band_pred)
    ]
    if spread is not None:
        for row, sd in zip(rows, spread):
            row["band_energy_spread"] = _r(sd)
        scatter_by_type(  # does a larger spread of the members flag a larger error of their mean?
            out_dir / "ensemble_spread.png", spread, np.abs(band_pred - band_true), test.groups,
            "members' band-energy spread (eV/atom)", "|band-energy error| of the mean (eV/atom)",
            f"{model_kind(cfg.model)}: ensemble of {len(members)}", log=True,
        )
    write_text_atomic(out_dir / "predictions.json", json.dumps(rows))
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, energies=energies, predicted=pred.astype(np.float32), true=test.dos,
        structure=np.array(test.groups), band_energy_predicted=band_pred, band_energy_true=band_true,
    )
    with atomic_output(out_dir / "test_dos.npz") as tmp:
        tmp.write_bytes(buffer.getvalue())
    plot_dos_examples(out_dir, energies, pred, test.dos, test.groups, band_pred, band_true, f"{model_kind(cfg.model)}: test")
    return metrics

