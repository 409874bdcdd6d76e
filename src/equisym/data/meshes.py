"""Triangle meshes: OFF / OBJ / PLY readers and uniform surface sampling.

Readers return ``(vertices, faces)``: ``vertices`` ``(V, 3)`` float64 and ``faces`` ``(F, 3)``
int64 (polygons are split into triangle fans). Every problem with a file raises
:class:`~equisym.errors.EquisymError` naming the file: a missing header, truncated vertex or
face lists, indices out of range, non-finite coordinates, or a mesh with no faces.

Quirks handled: OFF files whose header is glued to the counts line (``OFF490 518 0``, as in
part of the Princeton ModelNet release), ``#`` comments and blank lines, ``COFF``/``NOFF``
extra vertex columns; OBJ ``f a/b/c`` and negative (relative) indices; ASCII and binary PLY
(either byte order).

Example:
    >>> v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], float); f = np.array([[0, 1, 2]])
    >>> sample_mesh_surface(v, f, 5, seed=0).shape
    (5, 3)
"""

from __future__ import annotations

import numpy as np

from equisym.errors import EquisymError
from equisym.files import check_input_file

__all__ = ["read_off", "read_obj", "read_ply", "read_mesh", "triangle_areas", "sample_mesh_surface", "MESH_SUFFIXES"]

MESH_SUFFIXES = (".off", ".obj", ".ply")


def _lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError as err:
        raise EquisymError(f"cannot read mesh {path}: {err.strerror}") from None
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def _fan(polygons: list[list[int]]) -> np.ndarray:
    tris = [(p[0], p[k], p[k + 1]) for p in polygons for k in range(1, len(p) - 1)]
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)


def _check(path: str, vertices: np.ndarray, faces: np.ndarray, require_faces: bool = True) -> tuple[np.ndarray, np.ndarray]:
    if len(vertices) == 0:
        raise EquisymError(f"mesh {path} has no vertices")
    if len(faces) == 0 and require_faces:
        raise EquisymError(f"mesh {path} has no faces; a surface is needed to sample points")
    if not np.isfinite(vertices).all():
        raise EquisymError(f"mesh {path} has NaN or infinite vertex coordinates")
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise EquisymError(f"mesh {path} has a face index outside 0..{len(vertices) - 1}")
    return vertices.astype(np.float64), faces.astype(np.int64)


def _numbers(path: str, lines: list[str], width: int | None, what: str) -> np.ndarray:
    """Parse lines of numbers into an array; ``width`` columns kept (``None``: all, ragged → error)."""
    try:
        rows = [line.split() for line in lines]
        if width is not None:
            if any(len(r) < width for r in rows):
                raise ValueError
            rows = [r[:width] for r in rows]
        return np.asarray(rows, dtype=np.float64)
    except ValueError:
        raise EquisymError(f"mesh {path}: malformed {what} line") from None


