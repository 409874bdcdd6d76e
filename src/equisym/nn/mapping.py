"""Point cloud → concentric spherical signal.

A cloud is centred on its centroid and scaled by its largest norm so that all points lie
in the unit ball. The ball is cut into ``R`` concentric shells of width ``1/R``; the
directions are sampled at the vertices of an icosphere of a given level. Each point
contributes to the vertices nearest to its direction, in its own shell:

- ``kernel`` mode (Fox et al.): each shell holds ``e`` sub-spheres at radii
  ``r_{i,k} = i/R + (k+1)/(R e)`` (k = 0..e−1) used as the ``e`` input channels; a point p in
  shell i adds ``exp(−γ_i ‖r_{i,k} v − p‖²)`` at each of its ``K`` = 3 nearest vertices v,
  with ``γ_i = −ln T / d_max,i²`` where ``d_max,i`` is the largest distance between the
  corners of the prism that face 0 of the mesh spans between the two spheres bounding shell
  i (the origin replaces the inner face for i = 0), so the RBF falls to ``T`` across a prism.
- ``constant`` mode: each point adds 1 at its ``K`` nearest vertices (a histogram, 1 channel).

**Continuity (our change).** The hard "K nearest vertices" rule and the hard shell
boundaries make the original mapping discontinuous: float rounding of a rotated cloud can
flip a point between its 3rd and 4th nearest vertex and change the signal by ~0.1. Here a
vertex at distance d gets weight ``S((m − d)/δ)``, where ``m`` is the midpoint between the
K-th and (K+1)-th nearest distances and ``S`` a C¹ step from 0 (at −1) to 1 (at +1); points
within ``δ`` of a shell boundary are split between both shells the same way. Away from those
thin bands (``δ`` = ``tie_width`` × the mean edge length, resp. × the shell width) this *is*
the original mapping; inside them it interpolates, so the signal is a continuous function of
the points.

Symmetry: for every rotation g of the 60-element icosahedral group aligned with the icosphere
(and for the inversion), ``mapping(g·x) = P_g mapping(x)`` with ``P_g`` the vertex permutation
of :func:`equisym.geometry.icosahedral_permutations`, up to float rounding; the signal is
invariant to translations and to permutations of the points. Other rotations are only
approximately equivariant (the grid is discrete).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from equisym.errors import EquisymError
from equisym.geometry.icosphere import icosphere, nearest_vertices
from equisym.geometry.switching import smoothstep

__all__ = ["MappingConfig", "ConcentricSphericalMapping", "shell_gammas", "check_point_clouds"]

_NUM_CANDIDATES = 8  # vertices examined per point; enough to hold every vertex a tie band can reach


@dataclass
class MappingConfig:
    """Hyperparameters of :class:`ConcentricSphericalMapping`."""

    level: int = 3
    """Icosphere level of the directions (0..6): 10·4^level + 2 vertices per shell."""
    num_shells: int = 8
    """Number R of concentric shells between the centroid and the farthest point."""
    mode: Literal["kernel", "constant"] = "kernel"
    """``kernel``: Gaussian RBF on ``subspheres`` sub-spheres per shell; ``constant``: counts."""
    subspheres: int = 4
    """Sub-spheres per shell in ``kernel`` mode (the input channels; the paper uses 8)."""
    threshold: float = 0.01
    """RBF value T reached at the farthest corner of a shell prism (sets γ_i)."""
    neighbors: int = 3
    """Number K of nearest vertices each point contributes to."""
    tie_width: float = 0.01
    """Half-width δ of the tie bands, as a fraction of the mean edge length / shell width."""
    center: bool = True
    """Subtract the centroid first (translation invariance). ``False`` keeps the origin, as the paper."""

    @property
    def channels(self) -> int:
        return self.subspheres if self.mode == "kernel" else 1

    def validate(self) -> None:
        if not 0 <= self.level <= 6:
            raise EquisymError(f"mapping.level must be in 0..6, got {self.level}")
        if self.num_shells < 1 or self.subspheres < 1:
            raise EquisymError("mapping.num_shells and mapping.subspheres must be >= 1")
        if not 1 <= self.neighbors < _NUM_CANDIDATES:
            raise EquisymError(f"mapping.neighbors must be in 1..{_NUM_CANDIDATES - 1}")
        if not 0 < self.threshold < 1:
            raise EquisymError(f"mapping.threshold must be in (0, 1), got {self.threshold}")
        if not 0 < self.tie_width < 0.5:
            raise EquisymError(f"mapping.tie_width must be in (0, 0.5), got {self.tie_width}")


def shell_gammas(level: int, num_shells: int, threshold: float) -> np.ndarray:
    """Per-shell RBF widths γ_i = −ln T / d_max,i² (radius normalised to 1).

    ``d_max,i`` is the largest pairwise distance among the corners of face 0 of the level's
    mesh placed on the spheres of radius i/R and (i+1)/R (for i = 0: on radius 1/R, plus the
    origin).

    Shapes:
        - output: ``(num_shells,)`` float64.
    """
    sphere = icosphere(level)
    corners = sphere.vertices[sphere.faces[0]]
    gammas = []
    for i in range(num_shells):
        outer = corners * (i + 1) / num_shells
        inner = corners * i / num_shells if i > 0 else np.zeros((1, 3))
        pts = np.concatenate([inner, outer])
        d_max = np.max(np.linalg.norm(pts[:, None] - pts[None], axis=-1))
        gammas.append(-math.log(threshold) / d_max**2)
    return np.asarray(gammas)


def check_point_clouds(points: torch.Tensor, name: str = "points") -> torch.Tensor:
    """Validate a batch of clouds ``(B, N, 3)`` (or one cloud ``(N, 3)``); return ``(B, N, 3)``.

    Raises:
        EquisymError: wrong shape, non-floating dtype, empty cloud, non-finite coordinates, or
            a cloud whose points all coincide.
    """
    if not isinstance(points, torch.Tensor):
        raise EquisymError(f"{name} must be a torch.Tensor of shape (B, N, 3), got {type(points).__name__}")
    if points.dim() == 2:
        points = points.unsqueeze(0)
    if points.dim() != 3 or points.shape[-1] != 3:
        raise EquisymError(f"{name} must have shape (B, N, 3) or (N, 3), got {tuple(points.shape)}")
    if not points.is_floating_point():
        raise EquisymError(f"{name} must be a floating-point tensor, got {points.dtype}")
    if points.shape[1] == 0:
        raise EquisymError(f"{name} holds clouds with no points")
    finite = torch.isfinite(points).all(dim=(1, 2))
    if not bool(finite.all()):
        bad = int(torch.nonzero(~finite)[0])
        raise EquisymError(f"{name}: cloud {bad} has NaN or infinite coordinates")
    spread = (points - points.mean(1, keepdim=True)).norm(dim=-1).amax(1)
    if bool((spread <= 0).any()):
        bad = int(torch.nonzero(spread <= 0)[0])
        raise EquisymError(f"{name}: all points of cloud {bad} coincide; the cloud has no shape")
    return points


class ConcentricSphericalMapping(nn.Module):
    """Map point clouds to signals on concentric icospheres (no learnable parameters).

    See the module docstring for the construction and its symmetry.

    Args:
        config: a :class:`MappingConfig`.

    Shapes:
        - points: ``(B, N, 3)`` (or ``(N, 3)``), any floating dtype, any length unit.
        - output: ``(B, R, V, C)`` in the dtype of ``points``, with R = ``num_shells``,
          V = 10·4^level + 2, C = ``config.channels``.

    Example:
        >>> mapping = ConcentricSphericalMapping(MappingConfig(level=2, num_shells=4))
        >>> mapping(torch.randn(2, 100, 3)).shape
        torch.Size([2, 4, 162, 4])
    """

    def __init__(self, config: MappingConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MappingConfig()
        config.validate()
        sphere = icosphere(config.level)
        self.num_vertices = sphere.num_vertices
        self.vertex_tie_width = config.tie_width * sphere.mean_edge_length
        gammas = shell_gammas(config.level, config.num_shells, config.threshold)
        self.register_buffer("gammas", torch.as_tensor(gammas, dtype=torch.float32), persistent=False)
        e, r = config.subspheres, config.num_shells
        radii = np.arange(r)[:, None] / r + (np.arange(e)[None, :] + 1) / (r * e)
        self.register_buffer("radii", torch.as_tensor(radii, dtype=torch.float32), persistent=False)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """``(R, V, C)`` of one signal."""
        return self.config.num_shells, self.num_vertices, self.config.channels

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        points = check_point_clouds(points)
        batch, n_points, _ = points.shape
        # geometry in float64: the weights below must not depend on float32 rounding
        x = points.double()
        if cfg.center:
            x = x - x.mean(dim=1, keepdim=True)
        x = (x / x.norm(dim=-1).amax(dim=1)[:, None, None]).reshape(-1, 3)
        norm = x.norm(dim=-1)
        direction = x / norm.clamp_min(1e-12)[:, None]

        # tie-smoothed K nearest vertices (chord distances on the unit sphere)
        cos, vert = nearest_vertices(direction, cfg.level, _NUM_CANDIDATES)
        dist = (2.0 - 2.0 * cos).clamp_min(0.0).sqrt()
        k = cfg.neighbors
        mid = 0.5 * (dist[:, k - 1] + dist[:, k])
        w_vert = smoothstep(0.5 + (mid[:, None] - dist) / (2 * self.vertex_tie_width))  # (P, 8)

        # tie-smoothed shell membership: two candidate shells per point
        rho = norm * cfg.num_shells
        delta = cfg.tie_width
        lo = torch.floor(rho - delta).clamp(0, cfg.num_shells - 1).long()
        hi = torch.floor(rho + delta).clamp(0, cfg.num_shells - 1).long()
        w_hi = smoothstep(0.5 + (rho - hi.double()) / (2 * delta))
        w_hi = torch.where(lo == hi, torch.ones_like(w_hi), w_hi)
        shells = torch.stack([lo, hi], dim=1)  # (P, 2)
        w_shell = torch.stack([1.0 - w_hi, w_hi], dim=1)

        # only the (point, shell, vertex) entries with a non-zero weight: ~3 of the 16 per point
        work = self.radii.dtype
        weight = w_shell[:, :, None] * w_vert[:, None, :]  # (P, 2, 8)
        point, slot, cand = torch.nonzero(weight > 0, as_tuple=True)
        shell = shells[point, slot]
        w = weight[point, slot, cand].to(work)[:, None]
        if cfg.mode == "kernel":
            # |r v − p|² = r² + |p|² − 2 r |p| cos(v, p), for the e sub-sphere radii r of the shell
            r = self.radii[shell]  # (M, e)
            n = norm[point].to(work)[:, None]
            c = cos[point, cand].to(work)[:, None]
            sq = (r * r + n * n - 2.0 * r * n * c).clamp_min(0.0)
            values = w * torch.exp(-self.gammas[shell][:, None] * sq)
        else:
            values = w
        batch_index = torch.div(point, n_points, rounding_mode="floor")
        flat = (batch_index * cfg.num_shells + shell) * self.num_vertices + vert[point, cand]
        out = torch.zeros(batch * cfg.num_shells * self.num_vertices, cfg.channels, dtype=work, device=x.device)
        out.index_add_(0, flat, values)
        return out.reshape(batch, cfg.num_shells, self.num_vertices, cfg.channels).to(points.dtype)
