"""Summaries, breakdowns and latency reports: pure functions over a Store's aggregates.

Every function takes the same window arguments (`period`, `since`, `until`, `days`, `tz`) and the same
filters (`model`, `provider`, `agent`, `user`, `session`, `project`, `environment`, `operation`,
`labels`), asks the store to aggregate inside the database, and returns a typed result whose
`to_dict()` is the stable JSON shape. Costs are exact Decimals; unpriced calls are counted, never
costed at $0; percentiles say their error bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from .._defaults import default_store
from ..errors import ValidationError
from ..formatting import format_money, money_text, safe_text
from ..store.base import Filter, Group, Store, Totals, check_dimension
from .windows import Window, resolve_window

__all__ = ["Breakdown", "BreakdownRow", "Performance", "PerformanceRow", "Summary", "breakdown", "format_summary",
           "make_filter", "performance", "query", "resolve_store", "summary", "totals_dict"]  # fmt: skip

_FILTER_DIMS = ("model", "provider", "agent", "user", "session", "project", "environment", "operation")


def make_filter(window: Window, filters: Mapping[str, Any], success: bool | None = None) -> Filter:
    """A store Filter from a window and dimension filters (a value, or a list of values)."""
    where: dict[str, tuple[str, ...]] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if name == "labels":
            if not isinstance(value, Mapping):
                raise ValidationError(f"labels={value!r} is not valid: expected a mapping of str to str")
            for key, v in value.items():
                where[check_dimension(f"label:{key}")] = _values(f"labels[{key!r}]", v)
            continue
        if name not in _FILTER_DIMS:
            raise ValidationError(f"unknown filter {name!r}: use one of {', '.join(_FILTER_DIMS)}, labels")
        where[name] = _values(name, value)
    return Filter(since=window.since, until=window.until, where=where, success=success)


def _values(name: str, value: object) -> tuple[str, ...]:
    values = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, Iterable) else (value,)
    if not values or not all(type(v) is str and v for v in values):
        raise ValidationError(f"{name}={value!r} is not valid: expected a non-empty string or list of strings")
    return values


def resolve_store(store: Store | str | None) -> Store:
    """A Store from a Store, a URL, or None (the default tracker's store, flushed first so it is current).

    For None, analysis asks `tokentrail._defaults`, which the package's composition root fills: analysis never
    imports the tracker.
    """
    if store is None:
        provided: Store = default_store()
        return provided
    if isinstance(store, str):
        from ..store import open_store

        return open_store(store, create=False)  # reports only read: never create a store
    return store


def query(
    period: str | None,
    filters: Mapping[str, Any],
    *,
    since: object = None,
    until: object = None,
    days: int | None = None,
    tz: str | tzinfo | None = None,
    now: datetime | None = None,
) -> tuple[Window, Filter]:
    """The window and store filter of a report's arguments (the same for every report)."""
    window = resolve_window(period, since=since, until=until, days=days, tz=tz, now=now)
    return window, make_filter(window, filters)


def cost_or_none(t: Totals) -> Decimal | None:
    """The cost of a group, or None when it has calls and none of them was priced (unknown, not $0)."""
    return None if t.calls and t.unpriced_calls >= t.calls else t.cost_usd


def totals_dict(t: Totals) -> dict[str, Any]:
    """The stable JSON shape of a Totals (cost as canonical money text, `None` when no call was priced)."""
    return {
        "calls": t.calls,
        "errors": t.errors,
        "error_rate": round(t.error_rate, 6),
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "total_tokens": t.total_tokens,
        "cache_read_tokens": t.cache_read_tokens,
        "cache_write_tokens": t.cache_write_tokens,
        "reasoning_tokens": t.reasoning_tokens,
        "estimated_calls": t.estimated_calls,
        "unpriced_calls": t.unpriced_calls,
        "cost_usd": money_text(cost_or_none(t)),
        "avg_duration_ms": t.avg_duration_ms,
        "avg_ttft_ms": t.avg_ttft_ms,
        "tokens_per_second": t.tokens_per_second,
        "first_at": t.first_at.isoformat() if t.first_at else None,
        "last_at": t.last_at.isoformat() if t.last_at else None,
    }


def _share(part: Decimal, whole: Decimal) -> float:
    return float(part / whole) if whole else 0.0


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    """One group: the dimension values, the time bucket (if any), totals and share of the window's cost."""

    key: tuple[str | None, ...]
    bucket: datetime | None
    totals: Totals
    cost_share: float
    """This row's cost as a fraction of the total cost of the breakdown (0..1)."""


@dataclass(frozen=True, slots=True)
class Breakdown:
    """Totals grouped by dimensions (and time buckets) over a window."""

    window: Window
    by: tuple[str, ...]
    bucket: str | None
    rows: list[BreakdownRow]
    totals: Totals

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.to_dict(),
            "by": list(self.by),
            "bucket": self.bucket,
            "totals": totals_dict(self.totals),
            "rows": [
                {
                    **dict(zip(self.by, row.key, strict=True)),
                    **({"bucket": row.bucket.isoformat()} if row.bucket else {}),
                    **totals_dict(row.totals),
                    "cost_share": round(row.cost_share, 6),
                }
                for row in self.rows
            ],
        }