def read_off(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Read an OFF mesh (``OFF`` header, ``V F E`` counts, V vertex lines, F face lines).

    Returns:
        ``vertices (V, 3)`` float64, ``faces (F, 3)`` int64 (polygons fan-triangulated).
    """
    lines = _lines(path)
    if not lines or not lines[0].upper().lstrip("CN").startswith("OFF"):
        raise EquisymError(f"{path} is not an OFF file (no OFF header)")
    head = lines[0][lines[0].upper().index("OFF") + 3:].split()
    start = 1
    if not head:  # counts on their own line (the usual layout)
        if len(lines) < 2:
            raise EquisymError(f"OFF file {path} has no vertex/face counts")
        head, start = lines[1].split(), 2
    try:
        n_v, n_f = int(head[0]), int(head[1])
    except (ValueError, IndexError):
        raise EquisymError(f"OFF file {path}: cannot read the vertex/face counts from {' '.join(head)!r}") from None
    if n_f == 0:
        raise EquisymError(f"mesh {path} has no faces; a surface is needed to sample points")
    if len(lines) < start + n_v + n_f:
        raise EquisymError(f"OFF file {path} is truncated: {n_v} vertices and {n_f} faces announced, {len(lines) - start} lines found")
    vertices = _numbers(path, lines[start:start + n_v], 3, "vertex")
    face_lines = lines[start + n_v:start + n_v + n_f]
    try:
        split = [line.split() for line in face_lines]
        if all(r[0] == "3" and len(r) >= 4 for r in split):
            faces = np.asarray([r[1:4] for r in split], dtype=np.int64)
        else:
            polys = [[int(t) for t in r[1:1 + int(r[0])]] for r in split]
            if any(len(p) < 3 for p in polys):
                raise ValueError
            faces = _fan(polys)
    except (ValueError, IndexError):
        raise EquisymError(f"OFF file {path}: malformed face line") from None
    return _check(path, vertices, faces)


def read_obj(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Read the ``v`` and ``f`` records of a Wavefront OBJ file (1-based or negative indices)."""
    verts, polys = [], []
    for line in _lines(path):
        tag, _, rest = line.partition(" ")
        if tag == "v":
            verts.append(rest)
        elif tag == "f":
            try:
                idx = [int(t.split("/")[0]) for t in rest.split()]
            except ValueError:
                raise EquisymError(f"OBJ file {path}: malformed face line {line!r}") from None
            if len(idx) < 3:
                raise EquisymError(f"OBJ file {path}: a face needs 3 or more vertices: {line!r}")
            polys.append([i - 1 if i > 0 else len(verts) + i for i in idx])
    vertices = _numbers(path, verts, 3, "vertex") if verts else np.zeros((0, 3))
    return _check(path, vertices, _fan(polys))


_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def read_ply(path: str, require_faces: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Read the ``vertex`` (x, y, z) and ``face`` elements of an ASCII or binary PLY file
    (``require_faces=False``: a point cloud without faces gives ``faces`` of shape ``(0, 3)``)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise EquisymError(f"cannot read mesh {path}: {err.strerror}") from None
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise EquisymError(f"{path} is not a PLY file (no ply ... end_header header)")
    body = data[data.index(b"\n", end) + 1:]
    fmt, elements = None, []  # elements: [name, count, [(prop name, dtype, list count dtype or None)]]
    for raw in data[:end].decode("ascii", "replace").splitlines():
        words = raw.split()
        if not words:
            continue
        if words[0] == "format":
            fmt = words[1]
        elif words[0] == "element":
            elements.append([words[1], int(words[2]), []])
        elif words[0] == "property" and elements:
            try:
                if words[1] == "list":
                    elements[-1][2].append((words[4], _PLY_TYPES[words[3]], _PLY_TYPES[words[2]]))
                else:
                    elements[-1][2].append((words[2], _PLY_TYPES[words[1]], None))
            except (KeyError, IndexError):
                raise EquisymError(f"PLY file {path}: unsupported property line {raw!r}") from None
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise EquisymError(f"PLY file {path}: unknown format {fmt!r}")
    vertices, faces = np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    try:
        if fmt == "ascii":
            tokens, pos = body.split(), 0
            for name, count, props in elements:
                rows = []
                for _ in range(count):
                    row = []
                    for _, _, list_type in props:
                        if list_type is None:
                            row.append(float(tokens[pos]))
                            pos += 1
                        else:
                            k = int(tokens[pos])
                            row.append([int(t) for t in tokens[pos + 1:pos + 1 + k]])
                            pos += 1 + k
                    rows.append(row)
                vertices, faces = _ply_element(path, name, props, rows, vertices, faces)
        else:
            order = "<" if fmt == "binary_little_endian" else ">"
            offset = 0
            for name, count, props in elements:
                rows, offset = _ply_binary(body, offset, count, props, order)
                vertices, faces = _ply_element(path, name, props, rows, vertices, faces)
    except (IndexError, ValueError):
        raise EquisymError(f"PLY file {path} is truncated or malformed") from None
    return _check(path, vertices, faces, require_faces)


def _ply_binary(body: bytes, offset: int, count: int, props: list, order: str) -> tuple[list, int]:
    if all(lt is None for _, _, lt in props):  # fixed-size rows: one structured read
        dtype = np.dtype([(n, order + t) for n, t, _ in props])
        arr = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
        return arr, offset + count * dtype.itemsize
    rows = []
    for _ in range(count):
        row = []
        for _, t, lt in props:
            if lt is None:
                val = np.frombuffer(body, order + t, 1, offset)[0]
                offset += np.dtype(t).itemsize
                row.append(float(val))
            else:
                k = int(np.frombuffer(body, order + lt, 1, offset)[0])
                offset += np.dtype(lt).itemsize
                row.append(np.frombuffer(body, order + t, k, offset).astype(np.int64).tolist())
                offset += k * np.dtype(t).itemsize
        rows.append(row)
    return rows, offset


def _ply_element(path, name, props, rows, vertices, faces):
    names = [p[0] for p in props]
    if name == "vertex":
        if not {"x", "y", "z"} <= set(names):
            raise EquisymError(f"PLY file {path}: the vertex element has no x, y, z properties")
        if isinstance(rows, np.ndarray):
            vertices = np.stack([rows[c].astype(np.float64) for c in "xyz"], axis=1)
        else:
            cols = [names.index(c) for c in "xyz"]
            vertices = np.asarray([[r[c] for c in cols] for r in rows], np.float64).reshape(-1, 3)
    elif name == "face":
        key = next((i for i, p in enumerate(props) if p[2] is not None), None)
        if key is None:
            raise EquisymError(f"PLY file {path}: the face element has no vertex index list")
        polys = [list(r[key]) for r in rows]
        if any(len(p) < 3 for p in polys):
            raise EquisymError(f"PLY file {path}: a face has fewer than 3 vertices")
        faces = _fan(polys)
    return vertices, faces


def read_mesh(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``.off``, ``.obj`` or ``.ply`` mesh (chosen by the file suffix)."""
    readers = {".off": read_off, ".obj": read_obj, ".ply": read_ply}
    return readers[check_input_file(path, MESH_SUFFIXES, "mesh")](path)


def triangle_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Areas of the triangles. Shapes: ``(V, 3)``, ``(F, 3)`` → ``(F,)`` (units of vertices²)."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def sample_mesh_surface(
    vertices: np.ndarray,
    faces: np.ndarray,
    n: int,
    seed: int | np.random.Generator = 0,
    return_normals: bool = False,
):
    """Sample ``n`` points uniformly (by area) on a triangle mesh's surface.

    A triangle is drawn with probability proportional to its area, then a point uniformly
    inside it from barycentric coordinates ``(1 - √u, √u (1 - v), √u v)``; the draws are
    vectorised. The result is a deterministic function of ``seed``.

    Args:
        vertices: ``(V, 3)`` coordinates.
        faces: ``(F, 3)`` vertex indices.
        n: number of points (≥ 1).
        seed: an integer seed or a ``numpy.random.Generator``.
        return_normals: also return the unit normal of each point's triangle.

    Shapes:
        - output: ``(n, 3)`` float64 (and ``(n, 3)`` normals).

    Raises:
        EquisymError: ``n < 1``, bad indices, or a mesh of zero total area.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if n < 1:
        raise EquisymError(f"sample_mesh_surface needs n >= 1, got {n}")
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise EquisymError(f"vertices must have shape (V, 3), got {vertices.shape}")
    if len(faces) == 0 or faces.min() < 0 or faces.max() >= len(vertices):
        raise EquisymError("faces must be a non-empty (F, 3) array of indices into vertices")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    cross = np.cross(b - a, c - a)
    areas = 0.5 * np.linalg.norm(cross, axis=1)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise EquisymError("the mesh has zero surface area; cannot sample points on it")
    cdf = np.cumsum(areas)
    tri = np.minimum(np.searchsorted(cdf, rng.uniform(0, cdf[-1], n), side="right"), len(faces) - 1)
    su = np.sqrt(rng.uniform(size=(n, 1)))
    v = rng.uniform(size=(n, 1))
    points = (1 - su) * a[tri] + su * (1 - v) * b[tri] + su * v * c[tri]
    if not return_normals:
        return points
    normals = cross[tri] / np.maximum(2 * areas[tri, None], 1e-300)
    return points, normals
