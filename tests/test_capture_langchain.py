"""The LangChain callback: provider-reported usage, run tree → spans, errors, and no double counting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableLambda

import tokentrail as tt
from providers.helpers import _no_patches_left, _server, calls, cost, one_call, openai_stream, server, tracker
from providers.server import FakeProvider, Reply, fixture_json
from tokentrail import Tracker
from tokentrail.capture import instrument_openai
from tokentrail.integrations.langchain import TokentrailCallback

__all__ = ["_no_patches_left", "_server", "server", "tracker"]  # pytest fixtures, imported

GPT_4O = {"in": "2.50", "read": "1.25", "out": "10"}
SONNET_4 = {"in": "3", "read": "0.30", "write": "3.75", "write_1h": "6", "out": "15"}
USAGE = {"input_tokens": 2006, "output_tokens": 300, "total_tokens": 2306, "input_token_details": {"cache_read": 1920}}


class UsageChatModel(BaseChatModel):
    """A chat model that answers like a provider integration: usage_metadata and response metadata included."""

    reply: str = "Paris."
    usage: dict[str, Any] = USAGE
    metadata: dict[str, Any] = {"model_name": "gpt-4o-2024-08-06", "id": "chatcmpl-lc-1", "finish_reason": "stop"}
    fail: bool = False

    @property
    def _llm_type(self) -> str:
        return "usage-chat-model"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai"
        params["ls_model_name"] = "gpt-4o"
        return params

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.fail:
            raise RuntimeError("provider exploded")
        message = AIMessage(content=self.reply, usage_metadata=self.usage, response_metadata=self.metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for word in self.reply.split(" "):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
            if run_manager:
                run_manager.on_llm_new_token(word, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(
            message=AIMessageChunk(content="", usage_metadata=self.usage, response_metadata=self.metadata)
        )

    async def _astream(
        self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._stream(messages, stop):
            if run_manager and chunk.message.content:
                await run_manager.on_llm_new_token(str(chunk.message.content), chunk=chunk)
            yield chunk


def test_invoke_records_provider_usage(tracker: Tracker) -> None:
    llm = UsageChatModel()
    with tt.context(agent="lc-agent", team="core"):
        answer = llm.invoke("What is the capital of France?", config={"callbacks": [TokentrailCallback(tracker)]})
    assert answer.content == "Paris."
    call = one_call(tracker)
    assert (call.model, call.response_model, call.provider, call.operation) == (
        "gpt-4o",
        "gpt-4o-2024-08-06",
        "openai",
        "chat",
    )
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (2006, 1920, 300)
    assert call.cost_usd == cost(GPT_4O, uncached=86, cache_read=1920, output=300)
    assert (call.response_id, call.finish_reason, call.tokens_estimated) == ("chatcmpl-lc-1", "stop", False)
    assert (call.agent, call.labels["team"]) == ("lc-agent", "core")
    assert call.duration_ms is not None and call.prompt_hash and call.response_hash


def test_anthropic_style_usage_with_ttl_split(tracker: Tracker) -> None:
    usage = {
        "input_tokens": 10_821,
        "output_tokens": 412,
        "total_tokens": 11_233,
        "input_token_details": {
            "cache_read": 9000,
            "cache_creation": 0,
            "ephemeral_5m_input_tokens": 600,
            "ephemeral_1h_input_tokens": 1200,
        },
    }
    metadata = {"model": "claude-sonnet-4-20250514", "id": "msg_lc", "stop_reason": "end_turn"}
    UsageChatModel(usage=usage, metadata=metadata).invoke("hi", config={"callbacks": [TokentrailCallback(tracker)]})
    call = one_call(tracker)
    assert (call.cache_read_tokens, call.cache_write_tokens, call.cache_write_1h_tokens) == (9000, 1800, 1200)
    assert (call.response_model, call.finish_reason) == ("claude-sonnet-4-20250514", "end_turn")
    assert call.cost_usd == cost(SONNET_4, uncached=21, cache_read=9000, write_5m=600, write_1h=1200, output=412)


def test_stream_records_usage_and_time_to_first_token(tracker: Tracker) -> None:
    llm = UsageChatModel(reply="The capital is Paris.")
    chunks = list(llm.stream("hi", config={"callbacks": [TokentrailCallback(tracker)]}))
    assert "".join(str(c.content) for c in chunks).strip() == "The capital is Paris."
    call = one_call(tracker)
    assert (call.streamed, call.input_tokens, call.output_tokens, call.tokens_estimated) == (True, 2006, 300, False)
    assert call.ttft_ms is not None and call.ttft_ms <= (call.duration_ms or 0)


def test_async_invoke_and_stream(tracker: Tracker) -> None:
    callback = TokentrailCallback(tracker)

    async def main() -> None:
        llm = UsageChatModel()
        with tt.context(user="async-user"):
            await llm.ainvoke("hi", config={"callbacks": [callback]})
        other = UsageChatModel(metadata={"model_name": "gpt-4o-2024-08-06", "id": "chatcmpl-lc-2"})
        async for _ in other.astream("hi", config={"callbacks": [callback]}):
            pass

    asyncio.run(main())
    first, second = calls(tracker)
    assert (first.user, first.input_tokens, first.streamed) == ("async-user", 2006, False)
    assert (second.streamed, second.output_tokens, second.response_id) == (True, 300, "chatcmpl-lc-2")


def test_run_tree_maps_onto_spans(tracker: Tracker) -> None:
    llm = UsageChatModel()
    second = UsageChatModel(metadata={"model_name": "gpt-4o-2024-08-06", "id": "chatcmpl-lc-3"})
    chain = RunnableLambda(lambda x: llm.invoke(x).content) | RunnableLambda(lambda x: second.invoke(f"again {x}"))
    callback = TokentrailCallback(tracker)
    chain.invoke("start", config={"callbacks": [callback]})
    first, last = calls(tracker)
    assert first.trace_id == last.trace_id and first.trace_id
    assert first.span_id != last.span_id
    assert first.parent_span_id and last.parent_span_id and first.parent_span_id != first.span_id
    assert callback._runs == {} and callback._traces == {}  # nothing left behind


def test_runs_inside_a_tokentrail_context_join_its_trace(tracker: Tracker) -> None:
    with tt.context(agent="outer") as scope:
        UsageChatModel().invoke("hi", config={"callbacks": [TokentrailCallback(tracker)]})
    call = one_call(tracker)
    assert (call.trace_id, call.parent_span_id) == (scope.trace_id, scope.span_id)


def test_errors_are_recorded(tracker: Tracker) -> None:
    with pytest.raises(RuntimeError, match="provider exploded"):
        UsageChatModel(fail=True).invoke("hi", config={"callbacks": [TokentrailCallback(tracker)]})
    call = one_call(tracker)
    assert (call.success, call.error_type, call.error_message) == (False, "RuntimeError", "provider exploded")
    assert call.model == "gpt-4o"


def test_missing_usage_falls_back_to_an_estimate(tracker: Tracker) -> None:
    llm = GenericFakeChatModel(messages=iter([AIMessage(content="Paris is the capital of France.")]))
    llm.invoke("What is the capital of France?", config={"callbacks": [TokentrailCallback(tracker)]})
    call = one_call(tracker)
    assert call.tokens_estimated and call.input_tokens > 0 and call.output_tokens > 0


def test_llm_output_token_usage_fallback(tracker: Tracker) -> None:
    from langchain_core.outputs import Generation, LLMResult

    callback = TokentrailCallback(tracker)
    import uuid

    run_id = uuid.uuid4()
    callback.on_llm_start({}, ["Say hi"], run_id=run_id, invocation_params={"model_name": "gpt-4o-mini"})
    result = LLMResult(
        generations=[[Generation(text="hi")]],
        llm_output={
            "token_usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14},
            "model_name": "gpt-4o-mini-2024-07-18",
        },
    )
    callback.on_llm_end(result, run_id=run_id)
    call = one_call(tracker)
    assert (call.operation, call.model, call.response_model) == ("completion", "gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (call.input_tokens, call.output_tokens, call.tokens_estimated) == (12, 2, False)


# -- usage only in response_metadata["token_usage"] (ChatNVIDIA and older integrations) -------------------------

NIM_METADATA = {
    "role": "assistant",
    "token_usage": {"prompt_tokens": 17, "total_tokens": 20, "completion_tokens": 3},
    "finish_reason": "stop",
    "model_name": "meta/llama3-8b-instruct",
}


class MetadataOnlyChatModel(UsageChatModel):
    """Answers like ChatNVIDIA did: no `usage_metadata`, the counts only in `response_metadata["token_usage"]`."""

    metadata: dict[str, Any] = NIM_METADATA

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "NVIDIA"
        params["ls_model_name"] = "meta/llama3-8b-instruct"
        return params

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:  # fmt: skip
        message = AIMessage(content=self.reply, response_metadata=self.metadata)
        assert not message.usage_metadata  # only the metadata carries the counts
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:  # fmt: skip
        for word in self.reply.split(" "):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
            if run_manager:
                run_manager.on_llm_new_token(word, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(message=AIMessageChunk(content="", response_metadata=self.metadata))


def test_usage_only_in_response_metadata_is_read_exactly(tracker: Tracker) -> None:
    llm = MetadataOnlyChatModel(reply="The capital of France is Paris.")
    llm.invoke("What is the capital of France?", config={"callbacks": [TokentrailCallback(tracker)]})
    list(llm.stream("And of Italy?", config={"callbacks": [TokentrailCallback(tracker)]}))
    invoked, streamed = calls(tracker)
    for call in (invoked, streamed):
        assert (call.input_tokens, call.output_tokens, call.tokens_estimated) == (17, 3, False)
        assert (call.provider, call.model, call.finish_reason) == ("nvidia", "meta/llama3-8b-instruct", "stop")
    assert (invoked.streamed, streamed.streamed) == (False, True)


def test_response_metadata_usage_through_an_llm_result(tracker: Tracker) -> None:
    import uuid

    from langchain_core.messages import HumanMessage
    from langchain_core.outputs import LLMResult

    callback = TokentrailCallback(tracker)
    run_id = uuid.uuid4()
    callback.on_chat_model_start({}, [[HumanMessage(content="hi")]], run_id=run_id,
                                 invocation_params={"model": "meta/llama3-8b-instruct"},
                                 metadata={"ls_provider": "NVIDIA"})  # fmt: skip
    message = AIMessage(content="Hello!", response_metadata=NIM_METADATA)
    callback.on_llm_end(LLMResult(generations=[[ChatGeneration(message=message)]], llm_output={}), run_id=run_id)
    call = one_call(tracker)
    assert (call.input_tokens, call.output_tokens, call.tokens_estimated, call.provider) == (17, 3, False, "nvidia")


def test_usage_in_an_unknown_shape_is_estimated_not_read_as_zero(tracker: Tracker) -> None:
    odd = {**NIM_METADATA, "token_usage": {"inputTokenCount": 17, "outputTokenCount": 3}}
    MetadataOnlyChatModel(metadata=odd).invoke("hi", config={"callbacks": [TokentrailCallback(tracker)]})
    call = one_call(tracker)
    assert call.tokens_estimated and call.input_tokens > 0 and call.output_tokens > 0


# -- ChatOpenAI against the fake OpenAI server ----------------------------------------------------------


@pytest.fixture
def chat_openai(server: FakeProvider) -> Any:
    langchain_openai = pytest.importorskip("langchain_openai")
    return langchain_openai.ChatOpenAI(model="gpt-4o", base_url=server.url + "/v1", api_key="sk-test", max_retries=0)


def test_chat_openai(chat_openai: Any, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(Reply.json(fixture_json("openai_chat.json")))
    chat_openai.invoke("What is the capital of France?", config={"callbacks": [TokentrailCallback(tracker)]})
    call = one_call(tracker)
    assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (2006, 1920, 300)
    assert (call.response_model, call.response_id) == ("gpt-4o-2024-08-06", "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG")
    assert call.cost_usd == cost(GPT_4O, uncached=86, cache_read=1920, output=300)


def test_chat_openai_stream(chat_openai: Any, server: FakeProvider, tracker: Tracker) -> None:
    server.queue(openai_stream("openai_chat_stream.sse"))
    text = "".join(
        str(c.content)
        for c in chat_openai.stream("hi", config={"callbacks": [TokentrailCallback(tracker)]}, stream_usage=True)
    )
    assert text == "Hello! How can I help you today?"
    call = one_call(tracker)
    assert (call.streamed, call.input_tokens, call.output_tokens, call.tokens_estimated) == (True, 2006, 10, False)


def test_sdk_and_callback_together_store_the_call_once(
    chat_openai: Any, server: FakeProvider, tracker: Tracker
) -> None:
    with instrument_openai(tracker=tracker):
        server.queue(Reply.json(fixture_json("openai_chat.json")))
        chat_openai.invoke("hi", config={"callbacks": [TokentrailCallback(tracker)]})
    call = one_call(tracker)
    assert call.response_id == "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
    assert tracker.health.duplicates == 1  # both paths recorded it; the store kept one
