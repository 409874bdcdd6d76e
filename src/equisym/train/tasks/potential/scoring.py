"""Test-set scores of a potential: energies, forces and stresses, bare or symmetrized."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from equisym.data.atoms import AtomsDataset, collate_atoms
from equisym.errors import EquisymError
from equisym.nn.atomistic import compute_forces
from equisym.train.tasks.potential.config import PotentialEvalConfig

__all__ = ["wrap_model", "score", "parity_plot", "EV_PER_A3_IN_GPA"]

#: 1 eV/Å³ in GPa.
EV_PER_A3_IN_GPA = 160.21766208


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


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device


def score(model: torch.nn.Module, dataset: AtomsDataset, batch_size: int = 10, dtype: torch.dtype = torch.float64, max_structures: int | None = None) -> dict:
    """Energy, force and stress errors of ``model`` on ``dataset``, with timing.

    Returns a dict with ``energy_mae``, ``energy_rmse`` (meV per structure),
    ``energy_per_atom_mae`` (meV/atom), ``forces_mae``, ``forces_rmse`` (meV/Å, per
    component), for data with stress ``stress_mae_eV_per_A3`` and ``stress_mae_GPa`` (per
    component of the 3×3 tensor), ``seconds_per_structure``, ``frames_per_structure`` (when the
    model reports frames) and the raw energies ``(true, predicted)`` under ``_pred``.
    """
    n = len(dataset) if max_structures is None else min(max_structures, len(dataset))
    items = [dataset[k] for k in range(n)]
    device = _device_of(model)  # score where the model is (eval --device)
    de_all, dea_all, df_all, ds_all, e_pred, e_true = [], [], [], [], [], []
    frames, n_frames_known = 0.0, True
    elapsed = 0.0
    for k in range(0, len(items), batch_size):
        batch = collate_atoms(items[k : k + batch_size])
        graph = batch["graph"].to(device=device, dtype=dtype)
        t = time.perf_counter()
        out = compute_forces(model, graph, forces=batch["has_forces"], stress=batch["has_stress"])
        elapsed += time.perf_counter() - t
        fr = _frames_of(model, out)
        if fr is None:
            n_frames_known = False
        else:
            frames += fr
        e = out["energy"].detach().cpu()
        de = e - batch["energy"].to(dtype)
        de_all.append(de)
        dea_all.append(de / batch["graph"].atoms_per_structure().to(dtype))
        e_pred.append(e)
        e_true.append(batch["energy"].to(dtype))
        if batch["has_forces"]:
            df_all.append(out["forces"].detach().cpu() - batch["forces"].to(dtype))
        if batch["has_stress"]:
            ds_all.append(out["stress"].detach().cpu() - batch["stress"].to(dtype))
    de = torch.cat(de_all)
    res: dict[str, Any] = {
        "n_structures": len(items),
        "energy_mae": round(float(de.abs().mean()) * 1000, 4),
        "energy_rmse": round(float(de.pow(2).mean().sqrt()) * 1000, 4),
        "energy_per_atom_mae": round(float(torch.cat(dea_all).abs().mean()) * 1000, 4),
        "seconds_per_structure": elapsed / max(1, len(items)),
    }
    if df_all:
        df = torch.cat(df_all)
        res["forces_mae"] = round(float(df.abs().mean()) * 1000, 4)
        res["forces_rmse"] = round(float(df.pow(2).mean().sqrt()) * 1000, 4)
    if ds_all:
        mae = float(torch.cat(ds_all).abs().mean())
        res["stress_mae_eV_per_A3"] = round(mae, 7)
        res["stress_mae_GPa"] = round(mae * EV_PER_A3_IN_GPA, 5)
    if n_frames_known:
        res["frames_per_structure"] = frames / max(1, len(items))
    res["_pred"] = (torch.cat(e_true).numpy(), torch.cat(e_pred).numpy())
    return res


def parity_plot(e_true: np.ndarray, e_pred: np.ndarray, path: Path) -> None:
    """Predicted against reference energies (PNG)."""
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
    ax.set_title(f"energies: MAE {mae:.1f} meV")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
