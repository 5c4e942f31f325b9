"""The public surface: a sorted __all__ that is exactly the public names, and an import that does nothing."""

from __future__ import annotations

import subprocess
import sys

import tokentrail


def test_all_is_sorted_and_complete() -> None:
    assert list(tokentrail.__all__) == sorted(tokentrail.__all__)
    typing_names = {"annotations", "Any", "TYPE_CHECKING"}
    public = {name for name in dir(tokentrail) if not name.startswith("_")} - typing_names
    submodules = {
        *("analysis", "config", "context", "display", "errors", "model", "project", "store", "tracker"),
        *("pricing", "tokens", "capture", "integrations", "budgets", "alerts", "cli", "demo", "spool", "importers"),
        "formatting",
        "testing",  # the store contract suite: imported by backends' tests, never by tokentrail itself
    }
    assert public - submodules <= set(tokentrail.__all__)
    for name in tokentrail.__all__:
        assert getattr(tokentrail, name) is not None


def test_import_patches_nothing_and_starts_no_thread() -> None:
    code = (
        "import sys, threading; import tokentrail;"
        "heavy = [m for m in ('rich', 'typer', 'genai_prices', 'tiktoken', 'openai', 'anthropic', 'psycopg')"
        " if m in sys.modules];"
        "print(threading.active_count(), heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1 []"


def test_lazy_names_are_their_modules_objects() -> None:
    import importlib

    for name, module in tokentrail._LAZY.items():  # type: ignore[attr-defined]
        assert getattr(tokentrail, name) is getattr(importlib.import_module(f"tokentrail.{module}"), name), name
    assert "rates" in tokentrail.__all__ and tokentrail.rates.__module__ == "tokentrail.analysis.rates"
