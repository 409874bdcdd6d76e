"""PointNet and DGCNN: non-equivariant point-cloud classifiers used as peers.

Both are written here in plain torch, following the published architectures (Qi et al. 2017;
Wang et al. 2019). DGCNN's k nearest neighbours come from ``torch_cluster.knn`` when
torch-cluster is installed, else from ``torch.cdist`` + ``topk`` (O(N²) memory per cloud). Neither is rotation invariant:
they learn orientations from data (they are the baselines that collapse on z/SO3).

Shapes (both):
    - points: ``(B, N, 3)``; output logits ``(B, num_classes)``.

Symmetry: invariant to permutations of the points only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from equisym.errors import EquisymError
from equisym.nn.mapping import check_point_clouds

try:  # optional: a compiled k-NN that avoids the dense (N, N) distance matrix
    import torch_cluster
except ImportError:  # pragma: no cover - depends on the environment
    torch_cluster = None
from equisym.nn.registry import FromPreset

__all__ = ["PointNetConfig", "PointNet", "DGCNNConfig", "DGCNN", "knn_indices"]


def _mlp_head(width: int, hidden: list[int], dropout: float, num_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h, bias=False), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def _pointwise(dims: list[int], in_dim: int) -> nn.Sequential:
    """Shared per-point MLP as 1×1 convolutions on ``(B, C, N)``."""
    layers: list[nn.Module] = []
    for d in dims:
        layers += [nn.Conv1d(in_dim, d, 1, bias=False), nn.BatchNorm1d(d), nn.ReLU()]
        in_dim = d
    return nn.Sequential(*layers)


@dataclass
class PointNetConfig:
    """PointNet with an input transform network (T-Net)."""

    point_dims: list[int] = field(default_factory=lambda: [64, 64, 64, 128, 1024])
    """Widths of the shared per-point MLP (max-pooled after the last)."""
    head_dims: list[int] = field(default_factory=lambda: [512, 256])
    """Hidden widths of the classification head."""
    input_transform: bool = True
    """Learn a 3×3 alignment of the input (the T-Net of the paper)."""
    dropout: float = 0.3
    """Dropout in the head."""
    num_classes: int = 10
    """Number of output logits."""


class PointNet(FromPreset, nn.Module):
    """PointNet classifier (Qi et al., CVPR 2017), without the feature-transform regulariser."""

    def __init__(self, config: PointNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PointNetConfig()
        if config.input_transform:
            self.tnet = _pointwise([64, 128, 256], 3)
            self.tnet_head = _mlp_head(256, [128], 0.0, 9)
            nn.init.zeros_(self.tnet_head[-1].weight)
            nn.init.zeros_(self.tnet_head[-1].bias)
        self.features = _pointwise(config.point_dims, 3)
        self.head = _mlp_head(config.point_dims[-1], config.head_dims, config.dropout, config.num_classes)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        x = check_point_clouds(points).transpose(1, 2)  # (B, 3, N)
        if self.config.input_transform:
            t = self.tnet_head(self.tnet(x).amax(dim=2)).reshape(-1, 3, 3)
            x = (torch.eye(3, device=x.device, dtype=x.dtype) + t) @ x
        return self.head(self.features(x).amax(dim=2))


def knn_indices(x: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` nearest neighbours (self included) of every point.

    Uses ``torch_cluster.knn`` when torch-cluster is installed, else ``torch.cdist`` + ``topk``;
    the neighbour sets agree (their order within a point may differ; ties may break differently).

    Shapes:
        - x: ``(B, N, C)``; output ``(B, N, k)`` int64.
    """
    b, n, c = x.shape
    if torch_cluster is not None and k <= n:
        flat = x.reshape(b * n, c)
        batch = torch.arange(b, device=x.device).repeat_interleave(n)
        row, col = torch_cluster.knn(flat, flat, k, batch, batch)  # row: query point, col: its neighbour
        if row.numel() == b * n * k:
            order = torch.sort(row, stable=True).indices
            return (col[order] - row[order] // n * n).reshape(b, n, k)
    dist = torch.cdist(x, x)
    return dist.topk(k, dim=-1, largest=False).indices


@dataclass
class DGCNNConfig:
    """DGCNN: EdgeConv layers on dynamic k-NN graphs."""

    k: int = 20
    """Neighbours per point in every EdgeConv."""
    edge_dims: list[int] = field(default_factory=lambda: [64, 64, 128, 256])
    """Output widths of the EdgeConv layers (their outputs are concatenated)."""
    embed_dim: int = 1024
    """Width of the per-point embedding before global max+mean pooling."""
    head_dims: list[int] = field(default_factory=lambda: [512, 256])
    """Hidden widths of the classification head."""
    dropout: float = 0.5
    """Dropout in the head."""
    num_classes: int = 10
    """Number of output logits."""


class EdgeConv(nn.Module):
    """``x'_i = max_j LeakyReLU(BN(W [x_i, x_j − x_i]))`` over the k nearest j of i (in feature space)."""

    def __init__(self, in_dim: int, out_dim: int, k: int) -> None:
        super().__init__()
        self.k = k
        self.linear = nn.Linear(2 * in_dim, out_dim, bias=False)
        self.norm = nn.BatchNorm1d(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, C) -> (B, N, C')
        b, n, c = x.shape
        idx = knn_indices(x.detach(), self.k)
        neighbours = torch.gather(x, 1, idx.reshape(b, n * self.k, 1).expand(-1, -1, c)).reshape(b, n, self.k, c)
        centre = x[:, :, None, :].expand_as(neighbours)
        edge = self.linear(torch.cat([centre, neighbours - centre], dim=-1))
        edge = self.norm(edge.reshape(-1, edge.shape[-1])).reshape(b, n, self.k, -1)
        return nn.functional.leaky_relu(edge, 0.2).amax(dim=2)


class DGCNN(FromPreset, nn.Module):
    """Dynamic graph CNN classifier (Wang et al., TOG 2019)."""

    def __init__(self, config: DGCNNConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DGCNNConfig()
        if config.k < 2:
            raise EquisymError("model.k must be >= 2")
        dims = [3] + config.edge_dims
        self.edges = nn.ModuleList(EdgeConv(a, b, config.k) for a, b in zip(dims[:-1], dims[1:]))
        self.embed = nn.Sequential(
            nn.Linear(sum(config.edge_dims), config.embed_dim, bias=False), nn.BatchNorm1d(config.embed_dim), nn.LeakyReLU(0.2)
        )
        self.head = _mlp_head(2 * config.embed_dim, config.head_dims, config.dropout, config.num_classes)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        x = check_point_clouds(points)
        if x.shape[1] < self.config.k:
            raise EquisymError(f"DGCNN needs at least k = {self.config.k} points per cloud, got {x.shape[1]}")
        feats = []
        for edge in self.edges:
            x = edge(x)
            feats.append(x)
        b, n, _ = x.shape
        emb = self.embed(torch.cat(feats, dim=-1).reshape(b * n, -1)).reshape(b, n, -1)
        return self.head(torch.cat([emb.amax(dim=1), emb.mean(dim=1)], dim=-1))


POINTNET_PRESETS = {
    "paper": {},
    "small": dict(point_dims=[64, 64, 128, 256], head_dims=[128]),
}
DGCNN_PRESETS = {
    "paper": {},
    "small": dict(k=16, edge_dims=[32, 32, 64, 128], embed_dim=256, head_dims=[128]),
}
