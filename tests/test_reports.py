"""Reports over a store: explicit windows, time zones, grouping, shares, unpriced counts, percentiles."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

import tokentrail as tt
from tokentrail import Call, ValidationError
from tokentrail.analysis import resolve_window
from tokentrail.store import Store

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)
NY = ZoneInfo("America/New_York")


def call(n: int, at: datetime, **kw: object) -> Call:
    base: dict[str, object] = {"id": f"c{n:04d}", "started_at": at, "model": "gpt-4o", "input_tokens": 100,
                               "output_tokens": 10, "cost_usd": Decimal("0.01")}  # fmt: skip
    base.update(kw)
    return Call(**base)  # type: ignore[arg-type]


def test_today_is_local_midnight_to_next_midnight() -> None:
    w = resolve_window("today", tz="America/New_York", now=NOW)
    assert w.since == datetime(2026, 11, 22, tzinfo=NY) and w.until == datetime(2026, 11, 23, tzinfo=NY)
    assert w.since.utcoffset() == timedelta(hours=-5)
    assert w.to_dict()["tz"] == "America/New_York"


def test_windows_across_dst_and_spans() -> None:
    # 2026-03-08 is the US spring-forward day: 23 hours long.
    w = resolve_window(since="2026-03-08", until="2026-03-08", tz="America/New_York", now=NOW)
    assert w.until.timestamp() - w.since.timestamp() == 23 * 3600  # aware subtraction in one zone ignores DST
    assert resolve_window(days=30, now=NOW, tz="UTC").since == NOW - timedelta(days=30)
    assert resolve_window("7d", now=NOW, tz="UTC").since == NOW - timedelta(days=7)
    assert resolve_window("yesterday", now=NOW, tz="UTC").until == datetime(2026, 11, 22, tzinfo=timezone.utc)
    m = resolve_window("month", now=NOW, tz="UTC")
    assert (m.since.day, m.until.month) == (1, 12)
    w = resolve_window(since="2026-11-01T09:30", tz="Asia/Kolkata", now=NOW)
    assert w.since.utcoffset() == timedelta(hours=5, minutes=30)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"period": "fortnight"}, r"period='fortnight' is not valid"),
        ({"since": "last tuesday"}, r"since='last tuesday' is not a date"),
        ({"tz": "Mars/Base"}, r"tz='Mars/Base' is not a known time zone"),
        ({"days": 0}, r"days=0 is not valid"),
        ({"days": True}, r"days=True is not valid"),
        ({"since": "2026-11-10", "until": "2026-11-01"}, r"until='2026-11-01' is before since='2026-11-10'"),
        ({"period": "today", "days": 3}, r"cannot be combined"),
    ],
)
def test_bad_windows_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        resolve_window(now=NOW, **kwargs)  # type: ignore[arg-type]


def test_summary_and_breakdown_on_every_backend(store: Store) -> None:
    calls = [
        call(1, NOW - timedelta(hours=1), agent="a", cost_usd=Decimal("0.30")),
        call(2, NOW - timedelta(hours=2), agent="b", model="claude-sonnet-4", cost_usd=Decimal("0.10")),
        call(3, NOW - timedelta(hours=3), agent="a", model="mystery", cost_usd=None, success=False),
        call(4, NOW - timedelta(days=2), agent="a", cost_usd=Decimal("5")),  # outside "today"
        # 03:30 UTC on the 22nd is still the 21st in New York
        call(5, datetime(2026, 11, 22, 3, 30, tzinfo=timezone.utc), agent="b", cost_usd=Decimal("1")),
    ]
    assert store.write(calls) == 5
    s = tt.summary("today", store=store, tz="UTC", now=NOW)
    assert (s.totals.calls, s.totals.errors, s.totals.unpriced_calls) == (4, 1, 1)
    assert s.totals.cost_usd == Decimal("1.40")
    assert [r.key[0] for r in s.by_model] == ["gpt-4o", "claude-sonnet-4", "mystery"]
    ny = tt.summary("today", store=store, tz="America/New_York", now=NOW)
    assert ny.totals.calls == 3 and ny.totals.cost_usd == Decimal("0.40")
    b = tt.breakdown(["agent"], store=store, days=1, tz="UTC", now=NOW)
    rows = {r.key: r for r in b.rows}
    assert rows[("a",)].totals.cost_usd == Decimal("0.30") and rows[("a",)].totals.unpriced_calls == 1
    assert rows[("b",)].cost_share == pytest.approx(1.10 / 1.40)
    daily = tt.breakdown("model", bucket="day", store=store, since="2026-11-20", tz="America/New_York", now=NOW)
    days = {(r.bucket.date().isoformat(), r.key[0]) for r in daily.rows if r.bucket}
    assert ("2026-11-21", "gpt-4o") in days and ("2026-11-22", "gpt-4o") in days
    assert daily.to_dict()["rows"][0]["bucket"].endswith("-05:00")
    only_b = tt.summary(store=store, agent="b", tz="UTC", now=NOW)
    assert only_b.totals.calls == 2


def test_performance_percentiles(store: Store) -> None:
    store.write(
        [call(i, NOW - timedelta(minutes=i), duration_ms=float(i * 10), output_tokens=i) for i in range(1, 101)]
    )
    perf = tt.performance("model", store=store, tz="UTC", now=NOW)
    [row] = perf.rows
    assert row.calls == 100
    # 10, 20, …, 1000 ms: linear interpolation gives p50 = 505, p95 = 950.5, p99 = 990.1
    err = row.max_relative_error
    assert row.p50_ms == pytest.approx(505, rel=err + 1e-9)
    assert row.p95_ms == pytest.approx(950.5, rel=err + 1e-9)
    assert row.p99_ms == pytest.approx(990.1, rel=err + 1e-9)
    assert row.tokens_per_second == pytest.approx(sum(range(1, 101)) / (sum(range(10, 1001, 10)) / 1000))


def test_unknown_filter_and_dimension_are_rejected(store: Store) -> None:
    with pytest.raises(ValidationError, match=r"unknown filter 'colour'"):
        tt.summary(store=store, colour="red")
    with pytest.raises(ValidationError, match=r"dimension=.label:x' or 1=1. is not known"):
        tt.breakdown(["label:x' or 1=1"], store=store)


def test_summary_flushes_the_default_tracker() -> None:
    tt.configure("memory://")
    tt.record(model="gpt-4o", input_tokens=1200, output_tokens=300, agent="support", user="u-42")
    s = tt.summary(period="today")
    assert s.totals.calls == 1 and s.totals.input_tokens == 1200
    assert "gpt-4o" in str(s)
    tt.configure("memory://")
