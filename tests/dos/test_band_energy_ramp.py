"""band_energy_ramp: the band-energy term of the training loss rises linearly after band_energy_start."""

import pytest
import torch

from equisym.errors import EquisymError
from tests.dos.test_bn_freeze import _module_and_batch

# these tests drive the module's training hooks without a Trainer, so its self.log calls warn
pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")


def test_band_energy_weight_rises_linearly_over_the_ramp(tiny_dos):
    module, batch = _module_and_batch(tiny_dos, "band_energy_weight=2.0", "band_energy_start=0.2", "band_energy_ramp=0.4")
    losses = {}
    for progress, expected in [(0.1, 0.0), (0.2, 0.0), (0.4, 1.0), (0.6, 2.0), (0.9, 2.0)]:
        module.training_progress = lambda p=progress: p
        assert module.band_energy_weight_now() == pytest.approx(expected)
        with torch.no_grad():
            losses[progress] = float(module.training_step(batch, 0))
    band_term = losses[0.6] - losses[0.1]
    assert band_term > 0  # the tiny untrained model's band energy is off
    assert losses[0.2] == pytest.approx(losses[0.1], rel=1e-6)
    assert losses[0.4] - losses[0.1] == pytest.approx(band_term / 2, rel=1e-4)
    assert losses[0.9] == pytest.approx(losses[0.6], rel=1e-6)


def test_without_a_ramp_the_term_starts_at_full_weight(tiny_dos):
    module, _ = _module_and_batch(tiny_dos, "band_energy_weight=0.5", "band_energy_start=0.7")
    module.training_progress = lambda: 0.69
    assert module.band_energy_weight_now() == 0.0
    module.training_progress = lambda: 0.7
    assert module.band_energy_weight_now() == 0.5


def test_ramp_out_of_range_is_a_clear_error(tiny_dos):
    with pytest.raises(EquisymError, match="band_energy_ramp"):
        _module_and_batch(tiny_dos, "band_energy_ramp=-0.1")


def test_bias_weight_adds_k_times_the_squared_mean_error(tiny_dos):
    """band_energy_bias_weight k: the term is w·[mean(err²) + k·mean(err)²], and it is logged."""
    from equisym.physics import band_energy
    from equisym.nn.dos_batch import predict_batch

    module, batch = _module_and_batch(tiny_dos, "band_energy_weight=0.5", "band_energy_bias_weight=3.0")
    module.training_progress = lambda: 1.0
    logged = {}
    module.log = lambda name, value, **kw: logged.__setitem__(name, float(value))
    with torch.no_grad():
        with_bias = float(module.training_step(batch, 0))
        module.cfg.band_energy_bias_weight = 0.0
        without = float(module.training_step(batch, 0))
        pred, _ = predict_batch(module.model, batch)
        error = (
            band_energy(module.energies, pred, module.n_electrons).band_energy
            - band_energy(module.energies, batch["dos"], module.n_electrons).band_energy
        )
    assert abs(float(error.mean())) > 1e-3  # the untrained model is biased, so the check has power
    assert with_bias - without == pytest.approx(0.5 * 3.0 * float(error.mean()) ** 2, rel=1e-4)
    assert logged["train/band_energy_bias"] == pytest.approx(float(error.mean()), rel=1e-5)


def test_negative_bias_weight_is_a_clear_error(tiny_dos):
    with pytest.raises(EquisymError, match="band_energy_bias_weight"):
        _module_and_batch(tiny_dos, "band_energy_bias_weight=-1")
