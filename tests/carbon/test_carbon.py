"""Carbon allotropes, Tersoff MD, the DOS data files and `equisym generate carbon-dos`."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from ase.build import graphene

from equisym.data.carbon import CarbonDOSData, load_carbon_dos, write_carbon_dos
from equisym.errors import EquisymError
from equisym.generate.carbon import STRUCTURES, build_structure, buckygen_graphs, cage_graphs, run_md, snapshot_dos
from equisym.generate.carbon.pipeline import _split_labels, _Unit
from equisym.generate.carbon.structures import _faces, _pentagon_adjacency
from equisym.geometry import neighbor_list
from equisym.physics import dos_grid
from equisym.physics.tersoff import TERSOFF_1989_CARBON, TersoffCarbon
from tests.conftest import require_module, run_cli


@pytest.fixture(scope="module")
def structures():
    return {name: build_structure(name) for name in STRUCTURES}


def test_buckygen_counts_faces_not_atoms():
    require_module("sage_wheels", "dos")
    assert len(buckygen_graphs(20)) == 1
    c40 = buckygen_graphs(40)
    assert len(c40) == 40  # the 40 C40 isomers
    for adj in c40[:5]:
        assert len(adj) == 40 and all(len(nb) == 3 for nb in adj)
        sizes = sorted(len(f) for f in _faces(adj))
        assert sizes.count(5) == 12 and sizes.count(6) == 10 and len(sizes) == 22  # Euler: n/2 + 2 faces
    with pytest.raises(EquisymError, match="no fullerene"):
        buckygen_graphs(22)


def test_shipped_cages_are_buckygens_fewest_pentagon_adjacency_isomers():
    """C20 and C40 need no buckygen binary: the shipped graphs are the ones it gives."""
    for n, count in ((20, 1), (40, 2)):
        cages = cage_graphs(n)
        assert len(cages) == count
        for adj in cages:
            assert len(adj) == n and all(len(nb) == 3 for nb in adj)
            sizes = sorted(len(f) for f in _faces(adj))
            assert sizes.count(5) == 12 and len(sizes) == n // 2 + 2
        assert {_pentagon_adjacency(adj) for adj in cages} == {30 if n == 20 else 10}
    try:
        import sage_wheels  # noqa: F401
    except ImportError:
        return
    for n in (20, 40):
        graphs = buckygen_graphs(n)
        fewest = min(_pentagon_adjacency(g) for g in graphs)
        assert cage_graphs(n) == [g for g in graphs if _pentagon_adjacency(g) == fewest]


def test_eight_allotropes_with_paper_atom_counts(structures):
    counts = {name: len(a) for name, a in structures.items()}
    assert counts == {"graphene": 128, "graphite": 108, "C20": 20, "C40": 40, "C60": 60, "CNT64": 152, "CNT99": 144, "CNT80": 128}
    for name, atoms in structures.items():
        nl = neighbor_list(atoms.positions, 1.8, atoms.cell.array, atoms.pbc)
        assert (nl.counts(len(atoms)) == 3).all(), name  # sp2 everywhere, no broken bonds
        assert 1.40 < nl.distances.min() and nl.distances.max() < 1.56, name
        forces = atoms.copy()
        forces.calc = TersoffCarbon()
        assert np.abs(forces.get_forces()).max() < 0.02, name  # relaxed
    assert tuple(structures["graphene"].pbc) == (True, True, False)
    assert tuple(structures["CNT99"].pbc) == (False, False, True)
    assert not structures["C60"].pbc.any()


def test_tersoff_matches_ase_reference():
    from ase.calculators.tersoff import Tersoff, TersoffParameters

    ref = Tersoff({("C", "C", "C"): TersoffParameters(**TERSOFF_1989_CARBON)})
    atoms = graphene(a=2.5, vacuum=5.0).repeat((3, 3, 1))
    atoms.positions += np.random.default_rng(0).normal(0, 0.1, atoms.positions.shape)
    mine = atoms.copy()
    atoms.calc, mine.calc = ref, TersoffCarbon()
    assert mine.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
    np.testing.assert_allclose(mine.get_forces(), atoms.get_forces(), atol=1e-9)


def test_md_snapshots_are_thermal_and_keep_layers(structures):
    c60 = structures["C60"]
    snaps = run_md(c60, 600, 3, seed=1, equilibration=100, interval=20)
    assert len(snaps) == 3
    disp = [np.linalg.norm(s.positions - c60.positions, axis=1).mean() for s in snaps]
    assert all(0.02 < d < 0.5 for d in disp)  # moved, still intact
    assert np.abs(snaps[-1].positions - snaps[0].positions).max() > 0.01  # decorrelating
    np.testing.assert_allclose(snaps[-1].positions.mean(0), c60.positions.mean(0), atol=1e-6)
    # graphite: layer centres of mass stay put (Tersoff does not bind the layers)
    g = structures["graphite"]
    snap = run_md(g, 600, 1, seed=2, equilibration=50, interval=1)[0]
    z = np.round(g.positions[:, 2] / 0.5)
    for level in np.unique(z):
        layer = z == level
        np.testing.assert_allclose(snap.positions[layer].mean(0), g.positions[layer].mean(0), atol=1e-6)
    # same seed → same trajectory
    again = run_md(c60, 600, 1, seed=1, equilibration=100, interval=20)[0]
    np.testing.assert_allclose(again.positions, snaps[0].positions, atol=1e-12)


def test_snapshot_dos_counts_electrons(structures):
    dos, ef, eb = snapshot_dos(structures["CNT80"], STRUCTURES["CNT80"][1])
    E = dos_grid()
    assert dos.shape == (128, 310) and dos.dtype == np.float32 and (dos >= 0).all()
    mean = dos.astype(np.float64).mean(0)
    below = E <= ef
    assert np.trapezoid(mean[below], E[below]) == pytest.approx(4.0, abs=0.05)
    assert -2.5 < ef < -1.0 and -60 < eb < -40


def test_split_labels_are_80_20():
    labels = _split_labels(_Unit("C60", 300, "trainval", 100, 0, seed=3))
    assert labels.count("train") == 80 and labels.count("val") == 20
    assert _split_labels(_Unit("C60", 300, "test", 10, 100, seed=3)) == ["test"] * 10


def _tiny_data(structures) -> CarbonDOSData:
    atoms, doses, ef, eb = [], [], [], []
    for k, name in enumerate(["C20", "C60", "C20"]):
        a = structures[name].copy()
        a.info = {"structure": name, "temperature": 300, "split": ["train", "val", "test"][k], "snapshot": k}
        d, f, b = snapshot_dos(a, (1, 1, 1))
        atoms.append(a), doses.append(d), ef.append(f), eb.append(b)
    counts = [len(a) for a in atoms]
    from equisym.physics import dos as dosmod

    attrs = {"energy_shift": dosmod.ENERGY_SHIFT, "smearing": dosmod.SMEARING, "n_electrons_per_atom": 4,
             "grid_start": dosmod.GRID_START, "grid_step": dosmod.GRID_STEP, "grid_size": dosmod.GRID_SIZE}
    return CarbonDOSData(atoms, dos_grid(), np.concatenate(doses), np.concatenate([[0], np.cumsum(counts)]), np.array(ef), np.array(eb), attrs)


def test_write_read_roundtrip_and_errors(structures, tmp_path):
    data = _tiny_data(structures)
    write_carbon_dos(tmp_path, data)
    back = load_carbon_dos(tmp_path)
    assert len(back) == 3 and back.atom_dos.shape == (100, 310)
    np.testing.assert_array_equal(back.atom_dos, data.atom_dos)
    np.testing.assert_allclose(back.atoms[1].positions, data.atoms[1].positions, atol=1e-6)
    val = back.split("val")
    assert len(val) == 1 and val.structure[0] == "C60" and val.dos_of(0).shape == (60, 310)
    np.testing.assert_array_equal(val.atom_offset, [0, 60])
    with pytest.raises(EquisymError, match="unknown split"):
        back.split("training")
    # a wrong grid is refused
    with h5py.File(tmp_path / "dos.h5", "a") as f:
        f.attrs["grid_size"] = 311
    with pytest.raises(EquisymError, match="wrong energy grid"):
        load_carbon_dos(tmp_path)
    (tmp_path / "dos.h5").unlink()
    with pytest.raises(EquisymError, match="not found"):
        load_carbon_dos(tmp_path)


def test_cli_generate_resume_overwrite_and_errors(tmp_path):
    out = tmp_path / "c"
    args = ["generate", "carbon-dos", "--out", str(out), "--snapshots", "6", "--test", "2", "--structures", "C20,C40",
            "--md-equilibration", "20", "--md-interval", "5", "--workers", "1"]
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    data = load_carbon_dos(out)
    assert len(data) == 2 * 8  # 2 structures × (6 train/val + 2 test)
    assert sorted(set(data.split_name)) == ["test", "train", "val"]
    assert sorted(set(data.temperature)) == [300, 600]
    timing = json.loads((out / "timing.json").read_text())
    assert timing["snapshots_computed_now"] == 16
    assert not [p.name for p in out.rglob(".*tmp*")]  # no temporary file left behind
    # a complete data set is not overwritten unless asked
    before = (out / "dos.h5").stat().st_mtime_ns
    res = run_cli(*args)
    assert res.returncode == 2 and "--overwrite" in res.stderr
    assert (out / "dos.h5").stat().st_mtime_ns == before
    # --overwrite with the same settings reuses the cached parts: nothing recomputed, identical data;
    # a truncated part is detected and recomputed, with the same numbers
    part = out / "parts" / "C40_600K_trainval.npz"
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    res = run_cli(*args, "--overwrite")
    assert res.returncode == 0, res.stderr
    assert "unreadable" in res.stderr
    assert json.loads((out / "timing.json").read_text())["snapshots_computed_now"] == 3
    np.testing.assert_array_equal(load_carbon_dos(out).atom_dos, data.atom_dos)
    # a truncated data file is refused with a clear message
    h5 = out / "dos.h5"
    h5.write_bytes(h5.read_bytes()[: h5.stat().st_size // 3])
    with pytest.raises(EquisymError, match="truncated"):
        load_carbon_dos(out)
    # other settings in a folder with a generation in progress → a clear error, exit status 2
    h5.unlink()
    (out / "structures.extxyz").unlink()
    res = run_cli(*args[:-2], "--workers", "1", "--seed", "5")
    assert res.returncode == 2 and "other settings" in res.stderr
    res = run_cli("generate", "carbon-dos", "--out", str(tmp_path / "d"), "--structures", "diamond")
    assert res.returncode == 2 and "unknown carbon structure" in res.stderr