@dataclass(frozen=True, slots=True)
class Summary:
    """Calls, tokens and cost over a window, with the split by model."""

    window: Window
    totals: Totals
    by_model: list[BreakdownRow]

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.to_dict(),
            "totals": totals_dict(self.totals),
            "by_model": [{"model": r.key[0], **totals_dict(r.totals), "cost_share": round(r.cost_share, 6)}
                         for r in self.by_model],
        }  # fmt: skip

    def __str__(self) -> str:
        return format_summary(self)


def format_summary(summary: Summary) -> str:
    """A plain-text table of a Summary (for `print(tokentrail.summary())`)."""
    t = summary.totals
    w = summary.window
    lines = [
        f"tokentrail summary — {w.label} ({w.tz_name})",
        f"  calls   {t.calls:,}  ({t.errors:,} failed)",
        f"  tokens  {t.input_tokens:,} in · {t.output_tokens:,} out · {t.cache_read_tokens:,} cached",
        f"  cost    {format_money(t.cost_usd, unpriced=t.unpriced_calls)}",
    ]
    if t.estimated_calls:
        lines.append(f"  ({t.estimated_calls:,} call(s) with estimated token counts)")
    if summary.by_model:
        names = [safe_text(r.key[0] or "?") for r in summary.by_model]
        width = max(len(n) for n in names)
        lines.append("  by model:")
        for name, r in zip(names, summary.by_model, strict=True):
            cost = format_money(r.totals.cost_usd) if r.totals.unpriced_calls < r.totals.calls else "unpriced"
            lines.append(
                f"    {name:<{width}}  {r.totals.calls:>8,} calls  {r.totals.total_tokens:>12,} tokens  {cost}"
            )
    return "\n".join(lines)


def _rows(groups: list[Group]) -> tuple[list[BreakdownRow], Totals]:
    total = Totals()
    for g in groups:
        total.add(g.totals)
    rows = [BreakdownRow(g.key, g.bucket, g.totals, _share(g.totals.cost_usd, total.cost_usd)) for g in groups]
    return rows, total


def summary(
    period: str | None = None,
    *,
    since: object = None,
    until: object = None,
    days: int | None = None,
    tz: str | tzinfo | None = None,
    store: Store | str | None = None,
    now: datetime | None = None,
    **filters: Any,
) -> Summary:
    """Calls, tokens and cost over a window, split by model (most expensive first).

    Args:
        period: `today`, `yesterday`, `week`, `month`, `all`, or a span like `7d`.
        since, until, days, tz: the window (see `tokentrail.analysis.windows`).
        store: a Store or URL (default: the default tracker's store, flushed first).
        now: the current time (for tests).
        **filters: `model=`, `agent=`, `labels={...}`, … (a value or a list of values).

    Returns:
        A Summary; `str()` of it is a readable table, `.to_dict()` the JSON shape.

    Example:
        >>> s = summary("today", store="memory://", tz="UTC")
        >>> s.totals.calls
        0
    """
    window, flt = query(period, filters, since=since, until=until, days=days, tz=tz, now=now)
    groups = resolve_store(store).aggregate(flt, by=("model",), tz=window.tz)
    rows, total = _rows(groups)
    rows.sort(key=lambda r: (-r.totals.cost_usd, -r.totals.calls, r.key[0] or ""))
    return Summary(window=window, totals=total, by_model=rows)


