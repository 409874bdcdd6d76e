"""PET: forces = finite differences, stress, invariances, smoothness at the cutoff, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

from equisym.errors import EquisymError
from equisym.geometry import random_o3
from equisym.geometry.graph import batch_graphs, build_graph
from equisym.nn import PET, compute_forces
from equisym.nn.registry import build_model


def _methane_like(seed=0, n=3):
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(n):
        pos = np.concatenate([np.zeros((1, 3)), rng.normal(size=(4, 3)) * 0.9 + 0.1])
        graphs.append(build_graph(pos, [6, 1, 1, 1, 1], cutoff=3.0, dtype=torch.float64))
    return batch_graphs(graphs)


@pytest.fixture(
    scope="module",
    params=[{}, {"norm": "pre", "norm_type": "rms", "feedforward": "swiglu"}, {"message_update": "mlp", "carry_atom_features": True}],
    ids=["paper", "rms-swiglu", "mlp-messages-carry"],
)
def model(request):
    torch.manual_seed(0)
    m = PET.from_preset("tiny", species=[1, 6], cutoff=3.0, cutoff_width=0.5, **request.param).double()
    with torch.no_grad():  # make the output non-trivial
        m.energy_scale.fill_(3.0)
    return m.eval()


def test_presets_and_registry():
    small = PET.from_preset("small", species=[1, 6])
    assert small.config.d_model == 64 and small.config.species == [1, 6]
    paper = PET.from_preset("paper", species=[1, 6])
    assert (paper.config.d_model, paper.config.num_heads, paper.config.d_feedforward) == (128, 4, 512)
    assert (paper.config.num_layers, paper.config.num_blocks, paper.config.cutoff, paper.config.cutoff_width) == (3, 3, 5.0, 0.2)
    m, section = build_model({"name": "pet", "preset": "tiny", "species": [1, 8]})
    assert isinstance(m, PET) and section["d_model"] == 16
    no_bias = PET.from_preset("tiny", species=[1, 6], atom_readout_bias=False)
    assert all(block.atom_head[-1].bias is None for block in no_bias.blocks)
    assert all(block.atom_head[-1].bias is not None for block in small.blocks)
    no_bond_bias = PET.from_preset("tiny", species=[1, 6], bond_readout_bias=False)
    assert all(block.bond_head[-1].bias is None for block in no_bond_bias.blocks)
    assert all(block.bond_head[-1].bias is not None for block in small.blocks)
    with pytest.raises(EquisymError, match="divisible"):
        PET.from_preset("tiny", d_model=15)
    with pytest.raises(EquisymError, match="did you mean"):
        PET.from_preset("tiny", d_modle=32)


def test_forces_equal_finite_differences(model):
    g = _methane_like()
    out = compute_forces(model, g)
    assert out["energy"].shape == (3,) and out["forces"].shape == (15, 3) and out["atom_energy"].shape == (15,)
    h = 1e-5
    # all ±h displacements at once: one packed batch of 2 x 45 copies of the 3 structures
    shifted = []
    for sign in (1.0, -1.0):
        for a in range(15):
            for c in range(3):
                p = g.positions.clone()
                p[a, c] += sign * h
                shifted.append(g.replace(positions=p))
    e = model(batch_graphs(shifted))["energy"].view(2, 45, 3).sum(-1)
    fd = (-(e[0] - e[1]) / (2 * h)).view(15, 3)
    torch.testing.assert_close(out["forces"], fd, atol=1e-7, rtol=1e-6)


def test_stress_equals_strain_derivative():
    torch.manual_seed(1)
    m = PET.from_preset("tiny", species=[6], cutoff=3.0).double()
    atoms = bulk("C", "diamond", a=3.57, cubic=True)
    atoms.rattle(0.05, seed=2)
    g = build_graph(atoms.positions, atoms.numbers, atoms.cell.array, atoms.pbc, cutoff=3.0, dtype=torch.float64)
    out = compute_forces(m, g, stress=True)
    eps = 1e-6
    for i, j in [(0, 0), (1, 2)]:
        s = torch.zeros(3, 3, dtype=torch.float64)
        s[i, j] += eps / 2
        s[j, i] += eps / 2
        e = lambda strain: m(g.transformed(torch.eye(3, dtype=torch.float64) + strain))["energy"].sum()
        fd = ((e(s) - e(-s)) / (2 * eps) / g.volume()[0]).detach()
        assert float(out["stress"][0, i, j].detach()) == pytest.approx(float(fd), rel=1e-5, abs=1e-9)
    # non-periodic structures get zero stress
    assert torch.all(compute_forces(m, build_graph(atoms.positions[:3], [6, 6, 6], cutoff=3.0, dtype=torch.float64), stress=True)["stress"] == 0)


def test_permutation_translation_and_batching(model):
    g = _methane_like(n=1)
    e = model(g)["energy"]
    perm = torch.tensor([3, 0, 4, 2, 1])
    gp = build_graph(g.positions[perm], g.species[perm], cutoff=3.0, dtype=torch.float64)
    torch.testing.assert_close(model(gp)["energy"], e, atol=1e-12, rtol=0)
    gt = g.translated(torch.tensor([10.0, -3.0, 2.5], dtype=torch.float64))
    torch.testing.assert_close(model(gt)["energy"], e, atol=1e-12, rtol=0)
    many = _methane_like(n=3)
    single = torch.cat([model(build_graph(many.positions[s], many.species[s], cutoff=3.0, dtype=torch.float64))["energy"] for s in many.structure_slices()])
    torch.testing.assert_close(model(many)["energy"], single, atol=1e-12, rtol=0)


def test_bare_pet_is_not_rotation_invariant_but_length_only_is(model):
    g = _methane_like(n=1)
    rots = random_o3(10, 7)  # Haar-random, proper and improper
    copies = batch_graphs([g] * 10)
    with torch.no_grad():
        e0 = model(g)["energy"]
        e_rot = model(copies.rotated(rots))["energy"]
    assert float(((e_rot - e0).abs() / e0.abs()).max()) > 1e-6  # the bare PET fails (test has power)
    torch.manual_seed(0)
    inv = PET.from_preset("tiny", species=[1, 6], cutoff=3.0, use_only_length=True).double()
    ref = compute_forces(inv, g)
    out = compute_forces(inv, copies.rotated(rots))
    assert float(((out["energy"] - ref["energy"]).abs() / ref["energy"].abs()).max()) < 1e-12
    expected = torch.einsum("sab,snb->sna", rots, ref["forces"].expand(10, 5, 3))
    torch.testing.assert_close(out["forces"].view(10, 5, 3), expected, atol=1e-12, rtol=1e-10)


def _scan_jumps(m, r_values):
    """Energies and forces of a CH2 fragment while one H moves radially across r_values."""
    graphs = []
    for r in r_values:
        pos = np.array([[0.0, 0.0, 0.0], [1.1, 0.0, 0.0], [0.3, 0.0, float(r)]])
        graphs.append(build_graph(pos, [6, 1, 1], cutoff=3.0, dtype=torch.float64))
    out = compute_forces(m, batch_graphs(graphs))
    es = out["energy"].detach().numpy()
    fs = out["forces"].detach().view(len(graphs), 3, 3)
    return np.abs(np.diff(es)).max(), float((fs[1:] - fs[:-1]).abs().max())


def test_smooth_when_neighbour_crosses_cutoff(model):
    # the third atom crosses the 3.0 Å cutoff of the centre (and of atom 1) during the scan
    jumps = [_scan_jumps(model, np.arange(2.6, 3.3, h)) for h in (0.02, 0.005)]
    assert jumps[1][0] < 0.5 * jumps[0][0]  # energy jump shrinks with the step
    assert jumps[1][1] < 0.5 * jumps[0][1]  # so does the force jump
    # power: a (nearly) hard cutoff shows a jump that does not shrink
    torch.manual_seed(0)
    hard = PET.from_preset("tiny", species=[1, 6], cutoff=3.0, cutoff_width=1e-9).double()
    with torch.no_grad():
        hard.energy_scale.fill_(3.0)
    hj = [_scan_jumps(hard, np.arange(2.6, 3.3, h)) for h in (0.02, 0.005)]
    assert hj[1][0] > 0.5 * hj[0][0]


def test_smooth_through_collinearity(model):
    # three atoms pass through a straight line: the bare PET stays smooth (no frames)
    def energies(h):
        ys = np.arange(-0.2, 0.2 + 1e-12, h)
        graphs = [
            build_graph(np.array([[0.0, 0.0, 0.0], [1.1, 0.0, 0.0], [-1.1, y, 0.0]]), [6, 1, 1], cutoff=3.0, dtype=torch.float64)
            for y in ys
        ]
        out = model(batch_graphs(graphs))["energy"].detach().numpy()
        return np.abs(np.diff(out)).max()

    assert energies(0.005) < 0.5 * energies(0.02)


def test_bad_input_errors(model):
    g = _methane_like(n=1)
    with pytest.raises(EquisymError, match="non-finite position"):
        bad = g.positions.clone()
        bad[2, 1] = float("nan")
        model(g.replace(positions=bad))
    with pytest.raises(EquisymError, match="overlap"):
        close = g.positions.clone()
        close[2] = close[1] + 1e-7
        model(g.replace(positions=close))
    with pytest.raises(EquisymError, match=r"unknown species \[8\]"):
        model(build_graph(g.positions, [8, 1, 1, 1, 1], cutoff=3.0, dtype=torch.float64))
    with pytest.raises(EquisymError, match="singular"):
        build_graph(g.positions, g.species, cell=[[2, 0, 0], [0, 2, 0], [2, 2, 0]], pbc=True, cutoff=3.0)


def test_torchscript_matches_eager(model):
    """Every architecture option compiles (the export path) and gives the eager energies."""
    g = _methane_like(seed=3)
    scripted = torch.jit.script(model)
    spec = model.species_index(g.species)
    args = (spec, g.edge_index, g.edge_vectors(), g.get_reverse_edge(), g.structure, g.n_structures)
    eager, compiled = model.forward_edges(*args), scripted.forward_edges(*args)
    assert eager["energy"].abs().max() > 1e-3  # a non-trivial output
    torch.testing.assert_close(compiled["energy"], eager["energy"], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(compiled["atom_energy"], eager["atom_energy"], rtol=1e-12, atol=1e-12)
