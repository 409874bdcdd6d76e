"""ECSE on atomistic graphs: exact O(3)/SO(3) symmetry, forces, smoothness, degenerate inputs.

All in float64. The control model (``EdgeMLP``, raw Cartesian edge vectors) is not rotation
invariant; every symmetry test checks that it fails bare and passes wrapped.
"""

from __future__ import annotations

import pytest
import torch

from equisym.errors import EquisymError
from equisym.geometry import random_rotation
from equisym.geometry.graph import batch_graphs, build_graph
from equisym.nn import PET, RotationAveraged, Symmetrized, compute_forces

from .toys import EdgeMLP, LengthOnly

D = torch.float64
TOL = 1e-9


def methane(seed: int, cutoff: float = 6.0):
    """A distorted CH4: H at random directions and distances 0.8–1.8 Å from C."""
    gen = torch.Generator().manual_seed(seed)
    d = torch.randn(4, 3, generator=gen, dtype=D)
    d = d / d.norm(dim=1, keepdim=True) * (0.8 + torch.rand(4, 1, generator=gen, dtype=D))
    pos = torch.cat([torch.zeros(1, 3, dtype=D), d])
    return build_graph(pos, [6, 1, 1, 1, 1], cutoff=cutoff, dtype=D)


def periodic(seed: int = 0):
    """Four atoms in a 3.2 Å cubic box, cutoff 3.0 Å (about 14 neighbours each)."""
    gen = torch.Generator().manual_seed(seed)
    frac = torch.tensor([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], dtype=D)
    frac = frac + 0.05 * torch.randn(4, 3, generator=gen, dtype=D)
    cell = 3.2 * torch.eye(3, dtype=D)
    return build_graph(frac @ cell, [6, 1, 6, 1], cell=cell, pbc=True, cutoff=3.0, dtype=D)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def _symmetry_errors(model, graph, rotations):
    """Worst relative errors of energy, atom energies, forces, dipole and atomic dipoles over the rotations."""
    ref = compute_forces(model, graph)
    worst = dict(energy=0.0, atom_energy=0.0, forces=0.0, dipole=0.0, atom_dipole=0.0)
    for rot in rotations:
        out = compute_forces(model, graph.rotated(rot))
        worst["energy"] = max(worst["energy"], _rel(out["energy"], ref["energy"]))
        worst["atom_energy"] = max(worst["atom_energy"], _rel(out["atom_energy"], ref["atom_energy"]))
        worst["forces"] = max(worst["forces"], _rel(out["forces"], ref["forces"] @ rot.T))
        worst["dipole"] = max(worst["dipole"], _rel(out["dipole"], ref["dipole"] @ rot.T))
        worst["atom_dipole"] = max(worst["atom_dipole"], _rel(out["atom_dipole"], ref["atom_dipole"] @ rot.T))
    return worst


@pytest.fixture(scope="module")
def structures():
    return batch_graphs([methane(1, 3.0), methane(2, 3.0), periodic()])


@pytest.mark.parametrize("improper", [False, True])
def test_exact_invariance_and_equivariance(structures, improper):
    rots = random_rotation(10, 7)
    if improper:
        rots = rots * torch.tensor([1.0, -1.0] * 5, dtype=D)[:, None, None]  # 5 proper, 5 improper
    bare = EdgeMLP()
    sym = Symmetrized(bare, improper=improper)
    errs = _symmetry_errors(sym, structures, rots)
    assert max(errs.values()) <= TOL, errs
    bare_errs = _symmetry_errors(bare, structures, rots)
    assert min(bare_errs.values()) > 1e-3, bare_errs  # the test has power


def test_so3_only_wrapper_is_not_reflection_invariant(structures):
    """improper=False gives SO(3) only: with a non-invariant backbone, an inversion changes E."""
    sym = Symmetrized(EdgeMLP())
    e = sym(structures)["energy"]
    e_inv = sym(structures.rotated(-torch.eye(3, dtype=D)))["energy"]
    assert _rel(e_inv, e) > 1e-4


