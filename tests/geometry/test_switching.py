import torch

from equisym.geometry.switching import (
    cosine_cutoff,
    smooth_cutoff,
    smooth_max,
    smooth_max_bias,
    smooth_switch_on,
    smoothstep,
)


def test_cutoffs_plateaus_and_monotone():
    r = torch.linspace(0, 6, 2001, dtype=torch.float64)
    for f in (smooth_cutoff(r, 5.0, 1.0), cosine_cutoff(r, 5.0, 1.0)):
        assert (f[r <= 4.0] == 1).all() and (f[r >= 5.0] == 0).all()
        assert (f.diff() <= 1e-15).all()
    q = smooth_switch_on(r, 2.0, 0.5)
    assert (q[r <= 2.0] == 0).all() and (q[r >= 2.5] == 1).all()


def test_smooth_cutoff_is_smooth_and_has_finite_gradients():
    r = torch.linspace(3.5, 5.5, 4001, dtype=torch.float64, requires_grad=True)
    f = smooth_cutoff(r, 5.0, 1.0)
    (grad,) = torch.autograd.grad(f.sum(), r)
    assert torch.isfinite(grad).all()
    # C^1: the derivative changes little between neighbouring samples, even at the ends
    assert grad.diff().abs().max() < 0.01
    assert grad[0] == 0 and grad[-1] == 0


def test_smoothstep():
    x = torch.tensor([-1.0, 0.0, 0.5, 1.0, 2.0])
    assert torch.allclose(smoothstep(x), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))


def test_smooth_max_bounds():
    v = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 4.0]], dtype=torch.float64)
    w = torch.ones_like(v)
    sm = smooth_max(v, w, beta=20.0)
    assert (sm <= v.max(1).values).all() and (sm >= v.mean(1)).all()
    smin = smooth_max(v, w, beta=-20.0)
    assert (smin >= v.min(1).values).all()
    two = torch.tensor([[1.0, 1.2]], dtype=torch.float64)
    assert 1.2 - smooth_max(two, torch.ones_like(two), 5.0) <= smooth_max_bias(5.0) + 1e-12
    zero_weight = smooth_max(torch.tensor([1.0, 9.0]), torch.tensor([1.0, 0.0]), 5.0)
    assert zero_weight == 1.0
