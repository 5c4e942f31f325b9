"""The Store contract, run on every backend (memory, jsonl, sqlite, postgres) through the `store` fixture.

Every expected value here is computed in the test from the calls it wrote — plain sums, explicit bucket
starts, exact quantiles by hand — never read back from a store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tokentrail.errors import ValidationError
from tokentrail.model import Call
from tokentrail.store import DIMENSIONS, Filter, Group, Store

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
    calls: Sequence[Call], by: Sequence[str], start_of: object = None
) -> list[tuple[datetime | None, tuple[str | None, ...], dict[str, object]]]:
    """(bucket start, key, totals) per group, sorted by bucket then key (None last)."""
    groups: dict[tuple[datetime | None, tuple[str | None, ...]], list[Call]] = {}
    for c in calls:
        start = start_of(c.started_at) if callable(start_of) else None
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


def everything(store: Store, **filter_fields: object) -> list[Call]:
    return list(store.calls(Filter(**filter_fields), newest_first=False))  # type: ignore[arg-type]


# --- round trip and deduplication ---------------------------------------------------------------


def test_every_field_round_trips_exactly(store: Store) -> None:
    full = Call(
        id="0190a1b2-c3d4-7e5f-8a9b-0123456789ab",
        started_at=datetime(2025, 6, 1, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        model="claude-sonnet-4",
        provider="anthropic",
        response_model="claude-sonnet-4-20250514",
        operation="chat",
        duration_ms=1234.5678901234,
        ttft_ms=0.1,
        finish_reason="end_turn",
        streamed=True,
        response_id="msg_01ABC",
        input_tokens=12_345,
        output_tokens=678,
        cache_read_tokens=10_000,
        cache_write_tokens=2_000,
        cache_write_1h_tokens=500,
        reasoning_tokens=100,
        tokens_estimated=True,
        cost_usd=Decimal("0.0123456789012345678901234"),
        input_cost_usd=Decimal("0.000123"),
        output_cost_usd=Decimal("1E-20"),
        cache_read_cost_usd=Decimal("0"),
        cache_write_cost_usd=Decimal("123456789.5"),
        currency="EUR",
        price_source="genai-prices 0.2.3",
        agent="router",
        user="ünïcødé user 🙂",
        session="sess-1",
        project="webapp",
        environment="prod",
        git_branch="feature/quotes-'\"",
        trace_id="a" * 32,
        span_id="b" * 16,
        parent_span_id="c" * 16,
        labels={"team": "search", "quote": 'it\'s "fine"', "dotted.key": "v", "empty": "", "nul": "a\x00b"},
        success=False,
        error_type="RateLimitError",
        error_message="429: slow down\nnewline",
        retries=3,
        prompt_hash="d" * 64,
        response_hash="e" * 64,
        prompt="Hello, 世界",
        response="",
    )
    minimal = call(1, started_at=datetime(2025, 6, 1, 9, tzinfo=UTC))
    assert store.write([full, minimal]) == 2
    got = everything(store)
    assert got == [full, minimal]
    assert got[0].labels == full.labels and got[0].cost_usd == full.cost_usd
    assert got[1].cost_usd is None and got[1].labels == {} and got[1].duration_ms is None


def test_write_skips_known_ids_within_and_across_batches(store: Store) -> None:
    first = [call(1), call(2), call(1, model="other"), call(3)]
    assert store.write(first) == 3
    assert store.write([call(2), call(3), call(4)]) == 1
    assert store.write([]) == 0
    got = everything(store)
    assert [c.id for c in got] == ["call-000001", "call-000002", "call-000003", "call-000004"]
    assert got[0].model == "gpt-4o"  # the first of the duplicates is the one kept


def test_write_skips_known_response_ids_within_and_across_batches(store: Store) -> None:
    assert store.write([call(1, response_id="r1"), call(2, response_id="r1"), call(3), call(4)]) == 3
    far_later = T0 + timedelta(days=200)
    assert store.write([call(5, response_id="r1", started_at=far_later), call(6, response_id="r2"), call(7)]) == 2
    assert [c.id for c in everything(store)] == [
        "call-000001",
        "call-000003",
        "call-000004",
        "call-000006",
        "call-000007",
    ]


# --- filters ------------------------------------------------------------------------------------


@pytest.fixture
def mixed(store: Store) -> list[Call]:
    calls = workload(T0, 240, timedelta(minutes=17))
    assert store.write(calls[:100]) == 100
    assert store.write(calls[100:]) == 140
    return calls


@pytest.mark.parametrize("dim", [*DIMENSIONS, "label:team", "label:tier", "label:missing"])
def test_where_on_each_dimension(store: Store, mixed: list[Call], dim: str) -> None:
    values = sorted({v for c in mixed if (v := dimension(c, dim)) is not None})
    wanted = tuple(values[:2]) if values else ("nothing",)
    expected = [c.id for c in mixed if dimension(c, dim) in wanted]
    assert [c.id for c in everything(store, where={dim: wanted})] == expected
    groups = store.aggregate(Filter(where={dim: wanted}), by=(dim,))
    assert [(g.key, g.totals.calls) for g in groups] == [
        ((v,), sum(1 for c in mixed if dimension(c, dim) == v)) for v in sorted(wanted) if v in values
    ]


def test_where_combines_dimensions_and_values(store: Store, mixed: list[Call]) -> None:
    where = {"model": ("gpt-4o", "gemini-2.0-flash"), "agent": ("coder",), "label:tier": ("1",)}
    expected = [c.id for c in mixed if c.model in where["model"] and c.agent == "coder" and c.labels.get("tier") == "1"]
    assert expected and [c.id for c in everything(store, where=where)] == expected
    assert everything(store, where={"model": ()}) == []


def test_since_is_inclusive_and_until_exclusive(store: Store, mixed: list[Call]) -> None:
    since, until = mixed[10].started_at, mixed[50].started_at
    got = everything(store, since=since, until=until)
    assert [c.id for c in got] == [c.id for c in mixed[10:50]]
    assert store.aggregate(Filter(since=since, until=until))[0].totals.calls == 40
    one_us = timedelta(microseconds=1)
    assert [c.id for c in everything(store, since=since + one_us, until=until + one_us)] == [c.id for c in mixed[11:51]]
    assert everything(store, since=since, until=since) == []


def test_success_filter(store: Store, mixed: list[Call]) -> None:
    failed = [c.id for c in mixed if not c.success]
    assert failed and [c.id for c in everything(store, success=False)] == failed
    assert [c.id for c in everything(store, success=True)] == [c.id for c in mixed if c.success]
    (group,) = store.aggregate(Filter(success=False))
    assert group.totals.errors == group.totals.calls == len(failed)


# --- streaming ----------------------------------------------------------------------------------


def test_calls_stream_in_order_with_limit(store: Store) -> None:
    same_time = T0 + timedelta(hours=1)
    calls = [call(i, started_at=T0 + timedelta(seconds=i)) for i in range(2_500)]
    ties = [call(9_000 + i, id=f"tie-{i}", started_at=same_time) for i in (3, 1, 2)]
    for i in range(0, len(calls), 700):
        store.write(calls[i : i + 700])
    store.write(ties)
    oldest = sorted(calls + ties, key=lambda c: (c.started_at, c.id))
    assert [c.id for c in store.calls(Filter(), newest_first=False)] == [c.id for c in oldest]
    assert [c.id for c in store.calls(Filter(), limit=2_100)] == [c.id for c in oldest[::-1][:2_100]]
    assert [c.id for c in store.calls(Filter(), limit=3, newest_first=False)] == [c.id for c in oldest[:3]]
    assert list(store.calls(Filter(), limit=0)) == []
    stream = store.calls(Filter(since=same_time), newest_first=False)
    assert [next(stream).id for _ in range(3)] == ["tie-1", "tie-2", "tie-3"]


# --- aggregates ---------------------------------------------------------------------------------


def test_aggregate_totals_match_hand_sums(store: Store, mixed: list[Call]) -> None:
    assert actual_groups(store.aggregate(Filter())) == expected_groups(mixed, ())
    since, until = mixed[7].started_at + timedelta(seconds=1), mixed[200].started_at - timedelta(seconds=1)
    window = [c for c in mixed if since <= c.started_at < until]
    assert actual_groups(store.aggregate(Filter(since=since, until=until))) == expected_groups(window, ())
    assert store.aggregate(Filter(since=T0 - timedelta(days=9), until=T0 - timedelta(days=8))) == []


@pytest.mark.parametrize(
    "by", [("model",), ("agent",), ("model", "agent"), ("provider", "environment"), ("user",), ("label:team",)]
)
def test_aggregate_groups_by_dimensions(store: Store, mixed: list[Call], by: tuple[str, ...]) -> None:
    since = mixed[3].started_at + timedelta(minutes=1)
    window = [c for c in mixed if c.started_at >= since]
    assert actual_groups(store.aggregate(Filter(since=since), by=by)) == expected_groups(window, by)


def test_unpriced_calls_are_counted_not_costed_as_zero(store: Store) -> None:
    priced = [call(i, cost_usd=Decimal("0.25"), model="gpt-4o") for i in range(3)]
    unpriced = [call(10 + i, cost_usd=None, model="local-llama") for i in range(4)]
    store.write(priced + unpriced)
    by_model = {g.key: g.totals for g in store.aggregate(Filter(), by=("model",))}
    assert by_model[("gpt-4o",)].cost_usd == Decimal("0.75") and by_model[("gpt-4o",)].unpriced_calls == 0
    assert by_model[("local-llama",)].unpriced_calls == 4 and by_model[("local-llama",)].calls == 4
    assert by_model[("local-llama",)].cost_usd == 0
    (total,) = store.aggregate(Filter())
    assert (total.totals.calls, total.totals.unpriced_calls, total.totals.cost_usd) == (7, 4, Decimal("0.75"))


def test_costs_sum_exactly(store: Store) -> None:
    costs = [Decimal("0.1"), Decimal("0.2"), Decimal("1E-18"), Decimal("0.0000000375"), Decimal("12345678.123456789")]
    store.write([call(i, cost_usd=c) for i, c in enumerate(costs)])
    (group,) = store.aggregate(Filter())
    assert group.totals.cost_usd == sum(costs, Decimal(0)) == Decimal("12345678.423456826500000001")


def _utc_hours(start: datetime, hours: int) -> list[Call]:
    """Calls every 20 minutes (shifted by the index so they never sit on a boundary) for `hours` hours."""
    return [varied(i, start + timedelta(minutes=20 * i, seconds=i % 60)) for i in range(hours * 3)]


def test_buckets_in_utc(store: Store) -> None:
    calls = _utc_hours(datetime(2025, 1, 30, 6, tzinfo=UTC), 24 * 5)  # Thu 30 Jan – Tue 4 Feb
    store.write(calls)
    day = lambda at: datetime(at.year, at.month, at.day, tzinfo=UTC)  # noqa: E731
    monday = lambda at: day(at) - timedelta(days=at.weekday())  # noqa: E731
    month = lambda at: datetime(at.year, at.month, 1, tzinfo=UTC)  # noqa: E731
    hour = lambda at: at.replace(minute=0, second=0, microsecond=0)  # noqa: E731
    for bucket, start_of in (("hour", hour), ("day", day), ("week", monday), ("month", month)):
        got = actual_groups(store.aggregate(Filter(), by=("model",), bucket=bucket))  # type: ignore[arg-type]
        assert got == expected_groups(calls, ("model",), start_of), bucket
    weeks = [g.bucket for g in store.aggregate(Filter(), bucket="week")]
    assert weeks == [datetime(2025, 1, 27, tzinfo=UTC), datetime(2025, 2, 3, tzinfo=UTC)]


def _local_day(tz: ZoneInfo):  # type: ignore[no-untyped-def]
    def start_of(at: datetime) -> datetime:
        local = at.astimezone(tz)
        return datetime(local.year, local.month, local.day, tzinfo=tz)

    return start_of


@pytest.mark.parametrize("day", [date(2025, 3, 9), date(2025, 11, 2)], ids=["spring-forward", "fall-back"])
def test_day_buckets_in_new_york_across_dst(store: Store, day: date) -> None:
    calls = _utc_hours(datetime.combine(day, time(3), tzinfo=UTC) - timedelta(days=2), 24 * 4)
    store.write(calls)
    since = datetime.combine(day - timedelta(days=1), time(), tzinfo=NY)
    until = datetime.combine(day + timedelta(days=2), time(), tzinfo=NY)
    window = [c for c in calls if since <= c.started_at < until]
    got = store.aggregate(Filter(since=since, until=until), by=("agent",), bucket="day", tz=NY)
    assert actual_groups(got) == expected_groups(window, ("agent",), _local_day(NY))
    starts = sorted({g.bucket for g in got if g.bucket is not None})
    assert [s.astimezone(UTC).hour for s in starts] == ([5, 5, 4] if day.month == 3 else [4, 4, 5])
    lengths = {g.bucket: g.totals.calls for g in store.aggregate(Filter(since=since, until=until), bucket="day", tz=NY)}
    assert lengths[datetime.combine(day, time(), tzinfo=NY)] == (23 if day.month == 3 else 25) * 3


def test_hour_buckets_in_new_york_on_spring_forward(store: Store) -> None:
    calls = _utc_hours(datetime(2025, 3, 9, 4, tzinfo=UTC), 6)  # 23:00 EST .. 05:00 EDT
    store.write(calls)
    got = store.aggregate(Filter(), bucket="hour", tz=NY)
    local = [g.bucket.astimezone(NY).strftime("%H:%M %Z") for g in got if g.bucket is not None]
    assert local == ["23:00 EST", "00:00 EST", "01:00 EST", "03:00 EDT", "04:00 EDT", "05:00 EDT"]
    assert [g.totals.calls for g in got] == [3] * 6


@pytest.mark.parametrize("bucket", ["day", "hour", "month"])
def test_buckets_in_kolkata_start_on_the_half_hour(store: Store, bucket: str) -> None:
    calls = _utc_hours(datetime(2025, 4, 29, 10, tzinfo=UTC), 24 * 3)
    store.write(calls)

    def start_of(at: datetime) -> datetime:
        local = at.astimezone(KOLKATA)
        if bucket == "hour":
            return local.replace(minute=0, second=0, microsecond=0)
        return datetime(local.year, local.month, 1 if bucket == "month" else local.day, tzinfo=KOLKATA)

    got = store.aggregate(Filter(), by=("model",), bucket=bucket, tz=KOLKATA)  # type: ignore[arg-type]
    assert actual_groups(got) == expected_groups(calls, ("model",), start_of)
    assert all(g.bucket is not None and g.bucket.astimezone(UTC).minute == 30 for g in got)


# --- percentiles --------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["duration_ms", "ttft_ms"])
def test_percentiles_match_exact_quantiles_within_the_stated_error(store: Store, metric: str) -> None:
    calls = [
        call(
            i,
            started_at=T0 + timedelta(minutes=7 * i, seconds=i % 50),
            model=MODELS[i % 3],
            provider=("openai", "anthropic", "google")[i % 3],
            duration_ms=float(1 + (i * 7919) % 5000) + (0.25 if i % 4 else 0.0),
            ttft_ms=float(1 + i % 300) if i % 3 else None,
            success=i % 17 != 0,
        )
        for i in range(1_200)
    ]
    store.write(calls[:600])
    store.write(calls[600:])
    since, until = T0 + timedelta(hours=5, minutes=3), T0 + timedelta(hours=100, minutes=41)
    quantiles = (0.0, 0.5, 0.9, 0.95, 0.99, 1.0)
    for flt, by in ((Filter(since=since, until=until), ("model",)), (Filter(success=True), ()), (Filter(), ("agent",))):
        rows = store.percentiles(flt, by=by, metric=metric, quantiles=quantiles)  # type: ignore[arg-type]
        groups: dict[tuple[str | None, ...], list[float]] = {}
        for c in calls:
            value = getattr(c, metric)
            if value is not None and flt.matches(c):
                groups.setdefault(tuple(dimension(c, d) for d in by), []).append(value)
        assert [r.key for r in rows] == sorted(groups, key=key_order)
        for row in rows:
            values = groups[row.key]
            assert row.count == len(values)
            assert 0.0 <= row.max_relative_error <= 0.01
            for q, got in zip(quantiles, row.values, strict=True):
                exact = exact_quantile(values, q)
                assert got == pytest.approx(exact, rel=row.max_relative_error + 1e-9), (row.key, q)


def test_percentiles_of_few_values_are_exact(store: Store) -> None:
    store.write([call(i, duration_ms=d) for i, d in enumerate([10.0, 20.0, 40.0, 80.0])])
    (row,) = store.percentiles(Filter(until=T0 + timedelta(minutes=30)))
    assert row.count == 4
    assert row.values == pytest.approx((30.0, 74.0, 78.8), rel=row.max_relative_error + 1e-12)
    (row,) = store.percentiles(Filter(since=T0, until=T0 + timedelta(minutes=30)))  # less than an hour: exact
    assert row.values == pytest.approx((30.0, 74.0, 78.8), rel=1e-12)


# --- delete -------------------------------------------------------------------------------------


def test_delete_removes_matching_calls_and_their_totals(store: Store, mixed: list[Call]) -> None:
    flt = Filter(where={"agent": ("coder",)}, since=mixed[30].started_at)
    doomed = [c for c in mixed if flt.matches(c)]
    assert store.delete(flt, batch_size=7) == len(doomed) > 7
    kept = [c for c in mixed if not flt.matches(c)]
    assert [c.id for c in everything(store)] == [c.id for c in kept]
    assert actual_groups(store.aggregate(Filter(), by=("agent",))) == expected_groups(kept, ("agent",))
    assert actual_groups(store.aggregate(Filter(), bucket="day")) == expected_groups(
        kept, (), lambda at: datetime(at.year, at.month, at.day, tzinfo=UTC)
    )
    assert store.delete(flt) == 0
    # a deleted call may be stored again, response id and all
    assert store.write(doomed[:3]) == 3


def test_delete_everything(store: Store, mixed: list[Call]) -> None:
    assert store.delete(Filter()) == len(mixed)
    assert everything(store) == [] and store.aggregate(Filter()) == [] and store.percentiles(Filter()) == []


# --- meta ---------------------------------------------------------------------------------------


def test_meta(store: Store) -> None:
    assert store.meta_get("budgets", "daily") is None
    store.meta_put("budgets", "daily", "1")
    store.meta_put("budgets", "daily", "2")
    store.meta_put("alerts", "daily", "other namespace")
    assert store.meta_get("budgets", "daily") == "2"
    assert store.meta_put_if_absent("budgets", "daily", "3") is False
    assert store.meta_put_if_absent("budgets", "weekly", 'it\'s "quoted"') is True
    assert store.meta_items("budgets") == {"daily": "2", "weekly": 'it\'s "quoted"'}
    assert store.meta_delete("budgets", "daily") is True
    assert store.meta_delete("budgets", "daily") is False
    assert store.meta_items("budgets") == {"weekly": 'it\'s "quoted"'}
    assert store.meta_items("nothing") == {}
    assert store.meta_get("alerts", "daily") == "other namespace"


# --- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["x') or 1=1 --", 'a"b', "a b", "", "k" * 65, "x';DROP TABLE calls;--"])
def test_label_keys_that_could_inject_are_rejected(store: Store, key: str) -> None:
    with pytest.raises(ValidationError):
        Filter(where={f"label:{key}": ("v",)})
    with pytest.raises(ValidationError):
        store.aggregate(Filter(), by=(f"label:{key}",))
    with pytest.raises(ValidationError):
        store.aggregate(Filter(), by=("model; DROP TABLE calls",))


def test_label_keys_and_values_with_sql_characters_are_data(store: Store) -> None:
    nasty = ["x' OR '1'='1", 'it\'s "quoted"', "--", "%", "_", "\\", "' ; DROP TABLE calls; --"]
    keys = ["a.b", "k8s/ns", "x:y", "with-dash", "UPPER_1"]
    calls = [call(i, labels={k: v for k in keys}) for i, v in enumerate(nasty)]
    store.write(calls)
    for k in keys:
        for i, v in enumerate(nasty):
            assert [c.id for c in everything(store, where={f"label:{k}": (v,)})] == [calls[i].id]
    groups = store.aggregate(Filter(), by=("label:a.b",))
    assert sorted(g.key[0] or "" for g in groups) == sorted(nasty)
    assert everything(store, where={"model": ("gpt-4o' OR '1'='1",)}) == []
    assert len(everything(store)) == len(nasty)


def test_label_values_holding_nul_are_whole_values_in_every_read(store: Store) -> None:
    # SQLite's json_extract() ends a text at NUL: 'a\x00b' used to be grouped and filtered as 'a'.
    values = ["a\x00b", "a", "a", "\x00", "a\x00b\x00c"]
    calls = [call(i, labels={"team": v, "other": "x"}, duration_ms=100.0 * (i + 1)) for i, v in enumerate(values)]
    assert store.write(calls) == len(values)
    groups = store.aggregate(Filter(), by=("label:team",))
    assert sorted((g.key, g.totals.calls) for g in groups) == [
        (("\x00",), 1), (("a",), 2), (("a\x00b",), 1), (("a\x00b\x00c",), 1)
    ]  # fmt: skip
    for v in set(values):
        assert [c.id for c in everything(store, where={"label:team": (v,)})] == [
            c.id for c in calls if c.labels["team"] == v
        ], repr(v)
    rows = store.percentiles(Filter(where={"label:team": ("a\x00b", "a")}), by=("label:team",), quantiles=(1.0,))
    assert sorted((r.key, r.count, r.values) for r in rows) == [(("a",), 2, (300.0,)), (("a\x00b",), 1, (100.0,))]
    assert store.aggregate(Filter(where={"label:other": ("x",)}), by=("label:team",))[0].totals.calls >= 1
