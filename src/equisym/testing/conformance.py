"""Model conformance suite: the checks every registered model must pass.

A :class:`ModelSpec` says how to build a model (a config section for
:func:`equisym.nn.registry.build_model`), how to make a small batched input, and which
symmetries the model claims (:class:`Symmetry`). The checks then measure, in the dtype asked
for (float32 or float64, with the tolerances of :data:`TOLERANCE`):

- :func:`check_symmetry`: every claimed symmetry holds to tolerance for every group element
  tried, **and** a deliberately broken copy of the same model (the model after a fixed map
  that does not commute with the group, :attr:`Symmetry.breaker`) fails the same check by at
  least :data:`POWER` × the tolerance, so the check has power;
- :func:`check_forces`: forces equal ``−∂E/∂x`` by central finite differences;
- :func:`check_batch`: the output of a batch equals the concatenation of the single outputs;
- :func:`check_save_load`: ``state_dict`` → bytes → ``torch.load(weights_only=True)`` into a
  model rebuilt from the *expanded* section gives identical outputs;
- :func:`check_torchscript`: ``torch.jit.script`` works and agrees, where the class claims it
  with ``torchscript_compatible = True``.

Each check returns a :class:`CheckResult` (``passed`` / not applicable, with the measured
error) and raises :class:`AssertionError` on failure. :func:`run_all` runs every check. Group
actions are applied in float64 and cast back, so a float32 model's error is its own.

Example:
    >>> from equisym.testing.model_specs import model_specs
    >>> from equisym.testing.conformance import run_all
    >>> results = run_all(model_specs()["pet"], torch.float64)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

__all__ = [
    "TOLERANCE",
    "POWER",
    "Symmetry",
    "ModelSpec",
    "CheckResult",
    "outputs",
    "output_error",
    "check_symmetry",
    "check_forces",
    "check_batch",
    "check_save_load",
    "check_torchscript",
    "run_all",
    "CHECKS",
]

TOLERANCE = {torch.float32: 1e-3, torch.float64: 1e-9}
"""Allowed error relative to the output scale (``max|y|`` of the reference output): e3nn's
float tolerances."""

POWER = 3.0
"""A broken copy must miss the symmetry by at least this many tolerances."""


@dataclass
class Symmetry:
    """A symmetry a model claims, and how to test it.

    Attributes:
        name: short label, e.g. ``"rotations"``, ``"translations"``, ``"permutations"``.
        elements: ``dtype -> sequence`` of group elements (any objects ``act_in`` understands).
        act_in: ``(g, x) -> g·x`` on the model input (compute in float64, return the input dtype).
        act_out: ``(g, y) -> g·y`` on the output dict; ``None``: the outputs are invariant.
        breaker: a fixed map on inputs that does not commute with the group; the broken copy
            of the model is ``model ∘ breaker``.
        keys: output keys compared (``None``: all).
        scale: multiplies the dtype tolerance (for checks whose exact error is amplified, e.g.
            many chained float32 rotations).
        description: the exact statement tested (for reports).
    """

    name: str
    elements: Callable[[torch.dtype], Sequence[Any]]
    act_in: Callable[[Any, Any], Any]
    breaker: Callable[[Any], Any]
    act_out: Callable[[Any, dict], dict] | None = None
    keys: tuple[str, ...] | None = None
    scale: float = 1.0
    description: str = ""


@dataclass
class ModelSpec:
    """How to run one model through the suite.

    Attributes:
        name: label (a registry name, or e.g. ``"ecse(pet)"`` for a wrapped model).
        section: model section for :func:`equisym.nn.registry.build_model` (tiny preset).
        make_input: ``(dtype, batch) -> input`` holding ``batch`` items (``batch >= 1``).
        split: ``input -> list of single-item inputs`` (for :func:`check_batch`).
        build: ``section -> (model, expanded section)``; default the registry's ``build_model``.
        call: ``(model, input) -> output``; default ``model(input)``.
        prepare: optional ``model -> None`` run after building (e.g. non-trivial baselines).
        symmetries: the symmetries the model claims.
        forces: the model returns ``"energy"`` of an :class:`~equisym.geometry.AtomicGraph`
            input and has conservative forces (:func:`equisym.nn.compute_forces`).
        scale: tolerance multiplier for :func:`check_batch` and :func:`check_torchscript`.
        script_call: ``(scripted, model, input) -> output`` for :func:`check_torchscript`
            (default ``scripted(input)``), e.g. a plain-tensor entry point such as
            ``forward_edges``.
    """

    name: str
    section: dict
    make_input: Callable[[torch.dtype, int], Any]
    split: Callable[[Any], list]
    build: Callable[[dict], tuple[nn.Module, dict]] | None = None
    call: Callable[[nn.Module, Any], Any] | None = None
    prepare: Callable[[nn.Module], None] | None = None
    symmetries: list[Symmetry] = field(default_factory=list)
    forces: bool = False
    scale: float = 1.0
    script_call: Callable[[Any, nn.Module, Any], Any] | None = None

    def create(self, dtype: torch.dtype, seed: int = 0, calibrate: bool = True) -> tuple[nn.Module, dict]:
        """Build the model (seeded), prepared, calibrated, in eval mode and in ``dtype``.

        Calibration sets the running statistics of every normalisation layer from the spec's
        input (train-mode passes without gradients), as training would: with the fresh
        statistics (mean 0, variance 1) some models barely depend on their input.
        """
        from equisym.nn.registry import build_model

        torch.manual_seed(seed)
        model, section = (self.build or build_model)(copy.deepcopy(self.section))
        if self.prepare is not None:
            self.prepare(model)
        model = model.to(dtype)
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats]
        if calibrate and norms:
            momenta = [m.momentum for m in norms]
            for m in norms:
                m.reset_running_stats()
                m.momentum = None  # cumulative average
            model.train()
            with torch.no_grad():
                for _ in range(2):
                    self.run(model, self.make_input(dtype, 3))
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
        return model.eval(), section

    def run(self, model: nn.Module, x: Any) -> dict[str, torch.Tensor]:
        """The model's outputs on ``x`` as a dict of floating tensors (``"out"`` for a tensor)."""
        return outputs(self.call(model, x) if self.call is not None else model(x))


