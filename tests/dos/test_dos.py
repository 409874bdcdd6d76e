"""CSGNN-DOS: per-atom spherical input, model symmetry, packed batches, baselines, bad inputs, losses and scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import graphene, molecule

from equisym.data.atom_spheres import AtomSpheresConfig, atom_spheres, atom_spheres_sparse, densify
from equisym.errors import EquisymError
from equisym.geometry import icosahedral_rotations, random_rotation
from equisym.geometry.icosphere import icosahedral_permutations
from equisym.nn.csgnn_dos import CSGNNDOS
from equisym.train.tasks.dos import dos_loss

from tests.conftest import require_module

LEVEL = 1
CFG = AtomSpheresConfig(level=LEVEL)


def _rotated(atoms: Atoms, rotation: np.ndarray) -> Atoms:
    out = atoms.copy()
    out.set_cell(np.asarray(atoms.get_cell()) @ rotation.T, scale_atoms=False)
    out.set_positions(atoms.get_positions() @ rotation.T)
    return out


def _structures() -> list[Atoms]:
    c60 = molecule("C60")
    c60.rattle(0.05, seed=1)
    sheet = graphene(size=(3, 3, 1), vacuum=6.0)
    sheet.rattle(0.05, seed=2)
    return [c60, sheet]


SMOOTH = AtomSpheresConfig(level=LEVEL, assignment="smooth")


@pytest.mark.parametrize("cfg", [CFG, SMOOTH], ids=["nearest", "smooth"])
@pytest.mark.parametrize("index", [0, 1], ids=["C60", "graphene-pbc"])
def test_input_exactly_equivariant_under_icosahedral_rotations(index, cfg):
    atoms = _structures()[index]
    base = atom_spheres(atoms, cfg)
    perms = icosahedral_permutations(LEVEL)
    worst = 0.0
    for g, rot in enumerate(icosahedral_rotations().double().numpy()):
        x = atom_spheres(_rotated(atoms, rot), cfg)
        # rotating the structure moves vertex v's content to vertex perm[g, v]
        worst = max(worst, float((x[:, perms[g]] - base).abs().max()))
    assert worst < 1e-6, worst
    # the input is not trivially invariant: a generic rotation changes it (discrete grid)
    errors = []
    for seed in range(3):
        rot = random_rotation(generator=torch.Generator().manual_seed(seed), dtype=torch.float64).numpy()
        errors.append(float((atom_spheres(_rotated(atoms, rot), cfg) - base).abs().max()))
    print(f"random-rotation max |Δinput| = {max(errors):.3f} (1/Å)")
    assert max(errors) > 1e-2


@pytest.mark.parametrize("cfg", [CFG, SMOOTH], ids=["nearest", "smooth"])
def test_input_values_and_rotation_shortcut(cfg):
    atoms = _structures()[1]
    sparse = atom_spheres_sparse(atoms.get_positions(), np.asarray(atoms.get_cell()), atoms.get_pbc(), cfg)
    dense = densify([sparse], cfg)
    # every neighbour within 7 Å contributes 1/d (times the cutoff switch in smooth mode):
    # totals per atom match a direct count
    from ase.neighborlist import neighbor_list

    i, d = neighbor_list("id", atoms, 7.0)
    width = (cfg.cutoff - cfg.r_min) / cfg.num_bins
    switch = np.ones_like(d) if cfg.assignment == "nearest" else 0.5 * (1 + np.cos(np.pi * np.clip((d - 7.0 + width) / width, 0, 1)))
    expected = np.bincount(i, weights=switch / d, minlength=len(atoms))
    np.testing.assert_allclose(dense.sum(dim=(1, 2)).numpy(), expected, rtol=1e-5)
    # rotating the stored directions == recomputing the rotated structure
    rot = random_rotation(generator=torch.Generator().manual_seed(5), dtype=torch.float64).numpy()
    shortcut = densify([sparse], cfg, [rot])
    assert float((shortcut - atom_spheres(_rotated(atoms, rot), cfg)).abs().max()) < 1e-6
    # the atom subset keeps exactly the rows of those atoms
    sub = np.array([3, 0, 7])
    np.testing.assert_allclose(densify([sparse.select(sub)], cfg).numpy(), dense[sub].numpy())


def _moving_pair_input(cfg: AtomSpheresConfig, position: np.ndarray) -> torch.Tensor:
    """Input of a fixed pair (0, 2) and a moving pair (1, 3) whose atom 1 sits at ``position``."""
    fixed = [[0.0, 0.0, 0.0], [0.0, 1.4, 0.0]]
    atoms = Atoms("C4", positions=[fixed[0], position, fixed[1], position + np.array([1.4, 0.0, 0.0])])
    return atom_spheres(atoms, cfg)


@pytest.mark.parametrize("path", ["radial", "angular", "cutoff"])
def test_smooth_input_is_continuous_and_nearest_is_not(path):
    """A neighbour moved in small steps (along the bond, around the centre, out through the
    cutoff) changes the smooth input by at most a constant times the step; the paper's
    nearest-vertex / hard-bin input jumps (its largest change does not shrink with the step)."""

    def trajectory(t: np.ndarray) -> np.ndarray:
        if path == "radial":
            return np.stack([1.3 + 0.6 * t, 0.2 + 0 * t, 0.1 + 0 * t], 1)
        if path == "angular":
            phi = 0.1 + 0.8 * t
            return 1.5 * np.stack([np.cos(phi), np.sin(phi), 0.3 + 0 * t], 1) / np.sqrt(1.09)
        return np.stack([6.7 + 0.4 * t, 0.1 + 0 * t, 0.0 * t], 1)

    def largest_jump(cfg, n):
        xs = [_moving_pair_input(cfg, p) for p in trajectory(np.linspace(0, 1, n))]
        return max(float((b - a).abs().max()) for a, b in zip(xs, xs[1:]))

    smooth_jumps = [largest_jump(SMOOTH, n) for n in (101, 401)]
    nearest_jumps = [largest_jump(CFG, n) for n in (101, 401)]
    assert smooth_jumps[1] < 0.5 * smooth_jumps[0], smooth_jumps
    assert nearest_jumps[1] > 0.9 * nearest_jumps[0] > 0.1, nearest_jumps


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4])
def test_smooth_angular_kernel_fits_the_candidates(level):
    """Every direction has a vertex inside the kernel (weights sum to 1) and no vertex inside it
    is missed by the candidate search, at both ends of the allowed width."""
    from equisym.data.atom_spheres import _ANGULAR_CANDIDATES, angular_assignment
    from equisym.geometry.icosphere import icosphere, nearest_vertices

    u = torch.randn(20000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(level))
    u = u / u.norm(dim=1, keepdim=True)
    edge = icosphere(level).mean_edge_length
    cos, _ = nearest_vertices(u, level, _ANGULAR_CANDIDATES + 1)
    chord = (2 - 2 * cos).clamp_min(0).sqrt() / edge
    assert float(chord[:, 0].max()) < 0.7 and float(chord[:, -1].min()) > 1.15
    for width in (0.7, 1.15):
        pair, vertex, weight = angular_assignment(u.numpy(), AtomSpheresConfig(level=level, assignment="smooth", angular_width=width))
        np.testing.assert_allclose(np.bincount(pair, weights=weight, minlength=len(u)), 1.0, rtol=1e-5)
    with pytest.raises(EquisymError, match="angular_width"):
        AtomSpheresConfig(level=level, assignment="smooth", angular_width=0.5).validate()


def _tiny_model(norm: str = "batch") -> CSGNNDOS:
    torch.manual_seed(0)
    model = CSGNNDOS.from_preset("tiny", num_energies=40, norm=norm)
    # a few training steps so BatchNorm running stats are not the identity
    x = torch.rand(12, 42, 32)
    idx = torch.tensor([0] * 5 + [1] * 7)
    model.train()
    for _ in range(3):
        model(x, idx, 2).sum()
    return model.eval()


@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_model_exactly_invariant_under_icosahedral_rotations(norm):
    model = _tiny_model(norm)
    atoms = _structures()[0]
    idx = torch.zeros(len(atoms), dtype=torch.int64)
    base = model(atom_spheres(atoms, CFG), idx, 1)
    with torch.no_grad():
        errs = [
            float((model(atom_spheres(_rotated(atoms, rot), CFG), idx, 1) - base).abs().max())
            for rot in icosahedral_rotations().double().numpy()
        ]
        assert max(errs) < 1e-5 * max(1.0, float(base.abs().max())), max(errs)

        # power: a model that weighs vertices differently is not invariant
        weights = torch.linspace(0.5, 1.5, 42)[None, :, None]
        broken = lambda s: model(s * weights, idx, 1)  # noqa: E731
        b0 = broken(atom_spheres(atoms, CFG))
        bad = max(float((broken(atom_spheres(_rotated(atoms, r), CFG)) - b0).abs().max()) for r in icosahedral_rotations()[:10].double().numpy())
        assert bad > 100 * max(max(errs), 1e-7)

        rnd = [
            float((model(atom_spheres(_rotated(atoms, random_rotation(generator=torch.Generator().manual_seed(s), dtype=torch.float64).numpy()), CFG), idx, 1) - base).abs().max())
            for s in range(3)
        ]
        print(f"random-rotation max |ΔDOS| = {max(rnd):.3g} states/eV/atom (DOS max {float(base.max()):.3g})")


def test_packed_batches_have_no_padding_and_are_independent():
    model = _tiny_model()
    a, b = _structures()
    xa, xb = atom_spheres(a, CFG), atom_spheres(b, CFG)
    with torch.no_grad():
        both = model(torch.cat([xa, xb]), torch.tensor([0] * len(a) + [1] * len(b)), 2)
        alone_a = model(xa, torch.zeros(len(a), dtype=torch.int64), 1)
        alone_b = model(xb, torch.zeros(len(b), dtype=torch.int64), 1)
        torch.testing.assert_close(both, torch.cat([alone_a, alone_b]))
        # the structure DOS is the mean of the atom contributions
        contributions = model.atom_dos(xa)
        torch.testing.assert_close(alone_a[0], contributions.mean(0))
        assert (contributions >= 0).all()
    # BatchNorm in training mode sees exactly the real atoms: statistics equal those of the packed rows
    model.train()
    seen = []
    hook = model.head.mlp[2].register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    model(torch.cat([xa, xb]), torch.tensor([0] * len(a) + [1] * len(b)), 2)
    hook.remove()
    assert seen == [len(a) + len(b)]


def test_layer_norm_model_does_not_depend_on_the_batch():
    """norm: layer — an atom's contribution is the same in training and eval mode and whatever
    else shares the batch; with BatchNorm (the power check) it is neither."""
    a, b = _structures()
    xa, xb = atom_spheres(a, CFG), atom_spheres(b, CFG)
    for norm in ("layer", "batch"):
        model = _tiny_model(norm)
        with torch.no_grad():
            model.train()
            alone = model.atom_dos(xa)
            mixed = model.atom_dos(torch.cat([xa, xb]))[: len(a)]
            model.eval()
            evaluated = model.atom_dos(xa)
        changes = [float((alone - mixed).abs().max()), float((alone - evaluated).abs().max())]
        if norm == "layer":
            assert max(changes) < 1e-5, changes
            assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
        else:
            assert min(changes) > 1e-3, changes


def test_unknown_norm_is_a_clear_error():
    with pytest.raises(EquisymError, match="model.norm"):
        CSGNNDOS.from_preset("tiny", num_energies=40, norm="group")
    from equisym.nn.dos_baselines import SOAPDOS, SOAPDOSConfig

    with pytest.raises(EquisymError, match="model.norm"):
        SOAPDOS(SOAPDOSConfig(num_features=8, num_energies=40, head_dims=[16], norm="group"))


def test_dos_loss_weights():
    pred = torch.zeros(2, 5)
    target = torch.zeros(2, 5)
    target[:, 0] = 1.0
    # MSE(DOS) = 0.2; cumulative = 0.1 * [1,1,1,1,1] → MSE 0.01
    assert abs(float(dos_loss(pred, target, 0.1, 0.1)) - (0.1 * 0.2 + 0.9 * 0.01)) < 1e-7
    assert abs(float(dos_loss(pred, target, 0.1, 1.0)) - 0.2) < 1e-7


def test_smeared_lines_output_reproduces_gaussian_smearing():
    from equisym.nn.csgnn_dos import AtomDOSHead, AtomDOSHeadConfig, GaussianSmearing
    from equisym.physics.dos import dos_grid, gaussian_dos

    grid = dos_grid()
    smear = GaussianSmearing(len(grid), sigma=0.2, step=0.1)
    # two states, one on a line and one 3σ above the grid's last energy (only its tail is inside)
    lines = torch.zeros(1, smear.num_lines, dtype=torch.float64)
    positions = smear.line_energies()
    beyond = smear.num_lines - 1 - 8  # 8 half-steps (0.4 eV) inside the 5σ padding
    lines[0, [123, beyond]] = 1.0
    states = grid[0] + 0.1 * positions[[123, beyond]].numpy()
    # gaussian_dos counts spin (2 per state); the line spectrum is already in states
    reference = gaussian_dos(states[None], np.ones(1), grid, 0.2) / 2
    got = smear(lines)[0].numpy()
    np.testing.assert_allclose(got, reference, atol=1e-4 * reference.max())
    assert got[-1] > 1e-2  # the state beyond the window still shows its tail

    # the head starts at the prior mean DOS and is non-negative
    torch.manual_seed(0)
    head = AtomDOSHead(8, AtomDOSHeadConfig(head_dims=[8], num_energies=len(grid), output="smeared_lines")).eval()
    prior = torch.from_numpy(np.exp(-0.5 * ((grid + 12) / 4) ** 2) * 0.3 * (grid > -25))
    head.mlp[-2].weight.data.zero_()
    head.set_prior(prior)
    with torch.no_grad():
        out = head(torch.randn(5, 8)).double()
    assert (out >= 0).all()
    assert float((out - prior).abs().max()) < 0.02 * float(prior.max())
    # below the band the prior is empty and so is the start of the output
    assert float(out[:, grid < -27].max()) < 1e-3
    # the paper's head has no prior: it ignores set_prior
    paper = AtomDOSHead(8, AtomDOSHeadConfig(head_dims=[8], num_energies=len(grid)))
    before = [t.clone() for t in paper.state_dict().values()]
    paper.set_prior(prior)
    assert all(torch.equal(a, b) for a, b in zip(before, paper.state_dict().values()))


def test_atom_subsets_select_rows_and_targets(tiny_dos):
    from equisym.config import from_dict
    from equisym.data.carbon_batches import DOSCollate
    from equisym.train.tasks.dos import DOSConfig, DOSDataModule, DOSTask

    cfg = DOSTask().expand(
        from_dict(DOSConfig, {"data": {"root": str(tiny_dos), "train_atoms_per_structure": 3}, "model": {"name": "csgnn-dos", "preset": "tiny"}})
    )
    dm = DOSDataModule(cfg)
    split = dm.load_split("train")
    full = DOSCollate(split, "csgnn-dos", dm.spheres, False, 0)([0, 1])
    sub = DOSCollate(split, "csgnn-dos", dm.spheres, False, 0, atoms_per_structure=3)
    batch = sub([0, 1])
    assert batch["structure_index"].tolist() == [0, 0, 0, 1, 1, 1]
    # the structure target is the mean of the drawn atoms' projected DOS, and the rows of the
    # signal are exactly those atoms' rows of the full signal
    starts = [0, len(split.atoms[0])]
    for s in range(2):
        rows = batch["atom_dos"][3 * s : 3 * s + 3]
        torch.testing.assert_close(batch["dos"][s], rows.mean(0))
        matches = [int(torch.nonzero((torch.from_numpy(split.atom_dos[s]) == r).all(1))[0]) for r in rows]
        torch.testing.assert_close(batch["signal"][3 * s : 3 * s + 3], full["signal"][[starts[s] + m for m in matches]])
    with pytest.raises(EquisymError, match="train_atoms_per_structure"):
        DOSTask().expand(from_dict(DOSConfig, {"data": {"train_atoms_per_structure": 0}}))
    # rotation averaging is for the approximately invariant csgnn-dos only
    with pytest.raises(EquisymError, match="average_rotations"):
        DOSTask().expand(from_dict(DOSConfig, {"model": {"name": "soap-dos"}, "eval": {"average_rotations": 4}}))


def test_smeared_lines_must_match_the_data_grid(tiny_dos):
    from equisym.config import from_dict
    from equisym.train.tasks.dos import DOSConfig, DOSDataModule, DOSTask

    raw = {"data": {"root": str(tiny_dos)}, "model": {"name": "csgnn-dos", "preset": "tiny", "output": "smeared_lines", "smearing": 0.3}}
    dm = DOSDataModule(DOSTask().expand(from_dict(DOSConfig, raw)))
    with pytest.raises(EquisymError, match="smeared with"):
        dm.load_split("train")


def test_bad_inputs():
    lonely = Atoms("C2", positions=[[0, 0, 0], [9.0, 0, 0]])
    with pytest.raises(EquisymError, match="no neighbour within the 7 Å cutoff"):
        atom_spheres(lonely)
    silicon = Atoms("CSi", positions=[[0, 0, 0], [1.5, 0, 0]])
    with pytest.raises(EquisymError, match="Si.*only carbon"):
        atom_spheres(silicon)
    model = _tiny_model()
    with pytest.raises(EquisymError, match="signal must have shape"):
        model(torch.rand(3, 162, 32), torch.zeros(3, dtype=torch.int64), 1)
    with pytest.raises(EquisymError, match="structure_index"):
        model(torch.rand(3, 42, 32), torch.tensor([0, 1, 2]), 2)


@pytest.mark.parametrize("model", ["csgnn-dos", "soap-dos", "schnet-dos"])
def test_every_dos_model_refuses_bad_structures(model):
    """The structure checks run for every model's input (SOAP and SchNet would otherwise return
    a number for NaN positions, an isolated atom or two atoms on one spot)."""
    if model == "soap-dos":
        require_module("featomic", extra="dos")
    from equisym.train.task import load_config
    from equisym.train.tasks.dos import DOSDataModule

    _, cfg = load_config({"task": "dos", "model": {"name": model, "preset": "tiny"}})
    sheet = graphene(a=2.53, size=(2, 2, 1), vacuum=6.0)
    sheet.positions[1, 2] = np.nan
    with pytest.raises(EquisymError, match="atom 1 has a non-finite position"):
        DOSDataModule(cfg)._inputs([sheet], ["sheet"])
    lonely = Atoms("C3", positions=[[0, 0, 0], [1.46, 0, 0], [20.0, 0, 0]])
    with pytest.raises(EquisymError, match=r"lonely: atom 2 has no neighbour within the [\d.]+ Å cutoff"):
        DOSDataModule(cfg)._inputs([lonely], ["lonely"])
    stacked = Atoms("C2", positions=[[0, 0, 0], [0, 0, 0]])
    with pytest.raises(EquisymError, match="atoms 0 and 1 overlap"):
        DOSDataModule(cfg)._inputs([stacked], ["stacked"])
    bonded = Atoms("C2", positions=[[0, 0, 0], [1.46, 0, 0]])
    assert len(DOSDataModule(cfg)._inputs([bonded], ["bonded"])) == 1


def test_soap_baseline_invariant():
    require_module("featomic", extra="dos")
    from equisym.data.soap import SoapConfig, soap_features
    from equisym.nn.dos_baselines import SOAPDOS, SOAPDOSConfig

    cfg = SoapConfig(max_angular=3, max_radial=3)
    atoms = _structures()[1]
    rot = random_rotation(generator=torch.Generator().manual_seed(3), dtype=torch.float64).numpy()
    f0, f1 = soap_features([atoms, _rotated(atoms, rot)], cfg)
    assert f0.shape == (len(atoms), cfg.num_features)
    np.testing.assert_allclose(f0, f1, atol=1e-5 * np.abs(f0).max())
    model = SOAPDOS(SOAPDOSConfig(num_features=cfg.num_features, head_dims=[16], num_energies=30)).eval()
    out = model(torch.from_numpy(f0), torch.zeros(len(atoms), dtype=torch.int64), 1)
    assert out.shape == (1, 30) and (out >= 0).all()


def test_schnet_baseline_periodic_and_invariant():
    require_module("torch_geometric", extra="dos")
    from equisym.nn.dos_baselines import SchNetDOS, SchNetDOSConfig

    model = SchNetDOS(SchNetDOSConfig(hidden_channels=16, num_filters=16, num_interactions=1, num_gaussians=10, head_dims=[16], num_energies=30)).eval()
    atoms = _structures()[1]

    def run(a):
        pos = torch.tensor(a.get_positions(), dtype=torch.float32)
        return model(torch.full((len(a),), 6), pos, torch.zeros(len(a), dtype=torch.int64),
                     torch.tensor(np.asarray(a.get_cell())[None], dtype=torch.float32), torch.tensor(a.get_pbc()[None]))

    with torch.no_grad():
        base = run(atoms)
        rot = random_rotation(generator=torch.Generator().manual_seed(4), dtype=torch.float64).numpy()
        torch.testing.assert_close(run(_rotated(atoms, rot)), base, atol=1e-4, rtol=1e-4)
        # periodic images matter: the same atoms without periodicity give another DOS
        flat = atoms.copy()
        flat.pbc = False
        assert float((run(flat) - base).abs().max()) > 1e-6


def _band_energy_by_fine_quadrature(energies, dos, n_electrons, refine=2000):
    """Independent reference: the piecewise-linear DOS sampled on a grid ``refine`` times finer,
    E_F by linear interpolation of the cumulative trapezoid sum, E_band by trapezoid of E·DOS."""
    fine = np.linspace(energies[0], energies[-1], (len(energies) - 1) * refine + 1)
    d = np.interp(fine, energies, dos)
    cum = np.concatenate([[0.0], np.cumsum(np.diff(fine) * (d[1:] + d[:-1]) / 2)])
    j = int(np.searchsorted(cum, n_electrons))  # first fine point holding n_electrons
    fermi = fine[j - 1] + (n_electrons - cum[j - 1]) / (cum[j] - cum[j - 1]) * (fine[j] - fine[j - 1])
    upto = fine <= fermi
    ed = fine * d
    band = np.sum(np.diff(fine[upto]) * (ed[upto][1:] + ed[upto][:-1]) / 2)
    last = fine[upto][-1]
    band += (fermi - last) * (last * np.interp(last, fine, d) + fermi * np.interp(fermi, fine, d)) / 2
    return fermi, band


def test_differentiable_band_energy_matches_quadrature_and_has_gradients():
    from equisym.physics import band_energy, dos_grid, gaussian_dos

    energies = dos_grid()
    rng = np.random.default_rng(0)
    rows = np.stack([gaussian_dos(rng.uniform(-25, 0.5, size=10), energies=energies, sigma=0.2) for _ in range(4)])
    e = torch.tensor(energies)
    dos = torch.tensor(rows, requires_grad=True)
    _, ours, filled = band_energy(e, dos, 4.0)
    assert filled.all()
    # exact for a piecewise-linear DOS: agrees with brute-force quadrature, in a gap (4 electrons:
    # E_F anywhere in it, the band energy well defined) and inside a level (3 electrons)
    half_filled = band_energy(e, dos.detach(), 3.0)
    for k in range(4):
        assert float(ours[k].detach()) == pytest.approx(_band_energy_by_fine_quadrature(energies, rows[k], 4.0)[1], abs=1e-7)
        fermi_ref, band_ref = _band_energy_by_fine_quadrature(energies, rows[k], 3.0)
        assert float(half_filled[0][k]) == pytest.approx(fermi_ref, abs=1e-8)
        assert float(half_filled[1][k]) == pytest.approx(band_ref, abs=1e-7)
    # the numpy API reports the same function (one implementation)
    np.testing.assert_array_equal(band_energy(energies, rows, 4.0)[1], ours.detach().numpy())
    # gradients include the move of E_F: finite differences of the whole function (on a metal-like
    # DOS; in a gap E_F jumps with any change, and finite differences mean nothing)
    metal = (dos[:2].detach() + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(lambda d: band_energy(e, d, 4.0)[1], (metal,), eps=1e-6, atol=1e-6)
    ours.sum().backward()
    # d E_band / d dos_g = ΔE·(E_g − E_F) for grid points well below E_F (a state added below E_F pushes
    # the last one out: deeper is lower, slope ΔE² per grid step) and 0 above E_F
    fermi = band_energy(energies, rows, 4.0)[0]
    step = float(energies[1] - energies[0])
    for k in range(4):
        below = energies < fermi[k] - 0.5
        above = energies > fermi[k] + 0.5
        grad = dos.grad[k].numpy()
        np.testing.assert_allclose(np.diff(grad[1:][below[1:]]), step * step, rtol=1e-6)  # the end point has half a hat
        assert (grad[below] < 0).all()
        assert float(np.abs(grad[above]).max()) == 0.0


def test_scores_count_only_the_structures_they_score():
    """A predicted DOS without enough states has no band energy: it is counted as failed and left
    out of the MAE (``scored`` = the structures that count); a NaN prediction is a clear error."""
    from equisym.physics import dos_grid, gaussian_dos
    from equisym.train.tasks.dos.evaluate import scores

    energies = dos_grid()
    true = np.stack([gaussian_dos(np.array([-20.0, -10.0, -5.0]), energies=energies)] * 3)  # 6 states
    pred = true.copy()
    pred[1] *= 0.5  # 3 states: cannot hold 4 electrons
    s = scores(energies, 4.0, pred, true, ["a", "a", "b"], np.zeros(3))
    assert s["scored"] == 2 and s["failed_band_energy"] == 1
    assert s["band_energy_mae"] == 0.0 and np.isnan(s["_band_pred"][1])
    pred[2, 5] = np.nan
    with pytest.raises(EquisymError, match="non-finite"):
        scores(energies, 4.0, pred, true, ["a", "a", "b"], np.zeros(3))


def test_dos_inference_imports_no_lightning_and_no_training_code():
    import subprocess
    import sys

    code = ("import sys, equisym.inference.dos; "
            "bad = [m for m in sys.modules if m.startswith(('lightning', 'pytorch_lightning', 'equisym.train'))]; "
            "assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
