"""Rotations: Haar-random SO(3), rotations about z, O(3), and the icosahedral group.

All functions return float64 tensors unless a ``dtype`` is given; matrices act on column
vectors (``x' = R @ x``), so a point cloud ``(N, 3)`` rotates as ``points @ R.T``.
"""

from __future__ import annotations

from functools import lru_cache

import torch

__all__ = [
    "random_rotation",
    "random_z_rotation",
    "random_o3",
    "axis_angle_rotation",
    "icosahedral_rotations",
    "icosahedron_vertices",
    "icosahedron_faces",
]

_T = (1.0 + 5.0**0.5) / 2.0


def _generator(seed_or_generator: int | torch.Generator | None) -> torch.Generator | None:
    if seed_or_generator is None or isinstance(seed_or_generator, torch.Generator):
        return seed_or_generator
    gen = torch.Generator()
    gen.manual_seed(int(seed_or_generator))
    return gen


def random_rotation(
    n: int | None = None,
    generator: int | torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Haar-uniform random rotations of SO(3), from uniformly random unit quaternions.

    Args:
        n: number of rotations; ``None`` returns a single ``(3, 3)`` matrix.
        generator: a seed or a ``torch.Generator`` (``None`` uses the global RNG).
        dtype: floating dtype of the result.

    Shapes:
        - output: ``(3, 3)`` or ``(n, 3, 3)``, orthogonal with determinant +1.
    """
    gen = _generator(generator)
    q = torch.randn((1 if n is None else n, 4), generator=gen, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q.unbind(1)
    mat = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ],
        dim=1,
    ).reshape(-1, 3, 3).to(dtype)
    return mat[0] if n is None else mat


def random_z_rotation(
    n: int | None = None,
    generator: int | torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Rotations about the z axis by uniformly random angles in [0, 2π).

    Shapes:
        - output: ``(3, 3)`` or ``(n, 3, 3)``.
    """
    gen = _generator(generator)
    angle = torch.rand(1 if n is None else n, generator=gen, dtype=torch.float64) * 2 * torch.pi
    axis = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).expand(angle.shape[0], 3)
    mat = axis_angle_rotation(axis, angle).to(dtype)
    return mat[0] if n is None else mat


def random_o3(
    n: int | None = None,
    generator: int | torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """Haar-random elements of O(3): a random rotation times ±1 (inversion with probability ½).

    Shapes:
        - output: ``(3, 3)`` or ``(n, 3, 3)``; determinant ±1.
    """
    gen = _generator(generator)
    rot = random_rotation(1 if n is None else n, gen, torch.float64)
    sign = torch.where(torch.rand(rot.shape[0], generator=gen, dtype=torch.float64) < 0.5, -1.0, 1.0)
    mat = (rot * sign[:, None, None]).to(dtype)
    return mat[0] if n is None else mat


def axis_angle_rotation(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: rotation by ``angle`` (radians) about ``axis`` (need not be unit).

    Shapes:
        - axis: ``(..., 3)``; angle: ``(...)``; output: ``(..., 3, 3)``.
    """
    axis = torch.as_tensor(axis, dtype=torch.float64)
    angle = torch.as_tensor(angle, dtype=torch.float64)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*x.shape, 3, 3)
    s, c = torch.sin(angle)[..., None, None], torch.cos(angle)[..., None, None]
    eye = torch.eye(3, dtype=torch.float64).expand_as(k)
    return eye + s * k + (1 - c) * (k @ k)


def icosahedron_vertices() -> torch.Tensor:
    """The 12 unit vertices of the base icosahedron, in the order used by the icosphere.

    Order: (−1,t,0), (1,t,0), (−1,−t,0), (1,−t,0), (0,−1,t), (0,1,t), (0,−1,−t), (0,1,−t),
    (t,0,−1), (t,0,1), (−t,0,−1), (−t,0,1), divided by √(1+t²), t = golden ratio.

    Shapes:
        - output: ``(12, 3)`` float64.
    """
    t = _T
    v = torch.tensor(
        [
            [-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0],
            [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
            [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1],
        ],
        dtype=torch.float64,
    )
    return v / v.norm(dim=1, keepdim=True)


def icosahedron_faces() -> torch.Tensor:
    """The 20 faces of the base icosahedron as vertex triples (outward winding).

    Shapes:
        - output: ``(20, 3)`` int64.
    """
    return torch.tensor(
        [
            [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
            [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
            [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
            [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
        ],
        dtype=torch.int64,
    )


def _frame(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Right-handed orthonormal frame (columns) from a unit vector ``a`` and a non-parallel ``b``."""
    e2 = b - (b @ a) * a
    e2 = e2 / e2.norm()
    return torch.stack([a, e2, torch.linalg.cross(a, e2)], dim=1)


@lru_cache(maxsize=1)
def _icosahedral_rotations() -> torch.Tensor:
    verts = icosahedron_vertices()
    edge = (verts[0] - verts[1]).norm()
    dist = torch.cdist(verts, verts, compute_mode="donot_use_mm_for_euclid_dist")
    neighbours = [torch.nonzero((dist[i] - edge).abs() < 1e-9).flatten() for i in range(12)]
    ref = _frame(verts[0], verts[int(neighbours[0][0])])
    mats = []
    for a in range(12):
        for b in neighbours[a]:
            mats.append(_frame(verts[a], verts[int(b)]) @ ref.T)
    group = torch.stack(mats)
    # put the identity first, a convention tests rely on
    order = torch.argsort((group - torch.eye(3, dtype=torch.float64)).abs().sum((1, 2)))
    return group[order]


def icosahedral_rotations() -> torch.Tensor:
    """The 60 proper rotations of the icosahedral group I, aligned with the icosphere.

    Every element maps the 12 base vertices (and hence every subdivision level of the
    icosphere) onto itself; the identity is element 0. Together with ``-R`` for each
    element this gives the full group I_h = I × {±1} of order 120.

    Shapes:
        - output: ``(60, 3, 3)`` float64 (a fresh copy; safe to modify).
    """
    return _icosahedral_rotations().clone()
