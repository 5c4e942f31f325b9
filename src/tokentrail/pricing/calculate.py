"""`calculate_cost`: the price of one call, exact and in about a microsecond once a model has been seen.

The first call for a (model, provider) pair resolves it against the overrides and genai-prices and
compiles its prices (`resolve.py`, `rates.py`); the result, unknown models included, is cached per
pair as written. Later calls validate the counts, look the pair up and multiply. The cache is
dropped when overrides change or genai-prices gets newer data; readers never take a lock.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from tokentrail.errors import UnknownModelError
from tokentrail.pricing import overrides, source
from tokentrail.pricing.cost import Cost, slot_setters
from tokentrail.pricing.rates import Rates, micros
from tokentrail.pricing.resolve import Entry, resolve
from tokentrail.pricing.validation import check_at, check_modalities, check_usage

__all__ = ["calculate_cost", "is_priced", "lookup", "rates_at", "unknown_model"]

_ZERO = Decimal(0)
_MILLION = Decimal(1_000_000)
_MAX_ENTRIES = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)

_lock = threading.Lock()


def _new_lock_in_child() -> None:  # a thread of the parent may have held it when the process forked
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)
_entries: dict[tuple[Any, Any], Entry] = {}
_generation = 0
_marker: Any = None
_new_object = object.__new__
_setters = slot_setters()
_set_model_id = _setters["model_id"]
_set_provider_id = _setters["provider_id"]
_set_input = _setters["input"]
_set_cache_read = _setters["cache_read"]
_set_cache_write = _setters["cache_write"]
_set_output = _setters["output"]
_set_request = _setters["request"]
_set_total = _setters["total"]
_set_currency = _setters["currency"]
_set_price_source = _setters["price_source"]
_ds: Any = None  # genai_prices.data_snapshot once loaded; its _custom_snapshot changes when prices are updated


def _invalidate() -> None:
    global _generation
    with _lock:
        _generation += 1
        _entries.clear()


overrides.subscribe(_invalidate)


def lookup(model: object, provider: object) -> Entry:
    """The cached `Entry` for (model, provider), resolving it on first use."""
    global _ds, _marker
    try:
        entry = _entries.get((model, provider))
    except TypeError:  # unhashable: resolve() explains what is wrong with it
        entry = None
    if entry is not None and entry.marker is _ds._custom_snapshot:
        return entry
    _ds = source.load()
    if _ds._custom_snapshot is not _marker:  # new genai-prices data: every entry is stale
        _invalidate()
        _marker = _ds._custom_snapshot
    generation = _generation
    entry = resolve(model, provider)
    with _lock:
        if generation == _generation:  # no override changed while resolving
            if len(_entries) >= _MAX_ENTRIES:
                _entries.clear()
            _entries[(model, provider)] = entry
    return entry


def unknown_model(model: object, provider: object) -> UnknownModelError:
    """The error for a model without a price."""
    return UnknownModelError(
        f"no price for model={model!r} (provider={provider!r}); add one with tokentrail.set_price(...)"
    )


def rates_at(entry: Entry, at: datetime | None, model: object = None, provider: object = None) -> Rates:
    """The rates of an entry in force at `at` (now if None); raise `UnknownModelError` if it has none."""
    if entry.rates is not None:
        return entry.rates
    if entry.schedule is None:
        raise unknown_model(model, provider)
    us = time.time_ns() // 1000 if at is None else micros(at)
    start, end, rates = entry.schedule.window
    return rates if start <= us < end else entry.schedule.select(us)


def calculate_cost(  # noqa: C901 - one flat hot path on purpose; helpers would cost a call each
    model: str,
    input_tokens: int,
    output_tokens: int,
    *,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_write_1h_tokens: int = 0,
    input_audio_tokens: int = 0,
    input_image_tokens: int = 0,
    input_video_tokens: int = 0,
    cache_read_audio_tokens: int = 0,
    cache_read_image_tokens: int = 0,
    cache_read_video_tokens: int = 0,
    output_audio_tokens: int = 0,
    output_image_tokens: int = 0,
    output_video_tokens: int = 0,
    provider: str | None = None,
    at: datetime | None = None,
) -> Cost:
    """Price one LLM call exactly, from genai-prices or a user override.

    Token counts follow OpenAI/OpenTelemetry: `input_tokens` counts every prompt token, cache reads and
    writes included; `output_tokens` includes reasoning tokens. Audio, image and video tokens are counted
    apart *inside* those totals (text is the rest) and priced at their own rates where the model has them
    (Gemini audio input, image output; OpenAI audio and realtime models). The total equals genai-prices'
    `calc_price(...).total_price` for the same usage, tiered and dated prices included.

    Args:
        model: Model as requested or served: `"gpt-4o"`, `"gpt-4o-2024-08-06"`, `"openai/gpt-4o"`,
            `"anthropic/claude-3.5-haiku"`, `"bedrock/anthropic.claude-…"`; any case.
        input_tokens: All prompt tokens.
        output_tokens: All completion tokens.
        cache_read_tokens: Prompt tokens read from the cache (part of `input_tokens`).
        cache_write_tokens: Prompt tokens written to the cache (part of `input_tokens`).
        cache_write_1h_tokens: Cache writes with Anthropic's 1-hour TTL (part of `cache_write_tokens`).
        input_audio_tokens: Audio prompt tokens, cached ones included (part of `input_tokens`); likewise
            `input_image_tokens` and `input_video_tokens`.
        cache_read_audio_tokens: Audio tokens read from the cache (part of `cache_read_tokens` and of
            `input_audio_tokens`); likewise `cache_read_image_tokens` and `cache_read_video_tokens`.
        output_audio_tokens: Generated audio tokens (part of `output_tokens`); likewise `output_image_tokens`
            and `output_video_tokens`.
        provider: Provider whose price to use (`"openai"`, `"azure"`, `"bedrock"`, …); inferred if None.
        at: When the call was made, timezone-aware; prices change over time. Default: now.

    Returns:
        The `Cost`, whose parts add up to its total; each modality's tokens are in the part of their kind
        (uncached input, cache read, output).

    Raises:
        ValidationError: A count is negative, not a whole number, or inconsistent with another; `at` is naive.
        UnknownModelError: No price is known for the model.

    Example:
        >>> from tokentrail.pricing import calculate_cost
        >>> cost = calculate_cost("gpt-4o", 1_000_000, 100_000, cache_read_tokens=200_000)
        >>> cost.input, cost.cache_read, cost.output  # $2.50, $1.25 cached, $10 per million
        (Decimal('2.0'), Decimal('0.25'), Decimal('1'))
        >>> cost.total
        Decimal('3.25')
        >>> calculate_cost("gemini-2.5-flash-image", 10, 1290, output_image_tokens=1290).output  # $30 per million
        Decimal('0.0387')
    """
    if not (
        type(input_tokens) is int
        and type(output_tokens) is int
        and type(cache_read_tokens) is int
        and type(cache_write_tokens) is int
        and type(cache_write_1h_tokens) is int
        and output_tokens >= 0
        and cache_read_tokens >= 0
        and cache_write_tokens >= cache_write_1h_tokens >= 0
        and input_tokens >= cache_read_tokens + cache_write_tokens
    ):
        input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens = check_usage(
            input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cache_write_1h_tokens
        )
    if at is not None and (type(at) is not datetime or at.utcoffset() is None):
        check_at(at)
    try:
        entry = _entries.get((model, provider))
    except TypeError:
        entry = None
    if entry is None or entry.marker is not _ds._custom_snapshot:
        entry = lookup(model, provider)
    rates = entry.rates
    if rates is None:
        schedule = entry.schedule
        if schedule is None:
            raise unknown_model(model, provider)
        us = time.time_ns() // 1000 if at is None else (at - _EPOCH) // _ONE_US
        start, end, rates = schedule.window
        if not start <= us < end:
            rates = schedule.select(us)
    if rates.bands:
        for threshold, band in rates.bands:
            if input_tokens > threshold:
                rates = band
                break
    if (
        input_audio_tokens
        or input_image_tokens
        or input_video_tokens
        or cache_read_audio_tokens
        or cache_read_image_tokens
        or cache_read_video_tokens
        or output_audio_tokens
        or output_image_tokens
        or output_video_tokens
    ):
        counts = check_modalities(
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            {
                "input_audio_tokens": input_audio_tokens,
                "input_image_tokens": input_image_tokens,
                "input_video_tokens": input_video_tokens,
                "cache_read_audio_tokens": cache_read_audio_tokens,
                "cache_read_image_tokens": cache_read_image_tokens,
                "cache_read_video_tokens": cache_read_video_tokens,
                "output_audio_tokens": output_audio_tokens,
                "output_image_tokens": output_image_tokens,
                "output_video_tokens": output_video_tokens,
            },
        )
        return _modal_cost(entry, rates, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                           cache_write_1h_tokens, counts)  # fmt: skip

    # price * tokens / 1e6 per part: exactly genai-prices' arithmetic, so even the Decimal exponents look alike.
    uncached = input_tokens - cache_read_tokens - cache_write_tokens
    inp = rates.input * uncached / _MILLION if uncached else _ZERO
    out = rates.output * output_tokens / _MILLION if output_tokens else _ZERO
    total = inp + out
    if cache_read_tokens:
        read = rates.cache_read * cache_read_tokens / _MILLION
        total += read
    else:
        read = _ZERO
    if cache_write_tokens:
        if cache_write_1h_tokens:
            write = (
                rates.cache_write * (cache_write_tokens - cache_write_1h_tokens) / _MILLION
                + rates.cache_write_1h * cache_write_1h_tokens / _MILLION
            )
        else:
            write = rates.cache_write * cache_write_tokens / _MILLION
        total += write
    else:
        write = _ZERO
    request = rates.request
    if request is None:
        request = _ZERO
    else:
        total += request
    # Cost(...) without the frozen dataclass's __init__ (half the time of this function otherwise).
    cost = _new_object(Cost)
    _set_model_id(cost, entry.model_id)
    _set_provider_id(cost, entry.provider_id)
    _set_input(cost, inp)
    _set_cache_read(cost, read)
    _set_cache_write(cost, write)
    _set_output(cost, out)
    _set_request(cost, request)
    _set_total(cost, total)
    _set_currency(cost, "USD")
    _set_price_source(cost, entry.price_source)
    return cost


def _modal_cost(
    entry: Entry, rates: Rates, inp: int, out: int, read: int, write: int, write_1h: int, counts: tuple[int, ...]
) -> Cost:
    """The cost of a call with audio, image or video tokens, each kind at its rate: genai-prices' leaves.

    Text is what is left of each total once the other modalities are taken out; per part, as in
    genai-prices, `price * tokens / 1e6`, summed.
    """
    m = rates.modal or _text_only(rates)
    in_audio, in_image, in_video, read_audio, read_image, read_video, out_audio, out_image, out_video = counts
    input_cost = _part(rates.input, inp - read - write - (in_audio - read_audio) - (in_image - read_image)
                       - (in_video - read_video))  # fmt: skip
    input_cost += _part(m[0], in_audio - read_audio) + _part(m[1], in_image - read_image)
    input_cost += _part(m[2], in_video - read_video)
    read_cost = _part(rates.cache_read, read - read_audio - read_image - read_video) + _part(m[3], read_audio)
    read_cost += _part(m[4], read_image) + _part(m[5], read_video)
    output_cost = _part(rates.output, out - out_audio - out_image - out_video) + _part(m[6], out_audio)
    output_cost += _part(m[7], out_image) + _part(m[8], out_video)
    if write_1h:
        write_cost = rates.cache_write * (write - write_1h) / _MILLION + rates.cache_write_1h * write_1h / _MILLION
    else:
        write_cost = rates.cache_write * write / _MILLION if write else _ZERO
    request = _ZERO if rates.request is None else rates.request
    cost = _new_object(Cost)
    _set_model_id(cost, entry.model_id)
    _set_provider_id(cost, entry.provider_id)
    _set_input(cost, input_cost)
    _set_cache_read(cost, read_cost)
    _set_cache_write(cost, write_cost)
    _set_output(cost, output_cost)
    _set_request(cost, request)
    _set_total(cost, input_cost + read_cost + write_cost + output_cost + request)
    _set_currency(cost, "USD")
    _set_price_source(cost, entry.price_source)
    return cost


def _text_only(rates: Rates) -> tuple[Decimal, ...]:
    """Per-modality rates of a model that prices no modality apart: each at its text rate."""
    return (rates.input,) * 3 + (rates.cache_read,) * 3 + (rates.output,) * 3


def _part(rate: Decimal, tokens: int) -> Decimal:
    """`rate * tokens / 1e6`, genai-prices' arithmetic for one unit; exactly 0 for no tokens."""
    return rate * tokens / _MILLION if tokens else _ZERO


def is_priced(model: str, provider: str | None = None) -> bool:
    """Whether `calculate_cost` can price `model` (with `provider`).

    Example:
        >>> from tokentrail.pricing import is_priced
        >>> is_priced("gpt-4o"), is_priced("no-such-model")
        (True, False)
    """
    return lookup(model, provider).priced
