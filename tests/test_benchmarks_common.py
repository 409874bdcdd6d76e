"""The benchmarks' shared result writer stamps every result, and every benchmark uses it."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO, skip_or_fail

BENCHMARKS = REPO / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("_bench_common", BENCHMARKS / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_write_result_stamps_provenance(common, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(BENCHMARKS / "csgnn_speed.py"), "--quick"])
    path = common.write_result("demo", {"value": 1.5}, results=tmp_path)
    assert path == tmp_path / "demo.json"
    assert [p.name for p in tmp_path.iterdir()] == ["demo.json"]  # no temporary file left
    data = json.loads(path.read_text())
    assert data["benchmark"] == "demo" and data["value"] == 1.5
    stamp = data["provenance"]
    assert stamp["format"] == common.FORMAT
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp["date"])
    assert stamp["command"] == "python benchmarks/csgnn_speed.py --quick"
    assert {"torch", "lightning", "numpy", "ase"} <= set(stamp["packages"])
    import equisym

    assert stamp["equisym"] == equisym.__version__
    machine = stamp["machine"]
    assert machine["cores"] >= 1 and machine["cpu"] and machine["python"] and machine["os"]
    git = stamp["git"]
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert git["commit"] == head.stdout.strip()
        assert isinstance(git["dirty"], bool) and git["changed_count"] >= len(git["changed"])
        assert all(not c.startswith("benchmarks/results/") for c in git["changed"])


def test_git_state_reports_dirty_tree(common, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    run = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)  # noqa: E731
    try:
        run("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        skip_or_fail("git is not available", required_in_ci=True)
    (repo / "a.txt").write_text("1")
    run("add", "a.txt")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = common.git_state(repo)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False and clean["changed"] == []
    (repo / "a.txt").write_text("2")
    dirty = common.git_state(repo)
    assert dirty["dirty"] is True and dirty["changed"] == ["a.txt"]
    assert common.git_state(tmp_path / "not-a-repo")["commit"] is None


def test_write_result_rejects_reserved_keys_and_bad_names(common, tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        common.write_result("demo", {"provenance": 1}, results=tmp_path)
    with pytest.raises(ValueError, match="result name"):
        common.write_result("../escape", {}, results=tmp_path)
    assert list(tmp_path.iterdir()) == []


def _writes_json_directly(tree: ast.AST) -> list[int]:
    """Lines that write JSON without the shared writer: ``json.dump(...)`` or ``write_text(json.dumps(...))``."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr == "dump" and isinstance(node.func.value, ast.Name) and node.func.value.id == "json":
            lines.append(node.lineno)
        if node.func.attr in ("write_text", "write") and any(
            isinstance(a, ast.Call) and isinstance(a.func, ast.Attribute) and a.func.attr == "dumps" for a in node.args
        ):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_writes_through_common_and_documents_its_command(script):
    source = script.read_text()
    tree = ast.parse(source)
    assert not _writes_json_directly(tree), f"{script.name} writes JSON without _common.write_result/write_json"
    doc = ast.get_docstring(tree)
    assert doc, f"{script.name} has no module docstring (what it measures, the command)"
    assert f"benchmarks/{script.name}" in doc, f"{script.name}'s docstring gives no command to run it"


def test_methane_benchmark_trains_our_pet_with_the_recipes_batch(monkeypatch):
    """The benchmark once forced batch 16 on every model, so the recipe's batch was silently replaced."""
    import yaml

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("_methane_benchmark", BENCHMARKS / "methane_benchmark.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    recipe = yaml.safe_load((REPO / "configs" / "pet-methane.yaml").read_text())["data"]["batch_size"]
    assert "batch_size" not in bench._data_section()
    assert bench.pet_batch_size([]) == recipe
    assert bench.pet_batch_size(["data.batch_size=8"]) == 8
    # stored runs: their recorded batch, else the override, else the 16 forced before it was recorded
    assert bench.stored_batch_size({"batch_size": 2, "overrides": []}) == 2
    assert bench.stored_batch_size({"overrides": ["data.batch_size=4"]}) == 4
    assert bench.stored_batch_size({"overrides": []}) == bench.PEER_BATCH_SIZE == 16
    # one check decides both reuse and the summary: same overrides and same batch, else the reason
    assert bench.pet_run_mismatch({"overrides": [], "batch_size": recipe}, [], recipe) is None
    assert "batch 16" in bench.pet_run_mismatch({"overrides": []}, [], 4)
    assert "overrides" in bench.pet_run_mismatch({"overrides": ["optim.lr=0.001"], "batch_size": 4}, [], 4)
