"""ModelNet40 / ModelNet10 in every format users have, as one in-memory data set.

Formats (``format="auto"`` detects them from the folder's contents):

- ``hdf5``: the PointNet release ``modelnet40_ply_hdf5_2048``: ``ply_data_train{0..4}.h5`` and
  ``ply_data_test{0,1}.h5`` (datasets ``data`` (N, 2048, 3) and ``label`` (N, 1)), optionally
  ``train_files.txt`` / ``test_files.txt`` listing them, and ``shape_names.txt``.
- ``off``: the Princeton ``ModelNet40/`` or ``ModelNet10/`` folder of ``.off`` meshes
  (``<class>/{train,test}/*.off``), sampled uniformly by area with a fixed seed and cached.
- ``text``: ``modelnet40_normal_resampled`` (``<class>/<class>_0001.txt`` with
  ``x,y,z,nx,ny,nz`` lines, ``modelnet40_shape_names.txt``, ``modelnet40_{train,test}.txt``;
  ``modelnet10_*`` lists for ModelNet10), cached.

Clouds are float32 whatever the file's dtype. Nothing is downloaded: point ``root`` at the
unpacked folder.
"""

from __future__ import annotations

import glob
import os

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from equisym.data.modelnet_folders import read_off_folder, read_text_folder
from equisym.errors import EquisymError

__all__ = ["ModelNet", "ModelNet40H5", "detect_format", "modelnet_class_names", "FORMATS", "write_modelnet_h5"]

FORMATS = ("auto", "hdf5", "off", "text")


def _shard_files(root: str, split: str) -> list[str]:
    listing = os.path.join(root, f"{split}_files.txt")
    if os.path.exists(listing):
        with open(listing) as handle:
            names = [line.strip() for line in handle if line.strip()]
        files = [os.path.join(root, os.path.basename(n)) for n in names]
    else:
        files = sorted(glob.glob(os.path.join(root, f"ply_data_{split}*.h5")))
    if not files:
        raise EquisymError(
            f"no ModelNet40 {split} files in {root}: expected ply_data_{split}*.h5 "
            f"(the PointNet release modelnet40_ply_hdf5_2048, unpacked)"
        )
    for f in files:
        if not os.path.exists(f):
            raise EquisymError(f"ModelNet40: {os.path.basename(f)} is listed in {split}_files.txt but missing from {root}")
    return files


def _read_h5(root: str, split: str, num_points: int):
    names_file = os.path.join(root, "shape_names.txt")
    if not os.path.exists(names_file):
        raise EquisymError(f"ModelNet40: {names_file} is missing (one class name per line)")
    with open(names_file) as handle:
        class_names = [line.strip() for line in handle if line.strip()]
    points, labels = [], []
    for path in _shard_files(root, split):
        try:
            with h5py.File(path, "r") as f:
                if "data" not in f or "label" not in f:
                    raise EquisymError(f"ModelNet40: {path} has no 'data' and 'label' datasets")
                data, label = f["data"][:], f["label"][:]
        except OSError as err:
            raise EquisymError(f"ModelNet40: cannot read {path} ({err}); the file is corrupt or not HDF5") from None
        if data.ndim != 3 or data.shape[2] != 3:
            raise EquisymError(f"ModelNet40: {path} 'data' must have shape (N, P, 3), got {data.shape}")
        if not np.issubdtype(data.dtype, np.number):
            raise EquisymError(f"ModelNet40: {path} 'data' holds {data.dtype}, not numbers")
        label = label.reshape(-1)
        if len(label) != len(data):
            raise EquisymError(f"ModelNet40: {path} has {len(data)} clouds but {len(label)} labels")
        if data.shape[1] < num_points:
            raise EquisymError(f"ModelNet40: {path} has {data.shape[1]} points per cloud, fewer than the {num_points} asked")
        data = data[:, :num_points].astype(np.float32)
        if not np.isfinite(data).all():
            raise EquisymError(f"ModelNet40: {path} contains NaN or infinite coordinates (or values beyond float32)")
        points.append(data)
        labels.append(label.astype(np.int64))
    return np.concatenate(points), np.concatenate(labels), class_names


def detect_format(root: str, variant: str = "modelnet40") -> str:
    """The format of a ModelNet folder: ``hdf5``, ``text`` or ``off``.

    Raises:
        EquisymError: a missing folder, or one that holds none of the three layouts.
    """
    if not os.path.isdir(root):
        raise EquisymError(f"ModelNet folder not found: {root}")
    if glob.glob(os.path.join(root, "*.h5")) or glob.glob(os.path.join(root, "*_files.txt")):
        return "hdf5"
    if os.path.exists(os.path.join(root, f"{variant}_shape_names.txt")):
        return "text"
    for entry in os.listdir(root):
        if os.path.isdir(os.path.join(root, entry, "train")) or os.path.isdir(os.path.join(root, entry, "test")):
            return "off"
    raise EquisymError(
        f"{root} is not a ModelNet folder: expected PointNet HDF5 shards (ply_data_*.h5), "
        f"{variant}_shape_names.txt (normal_resampled text files) or <class>/train/*.off meshes"
    )


