"""`tokentrail stats [today|yesterday|week|month|all]`: the headline numbers of a window.

No Typer, Rich or price table is imported to run it (only to register it), so the fast path in
`_fast.py` can answer it in a shell prompt's budget. Costs are read as stored, never re-priced.
"""

# No `from __future__ import annotations` here: Typer reads the annotations of the function defined
# inside `register()`, which refer to the locally imported `typer`.

from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from ..errors import ValidationError
from .options import ReportOptions
from .render import Column, emit, fmt_cost, fmt_pct, fmt_tokens, kv_block, paint, table

__all__ = ["StatsFormat", "compact_line", "register", "run"]


class StatsFormat(str, Enum):
    """The shared report formats, and `compact`: one line for a shell prompt or a status bar."""

    table = "table"
    json = "json"
    csv = "csv"
    compact = "compact"


_HELP = """Calls, tokens, cost, errors and top models over a window (default: today).

PERIOD is today, yesterday, week (the last 7 days), month (this calendar month), all, or a span such
as 24h or 30d. Costs are read as stored; unpriced calls and estimated token counts are marked.
"""


def register(app: Any) -> None:
    import typer

    from .app import report_command

    @report_command(
        app,
        "stats",
        exclude=("format",),  # its own --format, which adds `compact`
        help=_HELP,
        short_help="Calls, tokens, cost, errors and top models of a window.",
    )
    def stats(
        opts: ReportOptions,
        period_arg: Annotated[
            str | None,
            typer.Argument(
                metavar="PERIOD", show_default=False, help="today, yesterday, week, month, all, or a span (7d)."
            ),
        ] = None,
        top: Annotated[int, typer.Option("--top", metavar="N", help="How many models the table lists.", min=0)] = 5,
        format: Annotated[
            StatsFormat,
            typer.Option("--format", "-f", show_default=False, help="Output: table, json, csv, or compact (one line)."),
        ] = StatsFormat.table,
    ) -> None:
        run(_with_format(opts, format.value), period_arg, top)


def run(opts: ReportOptions, period: str | None = None, top: int = 5) -> None:
    """Compute and print the stats report (shared by the Typer command and the fast path)."""
    from ..analysis import summary
    from ..store.drops import read_drops

    if period is not None:
        if opts.period is not None and opts.period != period:
            raise ValidationError(f"PERIOD {period!r} and --period {opts.period!r} disagree; give one of them")
        opts = _with_period(opts, period)
    with opts.report(default_period="today") as (store, kwargs):
        result = summary(store=store, **kwargs)
        drops = None if opts.format == "compact" else read_drops(store)  # compact: a shell prompt's budget
    if opts.format == "compact":
        print(compact_line(result))
        return
    t = result.totals
    duration = (t.last_at - t.first_at).total_seconds() if t.first_at and t.last_at else None

    def data() -> dict[str, Any]:
        return {
            **result.to_dict(),
            "session": {
                "first_at": t.first_at.isoformat() if t.first_at else None,
                "last_at": t.last_at.isoformat() if t.last_at else None,
                "duration_s": duration,
            },
            "dropped": drops.to_dict() if drops is not None else None,
        }

    def csv_rows() -> tuple[Sequence[str], list[list[Any]]]:
        d = data()
        window, totals = d["window"], d["totals"]
        header = [f"window_{k}" for k in window] + list(totals) + ["session_duration_s"]
        return header, [[*window.values(), *totals.values(), duration]]

    emit(opts.format, data=data, csv_rows=csv_rows, text=lambda color: _text(result, duration, top, color, drops))


def _with_period(opts: ReportOptions, period: str) -> ReportOptions:
    from dataclasses import replace

    return replace(opts, period=period)


def _with_format(opts: ReportOptions, format: str) -> ReportOptions:
    from dataclasses import replace

    return replace(opts, format=format)


def _short(n: int) -> str:
    """`987`, `12.3k`, `2.1M`, `1.4B`: a count rounded to three figures at most."""
    for size, unit in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n >= size:
            return f"{n / size:,.1f}{unit}".replace(".0" + unit, unit)
    return str(n)


