"""The one record tokentrail keeps: `Call`, a single LLM request, and how its fields are checked.

Token semantics are fixed here, because mixing them up is the most common bug in this field:

- `input_tokens` counts *all* prompt tokens, including `cache_read_tokens` and `cache_write_tokens`
  (OpenAI's and OpenTelemetry's meaning). Anthropic reports its cache tokens *outside* `input_tokens`;
  `tokentrail.capture.usage.from_anthropic` adds them in.
- `output_tokens` counts all generated tokens, including `reasoning_tokens`. Gemini reports thinking
  tokens outside its candidates count; `from_gemini` adds them in.
- `total_tokens` is derived (`input_tokens + output_tokens`) and never stored inconsistently.

So `cache_read_tokens + cache_write_tokens <= input_tokens` and `reasoning_tokens <= output_tokens`
always hold; a record that breaks them is rejected.

Audio, image and video tokens are counted apart inside those totals (`input_audio_tokens`,
`cache_read_audio_tokens`, `output_image_tokens`, …); text is the rest. Their rules: `tokentrail._modality`.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from ._modality import MODALITIES, MODALITY_FIELDS, check_modality_consistency
from .errors import ValidationError

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_DURATION_MS",
    "MAX_TOKENS",
    "MODALITIES",
    "MODALITY_FIELDS",
    "TOKEN_FIELDS",
    "Call",
    "build_call",
    "check_text",
    "new_call_id",
    "validate_call",
]

TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
    *MODALITY_FIELDS,
)

MAX_TOKENS = 10**10
"""The largest count a Call holds (tokens, retries): 1,000 times the largest context window. Every store sums
counts in 64-bit integers; at this bound 900 million calls, each at the maximum, still add up exactly."""
MAX_DURATION_MS = 10**12
"""The longest `duration_ms`/`ttft_ms` (about 31 years), so that sums and means stay finite and exact enough."""
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
"""`started_at` may not be earlier (ids carry the time since 1970; day series stay short)."""
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
"""`started_at` must be earlier than this."""

_COST_FIELDS = ("cost_usd", "input_cost_usd", "output_cost_usd", "cache_read_cost_usd", "cache_write_cost_usd")


@dataclass(frozen=True, slots=True)
class Call:
    """One LLM request: what was asked of which model, what it cost, how it went, and who asked."""

    id: str
    """Time-sortable unique id (UUIDv7 text)."""
    started_at: datetime
    """When the request started, timezone-aware UTC."""
    model: str
    """The model as requested (e.g. `gpt-4o`)."""
    provider: str | None = None
    """Provider id (`openai`, `anthropic`, `google`, …), when known."""
    response_model: str | None = None
    """The model as served (e.g. `gpt-4o-2024-08-06`)."""
    operation: str = "chat"
    """`chat`, `completion`, `embedding`, `responses`, …"""
    duration_ms: float | None = None
    """Wall time of the request in milliseconds."""
    ttft_ms: float | None = None
    """Time to first token in milliseconds (streams)."""
    finish_reason: str | None = None
    """Why generation stopped, as the provider said it."""
    streamed: bool = False
    """Whether the response was streamed."""
    response_id: str | None = None
    """The provider's response id; a response recorded twice is stored once."""

    input_tokens: int = 0
    """All prompt tokens, cache reads and cache writes included."""
    output_tokens: int = 0
    """All generated tokens, reasoning included."""
    cache_read_tokens: int = 0
    """Prompt tokens served from the provider's cache (a subset of `input_tokens`)."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the provider's cache (a subset of `input_tokens`)."""
    cache_write_1h_tokens: int = 0
    """The part of `cache_write_tokens` written with a 1-hour lifetime (Anthropic)."""
    reasoning_tokens: int = 0
    """Reasoning/thinking tokens (a subset of `output_tokens`)."""
    input_audio_tokens: int = 0
    """Audio prompt tokens, cached ones included (a subset of `input_tokens`)."""
    input_image_tokens: int = 0
    """Image prompt tokens, cached ones included (a subset of `input_tokens`; Gemini's DOCUMENT counts here)."""
    input_video_tokens: int = 0
    """Video prompt tokens, cached ones included (a subset of `input_tokens`)."""
    cache_read_audio_tokens: int = 0
    """Audio tokens read from the cache (a subset of `cache_read_tokens` and of `input_audio_tokens`)."""
    cache_read_image_tokens: int = 0
    """Image tokens read from the cache (a subset of `cache_read_tokens` and of `input_image_tokens`)."""
    cache_read_video_tokens: int = 0
    """Video tokens read from the cache (a subset of `cache_read_tokens` and of `input_video_tokens`)."""
    output_audio_tokens: int = 0
    """Generated audio tokens (a subset of `output_tokens`)."""
    output_image_tokens: int = 0
    """Generated image tokens (a subset of `output_tokens`)."""
    output_video_tokens: int = 0
    """Generated video tokens (a subset of `output_tokens`)."""
    tokens_estimated: bool = False
    """True when the counts are tokentrail's estimate, not the provider's report."""

    cost_usd: Decimal | None = None
    """Total cost; `None` when the model has no known price (never a made-up 0)."""
    input_cost_usd: Decimal | None = None
    """Cost of uncached input tokens."""
    output_cost_usd: Decimal | None = None
    """Cost of output tokens."""
    cache_read_cost_usd: Decimal | None = None
    """Cost of cache-read input tokens."""
    cache_write_cost_usd: Decimal | None = None
    """Cost of cache-write input tokens."""
    currency: str = "USD"
    """Currency of every cost field."""
    price_source: str | None = None
    """Which price table priced the call (`genai-prices 0.2.3`, `override`)."""

    agent: str | None = None
    """The agent that made the call."""
    user: str | None = None
    """The end user the call was made for."""
    session: str | None = None
    """The session or conversation."""
    project: str | None = None
    """The project (auto: git repository or folder name)."""
    environment: str | None = None
    """Deployment environment (`prod`, `dev`, …)."""
    git_branch: str | None = None
    """The git branch of the working directory, when there is one."""
    trace_id: str | None = None
    """Workflow trace id."""
    span_id: str | None = None
    """This call's span id in the workflow."""
    parent_span_id: str | None = None
    """The enclosing span's id."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Any other dimension, string to string."""

    success: bool = True
    """Whether the provider answered without error."""
    error_type: str | None = None
    """Exception class or provider error code on failure."""
    error_message: str | None = None
    """Error text on failure."""
    retries: int = 0
    """Retries made before this outcome."""

    prompt_hash: str | None = None
    """SHA-256 of the prompt text (always, when there was a prompt)."""
    response_hash: str | None = None
    """SHA-256 of the response text (always, when there was a response)."""
    prompt: str | None = None
    """Prompt text, only when the user opted in (`store_prompts`)."""
    response: str | None = None
    """Response text, only when the user opted in (`store_responses`)."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    @property
    def input_text_tokens(self) -> int:
        """Prompt tokens that are not audio, image or video (cached ones included); derived, never stored."""
        return self.input_tokens - self.input_audio_tokens - self.input_image_tokens - self.input_video_tokens

    @property
    def output_text_tokens(self) -> int:
        """Generated tokens that are not audio, image or video (reasoning included); derived, never stored."""
        return self.output_tokens - self.output_audio_tokens - self.output_image_tokens - self.output_video_tokens

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain data (datetimes as ISO text, Decimals as text), for JSON and CSV."""
        out: dict[str, Any] = {}
        for f in _FIELD_NAMES:
            value = getattr(self, f)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, Decimal):
                value = str(value)
            elif f == "labels":
                value = dict(value)
            out[f] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Call:
        """Rebuild a Call from `to_dict()` output (unknown keys are rejected)."""
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in _FIELD_SET:
                raise ValidationError(f"unknown Call field {key!r}")
            if key == "started_at" and isinstance(value, str):
                value = datetime.fromisoformat(value)
            elif key in _COST_FIELDS and value is not None:
                value = Decimal(str(value))
            kwargs[key] = value
        return validate_call(cls(**kwargs))

    def replace(self, **changes: Any) -> Call:
        """A copy with some fields changed (validated)."""
        return validate_call(replace(self, **changes))


