"""Instrument the official `anthropic` SDK: `messages.create` (sync, async, `stream=True`) and `messages.stream`.

Anthropic reports cache reads and writes *outside* `input_tokens`; `usage.from_anthropic` adds them in
and keeps the 5-minute/1-hour split of cache writes, so the recorded cost matches the bill. A stream's
usage comes from `message_start` (input and cache counts) updated by `message_delta` (final output
count). `messages.stream(...)` is followed through its context manager: the manager and the
`MessageStream` the caller gets are the SDK's own; only the raw event stream underneath is proxied.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._common import _ACTIVE, Config, Endpoint, Result, _begin, internal_error, plain, to_text, warm_up
from ._patch import Instrumentation, patch
from ._stream import AsyncStream, SyncStream
from .usage import _get, from_anthropic

__all__ = ["instrument_anthropic"]

_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "output_tokens_details",
)


def _provider_of(resource: Any) -> str | None:
    name = type(getattr(resource, "_client", None)).__name__
    if "Bedrock" in name:
        return "aws"
    if "Vertex" in name:
        return "google"
    return "anthropic"


class MessagesEndpoint(Endpoint):
    """`messages.create` / `parse`: system and messages in, content blocks out."""

    operation = "chat"

    def prompt(self, kwargs: Mapping[str, Any]) -> Any:
        messages = plain(kwargs.get("messages"))
        system = plain(kwargs.get("system"))
        if system:
            return [{"role": "system", "content": system}, *(messages or ())]
        return messages

    def prompt_messages(self, kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        prompt = self.prompt(kwargs)
        if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
            return prompt
        return None

    def result(self, response: Any) -> Result:
        usage = _get(response, "usage")
        texts = []
        for block in _get(response, "content") or ():
            kind = _get(block, "type")
            if kind == "text":
                texts.append(_get(block, "text") or "")
            elif kind == "tool_use":
                texts.append(to_text({"name": _get(block, "name"), "input": _get(block, "input")}) or "")
        return Result(
            usage=from_anthropic(usage) if usage is not None else None,
            response_id=_get(response, "id") or None,
            response_model=_get(response, "model") or None,
            finish_reason=_get(response, "stop_reason") or None,
            text="\n".join(texts) if texts else None,
        )

    def is_content(self, chunk: Any) -> bool:
        return getattr(chunk, "type", None) == "content_block_delta"

    def keep(self, chunk: Any) -> Any:
        # Text of the current content block; blocks stream one after another, so order tells which.
        if getattr(chunk, "type", None) == "content_block_delta":
            delta = chunk.delta
            if getattr(delta, "type", None) == "text_delta":
                return delta.text
        return chunk

    def stream_result(self, chunks: list[Any]) -> Result:
        usage: dict[str, Any] | None = None
        final = False
        message_id = model = finish = None
        blocks: dict[int, list[str]] = {}
        current = 0
        for event in chunks:
            if type(event) is str:
                blocks.setdefault(current, []).append(event)
                continue
            kind = getattr(event, "type", None)
            if kind == "content_block_delta":
                current = event.index
                delta = event.delta
                dtype = getattr(delta, "type", None)
                if dtype == "text_delta":
                    blocks.setdefault(event.index, []).append(delta.text)
                elif dtype == "input_json_delta":
                    blocks.setdefault(event.index, []).append(delta.partial_json)
            elif kind == "message_start":
                message = event.message
                message_id, model = _get(message, "id"), _get(message, "model")
                start = _get(message, "usage")
                usage = {key: _get(start, key) for key in _USAGE_KEYS}
            elif kind == "message_delta":
                finish = _get(event.delta, "stop_reason") or finish
                final = True
                delta_usage = _get(event, "usage")
                if delta_usage is not None:
                    usage = usage if usage is not None else {}
                    for key in _USAGE_KEYS:  # counts in message_delta are cumulative
                        value = _get(delta_usage, key)
                        if value is not None:
                            usage[key] = value
            elif kind == "content_block_start":
                current = event.index
                block = event.content_block
                if getattr(block, "type", None) == "tool_use":
                    blocks.setdefault(event.index, []).append(to_text({"name": block.name}) or "")
        texts = ["".join(parts) for _, parts in sorted(blocks.items())]
        return Result(
            usage=from_anthropic(usage) if usage is not None else None,
            response_id=message_id or None,
            response_model=model or None,
            finish_reason=finish,
            text="\n".join(texts) if texts else None,
            partial=usage is not None and not final,
        )


class StreamEndpoint(MessagesEndpoint):
    """`messages.stream(...)`: always a stream."""

    streams_always = True


_MESSAGES, _STREAM = MessagesEndpoint(), StreamEndpoint()


class _SyncManager:
    """Stands in for the SDK's `MessageStreamManager`; entering it yields the SDK's own `MessageStream`."""

    __slots__ = ("_tt_manager", "_tt_capture")

    def __init__(self, manager: Any, capture: Any) -> None:
        self._tt_manager = manager
        self._tt_capture = capture

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_tt_"):
            raise AttributeError(name)
        return getattr(self._tt_manager, name)

    def __enter__(self) -> Any:
        capture = self._tt_capture
        capture.started, capture.t0 = time.time_ns(), time.perf_counter_ns()  # the request goes out now
        try:
            stream = self._tt_manager.__enter__()
        except BaseException as exc:
            capture.failed(exc)
            raise
        _proxy_raw(stream, SyncStream, capture)
        return stream

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self._tt_manager.__exit__(*exc_info)
        finally:
            self._tt_capture.stream_ended()


class _AsyncManager(_SyncManager):
    """Stands in for the SDK's `AsyncMessageStreamManager`."""

    __slots__ = ()

    async def __aenter__(self) -> Any:
        capture = self._tt_capture
        capture.started, capture.t0 = time.time_ns(), time.perf_counter_ns()
        try:
            stream = await self._tt_manager.__aenter__()
        except BaseException as exc:
            capture.failed(exc)
            raise
        _proxy_raw(stream, AsyncStream, capture)
        return stream

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self._tt_manager.__aexit__(*exc_info)
        finally:
            self._tt_capture.stream_ended()


