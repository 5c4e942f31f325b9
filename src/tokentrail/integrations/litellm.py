"""LiteLLM: a custom logger that records every call LiteLLM makes, to any of its providers.

```python
import litellm
from tokentrail.integrations.litellm import TokentrailLogger
litellm.callbacks = [TokentrailLogger()]
```

Tokens come from LiteLLM's OpenAI-shaped `usage` (cache reads in `prompt_tokens_details.cached_tokens`,
cache writes and Anthropic's 1-hour split in its cache fields, reasoning in
`completion_tokens_details.reasoning_tokens`), normalized by `usage.from_litellm`. LiteLLM reports
success and failure from a worker thread; the caller's `tokentrail.context` is taken when the request
is sent (`log_pre_api_call`), so labels still apply. Each call is recorded once even when LiteLLM runs
both its sync and async hooks for it; LiteLLM cache hits (no provider call) are not recorded.
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from ..capture._common import Config, _count_prompt, _count_text, error_message, internal_error, plain, to_text
from ..capture.usage import _get, from_litellm

__all__ = ["TokentrailLogger"]

_MAX_PENDING = 10_000
_OPERATIONS = {
    "completion": "chat",
    "acompletion": "chat",
    "embedding": "embedding",
    "aembedding": "embedding",
    "text_completion": "completion",
    "atext_completion": "completion",
    "responses": "responses",
    "aresponses": "responses",
    "anthropic_messages": "chat",
}
_PROVIDERS = {
    "gemini": "google",
    "vertex_ai": "google",
    "vertex_ai_beta": "google",
    "bedrock": "aws",
    "azure_ai": "azure",
    "text-completion-openai": "openai",
}


def _timestamp(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


class TokentrailLogger(CustomLogger):
    """Records LiteLLM calls on a tokentrail Tracker; add it to `litellm.callbacks`.

    Args:
        tracker: the Tracker to record on (default: the default tracker at the time of each call).
        provider: record this provider id instead of LiteLLM's `custom_llm_provider`.

    Example:
        >>> import litellm  # doctest: +SKIP
        >>> litellm.callbacks = [TokentrailLogger()]  # doctest: +SKIP
    """

    def __init__(self, tracker: Any = None, *, provider: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._config = Config(tracker=tracker, provider=provider)
        # LiteLLM keeps one logger per class and public settings: loggers for different trackers must differ.
        self.tracker_key = "default" if tracker is None else f"tracker-{id(tracker):x}"
        self.provider = provider or ""
        self._lock = threading.Lock()
        self._contexts: OrderedDict[str, contextvars.Context | None] = OrderedDict()
        """Call id → the caller's context when it was sent; None once the call is recorded."""

    # -- LiteLLM hooks -----------------------------------------------------------------------------

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        call_id = kwargs.get("litellm_call_id") if isinstance(kwargs, Mapping) else None
        if not isinstance(call_id, str):
            return
        with self._lock:
            if call_id not in self._contexts:
                self._contexts[call_id] = contextvars.copy_context()
                while len(self._contexts) > _MAX_PENDING:
                    self._contexts.popitem(last=False)

    async def async_log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        self.log_pre_api_call(model, messages, kwargs)

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._handle(kwargs, response_obj, start_time, end_time, None)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        error = kwargs.get("exception") if isinstance(kwargs, Mapping) else None
        self._handle(kwargs, response_obj, start_time, end_time, error or RuntimeError("LiteLLM call failed"))

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.log_success_event(kwargs, response_obj, start_time, end_time)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self.log_failure_event(kwargs, response_obj, start_time, end_time)

    # -- recording ---------------------------------------------------------------------------------

    def _claim(self, call_id: Any) -> tuple[bool, contextvars.Context | None]:
        """Whether this event is the first for its call (LiteLLM may run sync and async hooks), and its context."""
        if not isinstance(call_id, str):
            return True, None
        with self._lock:
            if call_id in self._contexts:
                context = self._contexts[call_id]
                if context is None:
                    return False, None
                self._contexts[call_id] = None
                return True, context
            self._contexts[call_id] = None
            while len(self._contexts) > _MAX_PENDING:
                self._contexts.popitem(last=False)
            return True, None

    def _handle(self, kwargs: Any, response: Any, start_time: Any, end_time: Any, error: Any) -> None:
        tracker = None
        try:
            tracker = self._config.get_tracker()
            kwargs = kwargs if isinstance(kwargs, Mapping) else {}
            log = kwargs.get("standard_logging_object") or {}
            if log.get("cache_hit") is True:
                return  # answered from LiteLLM's cache: no provider call, nothing billed
            first, context = self._claim(kwargs.get("litellm_call_id"))
            if not first:
                return
            model, fields = self._fields(kwargs, log, response, start_time, end_time, error)
            if context is not None:
                context.run(tracker.record, model, **fields)
            else:
                tracker.record(model, **fields)
        except Exception as exc:
            internal_error(tracker, exc)

    def _fields(
        self,
        kwargs: Mapping[str, Any],
        log: Mapping[str, Any],
        response: Any,
        start_time: Any,
        end_time: Any,
        error: Any,
    ) -> tuple[str, dict[str, Any]]:
        params = kwargs.get("litellm_params") or {}
        model = kwargs.get("model") or log.get("model") or params.get("model") or "unknown"
        provider = self._config.provider or kwargs.get("custom_llm_provider") or log.get("custom_llm_provider")
        if isinstance(provider, str):
            provider = _PROVIDERS.get(provider, provider)
        streamed = bool(kwargs.get("stream") or log.get("stream"))
        operation = _OPERATIONS.get(str(kwargs.get("call_type") or log.get("call_type") or ""), "chat")
        messages = plain(kwargs.get("messages"))
        prompt = to_text(messages if messages is not None else plain(kwargs.get("input")))
        fields: dict[str, Any] = {"operation": operation, "streamed": streamed, "prompt": prompt}
        if isinstance(provider, str) and provider:
            fields["provider"] = provider
        start, end = _timestamp(start_time) or _timestamp(log.get("startTime")), _timestamp(end_time)
        if start is not None:
            fields["started_at"] = datetime.fromtimestamp(start, timezone.utc)
            if end is not None and end >= start:
                fields["duration_ms"] = (end - start) * 1000
            first = _timestamp(kwargs.get("completion_start_time")) or _timestamp(log.get("completionStartTime"))
            if streamed and first is not None and first >= start:
                fields["ttft_ms"] = (first - start) * 1000
        if error is not None:
            fields.update(success=False, error_type=type(error).__name__, error_message=error_message(error))
            return model, fields

        usage = _get(response, "usage")
        text = _response_text(response)
        fields["response"] = text
        if usage is not None:
            fields.update(from_litellm(usage).as_fields())
        else:
            chat = messages if isinstance(messages, list) and all(isinstance(m, dict) for m in messages) else None
            fields.update(
                input_tokens=_count_prompt(model, chat, prompt),
                output_tokens=_count_text(model, text),
                tokens_estimated=True,
            )
        for name, value in (
            ("response_id", _get(response, "id") or log.get("id")),
            ("response_model", _get(response, "model")),
            ("finish_reason", _finish_reason(response)),
        ):
            if isinstance(value, str) and value:
                fields[name] = value
        return model, fields


def _response_text(response: Any) -> str | None:
    parts = []
    for choice in _get(response, "choices") or ():
        message = _get(choice, "message")
        content = _get(message, "content") or _get(choice, "text")
        if content:
            parts.append(content if isinstance(content, str) else to_text(content) or "")
        tool_calls = _get(message, "tool_calls")
        if tool_calls:
            parts.append(to_text(tool_calls) or "")
    return "\n".join(parts) if parts else None


def _finish_reason(response: Any) -> str | None:
    for choice in _get(response, "choices") or ():
        reason = _get(choice, "finish_reason")
        if isinstance(reason, str) and reason:
            return reason
    return None
