"""User prices: overrides of genai-prices and custom models, which always win over the bundled table."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tokentrail.errors import ValidationError
from tokentrail.pricing.validation import check_context_window, check_model, check_price, check_provider

__all__ = [
    "Override",
    "clear_prices",
    "find",
    "find_any_provider",
    "load_price_overrides",
    "overrides",
    "remove_price",
    "set_price",
    "subscribe",
]

_PRICE_KEYS = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok")
_MODALITY_KEYS = {  # our name -> genai-prices' price key
    f"{kind}_{m}_per_mtok": f"{genai}_mtok".format(m=m)
    for kind, genai in (("input", "input_{m}"), ("cache_read", "cache_{m}_read"), ("output", "output_{m}"))
    for m in ("audio", "image", "video")
}
_TABLE_KEYS = frozenset((*_PRICE_KEYS, *_MODALITY_KEYS, "provider", "context_window"))


@dataclass(frozen=True, slots=True)
class Override:
    """A price set by the user, per million tokens."""

    model: str
    provider: str | None
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal | None
    cache_write_per_mtok: Decimal | None
    context_window: int | None
    modality_per_mtok: tuple[tuple[str, Decimal], ...] = ()
    """Audio, image and video prices set apart, as (`input_audio_per_mtok`, price) pairs."""

    def price_keys(self) -> dict[str, Decimal]:
        """The prices under genai-prices' key names, for `rates.compile_per_mtok`."""
        keys = {
            "input_mtok": self.input_per_mtok,
            "output_mtok": self.output_per_mtok,
            "cache_read_mtok": self.cache_read_per_mtok,
            "cache_write_mtok": self.cache_write_per_mtok,
        }
        keys.update((_MODALITY_KEYS[name], price) for name, price in self.modality_per_mtok)
        return {key: value for key, value in keys.items() if value is not None}


_lock = threading.Lock()


def _new_lock_in_child() -> None:  # a thread of the parent may have held it when the process forked
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)
_overrides: dict[tuple[str, str | None], Override] = {}  # replaced, never mutated, so readers need no lock
_listeners: list[Callable[[], None]] = []


def subscribe(listener: Callable[[], None]) -> None:
    """Call `listener()` after every change to the overrides (the price caches use it to invalidate)."""
    _listeners.append(listener)


def _replace(new: dict[tuple[str, str | None], Override]) -> None:
    global _overrides
    _overrides = new
    for listener in _listeners:
        listener()


def _key(model: str, provider: str | None) -> tuple[str, str | None]:
    return (model.lower(), None if provider is None else provider.lower())


def _optional_price(field: str, value: object) -> Decimal | None:
    return None if value is None else check_price(field, value)


def _build(model: object, fields: Mapping[str, Any]) -> Override:
    name = check_model(model)
    prices = {key: fields.get(key) for key in _PRICE_KEYS}
    return Override(
        model=name,
        provider=check_provider(fields.get("provider")),
        input_per_mtok=check_price("input_per_mtok", prices["input_per_mtok"]),
        output_per_mtok=check_price("output_per_mtok", prices["output_per_mtok"]),
        cache_read_per_mtok=_optional_price("cache_read_per_mtok", prices["cache_read_per_mtok"]),
        cache_write_per_mtok=_optional_price("cache_write_per_mtok", prices["cache_write_per_mtok"]),
        context_window=check_context_window(fields.get("context_window")),
        modality_per_mtok=tuple(
            (key, check_price(key, fields[key])) for key in _MODALITY_KEYS if fields.get(key) is not None
        ),
    )


