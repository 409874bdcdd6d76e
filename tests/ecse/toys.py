"""Tiny models on the AtomicGraph contract, for the ECSE tests.

``EdgeMLP`` is deliberately *not* rotation invariant (it reads raw Cartesian edge vectors):
it is the control that must fail the symmetry tests when bare and pass them when wrapped.
``LengthOnly`` reads edge lengths only, so it is exactly O(3) invariant: the auxiliary model.
Both are smooth at the graph cutoff (edge terms are multiplied by a C^∞ switch-off).
"""

from __future__ import annotations

import torch
from torch import nn

from equisym.geometry.segments import segment_sum
from equisym.geometry.switching import smooth_cutoff


class EdgeMLP(nn.Module):
    """E_i = b_{Z_i} + Σ_j f_c(r_ij) MLP([r_ij, |r_ij|]); atom_dipole_i = Σ_j f_c(r_ij) MLP_3([r_ij, |r_ij|]), dipole = Σ_i atom_dipole_i."""

    def __init__(self, hidden: int = 16, width: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.mlp = nn.Sequential(nn.Linear(4, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 4))
        self.bias = nn.Embedding(120, 1)
        self.width = width
        self.double()

    def forward(self, graph):
        r = graph.edge_vectors()
        d = r.norm(dim=-1, keepdim=True)
        fc = smooth_cutoff(d, graph.cutoff, self.width)
        out = self.mlp(torch.cat([r, d], dim=-1)) * fc
        i = graph.edge_index[0]
        atom = self.bias(graph.species).squeeze(-1) + segment_sum(out[:, 0], i, graph.n_atoms)
        energy = segment_sum(atom, graph.structure, graph.n_structures)
        atom_dipole = segment_sum(out[:, 1:], i, graph.n_atoms)
        dipole = segment_sum(atom_dipole, graph.structure, graph.n_structures)
        return {"energy": energy, "atom_energy": atom, "dipole": dipole, "atom_dipole": atom_dipole}


class LengthOnly(nn.Module):
    """E_i = Σ_j f_c(r_ij) MLP(|r_ij|): exactly O(3) invariant; dipole is zero."""

    def __init__(self, hidden: int = 8, width: float = 0.5, seed: int = 1) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        self.width = width
        self.double()

    def forward(self, graph):
        d = graph.edge_vectors().norm(dim=-1, keepdim=True)
        e = (self.mlp(d) * smooth_cutoff(d, graph.cutoff, self.width)).squeeze(-1)
        atom = segment_sum(e, graph.edge_index[0], graph.n_atoms)
        energy = segment_sum(atom, graph.structure, graph.n_structures)
        zeros = energy.new_zeros(graph.n_structures, 3)
        return {"energy": energy, "atom_energy": atom, "dipole": zeros, "atom_dipole": atom.new_zeros(graph.n_atoms, 3)}
