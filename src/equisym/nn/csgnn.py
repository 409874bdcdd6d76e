"""CSGNN: the concentric spherical graph network (Fox et al.).

A point cloud is mapped onto R concentric icospheres (:mod:`equisym.nn.mapping`); each
stage applies graph convolutions within the spheres (:class:`~equisym.nn.sphere.SphereConv`),
1-D convolutions across them (:class:`~equisym.nn.sphere.RadialConv`) and 1-ring pooling to
the next coarser icosphere, down to level 0; a global max over vertices and shells of every
stage's output (concatenated, "multi-level descriptor") feeds an MLP head.

Symmetry: exactly invariant (up to float rounding) to the 60 rotations of the icosahedral
group aligned with the icosphere and to the inversion — i.e. to I_h, 120 elements — to
translations and to permutations of the points; only approximately invariant to other
rotations (the grid is discrete). Wrap it in the ECSE symmetrizer for exact SO(3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from equisym.config import to_dict
from equisym.errors import EquisymError
from equisym.nn.mapping import ConcentricSphericalMapping, MappingConfig
from equisym.nn.registry import FromPreset
from equisym.nn.sphere import NORM_KINDS, NormKind, RadialConv, SphereConv, SpherePool, global_pool, make_norm

__all__ = ["SphericalBackboneConfig", "SphericalBackbone", "CSGNNConfig", "CSGNN", "CSGNN_PRESETS"]


@dataclass
class SphericalBackboneConfig:
    """Stages of graph + radial convolutions from the input icosphere level down to level 0.

    All lists have one entry per stage; there are ``level + 1`` stages.
    """

    level: int = 3
    """Icosphere level of the input signal."""
    in_channels: int = 4
    """Channels of the input signal (sub-spheres in kernel mapping, radial bins for DOS)."""
    graph_dims: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    """Output channels of the graph convolutions of each stage."""
    graph_depth: list[int] = field(default_factory=lambda: [1, 1, 1, 0])
    """Extra (same-width, residual) graph convolutions after the first one, per stage."""
    radial_dims: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    """Output channels of the radial convolutions of each stage."""
    radial_layers: list[int] = field(default_factory=lambda: [1, 1, 1, 1])
    """Number of radial convolutions per stage (≥ 1)."""
    radial_kernel: int = 3
    """Kernel size K of the radial convolutions along the shell axis (odd; 1 = per shell)."""
    pool: Literal["max", "mean"] = "max"
    """1-ring pooling between stages and the global pooling."""
    concatenate: bool = True
    """Concatenate the global pool of every stage (multi-level descriptor) or keep the last only."""
    norm: NormKind = "batch"
    """Normalisation after every linear layer (graph, radial and head): ``batch`` (the papers'),
    ``layer`` (LayerNorm over channels, identical in training and eval) or ``none``."""
    readout: Literal["pool", "flatten"] = "pool"
    """``pool``: global pooling (invariant to the icosahedral vertex permutations). ``flatten``:
    the last stage's 12 level-0 vertices in a fixed order, concatenated (12 × last radial
    width; single-shell inputs only). It keeps the directions the pooling discards and is
    **not** invariant to any rotation: use it only on inputs already put in a canonical
    orientation (CSGNN-DOS in local frames)."""

    def validate(self) -> None:
        n = self.level + 1
        for name in ("graph_dims", "graph_depth", "radial_dims", "radial_layers"):
            if len(getattr(self, name)) != n:
                raise EquisymError(
                    f"model.{name} needs one entry per stage ({n} for level {self.level}), "
                    f"got {len(getattr(self, name))}"
                )
        if any(k < 1 for k in self.radial_layers):
            raise EquisymError("model.radial_layers entries must be >= 1")
        if self.radial_kernel % 2 != 1:
            raise EquisymError(f"model.radial_kernel must be odd, got {self.radial_kernel}")
        if self.norm not in NORM_KINDS:
            raise EquisymError(f"model.norm must be one of {', '.join(NORM_KINDS)}, got {self.norm!r}")
        if self.readout not in ("pool", "flatten") or (self.readout == "flatten" and self.concatenate):
            raise EquisymError(f"model.readout must be pool or flatten (flatten needs concatenate: false), got {self.readout!r}")

    @property
    def out_features(self) -> int:
        if self.readout == "flatten":
            return 12 * self.radial_dims[-1]
        return sum(self.radial_dims) if self.concatenate else self.radial_dims[-1]


class SphericalBackbone(nn.Module):
    """Graph/radial convolution stages with pooling, down to a global descriptor.

    Shapes:
        - signal: ``(B, R, V, C_in)`` (batch-first, as produced by the mapping).
        - output: ``(B, out_features)``.
    """

    def __init__(self, config: SphericalBackboneConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.stages = nn.ModuleList()
        self.pools = nn.ModuleList()
        channels = config.in_channels
        norm = config.norm
        for s in range(config.level + 1):
            level = config.level - s
            layers: list[nn.Module] = [SphereConv(level, channels, config.graph_dims[s], norm=norm)]
            layers += [
                SphereConv(level, config.graph_dims[s], config.graph_dims[s], norm=norm) for _ in range(config.graph_depth[s])
            ]
            channels = config.graph_dims[s]
            for _ in range(config.radial_layers[s]):
                layers.append(RadialConv(channels, config.radial_dims[s], config.radial_kernel, norm=norm))
                channels = config.radial_dims[s]
            self.stages.append(nn.Sequential(*layers))
            if level > 0:
                self.pools.append(SpherePool(level - 1, config.pool))

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        x = signal.permute(2, 0, 1, 3).contiguous()  # (V, B, R, C)
        pooled = []
        for s, stage in enumerate(self.stages):
            x = stage(x)
            if self.config.readout == "flatten" and s == len(self.stages) - 1:
                if x.shape[2] != 1:
                    raise EquisymError(f"model.readout: flatten needs a single-shell input, got {x.shape[2]} shells")
                pooled.append(x[:, :, 0].transpose(0, 1).reshape(x.shape[1], -1))  # (B, 12·C), vertex-major
            elif self.config.concatenate or s == len(self.stages) - 1:
                pooled.append(global_pool(x, self.config.pool))
            if s < len(self.pools):
                x = self.pools[s](x)
        return torch.cat(pooled, dim=-1)


@dataclass
class CSGNNConfig(SphericalBackboneConfig):
    """CSGNN for point-cloud classification: mapping + backbone + MLP head."""

    num_shells: int = 8
    """Number R of concentric spheres of the mapping."""
    mapping: Literal["kernel", "constant"] = "kernel"
    """Point-to-sphere mapping: Gaussian ``kernel`` on sub-spheres or ``constant`` counts."""
    threshold: float = 0.01
    """Kernel-mapping RBF threshold T (sets γ_i)."""
    tie_width: float = 0.01
    """Width of the mapping's tie bands (continuity); see :class:`MappingConfig`."""
    head_dims: list[int] = field(default_factory=lambda: [128])
    """Hidden widths of the MLP head (Dropout → Linear → norm → ReLU each)."""
    dropout: float = 0.14
    """Dropout before every linear layer of the head."""
    num_classes: int = 10
    """Number of output logits."""

    def mapping_config(self) -> MappingConfig:
        return MappingConfig(
            level=self.level,
            num_shells=self.num_shells,
            mode=self.mapping,
            subspheres=self.in_channels if self.mapping == "kernel" else 1,
            threshold=self.threshold,
            tie_width=self.tie_width,
        )

    def validate(self) -> None:
        super().validate()
        if self.mapping == "constant" and self.in_channels != 1:
            raise EquisymError("model.in_channels must be 1 with the constant mapping")
        if self.num_classes < 1:
            raise EquisymError("model.num_classes must be >= 1")
        self.mapping_config().validate()


