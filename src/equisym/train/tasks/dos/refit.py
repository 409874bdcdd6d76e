"""Full-batch refit of a trained DOS model's output layer (:class:`~equisym.train.tasks.dos.config.DOSRefitConfig`)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from equisym.errors import EquisymError
from equisym.files import atomic_output
from equisym.nn.dos_batch import pool_views, predict_batch
from equisym.train.tasks.dos.config import DOSRefitConfig
from equisym.train.tasks.dos.datamodule import DOSDataModule
from equisym.train.tasks.dos.module import DOSModule

__all__ = ["refit_output_layer", "save_refit"]


def refit_output_layer(module: DOSModule, datamodule: DOSDataModule, refit: DOSRefitConfig) -> dict:
    """Refit ``module``'s output layer (:attr:`AtomDOSHead.output_layer`) on the training split
    at full batch, every other weight fixed (:class:`DOSRefitConfig`); in place.

    The loss is the training loss at full band-energy weight (:meth:`DOSModule.loss`); the
    structures' targets are the mean atom-projected DOS of the drawn atoms, as in training.
    Symmetry: unchanged (only a linear map of invariant per-atom features is refitted).

    Returns:
        ``{"applied", "iterations", "views", "train_loss_before", "train_loss_after", "seconds"}``;
        ``applied`` is False (and the layer keeps its trained weights) if the refit did not
        lower the training loss.
    """
    from tqdm import tqdm

    if refit.iterations <= 0:
        raise EquisymError(f"refit.iterations must be positive to refit, got {refit.iterations}")
    cfg = module.cfg
    start = time.time()
    split = datamodule.load_split("train")
    module.eval()
    head = module.model.head
    layer = head.output_layer
    keep = refit.atoms_per_structure if refit.atoms_per_structure is not None else cfg.data.train_atoms_per_structure
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_hook(lambda _layer, inputs, _output: captured.append(inputs[0].detach()))
    parts: dict[str, list] = {key: [] for key in ("dos", "atom_dos", "structure_index", "frame_atom", "frame_weight")}
    atoms_seen = structures_seen = 0
    try:
        with torch.no_grad():
            loader = datamodule.loader(split, cfg.data.eval_batch_size, False, False, cfg.seed, atoms_per_structure=keep)
            for batch in tqdm(loader, desc="refit: features", unit="batch", leave=False):
                predict_batch(module.model, batch)
                n_atoms = len(batch["structure_index"])
                parts["dos"].append(batch["dos"])
                parts["atom_dos"].append(batch["atom_dos"])
                parts["structure_index"].append(batch["structure_index"] + structures_seen)
                if "frame_atom" in batch:
                    parts["frame_atom"].append(batch["frame_atom"] + atoms_seen)
                    parts["frame_weight"].append(batch["frame_weight"])
                atoms_seen += n_atoms
                structures_seen += batch["num_structures"]
    finally:
        hook.remove()
    hidden = torch.cat(captured)
    merged: dict[str, Any] = {key: torch.cat(value) for key, value in parts.items() if value}
    merged["num_structures"] = structures_seen

    original = (layer.weight.detach().clone(), layer.bias.detach().clone())
    frozen = [p for p in module.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    for p in layer.parameters():
        p.requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        list(layer.parameters()), lr=1.0, max_iter=refit.iterations, history_size=20, line_search_fn="strong_wolfe"
    )

    def training_loss() -> torch.Tensor:
        return module.loss(*pool_views(head.output(hidden), merged), merged, cfg.band_energy_weight)[0]

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = training_loss()
        loss.backward()
        return loss

    try:
        with torch.no_grad():
            before = float(training_loss())
        optimizer.step(closure)
        with torch.no_grad():
            after = float(training_loss())
    finally:
        for p in frozen:
            p.requires_grad_(True)
    applied = math.isfinite(after) and after <= before
    if not applied:  # never hand back weights worse than the trained ones
        with torch.no_grad():
            layer.weight.copy_(original[0])
            layer.bias.copy_(original[1])
    return {
        "applied": applied,
        "iterations": int(optimizer.state[layer.weight].get("n_iter", 0)),
        "views": len(hidden),
        "train_loss_before": before,
        "train_loss_after": after,
        "seconds": round(time.time() - start, 1),
    }


def save_refit(module: DOSModule, checkpoint: Path) -> Path:
    """Save ``module``'s (refitted) weights as ``refit.ckpt`` beside ``checkpoint``, which
    lends everything else (config, trainer state); written atomically. Returns the new path."""
    from equisym.train.checkpoint import load_checkpoint

    stored = load_checkpoint(checkpoint)
    stored["state_dict"] = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    path = Path(checkpoint).parent / "refit.ckpt"
    with atomic_output(path) as tmp:
        torch.save(stored, tmp)
    return path
