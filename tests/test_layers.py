"""The package's layers: import-linter's contracts in pyproject.toml ([tool.importlinter]).

``make test`` (and ``make lint``) run ``uv run lint-imports``, which checks them on the package
as it is; here they are shown to catch what they are for, and the import graph to have no
cycles."""

from __future__ import annotations

import shutil
import sys

import importlinter.api  # noqa: F401  (sets import-linter up, as its command line does)
from importlinter.application import use_cases

from support import ROOT


def lint_imports(capsys) -> tuple[bool, str]:
    """Check the contracts; returns whether all were kept and import-linter's report."""
    kept = use_cases.lint_imports(
        config_filename=str(ROOT / "pyproject.toml"), no_logo=True, cache_dir=None
    )
    return kept, capsys.readouterr().out


def test_a_plotting_import_in_ingest_and_an_upward_import_in_store_break_the_contracts(
    tmp_path, monkeypatch, capsys
):
    """The contracts catch what they are for: checked on a copy of the package with two
    forbidden imports added."""
    shutil.copytree(
        ROOT / "hitting_coach",
        tmp_path / "hitting_coach",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    with open(tmp_path / "hitting_coach" / "ingest" / "hub.py", "a") as f:
        f.write("\nimport panel\n")
    with open(tmp_path / "hitting_coach" / "store" / "layout.py", "a") as f:
        f.write("\nfrom hitting_coach import cli\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "hitting_coach", raising=False)  # find the copy

    kept, report = lint_imports(capsys)
    assert not kept
    assert "Contracts: 1 kept, 2 broken." in report  # web's contract is untouched by these
    assert "hitting_coach.ingest.hub -> panel" in report
    assert "hitting_coach.store.layout -> hitting_coach.cli" in report


def test_no_module_imports_itself_through_others():
    """No import cycles, inside a layer too (the layers contract only orders the layers)."""
    import grimp

    graph = grimp.build_graph("hitting_coach")
    cycles = {
        tuple(sorted((module, imported)))
        for module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.startswith("hitting_coach")
        and graph.chain_exists(importer=imported, imported=module)
    }
    assert not cycles
