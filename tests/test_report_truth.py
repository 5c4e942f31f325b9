"""Reports that tell the truth about young data: the demo week through `anomalies` and `forecast`, by the
analysis functions and through the CLI."""

from __future__ import annotations

import json
import statistics
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from test_cli_helpers import run
from tokentrail import Call
from tokentrail.analysis import breakdown
from tokentrail.analysis.anomalies import anomalies
from tokentrail.analysis.forecast import backtest, forecast
from tokentrail.demo import fill_demo_store
from tokentrail.model import new_call_id
from tokentrail.store import open_store

UTC = timezone.utc
NOW = datetime(2026, 12, 6, 13, 52, tzinfo=UTC)  # a Sunday afternoon: the demo week is Mon Nov 30 .. now
SPIKE = date(2026, 12, 4)  # the demo's spike: the fifth day, Friday


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    result = fill_demo_store(url, seed=7, now=NOW)
    assert result.since == datetime(2026, 11, 30, tzinfo=UTC)
    return url


def daily_spend(url: str) -> dict[date, Decimal]:
    rows = breakdown((), bucket="day", since="2026-11-01", store=url, tz="UTC", now=NOW).rows
    return {r.bucket.date(): r.totals.cost_usd for r in rows if r.bucket is not None}


def test_demo_anomalies_flag_only_the_spike(demo: str) -> None:
    report = anomalies(days=14, store=demo, tz="UTC", now=NOW)
    # History starts at the first call (Nov 30), not 14 days back: no day is "new" against a $0.00 baseline.
    assert report.history_since == datetime(2026, 11, 30, tzinfo=UTC)
    assert report.history == 6 and report.enough_history and report.note is None  # Nov 30 .. Dec 5; Dec 6 runs
    assert {a.at.date() for a in report.anomalies} == {SPIKE}
    total = [a for a in report.anomalies if a.dimension == "total"]
    assert len(total) == 1 and total[0].baseline > 0 and total[0].ratio > 5
    spend = daily_spend(demo)
    full_days = [spend[date(2026, 11, 30) + timedelta(days=i)] for i in range(6)]
    assert total[0].cost == spend[SPIKE] and total[0].baseline == statistics.median(full_days)
    assert ("agent", "researcher") in {(d.dimension, d.value) for d in total[0].drivers}
    assert {a.label for a in report.anomalies} >= {"total", "agent=researcher", "user=u-linus"}


def test_demo_anomalies_through_the_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = fill_demo_store(url, seed=7)  # relative to the real clock, as `tokentrail demo` does
    spike = (result.since + timedelta(days=4)).date()
    r = run("anomalies", "--days", "14", "--store", url, "--tz", "UTC", "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["history"]["since"] == result.since.isoformat() and data["history"]["enough"] is True
    assert {a["at"][:10] for a in data["anomalies"]} == {spike.isoformat()}
    assert [a["dimension"] for a in data["anomalies"]].count("total") == 1
    text = run("anomalies", "--days", "14", "--store", url, "--tz", "UTC").stdout
    assert " new " not in text and "$0.00" not in text


def test_too_little_history_is_said_not_flagged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'young.db'}"
    fill_demo_store(url, seed=7, now=NOW, days=3)  # Dec 4 (the only full days: Dec 4, 5) .. now
    report = anomalies(days=14, store=url, tz="UTC", now=NOW)
    assert report.anomalies == [] and not report.enough_history
    assert report.history == 2 and report.note == (
        "too little history to judge: 2 day(s) since 2026-12-04, at least 5 needed"
    )
    out = run("anomalies", "--days", "14", "--store", url, "--tz", "UTC").stdout
    assert "too little history to judge: 2 day(s) since 2026-12-04, at least 5 needed" in out
    empty = anomalies(days=14, store="memory://", tz="UTC", now=NOW)
    assert empty.note == "no calls in this window: nothing to judge" and empty.to_dict()["history"]["since"] is None


def test_a_young_steady_store_has_no_anomalies() -> None:
    store = open_store("memory://")
    start = datetime(2026, 11, 27, 9, tzinfo=UTC)
    store.write([Call(id=new_call_id(), started_at=start + timedelta(days=d), model="gpt-4o", agent=agent,
                      cost_usd=Decimal(usd)) for d in range(7) for agent, usd in (("a", 10), ("b", 3))])  # fmt: skip
    report = anomalies(days=14, store=store, tz="UTC", now=start + timedelta(days=6, hours=5))
    # Before: the 8 days before Nov 27 were $0 days, so every day was flagged "new" against $0.00.
    assert report.anomalies == [] and report.history == 6


def test_demo_forecast_leaves_the_spike_out_and_says_so(demo: str) -> None:
    spend = daily_spend(demo)
    others = [spend[date(2026, 11, 30) + timedelta(days=i)] for i in range(6) if i != 4]
    t = forecast(store=demo, tz="UTC", now=NOW).total
    assert t.method == "mean_rate" and t.history_days == 6
    assert t.outliers == ((SPIKE, spend[SPIKE]),)
    assert abs(t.daily_rate - sum(others) / 5) < Decimal("0.000001")
    spiked_mean = sum(others, spend[SPIKE]) / 6
    assert t.daily_rate < spiked_mean / 2  # the mean with the spike was over twice the usual day
    assert t.month_to_date == sum((v for d, v in spend.items() if d >= date(2026, 12, 1)), Decimal(0))  # spent
    d = t.to_dict()
    assert d["outliers"] == [{"day": "2026-12-04", "spend_usd": d["outliers"][0]["spend_usd"]}]
    assert Decimal(d["outliers"][0]["spend_usd"]) == spend[SPIKE] and "2026-12-04" in d["note"]


def test_forecast_cli_names_the_spike_it_left_out(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = fill_demo_store(url, seed=7)
    spike = (result.since + timedelta(days=4)).date().isoformat()
    r = run("forecast", "--store", url, "--tz", "UTC")
    assert r.exit_code == 0, r.output
    assert f"spikes         {spike} ($" in r.stdout and "left out of the rate as a one-off spike" in r.stdout
    data = json.loads(run("forecast", "--store", url, "--tz", "UTC", "--format", "json").stdout)
    assert [o["day"] for o in data["total"]["outliers"]] == [spike]


@pytest.mark.parametrize("days", [7 + 30, 60, 90])
def test_one_spike_in_the_history_barely_moves_the_backtest(days: int) -> None:
    import random

    rng = random.Random(days)
    first = date(2026, 1, 5)
    values = [10 * (1 + rng.uniform(-0.05, 0.05)) for _ in range(days)]
    values[days - 33] *= 12  # a 12x day three days before the held-out month
    b = backtest(values, first, horizon=30)
    assert b.mape < 6 and abs(b.total_error) < 6  # with the spike in the mean: 36 % (60 d) to 157 % (7 d)


def test_frequent_spikes_are_the_pattern_and_stay() -> None:
    from tokentrail.analysis.forecast import fit_daily

    values = [10.0, 10.0, 40.0] * 3  # every third day: over a quarter of the days
    model = fit_daily(values, date(2026, 3, 2))
    assert model.outliers == () and model.a == pytest.approx(20.0)
    once = fit_daily([10.0] * 8 + [40.0], date(2026, 3, 2))
    assert once.outliers == (8,) and once.a == pytest.approx(10.0)
