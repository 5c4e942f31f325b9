"""Price tables compiled for speed: per-million-token Decimals, tier bands and time schedules.

genai-prices stores prices per million tokens, possibly tiered by prompt size (`TieredPrices`) and
possibly changing with time (`ConditionalPrice` with a start date or a daily window). Here each is
compiled once into plain attributes, so that pricing a call is a few multiplications; the results
are exactly those of genai-prices (the identity test in `tests/test_pricing_identity.py` proves it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # genai-prices is imported on first use (~150 ms), never at import time
    from genai_prices.types import TieredPrices
    from typing_extensions import TypeIs

__all__ = ["MTokPrices", "Rates", "Schedule", "compile_model", "compile_per_mtok", "listed_prices", "micros"]

_THOUSAND = Decimal(1_000)
_ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DAY_US = 86_400_000_000
_ONE_US = timedelta(microseconds=1)
_ALWAYS, _SINCE, _DAILY, _OTHER = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class MTokPrices:
    """Per-million-token prices as listed (base price when tiered); None where the model has no separate price."""

    input: Decimal | None
    output: Decimal | None
    cache_read: Decimal | None
    cache_write: Decimal | None
    cache_write_1h: Decimal | None
    tiered: bool


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens for each kind of token, with the fallbacks genai-prices applies already resolved.

    `calculate_cost` computes `price * tokens / 1_000_000` per part, the very arithmetic genai-prices does.
    """

    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal
    output: Decimal
    request: Decimal | None
    """Flat fee per request in USD (not per million), or None."""
    modal: tuple[Decimal, ...] | None
    """USD per million for (input audio, image, video, cache read audio, image, video, output audio, image, video),
    each falling back as genai-prices' leaf decomposition does; None when the model prices no modality apart
    (then every modality costs what text does and `calculate_cost` skips them)."""
    bands: tuple[tuple[int, Rates], ...]
    """`(threshold, rates)` highest first: the rates used when `input_tokens > threshold`."""
    listed: MTokPrices


@dataclass(slots=True)
class Schedule:
    """Rates that change with time, tried newest first like genai-prices' `ConditionalPrice` list."""

    choices: tuple[tuple[int, Any, Any, Rates], ...]
    """`(kind, start, end, rates)`, newest first; the first whose constraint holds wins."""
    default: Rates
    """The rates when no constraint holds (genai-prices: the first price)."""
    window: tuple[float, float, Rates] = field(init=False)
    """`(start_us, end_us, rates)`: the last selection and the span of time over which it holds.

    Replaced whole (one atomic assignment), so threads may read it without a lock; `calculate_cost`
    checks it before calling `select`.
    """

    def __post_init__(self) -> None:
        self.window = (0, 0, self.default)  # an empty span: the first call selects

    def select(self, us: int) -> Rates:
        """Return the rates in force `us` microseconds after the Unix epoch (UTC), and remember them."""
        rates = self._pick(us)
        span = self._span(us)
        if span is not None:
            self.window = (span[0], span[1], rates)
        return rates

    def _pick(self, us: int) -> Rates:
        for kind, start, end, rates in self.choices:
            if kind == _SINCE:
                if us >= start:
                    return rates
            elif kind == _DAILY:
                of_day = us % _DAY_US
                if (of_day >= start or of_day < end) if end < start else (start <= of_day < end):
                    return rates
            elif kind == _ALWAYS or start.active(_EPOCH + us * _ONE_US):
                return rates
        return self.default

    def _span(self, us: int) -> tuple[float, float] | None:
        """The longest `[start, end)` around `us` in which no constraint changes its answer."""
        points: list[int] = []
        midnight = us - us % _DAY_US
        for kind, start, end, _ in self.choices:
            if kind == _SINCE:
                points.append(start)
            elif kind == _DAILY:
                for day in (midnight - _DAY_US, midnight, midnight + _DAY_US):
                    points += (day + start, day + end)
            elif kind == _OTHER:
                return None
        before = max((point for point in points if point <= us), default=-math.inf)
        after = min((point for point in points if point > us), default=math.inf)
        return (before, after)


