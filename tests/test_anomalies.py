"""Anomalies: an injected spike is found and attributed to the right agent; noise is not an anomaly."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from tokentrail import Call
from tokentrail.analysis.anomalies import anomalies
from tokentrail.errors import ValidationError
from tokentrail.model import new_call_id
from tokentrail.store import Store, open_store

UTC = timezone.utc
NOW = datetime(2026, 11, 22, 18, tzinfo=UTC)
START = datetime(2026, 11, 9, tzinfo=UTC)  # 14 days: Nov 9 .. Nov 22 (today, partial)


def _kinds() -> list[str]:
    kinds = ["memory", "postgres"]
    try:
        import tokentrail.store.sqlite  # noqa: F401

        kinds.insert(1, "sqlite")
    except ImportError:
        pass
    return kinds


@pytest.fixture(params=_kinds())
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    from conftest import make_store_url

    s = open_store(make_store_url(request.param, tmp_path, request))
    try:
        yield s
    finally:
        s.close()


def call(at: datetime, usd: float, **dims: str) -> Call:
    return Call(id=new_call_id(), started_at=at, model=dims.pop("model"), cost_usd=Decimal(f"{usd:.6f}"), **dims)  # type: ignore[arg-type]


def history(store: Store, *, spikes: dict[tuple[int, str], float] | None = None, noise: float = 0.0) -> None:
    """Agent A: $10/day split over gpt-4o and claude; agent B: $5/day on gpt-4o-mini; `spikes` multiply a day."""
    rng = random.Random(1)
    spikes = spikes or {}
    calls = []
    for day in range(14):
        at = START + timedelta(days=day, hours=9)
        a = 10 * spikes.get((day, "A"), 1.0) * (1 + rng.uniform(-noise, noise))
        b = 5 * spikes.get((day, "B"), 1.0) * (1 + rng.uniform(-noise, noise))
        calls += [call(at, a / 2, model="gpt-4o", agent="A", user="u1"),
                  call(at, a / 2, model="claude-3-5-haiku", agent="A", user="u2"),
                  call(at, b, model="gpt-4o-mini", agent="B", user="u1")]  # fmt: skip
    store.write(calls)


def test_an_agents_3x_spike_is_found_and_attributed(any_store: Store) -> None:
    history(any_store, spikes={(8, "B"): 3.0})
    report = anomalies(days=14, store=any_store, tz="UTC", now=NOW)
    found = {(a.dimension, a.value) for a in report.anomalies}
    # Agent B is the only user of gpt-4o-mini: one spike, named by the agent, the model folded into `also`.
    assert found == {("agent", "B"), ("user", "u1")}  # u1 (half of A's and all of B's calls) doubled
    assert "total" not in {a.dimension for a in report.anomalies}  # $25 against $15 is not 2x
    spike = next(a for a in report.anomalies if a.dimension == "agent")
    assert spike.also == ("model=gpt-4o-mini",)
    assert spike.at == datetime(2026, 11, 17, tzinfo=UTC)
    assert (spike.cost, spike.baseline, spike.excess, spike.ratio) == (Decimal(15), Decimal(5), Decimal(10), 3.0)
    assert spike.label == "agent=B"


def test_a_total_spike_names_the_agent_that_drove_it(any_store: Store) -> None:
    history(any_store, spikes={(10, "A"): 3.0})
    report = anomalies(days=14, store=any_store, tz="UTC", now=NOW)
    total = next(a for a in report.anomalies if a.dimension == "total")
    assert total.at == datetime(2026, 11, 19, tzinfo=UTC) and total.cost == Decimal(35) and total.excess == Decimal(20)
    top = total.drivers[0]
    assert (top.dimension, top.value, top.excess, top.share) == ("agent", "A", Decimal(20), 1.0)
    assert {(d.dimension, d.value) for d in total.drivers[1:3]} == {("model", "gpt-4o"), ("model", "claude-3-5-haiku")}
    assert report.anomalies[0] is total  # largest excess first
    driver = report.to_dict()["anomalies"][0]["drivers"][0]
    assert (driver["dimension"], driver["value"], Decimal(driver["excess_usd"]), driver["share"]) == (
        "agent",
        "A",
        20,
        1.0,
    )


def test_noise_is_not_an_anomaly() -> None:
    store = open_store("memory://")
    history(store, noise=0.3)
    assert anomalies(days=14, store=store, tz="UTC", now=NOW).anomalies == []


def test_hourly_buckets_compare_the_same_hour_of_day() -> None:
    store = open_store("memory://")
    calls = []
    for day in range(7):
        for hour in range(24):
            usd = 4.0 if 9 <= hour < 18 else 0.5  # busy office hours, quiet nights
            if day == 5 and hour == 3:
                usd = 1.5  # 3x the usual night: a spike, though far below a daytime hour
            calls.append(call(START + timedelta(days=day, hours=hour, minutes=10), usd, model="gpt-4o", agent="night"))
    store.write(calls)
    report = anomalies(days=7, bucket="hour", by=["agent"], store=store, tz="UTC",
                       now=START + timedelta(days=7))  # fmt: skip
    # One agent only: its series is the total, so the total alone is reported.
    assert [(a.dimension, a.at) for a in report.anomalies] == [("total", START + timedelta(days=5, hours=3))]
    assert all(a.ratio == 3.0 for a in report.anomalies)


def test_sparse_values_are_not_judged_alone_and_minimum_excess_applies() -> None:
    store = open_store("memory://")
    history(store)
    store.write([call(START + timedelta(days=12, hours=3), 4.0, model="o1", agent="rare")])
    report = anomalies(days=14, store=store, tz="UTC", now=NOW)
    assert not any(a.value in ("rare", "o1") for a in report.anomalies)
    tiny = open_store("memory://")
    tiny.write([call(START + timedelta(days=d, hours=9), 0.001 * (3 if d == 8 else 1), model="m", agent="x")
                for d in range(14)])  # fmt: skip
    assert anomalies(days=14, store=tiny, tz="UTC", now=NOW).anomalies == []
    assert anomalies(days=14, store=tiny, tz="UTC", now=NOW, min_cost=0).anomalies != []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"bucket": "week"}, "bucket='week'"), ({"factor": 1}, "factor=1"), ({"by": ["colour"]}, "dimension='colour'")],
)
def test_bad_arguments_name_the_value(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        anomalies(store="memory://", **kwargs)  # type: ignore[arg-type]


def test_hours_need_five_days_of_each_hour_and_the_running_bucket_is_not_baseline() -> None:
    store = open_store("memory://")
    calls = [call(START + timedelta(days=d, hours=h, minutes=10), 1.0, model="gpt-4o", agent="a")
             for d in range(4) for h in range(24)]  # fmt: skip
    store.write(calls)
    young = anomalies(days=7, bucket="hour", store=store, tz="UTC", now=START + timedelta(days=3, hours=23, minutes=30))
    assert young.anomalies == [] and young.history == 3 and young.note is not None and "each hour" in young.note
    # Day-wise: Nov 12 (day 3) spends $120 against $24, and so does the running day, Nov 15, by 12:00.
    store.write([call(START + timedelta(days=3, hours=23, minutes=20), 96.0, model="gpt-4o", agent="a")])
    for extra in range(2):
        store.write([call(START + timedelta(days=4 + extra, hours=h, minutes=10), 1.0, model="gpt-4o", agent="a")
                     for h in range(24)])  # fmt: skip
    store.write([call(START + timedelta(days=6, hours=1), 120.0, model="gpt-4o", agent="a")])
    report = anomalies(days=14, store=store, tz="UTC", now=START + timedelta(days=6, hours=12))
    assert {(a.at, a.cost, a.baseline) for a in report.anomalies} == {
        (START + timedelta(days=3), 120, 24), (START + timedelta(days=6), 120, 24)}  # fmt: skip
    assert report.history == 6  # Nov 9 .. 14 complete; the running day is judged, not counted as history
    assert report.window.since == datetime(2026, 11, 1, tzinfo=UTC)  # 14 days back, on a bucket boundary
