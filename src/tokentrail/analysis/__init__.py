"""Answers from the record: summaries, breakdowns, latency percentiles, windows of time.

Pure functions over a Store's aggregates — the CLI, the dashboards and the reports are thin views over
them. Aggregation happens inside the store (SQL where there is a database), never by loading every row.
Results are typed and reproducible from the store alone; `to_dict()` gives their stable JSON shape.
"""

from __future__ import annotations

from .reports import (
    Breakdown,
    BreakdownRow,
    Performance,
    PerformanceRow,
    Summary,
    breakdown,
    make_filter,
    performance,
    summary,
    totals_dict,
)
from .windows import PERIODS, Window, resolve_tz, resolve_window

__all__ = [
    "PERIODS",
    "Breakdown",
    "BreakdownRow",
    "Performance",
    "PerformanceRow",
    "Summary",
    "Window",
    "breakdown",
    "make_filter",
    "performance",
    "resolve_tz",
    "resolve_window",
    "summary",
    "totals_dict",
]
