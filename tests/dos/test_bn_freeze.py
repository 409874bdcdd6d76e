"""freeze_batchnorm_start: BatchNorm switches to its running statistics for the end of training."""

import pytest
import torch
import yaml

from equisym.errors import EquisymError
from equisym.train.task import load_config
from tests.conftest import REPO

# these tests drive the module's training hooks without a Trainer, so its self.log calls warn
pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")


def _module_and_batch(tiny_dos, *overrides):
    config = yaml.safe_load((REPO / "configs" / "csgnn-dos.yaml").read_text())
    task, cfg = load_config(config, [f"data.root={tiny_dos}", "model.preset=tiny", "trainer.max_time=null", "band_energy_weight=0",
                                     *overrides])
    datamodule = task.build_datamodule(cfg)
    datamodule.setup("fit")
    module = task.build_module(cfg)
    return module, next(iter(datamodule.train_dataloader()))


def _running_stats(module):
    return [t.clone() for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
            for t in (m.running_mean, m.running_var)]


@pytest.mark.parametrize("progress, frozen", [(0.2, False), (0.8, True)])
def test_batchnorm_is_frozen_from_the_given_fraction(tiny_dos, progress, frozen):
    module, batch = _module_and_batch(tiny_dos, "freeze_batchnorm_start=0.5")
    module.training_progress = lambda: progress
    module.train()
    module.on_train_batch_start(batch, 0)
    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(m.training != frozen for m in norms)
    before = _running_stats(module)
    loss = module.training_step(batch, 0)
    loss.backward()  # still trainable: gradients reach the weights
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    unchanged = all(torch.equal(a, b) for a, b in zip(before, _running_stats(module)))
    assert unchanged == frozen


def test_freeze_fraction_out_of_range_is_a_clear_error(tiny_dos):
    with pytest.raises(EquisymError, match="freeze_batchnorm_start"):
        _module_and_batch(tiny_dos, "freeze_batchnorm_start=1.5")
