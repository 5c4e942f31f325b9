"""Imports point down DESIGN.md's layer table and never round a cycle: the suite fails on a back edge.

The contracts live in pyproject.toml (`[tool.importlinter]`); `lint-imports` (a dev dependency) checks them
against the tree under test. import-linter's acyclic check looks for cycles between the children of each
package, not between a package's `__init__` and its own modules, so a second test looks for every cycle in
the module graph itself (with grimp, the graph import-linter builds).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grimp

import tokentrail

SRC = Path(tokentrail.__file__).resolve().parent.parent
ROOT = SRC.parent
PYPROJECT = ROOT / "pyproject.toml"


def _contracts() -> list[dict[str, object]]:
    try:
        import tomllib
    except ImportError:  # Python 3.10: import-linter depends on tomli there
        import tomli as tomllib
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    contracts: list[dict[str, object]] = config["contracts"]
    return contracts


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), f"{lint_imports} is missing: install the dev extra (pip install -e '.[dev]')"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo", str(PYPROJECT)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    kept = [line for line in result.stdout.splitlines() if line.startswith("Contracts:")]
    assert kept == [f"Contracts: {len(_contracts())} kept, 0 broken."], result.stdout


def test_no_module_imports_itself_round_a_cycle() -> None:
    graph = grimp.build_graph("tokentrail", cache_dir=None)
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    allowed = layers.get("ignore_imports", [])
    assert isinstance(allowed, list)
    for expression in allowed:  # the known cycle, named in the contract: the one place it is allowed
        importer, imported = (part.strip() for part in expression.split("->"))
        graph.remove_import(importer=importer, imported=imported)
    assert _cycles(graph) == []


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found
