"""equisym: deep learning that respects the symmetries of scientific data.

Subpackages (data flows one way, left to right):

``geometry`` → ``physics`` → ``data`` / ``generate`` → ``nn`` → ``train`` → ``inference`` → ``cli``

- :mod:`equisym.geometry`: groups and grids as data (icosphere hierarchy, rotations, plane
  groups, switching functions, neighbour lists, atomic graphs, ECSE frames and weights,
  segment sums). No learning.
- :mod:`equisym.physics`: tight binding, densities of states, band energies.
- :mod:`equisym.data`, :mod:`equisym.generate`: datasets, transforms and generators.
- :mod:`equisym.nn`: layers, models, the model registry and the symmetrizers.
- :mod:`equisym.train`: Lightning tasks and the run-directory engine.
- :mod:`equisym.inference`: load a trained model and predict, without Lightning.
- :mod:`equisym.testing`: public helpers and the model conformance suite.

The names a user needs are available here directly and are imported on first use, so
``import equisym`` itself stays light (it imports neither torch nor Lightning):

>>> import equisym
>>> model = equisym.PET.from_preset("tiny", species=[1, 6])  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "CSGNN": "equisym.nn",
    "PET": "equisym.nn",
    "Symmetrized": "equisym.nn.symmetrize",
    "RotationAveraged": "equisym.nn.symmetrize",
    "build_model": "equisym.nn.registry",
    "load_model": "equisym.inference",
    "plane_group": "equisym.geometry.plane_groups",
    "icosahedral_rotations": "equisym.geometry.rotations",
    "random_rotation": "equisym.geometry.rotations",
    "EquisymError": "equisym.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'equisym' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
