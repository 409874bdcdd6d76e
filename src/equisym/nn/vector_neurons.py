"""Vector Neurons on DGCNN: an SO(3)-invariant point-cloud classifier (Deng et al., ICCV 2021).

Vector Neurons ("Vector Neurons: A General Framework for SO(3)-Equivariant Networks") replace
each scalar neuron by a 3-vector, so a feature is a list of ``C`` vectors ``V ∈ R^{C×3}`` and
a rotation acts on every vector alike: ``V ↦ V Rᵀ``. The layers commute with that action:

- :class:`VNLinear`: ``V' = W V`` (mixes channels, never coordinates; no bias).
- :class:`VNLeakyReLU`: a learned direction ``k = U V`` per channel; the part of ``q`` pointing
  against ``k`` is removed (``q - ⟨q, k̂⟩ k̂`` where ``⟨q, k⟩ < 0``), with a leaky slope.
- :class:`VNBatchNorm`: batch normalisation of the vector norms; directions are kept.
- :class:`VNMaxPool`: per channel, the vector with the largest projection on a learned
  direction; mean pooling is the simple alternative.
- :func:`vn_edge_features`: DGCNN's edge features ``[v_j - v_i, v_i]`` on a k-nearest-neighbour
  graph in feature space (distances are rotation invariant), plus ``v_j × v_i`` on the
  first layer.
- :class:`VNStdFeature`: the invariant layer: a learned per-point frame ``Z ∈ R^{3×3}``
  (equivariant) and the products ``V Zᵀ``, whose entries are rotation invariant.

:class:`VNDGCNN` stacks four VN edge convolutions, a VN point-wise layer, the invariant layer
on ``[V, mean_points(V)]``, global max + mean pooling and an MLP head. Channel counts are the
DGCNN ones divided by 3 (each vector neuron holds 3 numbers).

Shapes:
    - points: ``(B, N, 3)``; output logits ``(B, num_classes)``.
    - inside: vector features ``(B, C, 3, N)`` and edge features ``(B, C, 3, N, k)``.

Symmetry: logits are invariant to rotations about the origin (SO(3), exactly up to float
rounding) and to permutations of the points; with ``center=True`` (default) the cloud is
first centred on its mean, which adds translation invariance. Not invariant to reflections
(the cross product of the first layer is a pseudo-vector).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from equisym.errors import EquisymError
from equisym.nn.mapping import check_point_clouds
from equisym.nn.pointnet import knn_indices

__all__ = [
    "VNLinear",
    "VNBatchNorm",
    "VNLeakyReLU",
    "VNLinearLeakyReLU",
    "VNMaxPool",
    "VNStdFeature",
    "vn_edge_features",
    "VNDGCNNConfig",
    "VNDGCNN",
    "VN_DGCNN_PRESETS",
]

EPS = 1e-6


class VNLinear(nn.Module):
    """``V' = W V``: a linear map of the channels of vector features ``(B, C_in, 3, ...)`` → ``(B, C_out, 3, ...)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.map = nn.Linear(in_channels, out_channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # one matrix product over the flattened (3, ...) axes keeps the channel-first layout
        # contiguous, so the element-wise VN operations that follow run on dense memory
        # (a batched product with the weight broadcast over the batch: torch.matmul would fold the
        # batch into one mm and copy the transposed features twice)
        flat = x.reshape(x.shape[0], x.shape[1], -1)
        out = torch.bmm(self.map.weight.expand(x.shape[0], -1, -1), flat)
        return out.reshape(x.shape[0], -1, *x.shape[2:])


