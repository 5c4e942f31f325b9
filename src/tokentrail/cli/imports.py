"""`tokentrail import llm-telemetry DIR`: bring another tool's recorded usage into the store (idempotent).

Prints how many records were read, imported, already present and skipped; each skipped line is named
`file:line` with its reason. Running it again imports nothing new.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .app import OutputFormat
from .doctor import shown_url
from .render import emit, paint, use_color

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        name="import",
        help="Import usage recorded by other tools into the store. Importing again adds only what is new.",
        no_args_is_help=True,
    )
    app.add_typer(group, name="import", short_help="Import another tool's records (llm-telemetry).")

    @group.command(
        "llm-telemetry",
        short_help="Import an .llm-telemetry folder (YYYY-MM-DD/telemetry.jsonl).",
        help=(
            "Import the earlier telemetry tool's folder: every YYYY-MM-DD/telemetry.jsonl under DIR. Costs are "
            "kept as recorded; records without one are priced at their date; bad lines are named and skipped. "
            "Idempotent: running it again imports nothing new. Example: tokentrail import llm-telemetry "
            ".llm-telemetry --store sqlite:///usage.db"
        ),
    )
    def llm_telemetry(
        folder: Annotated[Path, typer.Argument(metavar="DIR", show_default=False, help="The llm-telemetry folder.")],
        store: Annotated[
            str | None,
            typer.Option(
                "--store",
                metavar="URL",
                show_default=False,
                help="Store to import into (default: TOKENTRAIL_STORE, the config file, or the SQLite store).",
            ),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Read and check everything, count what is new; write nothing.")
        ] = False,
        format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output: table, json or csv.")] = (
            OutputFormat.table
        ),
    ) -> None:
        from ..config import resolve
        from ..importers import import_llm_telemetry
        from ..store import open_store

        url = resolve(store=store).store
        opened = open_store(url)
        try:
            result = import_llm_telemetry(folder, opened, dry_run=dry_run)
        finally:
            opened.close()
        where = shown_url(url)
        if format is OutputFormat.table and result.problems:
            color = use_color(sys.stderr)
            for problem in result.problems:
                sys.stderr.write(paint(f"skipped {problem}", "yellow", color) + "\n")
            if result.skipped > len(result.problems):
                sys.stderr.write(f"… and {result.skipped - len(result.problems):,} more skipped line(s)\n")
        verb = "would import" if dry_run else "imported"
        emit(
            format.value,
            data=lambda: {"store": where, **result.to_dict()},
            csv_rows=lambda: (["store", "files", "read", "imported", "already_present", "skipped", "dry_run"],
                              [[where, result.files, result.read, result.imported, result.already_present,
                                result.skipped, result.dry_run]]),
            text=lambda color: (
                f"read {result.read:,} record(s) from {result.files:,} file(s) in {folder}; "
                f"{verb} {paint(f'{result.imported:,} new', 'green', color)} into {where}; "
                f"{result.already_present:,} already present; "
                f"{paint(f'{result.skipped:,} skipped', 'yellow' if result.skipped else None, color)}"
            ),
        )  # fmt: skip
