"""Model facts for views such as `tokentrail prices`: one model's prices and context window, or all of them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from tokentrail.errors import ValidationError
from tokentrail.pricing import overrides, source
from tokentrail.pricing.calculate import lookup, rates_at
from tokentrail.pricing.rates import MTokPrices, compile_per_mtok, listed_prices
from tokentrail.pricing.validation import check_at

__all__ = ["ModelInfo", "list_models", "model_info"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """What is known about one model at one provider, prices per million tokens in USD."""

    id: str
    """Model id in the price table, e.g. `'gpt-4o'`."""
    name: str | None
    """Display name, e.g. `'GPT-4o'`, when the price table has one."""
    provider_id: str | None
    """Provider id, e.g. `'openai'`; None for an override set without a provider."""
    context_window: int | None
    """Maximum input tokens, when known."""
    input_per_mtok: Decimal | None
    """Price of a million uncached input tokens (the lowest tier when `tiered`)."""
    output_per_mtok: Decimal | None
    """Price of a million output tokens (the lowest tier when `tiered`)."""
    cache_read_per_mtok: Decimal | None
    """Price of a million cache-read tokens; None means they cost the input price."""
    cache_write_per_mtok: Decimal | None
    """Price of a million cache-write tokens; None means they cost the input price."""
    cache_write_1h_per_mtok: Decimal | None
    """Price of a million 1-hour-TTL cache-write tokens; None means they cost the cache-write price."""
    tiered: bool
    """Whether prices rise above a prompt-size threshold (e.g. gemini-2.5-pro above 200k input tokens)."""
    price_source: str
    """`'genai-prices <version>'` or `'override'`."""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a dict; prices stay `Decimal`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _info(
    model_id: str, name: str | None, provider_id: str | None, window: int | None, listed: MTokPrices, origin: str
) -> ModelInfo:
    return ModelInfo(
        id=model_id,
        name=name,
        provider_id=provider_id,
        context_window=window,
        input_per_mtok=listed.input,
        output_per_mtok=listed.output,
        cache_read_per_mtok=listed.cache_read,
        cache_write_per_mtok=listed.cache_write,
        cache_write_1h_per_mtok=listed.cache_write_1h,
        tiered=listed.tiered,
        price_source=origin,
    )


def model_info(model: str, provider: str | None = None, *, at: datetime | None = None) -> ModelInfo:
    """Prices and context window of a model, resolved as `calculate_cost` resolves it.

    Args:
        model: Model name in any form `calculate_cost` accepts.
        provider: Provider whose price to show; inferred if None.
        at: Show the prices in force at this aware datetime instead of now.

    Raises:
        UnknownModelError: No price is known for the model.
        ValidationError: `model`, `provider` or `at` is invalid.

    Example:
        >>> from tokentrail.pricing import model_info
        >>> info = model_info("claude-sonnet-4-20250514")
        >>> info.provider_id, info.input_per_mtok, info.cache_write_per_mtok, info.output_per_mtok
        ('anthropic', Decimal('3'), Decimal('3.75'), Decimal('15'))
    """
    if at is not None:
        check_at(at)
    entry = lookup(model, provider)
    rates = rates_at(entry, at, model, provider)
    return _info(entry.model_id, entry.name, entry.provider_id, entry.context_window, rates.listed, entry.price_source)


def _matches(search: str | None, *names: str | None) -> bool:
    return search is None or any(name is not None and search in name.lower() for name in names)


def list_models(*, provider: str | None = None, search: str | None = None) -> list[ModelInfo]:
    """Every priced model (genai-prices and overrides), current prices, sorted by provider then id.

    An override replaces the genai-prices rows it applies to.

    Args:
        provider: Only this provider (`"openai"`, `"bedrock"`, …).
        search: Only models whose id or name contains this text, any case.

    Example:
        >>> from tokentrail.pricing import list_models
        >>> rows = list_models(provider="openai", search="gpt-4o-mini")
        >>> [(info.id, info.input_per_mtok) for info in rows if info.id.endswith("gpt-4o-mini")]
        [('ft:gpt-4o-mini', Decimal('0.3')), ('gpt-4o-mini', Decimal('0.15'))]
    """
    if provider is not None and (not isinstance(provider, str) or not provider.strip()):
        raise ValidationError(f"provider={provider!r} is not a provider name; expected a non-empty string or None")
    if search is not None and not isinstance(search, str):
        raise ValidationError(f"search={search!r} is not a search text; expected a string or None")
    snap = source.snapshot()
    wanted = None if provider is None else provider.strip().lower()
    wanted_id = source.canonical_provider(snap, wanted) or wanted
    needle = None if search is None else search.strip().lower()
    now = datetime.now(timezone.utc)
    origin = source.price_source(snap)

    rows: list[ModelInfo] = []
    user = overrides.overrides()
    shadowed = {(o.model.lower(), o.provider.lower() if o.provider else None) for o in user}
    for override in user:
        override_provider = override.provider.lower() if override.provider else None
        if wanted_id in (None, override_provider) and _matches(needle, override.model):
            listed = compile_per_mtok(override.price_keys()).listed
            rows.append(_info(override.model, None, override.provider, override.context_window, listed, "override"))
    for genai_provider in snap.providers:
        if wanted_id is not None and genai_provider.id != wanted_id:
            continue
        for model in genai_provider.models:
            key = model.id.lower()
            if (key, None) in shadowed or (key, genai_provider.id) in shadowed:
                continue
            if not _matches(needle, model.id, model.name):
                continue
            listed = listed_prices(dict(vars(model.get_prices(now))))
            rows.append(_info(model.id, model.name, genai_provider.id, model.context_window, listed, origin))
    rows.sort(key=lambda info: (info.provider_id or "", info.id.lower()))
    return rows