def set_price(
    model: str,
    *,
    input_per_mtok: Decimal | float | str,
    output_per_mtok: Decimal | float | str,
    cache_read_per_mtok: Decimal | float | str | None = None,
    cache_write_per_mtok: Decimal | float | str | None = None,
    provider: str | None = None,
    context_window: int | None = None,
    **modality_per_mtok: Decimal | float | str | None,
) -> None:
    """Set the price of a model, overriding genai-prices or adding a model it does not know.

    Prices are USD per million tokens. Without a cache price, cached tokens cost the input price. Audio,
    image and video tokens may have prices of their own (`input_audio_per_mtok`, `cache_read_audio_per_mtok`,
    `output_image_per_mtok`, … for each of audio, image, video); without one they cost what text does (cached
    ones the modality's input price if it has one, else the cache read price).
    An override applies to the name as written (any case, with or without a provider prefix) and to
    every name genai-prices resolves to the same model id; with `provider`, only to that provider.

    Args:
        model: Model name, e.g. `"my-finetune"` or `"gpt-4o"`.
        input_per_mtok: Price of a million uncached input tokens.
        output_per_mtok: Price of a million output tokens.
        cache_read_per_mtok: Price of a million tokens read from the prompt cache.
        cache_write_per_mtok: Price of a million tokens written to the prompt cache.
        provider: Restrict the override to this provider.
        context_window: The model's context window in tokens, shown by `model_info`.
        **modality_per_mtok: Prices of audio, image and video tokens, e.g. `output_image_per_mtok=30`.

    Raises:
        ValidationError: A price is negative, NaN, infinite, a bool or not a number; an unknown keyword.

    Example:
        >>> from tokentrail.pricing import calculate_cost, set_price, remove_price
        >>> set_price("my-model", input_per_mtok="0.50", output_per_mtok=2)
        >>> calculate_cost("my-model", 2_000_000, 1_000_000).total
        Decimal('3.00')
        >>> remove_price("my-model")
        True
    """
    unknown = sorted(set(modality_per_mtok) - _MODALITY_KEYS.keys())
    if unknown:
        expected = ", ".join(_MODALITY_KEYS)
        raise ValidationError(f"set_price() got an unknown price {unknown[0]!r}; the modality prices are {expected}")
    fields = {
        **modality_per_mtok,
        "input_per_mtok": input_per_mtok,
        "output_per_mtok": output_per_mtok,
        "cache_read_per_mtok": cache_read_per_mtok,
        "cache_write_per_mtok": cache_write_per_mtok,
        "provider": provider,
        "context_window": context_window,
    }
    override = _build(model, fields)
    with _lock:
        _replace({**_overrides, _key(override.model, override.provider): override})


def load_price_overrides(table: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Set many prices from a config file's `[prices."my-model"]` tables, all or none.

    Args:
        table: Model name to a mapping with `input_per_mtok`, `output_per_mtok` and optionally
            `cache_read_per_mtok`, `cache_write_per_mtok`, the audio/image/video prices of `set_price`,
            `provider`, `context_window`.

    Returns:
        The model names set, in order.

    Raises:
        ValidationError: A table is not a mapping, has an unknown or missing key, or a bad value;
            the message names the model and the key. Nothing is set then.

    Example:
        >>> from tokentrail.pricing import load_price_overrides, clear_prices
        >>> load_price_overrides({"my-model": {"input_per_mtok": 1, "output_per_mtok": 4}})
        ['my-model']
        >>> clear_prices()
    """
    if not isinstance(table, Mapping):
        raise ValidationError(f"prices={table!r} is not a table; expected a mapping of model name to prices")
    built: list[Override] = []
    for model, fields in table.items():
        where = f"[prices.{model!r}]"
        if not isinstance(fields, Mapping):
            raise ValidationError(f"{where} = {fields!r} is not a table; expected keys such as input_per_mtok")
        unknown = sorted(str(key) for key in fields if key not in _TABLE_KEYS)
        if unknown:
            raise ValidationError(f"{where} has unknown key {unknown[0]!r}; expected some of {sorted(_TABLE_KEYS)}")
        for required in ("input_per_mtok", "output_per_mtok"):
            if required not in fields:
                raise ValidationError(f"{where} is missing {required!r}")
        try:
            built.append(_build(model, fields))
        except ValidationError as error:
            raise ValidationError(f"{where} {error}") from None
    with _lock:
        new = dict(_overrides)
        new.update((_key(override.model, override.provider), override) for override in built)
        _replace(new)
    return [override.model for override in built]


def remove_price(model: str, *, provider: str | None = None) -> bool:
    """Remove an override set with `set_price`; return whether there was one.

    Example:
        >>> from tokentrail.pricing import remove_price
        >>> remove_price("never-set")
        False
    """
    key = _key(check_model(model), check_provider(provider))
    with _lock:
        if key not in _overrides:
            return False
        _replace({k: v for k, v in _overrides.items() if k != key})
    return True


def clear_prices() -> None:
    """Remove every override set with `set_price` or `load_price_overrides`."""
    with _lock:
        _replace({})


def overrides() -> list[Override]:
    """Every override, in the order set."""
    return list(_overrides.values())


def find(models: Iterable[str], providers: Iterable[str | None]) -> Override | None:
    """The first override for any (model, provider) pair, models outermost; names already lower-cased."""
    current = _overrides
    if not current:
        return None
    providers = tuple(providers)
    for model in models:
        for provider in providers:
            if (hit := current.get((model, provider))) is not None:
                return hit
    return None


def find_any_provider(model: str) -> Override | None:
    """The first override for a lower-cased model name under any provider."""
    return next((override for key, override in _overrides.items() if key[0] == model), None)