def breakdown(
    by: Sequence[str] | str = ("model",),
    *,
    bucket: str | None = None,
    period: str | None = None,
    since: object = None,
    until: object = None,
    days: int | None = None,
    tz: str | tzinfo | None = None,
    store: Store | str | None = None,
    now: datetime | None = None,
    **filters: Any,
) -> Breakdown:
    """Totals grouped by any built-in dimensions and `label:KEY`, optionally per hour/day/week/month.

    Rows are sorted by bucket, then by cost (highest first).

    Example:
        >>> breakdown(["model", "agent"], store="memory://", tz="UTC").rows
        []
    """
    dims = (by,) if isinstance(by, str) else tuple(by)
    for d in dims:
        check_dimension(d)
    window, flt = query(period, filters, since=since, until=until, days=days, tz=tz, now=now)
    groups = resolve_store(store).aggregate(flt, by=dims, bucket=bucket, tz=window.tz)  # type: ignore[arg-type]
    rows, total = _rows(groups)
    rows.sort(key=lambda r: (r.bucket.timestamp() if r.bucket else 0, -r.totals.cost_usd, -r.totals.calls,
                             tuple(v or "" for v in r.key)))  # fmt: skip
    return Breakdown(window=window, by=dims, bucket=bucket, rows=rows, totals=total)


@dataclass(frozen=True, slots=True)
class PerformanceRow:
    """Latency of one group."""

    key: tuple[str | None, ...]
    calls: int
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    avg_ttft_ms: float | None
    tokens_per_second: float | None
    max_relative_error: float
    """0.0 when the percentiles are exact; else their bound (relative)."""


@dataclass(frozen=True, slots=True)
class Performance:
    window: Window
    by: tuple[str, ...]
    rows: list[PerformanceRow]

    def to_dict(self) -> dict[str, Any]:
        return {
            "window": self.window.to_dict(),
            "by": list(self.by),
            "rows": [
                {**dict(zip(self.by, r.key, strict=True)), "calls": r.calls, "avg_ms": r.avg_ms, "p50_ms": r.p50_ms,
                 "p95_ms": r.p95_ms, "p99_ms": r.p99_ms, "avg_ttft_ms": r.avg_ttft_ms,
                 "tokens_per_second": r.tokens_per_second, "max_relative_error": r.max_relative_error}
                for r in self.rows
            ],
        }  # fmt: skip


def performance(
    by: Sequence[str] | str = ("model",),
    *,
    period: str | None = None,
    since: object = None,
    until: object = None,
    days: int | None = None,
    tz: str | tzinfo | None = None,
    store: Store | str | None = None,
    now: datetime | None = None,
    **filters: Any,
) -> Performance:
    """Average, p50/p95/p99 latency, time to first token and tokens/s per group (slowest p95 first)."""
    dims = (by,) if isinstance(by, str) else tuple(by)
    window, flt = query(period, filters, since=since, until=until, days=days, tz=tz, now=now)
    st = resolve_store(store)
    groups = {g.key: g.totals for g in st.aggregate(flt, by=dims, tz=window.tz)}
    rows = []
    for p in st.percentiles(flt, by=dims, quantiles=(0.5, 0.95, 0.99)):
        t = groups.get(p.key, Totals())
        p50, p95, p99 = p.values  # one value per quantile asked for
        rows.append(PerformanceRow(p.key, t.calls, t.avg_duration_ms, p50, p95, p99, t.avg_ttft_ms, t.tokens_per_second,
                                   p.max_relative_error))  # fmt: skip
    rows.sort(key=lambda r: -(r.p95_ms or 0))
    return Performance(window=window, by=dims, rows=rows)
