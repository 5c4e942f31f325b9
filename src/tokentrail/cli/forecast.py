"""`tokentrail forecast` (next N days and end of month, with what-ifs) and `tokentrail anomalies` (spend spikes
and who drove them): thin views over `tokentrail.analysis.forecast` and `tokentrail.analysis.anomalies`."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import typer

from ..analysis.anomalies import AnomalyReport, anomalies
from ..analysis.forecast import Forecast, ForecastLine, forecast
from ..display import format_money
from .app import report_command
from .options import ReportOptions
from .render import Column, emit, kv_block, table

__all__ = ["register"]

_WINDOW = ("since", "until", "days", "period")
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
    @report_command(app, "forecast", exclude=_WINDOW, help="Spend forecast for the next days and to the end of the "
                    "month, with an 80 % range; what-ifs: growth, or moving traffic to another model.")  # fmt: skip
    def forecast_cmd(
        opts: ReportOptions,
        by: Annotated[str | None, typer.Option("--by", "-b", metavar="DIM", show_default=False,
                                               help="Also forecast each agent, model, user, … or label:KEY.")] = None,
        days: Annotated[int, typer.Option("--days", metavar="N", help="Days ahead, from tomorrow.")] = 30,
        history: Annotated[int, typer.Option("--history", metavar="N", help="Past days to learn from.")] = 56,
        what_if: Annotated[str | None, typer.Option("--what-if", metavar="SCENARIO", show_default=False,
                                                    help="'growth=20%' or 'move:model=gpt-4o->gpt-4o-mini' "
                                                    "(move:DIM=VALUE->MODEL).")] = None,
    ) -> None:  # fmt: skip
        with opts.report() as (store, kwargs):
            result = forecast(by=by, days=days, history_days=history, what_if=what_if, store=store, tz=kwargs["tz"],
                              **opts.filters())  # fmt: skip
        emit(opts.format, data=result.to_dict, csv_rows=lambda: _forecast_csv(result),
             text=lambda color: _forecast_text(result, color))  # fmt: skip

    @report_command(app, "anomalies", exclude=_WINDOW, help="Days or hours whose spend was far above its usual "
                    "level, per model, agent, user and project, and what drove them.")  # fmt: skip
    def anomalies_cmd(
        opts: ReportOptions,
        days: Annotated[int, typer.Option("--days", metavar="N", help="How many days back to look.")] = 14,
        hourly: Annotated[bool, typer.Option("--hourly", help="Judge hours instead of days.")] = False,
        factor: Annotated[float, typer.Option("--factor", metavar="X", help="How many times the usual spend.")] = 2.0,
        by: Annotated[str, typer.Option("--by", "-b", metavar="DIMS",
                                        help="Dimensions to judge, comma-separated.")] = "agent,model,user,project",
        min_cost: Annotated[str, typer.Option("--min-cost", metavar="USD",
                                              help="Least excess worth reporting.")] = "0.01",
    ) -> None:  # fmt: skip
        dims = [d.strip() for d in by.split(",") if d.strip()]
        with opts.report() as (store, kwargs):
            result = anomalies(days=days, bucket="hour" if hourly else "day", by=dims, factor=factor,
                               min_cost=min_cost, store=store, tz=kwargs["tz"], **opts.filters())  # fmt: skip
        header = ["at", "dimension", "value", "cost_usd", "baseline_usd", "ratio", "excess_usd", "drivers"]
        emit(opts.format, data=result.to_dict,
             csv_rows=lambda: (header, [[a.at.isoformat(), a.dimension, a.value, a.cost, a.baseline,
                                         None if a.ratio == float("inf") else round(a.ratio, 4), a.excess,
                                         "; ".join(f"{d.dimension}={d.value}" for d in a.drivers)]
                                        for a in result.anomalies]),
             text=lambda color: _anomalies_text(result, color))  # fmt: skip
