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


def _as_tensor(value: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``value`` as a tensor of ``like``'s dtype and device (TorchScript cannot mix the two)."""
    if isinstance(value, torch.Tensor):
        return value
    return torch.full((), value, dtype=like.dtype, device=like.device)


def smooth_cutoff(r: torch.Tensor, cutoff: float | torch.Tensor, width: float | torch.Tensor) -> torch.Tensor:
    """C^∞ switch-off f_c(r | R, Δ): 1 for ``r <= R − Δ``, 0 for ``r >= R``.

    This is the "tanh" cutoff of the ECSE paper, ``g(x)`` with ``x = 2(r − R + Δ/2)/Δ``.
    ``cutoff`` and ``width`` may be tensors broadcastable against ``r`` (an adaptive cutoff).
    """
    if torch.jit.is_scripting():
        c, w = _as_tensor(cutoff, r), _as_tensor(width, r)
        x = 2.0 * (r - c + 0.5 * w) / w
    else:
        x = 2.0 * (r - cutoff + 0.5 * width) / width
    return _tanh_step_down(x)


def smooth_switch_on(z: torch.Tensor, start: float | torch.Tensor, width: float | torch.Tensor) -> torch.Tensor:
    """C^∞ switch-on q_c(z | w, Δ) = 1 − f_c(z | w + Δ, Δ): 0 for ``z <= w``, 1 for ``z >= w + Δ``."""
    if torch.jit.is_scripting():
        s, w = _as_tensor(start, z), _as_tensor(width, z)
        return 1.0 - smooth_cutoff(z, s + w, w)
    return 1.0 - smooth_cutoff(z, start + width, width)


def boosted_switch_on(z: torch.Tensor, start: float | torch.Tensor, width: float | torch.Tensor) -> torch.Tensor:
    """Switch-on with the ECSE linear booster: q̃_c(z | w, Δ) = q_c(z | w, Δ) · (z − w)/Δ.

    0 for ``z <= w``; equals 1 at ``z = w + Δ`` and keeps growing linearly beyond (so the
    most orthogonal neighbour pairs get the largest frame weight). C^∞.
    """
    if torch.jit.is_scripting():
        s, w = _as_tensor(start, z), _as_tensor(width, z)
        return smooth_switch_on(z, s, w) * ((z - s) / w).clamp(min=0.0)
    return smooth_switch_on(z, start, width) * ((z - start) / width).clamp(min=0.0)


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