class VNBatchNorm(nn.Module):
    """Batch normalisation of the norms ``‖v_c‖`` of vector features ``(B, C, 3, ...)``; directions kept."""

    def __init__(self, channels: int, extra_dims: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(channels) if extra_dims <= 1 else nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.sqrt((x * x).sum(dim=2) + EPS * EPS)  # (B, C, ...); far faster than norm() over a 3-long axis
        # one product on the vectors: the factor is formed on the 3× smaller norms
        return x * (self.norm(norm) / norm).unsqueeze(2)


def _leaky_project(q: torch.Tensor, k: torch.Tensor, slope: float) -> torch.Tensor:
    """Remove from ``q`` its component along ``k`` where ``⟨q, k⟩ < 0``, leakily.

    ``slope·q + (1 − slope)·(q − ⟨q,k⟩/‖k‖² k)`` where ``⟨q, k⟩ < 0``, else ``q``; written as
    ``q − c k`` with the coefficient ``c`` formed on the (3× smaller) dot products, so the
    vectors see two passes instead of six.
    """
    dot = (q * k).sum(dim=2, keepdim=True)
    k_sq = (k * k).sum(dim=2, keepdim=True)
    coefficient = torch.where(dot < 0, dot / (k_sq + EPS), torch.zeros_like(dot)) * (1 - slope)
    return q - coefficient * k


class VNLeakyReLU(nn.Module):
    """VN-LeakyReLU with a learned direction per channel (or one shared direction)."""

    def __init__(self, channels: int, share: bool = False, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.direction = VNLinear(channels, 1 if share else channels)
        self.slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _leaky_project(x, self.direction(x), self.slope)


class VNLinearLeakyReLU(nn.Module):
    """VN-Linear → VN-BatchNorm → VN-LeakyReLU, the direction learned from the layer's input.

    Args:
        extra_dims: number of axes after the vector axis (1 for ``(B, C, 3, N)``, 2 for edges).
    """

    def __init__(self, in_channels: int, out_channels: int, extra_dims: int = 1, share: bool = False,
                 negative_slope: float = 0.2, batch_norm: bool = True) -> None:
        super().__init__()
        self.linear = VNLinear(in_channels, out_channels)
        self.norm = VNBatchNorm(out_channels, extra_dims) if batch_norm else nn.Identity()
        self.direction = VNLinear(in_channels, 1 if share else out_channels)
        self.slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _leaky_project(self.norm(self.linear(x)), self.direction(x), self.slope)


class VNMaxPool(nn.Module):
    """Per channel, the vector of largest projection on a learned direction, over the last axis."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.direction = VNLinear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, 3, ..., K) -> (B, C, 3, ...)
        dot = (x * self.direction(x)).sum(dim=2, keepdim=True)
        index = dot.argmax(dim=-1, keepdim=True).expand(*x.shape[:-1], 1)
        return x.gather(-1, index).squeeze(-1)


def vn_edge_features(x: torch.Tensor, k: int, cross: bool = False) -> torch.Tensor:
    """DGCNN edge features of vector features on their k-nearest-neighbour graph.

    Neighbours are found by Euclidean distance between the flattened ``(3C)`` features (a
    rotation-invariant distance, so the graph does not depend on the orientation).

    Shapes:
        - x: ``(B, C, 3, N)`` → ``(B, 2C, 3, N, k)`` (``(B, 3C, 3, N, k)`` with ``cross``:
          ``[v_j - v_i, v_i, v_j × v_i]``).
    """
    b, c, _, n = x.shape
    idx = knn_indices(x.detach().reshape(b, c * 3, n).transpose(1, 2), k)  # (B, N, k)
    flat = x.reshape(b, c * 3, n)
    neighbours = flat.gather(2, idx.reshape(b, 1, n * k).expand(b, c * 3, n * k)).reshape(b, c, 3, n, k)
    centre = x.unsqueeze(-1).expand_as(neighbours)
    parts = [neighbours - centre, centre]
    if cross:
        parts.append(torch.cross(neighbours, centre, dim=2))
    return torch.cat(parts, dim=1)


class VNStdFeature(nn.Module):
    """Invariant features: a learned equivariant frame ``Z`` per point and the products ``V Zᵀ``.

    Shapes:
        - x: ``(B, C, 3, N)`` → invariant ``(B, C, 3, N)`` (entry ``[c, a]`` = ``⟨v_c, z_a⟩``).
    """

    def __init__(self, channels: int, negative_slope: float = 0.2) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            VNLinearLeakyReLU(channels, channels // 2, negative_slope=negative_slope),
            VNLinearLeakyReLU(channels // 2, channels // 4, negative_slope=negative_slope),
        )
        self.frame = VNLinear(channels // 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.frame(self.layers(x))  # (B, 3, 3, N): three equivariant vectors per point
        return torch.einsum("bcin,bain->bcan", x, z)


@dataclass
class VNDGCNNConfig:
    """Vector Neurons DGCNN classifier (widths are numbers of 3-vector channels)."""

    k: int = 20
    """Neighbours per point in every edge convolution."""
    edge_channels: list[int] = field(default_factory=lambda: [21, 21, 42, 85])
    """Vector channels of the four edge convolutions (DGCNN's 64, 64, 128, 256 divided by 3)."""
    embed_channels: int = 341
    """Vector channels of the point-wise layer after the edge convolutions (1024 / 3)."""
    pooling: Literal["mean", "max"] = "mean"
    """Pooling over the neighbours of an edge convolution: ``mean`` or VN-MaxPool (``max``)."""
    head_dims: list[int] = field(default_factory=lambda: [512, 256])
    """Hidden widths of the classification head (on the invariant features)."""
    dropout: float = 0.5
    """Dropout in the head."""
    negative_slope: float = 0.2
    """Slope of the VN-LeakyReLUs."""
    center: bool = True
    """Centre each cloud on its mean first (translation invariance)."""
    num_classes: int = 10
    """Number of output logits."""


class VNDGCNN(nn.Module):
    """Vector Neurons on DGCNN (Deng et al., ICCV 2021): SO(3)-invariant logits."""

    def __init__(self, config: VNDGCNNConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or VNDGCNNConfig()
        if config.k < 2:
            raise EquisymError("model.k must be >= 2")
        if len(config.edge_channels) < 1 or min(config.edge_channels) < 1 or config.embed_channels < 4:
            raise EquisymError("model.edge_channels must be positive and model.embed_channels >= 4")
        slope = config.negative_slope
        ins = [3] + [2 * c for c in config.edge_channels[:-1]]
        self.edges = nn.ModuleList(
            VNLinearLeakyReLU(i, o, extra_dims=2, negative_slope=slope) for i, o in zip(ins, config.edge_channels)
        )
        self.pools = nn.ModuleList(
            VNMaxPool(c) if config.pooling == "max" else nn.Identity() for c in config.edge_channels
        )
        self.embed = VNLinearLeakyReLU(sum(config.edge_channels), config.embed_channels, share=True, negative_slope=slope)
        self.invariant = VNStdFeature(2 * config.embed_channels, negative_slope=slope)
        width = 2 * config.embed_channels * 3 * 2
        layers: list[nn.Module] = []
        for h in config.head_dims:
            layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h), nn.LeakyReLU(slope), nn.Dropout(config.dropout)]
            width = h
        layers.append(nn.Linear(width, config.num_classes))
        self.head = nn.Sequential(*layers)

    def _pool(self, k: int, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=-1) if self.config.pooling == "mean" else self.pools[k](x)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        x = check_point_clouds(points)
        if x.shape[1] < self.config.k:
            raise EquisymError(f"VN-DGCNN needs at least k = {self.config.k} points per cloud, got {x.shape[1]}")
        if self.config.center:
            x = x - x.mean(dim=1, keepdim=True)
        v = x.transpose(1, 2).unsqueeze(1)  # (B, 1, 3, N)
        feats = []
        for k, layer in enumerate(self.edges):
            v = self._pool(k, layer(vn_edge_features(v, self.config.k, cross=k == 0)))
            feats.append(v)
        v = self.embed(torch.cat(feats, dim=1))  # (B, C, 3, N)
        v = torch.cat([v, v.mean(dim=-1, keepdim=True).expand_as(v)], dim=1)
        inv = self.invariant(v).flatten(1, 2)  # (B, 2C * 3, N), rotation invariant
        return self.head(torch.cat([inv.amax(dim=-1), inv.mean(dim=-1)], dim=1))


VN_DGCNN_PRESETS = {
    "paper": {},
    "small": dict(k=16, edge_channels=[10, 10, 21, 42], embed_channels=85, head_dims=[128]),
}
