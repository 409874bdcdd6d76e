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
  With ``frame_source: cell`` a structure periodic in all three directions uses instead the
  single frame of its lattice vectors (:func:`equisym.geometry.ecse_frames.cell_frames`):
  one model pass, fixed while the atoms move (molecular dynamics at fixed cell).
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
from equisym.geometry.ecse_frames import (
    ECSE_PRESETS,
    ECSEConfig,
    cell_frames,
    config_local_frames,
    ensemble_weight_tensors,
    ensemble_weights,
)
from equisym.geometry.frames import local_frames, padded_neighbors, padded_vectors
from equisym.geometry.segments import segment_sum
from equisym.geometry.graph import AtomicGraph
from equisym.nn.mapping import check_point_clouds
from equisym.nn.symmetrize.averaging import FrameEnsemble

__all__ = ["Symmetrized", "ECSEConfig", "ECSE_PRESETS", "symmetrize_point_cloud_model"]


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

    TorchScript: with a backbone that has a ``forward_edges`` method (:class:`~equisym.nn.PET`),
    ``torch.jit.script`` compiles :meth:`forward_edges` (the graph ensemble on plain tensors,
    energies only) and ``torchscript_compatible`` is True (``frame_source: local`` only: the
    plain-tensor path has no cell); the config is read when the wrapper is built. Other backbones (point clouds) run in Python only.

    Example:
        >>> from equisym.nn import PointNet, Symmetrized
        >>> net = Symmetrized(PointNet(), config=ECSE_PRESETS["point_cloud"]).eval()
        >>> net(torch.randn(2, 128, 3)).shape
        torch.Size([2, 10])
    """

    torchscript_compatible = False
    """True for an instance whose backbone has ``forward_edges`` (set in ``__init__``)."""

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
        self.torchscript_compatible = config.frame_source == "local" and hasattr(model, "forward_edges") and (
            aux_model is None or hasattr(aux_model, "forward_edges")
        )
        # plain copies of the config for the TorchScript path (forward_edges)
        self.frame_r_out = min(float(getattr(model, "cutoff_radius", config.r_cut_outer_upper_bound)), config.r_cut_outer_upper_bound)
        self.frame_options = (float(config.beta), float(config.delta_r_cut), float(config.w), float(config.delta_w),
                              float(config.epsilon))
        self.prune_options = (float(config.beta_weights), float(config.aux_threshold), float(config.aux_threshold_delta),
                              float(config.prunning_threshold), float(config.prunning_threshold_delta),
                              float(config.prunning_turn_on_threshold), float(config.prunning_turn_on_threshold_delta))
        self.frame_flags = (bool(config.add_linear_multiplier_q_func), bool(config.use_prunning), bool(config.improper))
        self.num_prunnings = int(config.num_prunnings)
        self.frames_per_pass = int(config.batch_size_sp)
        self.atoms_per_pass = int(config.max_atoms_per_pass)
        self.last_num_frames: torch.Tensor | None = None
        self.last_num_frames_unpruned: torch.Tensor | None = None
        self.last_aux_weight: torch.Tensor | None = None

    # ------------------------------------------------------------------ weights
    def _ensemble(self, lf, segment: torch.Tensor, n_seg: int, types: torch.Tensor | None):
        """Pruned weights, kept frames, their segments and the auxiliary weight per segment."""
        return self._ensemble_of(lf.frames, lf.weights, segment, n_seg, types)

    def _ensemble_of(self, frames, weights, segment: torch.Tensor, n_seg: int, types: torch.Tensor | None):
        """:meth:`_ensemble` from raw frames ``(F, 3, 3)`` and weights ``(F,)``."""
        cfg = self.config
        self.last_num_frames_unpruned = torch.bincount(segment, minlength=n_seg)
        frames, weights, segment, w_aux = ensemble_weights(frames, weights, segment, n_seg, cfg, types)
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
    @torch.jit.unused
    def forward(self, x):
        if isinstance(x, AtomicGraph):
            return self._forward_graph(x)
        if torch.is_tensor(x):
            return self._forward_points(x)
        raise EquisymError(f"Symmetrized takes an AtomicGraph or a (B, N, 3) tensor, got {type(x).__name__}")

    def _forward_graph(self, graph: AtomicGraph) -> dict[str, torch.Tensor]:
        cfg = self.config
        if cfg.frame_source == "cell" and bool(graph.pbc.all(dim=1).any()):
            return self._forward_graph_cell(graph)
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

    def _forward_graph_cell(self, graph: AtomicGraph) -> dict[str, torch.Tensor]:
        """``frame_source: cell``: the cell frame of every fully periodic structure (weight 1),
        local frames (and pruning) for the others."""
        cfg = self.config
        frames, periodic = cell_frames(graph.cell, graph.pbc)
        weights = torch.ones(frames.shape[0], dtype=frames.dtype, device=frames.device)
        segment = periodic
        if not bool(graph.pbc.all(dim=1).all()):
            centre = graph.edge_index[0]
            vectors, mask, _ = padded_neighbors(graph.edge_vectors(), centre, graph.n_atoms)
            r_out = min(float(graph.cutoff), cfg.r_cut_outer_upper_bound)
            lf = config_local_frames(vectors, mask, torch.full((graph.n_atoms,), r_out, dtype=graph.dtype, device=graph.device), cfg)
            local_seg = graph.structure[lf.centre]
            keep = ~graph.pbc.all(dim=1)[local_seg]
            frames = torch.cat([frames, lf.frames[keep]])
            weights = torch.cat([weights, lf.weights[keep]])
            segment = torch.cat([segment, local_seg[keep]])
        frames, weights, segment, w_aux = self._ensemble_of(frames, weights, segment, graph.n_structures, None)
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

    # ------------------------------------------------------------------ TorchScript path
    @torch.jit.export
    def forward_edges(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        vectors: torch.Tensor,
        reverse: torch.Tensor,
        structure: torch.Tensor,
        n_structures: int,
    ) -> dict[str, torch.Tensor]:
        """The global ECSE ensemble of an edge-based backbone, on plain tensors (TorchScript).

        The same ensemble as ``forward(graph)`` (frames of all atoms of a structure pooled,
        each frame rotating the whole structure; no species pruning) for a backbone with a
        ``forward_edges`` method of this signature, e.g. :meth:`equisym.nn.PET.forward_edges`.

        Shapes:
            - species ``(N,)`` species indices; edge_index ``(2, E)`` full list; vectors ``(E, 3)``
              Å; reverse ``(E,)``; structure ``(N,)``; S = ``n_structures``.
            - output: ``energy`` ``(S,)``, ``atom_energy`` ``(N,)`` (eV), ``num_frames`` ``(S,)``.

        Symmetry: exactly invariant under SO(3) (O(3) with ``improper``) of ``vectors``,
        up to float rounding; forces by autograd are exactly equivariant.
        """
        n = species.shape[0]
        dtype, device = vectors.dtype, vectors.device
        centre = edge_index[0]
        padded, mask = padded_vectors(vectors, centre, n)
        r_out = torch.full((n,), self.frame_r_out, dtype=dtype, device=device)
        beta, delta_r_cut, w, delta_w, epsilon = self.frame_options
        boost, use_prunning, improper = self.frame_flags
        lf = local_frames(padded, mask, r_out, beta, delta_r_cut, w, delta_w, boost, epsilon)
        bw, aux_t, aux_d, p_t, p_d, on_t, on_d = self.prune_options
        frames, weights, source, w_aux = ensemble_weight_tensors(
            lf.frames, lf.weights, structure[lf.centre], n_structures, bw, aux_t, aux_d, use_prunning,
            p_t, p_d, on_t, on_d, self.num_prunnings, epsilon, improper, None,
        )
        counts = torch.bincount(source, minlength=n_structures)
        denom = segment_sum(weights, source, n_structures)
        if self.aux_model is not None:
            denom = denom + w_aux
        elif bool((counts == 0).any()):
            raise RuntimeError(
                "ECSE: a structure has no non-collinear pair of neighbours inside the adaptive cutoff "
                "(e.g. a dimer or a linear molecule) and this model has no auxiliary model"
            )
        coef = weights / denom[source]
        # atoms and edges grouped by structure, to copy whole structures into each frame
        a_counts = torch.bincount(structure, minlength=n_structures)
        a_start = torch.cumsum(a_counts, 0) - a_counts
        e_struct = structure[centre]
        e_order = torch.argsort(e_struct, stable=True)
        e_counts = torch.bincount(e_struct, minlength=n_structures)
        e_start = torch.cumsum(e_counts, 0) - e_counts
        e_rank = torch.empty_like(e_order)
        e_rank[e_order] = torch.arange(e_order.shape[0], device=device)
        biggest = int(a_counts.max()) if n > 0 else 1
        step = max(1, min(self.frames_per_pass, self.atoms_per_pass // max(biggest, 1)))
        energy = torch.zeros(n_structures, dtype=dtype, device=device)
        atom_energy = torch.zeros(n, dtype=dtype, device=device)
        for first in range(0, int(source.shape[0]), step):
            src = source[first:first + step]
            rot = frames[first:first + step]
            c = coef[first:first + step]
            k = src.shape[0]
            copies = torch.arange(k, device=device)
            a_num = a_counts[src]
            a_copy = torch.repeat_interleave(copies, a_num)
            a_new = torch.cumsum(a_num, 0) - a_num
            a_src = a_start[src][a_copy] + torch.arange(a_copy.shape[0], device=device) - a_new[a_copy]
            e_num = e_counts[src]
            e_copy = torch.repeat_interleave(copies, e_num)
            e_new = torch.cumsum(e_num, 0) - e_num
            e_src = e_order[e_start[src][e_copy] + torch.arange(e_copy.shape[0], device=device) - e_new[e_copy]]
            ei = edge_index[:, e_src] - a_start[src][e_copy] + a_new[e_copy]
            rev = e_rank[reverse[e_src]] - e_start[src][e_copy] + e_new[e_copy]
            local = (vectors[e_src].unsqueeze(1) @ rot[e_copy]).squeeze(1)  # Fᵀ r in row form
            out = self.model.forward_edges(species[a_src], ei, local, rev, a_copy, k)
            energy = energy.index_add(0, src, c * out["energy"])
            atom_energy = atom_energy.index_add(0, a_src, c[a_copy] * out["atom_energy"])
        if self.aux_model is not None:
            aux = self.aux_model.forward_edges(species, edge_index, vectors, reverse, structure, n_structures)
            a_coef = w_aux / denom
            energy = energy + a_coef * aux["energy"]
            atom_energy = atom_energy + a_coef[structure] * aux["atom_energy"]
        return {"energy": energy, "atom_energy": atom_energy, "num_frames": counts}


def symmetrize_point_cloud_model(model: nn.Module, options: dict) -> Symmetrized:
    """A point-cloud classifier wrapped in ECSE as ``symmetrize: ecse`` trains and evaluates it:
    the ``point_cloud`` preset with the run's ``ecse`` ``options`` over it (a mapping of
    :class:`ECSEConfig` fields). Exactly SO(3)-invariant logits; the wrapper has no weights.

    Raises:
        EquisymError: ``options`` is not a mapping, or names an unknown ECSE option.
    """
    if not isinstance(options, dict):
        raise EquisymError(f"ecse must be a mapping of ECSE options, got {options!r}")
    return Symmetrized(model, config={**ECSE_PRESETS["point_cloud"], **options})
