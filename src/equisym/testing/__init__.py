"""Public helpers to test the symmetry of any function or model.

- this module: :func:`equivariance_error`, :func:`assert_equivariant`, :func:`assert_invariant`
  and :func:`rotate_points`, for any function and group;
- :mod:`equisym.testing.conformance`: the model conformance suite (symmetry with a broken copy,
  forces, batching, save/load, TorchScript), in float32 and float64;
- :mod:`equisym.testing.model_specs`: the conformance specs of equisym's registered models.

Symmetry is tested, never assumed. These helpers take a function, an input, a list of
group elements and the way an element acts on inputs (and outputs), and measure the worst
deviation from exact equivariance. Group actions are applied in float64 and the result is
cast back to the input dtype, so a float32 model's measured error is its own, not the test's.

Example:
    >>> import torch
    >>> from equisym.geometry import icosahedral_rotations
    >>> from equisym.testing import assert_invariant, rotate_points
    >>> norm_sum = lambda x: x.norm(dim=-1).sum(-1)
    >>> x = torch.randn(2, 50, 3)
    >>> float(assert_invariant(norm_sum, x, icosahedral_rotations(), rotate_points)) < 1e-4
    True
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch

__all__ = [
    "rotate_points",
    "equivariance_error",
    "assert_equivariant",
    "assert_invariant",
]

Action = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def rotate_points(rotation: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Act with a 3×3 matrix on points ``(..., 3)``: ``points @ rotation.T``, computed in float64.

    Shapes:
        - rotation: ``(3, 3)``; points: ``(..., 3)``; output: same shape and dtype as ``points``.
    """
    return (points.double() @ rotation.double().T).to(points.dtype)


def equivariance_error(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    elements: Iterable[torch.Tensor],
    act_in: Action,
    act_out: Action | None = None,
) -> torch.Tensor:
    """Max absolute deviation ``|fn(g·x) − g·fn(x)|`` for each group element ``g``.

    Args:
        fn: the function under test (a model in eval mode, usually).
        x: the input.
        elements: group elements, e.g. a ``(G, 3, 3)`` tensor of rotations.
        act_in: how an element acts on the input, ``act_in(g, x)``.
        act_out: how it acts on the output; ``None`` means the output is invariant.

    Returns:
        A float64 tensor ``(G,)`` of errors, one per element.
    """
    with torch.no_grad():
        reference = fn(x)
        errors = []
        for g in elements:
            expected = reference if act_out is None else act_out(g, reference)
            got = fn(act_in(g, x))
            errors.append((got.double() - expected.double()).abs().max())
    return torch.stack(errors)


def assert_equivariant(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    elements: Iterable[torch.Tensor],
    act_in: Action,
    act_out: Action | None = None,
    atol: float = 1e-4,
) -> torch.Tensor:
    """Assert ``fn(g·x) == g·fn(x)`` within ``atol`` for every element; return the worst error."""
    __tracebackhide__ = True
    errors = equivariance_error(fn, x, elements, act_in, act_out)
    worst = errors.max()
    if not worst <= atol:
        bad = int(torch.argmax(errors))
        raise AssertionError(
            f"not equivariant: error {float(worst):.3g} > atol {atol:g} (element {bad} of {len(errors)})"
        )
    return worst


def assert_invariant(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    elements: Iterable[torch.Tensor],
    act_in: Action,
    atol: float = 1e-4,
) -> torch.Tensor:
    """Assert ``fn(g·x) == fn(x)`` within ``atol`` for every element; return the worst error."""
    __tracebackhide__ = True
    return assert_equivariant(fn, x, elements, act_in, None, atol)
