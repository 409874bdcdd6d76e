"""refit: full-batch refit of the DOS head's output layer on the training set after training."""

import json

import pytest
import torch
import yaml

from equisym.errors import EquisymError
from equisym.train.task import load_config
from equisym.nn.dos_batch import pool_views, predict_batch
from equisym.train.tasks.dos.refit import refit_output_layer
from tests.conftest import REPO, require_module, run_cli

_CONFIG = REPO / "configs" / "csgnn-dos.yaml"


def _trained_like(tiny_dos, *overrides):
    """A tiny model whose output bias is shifted: every line holds more states than it should,
    so every structure's DOS, and its band energy, is off in the same direction."""
    config = yaml.safe_load(_CONFIG.read_text())
    task, cfg = load_config(config, [f"data.root={tiny_dos}", "model.preset=tiny", "trainer.max_time=null",
                                     "band_energy_weight=1.0", "refit.iterations=30", *overrides])
    datamodule = task.build_datamodule(cfg)
    datamodule.setup("fit")
    module = task.build_module(cfg).eval()
    with torch.no_grad():
        module.model.head.output_layer.bias.add_(0.3)
    return cfg, datamodule, module


def _full_loss(module, datamodule) -> float:
    """The training loss over every atom of the training split, from the model itself."""
    split = datamodule.load_split("train")
    batch = next(iter(datamodule.loader(split, len(split.atoms), False, False, 0)))
    with torch.no_grad():
        pred, atoms = predict_batch(module.model, batch)
        return float(module.loss(pred, atoms, batch, module.cfg.band_energy_weight)[0])


@pytest.mark.parametrize("overrides", [
    (),  # csgnn-dos in the lab frame
    ("data.spheres.frames=local",),  # views in local frames, pooled with their weights
    ("model.name=soap-dos", "model.preset=tiny"),
])
def test_refit_lowers_the_training_loss_and_moves_only_the_output_layer(tiny_dos, overrides):
    if "model.name=soap-dos" in overrides:
        require_module("featomic", extra="dos")
    cfg, datamodule, module = _trained_like(tiny_dos, "data.train_atoms_per_structure=null", *overrides)
    layer = module.model.head.output_layer
    others = {name: p.clone() for name, p in module.named_parameters() if p is not layer.weight and p is not layer.bias}
    old_weight = layer.weight.clone()
    before = _full_loss(module, datamodule)
    info = refit_output_layer(module, datamodule, cfg.refit)
    # the cached features reproduce the model: the refit's own losses are the model's full-set losses
    assert info["train_loss_before"] == pytest.approx(before, rel=1e-4)
    assert info["train_loss_after"] == pytest.approx(_full_loss(module, datamodule), rel=1e-4)
    assert info["applied"] and info["train_loss_after"] < 0.5 * info["train_loss_before"]
    assert not torch.equal(layer.weight, old_weight)
    assert all(torch.equal(p, others[name]) for name, p in module.named_parameters() if name in others)
    assert all(p.requires_grad for p in module.parameters())  # the rest is trainable again


def test_pool_views_weights_each_atoms_views():
    views = torch.tensor([[1.0], [3.0], [5.0], [7.0]])
    batch = {"structure_index": torch.tensor([0, 0, 1]), "num_structures": 2,
             "frame_atom": torch.tensor([0, 0, 1, 2]), "frame_weight": torch.tensor([0.25, 0.75, 1.0, 1.0])}
    structures, atoms = pool_views(views, batch)
    assert atoms[:, 0].tolist() == [2.5, 5.0, 7.0]
    assert structures[:, 0].tolist() == [3.75, 7.0]


def test_refit_settings_are_checked_at_load(tiny_dos):
    with pytest.raises(EquisymError, match="refit.iterations"):
        _trained_like(tiny_dos, "refit.iterations=-1")
    with pytest.raises(EquisymError, match="refit.atoms_per_structure"):
        _trained_like(tiny_dos, "model.name=schnet-dos", "model.preset=tiny", "data.train_atoms_per_structure=null",
                      "refit.atoms_per_structure=4")


def test_cli_train_refits_and_evaluates_the_refit(tiny_dos, tmp_path):
    out = tmp_path / "run"
    res = run_cli(
        "train", str(_CONFIG), "--out", str(out), "-o", f"data.root={tiny_dos}", "-o", "model.preset=tiny",
        "-o", "trainer.max_epochs=1", "-o", "trainer.max_time=null", "-o", "trainer.progress_bar=false",
        "-o", "eval.rotation_trials=0", "-o", "band_energy_weight=1.0", "-o", "refit.iterations=5",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["refit"]["checkpoint"] == "refit.ckpt" and metrics["refit"]["from"] == "best.ckpt"
    assert metrics["refit"]["train_loss_after"] <= metrics["refit"]["train_loss_before"]
    best, refit = (torch.load(out / name, weights_only=True)["state_dict"] for name in ("best.ckpt", "refit.ckpt"))
    changed = sorted(k for k in best if not torch.equal(best[k], refit[k]))
    assert changed and all(k.startswith("model.head.mlp.") for k in changed)
    res = run_cli("eval", str(out / "refit.ckpt"), "--out", str(tmp_path / "eval"))
    assert res.returncode == 0, res.stderr[-2000:]
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    # the run's reported figures are those of the refit weights
    assert again["table2a_band_energy_mae_ev_per_atom"] == pytest.approx(metrics["table2a_band_energy_mae_ev_per_atom"], rel=1e-5)


def test_a_refit_that_does_not_lower_the_loss_keeps_the_trained_weights(tiny_dos, monkeypatch):
    cfg, datamodule, module = _trained_like(tiny_dos, "data.train_atoms_per_structure=null")
    layer = module.model.head.output_layer
    trained = layer.weight.clone(), layer.bias.clone()

    def diverging_step(self, closure):  # an optimizer step that ends somewhere worse
        with torch.no_grad():
            layer.bias.add_(5.0)

    monkeypatch.setattr(torch.optim.LBFGS, "step", diverging_step)
    info = refit_output_layer(module, datamodule, cfg.refit)
    assert not info["applied"] and info["train_loss_after"] > info["train_loss_before"]
    assert torch.equal(layer.weight, trained[0]) and torch.equal(layer.bias, trained[1])