_FIELD_NAMES = tuple(f.name for f in fields(Call))
_FIELD_SET = frozenset(_FIELD_NAMES)


def _make_builder() -> Any:
    """A constructor that fills the slots directly: half the cost of the frozen dataclass __init__.

    For trusted values only (the tracker's writer, store readers); it skips no field and runs no check.
    """
    defaults: dict[str, Any] = {}
    for f in fields(Call):
        if f.default is not MISSING:
            defaults[f.name] = f.default
    args = ", ".join(f"{n}=_d_{n}" if n in defaults else (f"{n}=None" if n == "labels" else n) for n in _FIELD_NAMES)
    body = "".join(f"    _s_{n}(o, {n})\n" for n in _FIELD_NAMES if n != "labels")
    src = (
        f"def build_call(*, {args}):\n    o = _new(_Call)\n{body}"
        "    _s_labels(o, {} if labels is None else labels)\n    return o\n"
    )
    namespace: dict[str, Any] = {f"_s_{n}": Call.__dict__[n].__set__ for n in _FIELD_NAMES}
    namespace.update({f"_d_{n}": v for n, v in defaults.items()}, _new=object.__new__, _Call=Call)
    exec(src, namespace)
    return namespace["build_call"]


build_call = _make_builder()
"""`build_call(**fields) -> Call` without validation, for values already checked."""


