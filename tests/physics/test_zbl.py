"""ZBL repulsion: the published formula's limits, the switch, smoothness, and PET's optional wall."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from equisym.geometry.graph import build_graph
from equisym.nn import PET
from equisym.physics.zbl import covalent_radii, zbl_energy, zbl_pair_energy

COULOMB_EV_ANGSTROM = 14.399645  # e²/(4π ε₀)
H, C = torch.tensor(1.0, dtype=torch.float64), torch.tensor(6.0, dtype=torch.float64)


def test_unscreened_coulomb_at_short_range_and_screening_length():
    # φ(0) = 0.18175 + 0.50986 + 0.28022 + 0.02817 = 1: E r → k Z_i Z_j as r → 0
    r = torch.tensor([1e-6], dtype=torch.float64)
    assert float(zbl_energy(r, H, C) * r) == pytest.approx(COULOMB_EV_ANGSTROM * 6.0, rel=1e-5)
    # at r = a (x = 1) the screening is φ(1) = Σ c_k e^(−d_k)
    a = 0.46850 / (1.0 + 6.0**0.23)
    phi1 = 0.18175 * np.exp(-3.19980) + 0.50986 * np.exp(-0.94229) + 0.28022 * np.exp(-0.40290) + 0.02817 * np.exp(-0.20162)
    r = torch.tensor([a], dtype=torch.float64)
    assert float(zbl_energy(r, H, C)) == pytest.approx(COULOMB_EV_ANGSTROM * 6.0 / a * phi1, rel=1e-12)
    # symmetric in the two charges, purely repulsive and decreasing
    grid = torch.linspace(0.05, 3.0, 300, dtype=torch.float64)
    e = zbl_energy(grid, H, C)
    torch.testing.assert_close(e, zbl_energy(grid, C, H), rtol=0, atol=0)
    assert bool((e > 0).all()) and bool((e[1:] < e[:-1]).all())


def test_switch_is_off_beyond_the_bond_and_bare_inside_half_of_it():
    bond = covalent_radii([1, 6]).sum().reshape(1)
    assert float(bond) == pytest.approx(0.31 + 0.76)  # ASE's covalent radii of H and C
    inside = torch.linspace(0.05, 0.5 * float(bond), 20, dtype=torch.float64)
    torch.testing.assert_close(zbl_pair_energy(inside, H, C, bond.expand(20)), zbl_energy(inside, H, C), rtol=1e-14, atol=0)
    outside = torch.linspace(float(bond), 5.0, 20, dtype=torch.float64)
    assert bool((zbl_pair_energy(outside, H, C, bond.expand(20)) == 0).all())


def _largest_jumps(energy_of_r, bond: float):
    """Largest change of energy and of force between neighbouring points of a fine grid around
    both ends of the switch (bond/2 and bond)."""
    r = torch.linspace(0.4 * bond, 1.1 * bond, 20001, dtype=torch.float64, requires_grad=True)
    e = energy_of_r(r)
    (force,) = torch.autograd.grad(-e.sum(), r)
    e = e.detach()
    return float((e[1:] - e[:-1]).abs().max()), float((force[1:] - force[:-1]).abs().max()), float(force.abs().max())


def test_switched_energy_and_force_are_continuous():
    bond = float(covalent_radii([1, 6]).sum())
    step = 0.7 * bond / 20000
    de, dforce, fmax = _largest_jumps(lambda r: zbl_pair_energy(r, H, C, torch.full_like(r, bond)), bond)
    assert de < 2.0 * fmax * step and dforce < 0.01 * fmax  # no jumps at bond/2 or bond
    # the check bites: the bare ZBL cut off hard at the bond length jumps by ~3 eV there
    de_hard, _, fmax_hard = _largest_jumps(lambda r: zbl_energy(r, H, C) * (r < bond), bond)
    assert de_hard > 1.0 and de_hard > 100 * fmax_hard * step


def _dimer(distance: float, species=(6, 1)):
    pos = np.array([[0.0, 0.0, 0.0], [distance, 0.0, 0.0]])
    return build_graph(pos, list(species), cutoff=3.0, dtype=torch.float64)


@pytest.fixture(scope="module")
def pair_of_models():
    torch.manual_seed(0)
    plain = PET.from_preset("tiny", species=[1, 6], cutoff=3.0, cutoff_width=0.5).double().eval()
    with_zbl = PET.from_preset("tiny", species=[1, 6], cutoff=3.0, cutoff_width=0.5, zbl=True).double().eval()
    with_zbl.load_state_dict(plain.state_dict())  # the same network: ZBL adds no parameters
    return plain, with_zbl


def test_pet_adds_exactly_the_switched_pair_energy(pair_of_models):
    plain, with_zbl = pair_of_models
    bond = covalent_radii([1, 6]).sum()
    for d in (0.3, 0.6, 0.9, 1.2):
        g = _dimer(d)
        extra = with_zbl(g)["energy"] - plain(g)["energy"]
        expected = zbl_pair_energy(torch.tensor([d], dtype=torch.float64), C, H, bond.reshape(1))
        torch.testing.assert_close(extra, expected, rtol=1e-10, atol=1e-12)
        # half of the pair energy on each atom
        torch.testing.assert_close(
            with_zbl(g)["atom_energy"] - plain(g)["atom_energy"], expected.expand(2) / 2, rtol=1e-10, atol=1e-12
        )


def test_pet_with_zbl_is_a_wall_where_the_bare_network_is_not(pair_of_models):
    plain, with_zbl = pair_of_models
    energies = {name: [float(m(_dimer(d))["energy"].detach()) for d in (0.6, 0.45, 0.3)] for name, m in
                (("plain", plain), ("zbl", with_zbl))}
    # compressing C–H from 0.6 to 0.3 Å costs tens of eV with ZBL; the untrained network alone barely notices
    assert energies["zbl"][2] - energies["zbl"][0] > 50.0
    assert abs(energies["plain"][2] - energies["plain"][0]) < 5.0
    assert energies["zbl"][0] < energies["zbl"][1] < energies["zbl"][2]


# forces = −∂E/∂x, batching, save/load and TorchScript of PET with ZBL: the conformance spec ``pet+zbl``
