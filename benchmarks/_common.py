"""Shared helpers for the benchmark scripts: provenance stamps, result files, timing.

Every benchmark writes its result through :func:`write_result`, which stamps the file with
where the numbers came from (see :func:`provenance`)::

    {
      "benchmark": "csgnn_speed",
      "provenance": {
        "format": 1,
        "date": "2026-12-06T15:40:12Z",                 # UTC, when the result was written
        "runtime_s": 812.4,                             # since the script started
        "command": "python benchmarks/csgnn_speed.py --quick",
        "git": {"commit": "a1340cd…", "dirty": false, "changed": [], "changed_count": 0},
        "equisym": "0.9.0",
        "packages": {"torch": "2.13.0+cpu", "lightning": "2.6.6", "numpy": "…", …},
        "machine": {"cpu": "…", "cores": 2, "torch_threads": 1, "omp_num_threads": "1",
                    "os": "Linux-…", "python": "3.12.3", "load_average": [1.9, 1.7, 1.5]}
      },
      ...                                               # the benchmark's own keys
    }

``git.dirty`` is true when tracked files outside ``benchmarks/results/`` differ from the commit
(``git.changed`` lists up to 20 of them, ``git.changed_count`` counts them all): such a result cannot be reproduced from the commit
alone. Packages that are not installed are left out of ``packages``.

Results go to ``benchmarks/results/`` (or ``$EQUISYM_BENCH_RESULTS``), written atomically.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("EQUISYM_BENCH_RESULTS", REPO / "benchmarks" / "results"))
sys.path.insert(0, str(REPO / "src"))

FORMAT = 1
"""Version of the ``provenance`` block."""

PACKAGES = (
    "torch",
    "lightning",
    "numpy",
    "scipy",
    "ase",
    "vesin",
    "h5py",
    "scikit-image",
    "metatomic-torch",
    "metatrain",
    "torch-geometric",
    "featomic",
    "e3nn",
    "passagemath-buckygen",
)
"""Distributions whose versions are recorded (those installed)."""

_START = time.time()


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (distribution names), without importing them."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_state(repo: Path = REPO) -> dict:
    """The checkout's commit and whether tracked files (outside ``benchmarks/results/``) differ.

    Returns ``{"commit": None, ...}`` outside a git checkout or without git.
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        status = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)benchmarks/results")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None, "changed": [], "changed_count": 0}
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": commit, "dirty": bool(changed), "changed": changed[:20], "changed_count": len(changed)}


def machine_info() -> dict:
    """CPU model, core count, threads, OS, Python and load: the context of every measured time."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": load,
    }


def _equisym_version() -> str | None:
    try:
        import equisym

        return equisym.__version__
    except Exception:  # noqa: BLE001 - a broken import must not lose a finished measurement
        return None


def provenance() -> dict:
    """Where a result came from: date, command, git commit, equisym and package versions, machine."""
    command = " ".join(shlex.quote(arg) for arg in [Path(sys.executable).name, *sys.argv])
    if sys.argv and sys.argv[0] and Path(sys.argv[0]).is_file():
        try:
            script = Path(sys.argv[0]).resolve().relative_to(REPO)
            command = " ".join(["python", str(script), *(shlex.quote(a) for a in sys.argv[1:])])
        except ValueError:
            pass
    return {
        "format": FORMAT,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runtime_s": round(time.time() - _START, 1),
        "command": command,
        "git": git_state(),
        "equisym": _equisym_version(),
        "packages": package_versions(),
        "machine": machine_info(),
    }


def write_json(path: Path | str, data: dict) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_result(name: str, data: dict, results: Path | str | None = None) -> Path:
    """Write ``RESULTS/<name>.json``: ``{"benchmark": name, "provenance": ..., **data}``.

    Args:
        name: result name (file stem); letters, digits, ``_``, ``-`` and ``.`` only.
        data: the benchmark's own keys (must not use ``benchmark`` or ``provenance``).
        results: folder (default :data:`RESULTS`).

    Returns:
        The path written.
    """
    if not name or not all(c.isalnum() or c in "_-." for c in name) or name.startswith("."):
        raise ValueError(f"result name {name!r}: use letters, digits, '_', '-' and '.' only")
    clash = {"benchmark", "provenance"} & set(data)
    if clash:
        raise ValueError(f"result keys {sorted(clash)} are reserved for the stamp")
    path = Path(results or RESULTS) / f"{name}.json"
    write_json(path, {"benchmark": name, "provenance": provenance(), **data})
    print(f"wrote {path}")
    return path


def require_same_overrides(run: Path, stored: list[str], current: list[str], advice: str) -> None:
    """Stop with one line when a finished run that a benchmark would reuse was trained with other
    ``-o`` overrides than the current call's (``advice``: where to put each variant instead), so
    a table never mixes variants."""
    if list(stored) != list(current):
        sys.exit(f"{run} holds a run trained with overrides {list(stored)}, not {list(current)}: {advice}")


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed calls, seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]
