import numpy as np
import pytest
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list

from equisym.errors import EquisymError
from equisym.geometry.neighbors import neighbor_list


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
