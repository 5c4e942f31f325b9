"""A budget reservation is settled by its own call only (issue 12, item 7), through the real `openai` SDK.

A long call holds its estimate while in flight; a short call of the same model that finishes first used to
release the long call's hold instead of its own, so a second long call got in and $1.20 was spent against an
enforced $1.00. Every store kind, because reservations live in the store's metadata.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from openai import OpenAI

import tokentrail as tt
from providers.helpers import _no_patches_left, _server, server
from providers.server import FakeProvider, Reply, Request, fixture_json
from tokentrail import Tracker
from tokentrail.budgets import BudgetRefusedError, budget, budget_status, engine_for
from tokentrail.capture import instrument
from tokentrail.store.base import Filter

__all__ = ["_no_patches_left", "_server", "server"]  # pytest fixtures, imported

MESSAGES = [{"role": "user", "content": "Summarise the attached report."}]
LONG, SHORT = 60_000, 1_000
"""Output limits: a long call is estimated at ~$0.60 on gpt-4o ($10/MTok output), a short one at ~$0.01."""


@pytest.fixture
def tracker(store_url: str) -> Iterator[Tracker]:
    t = Tracker(store_url, display=False)
    try:
        engine_for(t, refresh_interval=0)
        budget("cap", limit_usd="1.00", period="day", tz="UTC", enforce=True, tracker=t)
        yield t
        assert t.flush()
        assert t.health.internal_errors == 0, t.health.last_error
    finally:
        t.close()


@pytest.fixture
def client(server: FakeProvider, tracker: Tracker) -> Iterator[Any]:
    with OpenAI(api_key="sk-test-secret", base_url=server.url + "/v1", max_retries=0) as c:
        yield instrument(c, tracker=tracker, provider="openai")


def _uses_its_limit(hold: threading.Event | None = None, *, slow: float = 0.0) -> Any:
    """Answer with a completion that used every output token the request allowed (the worst case the
    estimate covers); the first long request waits for `hold` (it is in flight meanwhile), every long one
    takes `slow` seconds."""
    held: list[bool] = []
    ids = itertools.count()

    def answer(request: Request) -> Reply:
        limit = request.body["max_tokens"]
        if hold is not None and limit == LONG and not held:
            held.append(True)
            assert hold.wait(30)
        if limit == LONG:
            time.sleep(slow)
        body = {**fixture_json("openai_chat.json"), "id": f"chatcmpl-{next(ids)}"}  # one stored call each
        body["usage"] = {"prompt_tokens": 50, "completion_tokens": limit, "total_tokens": 50 + limit}
        return Reply.json(body)

    return answer


def _spent(tracker: Tracker) -> Decimal:
    assert tracker.flush()
    return sum((c.cost_usd for c in tracker.store.calls(Filter())), Decimal(0))


def _wait_for_requests(server: FakeProvider, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(server.requests) < n:
        assert time.monotonic() < deadline, f"the provider saw {len(server.requests)} request(s), expected {n}"
        time.sleep(0.005)


def test_a_short_call_finishing_first_does_not_release_a_long_calls_hold(
    client: OpenAI, server: FakeProvider, tracker: Tracker
) -> None:
    hold = threading.Event()
    server.always(_uses_its_limit(hold))
    errors: list[BaseException] = []

    def long_call() -> None:
        try:
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=LONG)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    first = threading.Thread(target=long_call)
    first.start()
    try:
        _wait_for_requests(server, 1)  # the long call holds ~$0.60 and is in flight
        for _ in range(3):  # short calls of the same model finish and are written meanwhile
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=SHORT)
        assert tracker.flush()
        (status,) = budget_status("cap", store=tracker.store)
        assert Decimal("0.60") < status.reserved_usd < Decimal("0.61")  # still the long call's hold
        # A second long call does not fit beside the first one in flight: refused, never sent.
        with pytest.raises(BudgetRefusedError) as info:
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=LONG)
        assert info.value.budget == "cap" and len(server.requests) == 4
    finally:
        hold.set()
        first.join(30)
    assert errors == []
    spent = _spent(tracker)
    assert Decimal("0.63") < spent <= Decimal("1.00")  # one long call and three short ones
    (status,) = budget_status("cap", store=tracker.store)
    assert status.reserved_usd == 0 and status.spent_usd == spent and status.calls == 4


def test_concurrent_calls_of_one_model_never_spend_past_an_enforced_limit(
    client: OpenAI, server: FakeProvider, tracker: Tracker
) -> None:
    server.always(_uses_its_limit(slow=0.1))
    limits = [LONG, SHORT, SHORT, LONG, SHORT, LONG, SHORT, SHORT] * 2
    refused: list[int] = []
    lock = threading.Lock()

    def worker(mine: list[int]) -> None:
        for limit in mine:
            try:
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=limit)
            except BudgetRefusedError:
                with lock:
                    refused.append(limit)

    threads = [threading.Thread(target=worker, args=(limits[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    spent = _spent(tracker)
    assert spent <= Decimal("1.00"), f"spent ${spent} against an enforced $1.00"
    assert len(server.requests) + len(refused) == len(limits)
    assert refused, "the limit was never reached: the test proves nothing"
    (status,) = budget_status("cap", store=tracker.store)
    assert status.reserved_usd == 0


def test_a_failed_call_releases_its_own_reservation(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json({"error": {"message": "overloaded"}}, status=529))
    with pytest.raises(Exception, match="overloaded"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=LONG)
    assert tracker.flush()
    (status,) = budget_status("cap", store=tracker.store)
    assert status.reserved_usd == 0 and status.calls == 1  # recorded as failed, its hold gone
    (failed,) = tracker.store.calls(Filter())
    assert failed.success is False


def test_a_call_capture_leaves_unrecorded_releases_its_reservation(
    client: OpenAI, server: FakeProvider, tracker: Tracker
) -> None:
    server.queue(Reply.json(fixture_json("openai_chat.json")))
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES, max_tokens=LONG
    ) as response:
        assert response.status_code == 200
    (status,) = budget_status("cap", store=tracker.store)
    assert status.reserved_usd == 0 and status.calls == 0


def test_a_recorded_call_of_the_same_model_leaves_an_in_flight_hold_alone(
    client: OpenAI, server: FakeProvider, tracker: Tracker
) -> None:
    hold = threading.Event()
    server.always(_uses_its_limit(hold))
    thread = threading.Thread(
        target=lambda: client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=LONG)
    )
    thread.start()
    try:
        _wait_for_requests(server, 1)
        with tt.context(agent="batch-import"):
            tracker.record("gpt-4o", 50, LONG)  # recorded by hand, the same model and size
        assert tracker.flush()
        (status,) = budget_status("cap", store=tracker.store)
        assert Decimal("0.60") < status.reserved_usd < Decimal("0.61")
    finally:
        hold.set()
        thread.join(30)
    assert tracker.flush()
    (status,) = budget_status("cap", store=tracker.store)
    assert status.reserved_usd == 0 and status.calls == 2
