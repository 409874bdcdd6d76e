"""Training flushes subnormal floats to zero (they make CPU arithmetic 10-100x slower)."""

from __future__ import annotations

import pytest
import torch

from equisym.inference.runtime import flush_denormals
from tests.conftest import skip_or_fail

SUBNORMAL = 1e-39  # below float32's smallest normal number, 1.18e-38


@pytest.fixture
def restore_flush():
    yield
    torch.set_flush_denormal(False)


def test_subnormals_survive_by_default_and_are_flushed_after(restore_flush):
    torch.set_flush_denormal(False)
    x = torch.tensor([SUBNORMAL], dtype=torch.float32)
    assert (x * 1.0).item() != 0.0  # the default keeps them: this is what slows training down
    if not flush_denormals():
        skip_or_fail("this CPU cannot flush subnormals", required_in_ci=False)
    assert (x * 1.0).item() == 0.0
    normal = torch.tensor([1e-37], dtype=torch.float32)
    assert (normal * 1.0).item() == pytest.approx(1e-37, rel=1e-6)  # normal numbers untouched
