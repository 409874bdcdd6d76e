"""benchmarks/results/ holds exactly the files behind docs/results.md: none missing, none orphaned."""

from __future__ import annotations

import json
import re

from tests.conftest import REPO

RESULTS = REPO / "benchmarks" / "results"
PAGE = REPO / "docs" / "results.md"
NAME = re.compile(r"[\w.-]+\.(?:json|png)")


def _named_on_page() -> set[str]:
    return {name for name in NAME.findall(PAGE.read_text()) if name != "metrics.json"}


def _inputs_of_summaries(names: set[str]) -> set[str]:
    """Per-run files that a kept summary (``dos_seeds.py``'s ``groups.*.files``) is computed from."""
    inputs = set()
    for name in names:
        path = RESULTS / name
        if path.suffix != ".json" or not path.is_file():
            continue
        groups = json.loads(path.read_text()).get("groups")
        if isinstance(groups, dict):
            for group in groups.values():
                if isinstance(group, dict):
                    inputs.update(f"{stem}.json" for stem in group.get("files", []))
    return inputs


def test_every_result_named_in_docs_results_exists():
    missing = sorted(name for name in _named_on_page() if not (RESULTS / name).is_file())
    assert not missing, f"docs/results.md names result files that are not in benchmarks/results/: {missing}"


def test_every_result_file_backs_a_figure_in_docs_results():
    named = _named_on_page()
    kept = named | _inputs_of_summaries(named)
    orphans = sorted(p.name for p in RESULTS.iterdir() if p.is_file() and not p.name.startswith(".") and p.name not in kept)
    assert not orphans, (
        f"benchmarks/results/ files that no figure in docs/results.md uses: {orphans}; "
        "name them there (current figures) or remove them (history stays in git)"
    )
