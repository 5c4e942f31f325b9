"""One instrumented call, from request to record: what every SDK instrumentation shares.

A provider module (`openai.py`, `anthropic.py`, `google.py`) describes each method it instruments with
an `Endpoint` — how to read the model and the prompt from the request, and the usage, ids and text from
the response or from the chunks of a stream. The rest is here: `run_sync` / `run_async` check the
tracker's guards before sending, call the SDK, and hand the response (or a stream proxy) back untouched;
`_Capture` records the call exactly once. Provider errors are recorded and re-raised unchanged;
tokentrail's own errors are logged, counted in `tracker.health.internal_errors`, and never reach the
caller. A context variable makes nested wrappers (a client *and* its class instrumented) record once.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from ..model import MODALITY_FIELDS
from ._internal import internal_error as internal_error  # re-exported: providers and integrations use it
from ._stream import AsyncStream, SyncStream
from .usage import Usage

log = logging.getLogger("tokentrail")

_ACTIVE: ContextVar[bool] = ContextVar("tokentrail_capture_active", default=False)
"""True while an instrumented call is being sent: an inner wrapper then passes straight through."""

_MAX_ERROR_MESSAGE = 2000
_DETAIL_FIELDS = ("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens",
                  *MODALITY_FIELDS)  # fmt: skip
"""The counts inside the totals, passed to `record()` only when not 0."""


# -- what one response says ----------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    """What tokentrail reads from a provider's response (or from a stream's chunks)."""

    usage: Usage | None = None
    response_id: str | None = None
    response_model: str | None = None
    finish_reason: str | None = None
    text: str | None = None
    error_type: str | None = None
    """Set when the response itself reports a failure (e.g. a Responses stream's `response.failed`)."""
    error_message: str | None = None
    partial: bool = False
    """The usage seen is not final (the stream was cut before the provider's last count)."""


class Endpoint:
    """How one instrumented method's requests and responses are read. Provider modules subclass it."""

    operation = "chat"
    streams_always = False
    """True for methods that always stream (e.g. Gemini's `generate_content_stream`)."""

    def model(self, kwargs: Mapping[str, Any]) -> str | None:
        model = kwargs.get("model")
        return model if isinstance(model, str) and model else None

    def is_stream(self, kwargs: Mapping[str, Any]) -> bool:
        return self.streams_always or kwargs.get("stream") is True

    def prepare(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Adjust the request before sending (returns new kwargs, and whether a usage chunk was added)."""
        return kwargs, False

    def prompt(self, kwargs: Mapping[str, Any]) -> Any:
        """The prompt as plain data (messages list, text…), serialized to canonical JSON when recorded."""
        return None

    def prompt_messages(self, kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """The prompt as OpenAI-style chat messages, for counting tokens (None when not applicable)."""
        return None

    def max_output_tokens(self, kwargs: Mapping[str, Any]) -> int | None:
        for name in ("max_completion_tokens", "max_output_tokens", "max_tokens"):
            value = kwargs.get(name)
            if type(value) is int:
                return value
        return None

    def result(self, response: Any) -> Result:
        """Read a complete (non-streamed) response."""
        raise NotImplementedError

    def is_content(self, chunk: Any) -> bool:
        """Whether a stream chunk carries generated content (for time to first token)."""
        return True

    def keep(self, chunk: Any) -> Any:
        """What to keep of a stream chunk for `stream_result`: the chunk, or just its text as a `str`.

        Keeping thousands of SDK objects alive until a stream ends makes the garbage collector run far
        more often in the caller's process; text kept as `str` is not tracked by it.
        """
        return chunk

    def stream_result(self, chunks: list[Any]) -> Result:
        """Read what was kept of a stream's chunks (complete or cut short)."""
        raise NotImplementedError


# -- config, internal errors -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Config:
    """Settings of one `instrument*()` call."""

    tracker: Any = None
    """The Tracker to record on (None: the default tracker at call time)."""
    provider: str | None = None
    """Provider id to record, overriding detection from the client's base URL."""
    display: bool | None = None
    """Show (True) or hide (False) the per-call panel for these calls; None: as the tracker says."""

    def get_tracker(self) -> Any:
        if self.tracker is not None:
            return self.tracker
        from .. import tracker as _tracker

        return _tracker._default or _tracker.default_tracker()


_warmed = False


def warm_up() -> None:
    """Import the price tables now, on the instrumenting thread, not on the tracker's writer thread.

    The writer imports genai-prices (and through it httpx2) when it prices the first call. SDKs peek at
    `sys.modules` for httpx2 (openai's `_httpx2`), and a module another thread is still importing is
    there half-initialized: the first instrumented call could fail. Once per process, ~0.3 s.
    """
    global _warmed
    if _warmed:
        return
    _warmed = True
    try:
        from ..pricing import calculate_cost

        calculate_cost("gpt-4o", 1, 1)
    except Exception as exc:  # pricing is not capture's to break
        log.debug("tokentrail: price tables not preloaded: %r", exc)


def to_text(value: Any) -> str | None:
    """Prompt or response data as text: strings as they are, anything else as canonical JSON."""
    if value is None:
        return None
    if type(value) is str:
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json", exclude_none=True)
        except TypeError:  # pydantic v1 style
            return dump()
    if isinstance(obj, (bytes, bytearray)):
        return f"<{len(obj)} bytes>"
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    return str(obj)


def plain(value: Any) -> Any:
    """Request data safe to serialize after the call: containers as they are, never a consumed iterator."""
    if value is None or isinstance(value, (str, list, tuple, dict)) or hasattr(value, "model_dump"):
        return value
    return None


def error_message(exc: BaseException) -> str | None:
    text = str(exc) or type(exc).__name__
    return text[:_MAX_ERROR_MESSAGE]


def _count_prompt(model: str, messages: list[dict[str, Any]] | None, text: str | None) -> int:
    """Prompt tokens as tokentrail.tokens counts them (estimate when the model's tokenizer is unknown)."""
    try:
        from ..tokens import count_message_tokens, count_tokens

        if messages is not None:
            try:
                return int(count_message_tokens(messages, model).tokens)
            except Exception:  # odd message shapes: count the text instead
                pass
        return int(count_tokens(text or "", model).tokens) if text else 0
    except Exception:  # tokens module unavailable: a rough estimate rather than zero
        return (len(text) + 3) // 4 if text else 0


def _count_text(model: str, text: str | None) -> int:
    if not text:
        return 0
    try:
        from ..tokens import count_tokens

        return int(count_tokens(text, model).tokens)
    except Exception:
        return (len(text) + 3) // 4


# -- one call ----------------------------------------------------------------------------------------


class _Capture:
    """One instrumented call, from before it is sent until it is recorded (exactly once)."""

    __slots__ = (
        "tracker",
        "endpoint",
        "provider",
        "model",
        "kwargs",
        "started",
        "t0",
        "first",
        "chunks",
        "done",
        "streamed",
        "context",
        "display",
        "call_id",
    )

    def __init__(self, tracker: Any, endpoint: Endpoint, provider: str | None, model: str, kwargs: Any) -> None:
        self.tracker = tracker
        self.endpoint = endpoint
        self.provider = provider
        self.model = model
        self.kwargs = kwargs
        self.started = time.time_ns()
        self.t0 = time.perf_counter_ns()
        self.first: int | None = None
        self.chunks: list[Any] = []
        self.done = False
        self.streamed = False
        self.context: contextvars.Context | None = None
        """For streams: the caller's context when the call was made (it is recorded when the stream ends)."""
        self.display: bool | None = None
        self.call_id: str | None = None
        """The id the guards saw (PendingCall.call_id): the call is recorded with it, so it settles only its own
        budget reservation."""

    def check_guards(self) -> None:
        """Let the tracker's guards refuse the call before it is sent (BudgetExceededError propagates)."""
        try:
            from ..context import current_scope
            from ..tracker import PendingCall

            ep = self.endpoint
            messages = ep.prompt_messages(self.kwargs)
            text = None if messages is not None else to_text(ep.prompt(self.kwargs))
            pending = PendingCall(
                model=self.model,
                provider=self.provider,
                input_tokens=_count_prompt(self.model, messages, text),
                max_output_tokens=ep.max_output_tokens(self.kwargs),
                scope=current_scope(),
            )
        except Exception as exc:
            internal_error(self.tracker, exc)
            return
        self.tracker.check_guards(pending)
        self.call_id = pending.call_id

    def abandon(self) -> None:
        """The call will not be recorded (a streaming HTTP wrapper left to the caller): release what the guards
        hold for it."""
        self.done = True
        if self.call_id is not None:
            self.tracker.release_guards(self.call_id)

    # The three ways a call ends. Each records once and never raises.

    def succeeded(self, response: Any) -> None:
        if self.done:
            return
        self.done = True
        try:
            duration = (time.perf_counter_ns() - self.t0) / 1e6
            self._record(self.endpoint.result(response), duration, None)
        except Exception as exc:
            self._unrecorded(exc)

    def failed(self, exc: BaseException) -> None:
        if self.done:
            return
        self.done = True
        try:
            duration = (time.perf_counter_ns() - self.t0) / 1e6
            result = self.endpoint.stream_result(self.chunks) if self.chunks else Result()
            self._record(result, duration, exc)
        except Exception as err:
            self._unrecorded(err)

    def stream_ended(self) -> None:
        if self.done:
            return
        self.done = True
        try:
            duration = (time.perf_counter_ns() - self.t0) / 1e6
            self._record(self.endpoint.stream_result(self.chunks), duration, None)
        except Exception as exc:
            self._unrecorded(exc)

    def _unrecorded(self, exc: BaseException) -> None:
        internal_error(self.tracker, exc)
        if self.call_id is not None:
            self.tracker.release_guards(self.call_id)

    def _record(self, result: Result, duration_ms: float, exc: BaseException | None) -> None:
        ep = self.endpoint
        prompt = to_text(ep.prompt(self.kwargs))
        fields: dict[str, Any] = {
            "provider": self.provider,
            "operation": ep.operation,
            "started_at": datetime.fromtimestamp(self.started / 1e9, timezone.utc),
            "duration_ms": duration_ms,
            "prompt": prompt,
            "response": result.text,
        }
        if self.streamed:
            fields["streamed"] = True
        if self.first is not None:
            fields["ttft_ms"] = (self.first - self.t0) / 1e6
        if result.response_id:
            fields["response_id"] = result.response_id
        if result.response_model:
            fields["response_model"] = result.response_model
        if result.finish_reason:
            fields["finish_reason"] = result.finish_reason
        usage = result.usage
        if usage is not None:
            # Only non-zero counts: every field passed is one more for record() to check.
            fields["input_tokens"], fields["output_tokens"] = usage.input_tokens, usage.output_tokens
            for name in _DETAIL_FIELDS:
                value = getattr(usage, name)
                if value:
                    fields[name] = value
            if result.partial:
                # Cut short before the final count: the input is known, the output so far is estimated.
                fields["output_tokens"] = max(usage.output_tokens, _count_text(self.model, result.text))
                fields["tokens_estimated"] = True
        elif self.chunks or (self.streamed and exc is None):
            # The stream ended, was closed or broke without the provider's count: estimate, and say so.
            fields["input_tokens"] = _count_prompt(self.model, ep.prompt_messages(self.kwargs), prompt)
            fields["output_tokens"] = _count_text(self.model, result.text)
            fields["tokens_estimated"] = True
        _add_outcome(fields, result, exc)
        if self.display is not None:
            fields["display"] = self.display
        if self.call_id is not None:
            fields["id"] = self.call_id
        if self.context is not None:  # a stream ends wherever the caller consumes it: attribute it to its start
            self.context.run(self.tracker.record, self.model, **fields)
        else:
            self.tracker.record(self.model, **fields)


def _add_outcome(fields: dict[str, Any], result: Result, exc: BaseException | None) -> None:
    if exc is not None:
        fields["success"] = False
        fields["error_type"] = type(exc).__name__
        fields["error_message"] = error_message(exc)
    elif result.error_type:
        fields["success"] = False
        fields["error_type"] = result.error_type
        fields["error_message"] = result.error_message or result.error_type


# -- running one call ----------------------------------------------------------------------------------

ProviderOf = Callable[[Any], "str | None"]


class Patched(Protocol):
    """What running a call reads of the patched method it runs for (`_patch._State` is one).

    Declared here so this module needs nothing from `_patch`, which builds its wrappers from this one.
    """

    @property
    def config(self) -> Config: ...

    @property
    def enabled(self) -> bool: ...

    @property
    def provider_of(self) -> ProviderOf: ...


def _begin(
    state: Patched, endpoint: Endpoint, resource: Any, kwargs: dict[str, Any]
) -> tuple[_Capture | None, dict[str, Any], bool]:
    """Start capturing a call; on any internal error, give up quietly (the call goes out untouched)."""
    config = state.config
    tracker = None
    try:
        tracker = config.get_tracker()
        model = endpoint.model(kwargs)
        if model is None:
            return None, kwargs, False
        provider = config.provider or state.provider_of(resource)
        streamed = endpoint.is_stream(kwargs)
        hide = False
        if streamed:
            kwargs, hide = endpoint.prepare(kwargs)
        capture = _Capture(tracker, endpoint, provider, model, kwargs)
        capture.display = config.display
        if streamed:
            capture.streamed = True
            capture.context = contextvars.copy_context()
    except Exception as exc:
        internal_error(tracker, exc)
        return None, kwargs, False
    if tracker.has_guards:
        capture.check_guards()  # BudgetExceededError reaches the caller; the provider is not called
        capture.t0 = time.perf_counter_ns()
    return capture, kwargs, hide


def _finish(capture: _Capture, response: Any, hide: bool, is_async: bool) -> Any:
    try:
        if hasattr(response, "http_response"):
            # `with_raw_response` / `with_streaming_response`: an HTTP wrapper, not the body. A buffered
            # one (LegacyAPIResponse) parses once and caches, so reading it changes nothing for the caller;
            # a streaming one would be consumed by reading, so it is left alone and not recorded.
            if capture.streamed or type(response).__name__ != "LegacyAPIResponse":
                capture.abandon()
                return response
            capture.succeeded(response.parse())
            return response
        if capture.streamed:
            return (AsyncStream if is_async else SyncStream)(response, capture, hide)
        capture.succeeded(response)
    except Exception as exc:
        internal_error(capture.tracker, exc)
    return response


def run_sync(
    state: Patched,
    endpoint: Endpoint,
    fn: Callable[..., Any],
    resource: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Call `fn(*args, **kwargs)` as the caller asked, and record it."""
    if _ACTIVE.get() or not state.enabled:
        return fn(*args, **kwargs)
    capture, kwargs, hide = _begin(state, endpoint, resource, kwargs)
    if capture is None:
        return fn(*args, **kwargs)
    token = _ACTIVE.set(True)
    try:
        response = fn(*args, **kwargs)
    except BaseException as exc:
        _ACTIVE.reset(token)
        capture.failed(exc)
        raise
    _ACTIVE.reset(token)
    return _finish(capture, response, hide, False)


async def run_async(
    state: Patched,
    endpoint: Endpoint,
    fn: Callable[..., Any],
    resource: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """The async twin of `run_sync`."""
    if _ACTIVE.get() or not state.enabled:
        return await fn(*args, **kwargs)
    capture, kwargs, hide = _begin(state, endpoint, resource, kwargs)
    if capture is None:
        return await fn(*args, **kwargs)
    token = _ACTIVE.set(True)
    try:
        response = await fn(*args, **kwargs)
    except BaseException as exc:
        _ACTIVE.reset(token)
        capture.failed(exc)
        raise
    _ACTIVE.reset(token)
    return _finish(capture, response, hide, True)


def run_sync_iter(
    state: Patched,
    endpoint: Endpoint,
    fn: Callable[..., Any],
    resource: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """A method that returns a stream without sending anything yet (a generator): wrap the stream."""
    if _ACTIVE.get() or not state.enabled:
        return fn(*args, **kwargs)
    capture, kwargs, hide = _begin(state, endpoint, resource, kwargs)
    if capture is None:
        return fn(*args, **kwargs)
    try:
        stream = fn(*args, **kwargs)
    except BaseException as exc:
        capture.failed(exc)
        raise
    try:
        return SyncStream(stream, capture, hide)
    except Exception as exc:  # pragma: no cover - defensive
        internal_error(capture.tracker, exc)
        return stream