def micros(at: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, exactly."""
    return (at - _EPOCH) // _ONE_US


def _is_tiered(value: object) -> TypeIs[TieredPrices]:
    """Whether `value` is a genai-prices `TieredPrices`, told by its attributes so as not to import genai-prices."""
    return hasattr(value, "tiers") and hasattr(value, "base")


def _at_level(value: Decimal | TieredPrices, level: int | None) -> Decimal:
    """The price a `Decimal | TieredPrices` charges when input_tokens is just above `level` (None: base)."""
    if not _is_tiered(value):
        return value
    price = value.base
    if level is not None:
        for tier in value.tiers:  # sorted by start, ascending
            if tier.start <= level:
                price = tier.price
    return price


def _rates(
    prices: Mapping[str, Decimal | TieredPrices],
    level: int | None,
    listed: MTokPrices,
    bands: tuple[tuple[int, Rates], ...],
) -> Rates:
    def per_mtok(key: str, fallback: Decimal) -> Decimal:
        value = prices.get(key)
        return fallback if value is None else _at_level(value, level)

    # Tokens of a kind without its own price stay in the parent kind, as in genai-prices' leaf decomposition.
    inp = per_mtok("input_mtok", _ZERO)
    write = per_mtok("cache_write_mtok", inp)
    request = prices.get("requests_kcount")
    read = per_mtok("cache_read_mtok", inp)
    out = per_mtok("output_mtok", _ZERO)
    modal: tuple[Decimal, ...] | None = None
    if any(prices.get(key) is not None for key in _MODALITY_KEYS):
        # A modality without its own price stays in its parent: input audio in input, cached audio in input
        # audio when that has a price (genai-prices requires a cache audio price if both input audio and cache
        # reads have one), else in cache reads.
        ins = tuple(per_mtok(f"input_{m}_mtok", inp) for m in _MODALITIES)
        reads = tuple(
            per_mtok(f"cache_{m}_read_mtok", own if prices.get(f"input_{m}_mtok") is not None else read)
            for m, own in zip(_MODALITIES, ins, strict=True)
        )
        modal = (*ins, *reads, *(per_mtok(f"output_{m}_mtok", out) for m in _MODALITIES))
    return Rates(
        input=inp,
        cache_read=read,
        cache_write=write,
        cache_write_1h=per_mtok("cache_write_1h_mtok", write),
        output=out,
        request=None if request is None else _at_level(request, level) / _THOUSAND,
        modal=modal,
        bands=bands,
        listed=listed,
    )


_MODALITIES = ("audio", "image", "video")
_MODALITY_KEYS = (
    *(f"input_{m}_mtok" for m in _MODALITIES),
    *(f"cache_{m}_read_mtok" for m in _MODALITIES),
    *(f"output_{m}_mtok" for m in _MODALITIES),
)
_TOKEN_KEYS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "requests_kcount",
    *_MODALITY_KEYS,
)


def compile_per_mtok(prices: dict[str, Any]) -> Rates:
    """Compile a mapping of genai-prices price keys (`input_mtok`, ...) to `Decimal | TieredPrices`."""
    prices = {key: prices[key] for key in _TOKEN_KEYS if prices.get(key) is not None}
    listed = listed_prices(prices)
    thresholds = sorted({tier.start for value in prices.values() if _is_tiered(value) for tier in value.tiers})
    bands = tuple((start, _rates(prices, start, listed, ())) for start in reversed(thresholds))
    return _rates(prices, None, listed, bands)


def listed_prices(prices: dict[str, Any]) -> MTokPrices:
    """The per-MTok prices of a price mapping, base prices for tiered ones."""

    def base(key: str) -> Decimal | None:
        value: Decimal | TieredPrices | None = prices.get(key)
        return value.base if _is_tiered(value) else value

    return MTokPrices(
        input=base("input_mtok"),
        output=base("output_mtok"),
        cache_read=base("cache_read_mtok"),
        cache_write=base("cache_write_mtok"),
        cache_write_1h=base("cache_write_1h_mtok"),
        tiered=any(_is_tiered(prices.get(key)) for key in _TOKEN_KEYS),
    )


def _day_micros(value: time) -> int:
    """A time of day (naive means UTC, as in genai-prices) as microseconds after UTC midnight."""
    moment = datetime.combine(date(1970, 1, 1), value)  # the day genai-prices converts on
    moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return moment.hour * 3_600_000_000 + moment.minute * 60_000_000 + moment.second * 1_000_000 + moment.microsecond


def _choice(constraint: Any, rates: Rates) -> tuple[int, Any, Any, Rates]:
    if constraint is None:
        return (_ALWAYS, None, None, rates)
    start_date = getattr(constraint, "start_date", None)
    if type(start_date) is date:
        return (_SINCE, micros(datetime.combine(start_date, time(), tzinfo=timezone.utc)), None, rates)
    start_time, end_time = getattr(constraint, "start_time", None), getattr(constraint, "end_time", None)
    if isinstance(start_time, time) and isinstance(end_time, time):
        return (_DAILY, _day_micros(start_time), _day_micros(end_time), rates)
    return (_OTHER, constraint, None, rates)  # a constraint kind newer than this code: ask it


def _priced_by_other_units_only(prices: Any) -> bool:
    """Whether a `ModelPrice` charges for audio hours, characters, pages… but not for tokens or requests."""
    present = {key for key, value in vars(prices).items() if value is not None and not key.startswith("_")}
    return bool(present) and not present.intersection(_TOKEN_KEYS)


def compile_model(prices: Any) -> Rates | Schedule | None:
    """Compile a genai-prices `ModelInfo.prices` (a `ModelPrice` or a list of `ConditionalPrice`).

    Returns None for a model priced only by other units (e.g. whisper per audio hour): pricing its
    tokens at $0 would be a made-up number. A model with no prices at all is free and costs $0.
    """
    variants = [c.prices for c in prices] if isinstance(prices, list) else [prices]
    if all(_priced_by_other_units_only(variant) for variant in variants):
        return None
    if not isinstance(prices, list):
        return compile_per_mtok(dict(vars(prices)))
    compiled = [(conditional.constraint, compile_per_mtok(dict(vars(conditional.prices)))) for conditional in prices]
    choices = tuple(_choice(constraint, rates) for constraint, rates in reversed(compiled))
    return Schedule(choices=choices, default=compiled[0][1])
