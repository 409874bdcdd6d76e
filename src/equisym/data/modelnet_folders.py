"""ModelNet40 / ModelNet10 from the Princeton mesh folders and the ``normal_resampled`` text files.

Two layouts are read into ``(points (N, P, 3) float32, labels (N,) int64, class_names)``:

- ``off``: the Princeton release, ``ROOT/<class>/{train,test}/<class>_0001.off``; each mesh
  is sampled uniformly by area (:func:`~equisym.data.meshes.sample_mesh_surface`) with a
  seed fixed by ``(seed, file name)``, centred on its mean and scaled to max norm 1.
- ``text``: ``modelnet40_normal_resampled``, ``ROOT/<class>/<class>_0001.txt`` with one
  ``x,y,z,nx,ny,nz`` line per point, ``modelnet40_shape_names.txt`` and
  ``modelnet40_{train,test}.txt`` listing the shapes (``modelnet10_*`` for ModelNet10); the
  first ``P`` points of each file are kept, centred and scaled like the meshes.

Reading thousands of files is slow, so the arrays are cached in an ``.npz`` file (written to
a temporary name, then renamed); a cache that cannot be read back whole (a truncated file)
is rebuilt with a warning.
"""

from __future__ import annotations

import glob
import hashlib
import os
import tempfile
import warnings
import zlib

import numpy as np

from equisym.data.meshes import read_off, sample_mesh_surface
from equisym.errors import EquisymError

__all__ = ["read_off_folder", "read_text_folder", "read_point_text", "normalise_points", "default_cache_dir"]


def normalise_points(points: np.ndarray) -> np.ndarray:
    """Centre a cloud on its mean and scale it to maximum norm 1. Shapes: ``(P, 3)`` → ``(P, 3)``."""
    points = points - points.mean(0)
    return points / max(float(np.linalg.norm(points, axis=1).max()), 1e-12)


def default_cache_dir(root: str) -> str:
    """``ROOT/.equisym-cache`` when ``root`` is writable, else ``~/.cache/equisym``."""
    if os.access(root, os.W_OK):
        return os.path.join(root, ".equisym-cache")
    return os.path.join(os.path.expanduser("~"), ".cache", "equisym")


def _cached(cache_dir: str | None, root: str, tag: str, files: list[str], build):
    """Arrays ``(points, labels)`` from the cache, or built by ``build()`` and cached atomically."""
    digest = hashlib.sha1()
    for f in files:
        st = os.stat(f)
        digest.update(f"{os.path.relpath(f, root)}:{st.st_size}:{int(st.st_mtime)}\n".encode())
    folder = cache_dir or default_cache_dir(root)
    path = os.path.join(folder, f"{tag}-{digest.hexdigest()[:16]}.npz")
    if os.path.exists(path):
        try:
            with np.load(path) as cache:
                points, labels = cache["points"], cache["labels"]
            if len(points) == len(labels) == len(files):
                return points, labels
            raise ValueError("wrong number of clouds")
        except Exception as err:  # noqa: BLE001 - any unreadable cache is rebuilt
            warnings.warn(f"ModelNet cache {path} is unreadable ({type(err).__name__}: {err}); rebuilding it", stacklevel=3)
    points, labels = build()
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".npz")
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, points=points, labels=labels)
        os.replace(tmp, path)
    except OSError as err:
        warnings.warn(f"cannot write the ModelNet cache in {folder} ({err.strerror}); it will be rebuilt next time", stacklevel=3)
    return points, labels


