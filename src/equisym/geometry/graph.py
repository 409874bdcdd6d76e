"""Packed atomic graphs: the input contract of every atomistic model in equisym.

An :class:`AtomicGraph` holds one or several structures *packed* (no padding atoms): atoms
of all structures are concatenated and ``structure`` says which structure each atom belongs
to. Edges come from a full periodic neighbour list (:func:`equisym.geometry.neighbors.neighbor_list`,
vesin), both directions stored.

Contract for models (``model(graph) -> dict``):

- a model computes everything from :meth:`AtomicGraph.edge_vectors` and ``species`` (never
  from raw ``positions``), so gradients w.r.t. ``positions`` (forces), w.r.t. a strain
  (stress, via :meth:`AtomicGraph.transformed`) and rotations (:meth:`AtomicGraph.rotated`)
  all work without rebuilding the neighbour list;
- it returns at least ``"energy"`` ``(S,)`` in eV and ``"atom_energy"`` ``(N,)`` in eV.

Units: Å for lengths. Tensors only, no file IO here (reading files is in ``equisym.data``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from equisym.errors import EquisymError
from equisym.geometry.neighbors import check_structure, neighbor_list

__all__ = ["AtomicGraph", "build_graph", "batch_graphs", "reverse_edge_index", "StructureReplicator", "replicate_structures"]


@dataclass
class AtomicGraph:
    """One or several atomic structures, packed, with their full neighbour list.

    Shapes (N atoms in total, S structures, E directed edges):
        - positions: ``(N, 3)`` float, Cartesian, Å.
        - species: ``(N,)`` long, atomic numbers.
        - cell: ``(S, 3, 3)`` float, rows are lattice vectors in Å (zeros if non-periodic).
        - pbc: ``(S, 3)`` bool.
        - structure: ``(N,)`` long, index of the structure each atom belongs to (sorted).
        - n_structures: S.
        - edge_index: ``(2, E)`` long, ``[centre i, neighbour j]``; every edge's reverse is present.
        - edge_shift: ``(E, 3)`` float, Cartesian periodic shift (Å) so that
          ``r_ij = positions[j] − positions[i] + edge_shift``.
        - cutoff: the neighbour-list radius in Å.
        - reverse_edge: ``(E,)`` long or None; ``reverse_edge[e]`` is the edge ``(j, i, −shift)``.
        - cell_shift: ``(E, 3)`` long or None; integer lattice shifts (``edge_shift = cell_shift @ cell``).
    """

    positions: torch.Tensor
    species: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    structure: torch.Tensor
    n_structures: int
    edge_index: torch.Tensor
    edge_shift: torch.Tensor
    cutoff: float
    reverse_edge: torch.Tensor | None = None
    cell_shift: torch.Tensor | None = None

    # ------------------------------------------------------------------ basic views
    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        return self.positions.dtype

    @property
    def device(self) -> torch.device:
        return self.positions.device

    def atoms_per_structure(self) -> torch.Tensor:
        """``(S,)`` long, number of atoms of each structure."""
        return torch.bincount(self.structure, minlength=self.n_structures)

    def edge_vectors(self) -> torch.Tensor:
        """``(E, 3)`` r_ij = positions[j] − positions[i] + edge_shift (Å), differentiable."""
        i, j = self.edge_index
        return self.positions[j] - self.positions[i] + self.edge_shift

    def edge_structure(self) -> torch.Tensor:
        """``(E,)`` long, structure index of each edge."""
        return self.structure[self.edge_index[0]]

    def volume(self) -> torch.Tensor:
        """``(S,)`` cell volumes in Å³ (|det cell|; 0 for non-periodic structures)."""
        return torch.linalg.det(self.cell).abs()

    # ------------------------------------------------------------------ transformations
    def replace(self, **changes) -> "AtomicGraph":
        """A shallow copy with some fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def transformed(self, matrix: torch.Tensor) -> "AtomicGraph":
        """Apply a per-structure linear map ``v -> M v`` to positions, cell rows and edge shifts.

        Args:
            matrix: ``(S, 3, 3)`` or ``(3, 3)`` (same map for every structure).

        Returns:
            A new graph with the same edges. Differentiable w.r.t. ``matrix`` (used for the
            strain derivative, i.e. the stress).
        """
        m = matrix.to(self.dtype)
        if m.dim() == 2:
            m = m.expand(self.n_structures, 3, 3)
        if m.shape != (self.n_structures, 3, 3):
            raise EquisymError(
                f"expected a ({self.n_structures}, 3, 3) matrix per structure, got {tuple(m.shape)}"
            )
        pos = torch.einsum("nab,nb->na", m[self.structure], self.positions)
        shift = torch.einsum("eab,eb->ea", m[self.edge_structure()], self.edge_shift)
        cell = torch.einsum("sab,skb->ska", m, self.cell)
        return self.replace(positions=pos, edge_shift=shift, cell=cell)

    def rotated(self, rotation: torch.Tensor) -> "AtomicGraph":
        """Rotate every structure: ``v -> R v`` for positions, cell rows and edge shifts.

        Args:
            rotation: ``(S, 3, 3)`` per-structure orthogonal matrices (proper or improper), or
                ``(3, 3)`` applied to all structures.

        Edge vectors of the result are exactly ``R_s r_ij``; the edge list is unchanged.
        """
        return self.transformed(rotation)

    def translated(self, shift: torch.Tensor) -> "AtomicGraph":
        """Translate atoms by ``shift`` ``(S, 3)`` or ``(3,)`` (Å); edges are unchanged."""
        t = shift.to(self.dtype)
        if t.dim() == 1:
            t = t.expand(self.n_structures, 3)
        return self.replace(positions=self.positions + t[self.structure])

    def to(self, device=None, dtype: torch.dtype | None = None) -> "AtomicGraph":
        """Move to a device and/or cast float fields to ``dtype``."""
        def f(x):
            if x is None:
                return None
            if x.is_floating_point():
                return x.to(device=device, dtype=dtype)
            return x.to(device=device)

        return self.replace(
            positions=f(self.positions),
            species=f(self.species),
            cell=f(self.cell),
            pbc=f(self.pbc),
            structure=f(self.structure),
            edge_index=f(self.edge_index),
            edge_shift=f(self.edge_shift),
            reverse_edge=f(self.reverse_edge),
            cell_shift=f(self.cell_shift),
        )

    def get_reverse_edge(self) -> torch.Tensor:
        """``(E,)`` index of the reverse of each edge (computed once if not stored)."""
        if self.reverse_edge is None:
            if self.cell_shift is not None:
                shifts = self.cell_shift.cpu().numpy()
            else:  # round Cartesian shifts; fine for a reverse lookup (exact negatives)
                shifts = np.round(self.edge_shift.detach().cpu().numpy() * 1e6).astype(np.int64)
            self.reverse_edge = torch.as_tensor(
                reverse_edge_index(self.edge_index.cpu().numpy(), shifts), device=self.device
            )
        return self.reverse_edge

    def structure_slices(self) -> list[slice]:
        """Atom slices of each structure (atoms are sorted by structure)."""
        counts = self.atoms_per_structure().tolist()
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(int)
        return [slice(int(starts[s]), int(starts[s + 1])) for s in range(self.n_structures)]


