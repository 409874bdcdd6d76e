"""The DOS task end to end: training and evaluation through the CLI, ensembles of runs,
:func:`equisym.inference.dos.predict_dos` on new structures, and what each refuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import graphene, molecule

from equisym.errors import EquisymError
from equisym.geometry import icosahedral_rotations
from tests.conftest import run_cli

def test_cli_train_and_eval(two_seeds, tmp_path):
    """The first run of ``two_seeds`` (EMA weights, band-energy term, rotated test set): its
    run folder, then ``equisym eval`` of its checkpoint reproduces it and adds rotation averages."""
    out = two_seeds[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["table2b_band_energy_mae_ev_per_atom"]) == {"C20", "C60", "C_8_0", "Graphene"}
    assert np.isfinite(metrics["table2a_band_energy_mae_ev_per_atom"])
    assert metrics["test_size"] == metrics["test_structures"] - metrics["test/failed_band_energy"]
    assert "test_rotated/band_energy_mae" in metrics
    assert (out / "dos_examples.png").exists() and (out / "band_energy_parity.png").exists()
    res = run_cli(
        "eval", str(out / "best.ckpt"), "--out", str(tmp_path / "eval"), "-o", "eval.rotation_trials=0",
        "-o", "eval.average_rotations=3",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert again["table2a_band_energy_mae_ev_per_atom"] == pytest.approx(metrics["table2a_band_energy_mae_ev_per_atom"], rel=1e-5)
    assert again["test_averaged/rotations"] == 3
    assert set(again["test_averaged/table2b"]) == set(metrics["table2b_band_energy_mae_ev_per_atom"])
    # averaging over rotations is another prediction than the unrotated one
    assert again["test_averaged/band_energy_mae"] != again["table2a_band_energy_mae_ev_per_atom"]


_CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "csgnn-dos.yaml")


def _tiny_run_options(root) -> list[str]:
    return ["-o", f"data.root={root}", "-o", "model.preset=tiny", "-o", "trainer.max_epochs=1",
            "-o", "trainer.max_time=null", "-o", "trainer.progress_bar=false", "-o", "eval.rotation_trials=0"]


@pytest.fixture(scope="module")
def two_seeds(tiny_dos, tmp_path_factory) -> list[Path]:
    """Two tiny CSGNN-DOS runs (seeds 0 and 1) trained for one epoch through the CLI, with the
    band-energy term and EMA weights (the saved, evaluated and re-evaluated weights are the
    average); seed 0 is also scored on rotated test structures."""
    runs = [tmp_path_factory.mktemp("dos-runs") / f"seed{k}" for k in range(2)]
    for k, out in enumerate(runs):
        res = run_cli("train", _CONFIG, "--out", str(out), "-o", f"seed={k}", *_tiny_run_options(tiny_dos),
                      "-o", "band_energy_weight=1.0", "-o", "trainer.ema_decay=0.9",
                      *(["-o", "eval.rotation_trials=1"] if k == 0 else []))
        assert res.returncode == 0, res.stderr[-2000:]
    return runs


def test_cli_ensemble_eval_is_the_mean_of_its_members(tiny_dos, two_seeds, tmp_path):
    runs = two_seeds
    res = run_cli("eval", *(str(r / "best.ckpt") for r in runs), "--out", str(tmp_path / "ens"))
    assert res.returncode == 0, res.stderr[-2000:]
    metrics = json.loads((tmp_path / "ens" / "metrics.json").read_text())
    members = [json.loads((r / "metrics.json").read_text())["table2a_band_energy_mae_ev_per_atom"] for r in runs]
    assert metrics["ensemble/members"] == 2
    assert metrics["ensemble/member_band_energy_mae"] == pytest.approx(members, rel=1e-5)
    assert members[0] != members[1]  # two seeds, two models
    mean = np.mean([np.load(r / "test_dos.npz")["predicted"] for r in runs], axis=0)
    ensemble = np.load(tmp_path / "ens" / "test_dos.npz")
    np.testing.assert_allclose(ensemble["predicted"], mean, rtol=1e-5, atol=1e-6)
    rows = json.loads((tmp_path / "ens" / "predictions.json").read_text())
    spread = [row["band_energy_spread"] for row in rows]
    assert all(s >= 0 for s in spread) and max(s for s in spread) > 0
    assert metrics["ensemble/band_energy_spread_mean"] == pytest.approx(np.mean(spread), abs=1e-6)
    assert -1 <= metrics["ensemble/spread_error_rank_correlation"] <= 1
    assert (tmp_path / "ens" / "ensemble_spread.png").exists()

    # members must share data and model: a member whose stored config has another input is refused
    # (from its config, before its weights are loaded)
    ckpt = torch.load(runs[1] / "best.ckpt", weights_only=True)
    ckpt["equisym"]["config"]["data"]["spheres"]["num_bins"] = 16
    torch.save(ckpt, tmp_path / "other.ckpt")
    res = run_cli("eval", str(runs[0] / "best.ckpt"), str(tmp_path / "other.ckpt"), "--out", str(tmp_path / "bad"))
    assert res.returncode == 2 and "cannot join an ensemble" in res.stderr and "'data'" in res.stderr


def test_predict_dos_matches_eval_and_keeps_the_symmetry(tiny_dos, two_seeds):
    """predict_dos on new structures gives what eval gave on the same test structures (one
    model and the ensemble mean), the mean of the atoms' contributions, band energies by
    physics.band_energy; it is invariant under icosahedral rotations, translations and atom
    permutations (atom_dos permuted alike), and refuses non-carbon input."""
    import yaml

    from equisym.physics.dos import band_energy, dos_grid
    from equisym.train.task import load_config
    from equisym.inference.dos import predict_dos
    from equisym.train.tasks.dos import DOSDataModule

    _, cfg = load_config(yaml.safe_load((two_seeds[0] / "config.yaml").read_text()))
    test = DOSDataModule(cfg).load_split("test").atoms
    single = predict_dos(two_seeds[0] / "best.ckpt", test, batch_size=3)
    np.testing.assert_array_equal(single.energies, dos_grid())
    np.testing.assert_allclose(single.dos, np.load(two_seeds[0] / "test_dos.npz")["predicted"], rtol=1e-5, atol=1e-6)
    for s, atoms in enumerate(test):
        assert single.atom_dos[s].shape == (len(atoms), 310)
        np.testing.assert_allclose(single.atom_dos[s].mean(0), single.dos[s], rtol=1e-5, atol=1e-7)
        assert (single.fermi_level[s], single.band_energy[s]) == pytest.approx(band_energy(single.energies, single.dos[s], 4.0)[:2])
    mean = np.mean([predict_dos(r / "best.ckpt", test).dos for r in two_seeds], axis=0)
    ensemble = predict_dos([r / "best.ckpt" for r in two_seeds], test)
    np.testing.assert_allclose(ensemble.dos, mean, rtol=1e-6, atol=1e-9)

    # exactly invariant under an icosahedral rotation plus a translation; atoms permuted
    moved = test[0].copy()
    rotation = icosahedral_rotations()[17].numpy()
    moved.set_cell(np.asarray(moved.get_cell()) @ rotation.T, scale_atoms=False)
    moved.set_positions(moved.get_positions() @ rotation.T + np.array([0.3, -1.2, 2.0]))
    order = np.random.default_rng(0).permutation(len(moved))
    moved = moved[order]
    again = predict_dos(two_seeds[0] / "best.ckpt", moved)
    np.testing.assert_allclose(again.dos[0], single.dos[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again.atom_dos[0], single.atom_dos[0][order], rtol=1e-5, atol=1e-6)
    # ... but not under a generic rotation (lab-frame input: only the icosahedral group is exact)
    turned = test[0].copy()
    turned.rotate(37.0, (0.3, 0.5, 0.8), center="COM")
    assert np.abs(predict_dos(two_seeds[0] / "best.ckpt", turned).atom_dos[0] - single.atom_dos[0]).max() > 1e-4

    with pytest.raises(EquisymError, match="carbon"):
        predict_dos(two_seeds[0] / "best.ckpt", molecule("CH4"))
    with pytest.raises(EquisymError, match="ase.Atoms"):
        predict_dos(two_seeds[0] / "best.ckpt", [])
    with pytest.raises(EquisymError, match="batch_size"):
        predict_dos(two_seeds[0] / "best.ckpt", test, batch_size=0)


def test_predict_dos_refuses_checkpoints_of_other_tasks(tmp_path):
    """Refused from the stored config, before the (here absent) weights are loaded."""
    import yaml

    from equisym.inference.dos import predict_dos

    config = yaml.safe_load((Path(__file__).parents[2] / "configs" / "pet-methane.yaml").read_text())
    torch.save({"hyper_parameters": {"config": config}, "state_dict": {}}, tmp_path / "pet.ckpt")
    with pytest.raises(EquisymError, match="'potential' task, not of the 'dos' task"):
        predict_dos(tmp_path / "pet.ckpt", graphene(size=(2, 2, 1), vacuum=6.0))


def test_tasks_without_ensembles_refuse_several_checkpoints(tmp_path):
    """Refused from the first member's stored config, before any weights are loaded (the
    fake checkpoints have none: loading them would fail with a different error)."""
    import yaml

    from equisym.train.evaluate import evaluate_checkpoint

    config = yaml.safe_load((Path(__file__).parents[2] / "configs" / "pet-methane.yaml").read_text())
    paths = []
    for k in range(2):
        paths.append(tmp_path / f"member{k}.ckpt")
        torch.save({"hyper_parameters": {"config": config}, "state_dict": {}}, paths[-1])
    with pytest.raises(EquisymError, match="the potential task cannot evaluate an ensemble"):
        evaluate_checkpoint(paths)


def test_cli_rejects_wrong_grid_and_non_carbon(tmp_path):
    from tests.dos.conftest import write_tiny_dos_set

    config = _CONFIG
    wrong = write_tiny_dos_set(tmp_path / "wrong-grid", n_energies=300)
    res = run_cli("train", config, "--out", str(tmp_path / "r1"), "-o", f"data.root={wrong}", "-o", "model.preset=tiny")
    assert res.returncode == 2
    assert "300" in res.stderr and "310" in res.stderr
    assert not (tmp_path / "r1" / "metrics.json").exists()
