"""Checks at the pricing boundary: every bad value is refused with its field name and its value."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal, InvalidOperation
from numbers import Integral

from tokentrail._modality import MODALITY_FIELDS, check_modality_consistency
from tokentrail.errors import ValidationError

__all__ = [
    "check_at",
    "check_context_window",
    "check_modalities",
    "check_model",
    "check_price",
    "check_provider",
    "check_usage",
]


def _token_count(field: str, value: object) -> int:
    if isinstance(value, Integral) and not isinstance(value, bool):
        count = int(value)
        if count >= 0:
            return count
    elif isinstance(value, float):
        if math.isfinite(value) and value >= 0 and value.is_integer():
            return int(value)
    elif isinstance(value, Decimal):
        if value.is_finite() and value >= 0 and value == value.to_integral_value():
            return int(value)
    raise ValidationError(f"{field}={value!r} is not a valid token count; expected a non-negative whole number")


def check_usage(
    input_tokens: object,
    output_tokens: object,
    cache_read_tokens: object,
    cache_write_tokens: object,
    cache_write_1h_tokens: object,
) -> tuple[int, int, int, int, int]:
    """Validate token counts and return them as ints; raise `ValidationError` naming the first bad one."""
    counts = (
        _token_count("input_tokens", input_tokens),
        _token_count("output_tokens", output_tokens),
        _token_count("cache_read_tokens", cache_read_tokens),
        _token_count("cache_write_tokens", cache_write_tokens),
        _token_count("cache_write_1h_tokens", cache_write_1h_tokens),
    )
    inp, _, read, write, write_1h = counts
    if read + write > inp:
        raise ValidationError(
            f"cache_read_tokens + cache_write_tokens = {read!r} + {write!r} exceeds input_tokens={inp!r}; "
            "input_tokens counts every prompt token, cached ones included"
        )
    if write_1h > write:
        raise ValidationError(
            f"cache_write_1h_tokens={write_1h!r} exceeds cache_write_tokens={write!r}; "
            "1-hour cache writes are a subset of all cache writes"
        )
    return counts


def check_modalities(
    input_tokens: int, output_tokens: int, cache_read_tokens: int, cache_write_tokens: int, counts: dict[str, object]
) -> tuple[int, ...]:
    """Validate per-modality counts (by `MODALITY_FIELDS` name, in that order) against their totals; return ints.

    Raises:
        ValidationError: a count is not a whole number >= 0, or the counts do not fit in their totals.
    """
    ints = {
        name: value if type(value := counts[name]) is int and value >= 0 else _token_count(name, value)
        for name in MODALITY_FIELDS
    }
    check_modality_consistency(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, ints)
    return tuple(ints.values())


def check_at(at: object) -> datetime:
    """Return `at` if it is a timezone-aware datetime, else raise `ValidationError`."""
    if not isinstance(at, datetime):
        raise ValidationError(f"at={at!r} is not a datetime; expected a timezone-aware datetime")
    if at.utcoffset() is None:
        raise ValidationError(
            f"at={at!r} is a naive datetime; pass a timezone-aware one, e.g. datetime.now(timezone.utc)"
        )
    return at


def check_model(model: object) -> str:
    """Return the model name stripped, or raise `ValidationError` if it is not a non-empty string."""
    if not isinstance(model, str) or not model.strip():
        raise ValidationError(f"model={model!r} is not a model name; expected a non-empty string")
    return model.strip()


def check_provider(provider: object) -> str | None:
    """Return the provider name stripped (or None), or raise `ValidationError`."""
    if provider is None:
        return None
    if not isinstance(provider, str) or not provider.strip():
        raise ValidationError(f"provider={provider!r} is not a provider name; expected a non-empty string or None")
    return provider.strip()


def check_price(field: str, value: object) -> Decimal:
    """Parse a USD-per-million-tokens price given as Decimal, int, float or str; refuse anything else."""
    price: Decimal | None = None
    if isinstance(value, bool):
        price = None
    elif isinstance(value, (int, Decimal)):
        price = Decimal(value)
    elif isinstance(value, float):
        price = Decimal(repr(value)) if math.isfinite(value) else None
    elif isinstance(value, str):
        try:
            price = Decimal(value.strip())
        except InvalidOperation:
            price = None
    if price is None or not price.is_finite() or price < 0:
        raise ValidationError(
            f"{field}={value!r} is not a valid price; expected a finite non-negative number of USD per million tokens"
        )
    return price


def check_context_window(value: object) -> int | None:
    """Return a positive int context window (or None), or raise `ValidationError`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or int(value) <= 0:
        raise ValidationError(f"context_window={value!r} is not a valid context window; expected a positive integer")
    return int(value)
