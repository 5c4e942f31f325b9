"""Aggregation in Python over an iterable of Calls, for the backends that have no query engine."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo

from ..errors import ValidationError
from ..model import Call
from .base import BUCKETS, Filter, Group, PercentileRow, Totals, check_dimension, dimension_value

__all__ = ["aggregate_calls", "bucket_start", "percentiles_of", "quantile"]


def bucket_start(at: datetime, bucket: str, tz: tzinfo) -> datetime:
    """The start of the hour/day/week (Monday)/month holding `at`, as a local time in `tz`."""
    local = at.astimezone(tz)
    if bucket == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if bucket == "week":
        day -= timedelta(days=day.weekday())
    elif bucket == "month":
        day = day.replace(day=1)
    elif bucket != "day":
        raise ValidationError(f"bucket={bucket!r} is not valid: use one of {', '.join(BUCKETS)}")
    # Re-attach the zone to the local wall time so the offset is the one in force at that midnight.
    return day.replace(tzinfo=tz).astimezone(tz)


def aggregate_calls(
    calls: Iterable[Call], filter: Filter, *, by: Sequence[str], bucket: str | None, tz: tzinfo
) -> list[Group]:
    """Group and total the calls that pass `filter`; groups sorted by bucket, then key."""
    dims = [check_dimension(d) for d in by]
    if bucket is not None and bucket not in BUCKETS:
        raise ValidationError(f"bucket={bucket!r} is not valid: use one of {', '.join(BUCKETS)}")
    groups: dict[tuple[datetime | None, tuple[str | None, ...]], Totals] = {}
    for call in calls:
        if not filter.matches(call):
            continue
        key = tuple(dimension_value(call, d) for d in dims)
        start = bucket_start(call.started_at, bucket, tz) if bucket else None
        totals = groups.get((start, key))
        if totals is None:
            totals = groups[(start, key)] = Totals()
        totals.add_call(call)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][0] or 0, tuple((v is None, v or "") for v in kv[0][1])))
    return [Group(key=key, bucket=start, totals=totals) for (start, key), totals in ordered]


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont, numpy's default)."""
    if not sorted_values:
        raise ValueError("no values")
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def check_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    out = tuple(quantiles)
    for q in out:
        if type(q) not in (int, float) or not 0 <= q <= 1:
            raise ValidationError(f"quantile={q!r} is not valid: expected a number from 0 to 1")
    return out


def percentiles_of(
    calls: Iterable[Call], filter: Filter, *, by: Sequence[str], metric: str, quantiles: Sequence[float]
) -> list[PercentileRow]:
    """Exact quantiles of `metric` per group."""
    dims = [check_dimension(d) for d in by]
    if metric not in ("duration_ms", "ttft_ms"):
        raise ValidationError(f"metric={metric!r} is not valid: use 'duration_ms' or 'ttft_ms'")
    qs = check_quantiles(quantiles)
    values: dict[tuple[str | None, ...], list[float]] = {}
    for call in calls:
        v = getattr(call, metric)
        if v is None or not filter.matches(call):
            continue
        values.setdefault(tuple(dimension_value(call, d) for d in dims), []).append(v)
    rows = []
    for key in sorted(values, key=lambda k: tuple((v is None, v or "") for v in k)):
        vs = sorted(values[key])
        rows.append(
            PercentileRow(key=key, count=len(vs), values=tuple(quantile(vs, q) for q in qs), max_relative_error=0.0)
        )
    return rows