def test_symmetrized_pet_is_exactly_invariant():
    """The message-passing backbone with the global frame ensemble (frames of all atoms pooled)."""
    graph = batch_graphs([methane(3), methane(4)])
    pet = PET.from_preset("tiny", species=[1, 6]).double().eval()
    rots = random_rotation(3, 11) * torch.tensor([1.0, -1.0, 1.0], dtype=D)[:, None, None]
    sym = Symmetrized(pet, improper=True)
    ref = compute_forces(sym, graph)
    bare_ref = compute_forces(pet, graph)
    bare_worst = 0.0
    for rot in rots:
        out = compute_forces(sym, graph.rotated(rot))
        assert _rel(out["energy"], ref["energy"]) <= TOL
        assert _rel(out["forces"], ref["forces"] @ rot.T) <= TOL
        bare = compute_forces(pet, graph.rotated(rot))
        bare_worst = max(bare_worst, _rel(bare["forces"], bare_ref["forces"] @ rot.T))
    assert bare_worst > 1e-3


def test_permutation_and_translation_invariance():
    g = methane(5)
    perm = torch.tensor([3, 0, 4, 2, 1])
    g_perm = build_graph(g.positions[perm], g.species[perm], cutoff=g.cutoff, dtype=D)
    sym = Symmetrized(EdgeMLP(), improper=True)
    ref = compute_forces(sym, g)
    out = compute_forces(sym, g_perm)
    assert _rel(out["energy"], ref["energy"]) <= TOL
    assert _rel(out["forces"], ref["forces"][perm]) <= TOL
    assert _rel(out["atom_energy"], ref["atom_energy"][perm]) <= TOL
    moved = compute_forces(sym, g.translated(torch.tensor([3.0, -1.0, 2.5], dtype=D)))
    assert _rel(moved["energy"], ref["energy"]) <= TOL and _rel(moved["forces"], ref["forces"]) <= TOL


def test_forces_match_finite_differences():
    g = methane(6)
    sym = Symmetrized(EdgeMLP(), aux_model=LengthOnly(), improper=True)
    forces = compute_forces(sym, g)["forces"]
    h = 1e-5
    fd = torch.zeros_like(forces)
    with torch.no_grad():
        for a in range(g.n_atoms):
            for c in range(3):
                plus, minus = g.positions.clone(), g.positions.clone()
                plus[a, c] += h
                minus[a, c] -= h
                ep = sym(g.replace(positions=plus))["energy"].sum()
                em = sym(g.replace(positions=minus))["energy"].sum()
                fd[a, c] = -(ep - em) / (2 * h)
    assert _rel(forces, fd) < 1e-6


# ---------------------------------------------------------------------------- smoothness
def _scan(model, make, ts):
    """Energies (S,) and forces (S, n, 3) along a 1-D path, evaluated as one batch."""
    graphs = [make(float(t)) for t in ts]
    batch = batch_graphs(graphs)
    out = compute_forces(model, batch)
    n = graphs[0].n_atoms
    return out["energy"].detach(), out["forces"].detach().reshape(len(ts), n, 3), batch


def _jump_ratio(model, make, lo, hi, n=61):
    """Largest jump between consecutive scan points at step h/4 divided by that at step h.

    ≈ 0.25 for a C¹ path, ≈ 1 when energy or forces jump somewhere.
    """
    ratios = []
    coarse = _scan(model, make, torch.linspace(lo, hi, n))
    fine = _scan(model, make, torch.linspace(lo, hi, 4 * n - 3))
    for a, b in ((coarse[0], fine[0]), (coarse[1], fine[1])):
        jc = (a[1:] - a[:-1]).abs().max()
        jf = (b[1:] - b[:-1]).abs().max()
        ratios.append(float(jf / jc))
    return max(ratios), coarse, fine


def _inner_path(t: float):
    """C with three orthogonal H at 1 Å; a fourth H moves out through R_in ≈ 1.2 Å."""
    d = torch.tensor([-1.0, -1.0, -1.0], dtype=D) / 3**0.5
    pos = torch.stack([torch.zeros(3, dtype=D), torch.tensor([1.0, 0, 0], dtype=D), torch.tensor([0, 1.0, 0], dtype=D),
                       torch.tensor([0, 0, 1.0], dtype=D), t * d])
    return build_graph(pos, [6, 1, 1, 1, 1], cutoff=4.0, dtype=D)


