"""A hard stop through the real `openai` SDK: the refused request never reaches the (loopback) provider."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from openai import OpenAI

import tokentrail as tt
from providers.helpers import _no_patches_left, _server, calls, server, tracker
from providers.server import FakeProvider, Reply, fixture_json
from tokentrail import BudgetExceededError, Call, Tracker
from tokentrail.budgets import BudgetRefusedError, budget, budget_status, engine_for
from tokentrail.capture import instrument
from tokentrail.model import new_call_id

__all__ = ["_no_patches_left", "_server", "server", "tracker"]  # pytest fixtures, imported

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def client(server: FakeProvider, tracker: Tracker) -> Any:
    with OpenAI(api_key="sk-test-secret", base_url=server.url + "/v1", max_retries=0) as c:
        yield instrument(c, tracker=tracker, provider="openai")


def test_enforced_budget_stops_the_sdk_call_before_any_request(client: OpenAI, server: FakeProvider,
                                                               tracker: Tracker) -> None:  # fmt: skip
    engine_for(tracker, refresh_interval=0)
    budget("spender-daily", limit_usd="0.01", period="day", tz="UTC", scope={"agent": "spender"}, enforce=True,
           tracker=tracker)  # fmt: skip
    tracker.store.write([Call(id=new_call_id(), started_at=datetime.now(timezone.utc), model="gpt-4o",
                              agent="spender", cost_usd=Decimal("0.009"))])  # fmt: skip

    with tt.context(agent="spender"), pytest.raises(BudgetExceededError) as info:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=500)
    assert server.requests == []  # the provider never saw it
    err = info.value
    assert isinstance(err, BudgetRefusedError) and err.budget == "spender-daily"
    assert err.spent_usd == Decimal("0.009") and err.limit_usd == Decimal("0.01")
    assert Decimal("0.005") < err.estimated_usd < Decimal("0.0052")  # ~20 prompt tokens + 500 output on gpt-4o
    assert "'spender-daily'" in str(err) and "$0.009" in str(err) and "500 output tokens" in str(err)

    # Another agent is not in the budget's scope: its call goes through and is recorded.
    server.queue(Reply.json(fixture_json("openai_chat.json")))
    with tt.context(agent="other"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=500)
    assert len(server.requests) == 1 and calls(tracker)[-1].agent == "other"


def test_allowed_sdk_call_holds_then_releases_its_reservation(client: OpenAI, server: FakeProvider,
                                                              tracker: Tracker) -> None:  # fmt: skip
    engine_for(tracker, refresh_interval=0)
    budget("all", limit_usd=1, period="day", tz="UTC", enforce=True, tracker=tracker)
    server.queue(Reply.json(fixture_json("openai_chat.json")))
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=100)
    assert engine_for(tracker).flush()
    (status,) = budget_status("all", store=tracker.store)
    assert status.reserved_usd == 0 and status.spent_usd == calls(tracker)[0].cost_usd and status.calls == 1


def test_a_finished_call_waiting_to_be_written_is_not_in_flight(server: FakeProvider) -> None:
    # The writer waits a minute between batches, so a finished call sits in its queue, not yet in the store.
    tracker = Tracker("memory://", flush_interval=60, display=False)
    try:
        engine_for(tracker, refresh_interval=0)
        budget("cap", limit_usd="0.05", period="day", tz="UTC", enforce=True, tracker=tracker)
        with OpenAI(api_key="sk-test-secret", base_url=server.url + "/v1", max_retries=0) as raw:
            client = instrument(raw, tracker=tracker, provider="openai")
            server.queue(*(Reply.json({**fixture_json("openai_chat.json"), "id": f"chatcmpl-{i}"}) for i in (1, 2)))
            # Each call is estimated at ~20 prompt tokens + 4,000 output on gpt-4o: ~$0.04005, so two estimates
            # pass $0.05. The first really cost $0.005615 (2,006 input, 1,920 of them cached, + 300 output).
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=4000)
            first = Decimal("0.000215") + Decimal("0.0024") + Decimal("0.003")
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=4000)  # fits: 0.0056 + 0.04
            assert len(server.requests) == 2
            # A third does not fit, and the refusal counts both finished calls as spent, none as in flight.
            with pytest.raises(BudgetRefusedError) as info:
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=4000)
        assert len(server.requests) == 2
        err = info.value
        assert err.spent_usd == 2 * first and err.reserved_usd == 0
        assert "spent $0.0112 of its $0.05 limit" in str(err) and "in flight" not in str(err)
        (status,) = budget_status("cap", store=tracker.store)
        assert status.reserved_usd == 0 and status.calls == 2
    finally:
        tracker.close()
