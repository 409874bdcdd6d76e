"""Parametric triangle-mesh parts (boxes, frustums, cones, spheres, tori, swept profiles).

:class:`MeshBuilder` collects parts into one triangle mesh ``(vertices, faces)``; every part
is placed by a centre (or end points) and an optional rotation, so objects are assembled
from a few calls. Surfaces of revolution (:meth:`MeshBuilder.revolve`) and tubes swept along
a polyline (:meth:`MeshBuilder.tube`) cover the curved parts (vases, handles, frames).
Parts may overlap; nothing is merged or closed. Lengths are in arbitrary object units.

Example:
    >>> m = MeshBuilder(); m.box((0, 0, 0.5), (1, 1, 1)); m.cylinder((0, 0, 1), (0, 0, 2), 0.2)
    >>> v, f = m.mesh(); v.shape[1], f.shape[1]
    (3, 3)
"""

from __future__ import annotations

import numpy as np

__all__ = ["MeshBuilder", "frame_from_axis", "rotation_z", "rotation_y", "rotation_x"]


def rotation_z(angle: float) -> np.ndarray:
    """Rotation matrix ``(3, 3)`` by ``angle`` (radians) about z."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_y(angle: float) -> np.ndarray:
    """Rotation matrix ``(3, 3)`` by ``angle`` (radians) about y."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_x(angle: float) -> np.ndarray:
    """Rotation matrix ``(3, 3)`` by ``angle`` (radians) about x."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def frame_from_axis(axis) -> np.ndarray:
    """A rotation ``(3, 3)`` whose third column is the unit vector along ``axis``."""
    w = np.asarray(axis, float)
    w = w / np.linalg.norm(w)
    helper = np.array([1.0, 0.0, 0.0]) if abs(w[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(w, helper)
    u /= np.linalg.norm(u)
    return np.stack([u, np.cross(w, u), w], axis=1)


def _grid_faces(rows: int, cols: int, closed: bool = True) -> np.ndarray:
    """Quads of a ``rows × cols`` vertex grid (wrapping over columns if ``closed``), as triangles."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols if closed else cols - 1), indexing="ij")
    a = r * cols + c
    b = r * cols + (c + 1) % cols
    d, e = a + cols, b + cols
    return np.concatenate([np.stack([a, b, e], -1).reshape(-1, 3), np.stack([a, e, d], -1).reshape(-1, 3)])


