"""Hard stops across processes: several processes racing on one shared store cannot jointly pass the limit."""

from __future__ import annotations

import multiprocessing
import random
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from tokentrail.budgets import BudgetSpec, budget_status, set_budget
from tokentrail.store import open_store

pytestmark = pytest.mark.slow


def _kinds() -> list[str]:
    kinds = ["jsonl", "postgres"]
    try:
        import tokentrail.store.sqlite  # noqa: F401

        kinds.insert(0, "sqlite")
    except ImportError:
        pass
    return kinds


def _attempt_calls(url: str, attempts: int, start: float) -> int:
    """One process: try `attempts` guarded $0.10 calls, record the allowed ones; return how many were allowed."""
    from tokentrail import BudgetExceededError, Tracker
    from tokentrail.budgets import engine_for
    from tokentrail.context import Scope
    from tokentrail.tracker import PendingCall

    tracker = Tracker(url, flush_interval=0.05)
    engine_for(tracker, refresh_interval=0)
    allowed = 0
    time.sleep(max(0.0, start - time.time()))
    for _ in range(attempts):
        pending = PendingCall("gpt-4o", "openai", 1000, 9750, Scope())
        try:
            tracker.check_guards(pending)
        except BudgetExceededError:
            continue
        time.sleep(random.uniform(0, 0.03))  # the provider answers
        tracker.record("gpt-4o", 1000, 9750, id=pending.call_id)  # exactly the estimate: $0.10
        allowed += 1
    engine_for(tracker).flush()
    tracker.close()
    return allowed


@pytest.mark.parametrize("kind", _kinds())
def test_processes_cannot_jointly_overshoot(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from conftest import make_store_url

    url = make_store_url(kind, tmp_path, request)
    set_budget(BudgetSpec.create("fleet", limit_usd=1, period="day", tz="UTC", enforce=True), store=url)
    ctx = multiprocessing.get_context("spawn")
    start = time.time() + 4  # every process is up and has opened the store by then
    with ctx.Pool(4) as pool:
        allowed = sum(pool.starmap(_attempt_calls, [(url, 8, start)] * 4))
    store = open_store(url)
    try:
        (status,) = budget_status("fleet", store=store, now=datetime.now(timezone.utc))
    finally:
        store.close()
    assert allowed == 10
    assert status.spent_usd == Decimal("1.0") and status.reserved_usd == 0