def _outer_path(t: float):
    """A triangle; a fourth atom moves along z through the 3 Å list cutoff of all of them."""
    pos = torch.tensor([[0, 0, 0], [1.1, 0, 0], [0.2, 1.0, 0], [0.3, 0.3, 0]], dtype=D)
    pos[3, 2] = t
    return build_graph(pos, [6, 1, 1, 1], cutoff=3.0, dtype=D)


def _collinear_path(t: float, extra: bool = False):
    """A–B–C bent by angle t (rad) through the straight line; optionally a fourth atom off-axis."""
    rows = [[-1.1, 0.0, 0.0], [0.0, 0.0, 0.0], [1.2 * float(torch.cos(torch.tensor(t))), 1.2 * float(torch.sin(torch.tensor(t))), 0.0]]
    if extra:
        rows.append([0.1, 0.4, 1.3])
    return build_graph(torch.tensor(rows, dtype=D), [1, 6, 1, 8][: len(rows)], cutoff=4.0, dtype=D)


@pytest.mark.parametrize("prune", [True, False])
def test_smooth_when_a_neighbour_crosses_the_inner_cutoff(prune):
    # without pruning the frames of the moving atom survive, so the crossing changes the ensemble
    sym = Symmetrized(EdgeMLP(), use_prunning=prune, batch_size_sp=4096)
    ratio, coarse, _ = _jump_ratio(sym, _inner_path, 1.02, 1.5)
    sym(coarse[2])
    counts = sym.last_num_frames_unpruned
    assert counts.max() > counts.min()  # frames really switch on/off along the path
    assert ratio < 0.4
    if not prune:  # a (near) hard cutoff jumps: the test has power
        hard = Symmetrized(EdgeMLP(), delta_r_cut=1e-6, use_prunning=False, batch_size_sp=4096)
        assert _jump_ratio(hard, _inner_path, 1.02, 1.5)[0] > 0.6


def test_smooth_when_a_neighbour_crosses_the_outer_cutoff():
    sym = Symmetrized(EdgeMLP())
    ratio, coarse, _ = _jump_ratio(sym, _outer_path, 2.8, 3.3)
    edges = torch.bincount(coarse[2].edge_structure(), minlength=coarse[2].n_structures)
    assert edges.max() > edges.min()  # the neighbour list changes along the path
    assert ratio < 0.4
    assert _jump_ratio(Symmetrized(EdgeMLP(width=1e-6)), _outer_path, 2.8, 3.3)[0] > 0.6


@pytest.mark.parametrize("extra", [False, True])
def test_smooth_through_collinearity(extra):
    make = lambda t: _collinear_path(t, extra)  # noqa: E731
    aux = LengthOnly() if not extra else None
    # With a fourth atom, pruning exchanges frames along the path (smooth, but forces vary on a
    # scale of ~1e-3 rad with this random backbone); switch it off to isolate collinearity.
    sym = Symmetrized(EdgeMLP(), aux_model=aux, use_prunning=not extra, batch_size_sp=4096)
    # the pruning and auxiliary switches make forces steep (smooth) here: a finer grid resolves them
    n = 61 if extra else 241
    ratio, coarse, _ = _jump_ratio(sym, make, -0.6, 0.6, n=n)
    sym(coarse[2])
    if not extra:  # the straight chain is handled by the auxiliary model alone
        assert sym.last_aux_weight.max() == 1.0 and sym.last_aux_weight.min() == 0.0
        assert sym.last_num_frames.min() == 0
    else:
        assert sym.last_num_frames_unpruned.max() > sym.last_num_frames_unpruned.min()
    assert ratio < 0.4
    hard = Symmetrized(EdgeMLP(), aux_model=aux, use_prunning=not extra, batch_size_sp=4096, delta_w=1e-6, aux_threshold_delta=1e-6)
    assert _jump_ratio(hard, make, -0.6, 0.6, n=n)[0] > 0.6


# ---------------------------------------------------------------------------- degenerate inputs
def _read_h2(shared_data):
    from ase import io as ase_io  # a core dependency: never skipped

    frames = ase_io.read(shared_data / "h2" / "h2.xyz", ":")
    return batch_graphs([build_graph(a.positions, a.numbers, cutoff=5.0, dtype=D) for a in frames])


