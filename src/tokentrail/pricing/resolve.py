"""From a model name as a caller writes it to one priced `Entry`: override first, then genai-prices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokentrail.pricing import overrides, source
from tokentrail.pricing.rates import Rates, Schedule, compile_model, compile_per_mtok
from tokentrail.pricing.validation import check_model, check_provider

__all__ = ["Entry", "resolve"]


@dataclass(frozen=True, slots=True)
class Entry:
    """Everything needed to price calls to one (model, provider) as written by the caller."""

    model_id: str
    provider_id: str | None
    name: str | None
    context_window: int | None
    price_source: str
    rates: Rates | None
    """Fixed rates, or None when they change with time (see `schedule`) or the model is unknown."""
    schedule: Schedule | None
    marker: Any
    """genai-prices' custom snapshot when this was built; a different one means the entry is stale."""

    @property
    def priced(self) -> bool:
        """Whether a price is known (an unknown model is cached as an entry without rates)."""
        return self.rates is not None or self.schedule is not None


def _from_override(
    override: overrides.Override, model_id: str, provider_id: str | None, genai_model: Any, marker: Any
) -> Entry:
    return Entry(
        model_id=model_id,
        provider_id=override.provider or provider_id,
        name=getattr(genai_model, "name", None),
        context_window=override.context_window or getattr(genai_model, "context_window", None),
        price_source="override",
        rates=compile_per_mtok(override.price_keys()),
        schedule=None,
        marker=marker,
    )


def resolve(model: object, provider: object) -> Entry:
    """Resolve a model (and optional provider) to an `Entry`; an unknown model gives an entry without rates.

    Raises:
        ValidationError: `model` is not a non-empty string or `provider` is not a string or None.
    """
    name = check_model(model)
    given = check_provider(provider)
    genai = source.load()
    marker = genai._custom_snapshot  # set by genai_prices.UpdatePrices; see source.load()
    snap = genai.get_snapshot()
    ref = name.lower()
    provider_lc = None if given is None else given.lower()
    provider_id = source.canonical_provider(snap, provider_lc)

    prefix_id, rest = source.split_prefix(snap, ref) or (None, ref)
    providers = (provider_lc, provider_id, prefix_id, None)
    override = overrides.find((ref, rest) if rest != ref else (ref,), providers)
    found = source.find_model(snap, ref, provider_id)
    if found is None:
        if override is None and provider_lc is None and prefix_id is None:
            override = overrides.find_any_provider(ref)  # a custom model set with a provider, called without
        if override is not None:
            return _from_override(override, override.model, provider_id or prefix_id or provider_lc, None, marker)
        return Entry(
            model_id=name,
            provider_id=provider_lc,
            name=None,
            context_window=None,
            price_source="",
            rates=None,
            schedule=None,
            marker=marker,
        )
    genai_provider, genai_model = found
    if override is None:
        override = overrides.find((genai_model.id.lower(),), (genai_provider.id, provider_lc, None))
    if override is not None:
        return _from_override(override, genai_model.id, genai_provider.id, genai_model, marker)
    compiled = compile_model(genai_model.prices)
    return Entry(
        model_id=genai_model.id,
        provider_id=genai_provider.id,
        name=genai_model.name,
        context_window=genai_model.context_window,
        price_source=source.price_source(snap),
        rates=compiled if isinstance(compiled, Rates) else None,
        schedule=compiled if isinstance(compiled, Schedule) else None,
        marker=marker,
    )
