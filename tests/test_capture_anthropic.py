"""The real `anthropic` SDK against a fake Anthropic server: cache reads, writes and the 5m/1h split."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import anthropic
import pytest
from anthropic import Anthropic, AsyncAnthropic

import tokentrail as tt
from providers.helpers import _no_patches_left, _server, calls, cost, one_call, server, tracker
from providers.server import FakeProvider, Reply, fixture, fixture_json, sse_event
from tokentrail import BudgetExceededError, Tracker
from tokentrail.capture import instrument

__all__ = ["_no_patches_left", "_server", "server", "tracker"]  # pytest fixtures, imported

SONNET_4 = {"in": "3", "read": "0.30", "write": "3.75", "write_1h": "6", "out": "15"}
MESSAGES = [{"role": "user", "content": "When is the launch?"}]
SYSTEM = [{"type": "text", "text": "Long shared context…", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
MODEL = "claude-sonnet-4"  # as requested (the dated id is deprecated in the SDK)
SERVED = "claude-sonnet-4-20250514"
# anthropic_message.json / anthropic_stream.sse: 21 uncached + 9000 read + 600 written (5m) + 1200 written (1h)
CACHED_COST = cost(SONNET_4, uncached=21, cache_read=9000, write_5m=600, write_1h=1200, output=412)


@pytest.fixture
def client(server: FakeProvider, tracker: Tracker) -> Any:
    with Anthropic(api_key="sk-ant-secret", base_url=server.url, max_retries=0) as c:
        yield instrument(c, tracker=tracker)


def aclient(server: FakeProvider, tracker: Tracker) -> AsyncAnthropic:
    return instrument(AsyncAnthropic(api_key="sk-ant-secret", base_url=server.url, max_retries=0), tracker=tracker)


def assert_cached_call(call: Any, *, streamed: bool) -> None:
    assert (call.provider, call.model, call.response_model, call.operation) == ("anthropic", MODEL, SERVED, "chat")
    assert call.input_tokens == 21 + 9000 + 1800
    assert (call.cache_read_tokens, call.cache_write_tokens, call.cache_write_1h_tokens) == (9000, 1800, 1200)
    assert (call.output_tokens, call.finish_reason, call.streamed) == (412, "end_turn", streamed)
    assert call.cost_usd == CACHED_COST
    assert call.tokens_estimated is False and call.success


def test_create(client: Anthropic, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("anthropic_message.json")))
    with tt.context(agent="planner", project="apollo"):
        message = client.messages.create(model=MODEL, max_tokens=1024, system=SYSTEM, messages=MESSAGES)
    assert type(message) is anthropic.types.Message
    call = one_call(tracker)
    assert_cached_call(call, streamed=False)
    assert (call.agent, call.project, call.response_id) == ("planner", "apollo", "msg_01XFDUDYJgAACzvnptvVoYEL")
    assert "x-api-key" not in server.requests[0].headers


def test_create_with_thinking_and_tool_use(client: Anthropic, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("anthropic_message_tools.json")))
    client.messages.create(
        model=MODEL,
        max_tokens=2048,
        messages=MESSAGES,
        tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
    )
    call = one_call(tracker)
    assert (call.finish_reason, call.input_tokens, call.output_tokens, call.reasoning_tokens) == (
        "tool_use",
        472,
        89,
        41,
    )
    assert call.cost_usd == cost(SONNET_4, uncached=472, output=89)
    assert call.response_hash is not None


def test_create_stream(client: Anthropic, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.sse(fixture("anthropic_stream.sse")))
    with tt.context(user="u-7"):
        stream = client.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES, stream=True)
    assert stream.__class__ is anthropic.Stream  # isinstance() too, except where the SDK overrides it (< 0.50)
    kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    call = one_call(tracker)
    assert_cached_call(call, streamed=True)
    assert call.user == "u-7"
    assert call.ttft_ms is not None and call.ttft_ms <= (call.duration_ms or 0)
    assert call.response_id == "msg_014p7gG3wDgGV9EUtLvnow3U"


def test_stream_helper(client: Anthropic, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.sse(fixture("anthropic_stream.sse")))
    with tt.context(agent="writer"):
        manager = client.messages.stream(model=MODEL, max_tokens=1024, system=SYSTEM, messages=MESSAGES)
    with manager as stream:
        assert type(stream).__name__ == "MessageStream"  # the SDK's own object
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello! The launch is on Tuesday."
    assert final.usage.output_tokens == 412
    call = one_call(tracker)
    assert_cached_call(call, streamed=True)
    assert call.agent == "writer" and call.ttft_ms is not None


def test_stream_helper_get_final_message_only(client: Anthropic, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.sse(fixture("anthropic_stream_tools.sse")))
    with client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream:
        message = stream.get_final_message()
    assert message.content[1].input == {"location": "San Francisco, CA"}
    call = one_call(tracker)
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (472 + 2048, 2048, 89)
    assert (call.finish_reason, call.response_id) == ("tool_use", "msg_01Tool5tream")
    assert call.cost_usd == cost(SONNET_4, uncached=472, cache_read=2048, output=89)


def test_stream_helper_left_unread_is_still_recorded(client: Anthropic, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.sse(fixture("anthropic_stream.sse")))
    with client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES):
        pass
    call = one_call(tracker)
    assert call.streamed and call.success
    assert call.input_tokens > 0


def test_async_create_stream_and_helper(server: FakeProvider, tracker: Tracker) -> None:
    async def main() -> str:
        async with aclient(server, tracker) as c:
            server.queue(Reply.json(fixture_json("anthropic_message.json")))
            await c.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES)
            server.queue(Reply.sse(fixture("anthropic_stream.sse").replace(b"msg_014p", b"msg_024p")))
            stream = await c.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES, stream=True)
            async for _ in stream:
                pass
            server.queue(Reply.sse(fixture("anthropic_stream.sse").replace(b"msg_014p", b"msg_034p")))
            async with c.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as helper:
                text = "".join([t async for t in helper.text_stream])
            return text

    assert asyncio.run(main()) == "Hello! The launch is on Tuesday."
    plain, raw_stream, helper = calls(tracker)
    assert_cached_call(plain, streamed=False)
    assert_cached_call(raw_stream, streamed=True)
    assert_cached_call(helper, streamed=True)
    assert helper.response_id == "msg_034p7gG3wDgGV9EUtLvnow3U"


def test_error_is_recorded_and_reraised(client: Anthropic, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("anthropic_error_429.json"), 429))
    with pytest.raises(anthropic.RateLimitError) as raised:
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
    server.queue(Reply.json(fixture_json("anthropic_error_529.json"), 529))
    with (
        pytest.raises(anthropic.APIStatusError) as overloaded,
        client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES),
    ):
        pass
    limited, busy = calls(tracker)
    assert (limited.success, limited.error_type, limited.error_message) == (False, "RateLimitError", str(raised.value))
    assert (busy.success, busy.error_type, busy.streamed) == (False, type(overloaded.value).__name__, True)
    assert busy.input_tokens == 0 and busy.cost_usd == Decimal(0)


def test_error_event_mid_stream(client: Anthropic, server: FakeProvider, tracker: Tracker) -> None:
    events = Reply.sse(fixture("anthropic_stream.sse")).chunks or []
    broken = events[:5] + [
        sse_event({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")
    ]
    server.queue(Reply.sse(broken))
    with pytest.raises(anthropic.APIStatusError):
        for _ in client.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES, stream=True):
            pass
    call = one_call(tracker)
    assert (call.success, call.streamed, call.tokens_estimated) == (False, True, True)
    # The input counts from message_start are exact; the output so far is estimated.
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (10_821, 9000, 1800)
    assert call.output_tokens >= 1


def test_stream_cut_off(client: Anthropic, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.sse(fixture("anthropic_stream.sse"), cut_after=6))
    with (
        pytest.raises(Exception, match="incomplete chunked read") as raised,
        client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream,
    ):
        for _ in stream:
            pass
    # httpx's RemoteProtocolError, which anthropic 2.x wraps in its own APIConnectionError; either way the
    # SDK's exception reaches the caller unchanged and is recorded under its own name.
    raised_type = type(raised.value).__name__
    assert raised_type in ("RemoteProtocolError", "APIConnectionError")
    call = one_call(tracker)
    assert (call.success, call.error_type, call.tokens_estimated) == (False, raised_type, True)
    assert call.cache_read_tokens == 9000 and call.output_tokens >= 1


def test_budget_guard_blocks_create_and_stream(client: Anthropic, server: FakeProvider, tracker: Tracker) -> None:
    pending_calls = []

    def guard(pending: Any) -> None:
        pending_calls.append(pending)
        raise BudgetExceededError("over budget")

    tracker.add_guard(guard)
    with pytest.raises(BudgetExceededError):
        client.messages.create(model=MODEL, max_tokens=333, system="Be brief.", messages=MESSAGES)
    with pytest.raises(BudgetExceededError):
        client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES)

    async def main() -> None:
        async with aclient(server, tracker) as c:
            with pytest.raises(BudgetExceededError):
                await c.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)
            with pytest.raises(BudgetExceededError):
                c.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES)

    asyncio.run(main())
    assert server.requests == []
    first = pending_calls[0]
    assert (first.model, first.provider, first.max_output_tokens) == (MODEL, "anthropic", 333)
    assert first.input_tokens > 0
    assert calls(tracker) == []
