"""``frame_source: cell``: one frame per periodic structure, from its lattice vectors.

Exact SO(3) (and O(3) with ``improper``) symmetry of energies, forces and stress when the
structure is rotated with its cell, forces and stress equal to finite differences, one frame
per periodic structure whatever the density, frames that do not move with the atoms, local
frames kept for non-periodic structures of a mixed batch. The control ``EdgeMLP`` fails bare.
"""

from __future__ import annotations

import pytest
import torch

from equisym.errors import EquisymError
from equisym.geometry import random_rotation
from equisym.geometry.ecse_frames import cell_frames
from equisym.geometry.graph import batch_graphs, build_graph
from equisym.nn import Symmetrized, compute_forces

from .test_graph import methane
from .toys import EdgeMLP

D = torch.float64


def crystal(seed: int = 0, cutoff: float = 3.0):
    """Four atoms in a skewed 3.2 Å cell, rattled."""
    gen = torch.Generator().manual_seed(seed)
    frac = torch.tensor([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], dtype=D)
    frac = frac + 0.05 * torch.randn(4, 3, generator=gen, dtype=D)
    cell = torch.tensor([[3.2, 0.0, 0.0], [0.4, 3.1, 0.0], [0.2, -0.3, 3.3]], dtype=D)
    return build_graph(frac @ cell, [6, 1, 6, 1], cell=cell, pbc=True, cutoff=cutoff, dtype=D)


def _rel(a, b):
    return float((a - b).detach().abs().max() / b.detach().abs().max())


@pytest.mark.parametrize("improper", [False, True])
def test_exact_symmetry_with_the_cell(improper):
    g = crystal()
    bare = EdgeMLP()
    sym = Symmetrized(bare, frame_source="cell", improper=improper)
    ref = compute_forces(sym, g, stress=True)
    ref_bare = compute_forces(bare, g)
    rotations = random_rotation(4, 7)
    if improper:
        rotations = torch.cat([rotations, -rotations])
    bare_err = 0.0
    for rot in rotations:
        out = compute_forces(sym, g.rotated(rot), stress=True)
        assert _rel(out["energy"], ref["energy"]) < 1e-10
        assert _rel(out["forces"], ref["forces"] @ rot.T) < 1e-9
        assert _rel(out["stress"][0], rot @ ref["stress"][0] @ rot.T) < 1e-9
        bare_err = max(bare_err, _rel(compute_forces(bare, g.rotated(rot))["energy"], ref_bare["energy"]))
    assert bare_err > 1e-3
    assert ref["num_frames"].tolist() == [2 if improper else 1]


def test_so3_cell_frame_is_not_reflection_invariant():
    g = crystal(1)
    sym = Symmetrized(EdgeMLP(), frame_source="cell")
    e = sym(g)["energy"]
    assert _rel(sym(g.rotated(-torch.eye(3, dtype=D)))["energy"], e) > 1e-4


def test_forces_and_stress_match_finite_differences():
    g = crystal(2)
    sym = Symmetrized(EdgeMLP(), frame_source="cell")
    out = compute_forces(sym, g, stress=True)
    h = 1e-5
    with torch.no_grad():
        for a, c in [(0, 0), (1, 2), (3, 1)]:
            plus, minus = g.positions.clone(), g.positions.clone()
            plus[a, c] += h
            minus[a, c] -= h
            fd = -(sym(g.replace(positions=plus))["energy"] - sym(g.replace(positions=minus))["energy"]) / (2 * h)
            assert abs(float(fd) - float(out["forces"][a, c])) < 1e-6 * float(out["forces"].abs().max())
        # stress: (1/V) dE/dε for a symmetric strain, which also turns the cell frame
        eps = torch.zeros(3, 3, dtype=D)
        eps[0, 1] = eps[1, 0] = h
        ep = sym(g.transformed(torch.eye(3, dtype=D) + eps))["energy"]
        em = sym(g.transformed(torch.eye(3, dtype=D) - eps))["energy"]
        fd = (ep - em) / (2 * h) / g.volume()
        assert abs(float(fd) - 2 * float(out["stress"][0, 0, 1])) < 1e-6 * float(out["stress"].abs().max())


def test_frame_stays_fixed_while_atoms_move_and_count_is_bounded():
    g = crystal(3)
    frames, structure = cell_frames(g.cell, g.pbc)
    moved = g.replace(positions=g.positions + 0.1 * torch.randn_like(g.positions))
    assert torch.equal(cell_frames(moved.cell, moved.pbc)[0], frames)
    dense = crystal(3, cutoff=6.0)  # ~100 neighbours per atom
    sym = Symmetrized(EdgeMLP(), frame_source="cell")
    assert sym(dense)["num_frames"].tolist() == [1]
    assert Symmetrized(EdgeMLP())(dense)["num_frames"].item() > 4


def test_mixed_batch_keeps_local_frames_for_molecules():
    mol, cry = methane(3, cutoff=3.0), crystal(4)
    both = batch_graphs([mol, cry])
    sym = Symmetrized(EdgeMLP(), frame_source="cell")
    out = sym(both)
    local = Symmetrized(EdgeMLP())(mol)
    assert out["num_frames"][1].item() == 1
    assert out["num_frames"][0].item() == local["num_frames"][0].item()
    assert torch.allclose(out["energy"][0], local["energy"][0], rtol=1e-12, atol=1e-12)
    rot = random_rotation(1, 3)[0]
    again = sym(both.rotated(rot))["energy"]
    assert _rel(again, out["energy"]) < 1e-10


def test_bad_options_and_cells_raise_clear_errors():
    with pytest.raises(EquisymError, match="frame_source"):
        Symmetrized(EdgeMLP(), frame_source="lattice")
    cell = torch.tensor([[[3.0, 0, 0], [6.0, 0, 0], [0, 0, 3.0]]], dtype=D)
    with pytest.raises(EquisymError, match="collinear"):
        cell_frames(cell, torch.ones(1, 3, dtype=torch.bool))
    assert not Symmetrized(EdgeMLP(), frame_source="cell").torchscript_compatible
