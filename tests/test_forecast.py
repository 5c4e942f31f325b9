"""Forecasts on synthetic histories whose truth is known: backtests, short history, month end, what-ifs."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from tokentrail import Call
from tokentrail.analysis.forecast import backtest, fit_daily, forecast, parse_what_if
from tokentrail.errors import UnknownModelError, ValidationError
from tokentrail.model import new_call_id
from tokentrail.pricing import calculate_cost
from tokentrail.store import Store, open_store

UTC = timezone.utc
WEEKLY = (1.15, 1.2, 1.1, 1.1, 1.05, 0.7, 0.7)  # Monday..Sunday


def linear(n: int, rng: random.Random) -> list[float]:
    return [50 + 1.5 * i + rng.gauss(0, 2.5) for i in range(n)]


def seasonal(n: int, first: date, rng: random.Random) -> list[float]:
    return [(80 + 0.8 * i) * WEEKLY[(first + timedelta(days=i)).weekday()] * (1 + rng.gauss(0, 0.03)) for i in range(n)]


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


@pytest.fixture
def mem() -> Store:
    return open_store("memory://")


def fill(store: Store, first: date, values: list[float], *, hour: int = 12, **dims: object) -> None:
    """One call per day holding that day's spend."""
    store.write([Call(id=new_call_id(), started_at=datetime(d.year, d.month, d.day, hour, tzinfo=UTC),
                      model=str(dims.get("model", "gpt-4o")), cost_usd=Decimal(f"{v:.6f}"),
                      **{k: v for k, v in dims.items() if k != "model"})  # type: ignore[arg-type]
                 for i, v in enumerate(values) for d in [first + timedelta(days=i)]])  # fmt: skip


# -- the method on bare series ----------------------------------------------------------------------


def test_backtest_on_a_linear_series_is_within_10_percent() -> None:
    b = backtest(linear(90, random.Random(7)), date(2026, 1, 5))
    print(f"\nlinear: method={b.method} MAPE={b.mape:.2f}% total error={b.total_error:+.2f}% covered={b.covered}")
    assert b.method == "linear_trend" and b.mape < 10 and abs(b.total_error) < 10 and b.covered


def test_backtest_on_a_weekly_seasonal_series_is_within_10_percent() -> None:
    first = date(2026, 1, 5)
    b = backtest(seasonal(90, first, random.Random(11)), first)
    print(f"\nseasonal: method={b.method} MAPE={b.mape:.2f}% total error={b.total_error:+.2f}% covered={b.covered}")
    assert b.method == "seasonal_trend" and b.mape < 10 and abs(b.total_error) < 10 and b.covered
    # Without the weekday factors the same series does markedly worse.
    model = fit_daily(seasonal(60, first, random.Random(11)), first)
    assert model.factors is not None and model.factors[5] < 0.8 < 1.1 < model.factors[1]


def test_the_method_is_chosen_by_how_much_history_there_is() -> None:
    first = date(2026, 3, 2)
    assert fit_daily([], first).method == "no_data"
    assert fit_daily([], first, today_so_far=5, day_fraction=0.5).method == "today_run_rate"
    assert fit_daily([10.0] * 13, first).method == "mean_rate"
    assert fit_daily([10.0] * 14, first).method == "level"
    assert fit_daily([10.0 + i for i in range(20)], first).method == "linear_trend"


def test_interval_is_honest_about_noise() -> None:
    first = date(2026, 1, 5)
    rng = random.Random(3)
    covered = 0
    for _ in range(100):
        covered += backtest([100 + rng.gauss(0, 15) for _ in range(60)], first).covered
    assert 65 <= covered <= 95  # an 80 % interval, not a decoration


# -- forecasts from the store -----------------------------------------------------------------------


