"""The icosphere hierarchy: subdivided icosahedra with the prefix property.

Level 0 is the icosahedron (12 vertices, :func:`equisym.geometry.icosahedron_vertices`).
Level l+1 keeps the vertices of level l in the same order and appends one new vertex per
edge (its midpoint pushed to the unit sphere), edges taken in lexicographic order of their
sorted endpoint indices; each face (a, b, c) becomes (a, ab, ca), (ab, b, bc), (ca, bc, c),
(ab, bc, ca), the first replacing its parent in place and the others appended.

Counts: V_l = 10·4^l + 2 vertices, F_l = 20·4^l faces, E_l = 30·4^l edges.
Vertex degree is 5 for the 12 original vertices and 6 for all others.

Symmetry: every level is mapped onto itself, as a permutation of its vertices, by each of
the 60 rotations of :func:`equisym.geometry.icosahedral_rotations` (and by the inversion),
because subdivision commutes with rotations; :func:`icosahedral_permutations` gives these
permutations. Everything is computed once per level and cached.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse
import torch
from scipy.spatial import cKDTree

from equisym.geometry.rotations import icosahedral_rotations, icosahedron_faces, icosahedron_vertices

__all__ = [
    "MAX_LEVEL",
    "Icosphere",
    "icosphere",
    "num_vertices",
    "pooling_windows",
    "icosahedral_permutations",
    "pooling_window_sizes",
    "nearest_vertices",
]

MAX_LEVEL = 6


def num_vertices(level: int) -> int:
    """V_l = 10·4^l + 2."""
    return 10 * 4**level + 2


@dataclass(frozen=True)
class Icosphere:
    """One level of the hierarchy (read-only numpy arrays).

    Shapes:
        - vertices: ``(V, 3)`` float64 unit vectors.
        - faces: ``(F, 3)`` int64 vertex indices, outward winding.
        - neighbors: ``(V, 6)`` int64; the 12 degree-5 vertices have ``-1`` in the last slot.
        - degree: ``(V,)`` int64 (5 or 6; 5 for all 12 vertices of level 0).
        - mean_edge_length: float, on the unit sphere.
    """

    level: int
    vertices: np.ndarray
    faces: np.ndarray
    neighbors: np.ndarray
    degree: np.ndarray
    mean_edge_length: float

    @property
    def num_vertices(self) -> int:
        return len(self.vertices)

    def edges(self) -> np.ndarray:
        """Undirected edges ``(E, 2)`` with ``i < j``, sorted."""
        return _edges(self.faces)

    def adjacency(self, self_loops: bool = True, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Sparse CSR 0/1 adjacency ``(V, V)`` of the mesh graph (symmetric), with self loops."""
        edges = self.edges()
        rows = [edges[:, 0], edges[:, 1]]
        cols = [edges[:, 1], edges[:, 0]]
        if self_loops:
            idx = np.arange(self.num_vertices)
            rows.append(idx)
            cols.append(idx)
        return _csr(np.concatenate(rows), np.concatenate(cols), None, (self.num_vertices,) * 2, dtype)


def _edges(faces: np.ndarray) -> np.ndarray:
    pairs = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    pairs.sort(axis=1)
    return np.unique(pairs, axis=0)


def _csr(rows, cols, values, shape, dtype) -> torch.Tensor:
    """A sparse CSR tensor from coordinate lists (duplicates summed)."""
    values = np.ones(len(rows)) if values is None else values
    mat = scipy.sparse.csr_matrix((values, (rows, cols)), shape=shape)
    mat.sum_duplicates()
    mat.sort_indices()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.as_tensor(mat.indptr, dtype=torch.int64),
            torch.as_tensor(mat.indices, dtype=torch.int64),
            torch.as_tensor(mat.data, dtype=dtype),
            shape,
            check_invariants=True,
        )


@lru_cache(maxsize=None)
def _subdivided(level: int) -> tuple[np.ndarray, np.ndarray]:
    if level == 0:
        return icosahedron_vertices().numpy(), icosahedron_faces().numpy()
    verts, faces = _subdivided(level - 1)
    edges = _edges(faces)
    n = len(verts)
    midpoints = verts[edges[:, 0]] + verts[edges[:, 1]]
    midpoints /= np.linalg.norm(midpoints, axis=1, keepdims=True)
    key = {(int(a), int(b)): n + k for k, (a, b) in enumerate(edges)}

    def mid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.array([key[(min(x, y), max(x, y))] for x, y in zip(a.tolist(), b.tolist())])

    a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
    ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
    children = [np.stack(f, axis=1) for f in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))]
    new_faces = np.concatenate(children)  # child 0 of face k stays at index k
    return np.concatenate([verts, midpoints]), new_faces


