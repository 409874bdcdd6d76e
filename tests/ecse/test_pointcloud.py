"""ECSE on point-cloud classifiers: exact SO(3) (and O(3)) invariance of PointNet and CSGNN.

One centre at the centroid, neighbours = the points nearest to it. Float64; the bare models
must fail the same tests (PointNet is not rotation invariant; CSGNN only for the 60
icosahedral rotations).
"""

from __future__ import annotations

import pytest
import torch

from equisym.data.shapes import ShapesDataset
from equisym.errors import EquisymError
from equisym.geometry import random_rotation
from equisym.nn import CSGNN, ECSE_PRESETS, PointNet, PointNetConfig, RotationAveraged, Symmetrized
from equisym.nn.pointnet import POINTNET_PRESETS

D = torch.float64
TOL = 1e-9

TINY_CSGNN = dict(
    level=2, num_shells=4, in_channels=2, graph_dims=[8, 16, 16], graph_depth=[0, 0, 0],
    radial_dims=[8, 16, 16], radial_layers=[1, 1, 1], head_dims=[16], num_classes=5,
)


@pytest.fixture(scope="module")
def clouds():
    ds = ShapesDataset("test", size=4, num_points=128, seed=3)
    return torch.stack([ds[i][0] for i in range(4)]).to(D)


def _pointnet():
    return PointNet(PointNetConfig(**{**POINTNET_PRESETS["small"], "num_classes": 5})).to(D).eval()


def _csgnn():
    return CSGNN.from_preset("small", **TINY_CSGNN).to(D).eval()


def _worst(model, x, rotations):
    with torch.no_grad():
        ref = model(x)
        return max(float((model(x @ r.T) - ref).abs().max() / ref.abs().max()) for r in rotations)


@pytest.mark.parametrize("make", [_pointnet, _csgnn], ids=["pointnet", "csgnn"])
def test_symmetrized_classifier_is_exactly_so3_invariant(make, clouds):
    net = make()
    rots = random_rotation(6, 5)
    sym = Symmetrized(net, config=ECSE_PRESETS["point_cloud"]).eval()
    assert _worst(sym, clouds, rots) <= TOL
    assert _worst(net, clouds, rots) > 1e-3  # the bare model fails


def test_o3_option_and_so3_default(clouds):
    net = _pointnet()
    mirror = -random_rotation(3, 9)
    o3 = Symmetrized(net, config=ECSE_PRESETS["point_cloud"], improper=True).eval()
    assert _worst(o3, clouds, mirror) <= TOL
    so3 = Symmetrized(net, config=ECSE_PRESETS["point_cloud"]).eval()
    assert _worst(so3, clouds, mirror) > 1e-4
    with torch.no_grad():
        o3(clouds)
    assert torch.equal(o3.last_num_frames, 2 * so3.last_num_frames)


def test_translation_and_permutation_invariance(clouds):
    net = _pointnet()
    sym = Symmetrized(net, config=ECSE_PRESETS["point_cloud"]).eval()
    shift = torch.tensor([0.7, -1.2, 0.4], dtype=D)
    perm = torch.randperm(clouds.shape[1])
    with torch.no_grad():
        ref = sym(clouds)
        assert torch.allclose(sym(clouds + shift), ref, atol=1e-12, rtol=0)
        assert torch.allclose(sym(clouds[:, perm]), ref, atol=1e-12, rtol=0)
        assert (net(clouds + shift) - net(clouds)).abs().max() > 1e-3  # bare PointNet is not


def test_frames_per_cloud_are_few():
    ds = ShapesDataset("test", size=16, num_points=256, seed=4)
    x = torch.stack([ds[i][0] for i in range(16)])
    sym = Symmetrized(lambda p: p[:, :1, 0], config=ECSE_PRESETS["point_cloud"])
    sym(x)
    n = sym.last_num_frames.double()
    assert n.min() >= 1 and n.mean() <= 10, n
    assert (sym.last_num_frames_unpruned >= sym.last_num_frames).all()


def test_collinear_cloud_needs_the_auxiliary_model():
    line = torch.linspace(-1, 1, 50, dtype=D)[:, None] * torch.tensor([[0.3, 0.5, 0.8]], dtype=D)
    x = torch.stack([line, line * 2.0])
    net = _pointnet()
    with pytest.raises(EquisymError, match="collinear"):
        Symmetrized(net, config=ECSE_PRESETS["point_cloud"])(x)

    def aux(p):  # an invariant model: logits from sorted distances to the centroid
        r = (p - p.mean(1, keepdim=True)).norm(dim=-1)
        return r.sort(dim=1).values[:, :5]

    out = Symmetrized(net, aux_model=aux, config=ECSE_PRESETS["point_cloud"]).eval()(x)
    assert torch.allclose(out, aux(x))


def test_rotation_average_on_point_clouds_is_approximate(clouds):
    net = _pointnet()
    avg = RotationAveraged(net, n_rotations=8, seed=1).eval()
    err = _worst(avg, clouds, random_rotation(2, 3))
    assert 1e-8 < err


def test_point_cloud_input_errors():
    with pytest.raises(EquisymError):
        Symmetrized(_pointnet())(torch.zeros(2, 2, 3, dtype=D))
