"""Lattices of wallpaper images: shapes per group, drawing a lattice, its isometries, and
the operation helpers shared by the texture and check modules.

Lattice vectors are rows ``(2, 2)`` in pixels with x = column, y = row; operations ``(R, t)``
act on fractional coordinates ``u -> R u + t`` of a basis.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS, PlaneGroup, plane_group

__all__ = ["ALLOWED_SHAPES", "sample_lattice", "lattice_isometries", "grid_size"]

#: Lattice shapes each group may be drawn on (specialisations of its lattice system included).
ALLOWED_SHAPES: dict[str, tuple[str, ...]] = {}
for _s in PLANE_GROUP_SYMBOLS:
    _g = plane_group(_s)
    if _g.lattice_system == "oblique":
        ALLOWED_SHAPES[_s] = ("oblique", "rectangular", "square", "rhombic", "hexagonal")
    elif _g.lattice_system == "rectangular" and not _g.centred:
        ALLOWED_SHAPES[_s] = ("rectangular", "square")
    elif _g.centred:
        ALLOWED_SHAPES[_s] = ("rhombic", "square", "hexagonal")
    else:
        ALLOWED_SHAPES[_s] = (_g.lattice_system,)


def _rot(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def sample_lattice(group: PlaneGroup, rng: np.random.Generator, cell: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, str, float]:
    """Draw a lattice for ``group``: conventional rows a, b (pixels), primitive rows (the same
    unless centred: a' = (a − b)/2, b' = (a + b)/2), the shape, the angle of a (degrees).

    The shape is uniform over ``ALLOWED_SHAPES[group]`` (specialisations included), the
    primitive-cell scale ``sqrt(area)`` uniform in ``cell`` (pixels) and the orientation
    uniform in [0°, 360°), all independent of the group's other properties.

    Shapes:
        - returns conventional ``(2, 2)``, primitive ``(2, 2)`` (rows, pixels, x = column,
          y = row), the shape name and the angle (float, degrees).
    """
    shape = ALLOWED_SHAPES[group.symbol][rng.integers(len(ALLOWED_SHAPES[group.symbol]))]
    L = rng.uniform(*cell)
    area = L * L  # primitive area
    if shape == "square":
        a, b, gamma = L, L, 90.0
    elif shape == "rectangular":
        r = rng.uniform(1.15, 2.0) ** rng.choice([-1, 1])
        a, b, gamma = L / np.sqrt(r), L * np.sqrt(r), 90.0
    elif shape == "hexagonal":
        a = b = np.sqrt(area / np.sin(np.pi / 3))
        gamma = 120.0
    elif shape == "rhombic":
        gamma = rng.choice([rng.uniform(66, 84), rng.uniform(96, 114)])
        a = b = np.sqrt(area / np.sin(np.deg2rad(gamma)))
    else:  # oblique: not close to any special metric
        while True:
            r = rng.uniform(1.15, 1.8)
            gamma = rng.uniform(64, 86) if rng.random() < 0.5 else rng.uniform(94, 116)
            a = np.sqrt(area / (r * np.sin(np.deg2rad(gamma))))
            b = r * a
            proj = abs(b * np.cos(np.deg2rad(gamma)))  # |a·b| / |a|
            if proj <= 0.5 * a and abs(2 * proj - a) > 0.15 * a:  # reduced basis, not centred rectangular
                break
    prim = np.array([[a, 0.0], [b * np.cos(np.deg2rad(gamma)), b * np.sin(np.deg2rad(gamma))]])
    if group.centred:
        # conventional centred cell: A = a + b, B = b - a (orthogonal since |a| = |b| for
        # rhombic/square/hexagonal primitive cells); centring (A + B)/2 = b.
        if shape == "square":
            gamma_r = 90.0
        elif shape == "hexagonal":
            gamma_r = 60.0 if rng.random() < 0.5 else 120.0
        else:
            gamma_r = gamma
        side = np.sqrt(area / np.sin(np.deg2rad(gamma_r)))
        pa = np.array([side, 0.0])
        pb = side * np.array([np.cos(np.deg2rad(gamma_r)), np.sin(np.deg2rad(gamma_r))])
        prim = np.stack([pa, pb])
        conv = np.stack([pa + pb, pb - pa])
    else:
        conv = prim
    theta = rng.uniform(0, 2 * np.pi)
    conv, prim = conv @ _rot(theta).T, prim @ _rot(theta).T
    return conv, prim, shape, float(np.rad2deg(np.arctan2(conv[0, 1], conv[0, 0])) % 360.0)


# ----------------------------------------------------------------------------- textures



def grid_size(lattice: np.ndarray, max_n: int) -> int:
    """Even side ``N`` of the texture grid of a cell: about one grid point per pixel of the
    longer cell vector (rows of ``lattice``, pixels), between 24 and ``max_n``."""
    side = float(np.linalg.norm(lattice, axis=1).max())
    return int(min(max_n, max(24, 2 * int(np.ceil(side * 0.5)))))  # ≥ 1 grid point per pixel


def _read_only(*arrays: np.ndarray):
    """Mark arrays kept in a cache read-only (callers share them); returns them."""
    for a in arrays:
        a.flags.writeable = False
    return arrays if len(arrays) > 1 else arrays[0]


def _ops_key(ops) -> tuple:
    """A hashable description of operations ``(R, t)`` (keys the per-group caches below):
    one ``bytes`` per operation, R as 4 int64 then t as 2 float64."""
    return tuple(np.asarray(op.R, np.int64).tobytes() + np.asarray(op.t, np.float64).tobytes() for op in ops)


@lru_cache(maxsize=128)
def _op_arrays(key: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The linear parts ``(|G|, 2, 2)`` int64 and translations ``(|G|, 2)`` of ``_ops_key(ops)``."""
    Rs = np.stack([np.frombuffer(k[:32], np.int64).reshape(2, 2) for k in key])
    ts = np.stack([np.frombuffer(k[32:], np.float64) for k in key])
    return _read_only(Rs, ts)



_INT_MATRICES = np.array(
    [m.reshape(2, 2) for m in np.array(np.meshgrid(*[[-1, 0, 1]] * 4, indexing="ij")).reshape(4, -1).T
     if abs(round(np.linalg.det(m.reshape(2, 2)))) == 1],
    dtype=np.int64,
)  # fmt: skip


def lattice_isometries(B: np.ndarray, tol: float = 1e-6) -> list[np.ndarray]:
    """Every isometry of the lattice of the reduced basis ``B`` (columns, pixels): the integer
    matrices R with RᵀGR = G (G = BᵀB, relative tolerance ``tol``). In a reduced basis their
    entries lie in −1..1, so these are all of them: 2 (oblique), 4 (rectangular, rhombic),
    8 (square) or 12 (hexagonal)."""
    G = B.T @ B
    RGR = np.einsum("kji,jl,klm->kim", _INT_MATRICES, G, _INT_MATRICES)
    ok = np.all(np.abs(RGR - G) <= tol * np.abs(G).max(), axis=(1, 2))
    return list(_INT_MATRICES[ok])


