"""Skips go through one helper: tests that need the shared data fail in CI instead of skipping."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, in_ci, require_module, skip_or_fail

TESTS = REPO / "tests"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, False), ("", False), ("0", False), ("false", False), ("true", True), ("1", True)]
)
def test_in_ci_reads_the_ci_variable(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_skip_or_fail_fails_in_ci_only_when_required(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        skip_or_fail("data missing", required_in_ci=True)
    with pytest.raises(pytest.skip.Exception, match="optional"):
        skip_or_fail("optional", required_in_ci=False)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="data missing"):
        skip_or_fail("data missing", required_in_ci=True)


def test_require_module_names_the_extra(monkeypatch):
    monkeypatch.setenv("CI", "true")  # optional extras skip even in CI
    assert require_module("json", extra="test").dumps([]) == "[]"
    with pytest.raises(pytest.skip.Exception, match=r"pip install -e '\.\[dos\]'"):
        require_module("equisym_no_such_module", extra="dos")


def test_require_module_at_module_level_skips_the_module(tmp_path):
    test = tmp_path / "test_needs_module.py"
    test.write_text(
        "from tests.conftest import require_module\n"
        "require_module('equisym_no_such_module', extra='dos')\n"
        "def test_a():\n    assert False\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    # a module skipped whole runs no test: exit code 5 (no tests ran), not a failure
    assert done.returncode in (0, 5) and "1 skipped" in done.stdout, done.stdout + done.stderr


def _run_shared_data_test(tmp_path, ci: bool) -> subprocess.CompletedProcess:
    test = tmp_path / "test_needs_data.py"
    test.write_text("def test_needs_data(shared_data):\n    assert shared_data.is_dir()\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["EQUISYM_SHARED_DATA"] = str(tmp_path / "missing")
    if ci:
        env["CI"] = "true"
    # the checkout's tests/conftest.py provides the fixture to the file through -p
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest", str(test)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


def test_missing_shared_data_skips_locally_and_fails_in_ci(tmp_path):
    local = _run_shared_data_test(tmp_path, ci=False)
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout + local.stderr
    ci = _run_shared_data_test(tmp_path, ci=True)
    assert ci.returncode != 0, ci.stdout + ci.stderr
    assert "shared data folder not found" in ci.stdout and "CI must run this test" in ci.stdout


def _direct_skips(path) -> list[int]:
    """Lines calling ``pytest.skip``/``pytest.importorskip`` or using ``pytest.mark.skip(if)``."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ("skip", "importorskip", "skipif"):
            base = node.value
            if (isinstance(base, ast.Name) and base.id == "pytest") or (
                isinstance(base, ast.Attribute) and base.attr == "mark"
            ):
                lines.append(node.lineno)
    return lines


def test_every_skip_goes_through_the_conftest_helper():
    helpers = {TESTS / "conftest.py", TESTS / "test_skips.py"}
    offenders = {
        str(path.relative_to(REPO)): lines
        for path in sorted(TESTS.rglob("*.py"))
        if path not in helpers and (lines := _direct_skips(path))
    }
    assert not offenders, f"skip through tests.conftest.skip_or_fail / require_module / shared_data: {offenders}"