class MeshBuilder:
    """Accumulates mesh parts; :meth:`mesh` returns the union as ``(vertices, faces)``."""

    def __init__(self) -> None:
        self._vertices: list[np.ndarray] = []
        self._faces: list[np.ndarray] = []
        self._count = 0

    def add(self, vertices: np.ndarray, faces: np.ndarray, rotation=None, centre=(0.0, 0.0, 0.0)) -> None:
        """Add a part given in local coordinates: ``x ↦ rotation @ x + centre``."""
        v = np.asarray(vertices, float)
        if rotation is not None:
            v = v @ np.asarray(rotation, float).T
        self._vertices.append(v + np.asarray(centre, float))
        self._faces.append(np.asarray(faces, np.int64) + self._count)
        self._count += len(v)

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """Shapes: ``vertices (V, 3)`` float64, ``faces (F, 3)`` int64."""
        return np.concatenate(self._vertices), np.concatenate(self._faces)

    # -- parts -----------------------------------------------------------------------------
    def box(self, centre, size, rotation=None) -> None:
        """An axis-aligned box of edge lengths ``size`` (then rotated) centred at ``centre``."""
        corners = (np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])) * np.asarray(size, float)
        faces = np.array([
            [0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
            [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3],
        ])
        self.add(corners, faces, rotation, centre)

    def revolve(self, profile, centre=(0.0, 0.0, 0.0), rotation=None, segments: int = 24, caps=(True, True)) -> None:
        """A surface of revolution about the local z axis.

        Args:
            profile: ``(K, 2)`` points ``(radius, z)`` from bottom to top.
            caps: close the bottom / top ring with a disc (skipped where the radius is 0).
        """
        prof = np.asarray(profile, float)
        theta = np.linspace(0, 2 * np.pi, segments, endpoint=False)
        ring = np.stack([np.cos(theta), np.sin(theta)], 1)
        verts = np.concatenate([prof[:, :1, None] * ring[None], np.broadcast_to(prof[:, None, 1:2], (len(prof), segments, 1))], axis=2)
        verts = verts.reshape(-1, 3)
        faces = [_grid_faces(len(prof), segments)]
        extra = []
        for k, (cap, row) in enumerate(zip(caps, (0, len(prof) - 1))):
            if cap and prof[row, 0] > 0:
                centre_index = len(verts) + len(extra)
                extra.append([0.0, 0.0, prof[row, 1]])
                i = row * segments + np.arange(segments)
                j = row * segments + (np.arange(segments) + 1) % segments
                faces.append(np.stack([np.full(segments, centre_index), j, i] if k == 0 else [np.full(segments, centre_index), i, j], 1))
        if extra:
            verts = np.concatenate([verts, np.asarray(extra)])
        self.add(verts, np.concatenate(faces), rotation, centre)

    def cylinder(self, p0, p1, radius: float, radius_top: float | None = None, segments: int = 24, caps=(True, True)) -> None:
        """A cylinder, frustum or cone (``radius_top=0``) from point ``p0`` to point ``p1``."""
        p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
        top = radius if radius_top is None else radius_top
        length = np.linalg.norm(p1 - p0)
        self.revolve([[radius, 0.0], [top, length]], p0, frame_from_axis(p1 - p0), segments, caps)

    def ellipsoid(self, centre, radii, rotation=None, segments: int = 20) -> None:
        """An ellipsoid with semi-axes ``radii`` (a sphere when they are equal)."""
        phi = np.linspace(-np.pi / 2, np.pi / 2, segments // 2 + 1)
        profile = np.stack([np.cos(phi), np.sin(phi)], 1)
        profile[[0, -1], 0] = 0.0
        m = MeshBuilder()
        m.revolve(profile, segments=segments, caps=(False, False))
        v, f = m.mesh()
        self.add(v * np.asarray(radii, float), f, rotation, centre)

    def torus(self, centre, major: float, minor: float, rotation=None, arc: float = 2 * np.pi, segments: int = 24, tube_segments: int = 10) -> None:
        """A torus about the local z axis; ``arc < 2π`` gives an open arc (a handle)."""
        closed = arc >= 2 * np.pi - 1e-9
        theta = np.linspace(0, arc, segments, endpoint=not closed)
        phi = np.linspace(0, 2 * np.pi, tube_segments, endpoint=False)
        t, p = np.meshgrid(theta, phi, indexing="ij")
        ring = major + minor * np.cos(p)
        verts = np.stack([ring * np.cos(t), ring * np.sin(t), minor * np.sin(p)], -1).reshape(-1, 3)
        faces = _grid_faces(segments, tube_segments)
        if closed:  # join the last ring to the first
            last = (segments - 1) * tube_segments + np.arange(tube_segments)
            first = np.arange(tube_segments)
            nxt = (np.arange(tube_segments) + 1) % tube_segments
            faces = np.concatenate([faces, np.stack([last, last[nxt], first[nxt]], 1), np.stack([last, first[nxt], first], 1)])
        self.add(verts, faces, rotation, centre)

    def tube(self, path, radius: float, segments: int = 10) -> None:
        """A tube of circular cross-section swept along a polyline ``path (K, 3)`` (open ends)."""
        path = np.asarray(path, float)
        tangents = np.gradient(path, axis=0)
        theta = np.linspace(0, 2 * np.pi, segments, endpoint=False)
        rings = []
        for point, tangent in zip(path, tangents):
            frame = frame_from_axis(tangent)
            rings.append(point + radius * (np.cos(theta)[:, None] * frame[:, 0] + np.sin(theta)[:, None] * frame[:, 1]))
        self.add(np.concatenate(rings), _grid_faces(len(path), segments))

    def prism(self, polygon, thickness: float, centre=(0.0, 0.0, 0.0), rotation=None) -> None:
        """A convex polygon ``(K, 2)`` in the local xy plane extruded by ``thickness`` along z."""
        poly = np.asarray(polygon, float)
        k = len(poly)
        bottom = np.concatenate([poly, np.full((k, 1), -thickness / 2)], 1)
        top = np.concatenate([poly, np.full((k, 1), thickness / 2)], 1)
        fan = np.stack([np.zeros(k - 2, int), np.arange(1, k - 1), np.arange(2, k)], 1)
        i = np.arange(k)
        j = (i + 1) % k
        sides = np.concatenate([np.stack([i, j, j + k], 1), np.stack([i, j + k, i + k], 1)])
        self.add(np.concatenate([bottom, top]), np.concatenate([fan[:, ::-1], fan + k, sides]), rotation, centre)
