"""A DOS run whose network collapses to one output for every structure stops, and says so."""

from types import SimpleNamespace

import torch

from tests.dos.test_bn_freeze import _module_and_batch


def _validate(module, batch) -> SimpleNamespace:
    trainer = SimpleNamespace(sanity_checking=False, should_stop=False, current_epoch=3)
    module._trainer = trainer
    module.log = lambda *args, **kwargs: None
    module.on_validation_epoch_start()
    with torch.no_grad():
        module.validation_step(batch, 0)
    module.on_validation_epoch_end()
    return trainer


def test_a_sound_network_trains_on(tiny_dos):
    module, batch = _module_and_batch(tiny_dos)
    assert batch["num_structures"] >= 2
    trainer = _validate(module.eval(), batch)
    assert not trainer.should_stop
    assert module.collapsed_at_epoch is None


def test_a_constant_network_stops_the_run_with_a_warning(tiny_dos, caplog):
    module, batch = _module_and_batch(tiny_dos)
    grid = module.model.config.num_energies
    module.model.atom_dos = lambda signal: torch.full((signal.shape[0], grid), 0.05)  # dead ReLUs: one output
    with caplog.at_level("WARNING", logger="equisym"):
        trainer = _validate(module.eval(), batch)
    assert trainer.should_stop
    assert module.collapsed_at_epoch == 3
    assert "collapsed at epoch 3" in caplog.text and "gradient_clip_val" in caplog.text
