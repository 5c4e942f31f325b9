"""`tt.rates()`: tokens/s and $/s over the last window, from the store, the same figures `watch` shows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tokentrail as tt
from tokentrail import Call, ValidationError
from tokentrail.analysis.rates import rates
from tokentrail.cli import build_app
from tokentrail.store import open_store

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


def call(n: int, seconds_ago: float, input_tokens: int, output_tokens: int, cost: str | None, **kw: str) -> Call:
    return Call(
        id=f"call-{n}", started_at=NOW - timedelta(seconds=seconds_ago), model="gpt-4o",
        input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=None if cost is None else Decimal(cost), **kw,
    )  # fmt: skip


CALLS = [
    call(1, 5, 1200, 300, "0.006", agent="a"),
    call(2, 30, 600, 0, "0.0015", agent="b"),
    call(3, 59.5, 200, 100, None, agent="a"),  # unpriced: counted in tokens, not in $
    call(4, 61, 10_000, 10_000, "1.00", agent="a"),  # before the window
    call(5, -1, 10_000, 10_000, "1.00", agent="a"),  # after `now`
]


def test_rates_over_the_window_on_every_store(store_url: str) -> None:
    store = open_store(store_url)
    try:
        store.write(CALLS)
        r = rates(60, store=store, now=NOW)
        assert (r.since, r.until, r.window_s) == (NOW - timedelta(seconds=60), NOW, 60.0)
        t = r.totals
        assert (t.calls, t.input_tokens, t.output_tokens, t.cost_usd, t.unpriced_calls) == (
            3, 2000, 400, Decimal("0.0075"), 1
        )  # fmt: skip
        assert (r.input_tokens_per_s, r.output_tokens_per_s, r.tokens_per_s) == (2000 / 60, 400 / 60, 2400 / 60)
        assert r.calls_per_s == 3 / 60
        assert r.cost_per_s == Decimal("0.000125") and r.cost_per_min == Decimal("0.0075")
        assert r.to_dict()["cost_per_s"] == "0.000125"
        only_a = rates(10, store=store, now=NOW, agent="a")
        assert (only_a.totals.calls, only_a.tokens_per_s) == (1, 150.0)
    finally:
        store.close()


def test_rates_of_this_process_are_live_on_the_default_tracker() -> None:
    tt.configure("memory://")
    try:
        assert tt.rates().totals.calls == 0
        tt.record("gpt-4o", 1000, 200)
        tt.record("gpt-4o", 500, 300)
        r = tt.rates(30)
        assert (r.totals.calls, r.totals.total_tokens, r.tokens_per_s) == (2, 2000, 2000 / 30)
        assert r.cost_per_s == r.totals.cost_usd / 30 > 0
    finally:
        tt.default_tracker().close()


def test_watch_shows_the_same_rates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'watch.db'}"
    now = datetime.now(timezone.utc)
    store = open_store(url)
    recent = [c.replace(started_at=now - timedelta(seconds=5)) for c in CALLS[:3]]  # well inside the 60 s
    store.write([*recent, CALLS[3].replace(started_at=now - timedelta(seconds=120))])
    expected = rates(60, store=store)
    store.close()
    args = ["watch", "--store", url, "--days", "1", "--iterations", "1", "--recent", "0"]
    out = CliRunner().invoke(build_app(), args)
    assert out.exit_code == 0, out.output
    assert f"{expected.tokens_per_s:,.1f}" == "40.0" and " 40.0 " in out.stdout
    assert expected.cost_per_min == Decimal("0.0075") and "$0.0075" in out.stdout  # the window's total is $1.0075


@pytest.mark.parametrize("bad", [0, -5, "60", float("nan")])
def test_a_bad_window_is_refused_by_name(bad: object) -> None:
    with pytest.raises(ValidationError, match=r"window_s=.* is not valid"):
        rates(bad, store="memory://")  # type: ignore[arg-type]
