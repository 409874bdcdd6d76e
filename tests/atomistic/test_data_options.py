"""Data options of the potential task: species symbols, splits, weights, stress/virial, units,
isolated-atom baselines; bad input gives one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

from equisym.config import from_dict
from equisym.data.atoms import (
    AtomsDataConfig,
    AtomsDataModule,
    Structure,
    atomic_energy_baseline,
    atomic_numbers,
    fit_baseline,
    read_structures,
)
from equisym.errors import EquisymError
from equisym.train.task import load_config


def _molecules(n=20, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n):
        numbers = [6, 1, 1, 1, 1] if k % 2 == 0 else [8, 1, 1]
        a = Atoms(numbers=numbers, positions=rng.normal(size=(len(numbers), 3)) * 1.5)
        a.info["energy"] = float(k)
        a.info["w"] = 1.0
        a.arrays["forces"] = rng.normal(size=(len(numbers), 3))
        frames.append(a)
    return frames


def _cells(n=4, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        a = bulk("Cu", "fcc", a=3.6, cubic=True)
        a.set_cell(a.cell.array @ (np.eye(3) + rng.normal(scale=0.02, size=(3, 3))), scale_atoms=True)
        a.rattle(0.05, seed=int(rng.integers(1000)))
        a.calc = EMT()
        a.get_potential_energy(), a.get_forces(), a.get_stress()
        frames.append(a)
    return frames


def test_species_symbols_and_numbers():
    assert atomic_numbers(["H", "C", 8, "8"]) == [1, 6, 8, 8]
    with pytest.raises(EquisymError, match="unknown chemical symbol 'Xx'"):
        atomic_numbers(["H", "Xx"])
    _, cfg = load_config({"task": "potential", "data": {"train": "x.xyz"}, "model": {"name": "pet", "preset": "tiny", "species": ["H", "C", "O"]}})
    assert cfg.model["species"] == [1, 6, 8]
    with pytest.raises(EquisymError, match="unknown chemical symbol"):
        load_config({"task": "potential", "data": {"train": "x.xyz"}, "model": {"name": "pet", "species": ["H", "Qq"]}})


def test_split_fractions_disjoint_and_no_silent_test(tmp_path):
    path = tmp_path / "m.xyz"
    write(path, _molecules(20), format="extxyz")
    cfg = from_dict(AtomsDataConfig, {"train": str(path), "val_fraction": 0.2, "test_fraction": 0.1, "split_seed": 3})
    dm = AtomsDataModule(cfg, 3.0, [1, 6, 8])
    dm.setup("fit")
    e = [sorted(s.energy for s in d.structures) for d in (dm.train_set, dm.val_set, dm.test_set)]
    assert [len(x) for x in e] == [14, 4, 2]
    assert not (set(e[0]) & set(e[1]) or set(e[0]) & set(e[2]) or set(e[1]) & set(e[2]))
    # another seed, another split; no test fraction: no test set at all (never the validation set)
    dm2 = AtomsDataModule(from_dict(AtomsDataConfig, {"train": str(path), "val_fraction": 0.2}), 3.0, [1, 6, 8])
    dm2.setup("fit")
    assert dm2.test_set is None and len(dm2.val_set) == 4
    with pytest.raises(EquisymError, match="must sum below 1"):
        from_dict(AtomsDataConfig, {"train": str(path), "val_fraction": 0.6, "test_fraction": 0.4})


def test_weights_and_bad_weights(tmp_path):
    frames = _molecules(6)
    frames[0].info["w"] = 0.0
    path = tmp_path / "w.xyz"
    write(path, frames, format="extxyz")
    s = read_structures(path, weight_key="w")
    assert [x.weight for x in s][:2] == [0.0, 1.0]
    for bad in (-1.0, float("nan")):
        frames[1].info["w"] = bad
        write(path, frames, format="extxyz")
        with pytest.raises(EquisymError, match=r"w.xyz\[1\]: the weight 'w' is .*finite and >= 0"):
            read_structures(path, weight_key="w")
    # a zero-weight outlier does not move the fitted baseline
    rng = np.random.default_rng(0)
    good = []
    for _ in range(10):
        numbers = rng.choice([1, 6, 8], size=int(rng.integers(2, 7)))
        good.append(Structure(np.zeros((len(numbers), 3)), numbers, np.zeros((3, 3)), np.zeros(3, bool), -13.6 * float((numbers == 1).sum()) - 1000.0 * float((numbers != 1).sum()), None))
    outlier = Structure(np.zeros((2, 3)), np.array([1, 1]), np.zeros((3, 3)), np.zeros(3, bool), 1e6, None, weight=0.0)
    np.testing.assert_allclose(fit_baseline([outlier] + good, [1, 6, 8]), [-13.6, -1000.0, -1000.0], atol=1e-5)


def test_stress_from_calculator_info_virial_and_units(tmp_path):
    frames = _cells(3)
    ref = [a.get_stress(voigt=False) for a in frames]
    path = tmp_path / "cu.xyz"
    write(path, frames, format="extxyz")  # energy/forces/stress into the single-point calculator
    s = read_structures(path, stress_key="stress")
    np.testing.assert_allclose(s[0].stress, ref[0], atol=1e-10)
    # in info, in GPa
    for a, st in zip(frames, ref):
        a.calc = None
        a.info["energy"], a.arrays["forces"] = 0.0, np.zeros((len(a), 3))
        a.info["s_gpa"] = st.reshape(9) * 160.21766208
        a.info["vir"] = -st * a.get_volume()
    write(path, frames, format="extxyz")
    s = read_structures(path, stress_key="s_gpa", stress_unit="GPa")
    np.testing.assert_allclose(s[1].stress, ref[1], atol=1e-10)
    s = read_structures(path, virial_key="vir")
    np.testing.assert_allclose(s[2].stress, ref[2], atol=1e-10)
    frames[0].info["vir"] = np.zeros(4)
    write(path, frames, format="extxyz")
    with pytest.raises(EquisymError, match=r"cu.xyz\[0\]: the virial has shape \(4,\)"):
        read_structures(path, virial_key="vir")


def test_stress_key_on_molecule_is_an_error(tmp_path):
    frames = _molecules(2)
    frames[0].info["stress"] = np.zeros(6)
    path = tmp_path / "m.xyz"
    write(path, frames, format="extxyz")
    with pytest.raises(EquisymError, match="not periodic"):
        read_structures(path, stress_key="stress")


def test_energy_units_and_atomic_energies(tmp_path):
    frames = _molecules(4)
    path = tmp_path / "m.xyz"
    write(path, frames, format="extxyz")
    s = read_structures(path, energy_unit="kcal/mol")
    assert s[1].energy == pytest.approx(1.0 * 0.0433641043)
    b = atomic_energy_baseline({"H": -0.5, 6: -37.8, "O": -75.0}, [1, 6, 8], "Hartree")
    np.testing.assert_allclose(b, np.array([-0.5, -37.8, -75.0]) * 27.211386245988)
    with pytest.raises(EquisymError, match=r"no energy for species \[8\]"):
        atomic_energy_baseline({"H": -0.5, "C": -37.8}, [1, 6, 8])
    with pytest.raises(EquisymError, match="unknown chemical symbol"):
        from_dict(AtomsDataConfig, {"train": "x", "atomic_energies": {"Hx": 1.0}})
    cfg = from_dict(AtomsDataConfig, {"train": str(path), "atomic_energies": {"H": -1.0, "C": -2.0, "O": -3.0}})
    dm = AtomsDataModule(cfg, 3.0, [1, 6, 8])
    dm.setup("fit")
    np.testing.assert_allclose(dm.baseline, [-1.0, -2.0, -3.0])


def test_without_test_set_scores_are_labelled_validation(tmp_path):
    from equisym.train.runner import train

    path = tmp_path / "m.xyz"
    write(path, _molecules(12), format="extxyz")
    cfg = {
        "task": "potential",
        "data": {"train": str(path), "val_fraction": 0.25, "batch_size": 4},
        "model": {"name": "pet", "preset": "tiny", "species": ["H", "C", "O"], "cutoff": 3.0, "cutoff_width": 0.5},
        "trainer": {"max_epochs": 1, "accelerator": "cpu"},
    }
    metrics = train(cfg, tmp_path / "run")
    assert metrics["scored_set"] == "validation" and metrics["val_size"] == 3
    assert not any(k.startswith("test/") for k in metrics) and "val/bare/forces_mae_meV_per_A" in metrics


def test_stress_weight_needs_a_stress_key():
    with pytest.raises(EquisymError, match="loss.stress_weight > 0 needs data.stress_key"):
        load_config({"task": "potential", "data": {"train": "x.xyz"}, "model": {"name": "pet", "preset": "tiny"}, "loss": {"stress_weight": 1.0}})
