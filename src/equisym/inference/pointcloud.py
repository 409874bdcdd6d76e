"""Point-cloud classification at inference: read clouds and meshes, predict class probabilities.

Inputs (:func:`read_point_clouds`):

- ``.npy``: one cloud ``(N, 3)`` or a stack ``(B, N, 3)`` (named ``file[i]``);
- ``.h5`` / ``.hdf5``: the PointNet layout, dataset ``data`` ``(B, N, 3)`` (labels ignored);
- ``.ply``: a mesh (faces present: sampled like ``.off``) or a bare point cloud (vertices only);
- ``.off`` / ``.obj``: triangle meshes, sampled uniformly by area
  (:func:`equisym.data.meshes.sample_mesh_surface`, seed fixed per file), then centred and
  scaled to unit radius (:func:`equisym.data.modelnet_folders.normalise_points`), as the
  ModelNet OFF meshes are when training.

Clouds given as points are used as they are (PointNet's HDF5 clouds are already centred and
scaled): give them in the frame and scale of the training data.

No Lightning and no training code is imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from equisym.errors import EquisymError
from equisym.files import check_input_file
from equisym.inference.outputs import progress

__all__ = ["POINT_SUFFIXES", "read_point_clouds", "class_names", "predict_clouds", "PointCloudModel", "load_classifier"]

POINT_SUFFIXES = (".npy", ".h5", ".hdf5", ".ply", ".off", ".obj")


def _check_cloud(points: np.ndarray, name: str) -> np.ndarray:
    if points.ndim != 2 or points.shape[1] != 3:
        raise EquisymError(f"{name}: a point cloud must have shape (N, 3), got {points.shape}")
    if len(points) == 0:
        raise EquisymError(f"{name}: the point cloud is empty")
    if not np.isfinite(points).all():
        raise EquisymError(f"{name}: the point cloud has NaN or infinite coordinates")
    return points.astype(np.float32)


def _stack(array: np.ndarray, path: str) -> list[tuple[str, np.ndarray]]:
    if array.dtype.kind not in "fiu":
        raise EquisymError(f"{path}: point coordinates must be numbers, got {array.dtype}")
    if array.ndim == 2:
        return [(path, _check_cloud(array, path))]
    if array.ndim == 3:
        return [(f"{path}[{k}]", _check_cloud(c, f"{path}[{k}]")) for k, c in enumerate(array)]
    raise EquisymError(f"{path}: expected points of shape (N, 3) or (B, N, 3), got {array.shape}")


def read_point_clouds(path: str | os.PathLike, num_points: int = 1024, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """The clouds of one file, each ``(name, points (N, 3) float32)`` (see the module docstring).

    Args:
        path: the file.
        num_points: points sampled on a mesh.
        seed: seed of the mesh sampling (the same file always gives the same cloud).

    Raises:
        EquisymError: a missing or unreadable file, an unknown suffix, a mesh with no faces,
            wrong shapes, NaN coordinates.
    """
    from equisym.data.meshes import read_mesh, read_ply, sample_mesh_surface
    from equisym.data.modelnet_folders import normalise_points

    path = str(path)
    suffix = check_input_file(path, POINT_SUFFIXES, "point-cloud")
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise EquisymError(f"cannot read {path} as a NumPy array ({str(err).splitlines()[0]})") from None
        return _stack(array, path)
    if suffix in (".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(path, "r") as f:
                if "data" not in f:
                    raise EquisymError(f"{path}: no dataset 'data' (the PointNet layout: data (B, N, 3))")
                array = f["data"][()]
        except OSError as err:
            raise EquisymError(f"cannot read {path} as HDF5 ({err})") from None
        return _stack(np.asarray(array), path)
    if suffix == ".ply":
        vertices, faces = read_ply(path, require_faces=False)
        if len(faces) == 0:
            return [(path, _check_cloud(vertices, path))]
    else:
        vertices, faces = read_mesh(path)
    points = sample_mesh_surface(vertices, faces, num_points, seed=seed)
    return [(path, _check_cloud(normalise_points(points), path))]


def class_names(config: dict, num_classes: int) -> list[str]:
    """Class names of a point-cloud run: ``data.class_names`` if stored, the built-in sets'
    names, the ModelNet folder's ``shape_names.txt`` when it is still there, else
    ``class_0`` ... ``class_{C-1}``."""
    data = config.get("data") or {}
    names = data.get("class_names")
    if not names:
        dataset = data.get("dataset", "shapes")
        try:
            from equisym.data.shapes import KINDS

            if dataset in KINDS:
                from equisym.generate.shapes import kind_classes

                names = kind_classes(dataset)[: data.get("classes") or None]
            elif data.get("root") and os.path.isdir(data["root"]):
                from equisym.data.modelnet import modelnet_class_names

                names = modelnet_class_names(data["root"], data.get("format", "auto"), dataset)
        except EquisymError:
            names = None
    names = list(names or [])
    if len(names) != num_classes:
        names = [f"class_{k}" for k in range(num_classes)]
    return names


@dataclass
class PointCloudModel:
    """A trained point-cloud classifier (eval mode) with its class names and points per cloud."""

    network: torch.nn.Module
    class_names: list[str]
    num_points: int
    seed: int


def load_classifier(path: str | os.PathLike, device: str | torch.device = "cpu") -> PointCloudModel:
    """A ``pointcloud-classification`` model file as a :class:`PointCloudModel`.

    Raises:
        EquisymError: a file of another task (named), unsafe or damaged.
    """
    from equisym.inference.load import build_trained_model, resolve_device
    from equisym.inference.model_file import read_model_file

    dev = resolve_device(device)
    mf = read_model_file(path)
    if mf.task != "pointcloud-classification":
        raise EquisymError(f"{path} is a model file of the '{mf.task}' task, not a point-cloud classifier")
    network = build_trained_model(mf).to(dev)
    n_classes = int(mf.model.get("num_classes") or 0)
    data = mf.config.get("data") or {}
    return PointCloudModel(network, class_names(mf.config, n_classes), int(data.get("num_points", 1024)), int(data.get("data_seed", 0)))


@torch.no_grad()
def predict_clouds(model: PointCloudModel, clouds: Sequence[np.ndarray], batch_size: int = 32, show_progress: bool = True) -> np.ndarray:
    """Class probabilities ``(B, C)`` (softmax of the logits) of each cloud.

    Consecutive clouds with the same number of points are run together, up to ``batch_size``.
    The symmetry is the model's (e.g. CSGNN: exact for the 60 icosahedral rotations).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise EquisymError(f"--batch-size must be a positive integer, got {batch_size}")
    device = next(model.network.parameters()).device
    batches, k = [], 0
    while k < len(clouds):
        end = k + 1
        while end < len(clouds) and end - k < batch_size and len(clouds[end]) == len(clouds[k]):
            end += 1
        batches.append((k, end))
        k = end
    probs = []
    for a, b in progress(batches, "predict", show_progress, unit="batch"):
        points = torch.from_numpy(np.stack(clouds[a:b])).to(device)
        probs.append(torch.softmax(model.network(points).float(), dim=-1).cpu().numpy())
    return np.concatenate(probs) if probs else np.zeros((0, len(model.class_names)))
