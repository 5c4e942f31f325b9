"""The docs say what the code does: the README's settings table is generated from config.PARAMS."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_settings_table_is_generated_from_the_declaration() -> None:
    spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "scripts" / "gen_config_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert module.render() in readme, "run: python scripts/gen_config_docs.py"


def test_readme_first_screen_has_the_two_set_up_commands() -> None:
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:20])
    assert "pip install -e . && tokentrail demo" in head
    assert "bash .ci/run" in head
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
