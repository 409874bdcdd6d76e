"""Simulated scanning of a mesh: uneven point density, sensor noise, single-view visibility.

:func:`scan_mesh` turns a triangle mesh into a point cloud the way a depth sensor would see
it: points are drawn area-uniformly on the surface, thinned by a smooth random density
field (denser on one side), optionally restricted to the part visible from one viewpoint
(an orthographic z-buffer), normalised into the unit ball and perturbed by Gaussian noise.

Geometry is kept in the object's frame (z up); only the viewpoint and density direction
are random, so an upright object stays upright.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from equisym.data.meshes import sample_mesh_surface

__all__ = ["ScanConfig", "scan_mesh", "visible_points", "normalise_cloud"]


@dataclass
class ScanConfig:
    """How a mesh is turned into a point cloud (lengths in units of the normalised cloud, radius 1)."""

    noise_low: float = 0.005
    """Smallest per-cloud standard deviation of the Gaussian sensor noise."""
    noise_high: float = 0.025
    """Largest per-cloud standard deviation of the Gaussian sensor noise."""
    density_strength: float = 3.5
    """Largest log-ratio of the densest to the sparsest side (0: uniform density)."""
    partial: bool = False
    """Keep only the points visible from one random viewpoint (a single-view scan)."""
    elevation_low: float = 0.0
    """Lowest viewpoint elevation above the horizon (degrees)."""
    elevation_high: float = 60.0
    """Highest viewpoint elevation above the horizon (degrees)."""
    resolution: int = 48
    """Pixels across the unit ball of the visibility z-buffer."""
    depth_tolerance: float = 0.03
    """A point is visible when it lies within this depth of the nearest surface in its pixel."""


def normalise_cloud(points: np.ndarray) -> np.ndarray:
    """Centre on the bounding box and scale to maximum norm 1. Shapes: ``(N, 3)`` → ``(N, 3)``."""
    points = points - (points.max(0) + points.min(0)) / 2
    return points / max(np.linalg.norm(points, axis=1).max(), 1e-12)


def visible_points(points: np.ndarray, direction: np.ndarray, resolution: int, tolerance: float) -> np.ndarray:
    """Mask of the points seen by an orthographic camera looking along ``-direction``.

    The points are binned in a ``resolution × resolution`` image over ``[-1, 1]²`` of the view
    plane; a point is visible when its depth towards the camera is within ``tolerance`` of
    the largest depth in its pixel (a z-buffer on the sampled points).

    Shapes:
        - points ``(N, 3)`` (inside the unit ball), direction ``(3,)`` → mask ``(N,)`` bool.
    """
    w = direction / np.linalg.norm(direction)
    helper = np.array([0.0, 0.0, 1.0]) if abs(w[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(helper, w)
    u /= np.linalg.norm(u)
    v = np.cross(w, u)
    depth = points @ w
    pix = np.clip(((np.stack([points @ u, points @ v], 1) + 1) / 2 * resolution).astype(np.int64), 0, resolution - 1)
    cell = pix[:, 0] * resolution + pix[:, 1]
    front = np.full(resolution * resolution, -np.inf)
    np.maximum.at(front, cell, depth)
    return depth >= front[cell] - tolerance


def scan_mesh(vertices: np.ndarray, faces: np.ndarray, num_points: int, rng: np.random.Generator, cfg: ScanConfig | None = None) -> np.ndarray:
    """A simulated scan of a mesh: ``num_points`` points, float32, in the unit ball.

    Steps: area-uniform surface samples (4× oversampled; 10× for partial scans) → optional
    visibility from a random viewpoint → thinning with probability ∝ ``exp(s · p·d)`` for a
    random direction ``d`` and strength ``s ≤ density_strength`` → normalisation (bounding-box
    centre, max norm 1) → Gaussian noise of a random standard deviation.

    Shapes:
        - vertices ``(V, 3)``, faces ``(F, 3)`` → ``(num_points, 3)`` float32.
    """
    cfg = cfg or ScanConfig()
    oversample = 10 if cfg.partial else 4
    dense = normalise_cloud(sample_mesh_surface(vertices, faces, oversample * num_points, rng))
    if cfg.partial:
        azimuth = rng.uniform(0, 2 * np.pi)
        elevation = np.deg2rad(rng.uniform(cfg.elevation_low, cfg.elevation_high))
        view = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
        seen = dense[visible_points(dense, view, cfg.resolution, cfg.depth_tolerance)]
        dense = seen if len(seen) >= num_points // 4 else dense
    d = rng.normal(size=3)
    d /= np.linalg.norm(d)
    logits = rng.uniform(0, cfg.density_strength) * (dense @ d)
    if len(dense) >= num_points:  # weighted draw without replacement (exponential keys)
        keys = np.log(rng.uniform(1e-300, 1.0, len(dense))) / np.exp(logits - logits.max())
        keep = np.argpartition(-keys, num_points - 1)[:num_points]
    else:
        keep = rng.choice(len(dense), size=num_points)
    points = normalise_cloud(dense[keep])
    points = points + rng.normal(scale=rng.uniform(cfg.noise_low, cfg.noise_high), size=points.shape)
    return points.astype(np.float32)
