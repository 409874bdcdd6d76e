"""Bad images for the detector and the classifiers: a clear error or a documented conversion,
never a silent wrong answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equisym.data.wallpaper import check_images, read_wallpaper_h5
from equisym.errors import EquisymError
from equisym.generate.wallpaper import WallpaperGenerator
from equisym.inference.images import read_image
from equisym.inference.wallpaper import WallpaperClassifier, classify, detect
from equisym.nn.registry import build_model
from tests.wallpaper.test_files import _write


@pytest.fixture(scope="module")
def p4_image() -> np.ndarray:
    return WallpaperGenerator("p4", "noise", size=96, seed=1, cell=(18, 22)).sample(0).image


def test_16bit_tiff_is_scaled_not_clipped(tmp_path, p4_image):
    import tifffile  # a core dependency (equisym reads TIFF with it)

    path = tmp_path / "img16.tif"
    tifffile.imwrite(path, p4_image.astype(np.uint16) * 257)  # the full 16-bit range
    grey = read_image(path)
    assert grey.dtype == np.float64 and np.allclose(grey, p4_image / 255.0)  # value / 65535
    assert detect(grey, "img16.tif").prediction == detect(p4_image / 255.0).prediction == "p4"
    # in HDF5 training/test files 16-bit values above 255 are refused, not wrapped
    with pytest.raises(EquisymError, match="8-bit"):
        check_images(p4_image[None].astype(np.uint16) * 257, "f.h5")


def test_rgba_png_drops_alpha(tmp_path, p4_image):
    from PIL import Image

    rgba = np.stack([p4_image, p4_image, p4_image, np.full_like(p4_image, 30)], -1)
    path = tmp_path / "img.png"
    Image.fromarray(rgba, "RGBA").save(path)
    grey = read_image(path)
    assert np.allclose(grey, p4_image / 255.0)  # alpha dropped, colours averaged
    assert check_images(rgba[None], "f.h5").shape == (1, 96, 96)


def test_constant_image_is_refused(tmp_path):
    from PIL import Image

    path = tmp_path / "flat.png"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(path)
    with pytest.raises(EquisymError, match="constant"):
        read_image(path)
    with pytest.raises(EquisymError, match="constant"):
        detect(np.full((64, 64), 0.5))
    flat = np.random.default_rng(0).integers(0, 255, (3, 32, 32), dtype=np.uint8)
    flat[1] = 7
    with pytest.raises(EquisymError, match="1 constant image"):
        read_wallpaper_h5(_write(tmp_path / "flat.h5", flat, [0, 1, 2]))


def test_image_smaller_than_two_cells(p4_image):
    one_cell = p4_image[:24, :24].astype(np.float64) / 255  # about one cell of 18-22 px
    with pytest.raises(EquisymError, match="cell|lattice|px"):
        detect(one_cell, "one_cell.png")
    net, _ = build_model({"name": "wallpaper-symcorr", "preset": "tiny"})
    model = WallpaperClassifier(net.eval(), "wallpaper-symcorr", 48)
    with pytest.raises(EquisymError, match="smaller than the 48×48"):
        classify(model, [one_cell], ["one_cell.png"], [None])
    ok = classify(model, [p4_image / 255.0], ["p4.png"], [None])
    assert len(ok) == 1 and np.isclose(ok[0].probabilities.sum(), 1.0)
    assert torch.isfinite(torch.as_tensor(ok[0].probabilities)).all()