def _proxy_raw(stream: Any, proxy: type, capture: Any) -> None:
    """Put a proxy under the SDK's MessageStream: it reads its raw events through `_raw_stream`."""
    try:
        stream._raw_stream = proxy(stream._raw_stream, capture)
    except Exception as exc:
        internal_error(capture.tracker, exc)
        capture.abandon()  # cannot follow this stream: record nothing rather than something wrong


def _stream_kind(is_async: bool) -> Any:
    manager_cls = _AsyncManager if is_async else _SyncManager

    def open_stream(state: Any, endpoint: Endpoint, resource: Any, fn: Any, args: Any, kwargs: Any) -> Any:
        if _ACTIVE.get() or not state.enabled:
            return fn(*args, **kwargs)
        capture, kwargs, _ = _begin(state, endpoint, resource, kwargs)
        if capture is None:
            return fn(*args, **kwargs)
        try:
            manager = fn(*args, **kwargs)
        except BaseException as exc:
            capture.failed(exc)
            raise
        return manager_cls(manager, capture)

    def make(state: Any, endpoint: Endpoint, owner: Any, target: Any, is_class: bool) -> Any:
        if is_class:

            def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                return open_stream(state, endpoint, self, target, (self, *args), kwargs)

            return method

        def bound(*args: Any, **kwargs: Any) -> Any:
            return open_stream(state, endpoint, owner, target, args, kwargs)

        return bound

    return make


_CLASS_TARGETS = (
    ("anthropic.resources.messages", "Messages", "AsyncMessages"),
    ("anthropic.resources.beta.messages", "Messages", "AsyncMessages"),
)


def _patch_messages(
    handle: Instrumentation, resource: Any, is_async: bool, config: Config, client_id: int | None
) -> None:
    kind = "async" if is_async else "sync"
    for method in ("create", "parse"):
        patch(handle, resource, method, _MESSAGES, kind, config, _provider_of, "anthropic", client_id)
    patch(handle, resource, "stream", _STREAM, _stream_kind(is_async), config, _provider_of, "anthropic", client_id)


def instrument_anthropic(
    client: Any = None, *, tracker: Any = None, provider: str | None = None, display: bool | None = None
) -> Any:
    """Record every call made through an Anthropic client (or, with no client, through every client).

    Args:
        client: an `anthropic.Anthropic` / `AsyncAnthropic` client; None patches the SDK classes.
        tracker: the Tracker to record on (default: the default tracker at call time).
        provider: record this provider id instead of `anthropic`.
        display: show (True) or hide (False) the per-call panel for these calls (default: the tracker's).

    Returns:
        The client, when one was given; otherwise an `Instrumentation` handle that undoes the patch.

    Raises:
        ImportError: the `anthropic` package is not installed.

    Example:
        >>> from anthropic import Anthropic  # doctest: +SKIP
        >>> client = instrument_anthropic(Anthropic())  # doctest: +SKIP
    """
    import importlib

    import anthropic  # noqa: F401 - a clear ImportError when the SDK is missing

    warm_up()
    config = Config(tracker=tracker, provider=provider, display=display)
    if client is None:
        handle = Instrumentation("anthropic")
        for module_name, sync_name, async_name in _CLASS_TARGETS:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            for cls_name, is_async in ((sync_name, False), (async_name, True)):
                cls = getattr(module, cls_name, None)
                if cls is not None:
                    _patch_messages(handle, cls, is_async, config, None)
        return handle
    handle = Instrumentation(f"anthropic client {type(client).__name__}")
    is_async = type(client).__name__.startswith("Async")
    for path in (("messages",), ("beta", "messages")):
        resource = client
        for attr in path:
            resource = getattr(resource, attr, None)
        if resource is not None:
            _patch_messages(handle, resource, is_async, config, id(client))
    return client
