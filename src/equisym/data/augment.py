"""Point-cloud augmentations and rotation protocols (batched, seeded).

Training augmentation of Fox et al. (and PointNet): anisotropic scaling U(0.8, 1.2) per axis
→ rotation (none / about z / Haar-random SO(3)) → shift U(±0.1) per cloud → jitter
N(0, 0.01²) clipped at ±0.05. Rotations come from :mod:`equisym.geometry.rotations`
(Haar-uniform, unlike the Euler-angle sampling of the original code).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from equisym.errors import EquisymError
from equisym.geometry.rotations import random_rotation, random_z_rotation

__all__ = ["AugmentConfig", "Rotation", "random_rotations", "rotate_clouds", "augment_clouds"]

Rotation = Literal["none", "z", "so3"]


@dataclass
class AugmentConfig:
    """Training-time augmentation of point clouds."""

    rotation: Rotation = "z"
    """Random rotation of every training cloud: ``none``, ``z`` (about the vertical axis) or ``so3``."""
    scale_low: float = 0.8
    """Lower bound of the per-axis random scale (1 disables scaling with ``scale_high`` = 1)."""
    scale_high: float = 1.2
    """Upper bound of the per-axis random scale."""
    shift: float = 0.1
    """Random translation per cloud, uniform in ±shift (units of the normalised cloud)."""
    jitter: float = 0.01
    """Standard deviation of the per-point Gaussian noise."""
    jitter_clip: float = 0.05
    """Clip of the per-point noise."""

    def validate(self) -> None:
        if not 0 < self.scale_low <= self.scale_high:
            raise EquisymError("augment.scale_low must be positive and <= augment.scale_high")
        if self.shift < 0 or self.jitter < 0 or self.jitter_clip < 0:
            raise EquisymError("augment.shift, jitter and jitter_clip must be >= 0")


def random_rotations(mode: Rotation, n: int, generator: torch.Generator | int | None = None) -> torch.Tensor:
    """``n`` random rotation matrices ``(n, 3, 3)`` float64 for a protocol (``none`` gives identities)."""
    if mode == "none":
        return torch.eye(3, dtype=torch.float64).expand(n, 3, 3).clone()
    if mode == "z":
        return random_z_rotation(n, generator)
    if mode == "so3":
        return random_rotation(n, generator)
    raise EquisymError(f"unknown rotation mode {mode!r}; choose none, z or so3")


def rotate_clouds(points: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """Rotate each cloud by its matrix, in float64. Shapes: ``(B, N, 3)``, ``(B, 3, 3)`` → ``(B, N, 3)``."""
    return torch.einsum("bnj,bij->bni", points.double(), rotations.double()).to(points.dtype)


def augment_clouds(points: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the training augmentation to a batch ``(B, N, 3)``; returns a new tensor."""
    b = points.shape[0]
    x = points
    if cfg.scale_low != 1.0 or cfg.scale_high != 1.0:
        scale = torch.empty(b, 1, 3, dtype=x.dtype).uniform_(cfg.scale_low, cfg.scale_high, generator=generator)
        x = x * scale
    x = rotate_clouds(x, random_rotations(cfg.rotation, b, generator))
    if cfg.shift > 0:
        x = x + torch.empty(b, 1, 3, dtype=x.dtype).uniform_(-cfg.shift, cfg.shift, generator=generator)
    if cfg.jitter > 0:
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype) * cfg.jitter
        x = x + noise.clamp(-cfg.jitter_clip, cfg.jitter_clip)
    return x
