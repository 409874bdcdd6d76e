"""ModelNet40 in the PointNet HDF5 release format (``modelnet40_ply_hdf5_2048``).

The folder holds ``ply_data_train{0..4}.h5`` and ``ply_data_test{0,1}.h5`` (datasets
``data`` (N, 2048, 3) float32 and ``label`` (N, 1) int), optionally ``train_files.txt`` /
``test_files.txt`` listing them, and ``shape_names.txt`` (40 class names, one per line).
Nothing is downloaded: point ``root`` at the unpacked folder.
"""

from __future__ import annotations

import glob
import os

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from equisym.errors import EquisymError

__all__ = ["ModelNet40H5", "write_modelnet_h5"]


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


class ModelNet40H5(Dataset):
    """ModelNet40 point clouds from the PointNet HDF5 shards, loaded into memory.

    Args:
        root: folder with the ``.h5`` shards and ``shape_names.txt``.
        split: ``"train"`` or ``"test"``.
        num_points: keep the first ``num_points`` points of each cloud (1024 as in the paper).

    Items are ``(points (num_points, 3) float32, label int)``.

    Raises:
        EquisymError: missing folder or files, a corrupt shard, missing ``data``/``label``
            datasets, wrong array shapes, labels out of range, or fewer points than asked.
    """

    def __init__(self, root: str, split: str = "train", num_points: int = 1024) -> None:
        if split not in ("train", "test"):
            raise EquisymError(f"ModelNet40 split must be 'train' or 'test', got {split!r}")
        if not os.path.isdir(root):
            raise EquisymError(f"ModelNet40 folder not found: {root}")
        names_file = os.path.join(root, "shape_names.txt")
        if not os.path.exists(names_file):
            raise EquisymError(f"ModelNet40: {names_file} is missing (one class name per line)")
        with open(names_file) as handle:
            self.class_names = [line.strip() for line in handle if line.strip()]
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
            label = label.reshape(-1)
            if len(label) != len(data):
                raise EquisymError(f"ModelNet40: {path} has {len(data)} clouds but {len(label)} labels")
            if data.shape[1] < num_points:
                raise EquisymError(f"ModelNet40: {path} has {data.shape[1]} points per cloud, fewer than the {num_points} asked")
            if not np.isfinite(data).all():
                raise EquisymError(f"ModelNet40: {path} contains NaN or infinite coordinates")
            points.append(data[:, :num_points].astype(np.float32))
            labels.append(label.astype(np.int64))
        self.points = torch.from_numpy(np.concatenate(points))
        self.labels = torch.from_numpy(np.concatenate(labels))
        if self.labels.min() < 0 or self.labels.max() >= len(self.class_names):
            raise EquisymError(
                f"ModelNet40: labels range {int(self.labels.min())}..{int(self.labels.max())} "
                f"but shape_names.txt lists {len(self.class_names)} classes"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.points[index], int(self.labels[index])


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
