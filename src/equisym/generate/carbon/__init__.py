"""Generator of the carbon-allotrope DOS data set (``equisym generate carbon-dos``).

- :mod:`~equisym.generate.carbon.structures`: the eight allotropes, relaxed with Tersoff.
- :mod:`~equisym.generate.carbon.md`: Langevin MD snapshots and their tight-binding DOS.
- :mod:`~equisym.generate.carbon.pipeline`: the resumable, parallel, atomic generator and its CLI.

The files it writes are read by :func:`equisym.data.carbon.load_carbon_dos`.
"""

from equisym.generate.carbon.md import run_md, snapshot_dos
from equisym.generate.carbon.pipeline import add_generate_parser, generate_carbon_dos
from equisym.generate.carbon.structures import STRUCTURES, buckygen_graphs, build_structure, cage_graphs, fullerene

__all__ = [
    "STRUCTURES",
    "build_structure",
    "fullerene",
    "cage_graphs",
    "buckygen_graphs",
    "run_md",
    "snapshot_dos",
    "generate_carbon_dos",
    "add_generate_parser",
]
