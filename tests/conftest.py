"""Shared fixtures: seeds, the shared data folder, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (``../shared/data`` beside the checkout, or $EQUISYM_SHARED_DATA)."""
    path = Path(os.environ.get("EQUISYM_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path} (set EQUISYM_SHARED_DATA)")
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
