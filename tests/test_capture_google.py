"""The real `google-genai` SDK against a fake Gemini API: thinking tokens billed as output, cache reads."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

import tokentrail as tt
from providers.helpers import _no_patches_left, _server, calls, cost, one_call, server, tracker
from providers.server import FakeProvider, Reply, fixture, fixture_json
from tokentrail import BudgetExceededError, Tracker
from tokentrail.capture import instrument

__all__ = ["_no_patches_left", "_server", "server", "tracker"]  # pytest fixtures, imported

# Published Gemini 2.5 Flash prices (text): $0.30 input, $0.03 cached input, $2.50 output (thinking included).
FLASH = {"in": "0.30", "read": "0.03", "out": "2.50"}
# gemini_generate.json / gemini_stream.sse: 1500 prompt (1024 cached), 120 candidates + 380 thoughts
EXPECTED_COST = cost(FLASH, uncached=1500 - 1024, cache_read=1024, output=120 + 380)


@pytest.fixture
def client(server: FakeProvider, tracker: Tracker) -> Any:
    c = genai.Client(api_key="goog-secret", http_options=types.HttpOptions(base_url=server.url))
    try:
        yield instrument(c, tracker=tracker)
    finally:
        getattr(c, "close", lambda: None)()  # google-genai >= 1.20


def assert_flash_call(call: Any, *, streamed: bool) -> None:
    assert (call.provider, call.model, call.response_model, call.operation) == (
        "google",
        "gemini-2.5-flash",
        "gemini-2.5-flash",
        "chat",
    )
    assert (call.input_tokens, call.cache_read_tokens) == (1500, 1024)
    assert (call.output_tokens, call.reasoning_tokens) == (500, 380)
    assert (call.finish_reason, call.streamed, call.tokens_estimated, call.success) == ("STOP", streamed, False, True)
    assert call.cost_usd == EXPECTED_COST


def test_generate_content(client: genai.Client, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("gemini_generate.json")))
    with tt.context(agent="explainer", topic="biology"):
        response = client.models.generate_content(
            model="gemini-2.5-flash",
            contents="Explain photosynthesis in one sentence.",
            config=types.GenerateContentConfig(system_instruction="Be terse.", max_output_tokens=800),
        )
    assert response.text.startswith("Photosynthesis")
    call = one_call(tracker)
    assert_flash_call(call, streamed=False)
    assert (call.agent, call.labels["topic"]) == ("explainer", "biology")
    assert call.response_id == response.response_id == "mO2gaPz4Hq2Z1dkP5M-QwQs" or response.response_id is None
    assert call.prompt_hash is not None and call.response_hash is not None
    assert server.requests[0].path.endswith("/models/gemini-2.5-flash:generateContent")  # v1 or v1beta
    assert "x-goog-api-key" not in server.requests[0].headers


def test_function_call_response(client: genai.Client, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("gemini_generate_tools.json")))
    client.models.generate_content(model="models/gemini-2.5-flash", contents="Weather in Boston?")
    call = one_call(tracker)
    assert call.model == "gemini-2.5-flash"  # the "models/" prefix is not part of the name
    assert (call.input_tokens, call.output_tokens, call.reasoning_tokens) == (72, 66, 51)
    assert call.cost_usd == cost(FLASH, uncached=72, output=66)
    assert call.response_hash is not None


def test_generate_content_stream(client: genai.Client, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.sse(fixture("gemini_stream.sse")))
    with tt.context(user="u-3"):
        stream = client.models.generate_content_stream(model="gemini-2.5-flash", contents="Explain photosynthesis.")
    text = "".join(chunk.text for chunk in stream)
    assert text == "Photosynthesis turns light, water and CO2 into sugar and oxygen."
    call = one_call(tracker)
    assert_flash_call(call, streamed=True)
    assert call.user == "u-3" and call.ttft_ms is not None
    assert server.requests[0].query == {"alt": ["sse"]}


# google-genai's async side uses aiohttp when it is installed (and subclasses its session, which aiohttp
# warns about), httpx otherwise: test both transports.
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
@pytest.mark.parametrize("transport", ["default", "httpx"])
def test_async_generate_and_stream(server: FakeProvider, tracker: Tracker, transport: str) -> None:
    async def main() -> None:
        options = types.HttpOptions(base_url=server.url)
        if transport == "httpx":
            if "httpx_async_client" not in types.HttpOptions.model_fields:
                pytest.skip("this google-genai has no httpx_async_client option")
            options.httpx_async_client = httpx.AsyncClient()
        c = genai.Client(api_key="goog-secret", http_options=options)
        instrument(c, tracker=tracker)
        try:
            server.queue(Reply.json(fixture_json("gemini_generate.json")))
            await c.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
            server.queue(Reply.sse(fixture("gemini_stream.sse")))
            stream = await c.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
            async for _ in stream:
                pass
        finally:
            if hasattr(c.aio, "aclose"):
                await c.aio.aclose()
                c.close()
            elif getattr(c._api_client, "_async_httpx_client", None) is not None:  # google-genai < 1.20
                await c._api_client._async_httpx_client.aclose()
            if getattr(options, "httpx_async_client", None) is not None:
                await options.httpx_async_client.aclose()

    asyncio.run(main())
    plain, streamed = calls(tracker)
    assert_flash_call(plain, streamed=False)
    assert_flash_call(streamed, streamed=True)


def test_stream_cut_off_counts_what_was_reported_and_estimates_the_rest(
    client: genai.Client, server: FakeProvider, tracker: Tracker
) -> None:
    server.queue(Reply.sse(fixture("gemini_stream.sse"), cut_after=2))
    with pytest.raises(Exception, match="incomplete chunked read"):
        for _ in client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"):
            pass
    call = one_call(tracker)
    assert (call.success, call.tokens_estimated) == (False, True)
    assert (call.input_tokens, call.cache_read_tokens, call.reasoning_tokens) == (1500, 1024, 380)
    assert call.output_tokens >= 60 + 380


def test_error_is_recorded_and_reraised(client: genai.Client, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("gemini_error_429.json"), 429))
    with pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert raised.value.code == 429
    server.queue(Reply.json(fixture_json("gemini_error_429.json"), 429))
    with pytest.raises(errors.ClientError):
        list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    plain, streamed = calls(tracker)
    for call in (plain, streamed):
        assert (call.success, call.error_type) == (False, "ClientError")
        assert "RESOURCE_EXHAUSTED" in (call.error_message or "")
        assert call.cost_usd == Decimal(0)
    assert streamed.streamed


def test_budget_guard(client: genai.Client, server: FakeProvider, tracker: Tracker) -> None:
    seen = []

    def guard(pending: Any) -> None:
        seen.append(pending)
        raise BudgetExceededError("no")

    tracker.add_guard(guard)
    config = {"max_output_tokens": 64}
    with pytest.raises(BudgetExceededError):
        client.models.generate_content(model="gemini-2.5-flash", contents="Explain photosynthesis.", config=config)
    with pytest.raises(BudgetExceededError):
        client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
    assert server.requests == []
    assert (seen[0].model, seen[0].provider, seen[0].max_output_tokens) == ("gemini-2.5-flash", "google", 64)
    assert seen[0].input_tokens > 0
