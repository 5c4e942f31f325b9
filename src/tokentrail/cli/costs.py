"""`tokentrail costs`: cost grouped by any dimensions (`--by model,agent`, `label:KEY`), optionally per day."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer

from ..analysis import Breakdown, breakdown
from .app import report_command
from .options import ReportOptions, check_by
from .render import Column, emit, fmt_cost, fmt_pct, fmt_tokens, table

__all__ = ["breakdown_csv", "register", "run", "split_dims"]


def split_dims(values: Sequence[str]) -> list[str]:
    """`--by model,agent --by label:team` as a list of dimensions."""
    return [d.strip() for v in values for d in v.split(",") if d.strip()]


def breakdown_csv(result: Breakdown) -> tuple[list[str], list[list[Any]]]:
    """CSV header and rows of a breakdown: its dimensions, bucket, totals and share."""
    d = result.to_dict()
    rows = d["rows"]
    header = list(result.by) + (["bucket"] if result.bucket else [])
    header += [k for k in d["totals"]] + ["cost_share"]
    return header, [[r.get(k) for k in header] for r in rows]


def register(app: typer.Typer) -> None:
    @report_command(
        app,
        "costs",
        short_help="Cost grouped by any dimensions, with share, per day.",
        help="Cost grouped by model, agent, user, … or label:KEY, with each group's "
        "share of the total (default: the last 30 days).",
    )
    def costs(
        opts: ReportOptions,
        by: Annotated[
            list[str] | None,
            typer.Option(
                "--by",
                "-b",
                metavar="DIMS",
                show_default=False,
                help="Dimensions to group by, comma-separated or repeated: model, provider, agent, user, "
                "project, session, operation, environment, … or label:KEY.  [default: model]",
            ),
        ] = None,
        daily: Annotated[bool, typer.Option("--daily", help="One row per day and group.")] = False,
    ) -> None:
        run(opts, split_dims(by or ["model"]), daily)


def run(opts: ReportOptions, dims: Sequence[str], daily: bool = False, default_period: str = "30d") -> None:
    """Compute and print the cost breakdown."""
    dims = check_by(dims)
    with opts.report(default_period=default_period) as (store, kwargs):
        result = breakdown(dims, bucket="day" if daily else None, store=store, **kwargs)
    emit(
        opts.format,
        data=result.to_dict,
        csv_rows=lambda: breakdown_csv(result),
        text=lambda color: _text(result, color),
    )


def _text(result: Breakdown, color: bool) -> str:
    w = result.window
    cols = ([Column("day")] if result.bucket else []) + [Column(d, shrink=8) for d in result.by]
    cols += [Column("calls", True, drop=1), Column("tokens", True, drop=3), Column("cost", True, "green"),
             Column("share", True, drop=2)]  # fmt: skip
    body = []
    for r in result.rows:
        t = r.totals
        cells = [r.bucket.strftime("%Y-%m-%d %a")] if r.bucket else []
        cells += [v if v is not None else "(none)" for v in r.key]
        cells += [
            f"{t.calls:,}",
            fmt_tokens(t.total_tokens, t.estimated_calls > 0),
            fmt_cost(t.cost_usd, t.calls, t.unpriced_calls),
            fmt_pct(r.cost_share),
        ]
        body.append(cells)
    t = result.totals
    footer = (
        ["total"]
        + [""] * (len(cols) - 5)
        + [
            f"{t.calls:,}",
            fmt_tokens(t.total_tokens, t.estimated_calls > 0),
            fmt_cost(t.cost_usd, t.calls, t.unpriced_calls),
            "100.0%" if t.calls else "",
        ]
    )
    title = f"cost by {', '.join(result.by)}" + (" per day" if result.bucket else "") + f" — {w.label} ({w.tz_name})"
    if not body:
        return f"{title}\n  no calls in this window"
    out = table(cols, body, color=color, title=title, footer=footer)
    return out + notes(t.estimated_calls, t.unpriced_calls)


def notes(estimated: int, unpriced: int) -> str:
    """Footnotes for estimated token counts and unpriced calls."""
    lines = []
    if estimated:
        lines.append(f"~ token counts of {estimated:,} call(s) are estimates")
    if unpriced:
        lines.append(f"{unpriced:,} call(s) have no known price and are not in the cost")
    return "".join("\n" + line for line in lines)
