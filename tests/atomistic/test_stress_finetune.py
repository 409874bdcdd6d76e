"""Stress training (EMT-labelled periodic cells) and fine-tuning from a model file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write

from equisym.data.atoms import graph_from_atoms
from equisym.inference import load_model
from equisym.nn import PET, compute_forces
from equisym.train.runner import train

TINY = {"name": "pet", "preset": "tiny", "cutoff": 4.0, "cutoff_width": 0.5}


def emt_cells(n: int, seed: int, symbol: str = "Cu", a0: float = 3.6) -> list:
    """Strained and rattled cubic fcc cells (4 atoms) labelled by EMT (energy, forces, stress)."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        a = bulk(symbol, "fcc", a=a0, cubic=True)
        strain = np.eye(3) + rng.uniform(-0.04, 0.04, size=(3, 3))
        a.set_cell(a.cell.array @ strain, scale_atoms=True)
        a.rattle(0.08, seed=int(rng.integers(1 << 30)))
        a.calc = EMT()
        a.get_potential_energy(), a.get_forces(), a.get_stress()
        frames.append(a)
    return frames


def test_stress_is_the_strain_derivative():
    torch.manual_seed(0)
    model = PET.from_preset("tiny", species=[29], cutoff=4.0, cutoff_width=0.5).double()
    atoms = emt_cells(1, 1)[0]
    graph = graph_from_atoms([atoms], cutoff=4.0, dtype=torch.float64)
    stress = compute_forces(model, graph, stress=True)["stress"][0].detach().numpy()
    h, fd = 1e-5, np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            e = []
            for sgn in (1, -1):
                eps = np.eye(3)
                eps[i, j] += sgn * h
                b = atoms.copy()
                b.set_cell(atoms.cell.array @ eps.T, scale_atoms=True)
                e.append(float(model(graph_from_atoms([b], cutoff=4.0, dtype=torch.float64))["energy"][0]))
            fd[i, j] = (e[0] - e[1]) / (2 * h) / atoms.get_volume()
    fd = 0.5 * (fd + fd.T)
    np.testing.assert_allclose(stress, fd, atol=1e-7, rtol=1e-5)


def _config(path, **data):
    return {
        "task": "potential",
        "seed": 0,
        "data": {"train": str(path), "val_fraction": 0.2, "test_fraction": 0.2, "batch_size": 4, **data},
        "model": dict(TINY, species=["Cu"]),
        "optim": {"lr": 3e-3, "scheduler": "cosine", "warmup_epochs": 1},
        "trainer": {"max_epochs": 3, "accelerator": "cpu"},
    }


@pytest.fixture(scope="module")
def stress_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stress")
    path = tmp / "cu.xyz"
    write(path, emt_cells(20, 0), format="extxyz")
    cfg = _config(path, stress_key="stress")
    cfg["loss"] = {"stress_weight": 1.0}
    return train(cfg, tmp / "run"), tmp


def test_training_with_stress_reports_stress_errors(stress_run):
    metrics, tmp = stress_run
    bare = metrics["bare"]
    assert metrics["scored_set"] == "test" and metrics["test_size"] == 4
    assert np.isfinite(bare["stress_mae_GPa"])
    assert bare["stress_mae_GPa"] == pytest.approx(bare["stress_mae_eV_per_A3"] * 160.21766208, rel=1e-3)
    assert "val/stress_mae" in (tmp / "run" / "metrics.csv").read_text()


def test_finetune_new_species_full_and_heads(stress_run, tmp_path):
    _, tmp = stress_run
    pre = load_model(tmp / "run" / "best.ckpt")
    path = tmp_path / "ni.xyz"
    frames = emt_cells(10, 3, "Ni", 3.52) + emt_cells(10, 4, "Cu")
    write(path, frames, format="extxyz")
    cfg = _config(path)
    cfg["trainer"]["max_epochs"] = 1
    cfg["model"] = {"name": "pet", "species": ["Ni"], "init_from": str(tmp / "run" / "best.ckpt"), "finetune": "heads"}
    metrics = train(cfg, tmp_path / "ft")
    ft = load_model(tmp_path / "ft" / "best.ckpt")
    assert ft.known_species == [29, 28]
    # heads only: the transformer weights are the pretrained ones; Cu keeps its embedding row
    torch.testing.assert_close(ft.blocks[0].layers[0].attn.qkv.weight, pre.blocks[0].layers[0].attn.qkv.weight)
    assert not torch.equal(ft.blocks[0].atom_head[0].weight, pre.blocks[0].atom_head[0].weight)
    assert torch.isfinite(ft.baseline).all() and np.isfinite(metrics["bare"]["forces_mae"])
    stored = json.loads(json.dumps(torch.load(tmp_path / "ft" / "best.ckpt", weights_only=True)["equisym"]["config"]["finetune"]))
    assert stored["mode"] == "heads"
