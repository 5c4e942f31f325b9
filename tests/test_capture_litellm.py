"""The LiteLLM logger: real `litellm.completion` against the fake OpenAI and Anthropic servers."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

import tokentrail as tt
from providers.helpers import _no_patches_left, _server, calls, cost, openai_stream, server, tracker
from providers.server import FakeProvider, Reply, fixture, fixture_json
from tokentrail import Call, Tracker

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch LiteLLM's price list
litellm = pytest.importorskip("litellm")

from tokentrail.integrations.litellm import TokentrailLogger  # noqa: E402 - needs litellm

__all__ = ["_no_patches_left", "_server", "server", "tracker"]  # pytest fixtures, imported

# LiteLLM's own pydantic warnings are filtered by module in pyproject.toml (they are theirs, not ours).

GPT_4O = {"in": "2.50", "read": "1.25", "out": "10"}
SONNET_4 = {"in": "3", "read": "0.30", "write": "3.75", "write_1h": "6", "out": "15"}
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def logger(tracker: Tracker) -> Iterator[TokentrailLogger]:
    saved = list(litellm.callbacks)
    handler = TokentrailLogger(tracker)
    litellm.callbacks = [handler]
    try:
        yield handler
    finally:
        litellm.logging_callback_manager.remove_callback_from_all_lists(handler)
        litellm.callbacks = saved


@pytest.fixture(autouse=True)
def _close_litellm_event_loop() -> Iterator[None]:
    """LiteLLM's sync path calls asyncio.get_event_loop(), leaving a loop set on the thread: close it."""
    yield
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return
    if not loop.is_running():
        loop.close()
        asyncio.set_event_loop(None)


def wait_for(tracker: Tracker, n: int, timeout: float = 10.0) -> list[Call]:
    """LiteLLM logs from a worker thread after the call returns: wait for the records."""
    deadline = time.monotonic() + timeout
    while True:
        stored = calls(tracker)
        if len(stored) >= n or time.monotonic() > deadline:
            return stored
        time.sleep(0.02)


def complete(server: FakeProvider, **kwargs: Any) -> Any:
    return litellm.completion(
        model="openai/gpt-4o",
        api_base=server.url + "/v1",
        api_key="sk-test",
        messages=MESSAGES,
        num_retries=0,
        **kwargs,
    )


def test_completion(logger: TokentrailLogger, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("openai_chat.json")))
    with tt.context(agent="litellm-agent", team="infra"):
        response = complete(server)
    assert response.choices[0].message.content == "The capital of France is Paris."
    (call,) = wait_for(tracker, 1)
    assert (call.model, call.provider, call.response_model, call.operation) == (
        "gpt-4o",
        "openai",
        "gpt-4o-2024-08-06",
        "chat",
    )
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (2006, 1920, 300)
    assert call.cost_usd == cost(GPT_4O, uncached=86, cache_read=1920, output=300)
    assert (call.response_id, call.finish_reason, call.success) == (
        "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "stop",
        True,
    )
    assert (call.agent, call.labels["team"]) == ("litellm-agent", "infra")  # logged from LiteLLM's worker thread
    assert call.duration_ms is not None and call.prompt_hash and call.response_hash


def test_reasoning_tokens(logger: TokentrailLogger, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("openai_chat_reasoning.json")))
    litellm.completion(
        model="openai/o3-mini", api_base=server.url + "/v1", api_key="x", messages=MESSAGES, num_retries=0
    )
    (call,) = wait_for(tracker, 1)
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens, call.reasoning_tokens) == (
        1450,
        1024,
        1530,
        1280,
    )


