"""Budgets: definitions, periods, status, thresholds that fire exactly once, and hard stops with threads."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tokentrail import BudgetExceededError, Call, Tracker
from tokentrail.alerts import Alert, alert_manager
from tokentrail.budgets import (
    BudgetRefusedError,
    BudgetSpec,
    budget,
    budget_status,
    engine_for,
    list_budgets,
    load_budgets,
    parse_scope,
    period_window,
    remove_budget,
)
from tokentrail.context import Scope
from tokentrail.errors import ConfigError, ValidationError
from tokentrail.model import new_call_id
from tokentrail.store import Store, open_store
from tokentrail.tracker import PendingCall

UTC = timezone.utc
NOV_22 = datetime(2026, 11, 22, 12, tzinfo=UTC)


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _kinds() -> list[str]:
    kinds = ["memory", "jsonl", "postgres"]
    try:
        import tokentrail.store.sqlite  # noqa: F401

        kinds.insert(1, "sqlite")
    except ImportError:
        pass
    return kinds


@pytest.fixture(params=_kinds())
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    from conftest import make_store_url

    s = open_store(make_store_url(request.param, tmp_path, request))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def mem() -> Store:
    return open_store("memory://")


def spend(store: Store, when: datetime, usd: str, n: int = 1, **dims: object) -> None:
    """Write `n` calls of `usd` each at `when` straight to the store."""
    store.write([Call(id=new_call_id(), started_at=when, model=str(dims.pop("model", "gpt-4o")), input_tokens=100,
                      output_tokens=10, cost_usd=Decimal(usd), **dims) for _ in range(n)])  # type: ignore[arg-type]  # fmt: skip


def make_tracker(store: Store, clock: Clock) -> tuple[Tracker, list[Alert]]:
    tracker = Tracker(store, flush_interval=0.05)
    engine_for(tracker, clock=clock, refresh_interval=0)
    got: list[Alert] = []
    alert_manager(tracker, clock=clock).add_channel(got.append)
    return tracker, got


def pending(model: str = "gpt-4o", input_tokens: int = 1000, max_out: int | None = 9750, **scope: str) -> PendingCall:
    return PendingCall(model, "openai", input_tokens, max_out, Scope(**scope))  # 1000 + 9750 on gpt-4o = $0.10


# -- definitions ------------------------------------------------------------------------------------


def test_scope_accepts_every_documented_form() -> None:
    assert parse_scope(None) == parse_scope("all") == ()
    assert parse_scope({"agent": "x"}) == parse_scope("agent=x") == parse_scope("agent:x") == (("agent", "x"),)
    assert parse_scope("label:team=search") == (("label:team", "search"),)
    assert parse_scope({"labels": {"team": "search"}, "user": "u1"}) == (("label:team", "search"), ("user", "u1"))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit_usd": -1}, "limit_usd"),
        ({"limit_usd": "abc"}, "limit_usd"),
        ({"limit_usd": 1, "period": "fortnight"}, "period"),
        ({"limit_usd": 1, "scope": "colour=red"}, "colour"),
        ({"limit_usd": 1, "thresholds": (0,)}, "thresholds"),
        ({"limit_usd": 1, "tz": "Mars/Olympus"}, "Mars/Olympus"),
        ({}, "no limit"),
    ],
)
def test_bad_definitions_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        BudgetSpec.create("b", **kwargs)  # type: ignore[arg-type]


def test_spec_round_trips_through_json() -> None:
    spec = BudgetSpec.create("team", limit_usd="12.50", limit_tokens=10**6, period="7d", scope="label:team=search",
                             tz="Europe/Paris", thresholds=("50%", 0.9), enforce=True)  # fmt: skip
    assert BudgetSpec.from_json(spec.to_json()) == spec
    assert spec.thresholds == (0.5, 0.9) and spec.rolling_days == 7


def test_calendar_periods_roll_over_at_local_midnight_across_dst() -> None:
    paris = ZoneInfo("Europe/Paris")
    day = BudgetSpec.create("d", limit_usd=1, period="day", tz="Europe/Paris")
    # 2026-10-25 is 25 hours long in Paris (summer time ends).
    w = period_window(day, datetime(2026, 10, 25, 12, tzinfo=UTC))
    assert w.key == "day:2026-10-25" and w.end is not None and w.start is not None
    assert w.end.astimezone(UTC) - w.start.astimezone(UTC) == timedelta(hours=25)
    assert w.start == datetime(2026, 10, 25, tzinfo=paris)
    # 23:30 UTC on the 31st is already December 1st in Paris.
    month = BudgetSpec.create("m", limit_usd=1, period="month", tz="Europe/Paris")
    assert period_window(month, datetime(2026, 11, 30, 23, 30, tzinfo=UTC)).key == "month:2026-12"
    week = BudgetSpec.create("w", limit_usd=1, period="week", tz="UTC")
    assert period_window(week, NOV_22).key == "week:2026-11-16"  # Sunday 22nd belongs to the week of Monday 16th
    rolling = period_window(BudgetSpec.create("r", limit_usd=1, period="rolling:7d", tz="UTC"), NOV_22)
    assert (rolling.key, rolling.start, rolling.end) == ("rolling", NOV_22 - timedelta(days=7), NOV_22)
    assert period_window(BudgetSpec.create("s", limit_usd=1, period="session"), NOV_22, "abc").key == "session:abc"


# -- status -----------------------------------------------------------------------------------------


def test_status_gives_spent_remaining_projection_and_run_out_date(shared_store: Store) -> None:
    for day in range(1, 11):  # $4/day from Nov 1 to Nov 10
        spend(shared_store, datetime(2026, 11, day, 9, tzinfo=UTC), "2", n=2)
    spend(shared_store, datetime(2026, 10, 31, 9, tzinfo=UTC), "50")  # last month: not counted
    spend(shared_store, datetime(2026, 11, 5, 9, tzinfo=UTC), "7", agent="other")  # out of scope
    tracker = Tracker(shared_store)
    engine_for(tracker, refresh_interval=0)
    b = budget("monthly", limit_usd=100, period="month", tz="UTC", tracker=tracker)
    scoped = budget("support", limit_usd=100, period="month", tz="UTC", scope="agent=other", tracker=tracker)
    now = datetime(2026, 11, 11, tzinfo=UTC)
    s = b.status(now=now)
    assert s.spent_usd == Decimal(47) and s.remaining_usd == Decimal(53) and s.percent == 47.0
    assert s.calls == 21 and s.period_key == "month:2026-11"
    # $47 over 10 days, 20 days left: 47 + 4.7 * 20 = 141; $53 left at $4.70/day runs out in ~11.28 days.
    assert s.projected_usd == Decimal("141.000000")
    assert s.runs_out_at is not None and abs(s.runs_out_at - (now + timedelta(days=53 / 4.7))) < timedelta(seconds=1)
    assert scoped.status(now=now).spent_usd == Decimal(7)
    assert scoped.status(now=now).runs_out_at is None  # $7 in 10 days will not reach $100 this month
    d = s.to_dict()
    assert (
        Decimal(d["spent_usd"]) == 47
        and Decimal(d["remaining_usd"]) == 53
        and d["runs_out_at"].startswith("2026-11-22")
    )
    # money as canonical text: plain digits, 6 places at least, never an exponent (str(Decimal) gives "0E-8")
    assert (d["spent_usd"], d["remaining_usd"], d["projected_usd"]) == ("47.000000", "53.000000", "141.000000")
    assert d["reserved_usd"] == "0.000000"
    tracker.close()


def test_a_limit_far_beyond_the_spend_rate_never_runs_out(mem: Store) -> None:
    # $1 a week against limits so large that "when it runs out" is past year 9999: no date, and no error.
    spend(mem, datetime(2026, 11, 10, 9, tzinfo=UTC), "1")
    tracker = Tracker(mem)
    now = datetime(2026, 11, 11, tzinfo=UTC)
    for period in ("month", "7d"):
        b = budget(f"huge-{period}", limit_usd="1e12", period=period, tz="UTC", tracker=tracker)
        s = b.status(now=now)
        assert s.spent_usd == 1 and s.runs_out_at is None and s.to_dict()["runs_out_at"] is None
    tracker.close()


def test_store_level_helpers_list_status_and_remove(mem: Store) -> None:
    spec = BudgetSpec.create("cli", limit_tokens=1000, period="day", tz="UTC")
    from tokentrail.budgets import set_budget

    set_budget(spec, store=mem)
    spend(mem, NOV_22, "0.01")  # 110 tokens
    assert [s.name for s in list_budgets(store=mem)] == ["cli"]
    (status,) = budget_status("cli", store=mem, now=NOV_22)
    assert status.spent_tokens == 110 and status.remaining_tokens == 890 and status.percent == 11.0
    with pytest.raises(ValidationError, match="no budget named 'nope'"):
        budget_status("nope", store=mem)
    assert remove_budget("cli", store=mem) and list_budgets(store=mem) == []


# -- thresholds -------------------------------------------------------------------------------------


def test_thresholds_fire_exactly_once_per_period_and_again_after_rollover(shared_store: Store) -> None:
    clock = Clock(datetime(2026, 11, 20, 12, tzinfo=UTC))
    tracker, got = make_tracker(shared_store, clock)
    engine = engine_for(tracker)
    budget("monthly", limit_usd=10, period="month", tz="UTC", tracker=tracker)

    def record(usd: str) -> None:
        tracker.record("gpt-4o", 10, 10, cost_usd=usd, started_at=clock.now)
        assert engine.flush(10)

    record("4")  # 40 %: nothing
    assert got == []
    record("1.5")  # 55 %: 50 %
    record("1")  # 65 %: nothing new
    record("2")  # 85 %: 80 %
    record("3")  # 115 %: 100 %
    record("1")  # still over: nothing new
    assert [a.key for a in got] == ["month:2026-11|50%", "month:2026-11|80%", "month:2026-11|100%"]
    assert got[2].severity == "critical" and "'monthly' reached 100%" in got[2].title

    # Another process (another tracker on the same store) sees the thresholds as fired.
    other, other_got = make_tracker(shared_store, clock)
    budget("monthly", limit_usd=10, period="month", tz="UTC", tracker=other)
    other.record("gpt-4o", 10, 10, cost_usd="0.5", started_at=clock.now)
    assert engine_for(other).flush(10)
    assert engine_for(other).check_thresholds() == [] and other_got == []

    # December: a new period, every threshold armed again.
    clock.now = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    record("6")
    assert [a.key for a in got[3:]] == ["month:2026-12|50%"]
    assert len(got) == 4
    tracker.close()
    other.close()


def test_threshold_race_between_processes_fires_once(mem: Store) -> None:
    clock = Clock(NOV_22)
    trackers = [make_tracker(mem, clock) for _ in range(4)]
    for t, _ in trackers:
        budget("daily", limit_usd=1, period="day", tz="UTC", tracker=t)
    spend(mem, NOV_22, "0.9")
    barrier = threading.Barrier(len(trackers))

    def check(t: Tracker) -> None:
        barrier.wait()
        engine_for(t).check_thresholds()

    threads = [threading.Thread(target=check, args=(t,)) for t, _ in trackers]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for t, _ in trackers:
        engine_for(t).flush()
    assert sorted(a.key for _, got in trackers for a in got) == ["day:2026-11-22|50%", "day:2026-11-22|80%"]


def test_thresholds_are_per_scope_and_per_session(mem: Store) -> None:
    clock = Clock(NOV_22)
    tracker, got = make_tracker(mem, clock)
    engine = engine_for(tracker)
    budget("support", limit_usd=1, period="day", tz="UTC", scope={"agent": "support"}, thresholds=(1.0,),
           tracker=tracker)  # fmt: skip
    budget("search", limit_usd=1, period="day", tz="UTC", scope="agent=search", thresholds=(1.0,), tracker=tracker)
    budget("per-session", limit_usd=2, period="session", thresholds=(0.5,), tracker=tracker)
    tracker.record("gpt-4o", 1, 1, cost_usd="1.2", agent="support", session="s1", started_at=NOV_22)
    tracker.record("gpt-4o", 1, 1, cost_usd="0.3", agent="search", session="s2", started_at=NOV_22)
    assert engine.flush()
    assert sorted(a.rule for a in got) == ["budget:per-session", "budget:support"]
    assert [a.key for a in got if a.rule == "budget:per-session"] == ["session:s1|50%"]
    tracker.record("gpt-4o", 1, 1, cost_usd="0.8", agent="search", session="s2", started_at=NOV_22)
    assert engine.flush()
    assert sorted(a.key for a in got[2:]) == ["day:2026-11-22|100%", "session:s2|50%"]
    statuses = budget_status("per-session", store=mem, now=NOV_22)
    assert [(s.session, s.spent_usd) for s in statuses] == [("s1", Decimal("1.2")), ("s2", Decimal("1.1"))]


def test_rolling_budget_rearms_when_spend_falls_back(mem: Store) -> None:
    clock = Clock(NOV_22)
    tracker, got = make_tracker(mem, clock)
    budget("week", limit_usd=10, period="7d", tz="UTC", thresholds=(0.5,), tracker=tracker)
    tracker.record("gpt-4o", 1, 1, cost_usd="6", started_at=NOV_22)
    assert engine_for(tracker).flush()
    assert len(got) == 1
    clock.now = NOV_22 + timedelta(days=8)  # the $6 left the window
    engine_for(tracker).check_thresholds()
    tracker.record("gpt-4o", 1, 1, cost_usd="5", started_at=clock.now)
    assert engine_for(tracker).flush()
    assert [a.key for a in got] == ["rolling|50%", "rolling|50%"]


# -- hard stops -------------------------------------------------------------------------------------


def test_hard_stop_refuses_before_sending_and_names_the_numbers(shared_store: Store) -> None:
    clock = Clock(NOV_22)
    tracker, _ = make_tracker(shared_store, clock)
    budget("cap", limit_usd=1, period="day", tz="UTC", scope="agent=bot", enforce=True, tracker=tracker)
    spend(shared_store, NOV_22 - timedelta(hours=1), "0.95", agent="bot")
    tracker.check_guards(pending(agent="other"))  # out of scope: allowed
    with pytest.raises(BudgetExceededError) as info:
        tracker.check_guards(pending(agent="bot"))
    err = info.value
    assert isinstance(err, BudgetRefusedError)
    assert (err.budget, err.spent_usd, err.limit_usd, err.estimated_usd) == ("cap", Decimal("0.95"), Decimal(1),
                                                                             Decimal("0.1"))  # fmt: skip
    text = str(err)
    assert "'cap'" in text and "$0.95" in text and "$1.00" in text and "$0.10" in text and "before it was sent" in text
    # A smaller call still fits: 1000 input + 1000 output = $0.0125.
    tracker.check_guards(pending(max_out=1000, agent="bot"))
    tracker.close()


def test_hard_stop_without_max_tokens_assumes_the_documented_default(mem: Store) -> None:
    from tokentrail.budgets import DEFAULT_OUTPUT_TOKENS

    tracker, _ = make_tracker(mem, Clock(NOV_22))
    budget("tokens", limit_tokens=5000, period="day", tz="UTC", enforce=True, tracker=tracker)
    with pytest.raises(BudgetRefusedError, match=f"{DEFAULT_OUTPUT_TOKENS:,} assumed") as info:
        tracker.check_guards(pending(max_out=None))
    assert info.value.estimated_tokens == 1000 + DEFAULT_OUTPUT_TOKENS
    tracker.check_guards(pending(max_out=3000))


def test_reservations_count_until_the_call_is_stored(mem: Store) -> None:
    tracker, _ = make_tracker(mem, Clock(NOV_22))
    budget("cap", limit_usd="0.25", period="day", tz="UTC", enforce=True, tracker=tracker)
    first = pending()
    tracker.check_guards(first)
    tracker.check_guards(pending())
    (status,) = budget_status("cap", store=mem, now=NOV_22)
    assert status.reserved_usd == Decimal("0.2") and status.spent_usd == 0
    with pytest.raises(BudgetRefusedError, match=r"\$0.20 in flight"):
        tracker.check_guards(pending())
    # Cheaper than reserved; recorded with the pending call's id, it releases that call's reservation.
    tracker.record("gpt-4o", 1000, 2000, started_at=NOV_22, id=first.call_id)
    assert engine_for(tracker).flush()
    (status,) = budget_status("cap", store=mem, now=NOV_22)
    assert status.reserved_usd == Decimal("0.1") and status.spent_usd == Decimal("0.0225")
    tracker.check_guards(pending())  # 0.0225 + 0.1 held + 0.1 <= 0.25


def test_expired_reservations_stop_counting(mem: Store) -> None:
    clock = Clock(NOV_22)
    tracker, _ = make_tracker(mem, clock)
    engine_for(tracker, reservation_ttl=timedelta(minutes=5))
    budget("cap", limit_usd="0.15", period="day", tz="UTC", enforce=True, tracker=tracker)
    tracker.check_guards(pending())  # never recorded (say the process died)
    with pytest.raises(BudgetRefusedError):
        tracker.check_guards(pending())
    clock.now += timedelta(minutes=6)
    tracker.check_guards(pending())


def test_threads_cannot_jointly_overshoot(shared_store: Store) -> None:
    clock = Clock(NOV_22)
    tracker, _ = make_tracker(shared_store, clock)
    budget("cap", limit_usd=1, period="day", tz="UTC", enforce=True, tracker=tracker)
    allowed, refused = [], []
    barrier = threading.Barrier(12)

    def worker() -> None:
        barrier.wait()
        for _ in range(4):
            p = pending()
            try:
                tracker.check_guards(p)
            except BudgetExceededError:
                refused.append(1)
                continue
            time.sleep(random.uniform(0, 0.02))  # the provider answers
            tracker.record("gpt-4o", 1000, 9750, started_at=clock.now, id=p.call_id)  # exactly the estimate: $0.10
            allowed.append(1)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert engine_for(tracker).flush()
    (status,) = budget_status("cap", store=shared_store, now=clock.now)
    assert len(allowed) == 10 and len(refused) == 38
    assert status.spent_usd == Decimal("1.0") and status.reserved_usd == 0
    tracker.close()


def test_unpriced_model_is_allowed_until_the_limit_is_reached(mem: Store) -> None:
    tracker, _ = make_tracker(mem, Clock(NOV_22))
    budget("cap", limit_usd=1, period="day", tz="UTC", enforce=True, tracker=tracker)
    tracker.check_guards(pending(model="no-such-model-anywhere"))
    spend(mem, NOV_22, "1")
    with pytest.raises(BudgetRefusedError, match=r"\$1.00"):
        tracker.check_guards(pending(model="no-such-model-anywhere"))


def test_removing_a_budget_stops_enforcing_it(mem: Store) -> None:
    tracker, _ = make_tracker(mem, Clock(NOV_22))
    b = budget("cap", limit_usd="0.05", period="day", tz="UTC", enforce=True, tracker=tracker)
    with pytest.raises(BudgetRefusedError):
        tracker.check_guards(pending())
    assert b.remove()
    tracker.check_guards(pending())


# -- config -----------------------------------------------------------------------------------------


def test_load_budgets_from_config_tables(mem: Store) -> None:
    tracker = Tracker(mem)
    loaded = load_budgets({
        "monthly": {"limit_usd": 500, "period": "month", "tz": "UTC"},
        "search-team": {"limit_usd": "50", "period": "week", "scope": "label:team=search", "thresholds": ["80%", 1.0],
                        "enforce": True, "tz": "UTC"},
    }, tracker=tracker)  # fmt: skip
    assert [b.name for b in loaded] == ["monthly", "search-team"]
    assert [s.name for s in list_budgets(store=mem)] == ["monthly", "search-team"]
    assert list_budgets(store=mem)[1].thresholds == (0.8, 1.0)
    with pytest.raises(ConfigError, match=r"\[budgets.bad\]: unknown key\(s\) limit"):
        load_budgets({"bad": {"limit": 5}}, tracker=tracker)
    with pytest.raises(ConfigError, match=r"\[budgets.bad\]: period='yearly'"):
        load_budgets({"bad": {"limit_usd": 5, "period": "yearly"}}, tracker=tracker)
