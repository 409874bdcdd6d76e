"""Shared fixtures: seeds, the shared data folder, skips, and a CLI runner.

Every skip in the suite is decided here, through :func:`skip_or_fail` (directly, or through
the ``shared_data`` fixture and :func:`require_module`) or the :data:`requires_cuda` mark: with the environment variable ``CI`` set (CI runs with ``CI=true``), a test that needs the
shared data folder *fails* when it is missing, instead of skipping; locally it skips. Optional
extras (``equisym[dos]``, ``equisym[bench]``) and hardware features (:data:`requires_cuda`)
skip everywhere, with a reason that names what is missing (``-ra`` prints every reason).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def in_ci() -> bool:
    """True when the environment variable ``CI`` is set to anything but ``""``, ``0``, ``false``, ``no``."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str, *, required_in_ci: bool) -> NoReturn:
    """Skip the current test, or fail it when CI must run it (``required_in_ci`` and :func:`in_ci`).

    Called at a test module's top level, it skips (or fails) the whole module.
    """
    if required_in_ci and in_ci():
        pytest.fail(f"{reason}; CI must run this test, so it fails instead of skipping", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
"""Mark for tests that need a GPU: they skip on CPU-only machines, CI included (CI has no GPU)."""


def shared_data_path() -> Path:
    """``$EQUISYM_SHARED_DATA``, else ``../shared/data`` beside the checkout (it may not exist)."""
    return Path(os.environ.get("EQUISYM_SHARED_DATA", REPO.parent / "shared" / "data"))


def require_module(name: str, extra: str) -> ModuleType:
    """Import the optional dependency ``name``, or skip the test naming the extra that installs it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        skip_or_fail(f"needs the optional {name} (pip install -e '.[{extra}]')", required_in_ci=False)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path, monkeypatch):
    """Every test runs in its own temporary folder, so nothing it (or the code under test) writes
    relative to the current folder, such as a CLI ``error.log``, lands in the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (``../shared/data`` beside the checkout, or $EQUISYM_SHARED_DATA).

    Missing: the test skips locally and fails in CI (see :func:`skip_or_fail`).
    """
    path = shared_data_path()
    if not path.is_dir():
        skip_or_fail(f"shared data folder not found at {path} (set EQUISYM_SHARED_DATA)", required_in_ci=True)
    return path


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m equisym ARGS`` in a subprocess with this checkout's sources.

    ``cwd`` defaults to a fresh temporary folder, so nothing (e.g. ``error.log``) lands in the checkout.
    """
    if cwd is None:
        import tempfile

        cwd = Path(tempfile.mkdtemp(prefix="equisym-cli-"))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "2")
    return subprocess.run(
        [sys.executable, "-m", "equisym", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def cli():
    return run_cli
