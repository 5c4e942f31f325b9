"""`tokentrail config`: the resolved settings and where each value came from."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..config import PARAMS, resolve
from ..store import mask_url
from .app import OutputFormat
from .render import Column, emit, paint, table

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command(
        "config",
        short_help="The resolved settings and where each came from.",
        help="The resolved settings and where each value came from: argument, environment, config file or default.",
    )
    def config(
        store: Annotated[
            str | None,
            typer.Option("--store", metavar="URL", show_default=False, help="Resolve as if --store URL were given."),
        ] = None,
        tz: Annotated[
            str | None,
            typer.Option("--tz", metavar="ZONE", show_default=False, help="Resolve as if --tz ZONE were given."),
        ] = None,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", "-f", help="Output: table, json or csv.")
        ] = OutputFormat.table,
    ) -> None:
        settings = resolve(store=store, tz=tz)
        rows = []
        for p in PARAMS:
            value = getattr(settings, p.name)
            if p.name == "store":
                value = mask_url(value)
            rows.append({"name": p.name, "value": value, "source": settings.sources[p.name], "env": p.env})
        data = {"file": str(settings.file) if settings.file else None, "settings": rows}
        emit(
            fmt.value,
            data=lambda: data,
            csv_rows=lambda: (["name", "value", "source", "env"], [list(r.values()) for r in rows]),
            text=lambda color: _text(data, color),
        )


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text(data: dict[str, Any], color: bool) -> str:
    body = [[r["name"], _show(r["value"]), r["source"], r["env"]] for r in data["settings"]]
    styles = [None if r["source"] == "default" else "cyan" for r in data["settings"]]
    cols = [Column("setting"), Column("value"), Column("from"), Column("variable")]
    head = (
        f"config file: {data['file']}" if data["file"] else "config file: none (tokentrail.toml or [tool.tokentrail])"
    )
    return paint(head, "dim", color) + "\n\n" + table(cols, body, color=color, styles=styles)
