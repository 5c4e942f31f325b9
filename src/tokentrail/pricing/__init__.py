"""Prices and model facts: what an LLM call cost, exactly, and what a model charges.

Prices come from genai-prices (2,000+ models across providers, with cache, tiered and dated
prices), with the user's overrides and custom models on top. This package guarantees:

- **Exact money.** Every amount is a `Decimal` in USD; a `Cost`'s parts add up to its total, and the
  total equals genai-prices' `calc_price(...).total_price` for the same text-token usage, tiered
  prices (e.g. gemini-2.5-pro above 200k prompt tokens) and prices by date included.
- **Names as callers write them.** Dated ids, `-latest` aliases, provider prefixes (`openai/gpt-4o`,
  OpenRouter's `anthropic/claude-3.5-haiku`, `bedrock/…`, `azure/…`) and any case resolve to the same
  model; an unknown model raises `UnknownModelError` (never a made-up zero).
- **Fast.** After the first call for a model, `calculate_cost` takes about a microsecond; genai-prices
  itself is imported only when a price is first needed, not by `import tokentrail`.
- **Safe to share.** Caches are thread-safe and are dropped when overrides or price data change.
- **Clear refusals.** Bad token counts, prices or datetimes raise `ValidationError` naming the field
  and the value.

Example:
    >>> from tokentrail.pricing import calculate_cost
    >>> calculate_cost("claude-sonnet-4", 10_000, 500, cache_read_tokens=8_000).total
    Decimal('0.0159')
"""

from __future__ import annotations

from tokentrail.pricing.calculate import calculate_cost, is_priced
from tokentrail.pricing.catalog import ModelInfo, list_models, model_info
from tokentrail.pricing.cost import Cost
from tokentrail.pricing.overrides import clear_prices, load_price_overrides, remove_price, set_price

__all__ = [
    "Cost",
    "ModelInfo",
    "calculate_cost",
    "clear_prices",
    "is_priced",
    "list_models",
    "load_price_overrides",
    "model_info",
    "remove_price",
    "set_price",
]
