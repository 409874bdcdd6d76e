"""End to end: `equisym train` / `equisym eval` of the potential task, the ASE calculator."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from ase.build import molecule

from equisym.errors import EquisymError
from equisym.integrations.ase import EquisymCalculator
from equisym.nn import PET


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, shared_data):
    from tests.conftest import run_cli

    out = tmp_path_factory.mktemp("pet") / "run"
    m = shared_data / "methane"
    result = run_cli(
        "train", str(__import__("pathlib").Path(__file__).resolve().parents[2] / "configs" / "pet-methane.yaml"),
        "--out", str(out),
        "-o", f"data.train={m / 'methane_train.xyz'}", "-o", f"data.val={m / 'methane_val.xyz'}",
        "-o", f"data.test={m / 'methane_test.xyz'}", "-o", "data.max_train=48", "-o", "data.batch_size=16",
        "-o", "model.preset=tiny", "-o", "trainer.max_epochs=2", "-o", "trainer.max_time=null",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return out


def test_train_writes_run_folder(trained_run):
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["test_size"] == 100
    bare = metrics["bare"]
    assert np.isfinite(bare["energy_mae"]) and np.isfinite(bare["forces_mae"])
    assert (trained_run / "best.ckpt").exists() and (trained_run / "energy_parity.png").exists()
    assert "val/forces_mae" in (trained_run / "metrics.csv").read_text()


def test_eval_cli_and_calculator(trained_run, cli, shared_data):
    result = cli("eval", str(trained_run / "best.ckpt"), "--out", str(trained_run / "ev"),
                 "-o", "eval.max_structures=5", "-o", "eval.batch_size=5")
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((trained_run / "ev" / "metrics.json").read_text())
    assert metrics["bare"]["n_structures"] == 5

    atoms = molecule("CH4")
    atoms.calc = EquisymCalculator(str(trained_run / "best.ckpt"))
    e = atoms.get_potential_energy()
    f = atoms.get_forces()
    assert -1200 < e < -900  # baseline fitted on methane (eV)
    assert f.shape == (5, 3) and np.isfinite(f).all()
    np.testing.assert_allclose(f, atoms.calc.calculate_numerical_forces(atoms, d=1e-4), atol=1e-4)
    bad = molecule("H2O")
    with pytest.raises(EquisymError, match="unknown species"):
        bad.calc = EquisymCalculator(str(trained_run / "best.ckpt"))
        bad.get_potential_energy()


def test_eval_bad_mode_and_missing_checkpoint(trained_run):
    from equisym.train.evaluate import evaluate_checkpoint
    from equisym.train.checkpoint import load_checkpoint
    from equisym.train.task import load_config

    with pytest.raises(EquisymError, match="checkpoint not found"):
        evaluate_checkpoint(trained_run / "nope.ckpt")
    config = load_checkpoint(trained_run / "best.ckpt")["hyper_parameters"]["config"]
    with pytest.raises(EquisymError, match="eval.modes"):
        load_config(config, ["eval.modes=[magic]"])


def test_calculator_with_model_object_and_stress():
    from ase.build import bulk

    torch.manual_seed(0)
    m = PET.from_preset("tiny", species=[6], cutoff=3.0)
    atoms = bulk("C", "diamond", a=3.57, cubic=True)
    atoms.rattle(0.03, seed=3)
    atoms.calc = EquisymCalculator(m)
    stress = atoms.get_stress()
    np.testing.assert_allclose(stress, atoms.calc.calculate_numerical_stress(atoms, d=1e-5), rtol=1e-4, atol=1e-7)
    atoms.positions[1] = atoms.positions[0]
    with pytest.raises(EquisymError, match="overlap"):
        atoms.get_potential_energy()