def reverse_edge_index(edge_index: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """For each edge ``(i, j, S)`` the index of ``(j, i, −S)``.

    Args:
        edge_index: ``(2, E)`` int.
        shifts: ``(E, 3)`` integer shifts (any integer encoding that negates exactly).

    Raises:
        EquisymError: if some edge has no reverse (the list is not a full list).
    """
    i, j = np.asarray(edge_index, dtype=np.int64)
    shifts = np.asarray(shifts, dtype=np.int64)
    if len(i) == 0:
        return np.zeros(0, dtype=np.int64)
    # Lexicographic keys (i, j, s0, s1, s2) and (j, i, -s0, -s1, -s2).
    fwd = np.stack([i, j, *shifts.T], axis=1)
    rev = np.stack([j, i, *(-shifts).T], axis=1)
    both = np.concatenate([fwd, rev], 0)
    _, inv = np.unique(both, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    key_f, key_r = inv[: len(i)], inv[len(i):]
    order = np.argsort(key_f, kind="stable")
    pos = np.searchsorted(key_f[order], key_r)
    pos = np.clip(pos, 0, len(i) - 1)
    found = order[pos]
    if not np.array_equal(key_f[found], key_r):
        raise EquisymError("the neighbour list is not symmetric: some edge (i, j, S) has no reverse (j, i, -S)")
    return found


def build_graph(
    positions,
    species,
    cell=None,
    pbc=False,
    cutoff: float = 5.0,
    structure=None,
    dtype: torch.dtype | None = None,
    min_distance: float | None = 1e-4,
    name: str = "structure",
) -> AtomicGraph:
    """Build a packed :class:`AtomicGraph` from arrays (vesin neighbour list, full, periodic).

    Args:
        positions: ``(N, 3)`` Å (array or tensor).
        species: ``(N,)`` atomic numbers.
        cell: ``(3, 3)`` or ``(S, 3, 3)`` lattice vectors as rows (Å); None = non-periodic.
        pbc: bool, ``(3,)`` or ``(S, 3)``.
        cutoff: neighbour radius (Å).
        structure: ``(N,)`` structure index of each atom, sorted (None = one structure).
        dtype: float dtype of the result (default: positions' dtype if a tensor, else float32).
        min_distance: atoms closer than this (Å) raise :class:`EquisymError` (None disables).
        name: name used in error messages.

    Raises:
        EquisymError: NaN/inf positions, overlapping atoms, a singular periodic cell, bad shapes.
    """
    if dtype is None:
        dtype = positions.dtype if isinstance(positions, torch.Tensor) and positions.is_floating_point() else torch.get_default_dtype()
    pos_np = np.asarray(positions.detach().cpu() if isinstance(positions, torch.Tensor) else positions, dtype=np.float64)
    spec_np = np.asarray(species.cpu() if isinstance(species, torch.Tensor) else species, dtype=np.int64).reshape(-1)
    n = len(pos_np)
    if pos_np.ndim != 2 or pos_np.shape[-1] != 3:
        raise EquisymError(f"{name}: positions must have shape (n_atoms, 3), got {pos_np.shape}")
    if len(spec_np) != n:
        raise EquisymError(f"{name}: {len(spec_np)} species for {n} atoms")
    if structure is None:
        struct_np = np.zeros(n, dtype=np.int64)
    else:
        struct_np = np.asarray(structure.cpu() if isinstance(structure, torch.Tensor) else structure, dtype=np.int64)
        if len(struct_np) != n or (n and (np.diff(struct_np) < 0).any()):
            raise EquisymError(f"{name}: `structure` must have one sorted entry per atom")
    n_struct = int(struct_np.max()) + 1 if n else 1
    cell_np = np.zeros((n_struct, 3, 3)) if cell is None else np.asarray(
        cell.detach().cpu() if isinstance(cell, torch.Tensor) else cell, dtype=np.float64
    )
    if cell_np.shape == (3, 3):
        cell_np = np.broadcast_to(cell_np, (n_struct, 3, 3)).copy()
    pbc_np = np.asarray(pbc.cpu() if isinstance(pbc, torch.Tensor) else pbc, dtype=bool)
    if pbc_np.ndim < 2:
        pbc_np = np.broadcast_to(pbc_np, (n_struct, 3)).copy()
    if cell_np.shape != (n_struct, 3, 3) or pbc_np.shape != (n_struct, 3):
        raise EquisymError(f"{name}: cell must be (3,3) or ({n_struct},3,3) and pbc (3,) or ({n_struct},3)")

    edges, shifts_int, shifts_cart = [], [], []
    starts = np.searchsorted(struct_np, np.arange(n_struct + 1))
    for s in range(n_struct):
        a, b = starts[s], starts[s + 1]
        sname = name if n_struct == 1 else f"{name} {s}"
        p, c, pb = check_structure(pos_np[a:b], cell_np[s], pbc_np[s], sname)
        if not pb.any():
            c = np.zeros((3, 3))
        nl = neighbor_list(p, cutoff, c, pb, min_distance=min_distance, name=sname)
        edges.append(np.stack([nl.centers + a, nl.neighbors + a]))
        shifts_int.append(nl.shifts)
        shifts_cart.append(nl.shifts.astype(np.float64) @ c)
        cell_np[s] = c if pb.any() else np.zeros((3, 3))
    edge_index = np.concatenate(edges, 1) if edges else np.zeros((2, 0), np.int64)
    shifts_int = np.concatenate(shifts_int, 0) if shifts_int else np.zeros((0, 3), np.int64)
    shifts_cart = np.concatenate(shifts_cart, 0) if shifts_cart else np.zeros((0, 3))
    rev = reverse_edge_index(edge_index, shifts_int)
    return AtomicGraph(
        positions=torch.as_tensor(pos_np, dtype=dtype),
        species=torch.as_tensor(spec_np, dtype=torch.long),
        cell=torch.as_tensor(cell_np, dtype=dtype),
        pbc=torch.as_tensor(pbc_np, dtype=torch.bool),
        structure=torch.as_tensor(struct_np, dtype=torch.long),
        n_structures=n_struct,
        edge_index=torch.as_tensor(edge_index, dtype=torch.long),
        edge_shift=torch.as_tensor(shifts_cart, dtype=dtype),
        cutoff=float(cutoff),
        reverse_edge=torch.as_tensor(rev, dtype=torch.long),
        cell_shift=torch.as_tensor(shifts_int, dtype=torch.long),
    )


def batch_graphs(graphs: Sequence[AtomicGraph]) -> AtomicGraph:
    """Pack several graphs into one (atoms, edges and structures concatenated, no padding).

    All graphs must share the cutoff. Index fields are offset so that the result is a valid
    graph whose structures are those of the inputs, in order.
    """
    if not graphs:
        raise EquisymError("cannot batch an empty list of graphs")
    cutoffs = {g.cutoff for g in graphs}
    if len(cutoffs) != 1:
        raise EquisymError(f"cannot batch graphs with different cutoffs {sorted(cutoffs)}")
    atom_off, edge_off, struct_off = 0, 0, 0
    ei, rev, struct = [], [], []
    have_rev = all(g.reverse_edge is not None for g in graphs)
    have_cs = all(g.cell_shift is not None for g in graphs)
    for g in graphs:
        ei.append(g.edge_index + atom_off)
        struct.append(g.structure + struct_off)
        if have_rev:
            rev.append(g.reverse_edge + edge_off)
        atom_off += g.n_atoms
        edge_off += g.n_edges
        struct_off += g.n_structures
    return AtomicGraph(
        positions=torch.cat([g.positions for g in graphs]),
        species=torch.cat([g.species for g in graphs]),
        cell=torch.cat([g.cell for g in graphs]),
        pbc=torch.cat([g.pbc for g in graphs]),
        structure=torch.cat(struct),
        n_structures=struct_off,
        edge_index=torch.cat(ei, 1),
        edge_shift=torch.cat([g.edge_shift for g in graphs]),
        cutoff=graphs[0].cutoff,
        reverse_edge=torch.cat(rev) if have_rev else None,
        cell_shift=torch.cat([g.cell_shift for g in graphs]) if have_cs else None,
    )


class StructureReplicator:
    """Copies structures of a packed graph many times (for frame ensembles).

    Built once per graph (per-structure atom and edge ranges are precomputed); calling it
    with ``source`` ``(K,)`` long returns a packed graph whose structure ``k`` is a copy of
    structure ``source[k]``, and ``atom_source`` ``(N',)``, the original index of each copied
    atom. Copies are gathers: differentiable w.r.t. positions, cell and shifts; edges keep
    their reverse-edge index.

    Attributes:
        counts: ``(S,)`` atoms per structure of the original graph.
    """

    def __init__(self, graph: "AtomicGraph") -> None:
        dev = graph.positions.device
        self.graph = graph
        n_src = graph.n_structures
        self.counts = torch.bincount(graph.structure, minlength=n_src)
        self.atom_start = torch.cumsum(self.counts, 0) - self.counts
        e_struct = graph.edge_structure()
        self.e_order = torch.argsort(e_struct, stable=True)
        self.e_counts = torch.bincount(e_struct, minlength=n_src)
        self.e_start = torch.cumsum(self.e_counts, 0) - self.e_counts
        self.e_rank = torch.empty_like(self.e_order)
        self.e_rank[self.e_order] = torch.arange(self.e_order.numel(), device=dev)

    def __call__(self, source: torch.Tensor) -> tuple["AtomicGraph", torch.Tensor]:
        graph = self.graph
        dev = graph.positions.device

        def expand(count_per_copy: torch.Tensor, start_per_copy: torch.Tensor):
            total = int(count_per_copy.sum())
            copy = torch.repeat_interleave(torch.arange(source.numel(), device=dev), count_per_copy)
            new_start = torch.cumsum(count_per_copy, 0) - count_per_copy
            offset = torch.arange(total, device=dev) - new_start[copy]
            return copy, start_per_copy[copy] + offset, new_start

        a_copy, a_src, a_new_start = expand(self.counts[source], self.atom_start[source])
        e_copy, e_src_sorted, e_new_start = expand(self.e_counts[source], self.e_start[source])
        e_src = self.e_order[e_src_sorted]
        s_of_copy = source[e_copy]
        edge_index = graph.edge_index[:, e_src] - self.atom_start[s_of_copy] + a_new_start[e_copy]
        reverse = None
        if graph.reverse_edge is not None:
            rev_rank = self.e_rank[graph.reverse_edge[e_src]]
            reverse = rev_rank - self.e_start[s_of_copy] + e_new_start[e_copy]
        rep = AtomicGraph(
            positions=graph.positions[a_src],
            species=graph.species[a_src],
            cell=graph.cell[source],
            pbc=graph.pbc[source],
            structure=a_copy,
            n_structures=int(source.numel()),
            edge_index=edge_index,
            edge_shift=graph.edge_shift[e_src],
            cutoff=graph.cutoff,
            reverse_edge=reverse,
            cell_shift=None if graph.cell_shift is None else graph.cell_shift[e_src],
        )
        return rep, a_src


def replicate_structures(graph: AtomicGraph, source: torch.Tensor) -> tuple[AtomicGraph, torch.Tensor]:
    """A packed graph whose structure ``k`` is a copy of structure ``source[k]`` of ``graph``.

    Differentiable w.r.t. positions, cell and shifts (copies are gathers); edges keep their
    reverse-edge index.

    Returns:
        ``(graph, atom_source)`` with ``atom_source`` ``(N',)`` the original index of each copied atom.
    """
    return StructureReplicator(graph)(source)
