"""SchNet interatomic potential (peer baseline) on the AtomicGraph contract.

torch-geometric's ``SchNet`` (optional extra ``peers``: ``pip install equisym[peers]``) is
given a custom ``interaction_graph`` callable that returns the edges of our own (vesin,
periodic) neighbour list, so torch-cluster is not needed. Interatomic distances are computed
from ``graph.edge_vectors()`` so forces by autograd (and rotations of the graph) work.

Symmetry: exactly O(3)-invariant (distances only), permutation and translation invariant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from equisym.config import from_dict
from equisym.errors import EquisymError
from equisym.geometry.graph import AtomicGraph
from equisym.nn.atomistic import SpeciesBaseline, check_graph

__all__ = ["SchNetPotentialConfig", "SchNetPotential", "SCHNET_PRESETS"]


@dataclass
class SchNetPotentialConfig:
    """Hyperparameters of :class:`SchNetPotential` (torch-geometric's SchNet names)."""

    species: list[int] = field(default_factory=lambda: [1, 6])
    """Atomic numbers the model knows."""
    cutoff: float = 5.0
    """Interaction cutoff (Å); SchNet's cosine cutoff goes to zero there."""
    hidden_channels: int = 128
    """Atom feature width."""
    num_filters: int = 128
    """Continuous-filter width."""
    num_interactions: int = 3
    """Interaction blocks."""
    num_gaussians: int = 50
    """Radial basis functions."""


SCHNET_PRESETS: dict[str, dict] = {
    "default": {},
    "paper": dict(hidden_channels=128, num_filters=128, num_interactions=6),
    "tiny": dict(hidden_channels=16, num_filters=16, num_interactions=2, num_gaussians=16),
}


class SchNetPotential(SpeciesBaseline, nn.Module):
    """``model(graph) -> {"energy": (S,) eV}`` with torch-geometric's SchNet inside.

    Energies include a per-species baseline and a scale set by :meth:`set_baseline` (the
    ``potential`` task does it from the training set).
    """

    def __init__(self, config: SchNetPotentialConfig | None = None, **kwargs) -> None:
        super().__init__()
        try:
            from torch_geometric.nn.models import SchNet
        except ImportError:  # pragma: no cover - optional extra
            raise EquisymError("SchNet needs torch-geometric: pip install 'equisym[peers]'") from None
        self.config = config if config is not None else from_dict(SchNetPotentialConfig, kwargs, where="SchNet")
        c = self.config
        self._edges: tuple[torch.Tensor, torch.Tensor] | None = None
        self.schnet = SchNet(
            hidden_channels=c.hidden_channels,
            num_filters=c.num_filters,
            num_interactions=c.num_interactions,
            num_gaussians=c.num_gaussians,
            cutoff=c.cutoff,
            interaction_graph=self._interaction_graph,
            readout="add",
        )
        self._register_species(c.species)

    @property
    def cutoff(self) -> float:
        return self.config.cutoff

    def _interaction_graph(self, pos: torch.Tensor, batch: torch.Tensor):
        return self._edges

    def forward(self, graph: AtomicGraph) -> dict:
        check_graph(graph)
        z = graph.species
        index = self.species_index(z)
        vec = graph.edge_vectors()
        dist = vec.norm(dim=1)
        keep = dist < self.config.cutoff
        self._edges = (graph.edge_index[:, keep], dist[keep])
        try:
            raw = self.schnet(z, graph.positions, graph.structure).squeeze(-1)
        finally:
            self._edges = None
        n = graph.n_structures
        if raw.shape[0] < n:  # trailing structures without atoms cannot happen; keep shapes safe
            raw = torch.cat([raw, raw.new_zeros(n - raw.shape[0])])
        base = torch.zeros(n, dtype=raw.dtype, device=raw.device).index_add(0, graph.structure, self.baseline.to(raw.dtype)[index])
        return {"energy": raw * self.energy_scale.to(raw.dtype) + base}
