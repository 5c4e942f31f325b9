"""The `tokentrail` command: reports, live views and maintenance over the store, one module per command.

Every command module exposes `register(app)`; `COMMANDS` lists them in the order `--help` shows them.
To add a command, write `cli/<name>.py` with `register(app)` (use `report_command` from `cli/app.py`
for the shared report options) and append its module name to `COMMANDS`; then run
`python scripts/gen_cli_docs.py`, which refreshes the pre-rendered root help and `docs/cli.md`.

`main()` answers `tokentrail`, `tokentrail --help` and `tokentrail stats …` without importing Typer
(see `_fast.py`) because people put them in shell prompts; everything else goes through Typer.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

__all__ = ["COMMANDS", "build_app", "main"]

COMMANDS: list[str] = [
    "stats",
    "costs",
    "dims",
    "performance",
    "patterns",
    "forecast",
    "budgets",
    "alerts",
    "calls",
    "watch",
    "count",
    "prices",
    "export",
    "prune",
    "copy",
    "imports",
    "doctor",
    "config",
    "demo",
]
"""Command modules under `tokentrail.cli`, each with `register(app)`, in help order."""


def build_app() -> typer.Typer:
    """The full Typer app with every command registered."""
    import importlib

    from .app import make_app

    app = make_app()
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(app)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    args = list(sys.argv[1:] if argv is None else argv)
    from ._fast import try_fast

    code = try_fast(args)
    if code is not None:
        return code
    import typer.main

    command = typer.main.get_command(build_app())
    result: int = command.main(args, prog_name="tokentrail", standalone_mode=False)
    return result
