import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list

from equisym.errors import EquisymError
from equisym.geometry.neighbors import estimate_pairs, neighbor_list


def _pairs(i, j, s):
    return sorted(zip(i.tolist(), j.tolist(), map(tuple, s.tolist())))


def test_periodic_matches_ase():
    atoms = bulk("C", "diamond", a=3.567, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=1)
    nl = neighbor_list(atoms.positions, 3.0, atoms.cell[:], atoms.pbc)
    i, j, s, d = ase_neighbor_list("ijSd", atoms, 3.0)
    assert _pairs(nl.centers, nl.neighbors, nl.shifts) == _pairs(i, j, s)
    vec = atoms.positions[nl.neighbors] - atoms.positions[nl.centers] + nl.shifts @ atoms.cell[:]
    assert np.allclose(vec, nl.vectors) and np.allclose(np.linalg.norm(vec, axis=1), nl.distances)


def test_molecule_and_mixed_pbc():
    mol = molecule("CH4")
    nl = neighbor_list(mol.positions, 1.2)
    assert len(nl) == 8 and (nl.counts(5) == [4, 1, 1, 1, 1]).all()
    slab = bulk("C", "diamond", a=3.567, cubic=True)
    nl = neighbor_list(slab.positions, 2.0, slab.cell[:], (True, True, False))
    assert len(nl) < len(neighbor_list(slab.positions, 2.0, slab.cell[:], True))


@pytest.mark.parametrize(
    "positions, cell, pbc, message",
    [
        (np.array([[0, 0, 0], [np.nan, 0, 0]]), None, False, "non-finite position"),
        (np.zeros((2, 3)), None, False, "overlap"),
        (np.array([[0, 0, 0], [1.0, 0, 0]]), np.zeros((3, 3)), True, "singular"),
        (np.zeros((2, 2)), None, False, "shape"),
    ],
)
def test_bad_input(positions, cell, pbc, message):
    with pytest.raises(EquisymError, match=message):
        neighbor_list(positions, 2.0, cell, pbc)


def test_molecule_list_matches_vesin_pair_set():
    """Non-periodic structures go through a k-d tree: the same pairs and vectors as vesin."""
    import vesin  # a core dependency: never skipped

    rng = np.random.default_rng(0)
    pos = rng.normal(size=(200, 3)) * 4.0
    nl = neighbor_list(pos, 3.0, min_distance=None)
    i, j, d = vesin.NeighborList(cutoff=3.0, full_list=True).compute(pos, np.zeros((3, 3)), False, "ijd")
    assert sorted(zip(nl.centers.tolist(), nl.neighbors.tolist())) == sorted(zip(i.tolist(), j.tolist()))
    assert np.allclose(np.sort(nl.distances), np.sort(d), rtol=0, atol=1e-12)
    assert (np.diff(nl.centers) >= 0).all() and (nl.shifts == 0).all()


def test_small_periodic_cells_are_exact_until_the_pair_limit():
    # a cell smaller than the cutoff is fine while the list stays small: every image is found
    for a in (1.0, 0.3):
        nl = neighbor_list(np.zeros((1, 3)), 5.0, np.eye(3) * a, True, min_distance=None)
        expected = sum(
            1 for s in np.ndindex(41, 41, 41) if 0 < np.linalg.norm((np.array(s) - 20) * a) < 5.0
        )
        assert len(nl) == expected
        assert estimate_pairs(1, 5.0, np.eye(3) * a, np.ones(3, bool)) == pytest.approx(expected, rel=0.1)


@pytest.mark.parametrize(
    "positions, cell, pbc, message",
    [
        # a periodic cell far smaller than the cutoff (tried to allocate ~700 GB): refused before vesin runs
        (np.array([[0, 0, 0], [0.005, 0.005, 0.005]]), np.eye(3) * 0.01, True, "far smaller than the 5 Å cutoff.*supercell"),
        (np.random.default_rng(0).random((300, 3)), np.diag([1e-3, 1, 1]), True, "thinnest height 0.001 Å"),
        # an atom 1e6 Å away (killed the process with SIGFPE inside the library)
        (np.array([[0, 0, 0], [1.0, 0, 0], [1e6, 0, 0]]), None, False, "span 1e\\+06 Å along x.*misplaced atom"),
        (np.array([[0, 0, 0], [1.0, 0, 0], [0, 0, 3000]]), np.eye(3) * 10, (True, True, False), "span 3e\\+03 Å along z"),
        (np.array([[0, 0, 0], [1e9, 0, 0]]), np.eye(3) * 10, True, "beyond 1e\\+08 Å.*in Å"),
        (np.array([[0, 0, 0], [np.inf, 0, 0]]), np.eye(3) * 10, True, "non-finite position"),
        (np.array([[0, 0, 0], [0, -np.inf, 0]]), None, False, "non-finite position"),
    ],
)
def test_bad_geometry_fails_early_with_one_line(positions, cell, pbc, message):
    with pytest.raises(EquisymError, match=message) as err:
        neighbor_list(positions, 5.0, cell, pbc)
    assert "\n" not in str(err.value)


def test_far_atom_of_a_periodic_structure_is_wrapped():
    nl = neighbor_list(np.array([[0, 0, 0], [1e6 + 1.0, 0, 0]]), 2.0, np.eye(3) * 10, True)
    assert len(nl) == 2 and np.allclose(nl.distances, 1.0)


def test_bad_cutoff_and_extent_override():
    with pytest.raises(EquisymError, match="cutoff must be a positive number"):
        neighbor_list(np.zeros((1, 3)), float("nan"))
    far = np.array([[0, 0, 0], [1.0, 0, 0], [2e3, 0, 0]])
    assert len(neighbor_list(far, 2.0, max_extent=1e4)) == 2
