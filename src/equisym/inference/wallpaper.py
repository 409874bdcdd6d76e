"""Wallpaper-group identification of images at inference: the classical detector or a trained classifier.

- ``wallpaper-detector`` (no training, :func:`detect`): smooth background removed (tilt,
  illumination gradient, vignetting), lattice from the autocorrelation (white and scan-line
  noise floors removed),
  lattice-averaged cells of the two halves of a checkerboard of unit cells, their
  noise-corrected cross-correlation under every lattice isometry
  (:func:`equisym.generate.wallpaper.verify.detector_analysis`); the group is the one with the
  most operations whose worst correlation passes
  :data:`~equisym.generate.wallpaper.verify.DETECTOR_THRESHOLD`. Its confidence is that worst correlation, at most 1 (1: every
  operation of the group holds exactly). Noise lowers the correlation of the two halves with
  each other and of every symmetry alike, so the scores do not fall with noise; an image whose
  halves share almost no pattern is refused.
- a trained ``wallpaper-classification`` model file (:func:`load_classifier`,
  :func:`classify`): image models see the central ``data.crop`` (or ``data.size``) pixels
  square, intensities in [0, 1], as in training; the score model sees the detector's 17
  group scores. Its confidence is the softmax probability of the predicted group.

For both, the detector's lattice and per-operation scores are reported
(:func:`operation_scores`): the best correlation of a 2-, 3-, 4-, 6-fold rotation, a mirror
and a glide reflection (NaN where the lattice admits no such operation). A correlation of 1
means the operation maps the lattice-averaged image onto itself.

Images are grey ``(H, W)`` arrays in [0, 1] (:func:`equisym.inference.images.read_image`).
No Lightning and no training code is imported.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from equisym.errors import EquisymError
from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS, ROTATION_ORDERS

__all__ = [
    "DETECTOR",
    "OPERATIONS",
    "WallpaperResult",
    "detect",
    "operation_scores",
    "WallpaperClassifier",
    "load_classifier",
    "classify",
    "model_file_warnings",
]

DETECTOR = "wallpaper-detector"
"""The word that names the training-free detector in place of a model file."""

OPERATIONS = ("rot2", "rot3", "rot4", "rot6", "mirror", "glide")
"""The per-operation score columns, in order."""

MIN_SIDE = 16
"""Smallest image side (pixels) the detector accepts."""


@dataclass
class WallpaperResult:
    """What is predicted for one image.

    Attributes:
        prediction: the group's short symbol (``"p4m"``).
        confidence: detector: the predicted group's score (its worst operation correlation);
            classifier: the softmax probability of the prediction.
        lattice: ``(2, 2)`` detected reduced lattice, rows a, b in pixels (x = column, y =
            row), or None when no lattice was found (classifier only).
        operations: per-operation scores, keys :data:`OPERATIONS` (NaN: not admitted).
        group_scores: ``(17,)`` detector group scores (−1: not admitted by the lattice).
        probabilities: ``(17,)`` classifier probabilities, or None (detector).
        elements: the predicted group's operations (``AffineOp``, reduced basis, fractional
            coordinates with the origin at pixel (0, 0)) at the detector's best origin.
    """

    prediction: str
    confidence: float
    lattice: np.ndarray | None
    operations: dict
    group_scores: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    elements: tuple = field(default=(), repr=False)


def _cartesian(R: np.ndarray, basis: np.ndarray) -> np.ndarray:
    B = np.asarray(basis, float).T  # columns a, b
    return B @ R @ np.linalg.inv(B)


def rotation_order(R: np.ndarray, basis: np.ndarray) -> int:
    """Order of a proper lattice isometry (1 for the identity; 0 for a reflection)."""
    M = _cartesian(R, basis)
    if np.linalg.det(M) < 0:
        return 0
    angle = abs(math.atan2(M[1, 0], M[0, 0]))
    return 1 if angle < 1e-3 else int(round(2 * math.pi / angle))


def axis_vector(R: np.ndarray) -> np.ndarray:
    """The primitive integer vector along the axis of a lattice reflection ``R`` (``R v = v``)."""
    A = np.asarray(R, np.int64) - np.eye(2, dtype=np.int64)
    v = np.array([-A[0, 1], A[0, 0]]) if np.any(A[0]) else np.array([-A[1, 1], A[1, 0]])
    g = math.gcd(int(abs(v[0])), int(abs(v[1]))) or 1
    return v // g


def glide_parity(R: np.ndarray, t: np.ndarray) -> float:
    """``m`` with ``(I + R) t = m v`` (v: :func:`axis_vector`): even = mirror line, odd = glide line."""
    v = axis_vector(R)
    w = (np.eye(2) + R) @ np.asarray(t, float)
    return float(w @ v / (v @ v))


def operation_scores(correlations: dict, basis: np.ndarray) -> dict:
    """Best correlation of each kind of operation (keys :data:`OPERATIONS`; NaN if none admitted).

    Rotations of order n: the maximum of ``C_R`` over all translations (every translation
    gives a rotation about some centre). Reflections: translations ``t`` on the grid whose
    ``(I + R) t`` is an even multiple of the axis period count as mirrors, odd multiples as
    glides (half a period along the line), within one grid step; where a lattice translation
    turns a mirror into a parallel glide (centred cells: cm, cmm, p3m1, ...) both count.
    """
    out = {k: float("nan") for k in OPERATIONS}
    for key, C in correlations.items():
        R = np.frombuffer(key, dtype=np.int64).reshape(2, 2)
        order = rotation_order(R, basis)
        if order > 1:
            name = f"rot{order}"
            if name in out:
                out[name] = np.nanmax([out[name], float(C.max())])
            continue
        if order == 1:
            continue
        n = C.shape[0]
        i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        v = axis_vector(R)
        k = ((np.eye(2) + R).T @ v) / (v @ v)  # m = k · t
        m = (k[0] * i + k[1] * j) / n
        near = np.abs(m - np.rint(m)) <= 0.5 * (abs(k[0]) + abs(k[1])) / n + 1e-9
        if np.all(np.mod(np.rint(k), 2) == 0):
            even = np.mod(np.rint(m), 2) == 0
            masks = (("mirror", near & even), ("glide", near & ~even))
        else:  # a lattice translation turns each such mirror into a glide (centred cells): both
            masks = (("mirror", near), ("glide", near))
        for name, mask in masks:
            if mask.any():
                out[name] = np.nanmax([out[name], float(C[mask].max())])
    return out


def _check_size(image: np.ndarray, name: str) -> None:
    if image.ndim != 2:
        raise EquisymError(f"{name}: expected a grey image (H, W), got shape {image.shape}")
    if min(image.shape) < MIN_SIDE:
        raise EquisymError(f"{name}: the image is {image.shape[1]}×{image.shape[0]} px; at least {MIN_SIDE}×{MIN_SIDE} px are needed")


def detect(image: np.ndarray, name: str = "image", lattice: np.ndarray | None = None):
    """The detector's analysis of one grey image (see the module docstring).

    Args:
        image: ``(H, W)`` grey, any intensity scale.
        name: for messages.
        lattice: known lattice rows (pixels) or None to detect it.

    Returns:
        A :class:`WallpaperResult`.

    Raises:
        EquisymError: a constant or tiny image, or no lattice found (e.g. fewer than two
            unit cells across the image).
    """
    from equisym.generate.wallpaper.verify import detector_analysis  # imported on use: every `equisym predict` imports this module

    img = np.asarray(image, dtype=np.float64)
    _check_size(img, name)
    if float(img.max() - img.min()) <= 1e-12:
        raise EquisymError(f"{name}: the image is constant; there is no pattern to analyse")
    try:
        res = detector_analysis(img, lattice=lattice)
    except EquisymError as err:
        hint = " (the image must show at least two unit cells along each lattice direction)" if "lattice" in str(err) else ""
        raise EquisymError(f"{name}: {err}{hint}") from None
    basis = np.asarray(res.lattice, float)
    sides = np.linalg.norm(basis, axis=1)
    H, W = img.shape
    if np.any(2 * np.abs(basis[:, 0]) > W) or np.any(2 * np.abs(basis[:, 1]) > H):
        raise EquisymError(f"{name}: the detected cell ({sides[0]:.1f} × {sides[1]:.1f} px) does not fit twice along each "
                           f"lattice direction into the {W}×{H} px image; give an image showing at least two unit cells")
    return WallpaperResult(
        prediction=res.symbol,
        confidence=float(np.clip(res.scores[res.label], 0.0, 1.0)),
        lattice=basis,
        operations=operation_scores(res.correlations, basis),
        group_scores=np.asarray(res.scores, float),
        elements=tuple(res.operations),
    )


@dataclass
class WallpaperClassifier:
    """A trained wallpaper classifier (eval mode) and how it reads images.

    Attributes:
        network: the model; kind: its registry name; input_side: the square side (pixels) an
            image model sees (None for the score model); warnings: :func:`model_file_warnings`
            of its file, for the user.
    """

    network: torch.nn.Module
    kind: str
    input_side: int | None
    warnings: tuple[str, ...] = ()


def load_classifier(path: str | os.PathLike, device: str | torch.device = "cpu") -> WallpaperClassifier:
    """A ``wallpaper-classification`` model file as a :class:`WallpaperClassifier`.

    Raises:
        EquisymError: a file of another task, unsafe or damaged.
    """
    from equisym.inference.load import build_trained_model, resolve_device
    from equisym.inference.model_file import read_model_file

    dev = resolve_device(device)
    mf = read_model_file(path)
    if mf.task != "wallpaper-classification":
        raise EquisymError(f"{path} is a model file of the '{mf.task}' task, not a wallpaper classifier")
    kind = str(mf.model["name"])
    data = mf.config.get("data") or {}
    side = None
    if kind != "wallpaper-scores":
        size, crop = int(data.get("size", 128)), data.get("crop")
        side = int(min(int(crop), size)) if crop else size
    return WallpaperClassifier(build_trained_model(mf).to(dev), kind, side, tuple(model_file_warnings(mf)))


def model_file_warnings(model_file) -> list[str]:
    """Warnings about a ``wallpaper-classification`` model file (``equisym predict`` and
    ``equisym eval`` print them): a score model trained on the scores of another detector
    version than this equisym computes (recorded as ``equisym.features.detector_version``;
    files that record none were trained on version 1)."""
    if model_file.model.get("name") != "wallpaper-scores":
        return []
    from equisym.generate.wallpaper.verify import DETECTOR_VERSION

    features = (model_file.checkpoint.get("equisym") or {}).get("features") or {}
    trained_on = int(features.get("detector_version", 1))
    if trained_on == DETECTOR_VERSION:
        return []
    return [f"trained on the scores of detector version {trained_on}; this equisym computes version "
            f"{DETECTOR_VERSION}, so its accuracy may not hold: retrain it"]


def _probabilities(logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(labels (B,), probabilities (B, 17))``; with a rotation-order head (22 logits) the order
    is chosen first, then the most likely group of that order."""
    group = logits[:, :17]
    probs = torch.softmax(group.float(), dim=-1)
    if logits.shape[1] == 17:
        return group.argmax(-1).cpu().numpy(), probs.cpu().numpy()
    orders = torch.tensor([{1: 0, 2: 1, 3: 2, 4: 3, 6: 4}[r] for r in ROTATION_ORDERS], device=logits.device)
    chosen = logits[:, 17:].argmax(-1)
    allowed = orders[None, :] == chosen[:, None]
    return group.masked_fill(~allowed, float("-inf")).argmax(-1).cpu().numpy(), probs.cpu().numpy()


