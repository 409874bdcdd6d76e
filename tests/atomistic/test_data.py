"""Atomistic data: reading, units, baselines, packed batches, graph construction errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.io import write

from equisym.data.atoms import (
    AtomsDataConfig,
    AtomsDataModule,
    AtomsDataset,
    collate_atoms,
    fit_baseline,
    read_structures,
)
from equisym.errors import EquisymError
from equisym.geometry.graph import batch_graphs, build_graph


def _write_xyz(path, frames):
    write(path, frames, format="extxyz")
    return str(path)


def _frames(n=6, seed=0, energy_key="energy", forces_key="forces"):
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        numbers = [6, 1, 1, 1, 1] if k % 2 == 0 else [6, 6, 1, 1]
        a = Atoms(numbers=numbers, positions=rng.normal(size=(len(numbers), 3)) * 1.2)
        a.info[energy_key] = float(k)
        a.arrays[forces_key] = rng.normal(size=(len(numbers), 3))
        frames.append(a)
    return frames


def test_read_methane(shared_data):
    structures = read_structures(shared_data / "methane" / "methane_val.xyz")
    assert len(structures) == 100
    s = structures[0]
    assert s.positions.shape == (5, 3) and s.forces.shape == (5, 3)
    assert sorted(s.numbers.tolist()) == [1, 1, 1, 1, 6]
    assert -1100 < s.energy < -1070  # eV


def test_custom_keys_and_units(tmp_path):
    path = _write_xyz(tmp_path / "x.xyz", _frames(energy_key="E_dft", forces_key="F_dft"))
    with pytest.raises(EquisymError, match="no energy under the key 'energy'"):
        read_structures(path)
    ev = read_structures(path, energy_key="E_dft", forces_key="F_dft")
    kcal = read_structures(path, energy_key="E_dft", forces_key="F_dft", energy_unit="kcal/mol", length_unit="bohr")
    assert kcal[3].energy == pytest.approx(ev[3].energy * 0.0433641043)
    np.testing.assert_allclose(kcal[3].positions, ev[3].positions * 0.529177210903)
    np.testing.assert_allclose(kcal[3].forces, ev[3].forces * 0.0433641043 / 0.529177210903)
    with pytest.raises(EquisymError, match="unknown energy unit"):
        read_structures(path, energy_key="E_dft", forces_key="F_dft", energy_unit="furlong")
    with pytest.raises(EquisymError, match="not found"):
        read_structures(tmp_path / "missing.xyz")


def test_baseline_recovers_composition_energies():
    rng = np.random.default_rng(1)
    true = {1: -13.6, 6: -1030.0, 8: -2040.0}
    structures = []
    for _ in range(20):
        numbers = rng.choice([1, 6, 8], size=rng.integers(2, 8))
        s = type("S", (), {})()
        s.numbers = numbers
        s.energy = sum(true[int(z)] for z in numbers) + rng.normal() * 1e-3
        structures.append(s)
    b = fit_baseline(structures, [1, 6, 8])
    np.testing.assert_allclose(b, [-13.6, -1030.0, -2040.0], atol=0.01)


def test_packed_batches_no_padding(tmp_path):
    path = _write_xyz(tmp_path / "x.xyz", _frames(6))
    ds = AtomsDataset(read_structures(path), cutoff=3.0)
    batch = collate_atoms([ds[k] for k in range(4)])
    g = batch["graph"]
    assert g.n_structures == 4 and g.n_atoms == 5 + 4 + 5 + 4  # no padding atoms
    assert batch["forces"].shape == (g.n_atoms, 3) and batch["energy"].tolist() == [0, 1, 2, 3]
    assert g.structure.tolist() == [0] * 5 + [1] * 4 + [2] * 5 + [3] * 4
    # edges never cross structures; every edge has its reverse
    i, j = g.edge_index
    assert torch.equal(g.structure[i], g.structure[j])
    v = g.edge_vectors()
    torch.testing.assert_close(v[g.reverse_edge], -v)


def test_periodic_graph_water(shared_data):
    s = read_structures(shared_data / "water" / "water_bulk_192.xyz")[0]
    g = build_graph(s.positions, s.numbers, s.cell, s.pbc, cutoff=3.5, dtype=torch.float64)
    d = g.edge_vectors().norm(dim=1)
    assert d.max() < 3.5 and g.n_edges > 192 * 5
    # an image across the boundary must exist: some edges have a non-zero shift
    assert (g.edge_shift.abs().sum(1) > 0).any()
    torch.testing.assert_close(g.edge_vectors()[g.reverse_edge], -g.edge_vectors())
    both = batch_graphs([g, g])
    assert both.n_structures == 2 and both.n_edges == 2 * g.n_edges


def test_datamodule_split_species_and_baseline(tmp_path):
    path = _write_xyz(tmp_path / "x.xyz", _frames(10))
    dm = AtomsDataModule(AtomsDataConfig(train=path, val_fraction=0.2, batch_size=3), cutoff=3.0, species=[1, 6])
    dm.setup()
    assert len(dm.train_set) == 8 and len(dm.val_set) == 2 and dm.baseline.shape == (2,)
    batch = next(iter(dm.train_dataloader()))
    assert batch["graph"].n_structures == 3
    bad = AtomsDataModule(AtomsDataConfig(train=path), cutoff=3.0, species=[1, 8])
    with pytest.raises(EquisymError, match=r"species \[6\]"):
        bad.setup()


@pytest.mark.parametrize(
    "positions, cell, pbc, match",
    [
        ([[0, 0, 0], [np.nan, 0, 0]], None, False, "non-finite position"),
        ([[0, 0, 0], [0, 0, 0]], None, False, "overlap"),
        ([[0, 0, 0], [1, 0, 0]], [[3, 0, 0], [6, 0, 0], [0, 0, 3]], True, "singular"),
    ],
)
def test_build_graph_bad_input(positions, cell, pbc, match):
    with pytest.raises(EquisymError, match=match):
        build_graph(np.array(positions, dtype=float), [1, 1], cell, pbc, cutoff=3.0)


def test_loader_workers_are_single_threaded_processes_restarted_each_epoch(tmp_path):
    """data.num_workers: the atoms loaders use the shared worker settings (not persistent, so an
    epoch's random streams follow that epoch's seed; one torch thread per worker, since they
    build batches beside the training process)."""
    path = _write_xyz(tmp_path / "x.xyz", _frames(6))
    dm = AtomsDataModule(AtomsDataConfig(train=path, val_fraction=0.5, batch_size=2, num_workers=2), cutoff=3.0, species=[1, 6])
    dm.setup()
    loader = dm.train_dataloader()
    assert loader.num_workers == 2 and not loader.persistent_workers and loader.worker_init_fn is not None
    threads = torch.get_num_threads()
    try:
        loader.worker_init_fn(0)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    serial = AtomsDataModule(AtomsDataConfig(train=path, val_fraction=0.5), cutoff=3.0, species=[1, 6])
    serial.setup()
    assert serial.val_dataloader().num_workers == 0 and serial.val_dataloader().worker_init_fn is None
