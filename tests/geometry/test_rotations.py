import math

import pytest
import torch

from equisym.geometry import (
    axis_angle_rotation,
    icosahedral_rotations,
    icosahedron_vertices,
    random_o3,
    random_rotation,
    random_z_rotation,
)


def _is_rotation(mats: torch.Tensor, det: float = 1.0) -> bool:
    eye = torch.eye(3, dtype=mats.dtype)
    orth = (mats @ mats.transpose(-1, -2) - eye).abs().max() < 1e-12
    return bool(orth) and bool(((torch.linalg.det(mats) - det).abs() < 1e-12).all())


def test_icosahedral_group_is_a_group_of_60_rotations():
    g = icosahedral_rotations()
    assert g.shape == (60, 3, 3) and g.dtype == torch.float64
    assert _is_rotation(g)
    assert torch.allclose(g[0], torch.eye(3, dtype=torch.float64))
    flat = g.reshape(60, 9)
    assert torch.cdist(flat, flat).add(torch.eye(60, dtype=torch.float64)).min() > 0.1  # all distinct
    products = (g[:, None] @ g[None]).reshape(-1, 9)
    assert torch.cdist(products, flat, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values.max() < 1e-12  # closed
    orders = {}
    for m in g:
        k, p = 1, m.clone()
        while not torch.allclose(p, torch.eye(3, dtype=torch.float64), atol=1e-9):
            p, k = p @ m, k + 1
        orders[k] = orders.get(k, 0) + 1
    assert orders == {1: 1, 2: 15, 3: 20, 5: 24}  # the class structure of I ≅ A5


def test_icosahedral_rotations_permute_base_vertices():
    v = icosahedron_vertices()
    rotated = torch.einsum("gij,vj->gvi", icosahedral_rotations(), v)
    assert torch.cdist(rotated, v.expand(60, 12, 3), compute_mode="donot_use_mm_for_euclid_dist").min(dim=2).values.max() < 1e-12


def test_random_rotations_are_rotations_and_seeded():
    r = random_rotation(100, 0)
    assert _is_rotation(r)
    assert torch.equal(r, random_rotation(100, 0))
    assert random_rotation().shape == (3, 3)
    z = random_z_rotation(50, 1)
    assert _is_rotation(z)
    assert torch.allclose(z @ torch.tensor([0, 0, 1.0], dtype=torch.float64), torch.tensor([0, 0, 1.0], dtype=torch.float64).expand(50, 3))
    o = random_o3(200, 2)
    dets = torch.linalg.det(o)
    assert ((dets.abs() - 1).abs() < 1e-12).all() and (dets < 0).any() and (dets > 0).any()


def test_haar_uniformity_and_euler_sampling_fails():
    """Haar rotations map e_z to a uniform point on the sphere: its z coordinate is U(-1, 1).

    Three independent uniform Euler angles (the original code's "SO3") do not: the test
    has the power to reject them.
    """
    n = 20000
    z = random_rotation(n, 3)[:, 2, 2]
    ks_haar = _ks_uniform(z)
    gen = torch.Generator().manual_seed(4)
    a, b, c = (torch.rand(n, generator=gen, dtype=torch.float64) * 2 * math.pi for _ in range(3))
    euler = (
        axis_angle_rotation(torch.tensor([0, 0, 1.0]).expand(n, 3), a)
        @ axis_angle_rotation(torch.tensor([0, 1.0, 0]).expand(n, 3), b)
        @ axis_angle_rotation(torch.tensor([1.0, 0, 0]).expand(n, 3), c)
    )
    ks_euler = _ks_uniform(euler[:, 2, 2])
    critical = 1.63 / math.sqrt(n)  # 1 % level
    assert ks_haar < critical < ks_euler


def _ks_uniform(samples: torch.Tensor) -> float:
    x, _ = torch.sort((samples + 1) / 2)
    cdf = torch.arange(1, len(x) + 1, dtype=torch.float64) / len(x)
    return float(torch.maximum((cdf - x).abs(), (x - (cdf - 1 / len(x))).abs()).max())


@pytest.mark.parametrize("angle", [0.0, 0.3, math.pi])
def test_axis_angle(angle):
    r = axis_angle_rotation(torch.tensor([1.0, 1.0, 0.0]), torch.tensor(angle, dtype=torch.float64))
    assert _is_rotation(r)
    axis = torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64) / math.sqrt(2)
    assert torch.allclose(r @ axis, axis)
    assert math.isclose(float(torch.trace(r)), 1 + 2 * math.cos(angle), abs_tol=1e-12)
