"""Layers on concentric icosphere signals.

Layout: every layer here takes and returns *vertex-major* tensors ``(V, B, R, C)``:
V icosphere vertices, B samples (or atoms, packed), R shells, C channels. Vertex-major
means the graph aggregation is one sparse CSR product ``A @ X.reshape(V, B·R·C)`` instead of
gathers and scatter-adds.

Symmetry: :class:`SphereConv` sums over each vertex's 1-ring with shared weights,
:class:`RadialConv` acts along shells only, :class:`SpherePool` takes the max/mean over
1-ring windows and :func:`global_pool` over all vertices and shells; hence every layer
commutes with any permutation of the vertices that preserves the mesh, in particular with
the 60 icosahedral rotations (and the inversion), exactly up to float rounding.
BatchNorm uses statistics over all of (V, B, R), which are permutation invariant; LayerNorm
normalises each (vertex, sample, shell) position over its channels, so it commutes with them too.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import nn

from equisym.errors import EquisymError
from equisym.geometry.icosphere import icosphere, pooling_window_sizes, pooling_windows

__all__ = ["SphereConv", "RadialConv", "SpherePool", "global_pool", "NormKind", "NORM_KINDS", "make_norm"]

NormKind = Literal["batch", "layer", "none"]
NORM_KINDS: tuple[str, ...] = get_args(NormKind)


def make_norm(kind: NormKind, channels: int) -> nn.Module:
    """The normalisation after a linear layer acting on ``(positions, channels)`` rows.

    ``batch``: BatchNorm over all rows (statistics depend on the batch; running averages in
    eval mode). ``layer``: LayerNorm of each row over its channels (the same in training and
    eval, independent of the batch). ``none``: ``nn.Identity``.
    """
    if kind == "batch":
        return nn.BatchNorm1d(channels)
    if kind == "layer":
        return nn.LayerNorm(channels)
    if kind == "none":
        return nn.Identity()
    raise EquisymError(f"model.norm must be one of {', '.join(NORM_KINDS)}, got {kind!r}")


class SphereConv(nn.Module):
    """Graph convolution on one icosphere level: ``h'_v = act(norm(W Σ_{u∈N(v)∪{v}} h_u + b))``.

    The sum runs over the vertex and its 5 or 6 mesh neighbours (no normalisation, as in
    the paper); a residual connection ``h_out = h_in + h'`` is added when ``in_channels ==
    out_channels`` (and ``residual`` is not False).

    Args:
        level: icosphere level of the signal.
        in_channels: input channels C.
        out_channels: output channels C'.
        norm: ``batch`` (BatchNorm over all (V, B, R) positions), ``layer`` or ``none`` (:func:`make_norm`).
        activation: apply ReLU.
        residual: add the input when shapes match (``None``: whenever they match).

    Shapes:
        - x: ``(V, B, R, C)``; output: ``(V, B, R, C')``.
    """

    def __init__(
        self,
        level: int,
        in_channels: int,
        out_channels: int,
        norm: NormKind = "batch",
        activation: bool = True,
        residual: bool | None = None,
    ) -> None:
        super().__init__()
        self.level = level
        adjacency = icosphere(level).adjacency(self_loops=True)
        # the CSR parts as dense buffers (sparse tensors cannot be deep-copied, e.g. for weight averaging)
        self.register_buffer("adjacency_crow", adjacency.crow_indices(), persistent=False)
        self.register_buffer("adjacency_col", adjacency.col_indices(), persistent=False)
        self.register_buffer("adjacency_values", adjacency.values(), persistent=False)
        self.linear = nn.Linear(in_channels, out_channels)
        self.norm = make_norm(norm, out_channels)
        self.activation = activation
        can_add = in_channels == out_channels
        self.residual = can_add if residual is None else (residual and can_add)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v, b, r, c = x.shape
        n = self.adjacency_crow.numel() - 1
        adjacency = torch.sparse_csr_tensor(
            self.adjacency_crow, self.adjacency_col, self.adjacency_values.to(x.dtype), (n, n), check_invariants=False
        )
        summed = torch.sparse.mm(adjacency, x.reshape(v, -1)).reshape(-1, c)
        out = self.norm(self.linear(summed))
        if self.activation:
            out = torch.relu(out)
        out = out.reshape(v, b, r, -1)
        return x + out if self.residual else out


class RadialConv(nn.Module):
    """1-D convolution across shells, shared by all vertices: conv → norm (:func:`make_norm`) → ReLU.

    Zero padding keeps the number of shells (``kernel_size`` must be odd). With
    ``kernel_size = 1`` this is a per-vertex linear layer (the DOS model's "radial" layers).
    Computed as one matrix product on the ``kernel_size`` shifted copies of the signal
    (faster on CPU than ``Conv1d`` on the short shell axis, and no transposes).

    Shapes:
        - x: ``(V, B, R, C)``; output: ``(V, B, R, C')``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, norm: NormKind = "batch") -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"radial kernel_size must be odd, got {kernel_size}")
        self.kernel_size = kernel_size
        self.linear = nn.Linear(kernel_size * in_channels, out_channels)
        self.norm = make_norm(norm, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v, b, r, c = x.shape
        half = self.kernel_size // 2
        if half:
            padded = torch.nn.functional.pad(x, (0, 0, half, half))  # zero shells at both ends
            x = torch.cat([padded[:, :, k : k + r] for k in range(self.kernel_size)], dim=-1)
        out = self.norm(self.linear(x.reshape(v * b * r, -1)))
        return torch.relu(out).reshape(v, b, r, -1)


class SpherePool(nn.Module):
    """Overlapping 1-ring pooling from level ``level + 1`` to ``level``.

    Each coarse vertex takes the max (or mean) over itself and its 5 or 6 neighbours in the
    fine mesh (:func:`equisym.geometry.icosphere.pooling_windows`).

    Args:
        level: the *coarse* level of the output.
        mode: ``"max"`` or ``"mean"``.

    Shapes:
        - x: ``(V_{level+1}, B, R, C)``; output: ``(V_level, B, R, C)``.
    """

    def __init__(self, level: int, mode: Literal["max", "mean"] = "max") -> None:
        super().__init__()
        if mode not in ("max", "mean"):
            raise ValueError(f"pooling mode must be 'max' or 'mean', got {mode!r}")
        self.mode = mode
        self.register_buffer("windows", torch.tensor(pooling_windows(level)), persistent=False)
        self.register_buffer(
            "window_sizes", torch.tensor(pooling_window_sizes(level), dtype=torch.float32), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fine, rest = x.shape[0], x.shape[1:]
        flat = x.reshape(fine, -1)
        if self.mode == "max":
            # find the winning fine vertex of every entry without autograd, then one gather
            with torch.no_grad():
                best = flat.index_select(0, self.windows[:, 0])
                arg = self.windows[:, :1].expand_as(best).clone()
                for column in self.windows.unbind(1)[1:]:
                    other = flat.index_select(0, column)
                    better = other > best
                    best = torch.where(better, other, best)
                    arg = torch.where(better, column[:, None], arg)
            return flat.gather(0, arg).reshape(-1, *rest)
        # mean: the padding slot repeats the centre, so it is counted once
        out = sum(flat.index_select(0, column) for column in self.windows.unbind(1))
        pad = (self.window_sizes < 7).to(x.dtype)[:, None]
        out = out - pad * flat[: len(self.windows)]
        return (out / self.window_sizes.to(x.dtype)[:, None]).reshape(-1, *rest)


def global_pool(x: torch.Tensor, mode: Literal["max", "mean"] = "max") -> torch.Tensor:
    """Pool over vertices and shells: ``(V, B, R, C) → (B, C)``. Invariant to vertex permutations."""
    if mode == "max":
        return x.amax(dim=(0, 2))
    return x.mean(dim=(0, 2))