def _check_level(level: int) -> None:
    if not (isinstance(level, (int, np.integer)) and 0 <= level <= MAX_LEVEL):
        raise ValueError(f"icosphere level must be an integer in 0..{MAX_LEVEL}, got {level!r}")


@lru_cache(maxsize=None)
def icosphere(level: int) -> Icosphere:
    """The icosphere of subdivision ``level`` (0..6), cached.

    Example:
        >>> s = icosphere(2)
        >>> s.num_vertices, len(s.faces), int(s.degree.min()), int(s.degree.max())
        (162, 320, 5, 6)
    """
    _check_level(level)
    verts, faces = _subdivided(level)
    edges = _edges(faces)
    n = len(verts)
    neighbors = np.full((n, 6), -1, dtype=np.int64)
    degree = np.zeros(n, dtype=np.int64)
    for i, j in np.concatenate([edges, edges[:, ::-1]]):
        neighbors[i, degree[i]] = j
        degree[i] += 1
    lengths = np.linalg.norm(verts[edges[:, 0]] - verts[edges[:, 1]], axis=1)
    for arr in (verts, faces, neighbors, degree):
        arr.setflags(write=False)
    return Icosphere(level, verts, faces, neighbors, degree, float(lengths.mean()))


@lru_cache(maxsize=None)
def pooling_windows(level: int) -> np.ndarray:
    """1-ring pooling windows from level ``level + 1`` down to ``level``.

    Window ``c`` (for each vertex ``c`` of the coarse level) is ``c`` itself followed by its
    neighbours in the *fine* graph (5 for the 12 original vertices, 6 otherwise), indices into
    the fine level. Windows of size 6 are padded with ``c`` (harmless for max pooling; use
    :func:`pooling_window_sizes` to average). Every new fine vertex lies in exactly 2 windows.

    Shapes:
        - output: ``(V_level, 7)`` int64.
    """
    _check_level(level + 1)
    fine = icosphere(level + 1)
    n = num_vertices(level)
    windows = np.concatenate([np.arange(n)[:, None], fine.neighbors[:n]], axis=1)
    windows = np.where(windows < 0, np.arange(n)[:, None], windows)
    windows.setflags(write=False)
    return windows


def pooling_window_sizes(level: int) -> np.ndarray:
    """Number of distinct vertices in each pooling window of :func:`pooling_windows` (6 or 7)."""
    return 1 + icosphere(level + 1).degree[: num_vertices(level)]


@lru_cache(maxsize=None)
def icosahedral_permutations(level: int) -> np.ndarray:
    """Vertex permutations induced by the 60 icosahedral rotations at ``level``.

    ``perm[g, v] = w`` means rotation ``g`` (element ``g`` of
    :func:`equisym.geometry.icosahedral_rotations`) maps vertex ``v`` onto vertex ``w``; a
    signal ``s`` on the vertices transforms as ``s'[perm[g]] = s``.

    Shapes:
        - output: ``(60, V)`` int64.
    """
    sphere = icosphere(level)
    tree = cKDTree(sphere.vertices)
    rotated = np.einsum("gij,vj->gvi", icosahedral_rotations().numpy(), sphere.vertices)
    dist, perm = tree.query(rotated.reshape(-1, 3))
    if dist.max() > 1e-9:  # pragma: no cover - a broken construction, not a user error
        raise RuntimeError(f"icosphere level {level} is not icosahedrally symmetric ({dist.max():.2e})")
    perm = perm.reshape(60, -1).astype(np.int64)
    perm.setflags(write=False)
    return perm



@lru_cache(maxsize=None)
def _vertex_tree(level: int) -> cKDTree:
    return cKDTree(icosphere(level).vertices)


def nearest_vertices(directions: torch.Tensor, level: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` icosphere vertices nearest to each direction (exact, KD-tree on the CPU).

    Args:
        directions: unit vectors; on a GPU they are searched on the CPU and moved back.
        level: icosphere level searched.
        k: number of vertices per direction.

    Shapes:
        - directions: ``(P, 3)``.
        - returns ``(cosines, indices)``: ``(P, k)`` in the dtype of ``directions`` and int64,
          sorted from nearest to farthest; ``cosines[p, j] = directions[p] · vertex[indices[p, j]]``.
    """
    _check_level(level)
    query = directions.detach().to("cpu", torch.float64).numpy()
    _, idx = _vertex_tree(level).query(query, k=k)
    idx = torch.as_tensor(idx.reshape(len(query), k), dtype=torch.int64, device=directions.device)
    vertices = torch.tensor(icosphere(level).vertices, dtype=directions.dtype, device=directions.device)
    cosines = (vertices[idx] * directions[:, None, :]).sum(-1)
    return cosines, idx
