"""The real `openai` SDK against a fake OpenAI server: every path recorded as the provider reported it."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

import tokentrail as tt
from providers.helpers import _no_patches_left, _server, calls, cost, one_call, openai_stream, server, tracker
from providers.server import FakeProvider, Reply, fixture, fixture_json
from tokentrail import BudgetExceededError, Tracker
from tokentrail.capture import instrument, instrument_openai
from tokentrail.capture.openai import detect_provider

__all__ = ["_no_patches_left", "_server", "server", "tracker"]  # pytest fixtures, imported

GPT_4O = {"in": "2.50", "read": "1.25", "out": "10"}
GPT_4O_MINI = {"in": "0.15", "read": "0.075", "out": "0.60"}
O3_MINI = {"in": "1.10", "read": "0.55", "out": "4.40"}
GPT_5 = {"in": "1.25", "read": "0.125", "out": "10"}
EMBED_3_SMALL = {"in": "0.02", "out": "0"}
HAS_RESPONSES = importlib.util.find_spec("openai.resources.responses") is not None
needs_responses = pytest.mark.skipif(not HAS_RESPONSES, reason="this openai SDK has no Responses API")


def helpers(client: Any) -> Any:
    """`chat.completions.parse` / `.stream` (openai >= 1.92), or their `beta.chat.completions` home before."""
    completions = client.chat.completions
    return completions if hasattr(completions, "stream") else client.beta.chat.completions


MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture
def client(server: FakeProvider, tracker: Tracker) -> Any:
    with OpenAI(api_key="sk-test-secret", base_url=server.url + "/v1", max_retries=0) as c:
        yield instrument(c, tracker=tracker, provider="openai")


def aclient(server: FakeProvider, tracker: Tracker) -> AsyncOpenAI:
    c = AsyncOpenAI(api_key="sk-test-secret", base_url=server.url + "/v1", max_retries=0)
    return instrument(c, tracker=tracker, provider="openai")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- Chat Completions, not streamed ----------------------------------------------------------------


def test_chat_records_provider_usage_cost_ids_and_context(
    client: OpenAI, server: FakeProvider, tracker: Tracker
) -> None:
    server.queue(Reply.json(fixture_json("openai_chat.json")))
    with tt.context(agent="router", user="u-1", team="search"):
        response = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=500)
    assert type(response) is openai.types.chat.ChatCompletion
    assert response.choices[0].message.content == "The capital of France is Paris."

    call = one_call(tracker)
    assert (call.model, call.response_model, call.provider) == ("gpt-4o", "gpt-4o-2024-08-06", "openai")
    assert (call.operation, call.streamed, call.success, call.tokens_estimated) == ("chat", False, True, False)
    assert (call.input_tokens, call.cache_read_tokens, call.cache_write_tokens) == (2006, 1920, 0)
    assert (call.output_tokens, call.reasoning_tokens) == (300, 0)
    assert call.cost_usd == cost(GPT_4O, uncached=2006 - 1920, cache_read=1920, output=300)
    assert call.response_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert call.finish_reason == "stop"
    assert (call.agent, call.user, call.labels["team"]) == ("router", "u-1", "search")
    assert call.trace_id and call.parent_span_id
    assert call.duration_ms is not None and call.duration_ms > 0 and call.ttft_ms is None
    assert call.prompt_hash == hashlib.sha256(canonical(MESSAGES).encode()).hexdigest()
    assert call.response_hash == hashlib.sha256(b"The capital of France is Paris.").hexdigest()
    assert call.prompt is None and call.response is None  # not opted in
    assert "authorization" not in server.requests[0].headers


def test_chat_keeps_text_only_when_opted_in(server: FakeProvider) -> None:
    t = Tracker("memory://", store_prompts=True, store_responses=True)
    try:
        with OpenAI(api_key="sk-test", base_url=server.url + "/v1", max_retries=0) as c:
            instrument(c, tracker=t)
            server.queue(Reply.json(fixture_json("openai_chat.json")))
            c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        call = one_call(t)
        assert json.loads(call.prompt or "") == MESSAGES
        assert call.response == "The capital of France is Paris."
        assert call.provider == "openai-compatible"  # 127.0.0.1 says nothing about the provider
    finally:
        t.close()


def test_chat_reasoning_tokens_are_part_of_the_output(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("openai_chat_reasoning.json")))
    client.chat.completions.create(model="o3-mini", messages=MESSAGES)
    call = one_call(tracker)
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens, call.reasoning_tokens) == (
        1450,
        1024,
        1530,
        1280,
    )
    assert call.response_model == "o3-mini-2025-01-31"
    assert call.cost_usd == cost(O3_MINI, uncached=1450 - 1024, cache_read=1024, output=1530)


def test_chat_tool_calls(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("openai_chat_tools.json")))
    tools = [{"type": "function", "function": {"name": "get_current_weather", "parameters": {"type": "object"}}}]
    response = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=tools)
    assert response.choices[0].message.tool_calls[0].function.name == "get_current_weather"
    call = one_call(tracker)
    assert (call.finish_reason, call.input_tokens, call.output_tokens) == ("tool_calls", 82, 17)
    assert call.cost_usd == cost(GPT_4O_MINI, uncached=82, output=17)
    assert call.response_hash is not None  # the tool call is the response


def test_chat_async(server: FakeProvider, tracker: Tracker) -> None:
    async def main() -> None:
        async with aclient(server, tracker) as c:
            server.queue(Reply.json(fixture_json("openai_chat.json")))
            with tt.context(agent="async-agent"):
                response = await c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
            assert response.usage.prompt_tokens == 2006

    asyncio.run(main())
    call = one_call(tracker)
    assert (call.agent, call.input_tokens, call.cache_read_tokens, call.output_tokens) == (
        "async-agent",
        2006,
        1920,
        300,
    )
    assert call.cost_usd == cost(GPT_4O, uncached=86, cache_read=1920, output=300)


def test_parse_is_recorded(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("openai_chat.json")))
    parsed = helpers(client).parse(model="gpt-4o", messages=MESSAGES)
    assert parsed.choices[0].message.content == "The capital of France is Paris."
    assert one_call(tracker).input_tokens == 2006


def test_with_raw_response_is_recorded_from_the_parsed_body(
    client: OpenAI, server: FakeProvider, tracker: Tracker
) -> None:
    server.queue(Reply.json(fixture_json("openai_chat.json")))
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    assert raw.http_response.status_code == 200
    assert raw.parse().usage.completion_tokens == 300
    assert one_call(tracker).output_tokens == 300


# -- Chat Completions, streamed --------------------------------------------------------------------


def test_stream_asks_for_usage_and_hides_the_usage_chunk(
    client: OpenAI, server: FakeProvider, tracker: Tracker
) -> None:
    server.queue(openai_stream("openai_chat_stream.sse"))
    with tt.context(session="s-9"):
        stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    assert server.requests[0].body["stream_options"] == {"include_usage": True}
    assert all(chunk.choices for chunk in chunks), "the caller did not ask for the usage chunk"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello! How can I help you today?"

    call = one_call(tracker)
    assert (call.streamed, call.tokens_estimated, call.session) == (True, False, "s-9")
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (2006, 1920, 10)
    assert call.cost_usd == cost(GPT_4O, uncached=86, cache_read=1920, output=10)
    assert call.ttft_ms is not None and 0 < call.ttft_ms <= (call.duration_ms or 0)
    assert (call.finish_reason, call.response_id) == ("stop", "chatcmpl-BLk4f7TeqzQpzTYlXbVdiQHbgRPGl")
    assert call.response_hash == hashlib.sha256(b"Hello! How can I help you today?").hexdigest()


def test_stream_with_usage_requested_by_the_caller_shows_it(
    client: OpenAI, server: FakeProvider, tracker: Tracker
) -> None:
    server.queue(openai_stream("openai_chat_stream.sse"))
    stream = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 2006
    assert one_call(tracker).output_tokens == 10


def test_stream_with_usage_refused_is_estimated_never_zero(
    client: OpenAI, server: FakeProvider, tracker: Tracker
) -> None:
    server.queue(openai_stream("openai_chat_stream.sse"))
    stream = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": False}
    )
    list(stream)
    assert server.requests[0].body["stream_options"] == {"include_usage": False}
    call = one_call(tracker)
    assert call.tokens_estimated is True
    assert call.input_tokens > 10 and call.output_tokens > 3
    assert call.cost_usd is not None and call.cost_usd > 0


def test_stream_helper_sync(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(openai_stream("openai_chat_stream.sse"))
    with helpers(client).stream(model="gpt-4o", messages=MESSAGES) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "content.delta" in events
    assert final.choices[0].message.content == "Hello! How can I help you today?"
    call = one_call(tracker)
    assert (call.streamed, call.input_tokens, call.output_tokens) == (True, 2006, 10)


def test_stream_helper_async(server: FakeProvider, tracker: Tracker) -> None:
    async def main() -> str | None:
        async with aclient(server, tracker) as c:
            server.queue(openai_stream("openai_chat_stream.sse"))
            async with helpers(c).stream(model="gpt-4o", messages=MESSAGES) as stream:
                async for _ in stream:
                    pass
                final = await stream.get_final_completion()
            return final.choices[0].message.content

    assert asyncio.run(main()) == "Hello! How can I help you today?"
    call = one_call(tracker)
    assert (call.streamed, call.input_tokens, call.cache_read_tokens, call.output_tokens) == (True, 2006, 1920, 10)


def test_stream_async(server: FakeProvider, tracker: Tracker) -> None:
    async def main() -> list[Any]:
        async with aclient(server, tracker) as c:
            server.queue(openai_stream("openai_chat_stream.sse"))
            stream = await c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
            assert isinstance(stream, openai.AsyncStream)
            return [chunk async for chunk in stream]

    chunks = asyncio.run(main())
    assert len(chunks) == 11
    call = one_call(tracker)
    assert (call.streamed, call.input_tokens, call.output_tokens, call.tokens_estimated) == (True, 2006, 10, False)
    assert call.ttft_ms is not None


def test_stream_tool_calls(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(openai_stream("openai_chat_stream_tools.sse"))
    with client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream:
        arguments = "".join(
            c.choices[0].delta.tool_calls[0].function.arguments or ""
            for c in stream
            if c.choices and c.choices[0].delta.tool_calls
        )
    assert arguments == '{"location":"Paris, France"}'
    call = one_call(tracker)
    assert (call.finish_reason, call.input_tokens, call.output_tokens) == ("tool_calls", 81, 16)
    assert call.cost_usd == cost(GPT_4O_MINI, uncached=81, output=16)


def test_stream_closed_early_is_recorded_as_an_estimate(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(openai_stream("openai_chat_stream.sse"))
    with client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True) as stream:
        for i, _ in enumerate(stream):
            if i == 3:
                break
    call = one_call(tracker)
    assert call.success and call.tokens_estimated and call.streamed
    assert call.input_tokens > 0 and call.output_tokens > 0


def test_stream_cut_off_half_way(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(openai_stream("openai_chat_stream.sse", cut_after=5))
    stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    received = []
    # httpx's error as it is (openai 1.x-2.x), or wrapped in APIConnectionError (openai 3.x, on httpx2)
    with pytest.raises((httpx.RemoteProtocolError, openai.APIConnectionError)) as raised:
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 5
    call = one_call(tracker)
    assert (call.success, call.error_type, call.streamed) == (False, type(raised.value).__name__, True)
    assert call.error_message == str(raised.value)
    assert call.tokens_estimated and call.output_tokens > 0 and call.input_tokens > 0


# -- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply, error",
    [
        (Reply.json(fixture_json("openai_error_429.json"), 429), openai.RateLimitError),
        (Reply.json(fixture_json("openai_error_500.json"), 500), openai.InternalServerError),
    ],
)
def test_provider_errors_are_recorded_and_reraised(
    client: OpenAI, server: FakeProvider, tracker: Tracker, reply: Reply, error: type[Exception]
) -> None:
    server.queue(reply)
    with pytest.raises(error) as raised:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert type(raised.value) is error
    # Re-raised unchanged: the SDK's own frames are still in the traceback.
    assert any("openai" in (tb.tb_frame.f_code.co_filename) for tb in _frames(raised.value.__traceback__))
    call = one_call(tracker)
    assert (call.success, call.error_type) == (False, error.__name__)
    assert call.error_message == str(raised.value)
    assert (call.input_tokens, call.output_tokens, call.cost_usd) == (0, 0, Decimal(0))


def _frames(tb: Any) -> list[Any]:
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next
    return out


def test_malformed_body_error_is_recorded(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(b'{"id": "chatcmpl-x", "choices": [', 200))
    with pytest.raises(ValueError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    call = one_call(tracker)
    assert (call.success, call.error_type) == (False, "JSONDecodeError")


def test_async_error_is_recorded_and_reraised(server: FakeProvider, tracker: Tracker) -> None:
    async def main() -> None:
        async with aclient(server, tracker) as c:
            server.queue(Reply.json(fixture_json("openai_error_429.json"), 429))
            await c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)

    with pytest.raises(openai.RateLimitError):
        asyncio.run(main())
    call = one_call(tracker)
    assert (call.success, call.error_type, call.streamed, call.tokens_estimated) == (
        False,
        "RateLimitError",
        True,
        False,
    )


# -- Responses API ----------------------------------------------------------------------------------------


@needs_responses
def test_responses_create(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("openai_responses.json")))
    response = client.responses.create(
        model="gpt-5", input="Tell me a bedtime story.", instructions="Be brief.", max_output_tokens=2000
    )
    assert response.output_text.startswith("Under a ribbon")
    call = one_call(tracker)
    assert (call.operation, call.response_model, call.finish_reason) == ("responses", "gpt-5-2025-08-07", "completed")
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens, call.reasoning_tokens) == (
        2500,
        2048,
        900,
        640,
    )
    assert call.cost_usd == cost(GPT_5, uncached=452, cache_read=2048, output=900)
    assert call.response_id == "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b"


@needs_responses
def test_responses_stream_sync_and_helper(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.sse(fixture("openai_responses_stream.sse")))
    events = list(client.responses.create(model="gpt-4o", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    server.queue(Reply.sse(fixture("openai_responses_stream.sse").replace(b"resp_67c9", b"resp_99c9")))
    with client.responses.stream(model="gpt-4o", input="hi") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
    assert text == "Hi there! How can I help?"
    first, second = calls(tracker)
    for call in (first, second):
        assert (call.streamed, call.operation, call.finish_reason) == (True, "responses", "completed")
        assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (1337, 1152, 9)
        assert call.cost_usd == cost(GPT_4O, uncached=185, cache_read=1152, output=9)
        assert call.ttft_ms is not None
    assert first.response_id != second.response_id


@needs_responses
def test_responses_async(server: FakeProvider, tracker: Tracker) -> None:
    async def main() -> None:
        async with aclient(server, tracker) as c:
            server.queue(Reply.json(fixture_json("openai_responses.json")))
            await c.responses.create(model="gpt-5", input="hi")
            server.queue(Reply.sse(fixture("openai_responses_stream.sse")))
            stream = await c.responses.create(model="gpt-4o", input="hi", stream=True)
            async for _ in stream:
                pass

    asyncio.run(main())
    plain, streamed = calls(tracker)
    assert (plain.streamed, plain.reasoning_tokens, plain.output_tokens) == (False, 640, 900)
    assert (streamed.streamed, streamed.input_tokens, streamed.output_tokens) == (True, 1337, 9)


# -- Embeddings ------------------------------------------------------------------------------------------


def test_embeddings_sync_and_async(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("openai_embeddings.json")))
    result = client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])
    assert len(result.data) == 2

    async def main() -> None:
        async with aclient(server, tracker) as c:
            server.queue(Reply.json(fixture_json("openai_embeddings.json")))
            await c.embeddings.create(model="text-embedding-3-small", input="hello world")

    asyncio.run(main())
    for call in calls(tracker):
        assert (call.operation, call.input_tokens, call.output_tokens) == ("embedding", 18, 0)
        assert call.cost_usd == cost(EMBED_3_SMALL, uncached=18)
        assert call.response_model == "text-embedding-3-small"


# -- budgets -----------------------------------------------------------------------------------------------


def test_budget_guard_stops_the_request_before_it_is_sent(
    client: OpenAI, server: FakeProvider, tracker: Tracker
) -> None:
    seen = []

    def guard(pending: Any) -> None:
        seen.append(pending)
        raise BudgetExceededError(f"budget for agent={pending.scope.agent!r} is spent")

    tracker.add_guard(guard)
    with tt.context(agent="spender"), pytest.raises(BudgetExceededError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=256)
    with pytest.raises(BudgetExceededError):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert server.requests == []
    pending = seen[0]
    assert (pending.model, pending.provider, pending.max_output_tokens) == ("gpt-4o", "openai", 256)
    assert pending.scope.agent == "spender"
    assert 15 < pending.input_tokens < 40  # the two messages, counted with o200k_base and chat overhead


def test_guard_that_allows_lets_the_call_through(client: OpenAI, server: FakeProvider, tracker: Tracker) -> None:
    tracker.add_guard(lambda pending: None)
    server.queue(Reply.json(fixture_json("openai_chat.json")))
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert len(server.requests) == 1 and one_call(tracker).input_tokens == 2006


# -- provider detection --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, provider",
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("https://my-resource.openai.azure.com/openai/deployments/gpt4o", "azure"),
        ("http://localhost:11434/v1", "ollama"),
        ("https://api.groq.com/openai/v1", "groq"),
        ("https://api.deepseek.com", "deepseek"),
        ("https://generativelanguage.googleapis.com/v1beta/openai/", "google"),
        ("https://integrate.api.nvidia.com/v1", "nvidia"),
        ("https://INTEGRATE.api.nvidia.com/v1/", "nvidia"),
        ("https://nvidia.example.com/v1", "openai-compatible"),
        ("http://127.0.0.1:8000/v1", "openai-compatible"),
    ],
)
def test_detect_provider(url: str, provider: str) -> None:
    assert detect_provider(url) == provider


def test_provider_from_the_client_base_url(server: FakeProvider, tracker: Tracker) -> None:
    with OpenAI(api_key="x", base_url=server.url + "/v1", max_retries=0) as c:
        instrument_openai(c, tracker=tracker)
        server.queue(Reply.json(fixture_json("openai_chat.json")))
        c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    call = one_call(tracker)
    assert call.provider == "openai-compatible"
    assert call.cost_usd == cost(GPT_4O, uncached=86, cache_read=1920, output=300)  # priced by model name


class _ToLoopback(httpx.BaseTransport):
    """Sends every request to the loopback provider, whatever host the client was given (a transport seam)."""

    def __init__(self, url: str) -> None:
        self._inner, self._target, self.hosts = httpx.HTTPTransport(), httpx.URL(url), list[str]()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        request.url = request.url.copy_with(scheme="http", host=self._target.host, port=self._target.port)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_a_client_on_nvidias_host_is_recorded_as_nvidia(server: FakeProvider, tracker: Tracker) -> None:
    # A chat completion as NVIDIA's OpenAI-compatible API answers it (a NIM model, usage without details).
    body = {"id": "chat-5f2a9c0e", "object": "chat.completion", "created": 1765000000,
            "model": "meta/llama-3.1-8b-instruct",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "logprobs": None,
                         "finish_reason": "stop", "stop_reason": None}],
            "usage": {"prompt_tokens": 17, "total_tokens": 20, "completion_tokens": 3}}  # fmt: skip
    transport = _ToLoopback(server.url)
    with OpenAI(api_key="nvapi-test", base_url="https://integrate.api.nvidia.com/v1", max_retries=0,
                http_client=httpx.Client(transport=transport)) as c:  # fmt: skip
        instrument_openai(c, tracker=tracker)
        server.queue(Reply.json(body))
        c.chat.completions.create(model="meta/llama-3.1-8b-instruct", messages=MESSAGES)
    assert transport.hosts == ["integrate.api.nvidia.com"] and len(server.requests) == 1
    call = one_call(tracker)
    assert (call.provider, call.model, call.response_model) == ("nvidia", "meta/llama-3.1-8b-instruct",
                                                                "meta/llama-3.1-8b-instruct")  # fmt: skip
    assert (call.input_tokens, call.output_tokens, call.tokens_estimated) == (17, 3, False)