@dataclass
class CheckResult:
    """Outcome of one check: ``status`` is ``"pass"`` or ``"n.a."``; errors are relative."""

    check: str
    status: str
    error: float = 0.0
    broken_error: float | None = None
    detail: str = ""


def outputs(value: Any) -> dict[str, torch.Tensor]:
    """Normalise a model output (tensor or dict) to ``{key: floating tensor}``."""
    if torch.is_tensor(value):
        return {"out": value}
    return {k: v for k, v in dict(value).items() if torch.is_tensor(v) and v.is_floating_point()}


def output_error(got: dict, expected: dict, keys: Sequence[str] | None = None) -> float:
    """Largest ``max|got − expected| / max|expected|`` over the compared keys (1 if ``expected`` is 0)."""
    worst = 0.0
    for key in keys or expected:
        a, b = got[key].detach().double(), expected[key].detach().double()
        if a.shape != b.shape:
            raise AssertionError(f"output '{key}' has shape {tuple(a.shape)}, expected {tuple(b.shape)}")
        scale = float(b.abs().max()) if b.numel() else 1.0
        scale = scale if scale > 0 else 1.0
        err = float((a - b).abs().max()) / scale if b.numel() else 0.0
        worst = max(worst, err if err == err else float("inf"))
    return worst


def _symmetry_error(
    spec: ModelSpec, model: nn.Module, sym: Symmetry, x: Any, dtype: torch.dtype, broken: bool = False
) -> float:
    """Worst error over the group elements; ``broken``: of the copy ``model ∘ sym.breaker``."""

    def run(inp: Any) -> dict:
        return spec.run(model, sym.breaker(inp) if broken else inp)

    with torch.no_grad():
        ref = run(x)
        worst = 0.0
        for g in sym.elements(dtype):
            expected = ref if sym.act_out is None else sym.act_out(g, ref)
            worst = max(worst, output_error(run(sym.act_in(g, x)), expected, sym.keys))
    return worst


def check_symmetry(spec: ModelSpec, dtype: torch.dtype, which: str | None = None) -> list[CheckResult]:
    """Every claimed symmetry (or the one named ``which``) holds, and fails for the broken copy."""
    __tracebackhide__ = True
    syms = [s for s in spec.symmetries if which is None or s.name == which]
    if not syms:
        return [CheckResult(which or "symmetry", "n.a.", detail="not claimed")]
    model, _ = spec.create(dtype)
    x = spec.make_input(dtype, 2)
    results = []
    for sym in syms:
        tol = TOLERANCE[dtype] * sym.scale
        err = _symmetry_error(spec, model, sym, x, dtype)
        broken = _symmetry_error(spec, model, sym, x, dtype, broken=True)
        if not err <= tol:
            raise AssertionError(f"{spec.name}: {sym.name} broken: error {err:.3g} > tolerance {tol:.3g} ({dtype})")
        if not broken > POWER * tol:
            raise AssertionError(
                f"{spec.name}: the {sym.name} check has no power: the broken copy's error {broken:.3g} "
                f"is not above {POWER:g} x tolerance {tol:.3g}"
            )
        results.append(CheckResult(sym.name, "pass", err, broken, sym.description))
    return results


