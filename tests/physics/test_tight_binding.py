"""Physics checks of the Xu-Wang-Chan-Ho carbon tight-binding model."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import graphene, molecule, nanotube

from equisym.errors import EquisymError
from equisym.physics import CarbonTightBinding, kpoint_grid

TB = CarbonTightBinding()


def _graphene(n=1):
    return graphene(a=2.46, vacuum=10.0).repeat((n, n, 1))


def test_scaling_function_values_and_continuity():
    p = TB.p
    assert TB.scaling(np.array([p["r0"]]))[0] == pytest.approx(1.0, abs=1e-12)
    assert TB.scaling(np.array([1.42]))[0] == pytest.approx(1.27, abs=0.01)
    r1, rm = p["r1"], p["rm"]
    below, above = TB.scaling(np.array([r1 - 1e-9, r1 + 1e-9]))
    assert below == pytest.approx(above, abs=1e-6)  # the cubic tail joins the GSP form
    assert TB.scaling(np.array([rm - 1e-9]))[0] == pytest.approx(0.0, abs=1e-7)
    assert TB.scaling(np.array([rm, 3.0])).tolist() == [0.0, 0.0]


def test_c60_homo_lumo_gap():
    e = TB.eigenvalues(molecule("C60"))
    assert e.shape == (1, 240)
    gap = e[0, 120] - e[0, 119]  # 240 electrons fill 120 spin-degenerate states
    assert gap == pytest.approx(1.63, abs=0.01)
    assert e[0, 119] == pytest.approx(2.38, abs=0.01) and e[0, 120] == pytest.approx(4.00, abs=0.01)


def test_graphene_dirac_point_at_K_and_gap_elsewhere():
    g = _graphene()
    K = np.array([[1 / 3, 1 / 3, 0.0]])
    M = np.array([[0.5, 0.0, 0.0]])
    eK = TB.eigenvalues(g, K)[0]
    eM = TB.eigenvalues(g, M)[0]
    assert eK[4] - eK[3] == pytest.approx(0.0, abs=1e-9)  # zero gap at the Dirac point
    assert eM[4] - eM[3] > 1.0  # but not at M: the test can fail
    # a 3x3 supercell folds K onto Γ (zero gap at Γ); a 4x4 one does not
    e3 = TB.eigenvalues(_graphene(3))[0]
    e4 = TB.eigenvalues(_graphene(4))[0]
    assert e3[36] - e3[35] < 1e-9
    assert e4[64] - e4[63] > 0.5


def test_bloch_sum_equals_supercell_at_gamma():
    """Primitive cell on a 2x2 grid has exactly the spectrum of the 2x2 supercell at Γ."""
    g = _graphene()
    g.positions += np.random.default_rng(0).normal(0, 0.03, g.positions.shape)
    e_prim = np.sort(TB.eigenvalues(g, (2, 2, 1)).reshape(-1))
    e_super = np.sort(TB.eigenvalues(g.repeat((2, 2, 1)))[0])
    np.testing.assert_allclose(e_prim, e_super, atol=1e-10)


def test_time_reversal_reduction_keeps_spectrum():
    t = nanotube(8, 0, length=1, bond=1.42, vacuum=6.0)
    t.positions += np.random.default_rng(1).normal(0, 0.03, t.positions.shape)
    full = TB.solve(t, (1, 1, 6), time_reversal=False)
    red = TB.solve(t, (1, 1, 6), time_reversal=True)
    assert len(red.kpoints) == 4 and red.weights.sum() == pytest.approx(1.0)
    hist = lambda r: np.histogram(r.eigenvalues.reshape(-1), bins=200, range=(-30, 20), weights=np.repeat(r.weights, r.eigenvalues.shape[1]))[0]
    np.testing.assert_allclose(hist(full), hist(red), atol=1e-12)


def test_invariance_and_projection_equivariance():
    rng = np.random.default_rng(2)
    c = molecule("C60")
    c.positions += rng.normal(0, 0.05, c.positions.shape)
    ref = TB.solve(c, projections=True)
    R = _rot(rng)
    perm = rng.permutation(len(c))
    moved = Atoms("C60", positions=c.positions[perm] @ R.T + rng.normal(size=3))
    out = TB.solve(moved, projections=True)
    np.testing.assert_allclose(out.eigenvalues, ref.eigenvalues, atol=1e-10)
    # weights of non-degenerate states permute with the atoms
    e = ref.eigenvalues[0]
    nondeg = np.nonzero((np.diff(e, prepend=-1e9) > 1e-6) & (np.diff(e, append=1e9) > 1e-6))[0]
    assert len(nondeg) > 20
    np.testing.assert_allclose(out.atom_weights[0][:, nondeg], ref.atom_weights[0][perm][:, nondeg], atol=1e-8)
    np.testing.assert_allclose(ref.atom_weights.sum(axis=1), 1.0, atol=1e-12)


def _rot(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q * np.linalg.det(q)


def test_hamiltonian_is_hermitian_across_shifts():
    g = _graphene(2)
    g.positions += np.random.default_rng(3).normal(0, 0.05, g.positions.shape)
    shifts, H = TB.real_space_blocks(g)
    assert (shifts[0] == 0).all()
    for s, block in zip(shifts, H):
        partner = np.nonzero((shifts == -s).all(axis=1))[0]
        assert len(partner) == 1
        np.testing.assert_allclose(H[partner[0]], block.T, atol=1e-14)


def test_bad_input_errors():
    with pytest.raises(EquisymError, match="carbon only"):
        TB.eigenvalues(molecule("CH4"))
    with pytest.raises(EquisymError, match="not periodic"):
        TB.eigenvalues(molecule("C60"), kpts=(2, 1, 1))
    with pytest.raises(EquisymError, match="positive integers"):
        kpoint_grid((0, 1, 1), True)
    with pytest.raises(EquisymError, match="unknown tight-binding parameter"):
        CarbonTightBinding(E_d=1.0)
