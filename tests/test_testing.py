import pytest
import torch

from equisym.geometry import icosahedral_rotations, random_rotation
from equisym.testing import assert_equivariant, assert_invariant, equivariance_error, rotate_points


def test_invariant_function_passes_and_reports_error():
    x = torch.randn(3, 40, 3, dtype=torch.float64)
    err = assert_invariant(lambda p: p.norm(dim=-1).sum(-1), x, random_rotation(5, 0), rotate_points, atol=1e-12)
    assert err < 1e-12


def test_non_invariant_function_fails():
    x = torch.randn(3, 40, 3, dtype=torch.float64)
    with pytest.raises(AssertionError, match="not equivariant"):
        assert_invariant(lambda p: p[..., 0].sum(-1), x, icosahedral_rotations(), rotate_points, atol=1e-6)


def test_equivariant_vector_output():
    x = torch.randn(50, 3, dtype=torch.float64)
    centroid = lambda p: p.mean(0)  # noqa: E731
    assert_equivariant(centroid, x, random_rotation(4, 1), rotate_points, rotate_points, atol=1e-12)
    errors = equivariance_error(lambda p: p.mean(0) + torch.tensor([1.0, 0, 0], dtype=p.dtype), x, random_rotation(4, 1), rotate_points, rotate_points)
    assert (errors > 1e-3).all()