def compact_line(result: Any) -> str:
    """One line: `today: 1,234 calls · 2.1M tokens (1.9M in / 0.2M out) · $12.34 · 0 failed`.

    Token counts are rounded (`2.1M`) and marked `~` when some are estimates; the cost is exact to the
    cent or better, with `(+N unpriced)` when some calls have no known price.
    """
    t = result.totals
    est = "~" if t.estimated_calls else ""
    return (
        f"{result.window.label}: {t.calls:,} call{'' if t.calls == 1 else 's'} · {est}{_short(t.total_tokens)} tokens "
        f"({est}{_short(t.input_tokens)} in / {est}{_short(t.output_tokens)} out) · "
        f"{fmt_cost(t.cost_usd, t.calls, t.unpriced_calls)} · {t.errors:,} failed"
    )


def format_duration(seconds: float) -> str:
    """`45s`, `12m 5s`, `8h 33m`, `2d 3h`."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _when(at: datetime, tz: Any, with_date: bool) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M" if with_date else "%H:%M:%S")


def _window_text(result: Any) -> str:
    w = result.window
    if w.since is None and w.until is None:
        return f"{w.label} ({w.tz_name})"
    since = w.since.astimezone(w.tz).strftime("%Y-%m-%d %H:%M") if w.since else "…"
    until = w.until.astimezone(w.tz).strftime("%Y-%m-%d %H:%M") if w.until else "now"
    return f"{w.label} ({w.tz_name}) · {since} → {until}"


def _text(result: Any, duration: float | None, top: int, color: bool, drops: Any = None) -> str:
    t = result.totals
    pairs = [("calls", f"{t.calls:,}")]
    if t.calls:
        errors = f"{t.errors:,} ({fmt_pct(t.error_rate)})"
        pairs.append(("errors", paint(errors, "red", color) if t.errors else errors))
    est = t.estimated_calls > 0
    pairs += [
        ("input tokens", fmt_tokens(t.input_tokens, est)),
        ("output tokens", fmt_tokens(t.output_tokens, est)),
        (
            "cached tokens",
            f"{fmt_tokens(t.cache_read_tokens, est)} read · {fmt_tokens(t.cache_write_tokens, est)} written",
        ),
        ("reasoning tokens", fmt_tokens(t.reasoning_tokens, est)),
        ("cost", paint(fmt_cost(t.cost_usd), "green", color)),
    ]
    if t.unpriced_calls:
        pairs.append(
            ("unpriced calls", paint(f"{t.unpriced_calls:,} (no known price; not in the cost)", "yellow", color))
        )
    if est:
        pairs.append(
            ("estimated", paint(f"~ {t.estimated_calls:,} call(s) have estimated token counts", "yellow", color))
        )
    if t.first_at and t.last_at and duration is not None:
        with_date = t.first_at.astimezone(result.window.tz).date() != t.last_at.astimezone(result.window.tz).date()
        span = f"{_when(t.first_at, result.window.tz, with_date)} → {_when(t.last_at, result.window.tz, with_date)}"
        pairs.append(("session", f"{span} ({format_duration(duration)})"))
    if drops is not None and drops.calls:  # not in the window's numbers: they never reached the store
        pairs.append(("dropped", paint(f"{drops.describe()} — not counted above", "yellow", color)))
    out = kv_block(pairs, color=color, title=f"tokentrail stats — {_window_text(result)}")
    if not t.calls:
        out += "\n" + paint("  no calls in this window (tokentrail demo shows a week of sample traffic)", "dim", color)
    rows = result.by_model[:top] if top else []
    if rows:
        cols = [
            Column("model"),
            Column("calls", True),
            Column("tokens", True),
            Column("cost", True),
            Column("share", True),
        ]
        body = [
            [
                r.key[0] or "(none)",
                f"{r.totals.calls:,}",
                fmt_tokens(r.totals.total_tokens, r.totals.estimated_calls > 0),
                fmt_cost(r.totals.cost_usd, r.totals.calls, r.totals.unpriced_calls),
                fmt_pct(r.cost_share),
            ]
            for r in rows
        ]
        more = len(result.by_model) - len(rows)
        title = "top models" + (f" ({more} more: tokentrail models)" if more > 0 else "")
        out += "\n\n" + table(cols, body, color=color, title=title)
    return out
