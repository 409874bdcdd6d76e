"""Smooth switching functions and smooth extrema.

All functions are differentiable torch functions, elementwise over tensors of any shape,
with no NaN gradients at the ends of their switching interval (the inactive branch of each
``torch.where`` is evaluated at a safe point). Distances are in the caller's units
(Å for atoms).
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "cosine_cutoff",
    "smooth_cutoff",
    "smooth_switch_on",
    "boosted_switch_on",
    "smoothstep",
    "smooth_max",
    "smooth_max_bias",
]


def smoothstep(x: torch.Tensor) -> torch.Tensor:
    """C¹ step: 0 for ``x <= 0``, 1 for ``x >= 1``, ``3x² − 2x³`` in between."""
    x = x.clamp(0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def cosine_cutoff(r: torch.Tensor, cutoff: float, width: float) -> torch.Tensor:
    """Cosine switch-off used by PET's attention: 1 for ``r <= cutoff − width``, 0 for ``r >= cutoff``.

    In between ``½[1 + cos(π (r − cutoff + width) / width)]``; C¹ at both ends.
    """
    u = ((r - (cutoff - width)) / width).clamp(0.0, 1.0)
    return 0.5 * (1.0 + torch.cos(math.pi * u))


def _tanh_step_down(x: torch.Tensor) -> torch.Tensor:
    """C^∞ step from 1 (x <= −1) to 0 (x >= 1): ½[1 + tanh(1/(x+1) + 1/(x−1))] inside."""
    inside = (x > -1.0) & (x < 1.0)
    safe = torch.where(inside, x, torch.zeros_like(x))
    value = 0.5 * (1.0 + torch.tanh(1.0 / (safe + 1.0) + 1.0 / (safe - 1.0)))
    return torch.where(inside, value, (x <= -1.0).to(x.dtype))


def smooth_cutoff(r: torch.Tensor, cutoff: float | torch.Tensor, width: float) -> torch.Tensor:
    """C^∞ switch-off f_c(r | R, Δ): 1 for ``r <= R − Δ``, 0 for ``r >= R``.

    This is the "tanh" cutoff of the ECSE paper, ``g(x)`` with ``x = 2(r − R + Δ/2)/Δ``.
    ``cutoff`` may be a tensor broadcastable against ``r`` (an adaptive cutoff).
    """
    x = 2.0 * (_minus(r, cutoff) + 0.5 * width) / width
    return _tanh_step_down(x)


def _minus(x: torch.Tensor, value: float | torch.Tensor) -> torch.Tensor:
    """``x − value`` for a float or a tensor ``value``, in a form TorchScript can type."""
    if isinstance(value, torch.Tensor):
        return x - value
    return x - value


def _plus(value: float | torch.Tensor, width: float) -> float | torch.Tensor:
    """``value + width`` for a float or a tensor ``value``, in a form TorchScript can type."""
    if isinstance(value, torch.Tensor):
        return value + width
    return value + width


def smooth_switch_on(z: torch.Tensor, start: float | torch.Tensor, width: float) -> torch.Tensor:
    """C^∞ switch-on q_c(z | w, Δ) = 1 − f_c(z | w + Δ, Δ): 0 for ``z <= w``, 1 for ``z >= w + Δ``."""
    return 1.0 - smooth_cutoff(z, _plus(start, width), width)


def boosted_switch_on(z: torch.Tensor, start: float | torch.Tensor, width: float) -> torch.Tensor:
    """Switch-on with the ECSE linear booster: q̃_c(z | w, Δ) = q_c(z | w, Δ) · (z − w)/Δ.

    0 for ``z <= w``; equals 1 at ``z = w + Δ`` and keeps growing linearly beyond (so the
    most orthogonal neighbour pairs get the largest frame weight). C^∞.
    """
    return smooth_switch_on(z, start, width) * (_minus(z, start) / width).clamp(min=0.0)


def smooth_max(
    values: torch.Tensor, weights: torch.Tensor, beta: float, dim: int = -1
) -> torch.Tensor:
    """Weighted smooth maximum ``Σ ω v e^{βv} / Σ ω e^{βv}`` along ``dim`` (smooth min for β < 0).

    Computed stably (the exponent is shifted by its maximum). Entries with zero weight do
    not contribute; the result lies between the smallest and largest weighted value.
    """
    shift = (beta * values).detach().amax(dim=dim, keepdim=True)
    expo = weights * torch.exp(beta * values - shift)
    return (expo * values).sum(dim) / expo.sum(dim)


def smooth_max_bias(beta: float) -> float:
    """Upper bound of ``max − smooth_max`` for two equally weighted values: W₀(1/e)/β ≈ 0.2785/β."""
    return 0.2784645427610738 / abs(beta)
