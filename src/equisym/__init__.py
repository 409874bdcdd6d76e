"""equisym: deep learning that respects the symmetries of scientific data.

Subpackages (data flows one way, left to right):

``geometry`` → ``data`` / ``physics`` → ``nn`` → ``train`` → ``cli``

- :mod:`equisym.geometry`: groups and grids as data (icosphere hierarchy, rotations,
  plane groups, smooth switching functions, neighbour lists). Imports nothing of ours.
- :mod:`equisym.data`: datasets, generators and transforms.
- :mod:`equisym.physics`: tight binding, densities of states, band energies.
- :mod:`equisym.nn`: layers and models (CSGNN, PET, the ECSE symmetrizer, image models).
- :mod:`equisym.train`: Lightning tasks, losses, metrics, the run-directory engine.
- :mod:`equisym.testing`: public helpers to test invariance and equivariance.
"""

__version__ = "0.1.0"
