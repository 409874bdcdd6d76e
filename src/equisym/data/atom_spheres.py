"""Per-atom concentric spherical input of the CSGNN DOS model (Fox et al.).

For every atom of a structure, all neighbours within ``cutoff`` (7 Å by default, periodic
images included, through :func:`equisym.geometry.neighbors.neighbor_list`) are placed on an
icosphere around it:

- direction: the **nearest** icosphere vertex of the unit vector atom → neighbour
  (:func:`equisym.geometry.icosphere.nearest_vertices`, k = 1);
- radial bin: ``b = ⌊(d − r_min) · B / (cutoff − r_min)⌋``, clipped to ``0 … B−1``
  (B = 32 bins of 0.1875 Å between 1 and 7 Å by default);
- value: ``1/d`` (``weighting="inverse"``; also ``"inverse_sq"`` = 1/d², ``"none"`` = 1),
  accumulated when several neighbours fall on the same (vertex, bin).

The B radial bins are the *channels* of a single-shell signal (the paper's choice), so one
atom's input has shape ``(V, B)`` with V = 10·4^level + 2 vertices.

**Smooth assignment (our change, ``assignment="smooth"``).** The paper's rule above is
piecewise constant: a neighbour moving by less than a bin (0.19 Å) or a vertex spacing
(a 0.45 Å step at 1.5 Å for level 2) changes nothing, then jumps. Thermal displacements (~0.05 Å)
that move the DOS are thus mostly invisible. The smooth rule spreads each neighbour
continuously instead:

- radial: linear ("hat") interpolation between the two nearest bin *centres*
  ``r_min + (b + ½)·w``, so the input encodes the distance inside a bin;
- direction: every vertex v within ``h = angular_width × mean edge length`` of the unit
  direction u gets ``(1 − |v − u|²/h²)²``, normalised to sum 1 over those vertices (at least
  one is always within h: the icosphere's covering radius is ~0.63 mean edge);
- the value ``1/d`` is multiplied by a cosine switch-off over the last bin before the cutoff,
  so neighbours enter the sphere continuously.

The signal is then a continuous function of the positions, and still *exactly* permuted by
the 60 icosahedral rotations (the weights depend only on distances to the vertex set, which
those rotations map onto itself).

The signal is sparse (a few hundred non-zeros out of V·B), so structures are stored as
:class:`SparseAtomSpheres` (one entry per neighbour pair) and densified per batch with
:func:`densify`.

Symmetry: for each of the 60 icosahedral rotations g aligned with the icosphere
(:func:`equisym.geometry.icosahedral_rotations`), rotating the structure (positions and
cell) permutes the vertices, ``x_i(g·S)[perm_g] = x_i(S)`` with ``perm_g`` from
:func:`equisym.geometry.icosphere.icosahedral_permutations`; exact except when a neighbour
direction lies within float rounding of a tie between two vertices (measure zero; never
met in the tests). Invariant to translations and to permutations of the neighbours.
For other rotations the nearest vertex changes, so the input is only approximately
equivariant (discrete grid). Units: distances in Å, values in 1/Å (``inverse``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import torch

from equisym.errors import EquisymError
from equisym.geometry.icosphere import icosphere, nearest_vertices
from equisym.geometry.neighbors import neighbor_list, require_neighbours
from equisym.geometry.switching import cosine_cutoff

__all__ = ["SphereInputConfig", "AtomSpheresConfig", "SparseAtomSpheres", "atom_spheres_sparse", "atom_spheres", "densify", "check_carbon"]


@dataclass
class SphereInputConfig:
    """How neighbours are put on the sphere: everything of the per-atom spherical input but the
    icosphere level (which a model owns: the ``data.spheres`` section of the ``dos`` task)."""

    cutoff: float = 7.0
    """Neighbour cutoff in Å (periodic images included)."""
    r_min: float = 1.0
    """Inner edge of the first radial bin in Å; closer neighbours go to bin 0."""
    num_bins: int = 32
    """Number B of radial bins between ``r_min`` and ``cutoff`` (the input channels)."""
    weighting: Literal["inverse", "inverse_sq", "none"] = "inverse"
    """Value added per neighbour: 1/d, 1/d², or 1."""
    assignment: Literal["nearest", "smooth"] = "nearest"
    """``nearest``: nearest vertex and hard radial bin (the paper); ``smooth``: continuous
    radial and angular interpolation with a cutoff switch (see the module docstring)."""
    angular_width: float = 1.0
    """``smooth`` only: kernel radius h on the unit sphere, in mean icosphere edge lengths (0.7–1.15)."""
    frames: Literal["lab", "local"] = "lab"
    """``lab``: the sphere is oriented as the structure (the paper; approximately invariant).
    ``local``: each atom also gets its ECSE local frames (:func:`equisym.geometry.ecse_frames.atom_frames`,
    from the neighbours within ``frame_cutoff``), and its input can be built in each of them
    (:meth:`SparseAtomSpheres.in_frames`); a model averaged over them is exactly SO(3) invariant."""
    frame_cutoff: float = 3.0
    """``local`` only: outer radius of the neighbours that define the frames, Å (bonds, not the 7 Å sphere)."""

    def validate(self) -> None:
        if not (self.cutoff > self.r_min >= 0):
            raise EquisymError(f"atom spheres: need cutoff > r_min >= 0, got cutoff={self.cutoff}, r_min={self.r_min}")
        if self.num_bins < 1:
            raise EquisymError(f"atom spheres: num_bins must be >= 1, got {self.num_bins}")
        if self.weighting not in ("inverse", "inverse_sq", "none"):
            raise EquisymError(f"atom spheres: weighting must be inverse, inverse_sq or none, got {self.weighting!r}")
        if self.assignment not in ("nearest", "smooth"):
            raise EquisymError(f"atom spheres: assignment must be nearest or smooth, got {self.assignment!r}")
        if not 0.7 <= self.angular_width <= 1.15:
            # below ~0.63 a direction can have no vertex within h (covering radius); above ~1.2
            # one can have more than the _ANGULAR_CANDIDATES examined (checked in the tests)
            raise EquisymError(f"atom spheres: angular_width must be in [0.7, 1.15], got {self.angular_width}")
        if self.frames not in ("lab", "local"):
            raise EquisymError(f"atom spheres: frames must be lab or local, got {self.frames!r}")
        if not 0 < self.frame_cutoff <= self.cutoff:
            raise EquisymError(f"atom spheres: need 0 < frame_cutoff <= cutoff, got {self.frame_cutoff}")


@dataclass
class AtomSpheresConfig(SphereInputConfig):
    """Hyperparameters of the per-atom spherical input: :class:`SphereInputConfig` and the level."""

    level: int = 3
    """Icosphere level of the directions (V = 10·4^level + 2 vertices; the paper: 3 → 642)."""

    def validate(self) -> None:
        if not 0 <= self.level <= 6:
            raise EquisymError(f"atom spheres: level must be in 0..6, got {self.level}")
        super().validate()

    @property
    def num_vertices(self) -> int:
        return icosphere(self.level).num_vertices


_ANGULAR_CANDIDATES = 8  # vertices examined per direction in the smooth assignment


@dataclass
class SparseAtomSpheres:
    """The spherical input of one structure, as coordinate lists.

    One *pair* per (centre atom, neighbour within the cutoff); each pair adds
    ``value · w_v · (1 − t)`` at (vertex v, bin ``radial``) and ``value · w_v · t`` at
    (v, ``radial + 1``) for its vertices v with angular weights w_v.

    Shapes:
        - atom: ``(P,)`` int64, the centre atom of each pair.
        - radial: ``(P,)`` int64, lower radial bin.
        - radial_upper: ``(P,)`` float32, t in [0, 1] (0 for the paper's hard bins).
        - value: ``(P,)`` float32, 1/d (times the cutoff switch in smooth mode).
        - directions: ``(P, 3)`` float32 unit vectors centre → neighbour (to re-map the input
          under a rotation without recomputing the neighbour list).
        - vertex_pair, vertex, vertex_weight: ``(M,)`` int64, int64, float32: pair index,
          icosphere vertex and angular weight (M = P with weight 1 for the nearest vertex).
        - n_atoms: number of atoms N; the dense form is ``(N, V, num_bins)``.
        - frames, frame_weight, frame_atom: ``(F, 3, 3)`` float64, ``(F,)`` float64, ``(F,)``
          int64: the local frames of the atoms (``frames: local``; columns e1, e2, e3, sorted by
          atom, weights summing to 1 per atom), or ``None``.
    """

    atom: np.ndarray
    radial: np.ndarray
    radial_upper: np.ndarray
    value: np.ndarray
    directions: np.ndarray
    vertex_pair: np.ndarray
    vertex: np.ndarray
    vertex_weight: np.ndarray
    n_atoms: int
    frames: np.ndarray | None = None
    frame_weight: np.ndarray | None = None
    frame_atom: np.ndarray | None = None

    def select(self, atoms: np.ndarray) -> "SparseAtomSpheres":
        """The input of the centre atoms ``atoms`` ``(k,)`` only, renumbered ``0 … k−1`` in that order."""
        atoms = np.asarray(atoms, dtype=np.int64)
        new_index = np.full(self.n_atoms, -1, dtype=np.int64)
        new_index[atoms] = np.arange(len(atoms))
        keep = new_index[self.atom] >= 0
        new_pair = np.cumsum(keep) - 1
        keep_vertex = keep[self.vertex_pair]
        frame_fields = {}
        if self.frames is not None:
            # frames of the kept atoms, grouped by their new index (as the frames are sorted by atom)
            keep_frame = new_index[self.frame_atom] >= 0
            order = np.argsort(new_index[self.frame_atom[keep_frame]], kind="stable")
            frame_fields = dict(
                frames=self.frames[keep_frame][order],
                frame_weight=self.frame_weight[keep_frame][order],
                frame_atom=new_index[self.frame_atom[keep_frame]][order],
            )
        return SparseAtomSpheres(
            atom=new_index[self.atom[keep]],
            radial=self.radial[keep],
            radial_upper=self.radial_upper[keep],
            value=self.value[keep],
            directions=self.directions[keep],
            vertex_pair=new_pair[self.vertex_pair[keep_vertex]],
            vertex=self.vertex[keep_vertex],
            vertex_weight=self.vertex_weight[keep_vertex],
            n_atoms=len(atoms),
            **frame_fields,
        )

    def rotated(self, rotation: np.ndarray, config: "AtomSpheresConfig") -> "SparseAtomSpheres":
        """The input of the structure rotated by ``rotation`` ``(3, 3)`` (directions rotated, vertices
        assigned again; local frames rotated with the structure, ``F → R F``)."""
        rotation = np.asarray(rotation, dtype=np.float64)
        directions = self.directions.astype(np.float64) @ rotation.T
        pair, vertex, weight = angular_assignment(directions, config)
        frames = None if self.frames is None else rotation @ self.frames
        return dataclasses.replace(
            self, directions=directions.astype(np.float32), vertex_pair=pair, vertex=vertex, vertex_weight=weight, frames=frames
        )

    def in_frames(self, frame_ids: np.ndarray, config: "AtomSpheresConfig") -> "SparseAtomSpheres":
        """The inputs of the atoms seen in some of their local frames.

        Entry q of the result is the sphere of atom ``frame_atom[frame_ids[q]]`` with every
        neighbour direction d replaced by its local coordinates ``Fᵀ d`` in frame
        ``frames[frame_ids[q]]`` (vertices assigned again). It depends only on the atom's
        environment up to rotation: rotating the structure rotates d and F alike.

        Args:
            frame_ids: ``(Q,)`` int64 indices into the frames (e.g. one per atom, or all).

        Returns:
            a :class:`SparseAtomSpheres` with ``n_atoms = Q`` and no frames.
        """
        if self.frames is None:
            raise EquisymError("in_frames needs the local frames (atom spheres built with frames: local)")
        frame_ids = np.asarray(frame_ids, dtype=np.int64)
        owner = self.frame_atom[frame_ids]  # (Q,) the atom of every entry
        order = np.argsort(self.atom, kind="stable")  # pairs grouped by centre atom
        counts = np.bincount(self.atom, minlength=self.n_atoms)
        starts = np.cumsum(counts) - counts
        per_entry = counts[owner]
        entry = np.repeat(np.arange(len(frame_ids)), per_entry)  # (P',) entry of every new pair
        rank = np.arange(len(entry)) - np.repeat(np.cumsum(per_entry) - per_entry, per_entry)
        pairs = order[starts[owner][entry] + rank]
        local = np.einsum("pij,pi->pj", self.frames[frame_ids][entry], self.directions[pairs].astype(np.float64))
        pair, vertex, weight = angular_assignment(local, config)
        return SparseAtomSpheres(
            atom=entry.astype(np.int64),
            radial=self.radial[pairs],
            radial_upper=self.radial_upper[pairs],
            value=self.value[pairs],
            directions=local.astype(np.float32),
            vertex_pair=pair,
            vertex=vertex,
            vertex_weight=weight,
            n_atoms=len(frame_ids),
        )


def angular_assignment(directions: np.ndarray, config: "AtomSpheresConfig") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Icosphere vertices and weights of unit ``directions`` ``(P, 3)``.

    Returns ``(pair, vertex, weight)``, each ``(M,)``: ``nearest`` gives each direction its
    nearest vertex with weight 1 (M = P); ``smooth`` gives every vertex within h of the
    direction the weight ``(1 − |v − u|²/h²)²``, normalised per direction (M ≈ 3.5 P).
    """
    directions = torch.from_numpy(np.asarray(directions, dtype=np.float64))
    n = len(directions)
    if config.assignment == "nearest":
        vertex = nearest_vertices(directions, config.level, k=1)[1][:, 0].numpy()
        return np.arange(n, dtype=np.int64), vertex, np.ones(n, dtype=np.float32)
    cos, vert = nearest_vertices(directions, config.level, k=_ANGULAR_CANDIDATES)
    h = config.angular_width * icosphere(config.level).mean_edge_length
    chord_sq = (2.0 - 2.0 * cos).clamp_min(0.0)
    weight = (1.0 - chord_sq / h**2).clamp_min(0.0) ** 2
    weight = weight / weight.sum(1, keepdim=True)
    pair, slot = torch.nonzero(weight > 0, as_tuple=True)
    return pair.numpy(), vert[pair, slot].numpy(), weight[pair, slot].numpy().astype(np.float32)


def check_carbon(numbers: np.ndarray, name: str = "structure") -> None:
    """Raise :class:`EquisymError` if any atom is not carbon (Z = 6)."""
    numbers = np.asarray(numbers)
    bad = np.nonzero(numbers != 6)[0]
    if len(bad):
        from ase.data import chemical_symbols

        z = int(numbers[bad[0]])
        symbol = chemical_symbols[z] if 0 <= z < len(chemical_symbols) else str(z)
        raise EquisymError(
            f"{name}: atom {int(bad[0])} is {symbol} (Z={z}); the carbon DOS models accept only carbon (Z=6)"
        )


def atom_spheres_sparse(
    positions: np.ndarray,
    cell: np.ndarray | None,
    pbc,
    config: AtomSpheresConfig | None = None,
    numbers: np.ndarray | None = None,
    name: str = "structure",
) -> SparseAtomSpheres:
    """Sparse per-atom spherical input of one structure.

    Args:
        positions: ``(N, 3)`` Cartesian positions in Å.
        cell: ``(3, 3)`` lattice vectors as rows (Å), or ``None``.
        pbc: periodicity (one bool or three).
        config: :class:`AtomSpheresConfig` (defaults: the paper's 7 Å, 32 bins, level 3).
        numbers: atomic numbers ``(N,)``; if given, anything but carbon is an error.
        name: how to call the structure in error messages.

    Raises:
        EquisymError: a non-carbon atom, invalid geometry, or an atom with no neighbour
            within the cutoff (its input would be all zeros).
    """
    config = config or AtomSpheresConfig()
    config.validate()
    if numbers is not None:
        check_carbon(numbers, name)
    nl = neighbor_list(positions, config.cutoff, cell, pbc, name=name)
    n_atoms = len(np.asarray(positions))
    if n_atoms == 0:
        raise EquisymError(f"{name}: the structure has no atoms")
    require_neighbours(nl, n_atoms, config.cutoff, name, "its spherical input would be empty")
    d = nl.distances
    directions = nl.vectors / d[:, None]
    width = (config.cutoff - config.r_min) / config.num_bins
    if config.weighting == "inverse":
        value = 1.0 / d
    elif config.weighting == "inverse_sq":
        value = 1.0 / d**2
    else:
        value = np.ones_like(d)
    if config.assignment == "nearest":
        radial = np.clip(np.floor((d - config.r_min) / width).astype(np.int64), 0, config.num_bins - 1)
        upper = np.zeros_like(d)
    else:  # hat functions on the bin centres; a cosine switch over the last bin width
        u = np.clip((d - config.r_min) / width - 0.5, 0.0, config.num_bins - 1)  # position in bin centres
        radial = np.clip(np.floor(u).astype(np.int64), 0, max(config.num_bins - 2, 0))
        upper = u - radial
        value = value * cosine_cutoff(torch.from_numpy(d), config.cutoff, width).numpy()
    pair, vertex, weight = angular_assignment(directions, config)
    frame_fields = {}
    if config.frames == "local":
        from equisym.geometry.ecse_frames import atom_frames

        near = d < config.frame_cutoff
        try:
            frames, frame_weight, frame_atom = atom_frames(
                torch.from_numpy(nl.vectors[near]), torch.from_numpy(nl.centers[near].astype(np.int64)), n_atoms,
                config.frame_cutoff,
            )
        except EquisymError as err:
            raise EquisymError(f"{name}: {err}; raise frame_cutoff or use frames: lab") from None
        frame_fields = dict(frames=frames.numpy(), frame_weight=frame_weight.numpy(), frame_atom=frame_atom.numpy())
    return SparseAtomSpheres(
        atom=nl.centers.astype(np.int64),
        radial=radial,
        radial_upper=upper.astype(np.float32),
        value=value.astype(np.float32),
        directions=directions.astype(np.float32),
        vertex_pair=pair,
        vertex=vertex.astype(np.int64),
        vertex_weight=weight,
        n_atoms=n_atoms,
        **frame_fields,
    )


def densify(
    structures: Sequence[SparseAtomSpheres], config: AtomSpheresConfig, rotations: Sequence[np.ndarray] | None = None
) -> torch.Tensor:
    """Dense packed signal of several structures (atoms concatenated in order).

    Args:
        structures: sparse inputs computed with the same ``config``.
        config: the :class:`AtomSpheresConfig`.
        rotations: optional ``(3, 3)`` rotation per structure; the input is then that of the
            rotated structure (directions rotated, nearest vertices searched again).

    Shapes:
        - output: ``(Σ N_s, V, num_bins)`` float32.
    """
    v, b = config.num_vertices, config.num_bins
    total = sum(s.n_atoms for s in structures)
    out = torch.zeros(total * v * b, dtype=torch.float32)
    flats, values, offset = [], [], 0
    for k, s in enumerate(structures):
        if rotations is not None:
            s = s.rotated(rotations[k], config)
        pair = s.vertex_pair
        flat = (s.atom[pair] + offset) * (v * b) + s.vertex * b + s.radial[pair]
        val = s.value[pair] * s.vertex_weight
        upper = s.radial_upper[pair]
        lower_only = upper == 0
        flats += [flat, flat[~lower_only] + 1]
        values += [val * (1.0 - upper), (val * upper)[~lower_only]]
        offset += s.n_atoms
    if flats:
        out.index_add_(0, torch.from_numpy(np.concatenate(flats)), torch.from_numpy(np.concatenate(values).astype(np.float32)))
    return out.reshape(total, v, b)


def atom_spheres(atoms, config: AtomSpheresConfig | None = None, name: str = "structure") -> torch.Tensor:
    """Dense per-atom spherical input of an ``ase.Atoms`` (carbon only).

    Example:
        >>> from ase.build import graphene
        >>> x = atom_spheres(graphene(size=(2, 2, 1), vacuum=5.0))
        >>> tuple(x.shape)
        (8, 642, 32)

    Shapes:
        - output: ``(N, V, num_bins)`` float32.
    """
    config = config or AtomSpheresConfig()
    sparse = atom_spheres_sparse(
        atoms.get_positions(), np.asarray(atoms.get_cell()), atoms.get_pbc(), config, atoms.get_atomic_numbers(), name
    )
    return densify([sparse], config)
