import pytest
import torch

from equisym.errors import EquisymError
from equisym.geometry import icosahedral_rotations, random_rotation
from equisym.geometry.icosphere import icosahedral_permutations
from equisym.nn import CSGNN, PointNet, PointNetConfig, build_model
from equisym.nn.sphere import RadialConv, SphereConv, SpherePool
from equisym.testing import assert_invariant, equivariance_error, rotate_points


def _permute_vertices(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    out[perm] = x
    return out


@pytest.mark.parametrize("layer", ["conv", "radial", "pool"])
def test_layers_commute_with_icosahedral_permutations(layer):
    level = 2
    if layer == "conv":
        module, x = SphereConv(level, 4, 6), torch.randn(162, 2, 3, 4)
        perms_in = perms_out = icosahedral_permutations(level)
    elif layer == "radial":
        module, x = RadialConv(4, 6, 3), torch.randn(162, 2, 5, 4)
        perms_in = perms_out = icosahedral_permutations(level)
    else:
        module, x = SpherePool(level - 1, "max"), torch.randn(162, 2, 3, 4)
        perms_in, perms_out = icosahedral_permutations(level), icosahedral_permutations(level - 1)
    module.eval()
    with torch.no_grad():
        ref = module(x)
        for p_in, p_out in zip(torch.tensor(perms_in), torch.tensor(perms_out)):
            assert (module(_permute_vertices(x, p_in)) - _permute_vertices(ref, p_out)).abs().max() < 1e-5


def test_sphere_conv_sums_the_one_ring():
    conv = SphereConv(1, 1, 1, norm="none", activation=False, residual=False)
    with torch.no_grad():
        conv.linear.weight.fill_(1.0)
        conv.linear.bias.zero_()
    x = torch.zeros(42, 1, 1, 1)
    x[0] = 1.0
    out = conv(x)[:, 0, 0, 0]
    assert out[0] == 1 and int((out == 1).sum()) == 6  # the vertex and its 5 neighbours


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    model = CSGNN.from_preset("small", num_classes=7)
    # a few training steps so BatchNorm statistics are not the identity
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(2):
        loss = model(torch.randn(8, 256, 3)).logsumexp(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_exact_icosahedral_invariance_float32(small_model):
    x = torch.randn(1, 1024, 3)
    err = assert_invariant(small_model, x, icosahedral_rotations(), rotate_points, atol=1e-4)
    assert err < 1e-4
    # inversion too (the full group I_h)
    assert (small_model(-x) - small_model(x)).abs().max() < 1e-4


def test_haar_rotations_are_only_approximate(small_model):
    x = torch.randn(2, 1024, 3)
    errors = equivariance_error(small_model, x, random_rotation(10, 0), rotate_points)
    assert (errors > 1e-4).all()  # the grid is discrete: documented, not zero


def test_non_equivariant_model_fails_the_same_test():
    model = PointNet(PointNetConfig(point_dims=[32, 64], head_dims=[32], num_classes=7)).eval()
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_invariant(model, torch.randn(2, 1024, 3), icosahedral_rotations(), rotate_points, atol=1e-4)


def test_paper_preset_parameter_count():
    # the reference ModelNet40 network has ~3.96 M parameters
    model = CSGNN.from_preset("paper", num_classes=40)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(3.96e6, rel=0.005)


def test_forward_shapes_and_signal_entry(small_model):
    x = torch.randn(3, 500, 3)
    assert small_model(x).shape == (3, 7)
    signal = small_model.mapping(x)
    assert signal.shape == (3, 8, 642, 4)
    assert torch.allclose(small_model.forward_signal(signal), small_model(x))
    with pytest.raises(EquisymError, match="signal must have shape"):
        small_model.forward_signal(torch.randn(3, 8, 162, 4))


def test_model_errors():
    with pytest.raises(EquisymError, match="unknown preset"):
        CSGNN.from_preset("huge")
    with pytest.raises(EquisymError, match="one entry per stage"):
        build_model({"name": "csgnn", "level": 2})
    with pytest.raises(EquisymError, match="did you mean 'num_classes'"):
        build_model({"name": "csgnn", "preset": "small", "num_clases": 3})


@pytest.mark.parametrize("name", ["pointnet", "dgcnn"])
def test_peers_run(name):
    model, section = build_model({"name": name, "preset": "small", "num_classes": 5})
    assert model.eval()(torch.randn(2, 64, 3)).shape == (2, 5)
    assert section["name"] == name
