"""Symmetry-correlation network: exact D4 invariance (a plain CNN failing the same test), the
front end's peaks, odd-size pooling, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equisym.errors import EquisymError
from equisym.generate.wallpaper import WallpaperGenerator
from equisym.nn.registry import build_model
from equisym.nn.wallpaper import d4_transform
from equisym.nn.wallpaper_corr import SymmetryCorrelations
from equisym.testing import equivariance_error

D4 = torch.arange(8)


def _act(g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return d4_transform(x, int(g))


@pytest.mark.parametrize("preset,side,axes", [("tiny", 16, 24), ("tiny", 21, 24), ("tiny", 16, 48)])  # even and odd sides
def test_symcorr_exactly_d4_invariant_and_resnet_not(preset, side, axes):
    torch.manual_seed(0)
    x = torch.rand(3, 1, side, side, dtype=torch.float64)
    model, _ = build_model({"name": "wallpaper-symcorr", "preset": preset, "hierarchical": True, "mirror_axes": axes})
    model = model.double().eval()
    with torch.no_grad():
        err = equivariance_error(model, x, D4, _act)
        assert err.shape == (8,) and float(err.max()) < 1e-10
        assert model(x).shape == (3, 22) and float(model(x).std()) > 1e-4  # not trivially constant
    cnn, _ = build_model({"name": "wallpaper-resnet", "preset": "tiny"})
    cnn = cnn.double().eval()
    with torch.no_grad():
        assert float(equivariance_error(cnn, x, D4, _act)[1:].min()) > 1e-4  # fails for every non-identity element


def test_front_end_finds_the_rotation_of_a_p4_image():
    gen = WallpaperGenerator("p4,p1", "noise", size=48, seed=3, cell=(8, 14))
    front = SymmetryCorrelations(window=12).double()
    peaks = {}
    for i in range(2):
        s = gen.sample(i)
        x = torch.from_numpy(s.image.astype(np.float64) / 255)[None, None]
        c = front(x)[0]
        assert c.shape == (23, 25, 25)
        assert abs(float(c[0, 12, 12]) - 1.0) < 1e-9  # autocorrelation at zero shift
        peaks[s.label] = float(c[3:5].amax())  # 90° rotations (mean, max over ±90°)
    assert peaks[9] > 0.9 > 0.6 > peaks[0]


def test_front_end_constant_image_gives_zeros_and_tiny_image_is_refused():
    front = SymmetryCorrelations(window=4)
    out = front(torch.full((1, 1, 16, 16), 0.5))
    assert torch.isfinite(out).all() and float(out.abs().max()) == 0.0
    with pytest.raises(EquisymError, match="too small"):
        front(torch.rand(1, 1, 3, 3))
    with pytest.raises(EquisymError, match="square grey"):
        front(torch.rand(1, 1, 16, 20))
    with pytest.raises(EquisymError, match="multiple of 4"):
        SymmetryCorrelations(window=4, mirror_axes=30)


def test_front_end_channels_follow_the_mirror_axes():
    front = SymmetryCorrelations(window=4, mirror_axes=48)
    assert front.out_channels == 1 + 2 * 4 + 2 * (48 // 4 + 1)
    assert front(torch.rand(2, 1, 16, 16)).shape == (2, front.out_channels, 9, 9)


def test_mirror_max_channels_peak_for_a_mirror_image_only():
    torch.manual_seed(0)
    front = SymmetryCorrelations(window=8).double()
    img = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 32, 32, dtype=torch.float64), 3, 1, 1)
    mirrored = (img + img.flip(-1)) / 2  # mirror about the vertical centre line
    with torch.no_grad():
        peaks = [float(front(x)[0, front.mirror_max_channels].amax()) for x in (mirrored, img)]
    assert len(front.mirror_max_channels) == 24 // 4 + 1
    assert peaks[0] > 0.999 and peaks[1] < 0.6