def _centre_crop(image: np.ndarray, side: int, name: str) -> np.ndarray:
    H, W = image.shape
    if H < side or W < side:
        raise EquisymError(f"{name}: the image is {W}×{H} px, smaller than the {side}×{side} px this model was trained on")
    y, x = (H - side) // 2, (W - side) // 2
    return image[y : y + side, x : x + side]


@torch.no_grad()
def classify(model: WallpaperClassifier, images: list[np.ndarray], names: list[str], analyses: list) -> list[WallpaperResult]:
    """Run a trained classifier on grey images in [0, 1] (one batch).

    Args:
        analyses: the detector's :class:`WallpaperResult` of each image, or None where it found
            no lattice (its lattice and operation scores are reported; the score model needs it).

    Raises:
        EquisymError: an image smaller than the model's input; for the score model, an image
            without a detectable lattice.
    """
    device = next(model.network.parameters()).device
    if model.kind == "wallpaper-scores":
        for a, name in zip(analyses, names):
            if a is None:
                raise EquisymError(f"{name}: no lattice found, so the score model has no input")
        x = torch.from_numpy(np.stack([a.group_scores for a in analyses]).astype(np.float32))
    else:
        x = torch.from_numpy(np.stack([_centre_crop(im, model.input_side, n) for im, n in zip(images, names)]).astype(np.float32))[:, None]
    labels, probs = _probabilities(model.network(x.to(device)))
    out = []
    for label, p, a in zip(labels, probs, analyses):
        out.append(WallpaperResult(
            prediction=PLANE_GROUP_SYMBOLS[int(label)],
            confidence=float(p[int(label)]),
            lattice=None if a is None else a.lattice,
            operations=dict(a.operations) if a is not None else {k: float("nan") for k in OPERATIONS},
            group_scores=None if a is None else a.group_scores,
            probabilities=p,
            elements=() if a is None else a.elements,
        ))
    return out
