"""`tokentrail models|agents|users|projects|sessions`: usage ranked by one dimension."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import typer

from ..analysis import Breakdown, BreakdownRow, breakdown
from ..formatting import money_text
from ..store.base import Totals
from .app import report_command
from .costs import breakdown_csv, notes
from .options import ReportOptions
from .render import Column, emit, fmt_cost, fmt_ms, fmt_pct, fmt_tokens, table

__all__ = ["SortKey", "register", "run"]


class SortKey(str, Enum):
    cost = "cost"
    tokens = "tokens"
    calls = "calls"
    avg = "avg"
    recent = "recent"


_DIMS = {
    "models": ("model", "Most used models: cost, tokens, calls, cost per call.", 10),
    "agents": ("agent", "Usage by agent: calls, tokens, cost, errors, latency.", 20),
    "users": ("user", "Usage by user: calls, tokens, cost, errors, latency.", 20),
    "projects": ("project", "Usage by project: calls, tokens, cost, errors, latency.", 20),
    "sessions": ("session", "Usage by session, with start, end and duration.", 20),
}


def avg_cost(t: Totals) -> Decimal | None:
    """Average cost of the priced calls, or None when none was priced."""
    priced = t.calls - t.unpriced_calls
    return t.cost_usd / priced if priced else None


_PICO = Decimal("1E-12")
"""An average is a quotient: shown to the pico-dollar, the precision the stores keep."""


def _sort(rows: list[BreakdownRow], key: SortKey) -> list[BreakdownRow]:
    if key is SortKey.tokens:
        return sorted(rows, key=lambda r: -r.totals.total_tokens)
    if key is SortKey.calls:
        return sorted(rows, key=lambda r: -r.totals.calls)
    if key is SortKey.avg:
        return sorted(rows, key=lambda r: -(avg_cost(r.totals) or 0))
    if key is SortKey.recent:
        return sorted(rows, key=lambda r: -(r.totals.last_at.timestamp() if r.totals.last_at else 0))
    return rows  # the breakdown is already by cost, highest first


def _data(result: Breakdown) -> dict[str, Any]:
    d = result.to_dict()
    for row, r in zip(d["rows"], result.rows, strict=True):
        avg = avg_cost(r.totals)
        row["avg_cost_usd"] = money_text(avg.quantize(_PICO)) if avg is not None else None
    return d


def _csv(result: Breakdown) -> tuple[list[str], list[list[Any]]]:
    header, rows = breakdown_csv(result)
    header.append("avg_cost_usd")
    for row, r in zip(rows, result.rows, strict=True):
        avg = avg_cost(r.totals)
        row.append(money_text(avg.quantize(_PICO)) if avg is not None else None)
    return header, rows


def _register_one(app: typer.Typer, name: str, dim: str, help_text: str, default_top: int) -> None:
    default_sort = SortKey.recent if dim == "session" else SortKey.cost

    @report_command(app, name, short_help=help_text, help=help_text + " Default window: the last 30 days.")
    def command(
        opts: ReportOptions,
        top: Annotated[
            int, typer.Option("--top", "-n", metavar="N", min=0, help="How many rows to show (0 for all).")
        ] = default_top,
        sort: Annotated[SortKey, typer.Option("--sort", help="Order of the rows.")] = default_sort,
    ) -> None:
        run(opts, name, top, sort)


def run(opts: ReportOptions, name: str, top: int, sort: SortKey, default_period: str = "30d") -> None:
    """Compute and print the usage of one dimension (`name` is the command: models, agents, …)."""
    dim = _DIMS[name][0]
    with opts.report(default_period=default_period) as (store, kwargs):
        result = breakdown(dim, store=store, **kwargs)
    rows = _sort(result.rows, sort)
    result = replace(result, rows=rows[:top] if top else rows)
    emit(
        opts.format,
        data=lambda: _data(result),
        csv_rows=lambda: _csv(result),
        text=lambda color: _text(result, name, dim, color, len(rows)),
    )


def register(app: typer.Typer) -> None:
    for name, (dim, help_text, default_top) in _DIMS.items():
        _register_one(app, name, dim, help_text, default_top)


def _text(result: Breakdown, name: str, dim: str, color: bool, total_rows: int) -> str:
    w = result.window
    title = f"{name} — {w.label} ({w.tz_name})"
    if not result.rows:
        return f"{title}\n  no calls in this window"
    if total_rows > len(result.rows):
        title += f" · top {len(result.rows)} of {total_rows}"
    # In a narrow terminal the names are abbreviated and the columns with the highest `drop` go first; money stays.
    cols = [Column(dim, shrink=8), Column("calls", True, drop=1)]
    if dim == "model":
        cols += [Column("input", True, drop=9), Column("output", True, drop=8)]
    cols += [Column("tokens", True, drop=3), Column("cost", True, "green"), Column("avg/call", True),
             Column("share", True, drop=2)]  # fmt: skip
    if dim != "model":
        cols += [Column("errors", True, drop=4), Column("avg latency", True, drop=5)]
    if dim == "session":
        cols += [Column("first", drop=6), Column("last", drop=7), Column("duration", True, drop=5)]
    body = []
    for r in result.rows:
        t = r.totals
        est = t.estimated_calls > 0
        cells = [r.key[0] if r.key[0] is not None else "(none)", f"{t.calls:,}"]
        if dim == "model":
            cells += [fmt_tokens(t.input_tokens, est), fmt_tokens(t.output_tokens, est)]
        avg = avg_cost(t)
        cells += [
            fmt_tokens(t.total_tokens, est),
            fmt_cost(t.cost_usd, t.calls, t.unpriced_calls),
            fmt_cost(avg) if avg is not None else "unpriced",
            fmt_pct(r.cost_share),
        ]
        if dim != "model":
            cells += [f"{t.errors:,}" if t.errors else "", fmt_ms(t.avg_duration_ms)]
        if dim == "session":
            cells += _session_cells(t, w.tz)
        body.append(cells)
    return table(cols, body, color=color, title=title) + notes(
        result.totals.estimated_calls, result.totals.unpriced_calls
    )


def _session_cells(t: Totals, tz: Any) -> list[str]:
    from .stats import format_duration

    if not t.first_at or not t.last_at:
        return ["", "", ""]
    first, last = t.first_at.astimezone(tz), t.last_at.astimezone(tz)
    return [
        first.strftime("%Y-%m-%d %H:%M"),
        last.strftime("%H:%M" if last.date() == first.date() else "%Y-%m-%d %H:%M"),
        format_duration((t.last_at - t.first_at).total_seconds()),
    ]
