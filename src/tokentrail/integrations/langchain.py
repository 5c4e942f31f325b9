"""LangChain: a callback handler that records every LLM run of a chain, agent or graph.

```python
from tokentrail.integrations.langchain import TokentrailCallback
llm.invoke("hi", config={"callbacks": [TokentrailCallback()]})
```

Tokens come from what the provider reported — `AIMessage.usage_metadata`, else `llm_output["token_usage"]`,
else the message's `response_metadata["token_usage"]` (NVIDIA's and older integrations report it only there)
— never from a recount (an estimate, marked `tokens_estimated=True`, only when the model reported
nothing). LangChain's run tree becomes tokentrail's workflow tree: `run_id` → `span_id`,
`parent_run_id` → `parent_span_id`, one `trace_id` per root run (or the enclosing `tokentrail.context`
trace). The provider's response id is recorded, so a call also captured by an instrumented SDK is
stored once.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from ..capture._common import Config, _count_prompt, _count_text, error_message, internal_error, to_text
from ..capture.usage import Usage, _get, from_anthropic, from_langchain, from_openai_chat
from ..context import current_scope

__all__ = ["TokentrailCallback"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function"}
_PROVIDERS = {
    "google_genai": "google",
    "google_vertexai": "google",
    "vertexai": "google",
    "amazon_bedrock": "aws",
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "azure_openai": "azure",
    "NVIDIA": "nvidia",  # ChatNVIDIA (langchain-nvidia-ai-endpoints)
}


@dataclass(slots=True)
class _Run:
    """An LLM run between its start and its end."""

    model: str | None
    provider: str | None
    operation: str
    prompt: str | None
    messages: list[dict[str, Any]] | None
    trace_id: str
    span_id: str
    parent_span_id: str | None
    context: contextvars.Context
    started: int = field(default_factory=time.time_ns)
    t0: int = field(default_factory=time.perf_counter_ns)
    first: int | None = None


def _messages(messages: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for message in messages:
        role = _ROLES.get(getattr(message, "type", ""), getattr(message, "type", "user"))
        item: dict[str, Any] = {"role": role, "content": getattr(message, "content", message)}
        tool_calls = getattr(message, "tool_calls", None)
        if tool_calls:
            item["tool_calls"] = tool_calls
        out.append(item)
    return out


def _requested_model(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> str | None:
    params = kwargs.get("invocation_params") or {}
    metadata = kwargs.get("metadata") or {}
    for value in (
        params.get("model"),
        params.get("model_name"),
        params.get("model_id"),
        metadata.get("ls_model_name"),
        ((serialized or {}).get("kwargs") or {}).get("model_name"),
    ):
        if isinstance(value, str) and value:
            return value
    return None


class TokentrailCallback(BaseCallbackHandler):
    """Records each LLM run (chat models and LLMs) on a tokentrail Tracker.

    Args:
        tracker: the Tracker to record on (default: the default tracker at the time of each run).
        provider: record this provider id instead of LangChain's `ls_provider`.

    Example:
        >>> from langchain_core.language_models import GenericFakeChatModel  # doctest: +SKIP
        >>> llm.invoke("hi", config={"callbacks": [TokentrailCallback()]})  # doctest: +SKIP
    """

    raise_error = False
    run_inline = True

    def __init__(self, tracker: Any = None, *, provider: str | None = None) -> None:
        super().__init__()
        self._config = Config(tracker=tracker, provider=provider)
        self._runs: dict[UUID, _Run] = {}
        self._traces: dict[UUID, tuple[str, str]] = {}
        """Every open run (chains and tools too): its trace id and span id, so children find them."""

    # -- the run tree ----------------------------------------------------------------------------

    def _open(self, run_id: UUID, parent_run_id: UUID | None) -> tuple[str, str, str | None]:
        span_id = str(run_id)
        parent = self._traces.get(parent_run_id) if parent_run_id is not None else None
        trace_id: str
        parent_span_id: str | None
        if parent is not None:
            trace_id, parent_span_id = parent[0], parent[1]
        elif parent_run_id is not None:  # a parent this handler was not told about
            trace_id, parent_span_id = str(parent_run_id), str(parent_run_id)
        else:
            scope = current_scope()
            if scope.trace_id:
                trace_id, parent_span_id = scope.trace_id, scope.span_id
            else:
                trace_id, parent_span_id = str(run_id), None
        self._traces[run_id] = (trace_id, span_id)
        return trace_id, span_id, parent_span_id

    def _close(self, run_id: UUID) -> None:
        self._traces.pop(run_id, None)

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        self._open(run_id, parent_run_id)

    def on_tool_start(
        self, serialized: Any, input_str: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        self._open(run_id, parent_run_id)

    def on_retriever_start(
        self, serialized: Any, query: Any, *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        self._open(run_id, parent_run_id)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id)

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id)

    # -- LLM runs ----------------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: Any,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        try:
            chat = _messages(messages[0]) if messages else []
            self._start(run_id, parent_run_id, serialized, kwargs, "chat", chat, to_text(chat))
        except Exception as exc:
            internal_error(self._config.get_tracker(), exc)

    def on_llm_start(
        self, serialized: Any, prompts: list[str], *, run_id: UUID, parent_run_id: UUID | None = None, **kwargs: Any
    ) -> None:
        try:
            prompt = prompts[0] if len(prompts) == 1 else to_text(prompts)
            self._start(run_id, parent_run_id, serialized, kwargs, "completion", None, prompt)
        except Exception as exc:
            internal_error(self._config.get_tracker(), exc)

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        serialized: Any,
        kwargs: Mapping[str, Any],
        operation: str,
        messages: list[dict[str, Any]] | None,
        prompt: str | None,
    ) -> None:
        trace_id, span_id, parent_span_id = self._open(run_id, parent_run_id)
        provider = self._config.provider or (kwargs.get("metadata") or {}).get("ls_provider")
        if isinstance(provider, str):
            provider = _PROVIDERS.get(provider, provider)
        self._runs[run_id] = _Run(
            model=_requested_model(serialized, kwargs),
            provider=provider if isinstance(provider, str) and provider else None,
            operation=operation,
            prompt=prompt,
            messages=messages,
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent_span_id,
            context=contextvars.copy_context(),
        )

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is not None and run.first is None and token:
            run.first = time.perf_counter_ns()

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.pop(run_id, None)
        self._close(run_id)
        if run is None:
            return
        tracker = self._config.get_tracker()
        try:
            self._record(tracker, run, self._read(response, run))
        except Exception as exc:
            internal_error(tracker, exc)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.pop(run_id, None)
        self._close(run_id)
        if run is None:
            return
        tracker = self._config.get_tracker()
        try:
            self._record(
                tracker,
                run,
                {"success": False, "error_type": type(error).__name__, "error_message": error_message(error)},
            )
        except Exception as exc:
            internal_error(tracker, exc)

    # -- reading the result ----------------------------------------------------------------------------

    def _read(self, response: Any, run: _Run) -> dict[str, Any]:
        generations = getattr(response, "generations", None) or [[]]
        first = generations[0][0] if generations and generations[0] else None
        message = getattr(first, "message", None)
        llm_output = getattr(response, "llm_output", None) or {}
        metadata = getattr(message, "response_metadata", None) or {}
        info = getattr(first, "generation_info", None) or {}
        fields: dict[str, Any] = {}

        usage = self._usage(getattr(message, "usage_metadata", None), (llm_output, metadata), run)
        text = self._text(generations)
        if usage is None:
            fields["tokens_estimated"] = True
            model = run.model or "unknown"
            usage = Usage(_count_prompt(model, run.messages, run.prompt), _count_text(model, text))
        fields.update(usage.as_fields())
        served = metadata.get("model_name") or metadata.get("model") or llm_output.get("model_name")
        if isinstance(served, str) and served:
            fields["response_model"] = served
        response_id = metadata.get("id") or llm_output.get("id")
        if not response_id:
            message_id = getattr(message, "id", None)
            if isinstance(message_id, str) and not message_id.startswith(("run-", "lc_run-", "lc_")):
                response_id = message_id
        if isinstance(response_id, str) and response_id:
            fields["response_id"] = response_id
        finish = (
            metadata.get("finish_reason")
            or metadata.get("stop_reason")
            or info.get("finish_reason")
            or metadata.get("done_reason")
        )
        if isinstance(finish, str) and finish:
            fields["finish_reason"] = finish
        fields["response"] = text
        return fields

    @staticmethod
    def _usage(usage_metadata: Any, sources: Sequence[Mapping[str, Any]], run: _Run) -> Usage | None:
        """The provider's counts: `usage_metadata`, else the first `token_usage`/`usage` of `llm_output` and
        then `response_metadata` in a shape that is known (an unknown shape is not read as zero tokens)."""
        if usage_metadata:
            return from_langchain(usage_metadata)
        for source in sources:
            token_usage = source.get("token_usage") or source.get("usage")
            if not token_usage:
                continue
            if _get(token_usage, "prompt_tokens") is not None or _get(token_usage, "completion_tokens") is not None:
                return from_openai_chat(token_usage)
            if _get(token_usage, "cache_read_input_tokens") is not None or run.provider == "anthropic":
                return from_anthropic(token_usage)
            if _get(token_usage, "input_tokens") is not None or _get(token_usage, "output_tokens") is not None:
                return from_langchain(token_usage)
        return None

    @staticmethod
    def _text(generations: Sequence[Sequence[Any]]) -> str | None:
        parts = []
        for generation in generations[0] if generations else ():
            text = getattr(generation, "text", None)
            if text:
                parts.append(text)
            tool_calls = getattr(getattr(generation, "message", None), "tool_calls", None)
            if tool_calls:
                parts.append(to_text(tool_calls) or "")
        return "\n".join(parts) if parts else None

    def _record(self, tracker: Any, run: _Run, fields: dict[str, Any]) -> None:
        duration = (time.perf_counter_ns() - run.t0) / 1e6
        fields.update(
            operation=run.operation,
            started_at=datetime.fromtimestamp(run.started / 1e9, timezone.utc),
            duration_ms=duration,
            streamed=run.first is not None,
            trace_id=run.trace_id,
            span_id=run.span_id,
            parent_span_id=run.parent_span_id,
            prompt=run.prompt,
        )
        if run.first is not None:
            fields["ttft_ms"] = (run.first - run.t0) / 1e6
        if run.provider:
            fields["provider"] = run.provider
        model = run.model or fields.get("response_model") or "unknown"
        run.context.run(tracker.record, model, **fields)
