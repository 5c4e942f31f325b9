"""`tokentrail prune --older-than 30d`: retention for any store, with a count of what was removed."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

import typer

from ..analysis.export import prune_calls
from ..config import resolve
from ..store import open_store, shown_location

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command(
        "prune",
        short_help="Delete calls older than an age (retention).",
        help="Delete calls older than a span (30d, 12h, 2w) or a date, after confirming.",
    )
    def prune(
        older_than: Annotated[
            str,
            typer.Option(
                "--older-than",
                metavar="AGE",
                show_default=False,
                help="Delete calls that started before this long ago (30d, 12h, 2w) or before this date (2026-01-01).",
            ),
        ],
        yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be deleted.")] = False,
        store_url: Annotated[
            str | None,
            typer.Option(
                "--store", metavar="URL", show_default=False, help="Store URL (default: the configured store)."
            ),
        ] = None,
        tz: Annotated[
            str | None,
            typer.Option("--tz", metavar="ZONE", show_default=False, help="Time zone of a date given to --older-than."),
        ] = None,
    ) -> None:
        settings = resolve(store=store_url, tz=tz)
        now = datetime.now(timezone.utc)
        store = open_store(settings.store, create=False)  # nothing to prune in a store that is not there
        try:
            preview = prune_calls(store, older_than, dry_run=True, now=now, tz=settings.tz)
            cutoff = f"{preview.before:%Y-%m-%d %H:%M %Z}"
            where = shown_location(settings.store)
            if dry_run:
                typer.echo(f"would delete {preview.calls:,} call(s) older than {cutoff} from {where}")
                return
            if preview.calls == 0:
                typer.echo(f"nothing to delete: no calls older than {cutoff} in {where}")
                return
            if not yes:
                typer.confirm(f"Delete {preview.calls:,} call(s) older than {cutoff} from {where}?", abort=True)
            done = prune_calls(store, older_than, now=now, tz=settings.tz)
        finally:
            store.close()
        typer.echo(f"deleted {done.calls:,} call(s) older than {cutoff} from {where}")
