"""`tokentrail patterns`: peak hours as an hour × weekday heat map, the busiest day, the common operations."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..analysis.patterns import WEEKDAYS, UsagePatterns, usage_patterns
from .app import report_command
from .options import ReportOptions
from .render import Column, emit, fmt_cost, fmt_pct, fmt_tokens, paint, table

__all__ = ["heatmap", "register"]

_SHADES = " ░▒▓█"


def register(app: typer.Typer) -> None:
    @report_command(
        app,
        "patterns",
        short_help="Peak hours heat map, busiest day, common operations.",
        help="Peak hours (an hour × weekday heat map in your time zone), the busiest "
        "day and the most common operations (default: the last 30 days).",
    )
    def patterns(
        opts: ReportOptions,
        top: Annotated[
            int, typer.Option("--top", "-n", metavar="N", min=0, help="How many operations to list (0 for all).")
        ] = 5,
    ) -> None:
        with opts.report(default_period="30d") as (store, kwargs):
            result = usage_patterns(store=store, **kwargs)
        emit(
            opts.format,
            data=result.to_dict,
            csv_rows=lambda: _csv(result),
            text=lambda color: _text(result, top, color),
        )


def _csv(result: UsagePatterns) -> tuple[list[str], list[list[Any]]]:
    rows = [
        [WEEKDAYS[d], h, result.calls[d][h], result.tokens[d][h], result.cost_usd[d][h]]
        for d in range(7)
        for h in range(24)
    ]
    return ["weekday", "hour", "calls", "tokens", "cost_usd"], rows


def _levels(values: list[int]) -> list[int]:
    """Upper bounds of the four shades: the quartiles of the hours with calls, so one busy hour does not
    wash out the rest of the week."""
    nonzero = sorted(v for v in values if v)
    if not nonzero:
        return [0, 0, 0, 0]
    bounds = [nonzero[min(len(nonzero) - 1, int(len(nonzero) * q))] for q in (0.25, 0.5, 0.75)] + [nonzero[-1]]
    for i in range(1, 4):  # strictly increasing where the counts allow it
        bounds[i] = max(bounds[i], bounds[i - 1])
    return bounds


def heatmap(calls: list[list[int]], *, color: bool) -> str:
    """The 7 × 24 matrix as shade blocks, one row per weekday, with a legend."""
    peak = max((c for row in calls for c in row), default=0)
    bounds = _levels([c for row in calls for c in row])
    use_blocks = "█".encode(_encoding(), errors="ignore") != b""
    shades = _SHADES if use_blocks else " .:*#"
    lines = ["     " + " ".join(f"{h:02d}" for h in range(24))]
    for d, row in enumerate(calls):
        cells = []
        for c in row:
            level = 0 if c == 0 else next(i for i, b in enumerate(bounds, 1) if c <= b)
            cells.append(paint(shades[level] * 2, "cyan" if level < 3 else "bold cyan", color))
        lines.append(f"  {WEEKDAYS[d]} " + " ".join(cells))
    if peak:
        lows = [1] + [b + 1 for b in bounds[:-1]]
        legend = "  ".join(
            f"{shades[i + 1] * 2} {lo:,}–{hi:,}" if lo < hi else f"{shades[i + 1] * 2} {hi:,}"
            for i, (lo, hi) in enumerate(zip(lows, bounds, strict=True))
            if lo <= hi
        )
        legend = legend.replace("–", "-") if not use_blocks else legend
        lines.append(paint(f"     calls per hour: {legend}", "dim", color))
    return "\n".join(lines)


def _encoding() -> str:
    import sys

    return getattr(sys.stdout, "encoding", None) or "utf-8"


def _text(result: UsagePatterns, top: int, color: bool) -> str:
    w = result.window
    title = f"usage patterns — {w.label} ({w.tz_name})"
    if not result.totals.calls:
        return f"{title}\n  no calls in this window"
    out = [paint(title, "bold", color), heatmap(result.calls, color=color), ""]
    peak = result.peak
    if peak:
        out.append(f"  peak hour      {WEEKDAYS[peak[0]]} {peak[1]:02d}:00–{peak[1] + 1:02d}:00 ({peak[2]:,} calls)")
    busiest, costliest = result.busiest_day, result.costliest_day
    if busiest:
        t = busiest.totals
        cost = fmt_cost(t.cost_usd, t.calls, t.unpriced_calls)
        out.append(f"  busiest day    {busiest.day:%Y-%m-%d %a} ({t.calls:,} calls, {cost})")
    if costliest and costliest.totals.cost_usd:
        t = costliest.totals
        out.append(f"  costliest day  {costliest.day:%Y-%m-%d %a} ({fmt_cost(t.cost_usd)}, {t.calls:,} calls)")
    ops = result.operations[:top] if top else result.operations
    if ops:
        body = [
            [
                op or "(none)",
                f"{t.calls:,}",
                fmt_pct(t.calls / result.totals.calls),
                fmt_tokens(t.total_tokens, t.estimated_calls > 0),
                fmt_cost(t.cost_usd, t.calls, t.unpriced_calls),
            ]
            for op, t in ops
        ]
        cols = [
            Column("operation", shrink=8),
            Column("calls", True, drop=1),
            Column("share", True, drop=2),
            Column("tokens", True, drop=3),
            Column("cost", True, "green"),
        ]
        out += ["", table(cols, body, color=color, title="most common operations")]
    return "\n".join(out)
