"""ECSE frame ensembles: hyperparameters, pruned weights and per-atom frames (no learning).

The geometry half of ECSE (Pozdnyakov & Ceriotti, NeurIPS 2023); the wrapper that evaluates a
model in every frame is :class:`equisym.nn.Symmetrized`.

- :class:`ECSEConfig` and :data:`ECSE_PRESETS`: the hyperparameters (reference names).
- :func:`config_local_frames`: :func:`~equisym.geometry.frames.local_frames` driven by a config.
- :func:`ensemble_weights`: raw frame weights → the ensemble (pruning, mirrored frames for
  O(3), the auxiliary model's weight).
- :func:`atom_frames`: the frames of every atom separately (the ensemble of a per-atom model,
  used by :mod:`equisym.data.atom_spheres`).
- :func:`cell_frames`: one frame per periodic structure from its lattice vectors
  (``frame_source: cell``): constant while atoms move, bounded cost whatever the density.

Symmetry: weights, pruning and the auxiliary weight depend on distances and on
``|r̂_j × r̂_j'|²`` only and are exactly invariant under O(3) and permutations of the
neighbours; frames rotate with the input (``F → Q F`` for proper ``Q``; with ``improper`` the
ensemble also holds ``F·diag(1, −1, 1)``, so an improper ``Q`` maps the ensemble onto itself).
Everything is differentiable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from equisym.errors import EquisymError
from equisym.geometry.frames import LocalFrames, frames_from_pairs, local_frames, padded_neighbors, prune_weights
from equisym.geometry.segments import segment_smooth_max, segment_sum
from equisym.geometry.switching import smooth_cutoff

__all__ = [
    "ECSEConfig", "ECSE_PRESETS", "config_local_frames", "ensemble_weights", "ensemble_weight_tensors", "atom_frames",
    "cell_frames",
]


@dataclass
class ECSEConfig:
    """Hyperparameters of ECSE: the frames and weights (used here) and the wrapper's batching
    and output kinds (used by :class:`equisym.nn.Symmetrized`).

    Names and defaults follow the reference code (``sp_default_hypers.yaml``, lower-cased,
    including its spelling "prunning"), except ``num_prunnings`` (1 instead of 4). Lengths are
    Å for atomistic graphs and units of the cloud's RMS radius for point clouds (see
    ``point_cloud_scale``).
    """

    frame_source: Literal["local", "cell"] = "local"
    """Where the frames of a structure come from. ``local``: neighbour pairs of every atom (the
    ECSE ensemble). ``cell``: for structures periodic in all three directions, the single frame
    of their lattice vectors (:func:`cell_frames`): it does not move when atoms move, so MD at
    fixed cell sees the backbone's own smoothness, and it costs one model pass whatever the
    neighbour count; other structures keep local frames. Exactly invariant under rotations of
    the structure *with its cell*; not invariant to re-choosing the cell vectors of the same
    crystal (graphs only)."""
    r_cut_outer_upper_bound: float = 10.0
    """Upper bound of the outer radius R_out = min(graph cutoff, this) (Å)."""
    beta: float = 5.0
    """β of the smooth max/min that set the adaptive inner cutoff (1/length)."""
    delta_r_cut: float = 0.15
    """Δ_R, width of the radial switches of the inner cutoff (length)."""
    w: float = 0.2
    """W: pairs with spread s = sin²θ ≥ W (+Δ_W) set the inner cutoff; frames switch on from W − Δ_W."""
    delta_w: float = 0.15
    """Δ_W, width of the spread switches."""
    add_linear_multiplier_q_func: bool = True
    """Boost the frame weight linearly with the spread (more orthogonal pairs weigh more)."""
    beta_weights: float = 1.0
    """β_w of the smooth max of the weights (pruning and the auxiliary-model switch)."""
    aux_threshold: float = 0.5
    """The auxiliary model's weight is f_c(M | aux_threshold, aux_threshold_delta), M = smooth max of weights."""
    aux_threshold_delta: float = 0.5
    """Width of the auxiliary-model switch."""
    use_prunning: bool = True
    """Smoothly prune the frames to those within ~10 % of the largest weight."""
    num_prunnings: int = 1
    """Rounds of pruning (the reference uses 4). Each round multiplies a weight by a switch of
    itself, so the weights' gradients compound with the number of rounds and ECSE forces pick
    up that factor times the backbone's spread over frames; fewer rounds keep forces closer to
    the backbone's (``docs/ecse.md`` compares 1 and 4 rounds)."""
    prunning_threshold: float = 0.9
    """A frame survives a round if its weight exceeds ~this fraction of the smooth max."""
    prunning_threshold_delta: float = 0.1
    """Width of the pruning switch, as a fraction of the smooth max."""
    prunning_turn_on_threshold: float = 0.5
    """Pruning is fully active when M ≥ this (bypassed for near-degenerate structures)."""
    prunning_turn_on_threshold_delta: float = 0.25
    """Pruning is bypassed when M ≤ prunning_turn_on_threshold − this."""
    species_prunning: bool = False
    """Keep only the frames of the largest (centre, neighbour, neighbour) species triple (graphs only)."""
    epsilon: float = 1e-10
    """Frames with weight below this are dropped."""
    improper: bool = False
    """Add the mirrored frames F·diag(1, −1, 1): O(3) instead of SO(3) symmetry, 2× frames."""
    batch_size_sp: int = 256
    """At most this many frames (rotated copies) per model pass."""
    max_atoms_per_pass: int = 8192
    """Graphs: also at most about this many atoms per model pass (at least one frame per pass)."""
    max_num: int | None = None
    """Raise an error when a forward pass would need more frames than this (None = no limit)."""
    point_cloud_neighbors: int = 32
    """Point clouds: the neighbours of the centroid are this many nearest points; R_out is the
    distance of the next one (continuous and invariant)."""
    point_cloud_scale: Literal["rms", "none"] = "rms"
    """Point clouds: measure lengths in units of the cloud's RMS radius (scale-free weights) or raw."""
    vector_outputs: list[str] = field(default_factory=lambda: ["dipole", "forces", "atom_dipole", "vector"])
    """Output keys that are Cartesian vectors (last dim 3), rotated back as v = F v_local."""
    tensor_outputs: list[str] = field(default_factory=lambda: ["polarizability", "stress", "virial"])
    """Output keys that are Cartesian rank-2 tensors (last dims 3×3), rotated back as F T Fᵀ."""
    per_atom_outputs: list[str] = field(default_factory=lambda: ["atom_energy", "forces"])
    """Output keys with one row per atom (also any key starting with ``atom_``); others have one row per structure."""

    def validate(self) -> None:
        """Raise :class:`~equisym.errors.EquisymError` naming the first out-of-range field."""
        positive = ("beta", "delta_r_cut", "delta_w", "beta_weights", "aux_threshold_delta",
                    "prunning_threshold_delta", "prunning_turn_on_threshold_delta", "r_cut_outer_upper_bound")
        for name in positive:
            if not getattr(self, name) > 0:
                raise EquisymError(f"ecse.{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.delta_w <= self.w:
            raise EquisymError(f"ecse.delta_w must be in (0, w = {self.w}], got {self.delta_w}")
        if self.frame_source not in ("local", "cell"):
            raise EquisymError(f"ecse.frame_source must be 'local' or 'cell', got {self.frame_source!r}")
        if self.batch_size_sp < 1 or self.max_atoms_per_pass < 1 or self.num_prunnings < 0 or self.point_cloud_neighbors < 2:
            raise EquisymError(
                "ecse.batch_size_sp and ecse.max_atoms_per_pass must be >= 1, ecse.point_cloud_neighbors >= 2, "
                "ecse.num_prunnings >= 0"
            )


ECSE_PRESETS: dict[str, dict[str, Any]] = {
    # The defaults, for atomistic graphs in Å (the reference's, except num_prunnings: 1).
    "atomistic": {},
    # Molecular dynamics of molecules: weights that vary slowly with the geometry (no pruning,
    # radial switches 0.5 Å wide), so the backbone's small orientation dependence is spread
    # over large displacements instead of narrow switches (docs/ecse.md, "Molecular dynamics").
    "md": dict(use_prunning=False, delta_r_cut=0.5),
    # Periodic solids: the cell frame (one model pass per structure, fixed while atoms move);
    # non-periodic structures in the same batch keep the "md" local frames.
    "periodic": dict(frame_source="cell", use_prunning=False, delta_r_cut=0.5),
    # Point clouds (lengths in RMS radii): a sharp smooth-min, a narrow radial switch and a
    # sharper pruning keep the frames few (clouds with many symmetry-equivalent points near
    # the centroid keep more).
    "point_cloud": dict(
        beta=100.0,
        delta_r_cut=0.02,
        beta_weights=5.0,
        prunning_threshold=0.97,
        prunning_threshold_delta=0.03,
        num_prunnings=4,  # classifiers need no gradients w.r.t. the points: the reference's rounds
        point_cloud_neighbors=32,
    ),
}


def config_local_frames(vectors: torch.Tensor, mask: torch.Tensor, r_out: torch.Tensor, cfg: ECSEConfig) -> LocalFrames:
    """:func:`~equisym.geometry.frames.local_frames` with the hyperparameters of ``cfg``.

    Shapes:
        - vectors: ``(C, K, 3)`` padded neighbour vectors; mask: ``(C, K)`` bool; r_out: ``(C,)``.
    """
    return local_frames(
        vectors,
        mask,
        r_out,
        beta=cfg.beta,
        delta_r_cut=cfg.delta_r_cut,
        w=cfg.w,
        delta_w=cfg.delta_w,
        boost=cfg.add_linear_multiplier_q_func,
        epsilon=cfg.epsilon,
    )


def ensemble_weights(
    frames: torch.Tensor,
    weights: torch.Tensor,
    segment: torch.Tensor,
    num_segments: int,
    config: ECSEConfig,
    types: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The frame ensemble of ECSE from raw frame weights: pruning, mirroring, auxiliary weight.

    Args:
        frames: ``(F, 3, 3)`` frames (columns e1, e2, e3) with raw weights ``weights`` ``(F,)``.
        segment: ``(F,)`` long, the ensemble (structure, cloud or atom) of each frame.
        num_segments: number of ensembles.
        config: the :class:`ECSEConfig` (pruning, ``improper``, ``epsilon``).
        types: optional ``(F,)`` frame types for species pruning.

    Returns:
        ``(frames, weights, segment, w_aux)``: the frames kept (weight > ``epsilon``; mirrored
        copies appended with ``improper``), their pruned weights and segments, and the
        auxiliary model's weight per segment ``(num_segments,)`` (``f_c`` of the smooth max of
        the raw weights). All invariant under O(3) except the frames, which rotate with the input.
    """
    cfg = config
    return ensemble_weight_tensors(
        frames, weights, segment, num_segments, cfg.beta_weights, cfg.aux_threshold, cfg.aux_threshold_delta,
        cfg.use_prunning, cfg.prunning_threshold, cfg.prunning_threshold_delta, cfg.prunning_turn_on_threshold,
        cfg.prunning_turn_on_threshold_delta, cfg.num_prunnings, cfg.epsilon, cfg.improper, types,
    )


def ensemble_weight_tensors(
    frames: torch.Tensor,
    weights: torch.Tensor,
    segment: torch.Tensor,
    num_segments: int,
    beta_weights: float,
    aux_threshold: float,
    aux_threshold_delta: float,
    use_prunning: bool,
    prunning_threshold: float,
    prunning_threshold_delta: float,
    prunning_turn_on_threshold: float,
    prunning_turn_on_threshold_delta: float,
    num_prunnings: int,
    epsilon: float,
    improper: bool,
    types: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`ensemble_weights` with the :class:`ECSEConfig` fields as arguments (TorchScript-compatible)."""
    big = segment_smooth_max(weights, weights, segment, num_segments, beta_weights)
    w_aux = smooth_cutoff(big, aux_threshold, aux_threshold_delta)
    if use_prunning:
        weights = prune_weights(
            weights,
            segment,
            num_segments,
            beta_weights=beta_weights,
            threshold=prunning_threshold,
            threshold_delta=prunning_threshold_delta,
            turn_on=prunning_turn_on_threshold,
            turn_on_delta=prunning_turn_on_threshold_delta,
            num_rounds=num_prunnings,
            types=types,
        )
    keep = weights > epsilon
    frames, weights, segment = frames[keep], weights[keep], segment[keep]
    if improper:
        mirror = torch.tensor([1.0, -1.0, 1.0], dtype=frames.dtype, device=frames.device)  # = MIRROR
        frames = torch.cat([frames, frames * mirror])
        weights = torch.cat([weights, weights])
        segment = torch.cat([segment, segment])
    return frames, weights, segment, w_aux


def atom_frames(
    vectors: torch.Tensor, centre: torch.Tensor, num_atoms: int, r_out: float, config: ECSEConfig | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ECSE frames of every atom *separately*: the ensemble of a per-atom (local) model.

    :class:`~equisym.nn.Symmetrized` pools the frames of all atoms of a structure (a global ensemble, for
    message-passing models). A model of one atom's environment only needs that atom's own
    frames: ``y_i = Σ_k w_ik y0(F_ikᵀ A_i) / Σ_k w_ik`` is then exactly invariant under SO(3)
    (O(3) with ``improper``) for every atom, with the atom's frames and weights computed as in
    :func:`~equisym.geometry.frames.local_frames` and :func:`ensemble_weights`.

    Args:
        vectors: ``(E, 3)`` neighbour vectors ``r_ij`` (only those within ``r_out`` matter).
        centre: ``(E,)`` long, the atom ``i`` of each vector.
        num_atoms: number of atoms N.
        r_out: outer radius of the frame neighbours (same units as ``vectors``).
        config: :class:`ECSEConfig` (default: the atomistic defaults, Å).

    Returns:
        ``(frames (F, 3, 3), weights (F,), atom (F,))``: frames sorted by atom, weights
        normalised to sum 1 per atom.

    Raises:
        EquisymError: an atom has no non-collinear pair of neighbours within its adaptive
            inner cutoff (no frame; e.g. an atom of a linear chain).
    """
    cfg = config or ECSEConfig()
    padded, mask, _ = padded_neighbors(vectors, centre, num_atoms)
    lf = config_local_frames(padded, mask, torch.full((num_atoms,), float(r_out), dtype=vectors.dtype), cfg)
    frames, weights, atom, _ = ensemble_weights(lf.frames, lf.weights, lf.centre, num_atoms, cfg)
    order = torch.argsort(atom, stable=True)
    frames, weights, atom = frames[order], weights[order], atom[order]
    total = segment_sum(weights, atom, num_atoms)
    if bool((total <= 0).any()):
        lonely = (total <= 0).nonzero().flatten().tolist()
        raise EquisymError(
            f"no local frame for atom(s) {lonely[:10]}: no non-collinear pair of neighbours within "
            f"{r_out:g} (e.g. an atom of a linear chain)"
        )
    return frames, weights / total[atom], atom


def cell_frames(cell: torch.Tensor, pbc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One frame per structure periodic in all three directions, from its lattice vectors.

    ``F = [e1 | e2 | e3]`` with ``e1 = â1``, ``e2 = â1 × â2 / |·|``, ``e3 = e1 × e2``
    (:func:`~equisym.geometry.frames.frames_from_pairs` of the first two cell rows). Rotating a
    structure together with its cell maps ``F → Q F``, so a model evaluated in this frame is
    exactly SO(3) invariant; the frame is differentiable w.r.t. the cell (stress) and constant
    while the atoms move.

    Shapes:
        - cell: ``(S, 3, 3)`` rows are lattice vectors; pbc: ``(S, 3)`` bool.
        - output: ``(frames (P, 3, 3), structure (P,) long)`` for the P fully periodic structures.

    Raises:
        EquisymError: a periodic structure has collinear (or zero) first two lattice vectors.
    """
    periodic = pbc.all(dim=1).nonzero().flatten()
    a1, a2 = cell[periodic, 0], cell[periodic, 1]
    cross = torch.linalg.cross(a1, a2).norm(dim=-1)
    if bool((cross <= 1e-8 * (a1.norm(dim=-1) * a2.norm(dim=-1)).clamp_min(1e-30)).any()):
        raise EquisymError("cell frames: a periodic structure has collinear or zero lattice vectors")
    return frames_from_pairs(a1, a2), periodic
