"""Bridges to other atomistic codes, built on :mod:`equisym.inference`.

- :mod:`~equisym.integrations.ase`: :class:`EquisymCalculator`, an ASE calculator for a
  trained potential.
- :mod:`~equisym.integrations.metatomic`: :func:`export_potential` writes a trained potential
  as a metatomic model for MD engines (needs ``metatomic-torch``).

The names are imported on first use, so importing this package imports neither ASE nor
metatomic.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "EquisymCalculator": "equisym.integrations.ase",
    "MetatomicPotential": "equisym.integrations.metatomic",
    "export_potential": "equisym.integrations.metatomic",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'equisym.integrations' has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)
