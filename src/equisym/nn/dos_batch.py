"""Running a DOS model (CSGNN-DOS, SchNet-DOS, SOAP + MLP) on a packed batch of structures.

The batch is the one built by :class:`equisym.data.carbon_batches.DOSCollate`; the same two
functions serve training, evaluation and inference, so every path predicts identically.
"""

from __future__ import annotations

import torch

from equisym.geometry.segments import segment_mean, segment_sum

__all__ = ["predict_batch", "pool_views"]


def predict_batch(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Run any DOS model on a packed batch.

    Shapes:
        - batch: ``signal`` ``(Q, V, B)`` (csgnn-dos: atoms, or their views in local frames),
          ``features`` ``(N, F)`` (soap-dos) or ``numbers``/``positions``/``cells``/``pbc``
          (schnet-dos); ``structure_index`` ``(N,)``, ``num_structures`` S.
        - returns ``(structure_dos (S, G), atom_contributions (N, G))``, states/eV per atom.

    Symmetry: that of the model and its input (pooling over atoms and frames is permutation
    invariant).
    """
    if "signal" in batch:
        views = model.atom_dos(batch["signal"])
    elif "features" in batch:
        views = model.atom_dos(batch["features"])
    else:
        views = model.atom_dos(batch["numbers"], batch["positions"], batch["structure_index"], batch["cells"], batch["pbc"])
    return pool_views(views, batch)


def pool_views(views: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-view DOS contributions ``(Q, G)`` of a packed batch → ``(structure_dos (S, G),
    atom_contributions (N, G))``: with local frames (``frame_atom`` in the batch) each atom's
    contribution is the weighted mean of its views, else views are atoms; a structure's DOS
    per atom is the mean of its atoms' contributions."""
    idx, s = batch["structure_index"], batch["num_structures"]
    atoms = views
    if "frame_atom" in batch:
        atoms = segment_sum(views * batch["frame_weight"][:, None].to(views.dtype), batch["frame_atom"], len(idx))
    return segment_mean(atoms, idx, s), atoms
