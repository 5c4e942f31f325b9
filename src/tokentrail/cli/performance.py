"""`tokentrail performance`: latency percentiles, time to first token, throughput; slowest models and operations."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..analysis import Performance, PerformanceRow, performance
from .app import report_command
from .options import ReportOptions
from .render import Column, emit, fmt_ms, table

__all__ = ["register"]

_METRICS = ("calls", "avg_ms", "p50_ms", "p95_ms", "p99_ms", "avg_ttft_ms", "tokens_per_second", "max_relative_error")


def register(app: typer.Typer) -> None:
    @report_command(
        app,
        "performance",
        short_help="Latency percentiles, time to first token, tokens/s.",
        help="Average, p50, p95 and p99 latency, time to first token and tokens/s, "
        "overall and for the slowest models and operations (default: the last 30 days).",
    )
    def perf(
        opts: ReportOptions,
        top: Annotated[
            int,
            typer.Option("--top", "-n", metavar="N", min=0, help="How many models and operations to list (0 for all)."),
        ] = 5,
    ) -> None:
        with opts.report(default_period="30d") as (store, kwargs):
            overall = performance((), store=store, **kwargs)
            models = performance("model", store=store, **kwargs)
            operations = performance("operation", store=store, **kwargs)
        parts = {"overall": overall, "model": _top(models, top), "operation": _top(operations, top)}
        emit(
            opts.format, data=lambda: _data(parts), csv_rows=lambda: _csv(parts), text=lambda color: _text(parts, color)
        )


def _top(result: Performance, top: int) -> Performance:
    from dataclasses import replace

    return replace(result, rows=result.rows[:top]) if top else result


def _data(parts: dict[str, Performance]) -> dict[str, Any]:
    overall = parts["overall"].to_dict()
    return {
        "window": overall["window"],
        "overall": overall["rows"][0] if overall["rows"] else None,
        "by_model": parts["model"].to_dict()["rows"],
        "by_operation": parts["operation"].to_dict()["rows"],
    }


def _csv(parts: dict[str, Performance]) -> tuple[list[str], list[list[Any]]]:
    data = _data(parts)
    rows: list[list[Any]] = []
    if data["overall"]:
        rows.append(["overall", "", *(data["overall"][m] for m in _METRICS)])
    for scope in ("model", "operation"):
        for r in data[f"by_{scope}"]:
            rows.append([scope, r[scope], *(r[m] for m in _METRICS)])
    return ["scope", "name", *_METRICS], rows


def _cells(r: PerformanceRow) -> list[str]:
    tps = f"{r.tokens_per_second:,.1f}" if r.tokens_per_second is not None else "-"
    return [
        f"{r.calls:,}",
        fmt_ms(r.avg_ms),
        fmt_ms(r.p50_ms),
        fmt_ms(r.p95_ms),
        fmt_ms(r.p99_ms),
        fmt_ms(r.avg_ttft_ms),
        tps,
    ]


_COLS = [
    Column("calls", True),
    Column("avg", True),
    Column("p50", True),
    Column("p95", True, "yellow"),
    Column("p99", True),
    Column("ttft", True),
    Column("tokens/s", True),
]


def _text(parts: dict[str, Performance], color: bool) -> str:
    w = parts["overall"].window
    title = f"performance — {w.label} ({w.tz_name})"
    if not parts["overall"].rows:
        return f"{title}\n  no timed calls in this window"
    out = [table([Column("")] + _COLS, [["all calls", *_cells(parts["overall"].rows[0])]], color=color, title=title)]
    for scope, label in (("model", "slowest models (by p95)"), ("operation", "slowest operations (by p95)")):
        rows = parts[scope].rows
        if rows:
            body = [[r.key[0] if r.key[0] is not None else "(none)", *_cells(r)] for r in rows]
            out.append(table([Column(scope)] + _COLS, body, color=color, title=label))
    errors = [r.max_relative_error for p in parts.values() for r in p.rows if r.max_relative_error]
    note = f"\npercentiles are approximate (within {max(errors):.1%})" if errors else ""
    return "\n\n".join(out) + note
