"""Wallpaper-group image data sets: reading HDF5 files (single, sharded) and generating on the fly.

The file format is written by :mod:`equisym.generate.wallpaper.writer`: ``images`` ``(N, H, W)``,
``labels`` ``(N,)`` (ITA number − 1, 0–16), ``lattice``, ``origin``, ``source`` (and optional
``angle``, ``shape``). Files from elsewhere are accepted when they follow it:

- ``images`` uint8 (0–255), or any integer type whose values lie in 0–255 (stored as uint8),
  or floats in [0, 1] (quantised to uint8, the generator's format: ``round(255 x)``); an
  ``(N, H, W, C)`` array with 3 or 4 channels is converted to grey (mean of the colour
  channels, alpha dropped). Anything else (a 2-D array, NaN or infinite values, floats
  outside [0, 1], 16-bit values above 255, a constant image) is refused with
  :class:`EquisymError`;
- ``labels`` integers in 0–16, as many as images.

A sharded set (``OUT_00000.h5``, … with ``OUT.manifest.json``) is read whole: a folder or
glob in which a shard of its manifest is missing, or the manifest itself, is refused.
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import numpy as np

from equisym.errors import EquisymError
from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS

__all__ = ["read_wallpaper_h5", "check_images", "WallpaperH5", "WallpaperDataset", "WallpaperStream", "StreamSampler"]

_REQUIRED = ("images", "labels", "lattice", "origin", "source")
_OPTIONAL = ("angle", "shape")


def _expand_paths(path: str | os.PathLike) -> list[str]:
    path = str(path)
    if path.endswith(".manifest.json") and os.path.isfile(path):
        return [path]
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.h5")))
    elif any(ch in path for ch in "*?["):
        files = sorted(glob.glob(path))
    else:
        files = [path] if os.path.exists(path) else []
    if not files:
        raise EquisymError(f"no wallpaper HDF5 file at {path!r}")
    return files


def _from_manifest(manifest: str) -> list[str]:
    """The shard files listed in a manifest, all present and with the listed counts."""
    try:
        body = json.loads(Path(manifest).read_text())
        entries = body["shards"]
        names = [e["file"] for e in entries]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise EquisymError(f"{manifest} is not a wallpaper manifest: {err}") from None
    folder = os.path.dirname(manifest)
    missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        raise EquisymError(f"{manifest} lists {len(names)} shards but {len(missing)} are missing ({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''})")
    return [os.path.join(folder, n) for n in names]


def _check_shards(files: list[str], shard_info: dict[str, tuple]) -> None:
    """Every shard of every manifest met is among ``files``."""
    manifests = {}
    for file, (manifest, k, count) in shard_info.items():
        manifests.setdefault(os.path.join(os.path.dirname(file), manifest), set()).add(int(k))
        if not 0 <= int(k) < int(count):
            raise EquisymError(f"{file}: shard {k} of {count} is out of range")
    for manifest, seen in manifests.items():
        if not os.path.isfile(manifest):
            raise EquisymError(f"{manifest} is missing: the shards next to it are an incomplete (or unfinished) set")
        listed = _from_manifest(manifest)
        listed_abs = {os.path.abspath(f) for f in listed}
        stray = [f for f in shard_info if shard_info[f][0] == os.path.basename(manifest) and os.path.abspath(f) not in listed_abs]
        if stray:
            raise EquisymError(f"{stray[0]} names {manifest} as its set but is not listed there (a shard of an older set?)")
        present = {os.path.abspath(f) for f in files}
        lost = [f for f in listed if os.path.abspath(f) not in present]
        if lost:
            raise EquisymError(f"{len(files)} files read but the set of {manifest} has {len(listed)} shards; missing {os.path.basename(lost[0])}")


def check_images(images: np.ndarray, where: str) -> np.ndarray:
    """Validate and convert wallpaper images to uint8 ``(N, H, W)`` (see the module docstring).

    Shapes:
        - images: ``(N, H, W)`` or ``(N, H, W, 3|4)``; returns ``(N, H, W)`` uint8.

    Raises:
        EquisymError: a shape or value that is not a stack of grey images.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] in (3, 4):
        grey = images[..., :3].astype(np.float64).mean(-1)
        images = grey if images.dtype.kind == "f" else np.rint(grey).astype(images.dtype)
    if images.ndim != 3:
        raise EquisymError(f"{where}: 'images' has shape {images.shape}; expected (N, H, W) grey images (or (N, H, W, 3|4) colour)")
    if images.shape[0] == 0:
        raise EquisymError(f"{where}: no images")
    kind = images.dtype.kind
    if kind == "f":
        if not np.isfinite(images).all():
            raise EquisymError(f"{where}: images contain {int((~np.isfinite(images)).sum())} NaN or infinite values")
        lo, hi = float(images.min()), float(images.max())
        if lo < 0.0 or hi > 1.0:
            raise EquisymError(f"{where}: float images must lie in [0, 1]; got values in [{lo:g}, {hi:g}] (store uint8 0-255 or scale to [0, 1])")
        return np.rint(images * 255.0).astype(np.uint8)
    if kind in "iu":
        if images.dtype == np.uint8:
            return images
        lo, hi = int(images.min()), int(images.max())
        if lo < 0 or hi > 255:
            raise EquisymError(f"{where}: {images.dtype} images must hold 8-bit values 0-255; got {lo}..{hi} (rescale to uint8 or to floats in [0, 1])")
        return images.astype(np.uint8)
    if kind == "b":
        return images.astype(np.uint8) * 255
    raise EquisymError(f"{where}: images of type {images.dtype} are not numbers")


