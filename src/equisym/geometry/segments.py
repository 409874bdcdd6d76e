"""Segment reductions: sums and smooth maxima over rows grouped by an index.

A *segment* is a group of rows (the atoms of one structure in a packed batch, the frames of
one structure or point cloud) named by an int64 index. Every reduction is differentiable and
works for any number of rows, including none.

Shapes:
    - values: ``(F, ...)``; segment: ``(F,)`` int64 in ``0 … num_segments − 1``;
      outputs ``(num_segments, ...)``.

Symmetry: invariant to any permutation of the rows (the same permutation applied to
``values`` and ``segment``), up to float rounding of the summation order.
"""

from __future__ import annotations

import torch

__all__ = ["segment_sum", "segment_mean", "segment_smooth_max"]


def segment_sum(values: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Sum ``values`` ``(F, ...)`` into ``(num_segments, ...)`` by ``segment`` ``(F,)`` (differentiable)."""
    out = values.new_zeros([num_segments] + list(values.shape[1:]))
    return out.index_add(0, segment, values)


def segment_mean(values: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Mean of ``values`` ``(F, ...)`` per segment ``(num_segments, ...)``; empty segments give 0."""
    counts = torch.bincount(segment, minlength=num_segments).clamp(min=1).to(values.dtype)
    return segment_sum(values, segment, num_segments) / counts.reshape(-1, *([1] * (values.dim() - 1)))


def segment_smooth_max(
    values: torch.Tensor, weights: torch.Tensor, segment: torch.Tensor, num_segments: int, beta: float
) -> torch.Tensor:
    """Weighted smooth maximum ``SM_β = Σ ω v e^{βv} / Σ ω e^{βv}`` within each segment.

    Shapes:
        - values, weights, segment: ``(F,)``; output ``(num_segments,)``.

    Segments without entries (or with zero total weight) give 0.
    """
    if values.numel() == 0:
        return values.new_zeros(num_segments)
    scaled = (beta * values).detach()
    shift = scaled.new_full((num_segments,), float("-inf")).scatter_reduce(0, segment, scaled, "amax")
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    expo = weights * torch.exp(beta * values - shift[segment])
    num = segment_sum(expo * values, segment, num_segments)
    den = segment_sum(expo, segment, num_segments)
    ok = den > 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(den))
