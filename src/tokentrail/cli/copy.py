"""`tokentrail copy --from URL --to URL`: move calls between stores (a laptop's SQLite into the team's PostgreSQL).

Idempotent: calls the destination already holds are skipped, so an interrupted copy is finished by running
it again. Prints how many calls were read, newly written and skipped.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..analysis.copy import CopyResult, copy_calls
from ..store import shown_location
from .app import OutputFormat
from .render import emit, paint

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command(
        "copy",
        short_help="Copy calls from one store to another (idempotent).",
        help=(
            "Copy calls from one store to another, oldest first, in batches (constant memory). Calls the "
            "destination already holds are skipped, so running it again copies nothing new. Example: "
            "tokentrail copy --from sqlite:///~/.local/share/tokentrail/usage.db --to postgresql://host/db"
        ),
    )
    def copy(
        source: Annotated[str, typer.Option("--from", metavar="URL", show_default=False, help="Store to read from.")],
        dest: Annotated[str, typer.Option("--to", metavar="URL", show_default=False, help="Store to write to.")],
        since: Annotated[
            str | None,
            typer.Option(
                "--since", metavar="WHEN", show_default=False, help="Only calls from this date, datetime or span (7d)."
            ),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(
                "--until", metavar="WHEN", show_default=False, help="Only calls before this (a date includes its day)."
            ),
        ] = None,
        batch_size: Annotated[int, typer.Option("--batch-size", metavar="N", min=1, help="Calls per write.")] = 5000,
        tz: Annotated[
            str | None,
            typer.Option(
                "--tz", metavar="ZONE", show_default=False, help="Time zone of dates given to --since/--until."
            ),
        ] = None,
        format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output: table, json or csv.")] = (
            OutputFormat.table
        ),
    ) -> None:
        show_progress = format is OutputFormat.table and sys.stderr.isatty()

        def progress(done: CopyResult) -> None:
            sys.stderr.write(f"\rcopied {done.read:,} call(s)…")
            sys.stderr.flush()

        result = copy_calls(
            source, dest, since=since, until=until, batch_size=batch_size, tz=tz,
            progress=progress if show_progress else None,
        )  # fmt: skip
        if show_progress:
            sys.stderr.write("\r\x1b[K")
        where = {"from": shown_location(source), "to": shown_location(dest)}  # file stores as absolute paths
        emit(
            format.value,
            data=lambda: {**where, **result.to_dict()},
            csv_rows=lambda: (["from", "to", "read", "written", "skipped_duplicates"],
                              [[where["from"], where["to"], result.read, result.written, result.skipped_duplicates]]),
            text=lambda color: (
                f"read {result.read:,} call(s) from {where['from']}; "
                f"wrote {paint(f'{result.written:,} new', 'green', color)} to {where['to']}; "
                f"skipped {result.skipped_duplicates:,} already there"
            ),
        )  # fmt: skip
