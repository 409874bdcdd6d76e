"""Process-wide numeric settings shared by training and inference (no Lightning import)."""

from __future__ import annotations

import torch

__all__ = ["flush_denormals"]


def flush_denormals() -> bool:
    """Round subnormal floats (|x| < 1.2e-38 in float32) to zero on the CPU.

    Arithmetic on subnormal numbers is 10-100x slower on x86 CPUs; gradients of saturated
    units can decay into that range late in training. Flushing changes values only below
    1.2e-38.

    Returns:
        True when flushing is on; False (and nothing changed) where the CPU cannot flush.
    """
    return torch.set_flush_denormal(True)
