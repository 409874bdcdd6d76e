"""Built-in synthetic 3-D object data sets that need no download: ``shapes`` and ``shapes-hard``.

``shapes`` has 12 easy classes; ``shapes-hard`` has 32 classes in fine-grained pairs, built as
meshes and scanned with uneven density and sensor noise; ``shapes-hard-partial`` holds the
same objects seen from a single viewpoint. The generators live in
:mod:`equisym.generate.shapes`; this module serves them as a data set.

Every object is upright (z up, facing +x), bounding-box centred and scaled into the unit
ball, so the rotation protocols mean what they mean for ModelNet40 (train with rotations
about z, test with z or Haar-random SO(3)). Sample ``i`` of split ``s`` is a deterministic
function of ``(kind, seed, s, i)`` with label ``i mod C``.

Example:
    >>> ds = ShapesDataset("train", size=24, num_points=512)
    >>> points, label = ds[5]
    >>> points.shape, label, ds.class_names[label]
    (torch.Size([512, 3]), 5, 'lamp')
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from equisym.errors import EquisymError
from equisym.generate.shapes import KINDS, SHAPE_CLASSES, SPLITS, kind_classes, sample_shape, shape_cloud

__all__ = ["SHAPE_CLASSES", "ShapesDataset", "sample_shape", "SPLITS", "KINDS"]


class ShapesDataset(Dataset):
    """A built-in shape set: ``(points (N, 3) float32, label int)`` pairs, generated on first use.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (disjoint random streams).
        size: number of samples (classes cycle: sample i has label ``i mod C``).
        num_points: points per cloud.
        seed: data-set seed; sample i is a deterministic function of (kind, seed, split, i).
        classes: optionally restrict to the first ``classes`` classes.
        kind: ``shapes`` (12 classes), ``shapes-hard`` (32) or ``shapes-hard-partial`` (32, single view).

    Generated clouds are kept in memory (per process), so later epochs cost nothing.
    """

    def __init__(self, split: str = "train", size: int = 1200, num_points: int = 1024, seed: int = 0,
                 classes: int | None = None, kind: str = "shapes") -> None:
        if split not in SPLITS:
            raise EquisymError(f"unknown split {split!r}; choose one of {sorted(SPLITS)}")
        if kind not in KINDS:
            raise EquisymError(f"unknown built-in shape set {kind!r}; choose one of {', '.join(KINDS)}")
        names = kind_classes(kind)
        n_classes = len(names) if classes is None else classes
        if not 2 <= n_classes <= len(names):
            raise EquisymError(f"{kind} has {len(names)} classes; 'classes' must be in 2..{len(names)}")
        if size < 1 or num_points < 1:
            raise EquisymError(f"{kind} needs size >= 1 and num_points >= 1")
        self.split, self.size, self.num_points, self.seed, self.kind = split, size, num_points, seed, kind
        self.class_names = names[:n_classes]
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        label = index % len(self.class_names)
        if index not in self._cache:
            points, _ = shape_cloud(self.kind, self.split, index, self.num_points, self.seed, len(self.class_names))
            self._cache[index] = torch.from_numpy(points)
        return self._cache[index], label
