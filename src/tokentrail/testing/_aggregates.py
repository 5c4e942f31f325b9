"""The contract's questions: totals, group-bys, time buckets in any time zone (DST included), percentiles."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest

from ..model import Call
from ..store.base import CallStore, Filter
from ._expect import (
    KOLKATA,
    MODELS,
    NY,
    T0,
    UTC,
    actual_groups,
    call,
    dimension,
    exact_quantile,
    expected_groups,
    key_order,
    local_day,
    utc_hours,
)
from ._fixtures import ContractFixtures

__all__ = ["AggregateContract"]


class AggregateContract(ContractFixtures):
    """What every backend's `aggregate` and `percentiles` answer (part of `StoreContract`)."""

    # --- aggregates ---------------------------------------------------------------------------------

    def test_aggregate_totals_match_hand_sums(self, store: CallStore, mixed: list[Call]) -> None:
        assert actual_groups(store.aggregate(Filter())) == expected_groups(mixed, ())
        since, until = mixed[7].started_at + timedelta(seconds=1), mixed[200].started_at - timedelta(seconds=1)
        window = [c for c in mixed if since <= c.started_at < until]
        assert actual_groups(store.aggregate(Filter(since=since, until=until))) == expected_groups(window, ())
        assert store.aggregate(Filter(since=T0 - timedelta(days=9), until=T0 - timedelta(days=8))) == []

    @pytest.mark.parametrize(
        "by", [("model",), ("agent",), ("model", "agent"), ("provider", "environment"), ("user",), ("label:team",)]
    )
    def test_aggregate_groups_by_dimensions(self, store: CallStore, mixed: list[Call], by: tuple[str, ...]) -> None:
        since = mixed[3].started_at + timedelta(minutes=1)
        window = [c for c in mixed if c.started_at >= since]
        assert actual_groups(store.aggregate(Filter(since=since), by=by)) == expected_groups(window, by)

    def test_unpriced_calls_are_counted_not_costed_as_zero(self, store: CallStore) -> None:
        priced = [call(i, cost_usd=Decimal("0.25"), model="gpt-4o") for i in range(3)]
        unpriced = [call(10 + i, cost_usd=None, model="local-llama") for i in range(4)]
        store.write(priced + unpriced)
        by_model = {g.key: g.totals for g in store.aggregate(Filter(), by=("model",))}
        assert by_model[("gpt-4o",)].cost_usd == Decimal("0.75") and by_model[("gpt-4o",)].unpriced_calls == 0
        assert by_model[("local-llama",)].unpriced_calls == 4 and by_model[("local-llama",)].calls == 4
        assert by_model[("local-llama",)].cost_usd == 0
        (total,) = store.aggregate(Filter())
        assert (total.totals.calls, total.totals.unpriced_calls, total.totals.cost_usd) == (7, 4, Decimal("0.75"))

    def test_costs_sum_exactly(self, store: CallStore) -> None:
        costs = [
            Decimal("0.1"),
            Decimal("0.2"),
            Decimal("1E-18"),
            Decimal("0.0000000375"),
            Decimal("12345678.123456789"),
        ]
        store.write([call(i, cost_usd=c) for i, c in enumerate(costs)])
        (group,) = store.aggregate(Filter())
        assert group.totals.cost_usd == sum(costs, Decimal(0)) == Decimal("12345678.423456826500000001")

    def test_buckets_in_utc(self, store: CallStore) -> None:
        calls = utc_hours(datetime(2025, 1, 30, 6, tzinfo=UTC), 24 * 5)  # Thu 30 Jan – Tue 4 Feb
        store.write(calls)

        def day(at: datetime) -> datetime:
            return datetime(at.year, at.month, at.day, tzinfo=UTC)

        def monday(at: datetime) -> datetime:
            return day(at) - timedelta(days=at.weekday())

        def month(at: datetime) -> datetime:
            return datetime(at.year, at.month, 1, tzinfo=UTC)

        def hour(at: datetime) -> datetime:
            return at.replace(minute=0, second=0, microsecond=0)

        for bucket, start_of in (("hour", hour), ("day", day), ("week", monday), ("month", month)):
            got = actual_groups(store.aggregate(Filter(), by=("model",), bucket=bucket))  # type: ignore[arg-type]
            assert got == expected_groups(calls, ("model",), start_of), bucket
        weeks = [g.bucket for g in store.aggregate(Filter(), bucket="week")]
        assert weeks == [datetime(2025, 1, 27, tzinfo=UTC), datetime(2025, 2, 3, tzinfo=UTC)]

    @pytest.mark.parametrize("day", [date(2025, 3, 9), date(2025, 11, 2)], ids=["spring-forward", "fall-back"])
    def test_day_buckets_in_new_york_across_dst(self, store: CallStore, day: date) -> None:
        calls = utc_hours(datetime.combine(day, time(3), tzinfo=UTC) - timedelta(days=2), 24 * 4)
        store.write(calls)
        since = datetime.combine(day - timedelta(days=1), time(), tzinfo=NY)
        until = datetime.combine(day + timedelta(days=2), time(), tzinfo=NY)
        window = [c for c in calls if since <= c.started_at < until]
        got = store.aggregate(Filter(since=since, until=until), by=("agent",), bucket="day", tz=NY)
        assert actual_groups(got) == expected_groups(window, ("agent",), local_day(NY))
        starts = sorted({g.bucket for g in got if g.bucket is not None})
        assert [s.astimezone(UTC).hour for s in starts] == ([5, 5, 4] if day.month == 3 else [4, 4, 5])
        lengths = {
            g.bucket: g.totals.calls for g in store.aggregate(Filter(since=since, until=until), bucket="day", tz=NY)
        }
        assert lengths[datetime.combine(day, time(), tzinfo=NY)] == (23 if day.month == 3 else 25) * 3

    def test_hour_buckets_in_new_york_on_spring_forward(self, store: CallStore) -> None:
        calls = utc_hours(datetime(2025, 3, 9, 4, tzinfo=UTC), 6)  # 23:00 EST .. 05:00 EDT
        store.write(calls)
        got = store.aggregate(Filter(), bucket="hour", tz=NY)
        local = [g.bucket.astimezone(NY).strftime("%H:%M %Z") for g in got if g.bucket is not None]
        assert local == ["23:00 EST", "00:00 EST", "01:00 EST", "03:00 EDT", "04:00 EDT", "05:00 EDT"]
        assert [g.totals.calls for g in got] == [3] * 6

    @pytest.mark.parametrize("bucket", ["day", "hour", "month"])
    def test_buckets_in_kolkata_start_on_the_half_hour(self, store: CallStore, bucket: str) -> None:
        calls = utc_hours(datetime(2025, 4, 29, 10, tzinfo=UTC), 24 * 3)
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
    def test_percentiles_match_exact_quantiles_within_the_stated_error(self, store: CallStore, metric: str) -> None:
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
        for flt, by in (
            (Filter(since=since, until=until), ("model",)),
            (Filter(success=True), ()),
            (Filter(), ("agent",)),
        ):
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

    def test_percentiles_of_few_values_are_exact(self, store: CallStore) -> None:
        store.write([call(i, duration_ms=d) for i, d in enumerate([10.0, 20.0, 40.0, 80.0])])
        (row,) = store.percentiles(Filter(until=T0 + timedelta(minutes=30)))
        assert row.count == 4
        assert row.values == pytest.approx((30.0, 74.0, 78.8), rel=row.max_relative_error + 1e-12)
        (row,) = store.percentiles(Filter(since=T0, until=T0 + timedelta(minutes=30)))  # less than an hour: exact
        assert row.values == pytest.approx((30.0, 74.0, 78.8), rel=1e-12)
