"""Provider usage reports, normalized to tokentrail's token semantics.

Every provider counts tokens its own way. These functions read a provider's raw usage — the SDK object
or the JSON dict, whichever you have — and return one `Usage` that follows `tokentrail.model`:

- `input_tokens` includes cache reads and cache writes (Anthropic reports both *outside* its
  `input_tokens`, so `from_anthropic` adds them in);
- `output_tokens` includes reasoning (Gemini reports thinking *outside* `candidates_token_count`,
  so `from_gemini` adds it in);
- `cache_write_1h_tokens` is the part of `cache_write_tokens` written with Anthropic's 1-hour TTL;
- audio, image and video tokens are counted apart *inside* those totals (`input_audio_tokens`,
  `cache_read_audio_tokens`, `output_image_tokens`, …; text is the rest), as Gemini's `*TokensDetails`
  and OpenAI's `audio_tokens` / `image_tokens` report them, so each is priced at its own rate.

Missing or `None` fields count as 0, nothing is ever negative, and a count is never added twice: the
result always satisfies `cache_read + cache_write <= input`, `cache_write_1h <= cache_write`,
`reasoning <= output` and the modality rules of `tokentrail.model`, so it can be recorded as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..model import MODALITY_FIELDS

__all__ = [
    "Usage",
    "from_anthropic",
    "from_gemini",
    "from_langchain",
    "from_litellm",
    "from_openai_chat",
    "from_openai_responses",
]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call, in tokentrail's semantics (see the module docstring)."""

    input_tokens: int = 0
    """All prompt tokens, cache reads and writes included."""
    output_tokens: int = 0
    """All generated tokens, reasoning included."""
    cache_read_tokens: int = 0
    """Prompt tokens read from the provider's cache."""
    cache_write_tokens: int = 0
    """Prompt tokens written to the provider's cache."""
    cache_write_1h_tokens: int = 0
    """The part of `cache_write_tokens` written with a 1-hour lifetime."""
    reasoning_tokens: int = 0
    """Reasoning/thinking tokens (part of `output_tokens`)."""
    input_audio_tokens: int = 0
    """Audio prompt tokens, cached ones included (part of `input_tokens`)."""
    input_image_tokens: int = 0
    """Image prompt tokens, cached ones included (part of `input_tokens`)."""
    input_video_tokens: int = 0
    """Video prompt tokens, cached ones included (part of `input_tokens`)."""
    cache_read_audio_tokens: int = 0
    """Audio tokens read from the cache (part of `cache_read_tokens` and `input_audio_tokens`)."""
    cache_read_image_tokens: int = 0
    """Image tokens read from the cache (part of `cache_read_tokens` and `input_image_tokens`)."""
    cache_read_video_tokens: int = 0
    """Video tokens read from the cache (part of `cache_read_tokens` and `input_video_tokens`)."""
    output_audio_tokens: int = 0
    """Generated audio tokens (part of `output_tokens`)."""
    output_image_tokens: int = 0
    """Generated image tokens (part of `output_tokens`)."""
    output_video_tokens: int = 0
    """Generated video tokens (part of `output_tokens`)."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def as_fields(self) -> dict[str, int]:
        """The counts as keyword arguments of `Tracker.record` (the per-modality ones only when not 0).

        Example:
            >>> Usage(input_tokens=10, output_tokens=2).as_fields()["input_tokens"]
            10
        """
        fields = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "reasoning_tokens": self.reasoning_tokens,
        }
        for name in MODALITY_FIELDS:
            value = getattr(self, name)
            if value:
                fields[name] = value
        return fields


def _get(obj: Any, name: str, alt: str | None = None) -> Any:
    """A field of an SDK object or a dict (`alt` is the camelCase spelling, for raw JSON).

    This runs a few dozen times per call, so the common cases come first and cheaply: a plain dict, a
    pydantic model's instance dict. (getattr() on a field a pydantic model lacks goes through its
    __getattr__ and an exception, and isinstance(obj, Mapping) through the ABC machinery: both ~1 µs.)
    """
    if obj is None:
        return None
    if type(obj) is dict:
        value = obj.get(name)
        return obj.get(alt) if value is None and alt is not None else value
    fields = getattr(obj, "__dict__", None)
    if fields is not None:
        value = fields.get(name)
        if value is not None or (alt is None and name in fields):
            return value
        if hasattr(type(obj), "__pydantic_fields__"):  # a missing field is in the extras or nowhere
            extra = obj.__pydantic_extra__
            if extra:
                value = extra.get(name)
            if value is None and alt is not None:
                value = fields.get(alt) or (extra.get(alt) if extra else None)
            return value
    if isinstance(obj, Mapping):
        value = obj.get(name)
        return obj.get(alt) if value is None and alt is not None else value
    value = getattr(obj, name, None)
    if value is None and alt is not None:
        value = getattr(obj, alt, None)
    return value


def _int(value: Any) -> int:
    """A token count: None, junk and negatives count as 0."""
    if type(value) is int:
        return value if value > 0 else 0
    if isinstance(value, bool) or value is None:
        return 0
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return n if n > 0 else 0


def _usage(inp: int, out: int, read: int = 0, write: int = 0, write_1h: int = 0, reasoning: int = 0) -> Usage:
    """Build a Usage that satisfies the invariants, widening totals rather than dropping detail."""
    if write_1h > write:
        write = write_1h
    if read + write > inp:
        inp = read + write
    if reasoning > out:
        out = reasoning
    return Usage(inp, out, read, write, write_1h, reasoning)


def _with_modalities(usage: Usage, counts: dict[str, int]) -> Usage:
    """`usage` with per-modality counts, totals widened where the provider's report does not add up.

    A cache count larger than what is left for it is taken as overlap (cached audio), never as extra tokens.
    """
    counts = {name: value for name, value in counts.items() if value}
    if not counts:
        return usage
    inp, read = usage.input_tokens, usage.cache_read_tokens
    cached: dict[str, int] = {}
    for m in ("audio", "image", "video"):
        total, hit = counts.get(f"input_{m}_tokens", 0), counts.get(f"cache_read_{m}_tokens", 0)
        if hit > total:
            counts[f"input_{m}_tokens"] = total = hit
        cached[m] = hit
    hits = sum(cached.values())
    if hits > read:
        read = hits
    uncached = sum(counts.get(f"input_{m}_tokens", 0) - cached[m] for m in cached)
    room = inp - read - usage.cache_write_tokens
    if uncached > room:  # the provider's cached count includes some of the modality tokens: say which
        for m in ("audio", "image", "video"):
            over, left = uncached - room, counts.get(f"input_{m}_tokens", 0) - cached[m]
            if over <= 0 or read - hits <= 0:
                break
            moved = min(over, left, read - hits)
            counts[f"cache_read_{m}_tokens"] = cached[m] = cached[m] + moved
            hits, uncached = hits + moved, uncached - moved
        if uncached > room:
            inp += uncached - room
    out = sum(counts.get(f"output_{m}_tokens", 0) for m in ("audio", "image", "video"))
    return replace(
        usage,
        input_tokens=inp,
        cache_read_tokens=read,
        output_tokens=max(usage.output_tokens, out),
        **counts,
    )


def from_openai_chat(usage: Any) -> Usage:
    """OpenAI Chat Completions (and Completions, Embeddings, OpenAI-compatible servers).

    `prompt_tokens` already includes `prompt_tokens_details.cached_tokens`; `completion_tokens` already
    includes `completion_tokens_details.reasoning_tokens`. DeepSeek's `prompt_cache_hit_tokens` and the
    `cache_write_tokens` some gateways report are read too.

    Example:
        >>> from_openai_chat({"prompt_tokens": 1200, "completion_tokens": 300,
        ...                   "prompt_tokens_details": {"cached_tokens": 1024}}).cache_read_tokens
        1024
    """
    details = _get(usage, "prompt_tokens_details")
    read = _int(_get(details, "cached_tokens")) or _int(_get(usage, "prompt_cache_hit_tokens"))
    write = _int(_get(details, "cache_write_tokens")) or _int(_get(details, "cache_creation_tokens"))
    completion = _get(usage, "completion_tokens_details")
    reasoning = _int(_get(completion, "reasoning_tokens"))
    base = _usage(_int(_get(usage, "prompt_tokens")), _int(_get(usage, "completion_tokens")), read, write, 0, reasoning)
    if details is None and completion is None:
        return base
    return _with_modalities(
        base,
        {
            "input_audio_tokens": _int(_get(details, "audio_tokens")),
            "input_image_tokens": _int(_get(details, "image_tokens")),
            "output_audio_tokens": _int(_get(completion, "audio_tokens")),
            "output_image_tokens": _int(_get(completion, "image_tokens")),
        },
    )


def from_openai_responses(usage: Any) -> Usage:
    """OpenAI Responses and Realtime APIs: `input_tokens` includes cached tokens, `output_tokens` reasoning.

    The Realtime API's `input_token_details` (audio, image and cached tokens, with `cached_tokens_details`
    by modality) and `output_token_details` (audio tokens) are read too.

    Example:
        >>> from_openai_responses({"input_tokens": 500, "output_tokens": 900,
        ...                        "output_tokens_details": {"reasoning_tokens": 600}}).reasoning_tokens
        600
    """
    details = _get(usage, "input_tokens_details") or _get(usage, "input_token_details")
    out_details = _get(usage, "output_tokens_details") or _get(usage, "output_token_details")
    read = _int(_get(details, "cached_tokens"))
    write = _int(_get(details, "cache_write_tokens"))
    reasoning = _int(_get(out_details, "reasoning_tokens"))
    base = _usage(_int(_get(usage, "input_tokens")), _int(_get(usage, "output_tokens")), read, write, 0, reasoning)
    if details is None and out_details is None:
        return base
    cached = _get(details, "cached_tokens_details")
    return _with_modalities(
        base,
        {
            "input_audio_tokens": _int(_get(details, "audio_tokens")),
            "input_image_tokens": _int(_get(details, "image_tokens")),
            "cache_read_audio_tokens": _int(_get(cached, "audio_tokens")),
            "cache_read_image_tokens": _int(_get(cached, "image_tokens")),
            "output_audio_tokens": _int(_get(out_details, "audio_tokens")),
            "output_image_tokens": _int(_get(out_details, "image_tokens")),
        },
    )


def from_anthropic(usage: Any) -> Usage:
    """Anthropic Messages: `input_tokens` EXCLUDES cache reads and writes, so they are added in.

    `cache_creation.ephemeral_1h_input_tokens` gives the 1-hour part of the cache writes (the rest is
    the 5-minute default). Thinking tokens are part of Anthropic's `output_tokens`; newer API versions
    also report them apart as `output_tokens_details.thinking_tokens`, read as `reasoning_tokens`.

    Example:
        >>> u = from_anthropic({"input_tokens": 50, "cache_read_input_tokens": 1000,
        ...                     "cache_creation_input_tokens": 200, "output_tokens": 80})
        >>> u.input_tokens, u.cache_read_tokens, u.cache_write_tokens
        (1250, 1000, 200)
    """
    read = _int(_get(usage, "cache_read_input_tokens"))
    write = _int(_get(usage, "cache_creation_input_tokens"))
    creation = _get(usage, "cache_creation")
    write_1h = _int(_get(creation, "ephemeral_1h_input_tokens"))
    split = write_1h + _int(_get(creation, "ephemeral_5m_input_tokens"))
    if split > write:
        write = split
    thinking = _int(_get(_get(usage, "output_tokens_details"), "thinking_tokens"))
    return _usage(
        _int(_get(usage, "input_tokens")) + read + write,
        _int(_get(usage, "output_tokens")),
        read,
        write,
        write_1h,
        thinking,
    )


def from_gemini(usage: Any) -> Usage:
    """Google Gemini `usage_metadata` (SDK object, snake_case dict, or the API's camelCase JSON).

    `prompt_token_count` includes `cached_content_token_count`; `thoughts_token_count` is OUTSIDE
    `candidates_token_count` and is added to the output; `tool_use_prompt_token_count` (prompts of
    built-in tools such as search) is outside the prompt count and is added to the input.

    `promptTokensDetails` (and `toolUsePromptTokensDetails`), `cacheTokensDetails` and
    `candidatesTokensDetails` give the AUDIO, IMAGE and VIDEO counts; DOCUMENT (PDF pages) counts as
    image, as genai-prices bills it. Thinking tokens are text. The Live API's `responseTokenCount` and
    `responseTokensDetails` stand for the candidates'.

    Example:
        >>> u = from_gemini({"promptTokenCount": 100, "candidatesTokenCount": 20, "thoughtsTokenCount": 30})
        >>> u.output_tokens, u.reasoning_tokens
        (50, 30)
    """
    thoughts = _int(_get(usage, "thoughts_token_count", "thoughtsTokenCount"))
    base = _usage(
        _int(_get(usage, "prompt_token_count", "promptTokenCount"))
        + _int(_get(usage, "tool_use_prompt_token_count", "toolUsePromptTokenCount")),
        (
            _int(_get(usage, "candidates_token_count", "candidatesTokenCount"))
            or _int(_get(usage, "response_token_count", "responseTokenCount"))  # the Live API's name
        )
        + thoughts,
        _int(_get(usage, "cached_content_token_count", "cachedContentTokenCount")),
        0,
        0,
        thoughts,
    )
    counts: dict[str, int] = {}
    for attr, alt, prefix in _GEMINI_DETAILS:
        for item in _get(usage, attr, alt) or ():
            kind = _GEMINI_MODALITY.get(str(getattr(_get(item, "modality"), "value", _get(item, "modality"))).upper())
            if kind is not None:
                name = f"{prefix}_{kind}_tokens"
                counts[name] = counts.get(name, 0) + _int(_get(item, "token_count", "tokenCount"))
    return _with_modalities(base, counts) if counts else base


_GEMINI_DETAILS = (
    ("prompt_tokens_details", "promptTokensDetails", "input"),
    ("tool_use_prompt_tokens_details", "toolUsePromptTokensDetails", "input"),
    ("cache_tokens_details", "cacheTokensDetails", "cache_read"),
    ("candidates_tokens_details", "candidatesTokensDetails", "output"),
    ("response_tokens_details", "responseTokensDetails", "output"),  # the Live API's name
)
_GEMINI_MODALITY = {"AUDIO": "audio", "IMAGE": "image", "DOCUMENT": "image", "VIDEO": "video"}


def from_langchain(usage_metadata: Any) -> Usage:
    """LangChain `AIMessage.usage_metadata`: totals already include cache and reasoning details.

    `input_token_details` may carry `cache_read`, `cache_creation` and (langchain-anthropic) the
    `ephemeral_5m_input_tokens` / `ephemeral_1h_input_tokens` split, in which case `cache_creation`
    may have been zeroed to avoid double counting; the larger reading wins. `audio` in either details is
    read as `input_audio_tokens` / `output_audio_tokens`.

    Example:
        >>> from_langchain({"input_tokens": 300, "output_tokens": 40, "total_tokens": 340,
        ...                 "input_token_details": {"cache_read": 256}}).cache_read_tokens
        256
    """
    details = _get(usage_metadata, "input_token_details")
    write_1h = _int(_get(details, "ephemeral_1h_input_tokens"))
    write = max(_int(_get(details, "cache_creation")), write_1h + _int(_get(details, "ephemeral_5m_input_tokens")))
    out_details = _get(usage_metadata, "output_token_details")
    base = _usage(
        _int(_get(usage_metadata, "input_tokens")),
        _int(_get(usage_metadata, "output_tokens")),
        _int(_get(details, "cache_read")),
        write,
        write_1h,
        _int(_get(out_details, "reasoning")),
    )
    audio_in, audio_out = _int(_get(details, "audio")), _int(_get(out_details, "audio"))
    return _with_modalities(base, {"input_audio_tokens": audio_in, "output_audio_tokens": audio_out})


def from_litellm(usage: Any) -> Usage:
    """LiteLLM's OpenAI-shaped `Usage`, with the cache fields it maps from Anthropic and others.

    LiteLLM puts cache reads in `prompt_tokens_details.cached_tokens`, cache writes in
    `prompt_tokens_details.cache_write_tokens` / `cache_creation_tokens` (or the top-level
    `cache_creation_input_tokens`), and the 1-hour split in `cache_creation_token_details`. Its
    `prompt_tokens` normally includes the cache; when it plainly does not (the cache counts exceed it),
    they are added in. Audio and image tokens are read from both details, as for OpenAI Chat.

    Example:
        >>> from_litellm({"prompt_tokens": 10, "completion_tokens": 5,
        ...               "cache_read_input_tokens": 100}).input_tokens
        110
    """
    details = _get(usage, "prompt_tokens_details")
    read = _int(_get(details, "cached_tokens")) or _int(_get(usage, "cache_read_input_tokens"))
    write = (
        _int(_get(details, "cache_write_tokens"))
        or _int(_get(details, "cache_creation_tokens"))
        or _int(_get(usage, "cache_creation_input_tokens"))
    )
    write_1h = _int(_get(_get(details, "cache_creation_token_details"), "ephemeral_1h_input_tokens"))
    inp = _int(_get(usage, "prompt_tokens"))
    if read + max(write, write_1h) > inp:
        inp += read + max(write, write_1h)
    completion = _get(usage, "completion_tokens_details")
    reasoning = _int(_get(completion, "reasoning_tokens"))
    base = _usage(inp, _int(_get(usage, "completion_tokens")), read, write, write_1h, reasoning)
    return _with_modalities(
        base,
        {
            "input_audio_tokens": _int(_get(details, "audio_tokens")),
            "input_image_tokens": _int(_get(details, "image_tokens")),
            "output_audio_tokens": _int(_get(completion, "audio_tokens")),
            "output_image_tokens": _int(_get(completion, "image_tokens")),
        },
    )
