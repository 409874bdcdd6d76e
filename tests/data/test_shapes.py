import numpy as np
import pytest
import torch

from equisym.data.augment import AugmentConfig, augment_clouds, random_rotations
from equisym.data.shapes import SHAPE_CLASSES, ShapesDataset
from equisym.errors import EquisymError


def test_deterministic_and_split_disjoint():
    a, b = ShapesDataset("train", 24, 256, seed=3), ShapesDataset("train", 24, 256, seed=3)
    for i in (0, 7, 23):
        assert torch.equal(a[i][0], b[i][0]) and a[i][1] == b[i][1] == i % 12
    other = ShapesDataset("test", 24, 256, seed=3)
    assert not torch.equal(a[0][0], other[0][0])
    assert not torch.equal(a[0][0], ShapesDataset("train", 24, 256, seed=4)[0][0])


def test_normalised_upright_and_varied():
    ds = ShapesDataset("train", 48, 512)
    for i in range(12):
        pts = ds[i][0].numpy()
        assert pts.shape == (512, 3) and np.isfinite(pts).all()
        assert np.linalg.norm(pts, axis=1).max() == pytest.approx(1.0, abs=0.03)
    # real intra-class variation: two lamps differ in their extents by more than noise
    ext = [np.ptp(ds[i][0].numpy(), axis=0) for i in (5, 17, 29, 41)]
    assert np.std(ext, axis=0).max() > 0.02
    # upright: tall objects (bookshelf, rocket, lamp) extend most along z
    for label in ("bookshelf", "rocket", "lamp"):
        k = list(SHAPE_CLASSES).index(label)
        assert np.argmax(np.ptp(ds[k][0].numpy(), axis=0)) == 2


def test_errors():
    with pytest.raises(EquisymError, match="unknown split"):
        ShapesDataset("dev")
    with pytest.raises(EquisymError, match="classes"):
        ShapesDataset("train", classes=20)


def test_augmentation_and_protocol_rotations():
    pts = torch.randn(4, 100, 3)
    cfg = AugmentConfig(rotation="z", scale_low=1.0, scale_high=1.0, shift=0.0, jitter=0.0)
    out = augment_clouds(pts, cfg, torch.Generator().manual_seed(0))
    assert torch.allclose(out[..., 2], pts[..., 2], atol=1e-6)  # z rotations keep heights
    assert torch.allclose(out.norm(dim=-1), pts.norm(dim=-1), atol=1e-5)
    assert torch.equal(random_rotations("so3", 5, 7), random_rotations("so3", 5, 7))
    assert torch.equal(random_rotations("none", 2), torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
