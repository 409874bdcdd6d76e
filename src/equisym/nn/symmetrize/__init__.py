"""Symmetrizers: wrap any model to make it rotation invariant or equivariant.

- :class:`Symmetrized` (ECSE): exact and smooth, frames from the input's own geometry.
- :class:`RotationAveraged`: approximate, a fixed set of random rotations.
"""

from equisym.geometry.ecse_frames import ECSE_PRESETS, ECSEConfig
from equisym.nn.symmetrize.averaging import FrameEnsemble, RotationAveraged, rotate_back
from equisym.nn.symmetrize.ecse import Symmetrized, symmetrize_point_cloud_model

__all__ = ["Symmetrized", "RotationAveraged", "FrameEnsemble", "ECSEConfig", "ECSE_PRESETS", "rotate_back", "symmetrize_point_cloud_model"]
