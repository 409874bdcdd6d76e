"""Local coordinate frames and their smooth weights: the geometry of ECSE.

ECSE (Pozdnyakov & Ceriotti, NeurIPS 2023) averages a model over local coordinate systems
built from *ordered* pairs of neighbours of each centre. This module holds the frame and
weight math, with no learning and no model calls (the symmetrizer that evaluates a model
in each frame is :class:`equisym.nn.Symmetrized`):

- :func:`frames_from_pairs`: ``e1 = r̂_j``, ``e2 = r̂_j × r̂_j' / |·|``, ``e3 = e1 × e2``,
  returned as matrices ``F = [e1 | e2 | e3]`` (columns); local coordinates are ``Fᵀ v``.
- :func:`local_frames`: per centre, the adaptive inner cutoff R_in (smooth min over
  neighbour pairs), the frame weights ``w_jj' = f_c(r_j|R_in) f_c(r_j'|R_in) q̃_c(s_jj')``
  and the frames with non-zero weight, from a padded neighbour tensor (masks, no branches).
- :func:`prune_weights`: the smooth pruning to the frames near the largest weight.
- :func:`~equisym.geometry.segments.segment_sum` and
  :func:`~equisym.geometry.segments.segment_smooth_max` (re-exported here): reductions over
  frames grouped by structure (or point cloud).

Everything is differentiable and stays inside autograd, so forces ``−dE/dx`` include the
derivatives of frames and weights. Weights, R_in and the pruning depend on distances and
on ``s_jj' = |r̂_j × r̂_j'|²`` only, hence are exactly invariant under O(3); a frame moves
with the structure (``F → Q F`` for a proper ``Q``; ``F → Q F diag(1, −1, 1)`` for an
improper one). Distances are in the caller's units (Å for atoms).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from equisym.geometry.segments import segment_smooth_max, segment_sum
from equisym.geometry.switching import (
    boosted_switch_on,
    smooth_cutoff,
    smooth_max,
    smooth_max_bias,
    smooth_switch_on,
)

__all__ = [
    "LocalFrames",
    "MIRROR",
    "frames_from_pairs",
    "local_frames",
    "padded_neighbors",
    "padded_vectors",
    "padding_slots",
    "pair_smooth_max",
    "prune_weights",
    "segment_smooth_max",
    "segment_sum",
]

MIRROR = (1.0, -1.0, 1.0)
"""Diagonal of the reflection that turns a frame ``F`` into its mirror image ``F·diag(1, −1, 1)``."""


def pair_smooth_max(a: torch.Tensor, b: torch.Tensor, beta: float) -> torch.Tensor:
    """Smooth maximum of two values with equal weights: ``a + (b − a)·σ(β(b − a))`` (= SM_β(a, b))."""
    return a + (b - a) * torch.sigmoid(beta * (b - a))


def padding_slots(centre: torch.Tensor, num_centres: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Where each edge goes in a padded per-centre layout (TorchScript-compatible).

    Shapes:
        - centre: ``(E,)`` long; returns ``(order (E,), centre[order] (E,), slot (E,), K)``:
          the edge ``order[e]`` goes to row ``centre[order][e]``, column ``slot[e]`` of a
          ``(C, K)`` layout, K = the largest neighbour count (0 without edges).
    """
    n_edges = centre.shape[0]
    counts = torch.bincount(centre, minlength=num_centres)
    k = int(counts.max()) if n_edges > 0 else 0
    order = torch.argsort(centre, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    c_sorted = centre[order]
    slot = torch.arange(n_edges, device=centre.device) - starts[c_sorted]
    return order, c_sorted, slot, k


def padded_vectors(vectors: torch.Tensor, centre: torch.Tensor, num_centres: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`padded_neighbors` without extras (TorchScript-compatible): ``(padded (C, K, 3), mask (C, K))``."""
    order, c_sorted, slot, k = padding_slots(centre, num_centres)
    padded = vectors.new_zeros((num_centres, k, 3)).index_put([c_sorted, slot], vectors[order])
    mask = torch.zeros((num_centres, k), dtype=torch.bool, device=centre.device)
    mask[c_sorted, slot] = True
    return padded, mask


def padded_neighbors(
    vectors: torch.Tensor, centre: torch.Tensor, num_centres: int, *extra: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """Scatter a flat edge list into a padded per-centre neighbour tensor.

    Args:
        vectors: ``(E, 3)`` edge vectors ``r_ij`` (differentiable).
        centre: ``(E,)`` long, the centre ``i`` of each edge (any order).
        num_centres: number of centres ``C``.
        extra: further per-edge tensors ``(E, ...)`` to pad the same way (e.g. species).

    Returns:
        ``(padded (C, K, 3), mask (C, K) bool, padded extras)``, K = the largest neighbour
        count (0 if there are no edges). Padding entries are zero.
    """
    padded, mask = padded_vectors(vectors, centre, num_centres)
    order, c_sorted, slot, k = padding_slots(centre, num_centres)
    out_extra = []
    for x in extra:
        p = x.new_zeros((num_centres, k, *x.shape[1:]))
        p[c_sorted, slot] = x[order]
        out_extra.append(p)
    return padded, mask, tuple(out_extra)


def frames_from_pairs(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Right-handed orthonormal frames from pairs of non-collinear vectors.

    ``e1 = a/|a|``, ``e2 = (â × b̂)/|â × b̂|``, ``e3 = e1 × e2``. Undefined (NaN) for collinear
    pairs; callers only pass pairs with ``|â × b̂|² > 0``.

    Shapes:
        - first, second: ``(F, 3)``; output ``(F, 3, 3)`` with columns ``e1, e2, e3``
          (``det = +1``). Local coordinates of ``v`` are ``Fᵀ v`` (row form ``v @ F``).
    """
    e1 = first / first.norm(dim=-1, keepdim=True)
    u2 = second / second.norm(dim=-1, keepdim=True)
    c = torch.linalg.cross(e1, u2)
    e2 = c / c.norm(dim=-1, keepdim=True)
    e3 = torch.linalg.cross(e1, e2)
    return torch.stack([e1, e2, e3], dim=-1)


class LocalFrames(NamedTuple):
    """Frames with non-zero weight of a set of centres (output of :func:`local_frames`).

    A named tuple, so that :func:`local_frames` also compiles with TorchScript.

    Shapes (F frames, C centres):
        - frames: ``(F, 3, 3)`` columns ``e1, e2, e3``.
        - weights: ``(F,)`` > epsilon, differentiable.
        - centre: ``(F,)`` long, the centre of each frame.
        - pair: ``(F, 2)`` long, the slots ``(j, j')`` of the pair in the padded neighbour tensor.
        - r_in: ``(C,)`` adaptive inner cutoff of every centre.
        - num_pairs: ``(C,)`` long, ordered pairs inside R_in with non-zero weight (= frames per centre).
    """

    frames: torch.Tensor
    weights: torch.Tensor
    centre: torch.Tensor
    pair: torch.Tensor
    r_in: torch.Tensor
    num_pairs: torch.Tensor


def local_frames(
    vectors: torch.Tensor,
    mask: torch.Tensor,
    r_out: torch.Tensor,
    beta: float = 5.0,
    delta_r_cut: float = 0.15,
    w: float = 0.2,
    delta_w: float = 0.15,
    boost: bool = True,
    epsilon: float = 1e-10,
) -> LocalFrames:
    """ECSE frames and weights of every centre, with the adaptive inner cutoff.

    Per centre, with ``r_j`` the neighbour distances and ``s_jj' = |r̂_j × r̂_j'|²``:

    1. ``R_cap = R_out − Δ_R``. Candidates for the inner cutoff: ``R_cap`` with weight 1 and,
       for every unordered pair ``j < j'``, ``v = SM_β(r_j, r_j') + T(β)`` with weight
       ``ω = f_c(r_j | R_cap − T, Δ_R) f_c(r_j' | R_cap − T, Δ_R) q_c(s | W, Δ_W)``
       (``T(β) = W₀(1/e)/β``, :func:`~equisym.geometry.switching.smooth_max_bias`).
    2. ``R_in = SM_{−β}(candidates) + Δ_R`` (weighted smooth minimum).
    3. Ordered pairs ``j ≠ j'``: ``w = f_c(r_j | R_in, Δ_R) f_c(r_j' | R_in, Δ_R) q̃_c(s | W − Δ_W, Δ_W)``
       (``q̃`` with the linear booster if ``boost``, else the plain switch ``q_c``).

    Difference from the reference code (documented in ``docs/ecse.md``): there the outer
    candidate is ``R_out`` itself and pair weights use ``f_c(· | R_out)``, so R_in can reach
    ``R_out + T + Δ_R`` — beyond the neighbour-list radius, where a neighbour entering the
    list would switch frames on abruptly. Shifting by ``Δ_R + T`` guarantees ``R_in ≤ R_out``.

    Args:
        vectors: ``(C, K, 3)`` padded neighbour vectors ``r_ij`` per centre.
        mask: ``(C, K)`` bool, real neighbours.
        r_out: ``(C,)`` outer radius per centre (neighbours beyond it never matter).
        beta: β of the smooth max/min (1/length).
        delta_r_cut: Δ_R, width of the radial switches (length).
        w: W, spread threshold of the pairs that set R_in.
        delta_w: Δ_W, width of the spread switches.
        boost: multiply the spread switch of the weights by ``(s − W + Δ_W)/Δ_W``.
        epsilon: frames with weight ``<= epsilon`` are dropped.

    Returns:
        :class:`LocalFrames` (F frames with weight > ``epsilon``). TorchScript-compatible.
    """
    c, k = vectors.shape[0], vectors.shape[1]
    dtype, device = vectors.dtype, vectors.device
    fill = torch.tensor([1.0, 0.0, 0.0], dtype=dtype, device=device)
    v = torch.where(mask[..., None], vectors, fill)
    r = torch.linalg.vector_norm(v, dim=-1)
    u = v / r[..., None]
    cross = torch.linalg.cross(u[:, :, None, :].expand(c, k, k, 3), u[:, None, :, :].expand(c, k, k, 3))
    spread = (cross * cross).sum(-1)
    pair_mask = mask[:, :, None] & mask[:, None, :] & ~torch.eye(k, dtype=torch.bool, device=device)

    bias = smooth_max_bias(beta)
    r_cap = r_out.to(dtype) - delta_r_cut
    fc_out = smooth_cutoff(r, (r_cap - bias)[:, None], delta_r_cut) * mask
    upper = torch.ones(k, k, dtype=torch.bool, device=device).triu(1)
    omega = fc_out[:, :, None] * fc_out[:, None, :] * smooth_switch_on(spread, w, delta_w) * (upper & pair_mask)
    value = pair_smooth_max(r[:, :, None], r[:, None, :], beta) + bias
    value = torch.where(omega > 0, value, r_cap[:, None, None].expand_as(value))
    cand_v = torch.cat([value.reshape(c, k * k), r_cap[:, None]], dim=1)
    cand_w = torch.cat([omega.reshape(c, k * k), torch.ones_like(r_cap)[:, None]], dim=1)
    r_in = smooth_max(cand_v, cand_w, -beta, dim=1) + delta_r_cut

    fc_in = smooth_cutoff(r, r_in[:, None], delta_r_cut) * mask
    if boost:
        switch = boosted_switch_on(spread, w - delta_w, delta_w)
    else:
        switch = smooth_switch_on(spread, w - delta_w, delta_w)
    weight = fc_in[:, :, None] * fc_in[:, None, :] * switch * pair_mask
    keep = weight > epsilon
    nz = keep.nonzero()
    ci, j, jp = nz[:, 0], nz[:, 1], nz[:, 2]
    e1 = u[ci, j]
    cr = cross[ci, j, jp]
    e2 = cr / torch.linalg.vector_norm(cr, dim=-1, keepdim=True)
    e3 = torch.linalg.cross(e1, e2)
    return LocalFrames(
        torch.stack([e1, e2, e3], dim=-1),
        weight[ci, j, jp],
        ci,
        torch.stack([j, jp], dim=-1),
        r_in,
        keep.sum((1, 2)),
    )


def prune_weights(
    weights: torch.Tensor,
    segment: torch.Tensor,
    num_segments: int,
    beta_weights: float = 1.0,
    threshold: float = 0.9,
    threshold_delta: float = 0.1,
    turn_on: float = 0.5,
    turn_on_delta: float = 0.25,
    num_rounds: int = 4,
    types: torch.Tensor | None = None,
) -> torch.Tensor:
    """Smooth pruning of frame weights to those near the largest weight of their segment.

    ``M = SM_{β_w}(w, w)`` per segment; ``τ = f_c(M | turn_on, turn_on_delta)`` (1 = pruning
    bypassed, for near-degenerate environments). If ``types`` is given (species pruning), first
    ``w ← w [q_c(t | T − ½, ½)(1 − τ) + τ]`` with ``T = SM_{β_w}(t, w)``. Then ``num_rounds``
    times: ``M' = SM_{β_w}(w, w)``, ``π = q_c(w | threshold·M', threshold_delta·M')``,
    ``w ← w [π (1 − τ) + τ]``. The largest weight always survives (``SM ≤ max``).

    Shapes:
        - weights, segment, types: ``(F,)``; output ``(F,)`` (some entries may become exactly 0).
    """
    if weights.numel() == 0:
        return weights
    big = segment_smooth_max(weights, weights, segment, num_segments, beta_weights)
    tau = smooth_cutoff(big, turn_on, turn_on_delta)[segment]
    if types is not None:
        t = types.to(weights.dtype)
        top = segment_smooth_max(t, weights, segment, num_segments, beta_weights)[segment]
        keep = smooth_switch_on(t, top - 0.5, 0.5)
        weights = weights * (keep * (1 - tau) + tau)
    for _ in range(num_rounds):
        m = segment_smooth_max(weights, weights, segment, num_segments, beta_weights)[segment]
        m = torch.where(m > 0, m, torch.ones_like(m))
        keep = smooth_switch_on(weights, threshold * m, threshold_delta * m)
        weights = weights * (keep * (1 - tau) + tau)
    return weights