def _check_not_constant(images: np.ndarray, where: str) -> None:
    """Refuse constant images ``(N, H, W)``: no pattern, so any label would be a guess."""
    flat = images.reshape(len(images), -1)
    constant = np.nonzero((flat == flat[:, :1]).all(1))[0]
    if len(constant):
        raise EquisymError(f"{where}: {len(constant)} constant image(s) (e.g. image {int(constant[0])}): no pattern to classify")


def _check_labels(labels: np.ndarray, n: int, where: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise EquisymError(f"{where}: 'labels' has shape {labels.shape}; expected (N,)")
    if len(labels) != n:
        raise EquisymError(f"{where}: {len(labels)} labels for {n} images")
    if labels.dtype.kind == "f":
        if not (np.isfinite(labels).all() and np.array_equal(labels, np.rint(labels))):
            raise EquisymError(f"{where}: labels must be integers 0-16")
    elif labels.dtype.kind not in "iu":
        raise EquisymError(f"{where}: labels of type {labels.dtype} are not integers 0-16")
    bad = (labels < 0) | (labels > 16)
    if bad.any():
        raise EquisymError(f"{where}: {int(bad.sum())} labels outside 0-16 (e.g. {labels[bad][0]}); labels are the ITA number − 1")
    return labels.astype(np.int64)


def read_wallpaper_h5(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read one file, a manifest, a folder of ``*.h5`` shards or a glob into memory (concatenated).

    Shapes:
        - returns ``images`` uint8 ``(N, H, W)``, ``labels`` int64 ``(N,)`` (ITA number − 1),
          ``lattice`` ``(N, 2, 2)`` (rows a, b, pixels), ``origin`` ``(N, 2)``, ``source``
          ``(N,)`` strings, and when present ``angle`` ``(N,)`` (degrees), ``shape`` ``(N,)``.

    Raises:
        EquisymError: a missing file or dataset, a shard missing from its set, images or
            labels that are not valid (see the module docstring), files of different image sizes.
    """
    import h5py

    files = _expand_paths(path)
    if len(files) == 1 and files[0].endswith(".manifest.json"):
        files = _from_manifest(files[0])
    parts: dict[str, list] = {}
    shard_info: dict[str, tuple] = {}
    for file in files:
        try:
            with h5py.File(file, "r") as f:
                for key in _REQUIRED:
                    if key not in f:
                        raise EquisymError(f"{file} is not a wallpaper file: dataset '{key}' is missing")
                groups = [g.decode() if isinstance(g, bytes) else str(g) for g in f.attrs.get("groups", [])]
                if groups and groups != list(PLANE_GROUP_SYMBOLS):
                    raise EquisymError(f"{file}: attribute 'groups' is not the 17 plane groups in ITA order")
                if "manifest" in f.attrs:
                    shard_info[file] = (str(f.attrs["manifest"]), int(f.attrs["shard"]), int(f.attrs["shards"]))
                images = check_images(f["images"][()], file)
                data = {"images": images, "labels": _check_labels(f["labels"][()], len(images), file)}
                _check_not_constant(images, file)
                for key in _REQUIRED[2:] + _OPTIONAL:
                    if key in f:
                        value = f[key][()]
                        if value.dtype.kind in "OS":
                            value = np.array([d.decode() if isinstance(d, bytes) else str(d) for d in value])
                        if len(value) != len(images):
                            raise EquisymError(f"{file}: '{key}' has {len(value)} rows for {len(images)} images")
                        data[key] = value
        except OSError as err:
            raise EquisymError(f"cannot read {file}: {err}") from None
        if parts and (data["images"].shape[1:] != parts["images"][0].shape[1:] or set(data) != set(parts)):
            raise EquisymError(f"{file}: images {data['images'].shape[1:]} or datasets differ from the other files of {path}")
        for key, value in data.items():
            parts.setdefault(key, []).append(value)
    _check_shards(files, shard_info)
    return {k: np.concatenate(v) for k, v in parts.items()}


class WallpaperH5:
    """Images of wallpaper HDF5 file(s) as a torch data set of
    ``(image (1, H, W) float32 in [0, 1], label)``."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.data = read_wallpaper_h5(path)

    def __len__(self) -> int:
        return len(self.data["labels"])

    def __getitem__(self, i: int):
        import torch

        return torch.from_numpy(self.data["images"][i].astype(np.float32) / 255.0)[None], int(self.data["labels"][i])


class WallpaperDataset:
    """Images generated on the fly: item ``i`` is sample ``offset + i`` of a
    :class:`~equisym.generate.wallpaper.WallpaperGenerator` (keyword arguments passed on).

    Returns ``(image (1, H, W) float32 in [0, 1], label)``.
    """

    def __init__(self, n: int, offset: int = 0, **generator_kwargs) -> None:
        from equisym.generate.wallpaper import WallpaperGenerator

        self.n, self.offset = int(n), int(offset)
        self.generator = WallpaperGenerator(**generator_kwargs)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        import torch

        if not 0 <= i < self.n:
            raise IndexError(i)
        s = self.generator.sample(self.offset + i)
        return torch.from_numpy(s.image.astype(np.float32) / 255.0)[None], s.label


class WallpaperStream:
    """Training images drawn on the fly, for a model to see many distinct images.

    Item ``i`` is sample ``i mod n`` of a :class:`~equisym.generate.wallpaper.WallpaperGenerator`
    (keyword arguments passed on), a deterministic function of (generator seed, index), then
    augmented deterministically from (``aug_seed``, ``i``): a random ``crop × crop`` window, one
    of the D4 transforms of the pixel grid that keep the label (all eight for every plane group,
    see :func:`equisym.geometry.plane_groups.label_preserving_d4`), and an intensity jitter
    ``x -> clip(a · x^γ + b, 0, 1)`` with ``a ~ U(1 − j, 1)``, ``b ~ U(0, j/2)``,
    ``log γ ~ U(−j, j)`` for ``jitter = j``. Images are generated in the data-loader workers.

    Use it with :class:`StreamSampler`, which hands out fresh indices every epoch.

    Shapes:
        - item: ``(image (1, crop, crop) float32 in [0, 1], label)``.
    """

    def __init__(self, n: int, crop: int | None = None, augment: bool = True, jitter: float = 0.0, aug_seed: int = 0, **generator_kwargs) -> None:
        from equisym.generate.wallpaper import WallpaperGenerator
        from equisym.geometry.plane_groups import label_preserving_d4

        if n < 1:
            raise EquisymError(f"a wallpaper stream needs n ≥ 1 images; got {n}")
        if not 0.0 <= jitter < 1.0:
            raise EquisymError(f"intensity jitter must lie in [0, 1); got {jitter}")
        self.generator = WallpaperGenerator(**generator_kwargs)
        size = self.generator.size
        self.crop = int(crop) if crop else size
        if not 0 < self.crop <= size:
            raise EquisymError(f"crop {crop} must lie in 1..{size} (the image size)")
        self.n, self.augment, self.jitter, self.aug_seed = int(n), bool(augment), float(jitter), int(aug_seed)
        self.allowed = {label: label_preserving_d4(label) for label in set(self.generator.groups)}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        import torch

        from equisym.nn.wallpaper import d4_transform

        i = int(i)
        if i < 0:
            raise IndexError(i)
        s = self.generator.sample(i % self.n)
        rng = np.random.default_rng([self.aug_seed, i, 11])
        size, c = self.generator.size, self.crop
        if self.augment:
            y0, x0 = rng.integers(0, size - c + 1, size=2)
        else:
            y0 = x0 = (size - c) // 2
        x = torch.from_numpy(s.image[y0 : y0 + c, x0 : x0 + c].astype(np.float32) / 255.0)[None]
        if self.augment:
            allowed = self.allowed[s.label]
            x = d4_transform(x, int(allowed[rng.integers(len(allowed))]))
        if self.jitter > 0:
            j = self.jitter
            a, b, gamma = rng.uniform(1 - j, 1), rng.uniform(0, j / 2), float(np.exp(rng.uniform(-j, j)))
            x = (a * x.clamp_min(0) ** gamma + b).clamp_(0.0, 1.0)
        return x.contiguous(), s.label


class StreamSampler:
    """Indices for :class:`WallpaperStream`: ``epoch_size`` new indices every epoch.

    Epoch ``e`` yields a shuffled ``e · epoch_size … (e + 1) · epoch_size − 1`` (taken modulo
    ``n`` by the stream, so at most ``n`` distinct images are ever drawn); the trainer calls
    :meth:`set_epoch` before every epoch, so a resumed run draws the same images.
    """

    def __init__(self, epoch_size: int, seed: int = 0) -> None:
        if epoch_size < 1:
            raise EquisymError(f"epoch size must be ≥ 1; got {epoch_size}")
        self.epoch_size, self.seed, self.epoch = int(epoch_size), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.epoch_size

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch, 13]).permutation(self.epoch_size)
        return iter((self.epoch * self.epoch_size + order).tolist())