CSGNN_PRESETS: dict[str, dict] = {
    # Fox et al.: level 4 (2562 vertices), R = 20, 8 sub-spheres, ~3.96 M parameters.
    "paper": dict(
        level=4,
        num_shells=20,
        in_channels=8,
        graph_dims=[32, 64, 128, 256, 512],
        graph_depth=[1, 1, 1, 1, 0],
        radial_dims=[64, 128, 256, 512, 1024],
        radial_layers=[2, 2, 2, 1, 1],
        radial_kernel=3,
        head_dims=[512, 256],
        dropout=0.14,
    ),
    # For tests: level 2 (162 vertices), R = 4, 2 sub-spheres, narrow layers.
    "tiny": dict(
        level=2,
        num_shells=4,
        in_channels=2,
        graph_dims=[8, 16, 16],
        graph_depth=[0, 0, 0],
        radial_dims=[8, 16, 16],
        radial_layers=[1, 1, 1],
        head_dims=[16],
    ),
    # Trains on 2 CPU cores in minutes: level 3 (642 vertices), R = 8, 4 sub-spheres.
    "small": dict(
        level=3,
        num_shells=8,
        in_channels=4,
        graph_dims=[16, 32, 64, 128],
        graph_depth=[0, 1, 1, 0],
        radial_dims=[32, 64, 128, 256],
        radial_layers=[1, 1, 1, 1],
        radial_kernel=3,
        head_dims=[128],
        dropout=0.14,
    ),
}


class CSGNN(FromPreset, nn.Module):
    """Concentric spherical GNN classifier taking raw point clouds.

    Args:
        config: a :class:`CSGNNConfig`.

    Shapes:
        - points: ``(B, N, 3)`` float (any N ≥ 1); output logits ``(B, num_classes)``.
        - :meth:`forward_signal` takes the mapped signal ``(B, R, V, C)`` instead, so the
          mapping can run in data-loader workers (``model.mapping`` is that transform).

    Symmetry: logits exactly invariant (up to float rounding) to the 120 elements of I_h
    (the 60 icosahedral rotations aligned with the icosphere, and their products with the
    inversion), to translations and to permutations of the points; other rotations only
    approximately.

    Example:
        >>> model = CSGNN.from_preset("small", num_classes=5).eval()
        >>> model(torch.randn(2, 256, 3)).shape
        torch.Size([2, 5])
    """

    def __init__(self, config: CSGNNConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CSGNNConfig()
        config.validate()
        self.mapping = ConcentricSphericalMapping(config.mapping_config())
        self.backbone = SphericalBackbone(config)
        layers: list[nn.Module] = []
        width = config.out_features
        for hidden in config.head_dims:
            layers += [nn.Dropout(config.dropout), nn.Linear(width, hidden), make_norm(config.norm, hidden), nn.ReLU()]
            width = hidden
        layers += [nn.Dropout(config.dropout), nn.Linear(width, config.num_classes)]
        self.head = nn.Sequential(*layers)

    def forward_signal(self, signal: torch.Tensor) -> torch.Tensor:
        expected = self.mapping.out_shape
        if signal.dim() != 4 or tuple(signal.shape[1:]) != expected:
            raise EquisymError(f"signal must have shape (B, {', '.join(map(str, expected))}), got {tuple(signal.shape)}")
        return self.head(self.backbone(signal))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.forward_signal(self.mapping(points))

    def extra_repr(self) -> str:
        return f"config={to_dict(self.config)}"