def test_stream(logger: TokentrailLogger, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(openai_stream("openai_chat_stream.sse"))
    chunks = list(complete(server, stream=True, stream_options={"include_usage": True}))
    assert chunks
    (call,) = wait_for(tracker, 1)
    assert (call.streamed, call.input_tokens, call.cache_read_tokens, call.output_tokens) == (True, 2006, 1920, 10)
    assert call.ttft_ms is not None and call.tokens_estimated is False


def test_async_completion_is_recorded_once(logger: TokentrailLogger, server: FakeProvider, tracker: Tracker) -> None:
    async def main() -> None:
        server.queue(Reply.json(fixture_json("openai_chat.json")))
        with tt.context(user="async-user"):
            await litellm.acompletion(
                model="openai/gpt-4o", api_base=server.url + "/v1", api_key="x", messages=MESSAGES, num_retries=0
            )
        for _ in range(250):  # LiteLLM logs from a task it schedules after returning
            if calls(tracker):
                break
            await asyncio.sleep(0.02)
        # Shut LiteLLM's async logging worker down with the loop, as an async app would.
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

        await GLOBAL_LOGGING_WORKER.flush()
        await GLOBAL_LOGGING_WORKER.stop()

    asyncio.run(main())
    stored = wait_for(tracker, 1)
    time.sleep(0.3)  # any second (sync) hook for the same call would land by now
    stored = calls(tracker)
    assert len(stored) == 1 and tracker.health.duplicates == 0
    assert (stored[0].user, stored[0].input_tokens) == ("async-user", 2006)


def test_failure_is_recorded(logger: TokentrailLogger, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("openai_error_429.json"), 429))
    with pytest.raises(litellm.RateLimitError):
        complete(server)
    (call,) = wait_for(tracker, 1)
    assert (call.success, call.error_type) == (False, "RateLimitError")
    assert "Rate limit reached" in (call.error_message or "")


def test_anthropic_cache_fields(logger: TokentrailLogger, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("anthropic_message.json")))
    litellm.completion(
        model="anthropic/claude-sonnet-4-20250514",
        api_base=server.url,
        api_key="sk-ant",
        messages=MESSAGES,
        max_tokens=1024,
        num_retries=0,
    )
    (call,) = wait_for(tracker, 1)
    assert server.requests[0].path.endswith("/v1/messages")
    assert call.provider == "anthropic"
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens, call.cache_write_1h_tokens) == (
        10_821,
        9000,
        1800,
        1200,
    )
    assert call.cost_usd == cost(SONNET_4, uncached=21, cache_read=9000, write_5m=600, write_1h=1200, output=412)


def test_anthropic_stream(logger: TokentrailLogger, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.sse(fixture("anthropic_stream.sse")))
    for _ in litellm.completion(
        model="anthropic/claude-sonnet-4-20250514",
        api_base=server.url,
        api_key="sk-ant",
        messages=MESSAGES,
        max_tokens=1024,
        num_retries=0,
        stream=True,
    ):
        pass
    (call,) = wait_for(tracker, 1)
    assert (call.streamed, call.input_tokens, call.cache_read_tokens, call.output_tokens) == (True, 10_821, 9000, 412)
    assert call.cost_usd == cost(SONNET_4, uncached=21, cache_read=9000, write_5m=600, write_1h=1200, output=412)


def test_hand_built_payload_and_a_logger_bug_stay_contained(tracker: Tracker) -> None:
    handler = TokentrailLogger(tracker)
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 0}}
    response = {
        "id": "chatcmpl-hand",
        "model": "gpt-4o-mini",
        "usage": usage,
        "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
    }
    handler.log_success_event(
        {"model": "gpt-4o-mini", "litellm_call_id": "c-1", "custom_llm_provider": "openai"}, response, None, None
    )
    handler.log_success_event({"model": "gpt-4o-mini", "litellm_call_id": "c-1"}, response, None, None)  # a repeat
    handler.log_success_event("not a dict", object(), "junk", None)  # garbage in: recorded as what it is, no raise
    stored = calls(tracker)
    assert [(c.model, c.input_tokens, c.output_tokens) for c in stored][0] == ("gpt-4o-mini", 12, 3)
    assert len([c for c in stored if c.response_id == "chatcmpl-hand"]) == 1