def check_forces(spec: ModelSpec, dtype: torch.dtype, n_components: int = 6) -> CheckResult:
    """``forces = −∂E/∂x`` (autograd, :func:`~equisym.nn.compute_forces`) against central differences."""
    __tracebackhide__ = True
    if not spec.forces:
        return CheckResult("forces", "n.a.", detail="no forces")
    from equisym.nn.atomistic import compute_forces

    model, _ = spec.create(dtype)
    graph = spec.make_input(dtype, 1)
    forces = compute_forces(model, graph)["forces"].double()
    eps = 1e-2 if dtype == torch.float32 else 1e-5
    gen = torch.Generator().manual_seed(0)
    picks = torch.randint(0, graph.n_atoms * 3, (n_components,), generator=gen).tolist()
    worst = 0.0
    scale = max(1.0, float(forces.abs().max()))
    with torch.no_grad():
        for k in picks:
            atom, axis = divmod(k, 3)

            def energy(delta: float) -> float:
                pos = graph.positions.double().clone()
                pos[atom, axis] += delta
                return float(spec.run(model, graph.replace(positions=pos.to(dtype)))["energy"].double().sum())

            fd = -(energy(eps) - energy(-eps)) / (2 * eps)
            worst = max(worst, abs(fd - float(forces[atom, axis])) / scale)
    tol = (3e-2 if dtype == torch.float32 else 1e-6) * spec.scale
    if not worst <= tol:
        raise AssertionError(f"{spec.name}: forces differ from -dE/dx by {worst:.3g} (relative) > {tol:g} ({dtype})")
    return CheckResult("forces", "pass", worst, detail=f"{n_components} components, eps {eps:g} Å")


def check_batch(spec: ModelSpec, dtype: torch.dtype, batch: int = 3) -> CheckResult:
    """The output of a batch is the concatenation (along dim 0) of the outputs of its items."""
    __tracebackhide__ = True
    model, _ = spec.create(dtype)
    x = spec.make_input(dtype, batch)
    with torch.no_grad():
        together = spec.run(model, x)
        singles = [spec.run(model, item) for item in spec.split(x)]
    joined = {k: torch.cat([s[k] for s in singles]) for k in together}
    err = output_error(together, joined)
    tol = TOLERANCE[dtype] * spec.scale
    if not err <= tol:
        raise AssertionError(f"{spec.name}: batch differs from its singles by {err:.3g} > {tol:.3g} ({dtype})")
    return CheckResult("batch", "pass", err)


def check_save_load(spec: ModelSpec, dtype: torch.dtype) -> CheckResult:
    """``state_dict`` round trip (``weights_only=True``) into a model rebuilt from the expanded section."""
    __tracebackhide__ = True
    model, section = spec.create(dtype, seed=1)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    spec2 = copy.copy(spec)
    spec2.section, spec2.prepare = section, None  # the expanded section alone must rebuild the architecture
    fresh, _ = spec2.create(dtype, seed=2, calibrate=False)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    x = spec.make_input(dtype, 2)
    with torch.no_grad():
        err = output_error(spec.run(fresh, x), spec.run(model, x))
    if err != 0.0:
        raise AssertionError(f"{spec.name}: reloaded model differs by {err:.3g} ({dtype})")
    return CheckResult("save/load", "pass", err)


def check_torchscript(spec: ModelSpec, dtype: torch.dtype) -> CheckResult:
    """``torch.jit.script`` works and agrees, where the model says ``torchscript_compatible = True``.

    The claim is read from the built instance (a wrapper may claim it for some backbones only).
    """
    __tracebackhide__ = True
    model, _ = spec.create(dtype)
    if not getattr(model, "torchscript_compatible", False):
        return CheckResult("torchscript", "n.a.", detail=f"{type(model).__name__}.torchscript_compatible is False")
    scripted = torch.jit.script(model)
    x = spec.make_input(dtype, 2)
    with torch.no_grad():
        got = spec.script_call(scripted, model, x) if spec.script_call is not None else scripted(x)
        err = output_error(outputs(got), spec.run(model, x))
    tol = TOLERANCE[dtype] * spec.scale
    if not err <= tol:
        raise AssertionError(f"{spec.name}: scripted model differs by {err:.3g} > {tol:.3g} ({dtype})")
    return CheckResult("torchscript", "pass", err)


CHECKS: dict[str, Callable[[ModelSpec, torch.dtype], Any]] = {
    "symmetry": check_symmetry,
    "forces": check_forces,
    "batch": check_batch,
    "save_load": check_save_load,
    "torchscript": check_torchscript,
}
"""Every check by name (``check_symmetry`` returns one result per claimed symmetry)."""


def run_all(spec: ModelSpec, dtype: torch.dtype) -> list[CheckResult]:
    """Run every check on ``spec`` in ``dtype``; raise at the first failure."""
    results: list[CheckResult] = []
    for check in CHECKS.values():
        out = check(spec, dtype)
        results.extend(out if isinstance(out, list) else [out])
    return results