def read_off_folder(root: str, split: str, num_points: int, seed: int = 0, cache_dir: str | None = None):
    """Read the Princeton ``ModelNet40/`` (or ``ModelNet10/``) folder of ``.off`` meshes.

    Returns:
        ``points (N, num_points, 3)`` float32, ``labels (N,)`` int64, ``class_names`` (sorted
        folder names).

    Raises:
        EquisymError: no class folders, a class folder with no ``.off`` file in ``split``, or
            a bad mesh (no faces, truncated, ...), naming the file.
    """
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d, "train")) or os.path.isdir(os.path.join(root, d, "test")))
    if not classes:
        raise EquisymError(f"no ModelNet class folders (<class>/train, <class>/test) in {root}")
    files, labels = [], []
    for k, name in enumerate(classes):
        found = sorted(glob.glob(os.path.join(root, name, split, "*.off")))
        if not found:
            raise EquisymError(f"ModelNet class folder {os.path.join(root, name, split)} has no .off files")
        files += found
        labels += [k] * len(found)

    def build():
        points = np.empty((len(files), num_points, 3), np.float32)
        for i, path in enumerate(files):
            vertices, faces = read_off(path)
            rng = np.random.default_rng([seed, zlib.crc32(os.path.basename(path).encode())])
            points[i] = normalise_points(sample_mesh_surface(vertices, faces, num_points, rng))
        return points, np.asarray(labels, np.int64)

    points, labels_arr = _cached(cache_dir, root, f"off-{split}-{num_points}-seed{seed}", files, build)
    return points, labels_arr, classes


def read_point_text(path: str, num_points: int) -> np.ndarray:
    """The first ``num_points`` points of a ``x,y,z,nx,ny,nz`` text file. Shapes: → ``(num_points, 3)``.

    Raises:
        EquisymError: a line without 6 comma-separated columns, non-numbers, or too few points.
    """
    try:
        with open(path) as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
    except OSError as err:
        raise EquisymError(f"cannot read {path}: {err.strerror}") from None
    if len(lines) < num_points:
        raise EquisymError(f"{path} has {len(lines)} points, fewer than the {num_points} asked")
    lines = lines[:num_points]
    for i, line in enumerate(lines):
        if line.count(",") != 5:
            raise EquisymError(f"{path} line {i + 1} has {line.count(',') + 1} columns; expected 6 (x,y,z,nx,ny,nz)")
    try:
        data = np.asarray(",".join(lines).split(","), dtype=np.float64).reshape(-1, 6)
    except ValueError:
        raise EquisymError(f"{path} holds a value that is not a number") from None
    if not np.isfinite(data).all():
        raise EquisymError(f"{path} contains NaN or infinite values")
    return data[:, :3]


def read_text_folder(root: str, split: str, num_points: int, prefix: str = "modelnet40", cache_dir: str | None = None):
    """Read ``modelnet40_normal_resampled`` (``prefix="modelnet10"`` for its ModelNet10 lists).

    Returns:
        ``points (N, num_points, 3)`` float32, ``labels (N,)`` int64, ``class_names``.

    Raises:
        EquisymError: a missing list file, a listed shape whose file is missing, a class with
            no shapes in the list, or a bad text file, naming the file.
    """
    names_file = os.path.join(root, f"{prefix}_shape_names.txt")
    list_file = os.path.join(root, f"{prefix}_{split}.txt")
    for path in (names_file, list_file):
        if not os.path.exists(path):
            raise EquisymError(f"ModelNet text format: {path} is missing")
    with open(names_file) as handle:
        classes = [line.strip() for line in handle if line.strip()]
    with open(list_file) as handle:
        shapes = [line.strip() for line in handle if line.strip()]
    index = {name: k for k, name in enumerate(classes)}
    files, labels = [], []
    for shape in shapes:
        name = shape.rsplit("_", 1)[0]
        if name not in index:
            raise EquisymError(f"{list_file}: shape {shape!r} belongs to no class of {names_file}")
        path = os.path.join(root, name, f"{shape}.txt")
        if not os.path.isfile(path):
            raise EquisymError(f"{list_file} lists {shape} but {path} is missing")
        files.append(path)
        labels.append(index[name])
    if not files:
        raise EquisymError(f"{list_file} lists no shapes")
    empty = sorted(set(classes) - {classes[k] for k in labels})
    if empty and split == "train":
        raise EquisymError(f"ModelNet class folder {os.path.join(root, empty[0])} has no files in {os.path.basename(list_file)}")

    def build():
        points = np.stack([normalise_points(read_point_text(f, num_points)) for f in files]).astype(np.float32)
        return points, np.asarray(labels, np.int64)

    points, labels_arr = _cached(cache_dir, root, f"text-{prefix}-{split}-{num_points}", files, build)
    return points, labels_arr, classes