def modelnet_class_names(root: str, format: str = "auto", variant: str = "modelnet40") -> list[str]:
    """The class names of a ModelNet folder, without reading its clouds."""
    fmt = detect_format(root, variant) if format == "auto" else format
    if fmt == "off":
        if not os.path.isdir(root):
            raise EquisymError(f"ModelNet folder not found: {root}")
        return sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d, "train")) or os.path.isdir(os.path.join(root, d, "test")))
    path = os.path.join(root, "shape_names.txt" if fmt == "hdf5" else f"{variant}_shape_names.txt")
    if not os.path.exists(path):
        raise EquisymError(f"ModelNet: {path} is missing (one class name per line)")
    with open(path) as handle:
        return [line.strip() for line in handle if line.strip()]


class ModelNet(Dataset):
    """ModelNet40 / ModelNet10 point clouds (HDF5, OFF-mesh or text layout), loaded into memory.

    Args:
        root: the unpacked folder.
        split: ``"train"`` or ``"test"``.
        num_points: points per cloud (the first ``num_points`` of HDF5 and text files; sampled
            from meshes).
        format: ``auto``, ``hdf5``, ``off`` or ``text``.
        variant: ``modelnet40`` or ``modelnet10`` (chooses the list files of the text layout).
        seed: seed of the mesh sampling (``off``).
        cache_dir: where ``off`` and ``text`` caches go (default ``ROOT/.equisym-cache``, or
            ``~/.cache/equisym`` when ``root`` is read-only).

    Items are ``(points (num_points, 3) float32, label int)``.

    Raises:
        EquisymError: missing folder or files, corrupt or malformed files (named), labels out
            of range, or fewer points than asked.
    """

    def __init__(self, root: str, split: str = "train", num_points: int = 1024, format: str = "auto",
                 variant: str = "modelnet40", seed: int = 0, cache_dir: str | None = None) -> None:
        if split not in ("train", "test"):
            raise EquisymError(f"ModelNet split must be 'train' or 'test', got {split!r}")
        if format not in FORMATS:
            raise EquisymError(f"unknown ModelNet format {format!r}; choose one of {', '.join(FORMATS)}")
        if num_points < 1:
            raise EquisymError(f"ModelNet needs num_points >= 1, got {num_points}")
        if not os.path.isdir(root):
            raise EquisymError(f"ModelNet folder not found: {root}")
        self.format = detect_format(root, variant) if format == "auto" else format
        if self.format == "hdf5":
            points, labels, self.class_names = _read_h5(root, split, num_points)
        elif self.format == "off":
            points, labels, self.class_names = read_off_folder(root, split, num_points, seed, cache_dir)
        else:
            points, labels, self.class_names = read_text_folder(root, split, num_points, variant, cache_dir)
        self.points = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        if len(self.labels) == 0:
            raise EquisymError(f"ModelNet: no {split} clouds in {root}")
        if self.labels.min() < 0 or self.labels.max() >= len(self.class_names):
            raise EquisymError(
                f"ModelNet: labels range {int(self.labels.min())}..{int(self.labels.max())} "
                f"but {len(self.class_names)} class names are listed in {root}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.points[index], int(self.labels[index])


class ModelNet40H5(ModelNet):
    """ModelNet40 from the PointNet HDF5 shards (:class:`ModelNet` with ``format="hdf5"``)."""

    def __init__(self, root: str, split: str = "train", num_points: int = 1024) -> None:
        super().__init__(root, split, num_points, format="hdf5")


def write_modelnet_h5(root: str, split: str, shards: list[tuple[np.ndarray, np.ndarray]], class_names: list[str]) -> None:
    """Write point clouds in the PointNet HDF5 layout (used by tests and for converting data).

    Args:
        root: output folder (created).
        split: ``"train"`` or ``"test"``.
        shards: list of ``(points (N, P, 3), labels (N,))``, one file each.
        class_names: written to ``shape_names.txt``.
    """
    os.makedirs(root, exist_ok=True)
    names = []
    for k, (points, labels) in enumerate(shards):
        name = f"ply_data_{split}{k}.h5"
        with h5py.File(os.path.join(root, name), "w") as f:
            f.create_dataset("data", data=np.asarray(points, dtype=np.float32))
            f.create_dataset("label", data=np.asarray(labels, dtype=np.uint8).reshape(-1, 1))
        names.append(f"data/modelnet40_ply_hdf5_2048/{name}")
    with open(os.path.join(root, f"{split}_files.txt"), "w") as handle:
        handle.write("\n".join(names) + "\n")
    with open(os.path.join(root, "shape_names.txt"), "w") as handle:
        handle.write("\n".join(class_names) + "\n")
