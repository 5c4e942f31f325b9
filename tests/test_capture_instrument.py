"""Instrumenting itself: explicit, reversible, never twice, and never in the way of the caller's call."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import anthropic
import openai
import pytest
from google import genai
from openai import AsyncOpenAI, OpenAI
from openai.resources.chat.completions import AsyncCompletions, Completions

import tokentrail as tt
from providers.helpers import _no_patches_left, _server, calls, one_call, openai_stream, server, tracker
from providers.server import FakeProvider, Reply, fixture, fixture_json
from tokentrail import Call, Tracker, ValidationError
from tokentrail.capture import (
    Instrumentation,
    instrument,
    instrument_anthropic,
    instrument_google,
    instrument_openai,
    uninstrument,
)
from tokentrail.store.base import Filter

__all__ = ["_no_patches_left", "_server", "server", "tracker"]  # pytest fixtures, imported

MESSAGES = [{"role": "user", "content": "hi"}]
ORIGINAL_CREATE = Completions.__dict__["create"]
ORIGINAL_ASYNC_CREATE = AsyncCompletions.__dict__["create"]


def _patched(method: Any) -> bool:
    return getattr(method, "_tokentrail_wrapped", False)


def new_client(server: FakeProvider) -> OpenAI:
    return OpenAI(api_key="sk-test", base_url=server.url + "/v1", max_retries=0)


def chat(client: OpenAI, server: FakeProvider, n: int = 1) -> None:
    for i in range(n):
        body = fixture_json("openai_chat.json")
        body["id"] = f"chatcmpl-{id(client)}-{i}-{len(server.requests)}"
        server.queue(Reply.json(body))
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def test_importing_tokentrail_patches_nothing_and_imports_no_sdk() -> None:
    code = (
        "import sys, tokentrail, tokentrail.capture, tokentrail.capture.openai, tokentrail.capture.anthropic, "
        "tokentrail.capture.google, tokentrail.integrations\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'anthropic', 'langchain_core', "
        "'litellm') or m.startswith('google.genai')))\n"
        "import openai.resources.chat.completions as c\n"
        "print(c.Completions.create.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1].startswith("openai.")


def test_client_instrumentation_returns_the_client_and_is_undone(server: FakeProvider, tracker: Tracker) -> None:
    with new_client(server) as client:
        assert instrument(client, tracker=tracker) is client
        resource = client.chat.completions
        assert "create" in vars(resource)
        chat(client, server)
        assert uninstrument(client) > 0
        assert "create" not in vars(resource) and "parse" not in vars(resource)
        assert Completions.__dict__["create"] is ORIGINAL_CREATE
        chat(client, server)
    assert len(calls(tracker)) == 1


def test_instrumenting_twice_records_once(server: FakeProvider, tracker: Tracker) -> None:
    with new_client(server) as client:
        instrument(client, tracker=tracker)
        wrapper = vars(client.chat.completions)["create"]
        instrument(client, tracker=tracker)
        instrument_openai(client, tracker=tracker)
        assert vars(client.chat.completions)["create"] is wrapper
        chat(client, server, n=2)
    assert len(calls(tracker)) == 2


def test_client_and_class_instrumented_record_once(server: FakeProvider, tracker: Tracker) -> None:
    with instrument_openai(tracker=tracker), new_client(server) as client:
        instrument(client, tracker=tracker)
        chat(client, server)
    assert len(calls(tracker)) == 1


def test_class_instrumentation_covers_clients_made_later_and_restores_the_originals(
    server: FakeProvider, tracker: Tracker
) -> None:
    handle = instrument_openai(tracker=tracker)
    assert isinstance(handle, Instrumentation) and handle.active
    assert Completions.__dict__["create"] is not ORIGINAL_CREATE
    assert Completions.create.__wrapped__ is ORIGINAL_CREATE  # type: ignore[attr-defined]
    assert Completions.create.__name__ == "create"
    with new_client(server) as client:
        chat(client, server)
        assert handle.uninstrument() > 0
        assert not handle.active
        assert Completions.__dict__["create"] is ORIGINAL_CREATE
        assert AsyncCompletions.__dict__["create"] is ORIGINAL_ASYNC_CREATE
        chat(client, server)
    assert len(calls(tracker)) == 1


def test_handle_is_a_context_manager_and_handles_nest(server: FakeProvider, tracker: Tracker) -> None:
    other = Tracker("memory://")
    try:
        with new_client(server) as client:
            with instrument_openai(tracker=tracker):
                chat(client, server)
                with instrument_openai(tracker=other):
                    chat(client, server)  # the newest handle's tracker
                assert Completions.__dict__["create"] is not ORIGINAL_CREATE  # the outer handle still holds it
                chat(client, server)
            assert Completions.__dict__["create"] is ORIGINAL_CREATE
            chat(client, server)
        assert len(calls(tracker)) == 2
        assert len(calls(other)) == 1
    finally:
        other.close()


def test_uninstrument_by_sdk_name_or_module(tracker: Tracker) -> None:
    instrument_openai(tracker=tracker)
    instrument_anthropic(tracker=tracker)
    assert uninstrument("openai") > 0
    assert Completions.__dict__["create"] is ORIGINAL_CREATE
    assert _patched(anthropic.resources.messages.Messages.create)
    assert uninstrument(anthropic) > 0
    assert not _patched(anthropic.resources.messages.Messages.create)
    assert uninstrument() == 0


def test_instrument_everything_then_undo(server: FakeProvider, tracker: Tracker) -> None:
    with instrument(tracker=tracker) as handle:
        assert _patched(genai.models.Models.generate_content)
        assert _patched(anthropic.resources.messages.AsyncMessages.stream)
        assert "all installed SDKs" in repr(handle)
        with new_client(server) as client:
            chat(client, server)
    assert not _patched(genai.models.Models.generate_content)
    assert not _patched(anthropic.resources.messages.AsyncMessages.stream)
    assert Completions.__dict__["create"] is ORIGINAL_CREATE
    assert len(calls(tracker)) == 1


def test_instrument_dispatches_on_the_client_type(server: FakeProvider, tracker: Tracker) -> None:
    with anthropic.Anthropic(api_key="x", base_url=server.url, max_retries=0) as a:
        assert instrument(a, tracker=tracker) is a
        assert "create" in vars(a.messages) and "stream" in vars(a.messages)
    g = genai.Client(api_key="x", http_options={"base_url": server.url})
    try:
        assert instrument_google(g, tracker=tracker) is g
        assert "generate_content" in vars(g.models) and "generate_content_stream" in vars(g.aio.models)
    finally:
        getattr(g, "close", lambda: None)()
    with pytest.raises(ValidationError, match="not a client tokentrail can instrument"):
        instrument(object())


def test_an_instrumented_client_can_be_garbage_collected(server: FakeProvider, tracker: Tracker) -> None:
    client = new_client(server)
    instrument(client, tracker=tracker)
    chat(client, server)
    ref = weakref.ref(client)
    client.close()
    del client
    gc.collect()
    assert ref() is None


def test_default_tracker_is_used_when_none_is_given(server: FakeProvider) -> None:
    default = tt.configure("memory://")
    with new_client(server) as client:
        instrument(client)
        chat(client, server)
    assert len(calls(default)) == 1


# -- tracking never breaks the caller ----------------------------------------------------------------------


class BrokenStore:
    """A Store whose writes always fail (the database is down)."""

    url = "broken://"

    def write(self, calls: Sequence[Call]) -> int:
        raise OSError("database is down")

    def calls(self, filter: Filter, *, limit: int | None = None, newest_first: bool = True) -> Iterator[Call]:
        return iter(())

    def aggregate(self, filter: Filter, **kwargs: Any) -> list[Any]:
        return []

    def percentiles(self, filter: Filter, **kwargs: Any) -> list[Any]:
        return []

    def delete(self, filter: Filter, *, batch_size: int = 10_000) -> int:
        return 0

    def meta_get(self, namespace: str, key: str) -> str | None:
        return None

    def meta_put(self, namespace: str, key: str, value: str) -> None:
        pass

    def meta_put_if_absent(self, namespace: str, key: str, value: str) -> bool:
        return True

    def meta_delete(self, namespace: str, key: str) -> bool:
        return False

    def meta_items(self, namespace: str) -> dict[str, str]:
        return {}

    def close(self) -> None:
        pass


def test_a_store_that_cannot_be_written_leaves_the_result_intact(server: FakeProvider) -> None:
    broken = Tracker(store=BrokenStore())
    try:
        with new_client(server) as client:
            instrument(client, tracker=broken)
            server.queue(Reply.json(fixture_json("openai_chat.json")))
            response = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
            assert response.choices[0].message.content == "The capital of France is Paris."
            server.queue(openai_stream("openai_chat_stream.sse"))
            text = "".join(
                c.choices[0].delta.content or ""
                for c in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
            )
            assert text == "Hello! How can I help you today?"
        broken.flush()
        assert broken.health.failed_batches >= 1
    finally:
        broken.close()


class ExplodingTracker(Tracker):
    """A tracker with a bug in record() — capture must swallow it."""

    def record(self, model: str, input_tokens: int = 0, output_tokens: int = 0, **fields: Any) -> None:
        raise RuntimeError("bug in tracking")


def test_a_bug_in_tracking_never_reaches_the_caller(server: FakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    t = ExplodingTracker("memory://")
    try:
        with new_client(server) as client, caplog.at_level(logging.WARNING, logger="tokentrail"):
            instrument(client, tracker=t)
            server.queue(Reply.json(fixture_json("openai_chat.json")))
            assert client.chat.completions.create(model="gpt-4o", messages=MESSAGES).usage.total_tokens == 2306
            server.queue(openai_stream("openai_chat_stream.sse"))
            assert len(list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))) == 11
            server.queue(Reply.json(fixture_json("openai_error_429.json"), 429))
            with pytest.raises(openai.RateLimitError):  # the provider's error, not ours
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert t.health.internal_errors == 3
        assert "bug in tracking" in caplog.text
    finally:
        t.close()


# -- streams ----------------------------------------------------------------------------------------------------


def test_stream_proxy_forwards_attributes_and_isinstance(server: FakeProvider, tracker: Tracker) -> None:
    with new_client(server) as client:
        instrument(client, tracker=tracker)
        server.queue(openai_stream("openai_chat_stream.sse"))
        stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        assert isinstance(stream, openai.Stream)
        assert stream.response.status_code == 200
        assert next(stream).choices[0].delta.role == "assistant"
        for _ in stream:
            pass
    assert one_call(tracker).output_tokens == 10


def test_a_dropped_stream_is_recorded(server: FakeProvider, tracker: Tracker) -> None:
    with new_client(server) as client:
        instrument(client, tracker=tracker)
        server.queue(openai_stream("openai_chat_stream.sse"))
        stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        next(stream)
        stream.close()
        del stream
        gc.collect()
    call = one_call(tracker)
    assert call.streamed and call.tokens_estimated


def test_calls_from_threads_and_tasks_keep_their_own_context(server: FakeProvider, tracker: Tracker) -> None:
    server.always(lambda request: Reply.json({**fixture_json("openai_chat.json"), "id": request.body["user"]}))
    with new_client(server) as client:
        instrument(client, tracker=tracker)

        def work(i: int) -> None:
            with tt.context(agent=f"agent-{i}"):
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES, user=f"req-{i}")

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    async def main() -> None:
        async with AsyncOpenAI(api_key="x", base_url=server.url + "/v1", max_retries=0) as c:
            instrument(c, tracker=tracker)

            async def one(i: int) -> None:
                with tt.context(agent=f"task-{i}"):
                    await c.chat.completions.create(model="gpt-4o", messages=MESSAGES, user=f"task-req-{i}")

            await asyncio.gather(*(one(i) for i in range(8)))

    asyncio.run(main())
    stored = calls(tracker)
    assert len(stored) == 16
    for call in stored:
        suffix = call.response_id.rsplit("-", 1)[1] if call.response_id else None
        prefix = "agent" if call.response_id and call.response_id.startswith("req-") else "task"
        assert call.agent == f"{prefix}-{suffix}"


def test_stream_attributed_to_the_context_it_started_in(server: FakeProvider, tracker: Tracker) -> None:
    with new_client(server) as client:
        instrument(client, tracker=tracker)
        server.queue(Reply.sse(fixture("openai_chat_stream.sse")))
        with tt.context(agent="starter"):
            stream = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        with tt.context(agent="consumer"):
            for _ in stream:
                pass
    assert one_call(tracker).agent == "starter"


def test_prompt_text_is_canonical_json(server: FakeProvider) -> None:
    t = Tracker("memory://", store_prompts=True)
    try:
        with new_client(server) as client:
            instrument(client, tracker=t)
            server.queue(Reply.json(fixture_json("openai_chat.json")))
            client.chat.completions.create(model="gpt-4o", messages=[{"content": "héllo", "role": "user"}])
        prompt = one_call(t).prompt
        assert prompt == '[{"content":"héllo","role":"user"}]'
        assert json.loads(prompt or "") == [{"role": "user", "content": "héllo"}]
    finally:
        t.close()
