"""Baselines for the carbon DOS task: SchNet (torch-geometric) and SOAP + MLP.

Both end in the same atom-wise :class:`~equisym.nn.csgnn_dos.AtomDOSHead` as CSGNN-DOS;
atom contributions are averaged per structure (packed batches, no padding).

- :class:`SchNetDOS`: the atom features of :class:`~equisym.nn.schnet.SchNet` (the same
  network as the ``schnet`` potential) on the edges of :class:`PeriodicInteractionGraph` (our
  vesin neighbour list, periodic images included), then the DOS head.
- :class:`SOAPDOS`: precomputed SOAP power spectra (:mod:`equisym.data.soap`) → BatchNorm →
  the DOS head.

Symmetry: both are exactly invariant (up to float rounding) to rotations, reflections,
translations and atom permutations, because their inputs are (distances; SOAP).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from equisym.errors import EquisymError
from equisym.geometry.neighbors import neighbor_list
from equisym.geometry.segments import segment_mean
from equisym.nn.csgnn_dos import AtomDOSHead, AtomDOSHeadConfig, check_packed
from equisym.nn.registry import FromPreset
from equisym.nn.schnet import SchNet

__all__ = [
    "PeriodicInteractionGraph",
    "SchNetDOSConfig",
    "SchNetDOS",
    "SOAPDOSConfig",
    "SOAPDOS",
    "SCHNET_DOS_PRESETS",
    "SOAP_DOS_PRESETS",
]


class PeriodicInteractionGraph:
    """SchNet ``interaction_graph`` callable on periodic structures (vesin neighbour lists).

    torch-geometric calls ``graph(pos, batch)`` and expects ``(edge_index, edge_weight)``.
    Cells and periodicity are not part of that signature, so they are given first with
    :meth:`set_cells`; edges are found in float64 numpy (no gradient needed), the distances
    are recomputed in torch from ``pos`` so they stay differentiable.

    Shapes:
        - pos: ``(N, 3)`` Å; batch: ``(N,)`` structure index (sorted, packed).
        - returns edge_index ``(2, E)`` (row 0: neighbour j, row 1: centre i, the message
          direction torch-geometric uses) and edge_weight ``(E,)`` distances in Å.
    """

    def __init__(self, cutoff: float) -> None:
        self.cutoff = cutoff
        self.cells: np.ndarray | None = None
        self.pbc: np.ndarray | None = None

    def set_cells(self, cells: torch.Tensor, pbc: torch.Tensor) -> None:
        """Cells ``(S, 3, 3)`` (rows = lattice vectors, Å) and periodicity ``(S, 3)`` of the batch."""
        self.cells = cells.detach().cpu().double().numpy()
        self.pbc = pbc.detach().cpu().numpy().astype(bool)

    def __call__(self, pos: torch.Tensor, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cells is None:
            raise EquisymError("PeriodicInteractionGraph: call set_cells(cells, pbc) before the model")
        batch_np = batch.detach().cpu().numpy()
        pos_np = pos.detach().cpu().double().numpy()
        starts = np.searchsorted(batch_np, np.arange(len(self.cells)))
        ends = np.searchsorted(batch_np, np.arange(len(self.cells)), side="right")
        centers, neighbors, shifts = [], [], []
        for s, (a, b) in enumerate(zip(starts, ends)):
            if b <= a:
                continue
            nl = neighbor_list(pos_np[a:b], self.cutoff, self.cells[s], self.pbc[s], name=f"structure {s} of the batch")
            centers.append(nl.centers + a)
            neighbors.append(nl.neighbors + a)
            shifts.append(nl.shifts @ self.cells[s])
        if centers:
            i = torch.as_tensor(np.concatenate(centers), device=pos.device)
            j = torch.as_tensor(np.concatenate(neighbors), device=pos.device)
            offset = torch.as_tensor(np.concatenate(shifts), dtype=pos.dtype, device=pos.device)
        else:
            i = j = torch.zeros(0, dtype=torch.int64, device=pos.device)
            offset = pos.new_zeros(0, 3)
        vectors = pos[j] - pos[i] + offset
        return torch.stack([j, i]), vectors.norm(dim=-1)


@dataclass
class SchNetDOSConfig(AtomDOSHeadConfig):
    """SchNet with an atom-wise DOS head."""

    hidden_channels: int = 128
    """Atom feature width."""
    num_filters: int = 128
    """Continuous-filter width."""
    num_interactions: int = 3
    """Interaction blocks."""
    num_gaussians: int = 50
    """Gaussian radial basis functions on 0 … cutoff."""
    cutoff: float = 5.0
    """Neighbour cutoff in Å (periodic)."""
    head_dims: list[int] = field(default_factory=lambda: [256, 256])


SCHNET_DOS_PRESETS: dict[str, dict] = {
    "small": dict(hidden_channels=128, num_filters=128, num_interactions=3, head_dims=[256, 256]),
    "tiny": dict(hidden_channels=16, num_filters=16, num_interactions=1, num_gaussians=10, head_dims=[32]),
}


class SchNetDOS(FromPreset, nn.Module):
    """SchNet with an atom-wise DOS head.

    Shapes:
        - numbers ``(N,)`` int64, positions ``(N, 3)`` Å, structure_index ``(N,)`` (sorted),
          cells ``(S, 3, 3)``, pbc ``(S, 3)`` bool; output ``(S, num_energies)`` DOS per atom.
    """

    def __init__(self, config: SchNetDOSConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SchNetDOSConfig()
        self.graph = PeriodicInteractionGraph(config.cutoff)
        self.schnet = SchNet(
            config.hidden_channels, config.num_filters, config.num_interactions, config.num_gaussians, config.cutoff,
            readout=False,  # the DOS head replaces SchNet's scalar readout
        )
        self.head = AtomDOSHead(config.hidden_channels, config)

    def atom_dos(self, numbers, positions, structure_index, cells, pbc) -> torch.Tensor:
        self.graph.set_cells(cells, pbc)
        edge_index, distances = self.graph(positions, structure_index)
        return self.head(self.schnet(numbers, edge_index[0], edge_index[1], distances))

    def forward(self, numbers, positions, structure_index, cells, pbc) -> torch.Tensor:
        num_structures = len(cells)
        check_packed(structure_index, num_structures, len(positions))
        return segment_mean(self.atom_dos(numbers, positions, structure_index, cells, pbc), structure_index, num_structures)


@dataclass
class SOAPDOSConfig(AtomDOSHeadConfig):
    """SOAP descriptor + atom-wise MLP DOS head (the descriptor is computed in ``data``)."""

    num_features: int = 448
    """Length of the per-atom SOAP vector (set by the task from the SOAP settings)."""
    head_dims: list[int] = field(default_factory=lambda: [256, 256])


SOAP_DOS_PRESETS: dict[str, dict] = {
    "small": dict(head_dims=[256, 256]),
    "tiny": dict(head_dims=[32]),
}


class SOAPDOS(FromPreset, nn.Module):
    """Regression head on precomputed per-atom SOAP vectors.

    Shapes:
        - features ``(N, num_features)``, structure_index ``(N,)``; output ``(S, num_energies)``.
    """

    def __init__(self, config: SOAPDOSConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SOAPDOSConfig()
        self.norm = nn.BatchNorm1d(config.num_features)
        self.head = AtomDOSHead(config.num_features, config)

    def atom_dos(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.config.num_features:
            raise EquisymError(f"SOAP features must have shape (N, {self.config.num_features}), got {tuple(features.shape)}")
        return self.head(self.norm(features))

    def forward(self, features: torch.Tensor, structure_index: torch.Tensor, num_structures: int) -> torch.Tensor:
        check_packed(structure_index, num_structures, len(features))
        return segment_mean(self.atom_dos(features), structure_index, num_structures)
