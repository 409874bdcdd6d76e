"""Groups and grids as data, with no learning: rotations, the icosphere hierarchy, smooth
switching functions, neighbour lists and atomic graphs, ECSE frames and their weights,
segment reductions and the 17 plane groups."""

from equisym.geometry.ecse_frames import ECSE_PRESETS, ECSEConfig, atom_frames, ensemble_weights
from equisym.geometry.frames import LocalFrames, frames_from_pairs, local_frames, prune_weights
from equisym.geometry.graph import AtomicGraph, StructureReplicator, batch_graphs, build_graph, replicate_structures
from equisym.geometry.neighbors import NeighborList, check_structure, estimate_pairs, neighbor_list
from equisym.geometry.plane_groups import PlaneGroup, plane_group, plane_groups
from equisym.geometry.rotations import (
    axis_angle_rotation,
    icosahedral_rotations,
    icosahedron_faces,
    icosahedron_vertices,
    random_o3,
    random_rotation,
    random_z_rotation,
)
from equisym.geometry.segments import segment_mean, segment_smooth_max, segment_sum
from equisym.geometry.switching import (
    boosted_switch_on,
    cosine_cutoff,
    smooth_cutoff,
    smooth_max,
    smooth_max_bias,
    smooth_switch_on,
    smoothstep,
)

__all__ = [
    "ECSEConfig",
    "ECSE_PRESETS",
    "atom_frames",
    "ensemble_weights",
    "StructureReplicator",
    "replicate_structures",
    "estimate_pairs",
    "segment_sum",
    "segment_mean",
    "segment_smooth_max",
    "LocalFrames",
    "frames_from_pairs",
    "local_frames",
    "prune_weights",
    "boosted_switch_on",
    "AtomicGraph",
    "batch_graphs",
    "build_graph",
    "NeighborList",
    "PlaneGroup",
    "plane_group",
    "plane_groups",
    "check_structure",
    "neighbor_list",
    "axis_angle_rotation",
    "icosahedral_rotations",
    "icosahedron_faces",
    "icosahedron_vertices",
    "random_o3",
    "random_rotation",
    "random_z_rotation",
    "cosine_cutoff",
    "smooth_cutoff",
    "smooth_max",
    "smooth_max_bias",
    "smooth_switch_on",
    "smoothstep",
]
