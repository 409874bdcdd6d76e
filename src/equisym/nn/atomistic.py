"""Helpers shared by every atomistic model: input checks, conservative forces and stress.

Every atomistic model maps an :class:`~equisym.geometry.graph.AtomicGraph` to a dict with
``"energy"`` ``(S,)`` (eV) and ``"atom_energy"`` ``(N,)`` (eV). :func:`compute_forces` turns
any such callable (a bare model, an ECSE-wrapped model, a rotation average, a lambda that
rotates the graph first) into energies, forces ``−∂E/∂positions`` (eV/Å) and, for periodic
cells, the stress ``(1/V) ∂E/∂ε`` (eV/Å³, ASE sign convention) by automatic differentiation.

Symmetry: forces and stress are exactly the derivatives of the energy, so they inherit its
symmetry: an energy invariant under a rotation ``R`` gives forces ``F(R·x) = R F(x)`` and stress
``σ(R·x) = R σ(x) Rᵀ``; an energy invariant under translations and permutations gives forces
that sum to zero per structure and permute with the atoms.
"""

from __future__ import annotations

from typing import Callable

import torch

from equisym.errors import EquisymError
from equisym.geometry.graph import AtomicGraph

__all__ = ["compute_forces", "check_graph", "species_index_table", "SpeciesBaseline"]


def check_graph(graph: AtomicGraph, min_distance: float = 1e-4) -> None:
    """Raise :class:`EquisymError` on non-finite positions/cell or overlapping atoms.

    Cheap checks done at every model call, so a bad structure (e.g. an exploding MD run)
    raises a clear error instead of returning NaN energies.
    """
    pos = graph.positions.detach()
    if not torch.isfinite(pos).all():
        bad = int(torch.nonzero(~torch.isfinite(pos).all(1))[0, 0])
        raise EquisymError(f"atom {bad} has a non-finite position {pos[bad].tolist()}")
    if not torch.isfinite(graph.cell.detach()).all():
        raise EquisymError("the cell has non-finite entries")
    if graph.n_edges:
        d = graph.edge_vectors().detach().norm(dim=1)
        k = int(torch.argmin(d))
        if d[k] < min_distance:
            i, j = graph.edge_index[:, k].tolist()
            raise EquisymError(f"atoms {i} and {j} overlap (distance {float(d[k]):.2e} Å)")


def species_index_table(species: list[int]) -> torch.Tensor:
    """Lookup table ``Z -> index`` (−1 for unknown atomic numbers), length max(Z)+1."""
    table = torch.full((max(species) + 1,), -1, dtype=torch.long)
    for k, z in enumerate(species):
        table[z] = k
    return table


class SpeciesBaseline:
    """Mixin for potentials over a fixed list of atomic numbers: the ``Z → index`` table, the
    per-species baseline energies (eV) and the energy scale, fitted on the training set by the
    ``potential`` task through :meth:`set_baseline`. Call :meth:`_register_species` in
    ``__init__`` (after ``nn.Module.__init__``)."""

    def _register_species(self, species: list[int]) -> None:
        self.known_species = list(species)
        self.register_buffer("species_table", species_index_table(species), persistent=False)
        self.register_buffer("baseline", torch.zeros(len(species)))
        self.register_buffer("energy_scale", torch.ones(()))

    def set_baseline(self, baseline, energy_scale: float | None = None) -> None:
        """Set the per-species baseline energies (eV, order of the species list) and scale."""
        self.baseline.copy_(torch.as_tensor(baseline, dtype=self.baseline.dtype))
        if energy_scale is not None:
            self.energy_scale.fill_(float(energy_scale))

    def species_index(self, species: torch.Tensor) -> torch.Tensor:
        """Map atomic numbers ``(N,)`` to 0..n_species−1; raise :class:`EquisymError` for unknown ones."""
        table = self.species_table
        if species.numel() and (species.min() < 0 or species.max() >= len(table) or (table[species.clamp(0, len(table) - 1)] < 0).any()):
            unknown = sorted({int(z) for z in species.tolist()} - set(self.known_species))
            raise EquisymError(f"unknown species {unknown}: this model knows only atomic numbers {self.known_species}")
        return table[species]


def compute_forces(
    model: Callable[[AtomicGraph], dict],
    graph: AtomicGraph,
    forces: bool = True,
    stress: bool = False,
    transform: torch.Tensor | None = None,
    create_graph: bool = False,
) -> dict:
    """Energy, conservative forces and (optionally) stress of ``model`` on ``graph``.

    Args:
        model: any callable ``graph -> {"energy": (S,), ...}``.
        graph: the structures (positions in Å).
        forces: compute ``forces = −∂E/∂positions``.
        stress: compute ``stress = (1/V) ∂E/∂ε`` at ε = 0 (homogeneous strain
            ``v -> (I + ε) v`` of positions, cell and periodic shifts). Zero for structures
            that are not periodic in all three directions.
        transform: optional ``(S, 3, 3)`` or ``(3, 3)`` matrix applied to the graph *inside*
            the differentiated function (random-rotation augmentation): the returned forces
            are then the lab-frame derivatives w.r.t. the untransformed positions.
        create_graph: keep the graph of the derivatives (training on forces).

    Returns:
        The model's dict plus ``"forces"`` ``(N, 3)`` eV/Å and ``"stress"`` ``(S, 3, 3)`` eV/Å³.

    Shapes:
        - graph: N atoms, S structures; ``transform`` ``(S, 3, 3)`` or ``(3, 3)``.
        - output: ``energy`` ``(S,)``, ``forces`` ``(N, 3)``, ``stress`` ``(S, 3, 3)`` (plus the model's keys).

    Raises:
        EquisymError: non-finite positions or a non-finite predicted energy.
    """
    pos = graph.positions.detach().requires_grad_(forces)
    g = graph.replace(positions=pos)
    inputs = [pos] if forces else []
    strain = None
    if stress:
        strain = torch.zeros(graph.n_structures, 3, 3, dtype=pos.dtype, device=pos.device, requires_grad=True)
        eye = torch.eye(3, dtype=pos.dtype, device=pos.device)
        g = g.transformed(eye + strain)
        inputs.append(strain)
    if transform is not None:
        g = g.rotated(transform)
    with torch.enable_grad():
        out = dict(model(g))
        energy = out["energy"]
        if not torch.isfinite(energy).all():
            bad = int(torch.nonzero(~torch.isfinite(energy.detach()))[0, 0])
            raise EquisymError(f"the predicted energy of structure {bad} is not finite ({float(energy[bad])})")
        if inputs:
            grads = torch.autograd.grad(energy.sum(), inputs, create_graph=create_graph, allow_unused=True)
            grads = [torch.zeros_like(x) if gr is None else gr for gr, x in zip(grads, inputs)]
    if forces:
        out["forces"] = -grads[0]
    if stress:
        de = grads[-1]
        de = 0.5 * (de + de.transpose(1, 2))
        periodic = graph.pbc.all(dim=1)
        vol = torch.where(periodic, graph.volume(), torch.ones_like(graph.volume()))
        out["stress"] = torch.where(periodic[:, None, None], de / vol[:, None, None], torch.zeros_like(de))
    return out
