"""`tokentrail forecast` (next N days and end of month, with what-ifs) and `tokentrail anomalies` (spend spikes
and who drove them): thin views over `tokentrail.analysis.forecast` and `tokentrail.analysis.anomalies`."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Any

import typer

from ..analysis.anomalies import AnomalyReport, anomalies
from ..analysis.forecast import Forecast, ForecastLine, forecast
from ..analysis.windows import Window
from ..display import format_money
from ..errors import ValidationError
from .app import report_command
from .options import ReportOptions, check_by
from .render import Column, emit, kv_block, table

__all__ = ["anomaly_window", "forecast_history", "register"]

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _range(low: Decimal, high: Decimal) -> str:
    return f"{format_money(low)} – {format_money(high)}"


def _line_pairs(line: ForecastLine, days: int) -> list[tuple[str, str]]:
    pairs = [
        ("method", f"{line.method} ({line.history_days} full day(s) of history)"),
        ("tomorrow", format_money(line.daily_rate)),
        (f"next {days} days", f"{format_money(line.next_total)}   (80 %: {_range(line.next_low, line.next_high)})"),
        ("month to date", format_money(line.month_to_date)),
        ("end of month", f"{format_money(line.end_of_month)}   (80 %: {_range(line.eom_low, line.eom_high)})"),
    ]
    if line.trend_per_day:
        sign = "+" if line.trend_per_day > 0 else "-"
        pairs.append(("trend", f"{sign}{format_money(abs(line.trend_per_day))} per day, each day"))
    if line.note:
        pairs.append(("spikes", line.note))
    if line.weekday_factors:
        pairs.append(
            ("weekdays", "  ".join(f"{d} {f:.2f}" for d, f in zip(_WEEKDAYS, line.weekday_factors, strict=True)))
        )
    return pairs


def _forecast_text(f: Forecast, color: bool) -> str:
    out = [kv_block(_line_pairs(f.total, f.horizon_days), color=color, title=f"forecast — {f.tz_name}")]
    if f.groups:
        cols = [Column(f.by or "key"), Column("method"), Column(f"next {f.horizon_days} d", True, "green"),
                Column("80 % range", True), Column("end of month", True)]  # fmt: skip
        rows = [[g.key[0] if g.key[0] is not None else "(none)", g.method, format_money(g.next_total),
                 _range(g.next_low, g.next_high), format_money(g.end_of_month)] for g in f.groups]  # fmt: skip
        out.append(table(cols, rows, color=color, title=f"by {f.by}"))
    if f.scenario:
        s = f.scenario
        sign = "+" if s.delta_next >= 0 else "-"
        pairs = _line_pairs(s.line, f.horizon_days)[2:5] + [
            (f"change, next {f.horizon_days} days", f"{sign}{format_money(abs(s.delta_next))}"),
            ("change, end of month", f"{'+' if s.delta_end_of_month >= 0 else '-'}"
                                     f"{format_money(abs(s.delta_end_of_month))}"),
            ("note", s.note),
        ]  # fmt: skip
        if s.moved_share:
            pairs.insert(3, ("moved", f"{s.moved_share:.1%} of past spend"))
        out.append(kv_block(pairs, color=color, title=f"what if {s.what_if.text}"))
    return "\n\n".join(out)


def _forecast_csv(f: Forecast) -> tuple[list[str], list[list[Any]]]:
    header = ["series", "key", "method", "history_days", "daily_rate", "next_total", "next_low", "next_high",
              "month_to_date", "end_of_month", "eom_low", "eom_high"]  # fmt: skip

    def row(series: str, ln: ForecastLine) -> list[Any]:
        return [series, "/".join(v or "" for v in ln.key), ln.method, ln.history_days, ln.daily_rate, ln.next_total,
                ln.next_low, ln.next_high, ln.month_to_date, ln.end_of_month, ln.eom_low, ln.eom_high]  # fmt: skip

    rows = [row("total", f.total)] + [row(f.by or "group", g) for g in f.groups]
    if f.scenario:
        rows.append(row(f"what-if {f.scenario.what_if.text}", f.scenario.line))
    return header, rows


def _anomalies_text(r: AnomalyReport, color: bool) -> str:
    title = f"spend anomalies — {r.window.label}, per {r.bucket}, {r.factor:g}x a robust baseline ({r.window.tz_name})"
    if not r.anomalies:
        return f"{title}\n  {r.note or 'none found'}"
    fmt = "%Y-%m-%d %H:00" if r.bucket == "hour" else "%Y-%m-%d %a"
    rows = []
    for a in r.anomalies:
        drivers = ", ".join(f"{d.dimension}={d.value} {d.share:.0%}" for d in a.drivers[:3])
        ratio = "new" if a.ratio == float("inf") else f"{a.ratio:.1f}x"
        label = a.label + (f" (= {', '.join(a.also)})" if a.also else "")
        rows.append([a.at.strftime(fmt), label, format_money(a.cost), format_money(a.baseline), ratio,
                     f"+{format_money(a.excess)}", drivers])  # fmt: skip
    cols = [Column(r.bucket), Column("series"), Column("spend", True, "green"), Column("usual", True),
            Column("ratio", True), Column("excess", True), Column("driven by")]  # fmt: skip
    return table(cols, rows, color=color, title=title)


def register(app: typer.Typer) -> None:
    @report_command(app, "forecast", short_help="Spend forecast for the next days and to the end of the month.",
                    help="Spend forecast for the next --horizon days and to the end of the "
                    "month, with an 80 % range, learned from the window's full days (default: the last 56 days; "
                    "--until forecasts as of then). What-ifs: growth, or moving traffic to another model.")  # fmt: skip
    def forecast_cmd(
        opts: ReportOptions,
        by: Annotated[str | None, typer.Option("--by", "-b", metavar="DIM", show_default=False,
                                               help="Also forecast each agent, model, user, … or label:KEY.")] = None,
        horizon: Annotated[int | None, typer.Option("--horizon", metavar="N", min=1, max=366, show_default=False,
                                                    help="Days ahead, from tomorrow.  [default: 30]")] = None,
        history: Annotated[int | None, typer.Option("--history", metavar="N", hidden=True)] = None,
        what_if: Annotated[str | None, typer.Option("--what-if", metavar="SCENARIO", show_default=False,
                                                    help="'growth=20%' or 'move:model=gpt-4o->gpt-4o-mini' "
                                                    "(move:DIM=VALUE->MODEL).")] = None,
    ) -> None:  # fmt: skip
        if history is not None:  # the old name of --days, kept for one release
            if opts.days is not None:
                raise ValidationError("--history is the old name of --days: give only --days")
            note("--history is now --days (the last N days to learn from); --history will be removed")
            opts = replace(opts, days=history)
        elif opts.days is not None and horizon is None:
            note(_DAYS_NOTE.format(days=opts.days))
        dims = check_by([by]) if by else [None]
        moved = re.match(r"\s*move:([^=]+)=", what_if or "")
        if moved:
            check_by([moved[1].strip()], flag="--what-if move:")
        with opts.report() as (store, kwargs):
            history_days, as_of = forecast_history(opts, kwargs["tz"], store)
            result = forecast(by=dims[0], days=horizon or 30, history_days=history_days, what_if=what_if,
                              store=store, tz=kwargs["tz"], now=as_of, **opts.filters())  # fmt: skip
        emit(opts.format, data=result.to_dict, csv_rows=lambda: _forecast_csv(result),
             text=lambda color: _forecast_text(result, color))  # fmt: skip

    @report_command(app, "anomalies", short_help="Days or hours whose spend was far above its usual level.",
                    help="Days or hours whose spend was far above its usual level, per model, "
                    "agent, user and project, and what drove them (default: the last 14 days).")  # fmt: skip
    def anomalies_cmd(
        opts: ReportOptions,
        hourly: Annotated[bool, typer.Option("--hourly", help="Judge hours instead of days.")] = False,
        factor: Annotated[float, typer.Option("--factor", metavar="X", help="How many times the usual spend.")] = 2.0,
        by: Annotated[str, typer.Option("--by", "-b", metavar="DIMS",
                                        help="Dimensions to judge, comma-separated.")] = "agent,model,user,project",
        min_cost: Annotated[str, typer.Option("--min-cost", metavar="USD",
                                              help="Least excess worth reporting.")] = "0.01",
    ) -> None:  # fmt: skip
        dims = check_by([d.strip() for d in by.split(",") if d.strip()])
        with opts.report() as (store, kwargs):
            window = anomaly_window(opts, kwargs["tz"], store)
            result = anomalies(since=window.since, until=window.until, bucket="hour" if hourly else "day",
                               by=dims, factor=factor, min_cost=min_cost, store=store, tz=window.tz,
                               **opts.filters())  # fmt: skip
            result = replace(result, window=window)  # the same span, named as it was asked for
        header = ["at", "dimension", "value", "cost_usd", "baseline_usd", "ratio", "excess_usd", "drivers"]
        emit(opts.format, data=result.to_dict,
             csv_rows=lambda: (header, [[a.at.isoformat(), a.dimension, a.value, a.cost, a.baseline,
                                         None if a.ratio == float("inf") else round(a.ratio, 4), a.excess,
                                         "; ".join(f"{d.dimension}={d.value}" for d in a.drivers)]
                                        for a in result.anomalies]),
             text=lambda color: _anomalies_text(result, color))  # fmt: skip


# -- the window flags, in the same meaning as every other report ----------------------------------------------

_DAYS_NOTE = ("note: forecast --days {days} is the history to learn from (the last {days} days, as in every report); "
              "the days ahead are --horizon (default 30)")  # fmt: skip
"""Shown while `--days` without `--horizon` may still be meant the old way (days ahead); drop it a release on."""


def note(text: str) -> None:
    """A dim line on stderr, so JSON and CSV on stdout stay clean."""
    import sys

    from .render import paint, use_color

    sys.stderr.write(paint(text, "dim", use_color(sys.stderr)) + "\n")


def _first_call(store: Any, tz: Any, until: datetime | None, filters: dict[str, Any]) -> datetime | None:
    from ..analysis import summary

    return summary(store=store, tz=tz, since=None, until=until, **filters).totals.first_at


def _or_last(opts: ReportOptions, days: int) -> ReportOptions:
    """`opts`, or the last `days` days when no window flag was given."""
    given = (opts.since, opts.until, opts.days, opts.period)
    return opts if any(v is not None for v in given) else replace(opts, days=days)


def forecast_history(opts: ReportOptions, tz: Any, store: Any) -> tuple[int, datetime | None]:
    """The full days before 'today' that the window covers, and the moment to forecast from (None: now).

    The forecast learns from whole days up to yesterday: `--days 14` is the last 14 of them, `--since` starts
    at that date, `--until` (or a `--period` that has ended) makes 'now' that moment, as a backtest would.
    Without a window flag: the last 56 days.
    """
    now = datetime.now(timezone.utc)
    window = _or_last(opts, 56).window(tz, now=now)
    as_of = min(window.until, now) if window.until is not None else now
    today = as_of.astimezone(window.tz).date()
    start = window.since or _first_call(store, window.tz, window.until, opts.filters())
    days = (today - start.astimezone(window.tz).date()).days if start else 1
    if days < 1:
        raise ValidationError(f"the window ({window.label}) has no full day before {today} to learn from: "
                              "widen it with --days N or --since DATE")  # fmt: skip
    return days, (as_of if as_of < now else None)


def anomaly_window(opts: ReportOptions, tz: Any, store: Any) -> Window:
    """The window to judge (default: the last 14 days), ending now at the latest; 'all' starts at the first call."""
    now = datetime.now(timezone.utc)
    window = _or_last(opts, 14).window(tz, now=now)
    until = min(window.until, now) if window.until is not None else now
    since = window.since or _first_call(store, window.tz, window.until, opts.filters()) or until
    return Window(since, until, window.tz, window.label)
