"""ECSE: smooth, exact rotational symmetrization of any point-cloud or atomistic model.

:class:`Symmetrized` wraps an arbitrary backbone ``y0`` and returns

    y_S(A) = [ Σ_k w_k F_k[ y0(F_kᵀ A) ] + w_aux y_aux(A) ] / [ Σ_k w_k + w_aux ]

where ``F_k`` are the local frames built from ordered neighbour pairs
(:func:`equisym.geometry.frames.local_frames`), ``w_k`` their smooth weights after pruning
(:func:`equisym.geometry.frames.prune_weights`), ``F_k[·]`` rotates covariant outputs back to
the lab frame (identity for invariant outputs) and ``y_aux`` is an optional, intrinsically
invariant model for (nearly) collinear inputs where no frame has weight (Pozdnyakov &
Ceriotti, NeurIPS 2023). Everything — frames, weights, adaptive cutoff, pruning — stays in
the autograd graph, so ``−dE_S/dx`` is an exactly equivariant, conservative force field.

Two kinds of input:

- :class:`~equisym.geometry.graph.AtomicGraph` (atomistic models returning a dict with
  ``"energy"`` ``(S,)``, ``"atom_energy"`` ``(N,)``, ...). The ensemble is *global*, as for
  message-passing models in the reference: the frames of all atoms of a structure are pooled
  and each frame rotates the whole structure; one model pass per frame, frames batched
  ``batch_size_sp`` at a time as packed graphs.
- Point clouds ``(B, N, 3)`` (classifiers returning ``(B, C)``): one centre at the cloud's
  centroid, the neighbours are the ``point_cloud_neighbors`` points nearest to it. The cloud
  is centred before it is rotated into each frame, so the result is also translation
  invariant even if the backbone is not.

Symmetry: exactly invariant (invariant outputs) / equivariant (outputs listed in
``vector_outputs``, ``tensor_outputs``) under SO(3) — and under O(3) with ``improper=True``,
which adds the mirrored frames ``F·diag(1, −1, 1)`` (2× cost). Also invariant to
permutations of atoms/points, and to translations. "Exact" means up to float rounding of the
input rotation; it does not depend on the backbone. With ``improper=False`` the result is
*not* invariant to reflections unless the backbone is (keep it so for chiral targets).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import torch
from torch import nn

from equisym.config import from_dict
from equisym.errors import EquisymError
from equisym.geometry.ecse_frames import ECSE_PRESETS, ECSEConfig, config_local_frames, ensemble_weights
from equisym.geometry.frames import padded_neighbors
from equisym.geometry.graph import AtomicGraph
from equisym.nn.mapping import check_point_clouds
from equisym.nn.symmetrize.averaging import FrameEnsemble

__all__ = ["Symmetrized", "ECSEConfig", "ECSE_PRESETS"]


class Symmetrized(FrameEnsemble):
    """ECSE wrapper: makes any model exactly rotation invariant/equivariant and keeps it smooth.

    Args:
        model: the backbone. For :class:`AtomicGraph` input ``model(graph) -> dict`` (e.g.
            ``"energy"`` ``(S,)``, ``"atom_energy"`` ``(N,)``); for point clouds
            ``model(points (B, N, 3)) -> (B, ...)``. Put it in ``eval()`` mode if it has
            BatchNorm/Dropout (the frames are batched through it).
        aux_model: an intrinsically invariant model with the same outputs (e.g. a PET using
            edge lengths only), used with weight ``w_aux`` for (nearly) collinear inputs. Without
            it, an input with no valid frame (a dimer, a linear molecule) raises
            :class:`~equisym.errors.EquisymError`.
        config: an :class:`ECSEConfig` (or a dict); keyword ``overrides`` replace its fields,
            e.g. ``Symmetrized(model, improper=True)``.

    Shapes:
        - graph input: outputs have the model's keys with the same shapes, plus ``"num_frames"``
          ``(S,)`` long (frames used per structure, after pruning, mirrored frames included).
        - point-cloud input ``(B, N, 3)``: output ``(B, ...)`` like the model's.

    Attributes:
        last_num_frames: ``(S,)`` or ``(B,)`` frames used in the last call.
        last_num_frames_unpruned: frames with non-zero weight before pruning (before mirroring).
        last_aux_weight: ``(S,)`` or ``(B,)`` weight of the auxiliary model (0 = not used).

    Symmetry: exactly invariant (equivariant for ``vector_outputs`` / ``tensor_outputs``)
    under SO(3), under O(3) with ``improper=True``, under permutations of atoms/points and
    under translations, up to float rounding, whatever the backbone. Forces by autograd
    through the wrapper are exactly equivariant and conservative.

    Example:
        >>> from equisym.nn import PointNet, Symmetrized
        >>> net = Symmetrized(PointNet(), config=ECSE_PRESETS["point_cloud"]).eval()
        >>> net(torch.randn(2, 128, 3)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        model: nn.Module,
        aux_model: nn.Module | None = None,
        config: ECSEConfig | dict | None = None,
        **overrides: Any,
    ) -> None:
        if config is None:
            config = ECSEConfig()
        elif isinstance(config, dict):
            config = from_dict(ECSEConfig, config, where="ecse")
        if overrides:
            names = {f.name for f in fields(ECSEConfig)}
            unknown = set(overrides) - names
            if unknown:
                raise EquisymError(f"unknown ECSE option(s) {sorted(unknown)}")
            config = from_dict(ECSEConfig, {**{f.name: getattr(config, f.name) for f in fields(config)}, **overrides}, "ecse")
        config.validate()
        super().__init__(model, aux_model, config)
        self.last_num_frames: torch.Tensor | None = None
        self.last_num_frames_unpruned: torch.Tensor | None = None
        self.last_aux_weight: torch.Tensor | None = None

    # ------------------------------------------------------------------ weights
    def _ensemble(self, lf, segment: torch.Tensor, n_seg: int, types: torch.Tensor | None):
        """Pruned weights, kept frames, their segments and the auxiliary weight per segment."""
        cfg = self.config
        self.last_num_frames_unpruned = torch.bincount(segment, minlength=n_seg)
        frames, weights, segment, w_aux = ensemble_weights(lf.frames, lf.weights, segment, n_seg, cfg, types)
        counts = torch.bincount(segment, minlength=n_seg)
        if self.aux_model is None:
            empty = (counts == 0).nonzero().flatten().tolist()
            if empty:
                raise EquisymError(
                    f"ECSE: no non-collinear pair of neighbours inside the adaptive cutoff for input(s) {empty[:10]} "
                    "(all collinear, e.g. a dimer or a linear molecule); pass an invariant aux_model to Symmetrized"
                )
            w_aux = None
        if cfg.max_num is not None and frames.shape[0] > cfg.max_num:
            raise EquisymError(f"ECSE needs {frames.shape[0]} frames, more than ecse.max_num = {cfg.max_num}")
        self.last_num_frames = counts
        self.last_aux_weight = w_aux.detach() if w_aux is not None else weights.new_zeros(n_seg).detach()
        return frames, weights, segment, w_aux

    # ------------------------------------------------------------------ forward
    def forward(self, x):
        if isinstance(x, AtomicGraph):
            return self._forward_graph(x)
        if torch.is_tensor(x):
            return self._forward_points(x)
        raise EquisymError(f"Symmetrized takes an AtomicGraph or a (B, N, 3) tensor, got {type(x).__name__}")

    def _forward_graph(self, graph: AtomicGraph) -> dict[str, torch.Tensor]:
        cfg = self.config
        centre, neighbour = graph.edge_index
        species_pad = ()
        if cfg.species_prunning:
            species_pad = (graph.species[neighbour],)
        vectors, mask, extra = padded_neighbors(graph.edge_vectors(), centre, graph.n_atoms, *species_pad)
        r_out = min(float(graph.cutoff), cfg.r_cut_outer_upper_bound)
        lf = config_local_frames(vectors, mask, torch.full((graph.n_atoms,), r_out, dtype=graph.dtype, device=graph.device), cfg)
        types = None
        if cfg.species_prunning:
            n = 128
            spec = extra[0]
            types = graph.species[lf.centre] * n * n + spec[lf.centre, lf.pair[:, 0]] * n + spec[lf.centre, lf.pair[:, 1]]
        segment = graph.structure[lf.centre]
        frames, weights, segment, w_aux = self._ensemble(lf, segment, graph.n_structures, types)
        out = self._evaluate_graph(graph, frames, segment, weights, w_aux)
        out["num_frames"] = self.last_num_frames
        return out

    def _forward_points(self, points: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        x = check_point_clouds(points)
        b, n, _ = x.shape
        if n < 3:
            raise EquisymError(f"ECSE on point clouds needs at least 3 points per cloud, got {n}")
        centred = x - x.mean(dim=1, keepdim=True)
        r = centred.norm(dim=-1)
        scale = r.pow(2).mean(1).sqrt().clamp_min(torch.finfo(x.dtype).tiny) if cfg.point_cloud_scale == "rms" else torch.ones(b, dtype=x.dtype, device=x.device)
        k = min(cfg.point_cloud_neighbors, n)
        near = r.topk(min(k + 1, n), dim=1, largest=False)
        if k < n:
            r_out = near.values[:, k] / scale
        else:  # every point is a neighbour: any continuous bound above the farthest one
            r_out = r.amax(1) / scale + 2 * cfg.delta_r_cut + 1.0
        idx = near.indices[:, :k]
        neigh = torch.gather(centred, 1, idx[..., None].expand(b, k, 3)) / scale[:, None, None]
        lf = config_local_frames(neigh, torch.ones(b, k, dtype=torch.bool, device=x.device), r_out, cfg)
        frames, weights, segment, w_aux = self._ensemble(lf, lf.centre, b, None)
        return self._evaluate_points(centred, frames, segment, weights, w_aux, points)