def _bad(name: str, value: object, expected: str) -> ValidationError:
    return ValidationError(f"{name}={value!r} is not valid: expected {expected}")


def validate_call(call: Call) -> Call:
    """Check every field of `call`; return it unchanged or raise `ValidationError` naming the field.

    Args:
        call: The record to check.

    Returns:
        The same record.

    Raises:
        ValidationError: a field has the wrong type or an impossible value.

    Example:
        >>> validate_call(Call(id="x", started_at=datetime.now(timezone.utc), model="gpt-4o"))  # doctest: +ELLIPSIS
        Call(...)
    """
    _check_fields(call)
    check_token_consistency(
        call.input_tokens,
        call.output_tokens,
        call.cache_read_tokens,
        call.cache_write_tokens,
        call.cache_write_1h_tokens,
        call.reasoning_tokens,
        **{name: getattr(call, name) for name in MODALITY_FIELDS},
    )
    validate_labels(call.labels)
    return call


_OPTIONAL_TEXT = (
    "provider", "response_model", "finish_reason", "response_id", "price_source", "agent", "user", "session",
    "project", "environment", "git_branch", "trace_id", "span_id", "parent_span_id", "error_type",
    "error_message", "prompt_hash", "response_hash", "prompt", "response",
)  # fmt: skip


def _check_fields(call: Call) -> None:
    if type(call.id) is not str or not call.id:
        raise _bad("id", call.id, "a non-empty string")
    check_started_at(call.started_at)
    for name in ("model", "operation", "currency"):
        if type(getattr(call, name)) is not str or not getattr(call, name):
            raise _bad(name, getattr(call, name), "a non-empty string")
    for name in (*TOKEN_FIELDS, "retries"):
        value = getattr(call, name)
        if type(value) is not int or not 0 <= value <= MAX_TOKENS:
            raise _bad(name, value, f"an integer from 0 to {MAX_TOKENS:,}")
    for name in ("duration_ms", "ttft_ms"):
        value = getattr(call, name)
        if value is not None and (type(value) not in (int, float) or not 0 <= value <= MAX_DURATION_MS):
            raise _bad(name, value, f"a number of milliseconds from 0 to {MAX_DURATION_MS:,}, or None")
    for name in _COST_FIELDS:
        value = getattr(call, name)
        if value is not None and (not isinstance(value, Decimal) or not value.is_finite() or value < 0):
            raise _bad(name, value, "a finite Decimal >= 0, or None")
    _check_optional_text(call)


