"""DOS smearing, electron counting, Fermi level and band energy."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import graphene, molecule

from equisym.errors import EquisymError
from equisym.physics import (
    ENERGY_SHIFT,
    GRID_SIZE,
    CarbonTightBinding,
    band_energy,
    dos_grid,
    gaussian_dos,
    integrated_dos,
)

E = dos_grid()


def test_grid_is_the_paper_grid():
    assert E.shape == (GRID_SIZE,) == (310,)
    assert E[0] == -30.0 and E[-1] == pytest.approx(0.9) and np.allclose(np.diff(E), 0.1)


def test_band_energy_of_analytic_levels():
    # levels at -20, -12, -4 eV, spin-degenerate: 6 states; fill 4 electrons
    d = gaussian_dos(np.array([-20.0, -12.0, -4.0]), energies=E, sigma=0.2)
    assert integrated_dos(E, d)[-1] == pytest.approx(6.0, abs=1e-9)
    ef, eb, _ = band_energy(E, d, 4.0)
    assert eb == pytest.approx(2 * -20.0 + 2 * -12.0, abs=1e-6)
    assert -11.0 < ef < -5.0  # somewhere in the gap
    # half-filling a level puts E_F at its centre; the lower half of the Gaussian has
    # ∫ E g = ε/2 − σ/√(2π) per state
    ef, eb, _ = band_energy(E, d, 1.0)
    assert ef == pytest.approx(-20.0, abs=1e-6)
    assert eb == pytest.approx(-20.0 - 2 * 0.2 / np.sqrt(2 * np.pi), abs=5e-3)


def test_band_energy_flat_dos_is_exact():
    # DOS = 2 states/eV on the grid: N(E) = 2 (E + 30), E_band = ∫ 2E dE = E_F^2 - 900
    d = np.full(GRID_SIZE, 2.0)
    ef, eb, _ = band_energy(E, d, 10.0)
    assert ef == pytest.approx(-25.0, abs=1e-12)
    assert eb == pytest.approx(ef**2 - 900.0, abs=1e-9)
    # a linear DOS (exactly representable): quadratic electron count solved exactly
    d = 0.5 * (E + 30.0)
    ef, eb, _ = band_energy(E, d, 4.0)  # N(E) = (E + 30)^2 / 4 = 4 → E = -26
    assert ef == pytest.approx(-26.0, abs=1e-12)
    antiderivative = lambda x: 0.5 * (x**3 / 3 + 15 * x**2)  # of E · (E + 30) / 2
    assert eb == pytest.approx(antiderivative(-26.0) - antiderivative(-30.0), abs=1e-9)


def test_band_energy_batch_matches_single():
    rng = np.random.default_rng(0)
    d = np.stack([gaussian_dos(rng.uniform(-28, 0, 8), energies=E) for _ in range(3)])
    ef, eb, _ = band_energy(E, d, np.array([4.0, 6.0, 8.0]))
    for b, n in enumerate([4.0, 6.0, 8.0]):
        assert (ef[b], eb[b]) == pytest.approx(band_energy(E, d[b], n)[:2])


def test_band_energy_errors():
    d = gaussian_dos(np.array([-10.0]), energies=E)
    with pytest.raises(EquisymError, match="fewer than"):
        band_energy(E, d, 4.0)
    with pytest.raises(EquisymError, match="shape"):
        band_energy(E, d[:-1], 1.0)
    with pytest.raises(EquisymError, match="increasing"):
        band_energy(E[::-1], d, 1.0)
    with pytest.raises(EquisymError, match="non-finite"):
        band_energy(E, np.full(GRID_SIZE, np.nan), 1.0)


@pytest.mark.parametrize("name", ["C60", "graphene"])
def test_tight_binding_dos_counts_four_electrons_per_atom(name):
    tb = CarbonTightBinding()
    if name == "C60":
        atoms, kpts = molecule("C60"), (1, 1, 1)
    else:
        atoms, kpts = graphene(a=2.46, vacuum=10.0).repeat((3, 3, 1)), (4, 4, 1)
    res = tb.solve(atoms, kpts, projections=True)
    atom_dos = gaussian_dos(res.eigenvalues, res.weights, atom_weights=res.atom_weights, shift=ENERGY_SHIFT)
    total = gaussian_dos(res.eigenvalues, res.weights, shift=ENERGY_SHIFT)
    np.testing.assert_allclose(atom_dos.sum(axis=0), total, atol=1e-10)  # projections sum to total
    assert res.eigenvalues.min() + ENERGY_SHIFT > E[0] + 1.0  # all states inside the grid
    ef, eb, _ = band_energy(E, atom_dos.mean(axis=0), 4.0)
    # the Fermi level from the smeared DOS matches the eigenvalue count: 4 e/atom below it
    occ = 2 * (res.weights[:, None] * (res.eigenvalues + ENERGY_SHIFT < ef)).sum() / len(atoms)
    assert occ == pytest.approx(4.0, abs=0.05)
    mid = tb.fermi_level(atoms, kpts) + ENERGY_SHIFT
    assert ef == pytest.approx(mid, abs=0.05)
    # band energy per atom from the DOS vs the sum of occupied eigenvalues
    e_sorted = np.sort((res.eigenvalues + ENERGY_SHIFT).reshape(-1))
    w_sorted = np.repeat(res.weights, res.eigenvalues.shape[1])[np.argsort((res.eigenvalues).reshape(-1))]
    filled = np.cumsum(2 * w_sorted) <= 4 * len(atoms) + 1e-9
    eb_ref = (2 * w_sorted * e_sorted)[filled].sum() / len(atoms)
    assert eb == pytest.approx(eb_ref, abs=0.02)


def test_band_energy_too_few_states_raise_or_flag():
    """One function: ``unfilled="raise"`` (default) refuses a DOS without enough states,
    ``unfilled="flag"`` returns finite values and marks the row."""
    d = np.stack([gaussian_dos(np.array([-10.0]), energies=E), gaussian_dos(np.array([-10.0, -5.0]), energies=E)])
    with pytest.raises(EquisymError, match="row 0 integrates to only 2 states"):
        band_energy(E, d, 3.0)
    fermi, band, filled = band_energy(E, d, 3.0, unfilled="flag")
    assert filled.tolist() == [False, True]
    assert np.isfinite(fermi).all() and np.isfinite(band).all()
    assert fermi[0] == pytest.approx(E[-1])  # the missing electron sits at the last grid energy
    assert band[1] == pytest.approx(band_energy(E, d[1], 3.0).band_energy)
    with pytest.raises(EquisymError, match="unfilled"):
        band_energy(E, d, 3.0, unfilled="nan")
    with pytest.raises(EquisymError, match="n_electrons"):
        band_energy(E, d, np.array([3.0, 3.0, 3.0]))
    with pytest.raises(EquisymError, match="positive"):
        band_energy(E, d, 0.0)


def test_band_energy_of_a_tensor_is_the_same_function_and_differentiable():
    import torch

    rng = np.random.default_rng(1)
    rows = np.stack([gaussian_dos(rng.uniform(-25, 0.5, 10), energies=E) for _ in range(3)])
    dos = torch.tensor(rows, requires_grad=True)
    result = band_energy(torch.tensor(E), dos, 4.0)
    assert isinstance(result.band_energy, torch.Tensor) and result.band_energy.requires_grad
    np.testing.assert_array_equal(result.band_energy.detach().numpy(), band_energy(E, rows, 4.0).band_energy)
    result.band_energy.sum().backward()
    assert torch.isfinite(dos.grad).all() and dos.grad.abs().sum() > 0
    with pytest.raises(EquisymError, match="non-finite"):
        band_energy(torch.tensor(E), torch.full((2, GRID_SIZE), float("nan")), 4.0)
