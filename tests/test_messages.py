"""Messages a user reads never send a pip user to a file only a clone of the repository has."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import tokentrail

SRC = Path(tokentrail.__file__).parent
REPO_ONLY = re.compile(r"(?<![\w.])(docs|examples|tests|scripts|bench)/|\bREADME\b|\bCONTRIBUTING\b|\.md\b")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (read by maintainers in the source, not by users)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def test_no_message_points_at_a_file_outside_the_installed_package() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                if REPO_ONLY.search(node.value):
                    found.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value[:80]!r}")
    assert found == []