def _check_optional_text(call: Call) -> None:
    for name in _OPTIONAL_TEXT:
        value = getattr(call, name)
        if value is not None:
            if type(value) is not str:
                raise _bad(name, value, "a string or None")
            check_text(name, value)
    for name in ("streamed", "success", "tokens_estimated"):
        if type(getattr(call, name)) is not bool:
            raise _bad(name, getattr(call, name), "True or False")


def check_started_at(value: object, name: str = "started_at") -> None:
    """A timezone-aware datetime from `EARLIEST` (1970) up to, not including, `LATEST` (2200)."""
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise _bad(name, value, "a timezone-aware datetime")
    try:
        inside = EARLIEST <= value < LATEST
    except OverflowError:  # pragma: no cover - comparisons of aware datetimes do not overflow
        inside = False
    if not inside:
        raise _bad(name, value, "a time from 1970-01-01 up to (not including) 2200-01-01 UTC")


def check_token_consistency(
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int,
    cache_write_tokens: int,
    cache_write_1h_tokens: int,
    reasoning_tokens: int,
    **modalities: int,
) -> None:
    """Reject token counts that cannot happen under tokentrail's semantics (see module docstring).

    `modalities` are the per-modality counts by field name (`input_audio_tokens=…`); missing ones are 0.
    """
    if cache_read_tokens + cache_write_tokens > input_tokens:
        raise ValidationError(
            f"cache_read_tokens={cache_read_tokens!r} + cache_write_tokens={cache_write_tokens!r} is more than "
            f"input_tokens={input_tokens!r}; input_tokens must include cached tokens "
            "(for Anthropic usage use tokentrail.capture.usage.from_anthropic)"
        )
    if cache_write_1h_tokens > cache_write_tokens:
        raise ValidationError(
            f"cache_write_1h_tokens={cache_write_1h_tokens!r} is more than cache_write_tokens={cache_write_tokens!r}"
        )
    if reasoning_tokens > output_tokens:
        raise ValidationError(
            f"reasoning_tokens={reasoning_tokens!r} is more than output_tokens={output_tokens!r}; "
            "output_tokens must include reasoning tokens"
        )
    if modalities and any(modalities.values()):
        check_modality_consistency(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, modalities)


def check_text(name: str, value: str) -> None:
    """Text must be storable everywhere: valid Unicode (no lone surrogates)."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError(f"{name}={value!r} is not valid: it holds a lone surrogate, not text") from None


def validate_labels(labels: object, name: str = "labels") -> None:
    """Labels are a mapping of non-empty string keys to string values, valid Unicode."""
    if not isinstance(labels, Mapping):
        raise _bad(name, labels, "a mapping of str to str")
    for key, value in labels.items():
        if type(key) is not str or not key:
            raise ValidationError(f"{name} key {key!r} is not valid: expected a non-empty string")
        if type(value) is not str:
            raise ValidationError(f"{name}[{key!r}]={value!r} is not valid: expected a string")
        check_text(f"{name} key", key)
        check_text(f"{name}[{key!r}]", value)


_random = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _random.seed(secrets.randbits(128)))


def new_call_id(unix_ns: int | None = None) -> str:
    """A UUIDv7 (RFC 9562) as text: 48-bit millisecond time, then 74 random bits; sorts by time.

    The random bits come from a generator seeded from the OS per process (and again after fork), so
    ids are unique across threads and processes without a system call per id.

    Example:
        >>> len(new_call_id())
        36
    """
    ms = (time.time_ns() if unix_ns is None else unix_ns) // 1_000_000
    rand = _random.getrandbits(80)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62 | rand & (2**62 - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utc_from_ns(unix_ns: int) -> datetime:
    """A timezone-aware UTC datetime from nanoseconds since the epoch (microsecond precision)."""
    return EPOCH + timedelta(microseconds=unix_ns // 1000)
