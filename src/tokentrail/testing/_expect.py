"""Calls to write and the answers a store must give, computed by hand from those calls (never read back).

Every expected value in the contract comes from here: plain sums, explicit bucket starts, exact quantiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ..model import Call
from ..store.base import CallStore, Filter, Group

__all__ = ["MODELS", "T0", "actual_groups", "call", "dimension", "everything", "exact_quantile", "expected_groups",
           "expected_totals", "key_order", "local_day", "utc_hours", "varied", "workload"]  # fmt: skip

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
T0 = datetime(2025, 3, 8, 12, 0, tzinfo=UTC)
MODELS = ("gpt-4o", "claude-sonnet-4", "gemini-2.0-flash")


def call(n: int, **fields: object) -> Call:
    """A plain call numbered `n` (ids sort like numbers), `n` minutes after T0 unless told otherwise."""
    defaults: dict[str, object] = {"id": f"call-{n:06d}", "started_at": T0 + timedelta(minutes=n), "model": "gpt-4o"}
    defaults.update(fields)
    return Call(**defaults)  # type: ignore[arg-type]


def varied(n: int, at: datetime) -> Call:
    """The n-th call of a mixed workload: several models, agents, users, labels, priced and not, failures."""
    model = MODELS[n % 3]
    return call(
        n,
        started_at=at,
        model=model,
        provider=("openai", "anthropic", None)[n % 3],
        response_model=f"{model}-2025" if n % 4 else None,
        operation="embedding" if n % 10 == 9 else "chat",
        agent=("router", "coder", None, "planner")[n % 4],
        user=f"u{n % 5}" if n % 6 else None,
        session=f"s{n // 7}",
        project=("webapp", "etl")[n % 2],
        environment=("prod", "dev", "prod", None)[n % 4],
        git_branch="main" if n % 3 else "feature/x",
        finish_reason=("stop", "length", None)[n % 3],
        input_tokens=100 + n,
        output_tokens=n % 50,
        cache_read_tokens=n % 20,
        cache_write_tokens=n % 7,
        reasoning_tokens=min(n % 9, n % 50),
        tokens_estimated=n % 8 == 0,
        cost_usd=None if n % 5 == 4 else Decimal(n) / Decimal(10**6) + Decimal("0.0375") / Decimal(10**6) * n,
        duration_ms=None if n % 11 == 10 else 50.0 + (n * 37) % 900 + n / 7,
        ttft_ms=(10.0 + n % 90) if n % 2 else None,
        labels={"team": ("search", "growth", 'it\'s "ads"')[n % 3], "tier": str(n % 2)} if n % 3 else {},
        success=n % 13 != 0,
        error_type=None if n % 13 else "RateLimitError",
        response_id=f"resp-{n}" if n % 4 else None,
    )


def workload(start: datetime, n: int, step: timedelta, first: int = 0) -> list[Call]:
    return [varied(i, start + step * (i - first)) for i in range(first, first + n)]


def dimension(c: Call, dim: str) -> str | None:
    if dim.startswith("label:"):
        return c.labels.get(dim[len("label:") :])
    value: str | None = getattr(c, dim)
    return value


def expected_totals(calls: Sequence[Call]) -> dict[str, object]:
    """The Totals fields of `calls`, summed by hand."""
    timed = [c for c in calls if c.duration_ms is not None]
    with_ttft = [c for c in calls if c.ttft_ms is not None]
    return {
        "calls": len(calls),
        "errors": sum(1 for c in calls if not c.success),
        "input_tokens": sum(c.input_tokens for c in calls),
        "output_tokens": sum(c.output_tokens for c in calls),
        "cache_read_tokens": sum(c.cache_read_tokens for c in calls),
        "cache_write_tokens": sum(c.cache_write_tokens for c in calls),
        "reasoning_tokens": sum(c.reasoning_tokens for c in calls),
        "estimated_calls": sum(1 for c in calls if c.tokens_estimated),
        "unpriced_calls": sum(1 for c in calls if c.cost_usd is None),
        "cost_usd": sum((c.cost_usd for c in calls if c.cost_usd is not None), Decimal(0)),
        "timed_calls": len(timed),
        "duration_ms_sum": pytest.approx(math.fsum(c.duration_ms for c in timed if c.duration_ms), rel=1e-12),
        "timed_output_tokens": sum(c.output_tokens for c in timed),
        "ttft_calls": len(with_ttft),
        "ttft_ms_sum": pytest.approx(math.fsum(c.ttft_ms for c in with_ttft if c.ttft_ms), rel=1e-12),
        "first_at": min(c.started_at for c in calls),
        "last_at": max(c.started_at for c in calls),
    }


def totals_of(group: Group) -> dict[str, object]:
    return {name: getattr(group.totals, name) for name in expected_totals([call(0)])}


def key_order(key: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, v or "") for v in key)


def expected_groups(
    calls: Sequence[Call], by: Sequence[str], start_of: Callable[[datetime], datetime] | None = None
) -> list[tuple[datetime | None, tuple[str | None, ...], dict[str, object]]]:
    """(bucket start, key, totals) per group, sorted by bucket then key (None last)."""
    groups: dict[tuple[datetime | None, tuple[str | None, ...]], list[Call]] = {}
    for c in calls:
        start = start_of(c.started_at) if start_of is not None else None
        groups.setdefault((start, tuple(dimension(c, d) for d in by)), []).append(c)
    ordered = sorted(groups, key=lambda k: (k[0] or datetime.min.replace(tzinfo=UTC), key_order(k[1])))
    return [(start, key, expected_totals(groups[(start, key)])) for start, key in ordered]


def actual_groups(groups: list[Group]) -> list[tuple[datetime | None, tuple[str | None, ...], dict[str, object]]]:
    return [(g.bucket, g.key, totals_of(g)) for g in groups]


def exact_quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def everything(store: CallStore, **filter_fields: object) -> list[Call]:
    return list(store.calls(Filter(**filter_fields), newest_first=False))  # type: ignore[arg-type]


def utc_hours(start: datetime, hours: int) -> list[Call]:
    """Calls every 20 minutes (shifted by the index so they never sit on a boundary) for `hours` hours."""
    return [varied(i, start + timedelta(minutes=20 * i, seconds=i % 60)) for i in range(hours * 3)]


def local_day(tz: ZoneInfo) -> Callable[[datetime], datetime]:
    """The start of an instant's day in `tz`."""

    def start_of(at: datetime) -> datetime:
        local = at.astimezone(tz)
        return datetime(local.year, local.month, local.day, tzinfo=tz)

    return start_of
