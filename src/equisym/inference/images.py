"""Reading microscope-style images (PNG, TIFF, JPEG) as grey arrays in [0, 1].

Conversions (:func:`read_image`):

- 8-bit images: value / 255; 16-bit (TIFF, PNG): value / 65535, so the stored range is
  kept (no contrast stretch; 32-bit integers holding values ≤ 65535 count as 16-bit);
  other 32-bit integers: value / (2³² − 1); booleans: 0 or 1;
- float images (e.g. 32-bit TIFF): scaled linearly from their own min and max to [0, 1];
- colour: RGB → the mean of the three channels; RGBA → the alpha channel is dropped (colours
  are used as stored, not composited onto a background); grey + alpha likewise;
- multi-page or multi-channel stacks beyond these are refused.

A constant image, NaN values or an unreadable file raise
:class:`~equisym.errors.EquisymError` with one line naming the file.
"""

from __future__ import annotations

import os

import numpy as np

from equisym.errors import EquisymError
from equisym.files import check_input_file

__all__ = ["IMAGE_SUFFIXES", "read_image", "to_grey"]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


def to_grey(image: np.ndarray, name: str = "image") -> np.ndarray:
    """An image array as grey float64 ``(H, W)`` in [0, 1] (conversions in the module docstring).

    Raises:
        EquisymError: unsupported shape or type, NaN values, a constant image.
    """
    x = np.asarray(image)
    if x.ndim == 3 and x.shape[-1] in (2, 4):  # grey + alpha, RGBA: drop alpha
        x = x[..., :-1]
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    kind = x.dtype.kind
    if kind == "b":
        x = x.astype(np.float64)
    elif kind == "u" or kind == "i":
        if kind == "i" and x.min() < 0:
            raise EquisymError(f"{name}: negative pixel values in a {x.dtype} image")
        top = {1: 255.0, 2: 65535.0, 4: 4294967295.0}.get(x.dtype.itemsize)
        if x.dtype.itemsize == 4 and int(x.max()) <= 65535:  # 16-bit data in 32-bit ints (PIL mode "I")
            top = 65535.0
        if top is None:
            raise EquisymError(f"{name}: {x.dtype} pixels are not supported")
        x = x.astype(np.float64) / top
    elif kind == "f":
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            raise EquisymError(f"{name}: the image has NaN or infinite pixel values")
        lo, hi = float(x.min()), float(x.max())
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    else:
        raise EquisymError(f"{name}: pixels of type {x.dtype} are not numbers")
    if x.ndim == 3 and x.shape[-1] == 3:
        x = x.mean(-1)
    if x.ndim != 2:
        raise EquisymError(f"{name}: expected a grey or colour image, got an array of shape {np.shape(image)} (multi-page stacks are not supported)")
    if float(x.max()) - float(x.min()) <= 1e-12:
        raise EquisymError(f"{name}: the image is constant (every pixel {float(x.flat[0]):g}); there is no pattern to analyse")
    return x


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG, TIFF or JPEG file as grey float64 ``(H, W)`` in [0, 1].

    Raises:
        EquisymError: a missing or unreadable file, an unknown suffix, an unsupported image.
    """
    path = str(path)
    suffix = check_input_file(path, IMAGE_SUFFIXES, "image")
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            array = tifffile.imread(path)
        else:
            from PIL import Image

            with Image.open(path) as img:
                img.load()
                if img.mode in ("P", "PA"):  # palette: expand to colours
                    img = img.convert("RGBA" if img.mode == "PA" or "transparency" in img.info else "RGB")
                array = np.asarray(img)
    except Exception as err:  # noqa: BLE001 - image libraries raise many types for bad files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise EquisymError(f"cannot read image {path} ({first})") from None
    return to_grey(array, path)