def test_h2_set_runs_through_the_auxiliary_model(shared_data):
    graph = _read_h2(shared_data)
    pet = PET.from_preset("tiny", species=[1, 6]).double().eval()
    aux = PET.from_preset("tiny", species=[1, 6], use_only_length=True).double().eval()
    sym = Symmetrized(pet, aux_model=aux, improper=True)
    out = compute_forces(sym, graph)
    ref = compute_forces(aux, graph)
    assert (out["num_frames"] == 0).all() and (sym.last_aux_weight == 1).all()
    assert torch.allclose(out["energy"], ref["energy"]) and torch.allclose(out["forces"], ref["forces"])
    with pytest.raises(EquisymError, match="aux_model"):
        Symmetrized(pet)(graph)


def test_mixed_batch_uses_frames_and_aux_per_structure(shared_data):
    h2 = _read_h2(shared_data)
    graph = batch_graphs([methane(8, cutoff=5.0), h2, methane(9, cutoff=5.0)])
    sym = Symmetrized(EdgeMLP(), aux_model=LengthOnly())
    out = sym(graph)
    nf = out["num_frames"]
    assert nf[0] > 0 and nf[-1] > 0 and (nf[1:-1] == 0).all()
    alone = sym(batch_graphs([methane(8, cutoff=5.0)]))
    assert torch.allclose(out["energy"][0], alone["energy"][0], atol=1e-12)


def test_frame_counts_are_reported():
    g = batch_graphs([methane(10), methane(11)])
    so3 = Symmetrized(EdgeMLP())
    out = so3(g)
    assert torch.equal(out["num_frames"], so3.last_num_frames)
    assert (so3.last_num_frames <= so3.last_num_frames_unpruned).all()
    assert (so3.last_num_frames_unpruned > so3.last_num_frames).any()  # pruning removed frames
    o3 = Symmetrized(EdgeMLP(), improper=True)
    assert torch.equal(o3(g)["num_frames"], 2 * out["num_frames"])
    unpruned = Symmetrized(EdgeMLP(), use_prunning=False)
    assert torch.equal(unpruned(g)["num_frames"], so3.last_num_frames_unpruned)
    with pytest.raises(EquisymError, match="max_num"):
        Symmetrized(EdgeMLP(), max_num=1)(g)


def test_frame_batching_does_not_change_results():
    g = batch_graphs([methane(12, 3.0), periodic(1)])
    a = Symmetrized(EdgeMLP(), batch_size_sp=3)(g)
    b = Symmetrized(EdgeMLP(), batch_size_sp=1000)(g)
    for key in ("energy", "atom_energy", "dipole", "atom_dipole"):
        assert torch.allclose(a[key], b[key], atol=1e-12)


def test_species_pruning_keeps_fewer_frames_and_stays_invariant():
    g = methane(13)
    plain = Symmetrized(EdgeMLP(), use_prunning=False)
    spec = Symmetrized(EdgeMLP(), use_prunning=False, species_prunning=True)
    n_plain = plain(g)["num_frames"]
    e = spec(g)["energy"]
    assert spec.last_num_frames.sum() <= n_plain.sum()
    rot = random_rotation(None, 2)
    assert _rel(spec(g.rotated(rot))["energy"], e) <= TOL


def test_rotation_average_is_approximate_and_exact_for_invariant_models():
    g = methane(14)
    rot = random_rotation(None, 5)
    avg = RotationAveraged(EdgeMLP(), n_rotations=16, seed=0)
    err = _rel(avg(g.rotated(rot))["energy"], avg(g)["energy"])
    assert 1e-8 < err  # not exact
    inv = LengthOnly()
    assert torch.allclose(RotationAveraged(inv, 4)(g)["energy"], inv(g)["energy"], atol=1e-12)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(EquisymError, match="unknown ECSE option"):
        Symmetrized(EdgeMLP(), betta=3.0)
    with pytest.raises(EquisymError, match="delta_w"):
        Symmetrized(EdgeMLP(), delta_w=0.5)
    with pytest.raises(EquisymError, match="AtomicGraph"):
        Symmetrized(EdgeMLP())([1, 2, 3])