def test_three_days_at_ten_dollars_forecast_about_300_for_30_days(any_store: Store) -> None:
    fill(any_store, date(2026, 11, 19), [10, 10, 10])
    f = forecast(store=any_store, tz="UTC", now=datetime(2026, 11, 22, 0, 1, tzinfo=UTC))
    t = f.total
    assert (t.method, t.history_days) == ("mean_rate", 3)
    assert abs(t.next_total - 300) < Decimal("0.01")
    assert t.next_low < 250 and t.next_high > 350  # wide: three days say little
    assert t.daily_rate == Decimal(10)


def test_seasonal_history_in_the_store(any_store: Store) -> None:
    first = date(2026, 9, 21)  # a Monday, 8 weeks before Nov 16
    rng = random.Random(5)
    values = seasonal(56 + 1 + 30, first, rng)  # history, today, the next 30 days
    fill(any_store, first, values[:56])
    now = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
    f = forecast(store=any_store, tz="UTC", now=now)
    t = f.total
    assert t.method == "seasonal_trend" and t.weekday_factors is not None
    truth = sum(values[57:87])  # the 30 days from tomorrow
    assert abs(float(t.next_total) - truth) / truth < 0.10
    assert t.next_low < Decimal(str(truth)) < t.next_high
    assert t.daily[0].day == date(2026, 11, 17) and len(t.daily) == 30


def test_end_of_month_adds_actual_spend_to_the_forecast_for_the_rest(mem: Store) -> None:
    fill(mem, date(2026, 10, 21), [10.0] * 30)  # Oct 21 .. Nov 19
    mem.write([Call(id=new_call_id(), started_at=datetime(2026, 11, 20, 9, tzinfo=UTC), model="gpt-4o",
                    cost_usd=Decimal(5))])  # fmt: skip
    f = forecast(store=mem, tz="UTC", now=datetime(2026, 11, 20, 12, tzinfo=UTC))
    t = f.total
    assert t.method == "level" and t.month_to_date == Decimal(195)  # 19 days x $10 + $5 today
    assert t.end_of_month == Decimal(300)  # + half of today ($5) + Nov 21..30 ($100)
    assert t.eom_low <= t.end_of_month <= t.eom_high


def test_per_agent_forecasts(mem: Store) -> None:
    first = date(2026, 10, 1)
    fill(mem, first, [20.0] * 40, agent="router")
    fill(mem, first, [5.0 + 0.5 * i for i in range(40)], agent="coder")
    f = forecast(by="agent", store=mem, tz="UTC", now=datetime(2026, 11, 10, 1, tzinfo=UTC))
    assert [g.key for g in f.groups] == [("coder",), ("router",)]
    coder, router = f.groups
    assert coder.method == "linear_trend" and router.method == "level"
    assert abs(router.next_total - 600) < 1
    expected = sum(5 + 0.5 * i for i in range(41, 71))  # days 41..70 of the coder's line
    assert abs(float(coder.next_total) - expected) / expected < 0.01
    assert abs(f.total.next_total - (coder.next_total + router.next_total)) / f.total.next_total < Decimal("0.02")
    json.dumps(f.to_dict())  # JSON-ready


def test_no_data_and_today_only(mem: Store) -> None:
    now = datetime(2026, 11, 22, 6, tzinfo=UTC)
    assert forecast(store=mem, tz="UTC", now=now).total.next_total == 0
    mem.write([Call(id=new_call_id(), started_at=now - timedelta(hours=3), model="gpt-4o", cost_usd=Decimal(1))])
    t = forecast(store=mem, tz="UTC", now=now, days=10).total
    assert t.method == "today_run_rate" and t.next_total == Decimal(40)  # $1 in 6 hours = $4/day


# -- what-ifs ---------------------------------------------------------------------------------------


