"""`tokentrail calls`: the most recent calls; `--follow` keeps printing new ones as they are stored."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Annotated, Any

import typer

from ..analysis.export import EXPORT_FIELDS, plain, select_calls
from ..formatting import csv_cell, safe_text
from ..model import Call
from .app import report_command
from .options import ReportOptions
from .render import fmt_cost, fmt_ms, paint, use_color

__all__ = ["call_line", "register"]

LOOKBACK = timedelta(minutes=15)
"""How far back each poll looks: a call is stored when it ends, stamped with when it started."""

_WIDTHS = (
    ("time", 19),
    ("model", 26),
    ("agent", 14),
    ("user", 12),
    ("input", 9),
    ("output", 8),
    ("cost", 11),
    ("latency", 9),
    ("status", 0),
)
_RIGHT = {"input", "output", "cost", "latency"}


def _fit(text: str, width: int, right: bool) -> str:
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text.rjust(width) if right else text.ljust(width)


def header_line(color: bool) -> str:
    return paint("  ".join(_fit(n, w, n in _RIGHT) for n, w in _WIDTHS).rstrip(), "bold", color)


def call_line(call: Call, tz: tzinfo, color: bool) -> str:
    """One call as a fixed-width line (so lines printed later still line up)."""
    est = "~" if call.tokens_estimated else ""
    status = "ok" if call.success else f"error: {call.error_type or 'failed'}"
    cost = fmt_cost(call.cost_usd) if call.cost_usd is not None else "unpriced"
    cells = {
        "time": call.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        "model": call.model,
        "agent": call.agent or "",
        "user": call.user or "",
        "input": f"{est}{call.input_tokens:,}",
        "output": f"{est}{call.output_tokens:,}",
        "cost": cost,
        "latency": fmt_ms(call.duration_ms),
        "status": status,
    }
    # Stored values are shown with control characters escaped: a user= value cannot drive the terminal.
    line = "  ".join(_fit(safe_text(cells[n]), w, n in _RIGHT) for n, w in _WIDTHS).rstrip()
    if not call.success:
        return paint(line, "red", color)
    return paint(line, "yellow", color) if call.cost_usd is None else line


def _flat(call: Call) -> list[Any]:
    import json

    d = plain(call)
    d["labels"] = json.dumps(d["labels"], sort_keys=True) if d["labels"] else None
    return [d[f] for f in EXPORT_FIELDS]


class _Printer:
    def __init__(self, fmt: str, tz: tzinfo) -> None:
        import sys

        self.fmt, self.tz, self.out = fmt, tz, sys.stdout
        self.color = use_color(self.out)
        self.started = False
        if fmt == "csv":
            import csv

            self.csv = csv.writer(self.out, lineterminator="\n")

    def print(self, calls: Iterable[Call]) -> None:
        import json

        if not self.started:
            self.started = True
            if self.fmt == "table":
                self.out.write(header_line(self.color) + "\n")
            elif self.fmt == "csv":
                self.csv.writerow(EXPORT_FIELDS)
        for call in calls:
            if self.fmt == "json":
                self.out.write(json.dumps(plain(call), ensure_ascii=False) + "\n")
            elif self.fmt == "csv":
                self.csv.writerow([csv_cell(v) for v in _flat(call)])
            else:
                self.out.write(call_line(call, self.tz, self.color) + "\n")
        self.out.flush()


def register(app: typer.Typer) -> None:
    @report_command(
        app,
        "calls",
        short_help="The most recent calls; --follow prints new ones.",
        help="The most recent calls, oldest at the top; with --follow, new calls as they "
        "are stored (Ctrl-C stops). With --format json, one JSON object per line.",
    )
    def calls(
        opts: ReportOptions,
        limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", min=1, help="How many recent calls.")] = 20,
        follow: Annotated[bool, typer.Option("--follow", "-F", help="Keep printing new calls as they arrive.")] = False,
        interval: Annotated[
            float, typer.Option("--interval", metavar="SECONDS", min=0.0, help="Seconds between polls with --follow.")
        ] = 1.0,
        max_polls: Annotated[int | None, typer.Option("--max-polls", hidden=True)] = None,
    ) -> None:
        with opts.report(default_period=None) as (store, kwargs):
            filters = {k: v for k, v in kwargs.items() if k not in ("period", "since", "until", "days")}
            # What is stored already, taken before the listing: --follow prints only calls written after this.
            seen = _stored_now(store, filters) if follow else OrderedDict()
            window, recent = select_calls(store=store, limit=limit, newest_first=True, **kwargs)
            shown = list(recent)[::-1]
            printer = _Printer(opts.format, window.tz)
            printer.print(shown)
            if follow:
                try:
                    _follow(store, filters, printer, seen, shown, interval, max_polls)
                except KeyboardInterrupt:
                    return


def _stored_now(store: Any, filters: dict[str, Any]) -> OrderedDict[str, datetime]:
    """The calls any poll could return that are stored already (oldest first), to be skipped by `_follow`."""
    _, found = select_calls(store=store, since=datetime.now(timezone.utc) - 2 * LOOKBACK, newest_first=False, **filters)
    return OrderedDict((c.id, c.started_at) for c in found)


def _follow(
    store: Any,
    filters: dict[str, Any],
    printer: _Printer,
    seen: OrderedDict[str, datetime],
    shown: list[Call],
    interval: float,
    max_polls: int | None,
) -> None:
    """Print the calls written after `seen` was taken, each once (a poll looks `LOOKBACK` behind the newest)."""
    for c in shown:  # written between the snapshot and the listing: printed already
        seen.setdefault(c.id, c.started_at)
    newest = max((at for at in seen.values()), default=datetime.now(timezone.utc))
    polls = 0
    while max_polls is None or polls < max_polls:
        time.sleep(interval)
        polls += 1
        start = max(newest, datetime.now(timezone.utc) - LOOKBACK) - LOOKBACK
        _, found = select_calls(store=store, since=start, newest_first=False, **filters)
        fresh = [c for c in found if c.id not in seen]
        printer.print(fresh)
        for c in fresh:
            seen[c.id] = c.started_at
            newest = max(newest, c.started_at)
        for cid, at in list(seen.items()):  # forget what no poll can return again
            if at >= start:
                break
            del seen[cid]
