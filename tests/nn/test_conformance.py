"""Every registered model (and the symmetrizers around one) through the conformance suite,
in float32 and float64: claimed symmetries (with a broken copy failing the same check),
forces = -dE/dx, batch = concatenation of singles, save -> load, TorchScript where claimed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from equisym.nn.registry import model_names
from equisym.testing.conformance import (
    CHECKS,
    TOLERANCE,
    ModelSpec,
    Symmetry,
    check_batch,
    check_symmetry,
    check_torchscript,
    output_error,
    run_all,
)
from equisym.testing.model_specs import model_specs

SPECS = model_specs()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The models are tiny: one thread is fastest, and immune to other jobs on the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
WRAPPERS = {"ecse(pet)", "ecse(pointnet)", "rotation-averaged(pet)"}
VARIANTS = {"pet+zbl"}  # a registered model with an option that needs its own inputs
DTYPES = [torch.float32, torch.float64]


def test_every_registered_model_has_a_spec():
    missing = sorted(set(model_names()) - set(SPECS))
    assert not missing, f"registered models without a conformance spec (add one in equisym/testing/model_specs.py): {missing}"
    assert set(SPECS) - set(model_names()) == WRAPPERS | VARIANTS


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("name", sorted(SPECS))
def test_conformance(name, check, dtype):
    out = CHECKS[check](SPECS[name], dtype)
    for result in out if isinstance(out, list) else [out]:
        assert result.status in ("pass", "n.a.")
        if result.status == "pass" and result.broken_error is not None:
            assert result.broken_error > TOLERANCE[dtype] > result.error


@pytest.mark.parametrize("name", ["csgnn", "schnet", "ecse(pet)", "ecse(pointnet)", "wallpaper-d4", "csgnn-dos", "schnet-dos"])
def test_exact_symmetry_claims_are_tested(name):
    """The models whose point is an exact symmetry claim more than permutations."""
    names = {s.name for s in SPECS[name].symmetries}
    assert names - {"permutations", "translations"}, names


def test_a_false_symmetry_claim_fails():
    """PointNet is not rotation invariant: claiming SO(3) for it must fail the check."""
    spec = SPECS["ecse(pet)"]
    rotations = next(s for s in spec.symmetries if s.name.startswith("rotations"))
    bare = ModelSpec("pet claiming SO(3)", SPECS["pet"].section, spec.make_input, spec.split,
                     prepare=SPECS["pet"].prepare, symmetries=[rotations])
    with pytest.raises(AssertionError, match="rotations SO\\(3\\) broken"):
        check_symmetry(bare, torch.float64)


def test_a_check_without_power_fails():
    """A breaker that does not break the symmetry makes the check itself fail."""
    spec = SPECS["pointnet"]
    perm = spec.symmetries[0]
    weak = ModelSpec("pointnet", spec.section, spec.make_input, spec.split,
                     symmetries=[Symmetry(perm.name, perm.elements, perm.act_in, breaker=lambda x: x)])
    with pytest.raises(AssertionError, match="has no power"):
        check_symmetry(weak, torch.float64)


class _Leaky(nn.Module):
    """Batch-dependent output (normalised over the batch): fails batch = concatenation."""

    def forward(self, x):
        return x.sum(dim=(1, 2))[:, None] - x.sum()


def test_batch_check_catches_cross_talk():
    spec = ModelSpec("leaky", {}, SPECS["pointnet"].make_input, SPECS["pointnet"].split,
                     build=lambda section: (_Leaky(), section))
    with pytest.raises(AssertionError, match="batch differs"):
        check_batch(spec, torch.float64)


class _Claims(nn.Module):
    torchscript_compatible = True

    def forward(self, x):
        return torch.tensor([float(v) for v in x.flatten().tolist()][:1])  # not scriptable


def test_a_false_torchscript_claim_fails():
    spec = ModelSpec("claims", {}, SPECS["pointnet"].make_input, SPECS["pointnet"].split,
                     build=lambda section: (_Claims(), section))
    with pytest.raises(Exception):
        check_torchscript(spec, torch.float64)


def test_run_all_and_output_error():
    results = run_all(SPECS["soap-dos"], torch.float64)
    assert {r.check for r in results} == {"permutations", "forces", "batch", "save/load", "torchscript"}
    assert output_error({"a": torch.tensor([1.0, 2.0])}, {"a": torch.tensor([1.0, 4.0])}) == pytest.approx(0.5)
