"""SchNet (Schütt et al. 2017): the one continuous-filter network behind both SchNet models.

:class:`SchNet` is written in plain torch (no optional dependency). Its parameter names are
those of torch-geometric's ``SchNet`` (``embedding``, ``distance_expansion.offset``,
``interactions.k.{mlp, conv.lin1, conv.lin2, lin}``, ``lin1``, ``lin2``), so weights of
models trained with that implementation load unchanged; the computation is the same:

- ``h_i = embedding(Z_i)`` (atomic numbers below 100);
- per interaction block, with Gaussians ``g(d) = exp(−(d − μ_k)² / 2Δ²)`` on ``[0, cutoff]``
  and ``C(d) = ½ (cos(π d / cutoff) + 1)``:
  ``h_i ← h_i + lin(ssp(lin2(Σ_j lin1(h_j) ⊙ mlp(g(d_ij)) C(d_ij))))``, ``ssp(x) = softplus(x) − log 2``;
- optional atom-wise readout ``lin2(ssp(lin1(h_i)))`` (one number per atom).

Users: :class:`SchNetPotential` (energies, the ``schnet`` model) here and
:class:`~equisym.nn.dos_baselines.SchNetDOS` (atom features → DOS head, ``schnet-dos``).

Symmetry: exactly invariant (up to float rounding) to rotations, reflections and
translations (only distances enter) and to permutations of the atoms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from equisym.config import from_dict
from equisym.geometry.graph import AtomicGraph
from equisym.nn.atomistic import SpeciesBaseline, check_graph
from equisym.nn.registry import FromPreset

__all__ = ["SchNet", "SchNetPotentialConfig", "SchNetPotential", "SCHNET_PRESETS", "shifted_softplus"]

MAX_Z = 100
"""Rows of the species embedding (atomic numbers 0 … 99)."""

_LOG2 = float(torch.log(torch.tensor(2.0)))  # log 2 rounded to float32, as torch-geometric's SchNet


def shifted_softplus(x: torch.Tensor) -> torch.Tensor:
    """``softplus(x) − log 2`` (log 2 rounded to float32, so trained SchNet weights give the same outputs)."""
    return nn.functional.softplus(x) - _LOG2


class _ShiftedSoftplus(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shifted_softplus(x)


class _GaussianSmearing(nn.Module):
    """``num_gaussians`` Gaussians with centres ``offset`` evenly on ``[0, cutoff]`` and width the spacing."""

    def __init__(self, cutoff: float, num_gaussians: int) -> None:
        super().__init__()
        offset = torch.linspace(0.0, cutoff, num_gaussians)
        self.coeff = -0.5 / float(offset[1] - offset[0]) ** 2
        self.register_buffer("offset", offset)

    def forward(self, distances: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.coeff * (distances[:, None] - self.offset.to(distances.dtype)) ** 2)


class _CFConv(nn.Module):
    def __init__(self, hidden: int, num_filters: int, filter_net: nn.Sequential, cutoff: float) -> None:
        super().__init__()
        self.lin1 = nn.Linear(hidden, num_filters, bias=False)
        self.lin2 = nn.Linear(num_filters, hidden)
        self.nn = filter_net
        self.cutoff = cutoff
        nn.init.xavier_uniform_(self.lin1.weight)
        nn.init.xavier_uniform_(self.lin2.weight)
        nn.init.zeros_(self.lin2.bias)

    def forward(self, x, source, target, distances, expanded):
        envelope = 0.5 * (torch.cos(distances * math.pi / self.cutoff) + 1.0)
        w = self.nn(expanded) * envelope[:, None]
        message = self.lin1(x)[source] * w
        return self.lin2(message.new_zeros(x.shape[0], message.shape[1]).index_add(0, target, message))


class _Interaction(nn.Module):
    def __init__(self, hidden: int, num_gaussians: int, num_filters: int, cutoff: float) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(num_gaussians, num_filters), _ShiftedSoftplus(), nn.Linear(num_filters, num_filters))
        self.conv = _CFConv(hidden, num_filters, self.mlp, cutoff)
        self.act = _ShiftedSoftplus()
        self.lin = nn.Linear(hidden, hidden)
        for layer in (self.mlp[0], self.mlp[2], self.lin):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x, source, target, distances, expanded):
        return self.lin(self.act(self.conv(x, source, target, distances, expanded)))


class SchNet(nn.Module):
    """SchNet atom features (and an optional atom-wise scalar readout).

    Args:
        hidden_channels: atom feature width.
        num_filters: continuous-filter width.
        num_interactions: interaction blocks.
        num_gaussians: radial basis functions on ``[0, cutoff]``.
        cutoff: Å; the filters go smoothly to zero there.
        readout: build ``lin1``/``lin2`` for :meth:`atom_scalars` (off for feature extractors).

    Shapes:
        - species ``(N,)`` int64 atomic numbers (< 100); edges ``source``, ``target`` ``(E,)``
          int64 (messages flow source → target); distances ``(E,)`` Å.
        - :meth:`forward` → ``(N, hidden_channels)``; :meth:`atom_scalars` → ``(N,)``.

    Symmetry: invariant to rotations, reflections and translations (distances only);
    equivariant to permutations of the atoms (features permute with them).
    """

    def __init__(
        self,
        hidden_channels: int = 128,
        num_filters: int = 128,
        num_interactions: int = 3,
        num_gaussians: int = 50,
        cutoff: float = 5.0,
        readout: bool = True,
    ) -> None:
        super().__init__()
        self.cutoff = cutoff
        self.embedding = nn.Embedding(MAX_Z, hidden_channels, padding_idx=0)
        self.distance_expansion = _GaussianSmearing(cutoff, num_gaussians)
        self.interactions = nn.ModuleList(
            _Interaction(hidden_channels, num_gaussians, num_filters, cutoff) for _ in range(num_interactions)
        )
        self.lin1 = self.lin2 = None
        if readout:
            self.lin1 = nn.Linear(hidden_channels, hidden_channels // 2)
            self.lin2 = nn.Linear(hidden_channels // 2, 1)
            for layer in (self.lin1, self.lin2):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, species: torch.Tensor, source: torch.Tensor, target: torch.Tensor, distances: torch.Tensor) -> torch.Tensor:
        h = self.embedding(species).to(distances.dtype)
        expanded = self.distance_expansion(distances)
        for block in self.interactions:
            h = h + block(h, source, target, distances, expanded)
        return h

    def atom_scalars(self, features: torch.Tensor) -> torch.Tensor:
        """Atom-wise readout ``lin2(ssp(lin1(h)))`` ``(N, hidden) → (N,)``."""
        if self.lin1 is None:
            raise RuntimeError("this SchNet was built with readout=False")
        return self.lin2(shifted_softplus(self.lin1(features))).squeeze(-1)


@dataclass
class SchNetPotentialConfig:
    """Hyperparameters of :class:`SchNetPotential`."""

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


class SchNetPotential(FromPreset, SpeciesBaseline, nn.Module):
    """SchNet interatomic potential: ``model(graph) -> {"energy": (S,), "atom_energy": (N,)}`` in eV.

    Energies are ``energy_scale · Σ_i lin2(ssp(lin1(h_i))) + Σ_i baseline[Z_i]``; the baseline
    and scale are set by :meth:`set_baseline` (the ``potential`` task does it from the
    training set). Forces and stress: :func:`equisym.nn.atomistic.compute_forces`.

    Shapes:
        - input: an :class:`AtomicGraph` built with a cutoff ≥ ``config.cutoff`` (longer edges
          are ignored); output ``energy`` ``(S,)`` eV, ``atom_energy`` ``(N,)`` eV.

    Symmetry: exactly invariant (up to float rounding) to O(3), translations and permutations
    of the atoms; forces are exactly equivariant and conservative.
    """

    registry_name = "schnet"
    torchscript_compatible = False

    def __init__(self, config: SchNetPotentialConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = config if config is not None else from_dict(SchNetPotentialConfig, kwargs, where="SchNet")
        c = self.config
        self.schnet = SchNet(c.hidden_channels, c.num_filters, c.num_interactions, c.num_gaussians, c.cutoff)
        self._register_species(c.species)

    @property
    def cutoff(self) -> float:
        return self.config.cutoff

    def forward(self, graph: AtomicGraph) -> dict:
        check_graph(graph)
        index = self.species_index(graph.species)
        dist = graph.edge_vectors().norm(dim=1)
        keep = dist < self.config.cutoff
        centre, neighbour = graph.edge_index[:, keep]
        h = self.schnet(graph.species, neighbour, centre, dist[keep])
        dtype = h.dtype
        atom = self.schnet.atom_scalars(h) * self.energy_scale.to(dtype) + self.baseline.to(dtype)[index]
        energy = atom.new_zeros(graph.n_structures).index_add(0, graph.structure, atom)
        return {"energy": energy, "atom_energy": atom}
