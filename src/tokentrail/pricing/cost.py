"""`Cost`: what one LLM call cost, split into parts that add up exactly to the total."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

__all__ = ["Cost"]

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cost:
    """The price of one call in USD, as exact Decimals.

    `input + cache_read + cache_write + output + request == total`. Each part is priced at the rate
    the provider charges for that kind of token; where a model has no separate cache price, cached
    tokens are charged at the input rate (as genai-prices does), so no token is free or counted twice.
    """

    model_id: str
    """The model whose price was used, as the price table names it, e.g. `'gpt-4o'` for `'gpt-4o-2024-08-06'`."""
    provider_id: str | None
    """The provider whose price was used, e.g. `'openai'`; None for an override set without a provider."""
    input: Decimal
    """Cost of the uncached input tokens: `input_tokens - cache_read_tokens - cache_write_tokens`."""
    cache_read: Decimal
    """Cost of the input tokens read from the prompt cache."""
    cache_write: Decimal
    """Cost of the input tokens written to the prompt cache (5-minute and 1-hour writes together)."""
    output: Decimal
    """Cost of the output tokens, reasoning tokens included."""
    request: Decimal = _ZERO
    """Flat per-request fee (a few providers, e.g. Perplexity's search models); zero for most models."""
    total: Decimal
    """Sum of the parts; equal to genai-prices' `total_price` for the same call."""
    currency: str = "USD"
    """ISO currency code of every amount; always `'USD'`."""
    price_source: str
    """Which price table priced the call, e.g. `'genai-prices 0.2.3'` or `'override'`."""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict; amounts stay `Decimal` (use `str()` on them for JSON).

        Example:
            >>> from tokentrail.pricing import calculate_cost
            >>> calculate_cost("gpt-4o", 1_000_000, 0).to_dict()["input"]
            Decimal('2.5')
        """
        return {f.name: getattr(self, f.name) for f in fields(self)}


def slot_setters() -> dict[str, Callable[[Cost, Any], None]]:
    """The slot setter of every field, by name, for building a `Cost` in a hot loop.

    A slot's descriptor sets the field of a new instance directly, skipping the frozen `__setattr__`
    and `__init__` (about 0.7 µs saved); the caller must set every field, as `__init__` would.
    """
    return {f.name: Cost.__dict__[f.name].__set__ for f in fields(Cost)}