def test_growth_scales_the_future_not_the_past(mem: Store) -> None:
    fill(mem, date(2026, 10, 1), [10.0] * 40)
    now = datetime(2026, 11, 10, 0, 0, tzinfo=UTC)
    f = forecast(store=mem, tz="UTC", now=now, what_if="growth=20%")
    assert f.scenario is not None
    assert f.scenario.line.next_total == f.total.next_total * Decimal("1.2")
    assert f.scenario.line.month_to_date == f.total.month_to_date == Decimal(90)
    assert f.scenario.delta_end_of_month == Decimal(42)  # 21 days left x $10 x 20 %
    assert parse_what_if("growth=-10%").growth == pytest.approx(-0.1)


def _priced_calls(store: Store, first: date, days: int, per_day: int, model: str, agent: str) -> None:
    cost = calculate_cost(model, 10_000, 800, cache_read_tokens=6_000, cache_write_tokens=1_000).total
    base = datetime(first.year, first.month, first.day, 10, tzinfo=UTC)
    store.write([Call(id=new_call_id(), started_at=base + timedelta(days=i, minutes=k), model=model,
                      input_tokens=10_000, output_tokens=800, cache_read_tokens=6_000, cache_write_tokens=1_000,
                      cost_usd=cost, agent=agent)
                 for i in range(days) for k in range(per_day)])  # fmt: skip


def test_moving_a_model_reprices_stored_tokens_with_cache_effects(mem: Store) -> None:
    first = date(2026, 10, 1)
    _priced_calls(mem, first, 40, 3, "gpt-4o", "support")
    _priced_calls(mem, first, 40, 2, "claude-3-5-haiku", "search")
    now = datetime(2026, 11, 10, 0, 0, tzinfo=UTC)
    f = forecast(store=mem, tz="UTC", now=now, what_if="move:model=gpt-4o->gpt-4o-mini")
    s = f.scenario
    assert s is not None
    big = calculate_cost("gpt-4o", 10_000, 800, cache_read_tokens=6_000, cache_write_tokens=1_000).total
    mini = calculate_cost("gpt-4o-mini", 10_000, 800, cache_read_tokens=6_000, cache_write_tokens=1_000).total
    other = calculate_cost("claude-3-5-haiku", 10_000, 800, cache_read_tokens=6_000, cache_write_tokens=1_000).total
    assert s.line.daily_rate == (3 * mini + 2 * other).quantize(Decimal("0.000001"))
    assert abs(s.delta_next - 30 * 3 * (mini - big)) < Decimal("0.0001")
    assert s.moved_share == pytest.approx(float(3 * big / (3 * big + 2 * other)))
    assert "cache" in s.note
    # Moving an agent's traffic moves only that agent's calls.
    g = forecast(store=mem, tz="UTC", now=now, what_if="move:agent=search->gpt-4o-mini").scenario
    assert g is not None and abs(g.delta_next - 30 * 2 * (mini - other)) < Decimal("0.0001")


def test_what_if_and_argument_errors(mem: Store) -> None:
    fill(mem, date(2026, 10, 1), [10.0] * 5)
    with pytest.raises(ValidationError, match="what_if='shrink'"):
        parse_what_if("shrink")
    with pytest.raises(ValidationError, match="dimension='colour'"):
        parse_what_if("move:colour=red->gpt-4o")
    with pytest.raises(UnknownModelError, match="no-such-model"):
        forecast(store=mem, tz="UTC", what_if="move:model=gpt-4o->no-such-model",
                 now=datetime(2026, 10, 7, tzinfo=UTC))  # fmt: skip
    with pytest.raises(ValidationError, match="days=0"):
        forecast(store=mem, days=0)


@pytest.mark.parametrize("maker", [linear, lambda n, rng: seasonal(n, date(2026, 1, 5), rng)])
def test_backtest_is_stable_across_seeds(maker: Callable[[int, random.Random], list[float]]) -> None:
    mapes = [backtest(maker(90, random.Random(seed)), date(2026, 1, 5)).mape for seed in range(20)]
    assert max(mapes) < 10 and not any(math.isnan(m) for m in mapes)
