"""genai-prices, imported on first use, and how a model name as callers write it is matched to its data.

Importing genai-prices takes ~150 ms, so nothing here touches it until a price is needed.
Resolution tries, in order: the name as given with the caller's provider; a known provider prefix
(`openai/gpt-4o`, `bedrock/…`, `openai:gpt-4o`) stripped and used as the provider; the name under
whichever provider genai-prices infers (so a provider without the model, e.g. a proxy, falls back to
the model's own price, and `Cost.provider_id` says whose); OpenRouter's `vendor/model` names; the
name without its prefix; Bedrock-shaped ids (`us.anthropic.claude-…`) under AWS; an exact model id;
and finally all of that again without a `-latest` or date suffix.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # genai-prices is imported on first use (~150 ms), never at import time
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ModelInfo, Provider

    _Hit = tuple[Provider, ModelInfo]

__all__ = ["canonical_provider", "find_model", "load", "price_source", "snapshot", "split_prefix"]

_lock = threading.Lock()


def _new_lock_in_child() -> None:  # a thread of the parent may have held it when the process forked
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)
_genai: Any = None
_ids: tuple[DataSnapshot, dict[str, list[_Hit]]] | None = None

# Provider names used by SDKs, LiteLLM and OpenRouter that genai-prices' own matching does not map.
_ALIASES = {
    "azure_ai": "azure",
    "azure_openai": "azure",
    "fireworks_ai": "fireworks",
    "togetherai": "together",
    "xai": "x-ai",
    "grok": "x-ai",
    "mistralai": "mistral",
    "moonshot": "moonshotai",
    "zhipu": "zhipuai",
    "vertex": "google",
    "google_genai": "google",
    "google-genai": "google",
}
_NOT_PROVIDERS = frozenset({"litellm"})
_BEDROCK_SHAPE = re.compile(r"^(?:[a-z]{2,6}\.)?[a-z][a-z0-9]*\.[a-z]")  # anthropic.claude-…, us.amazon.nova-…
_SUFFIXES = (re.compile(r"-latest$"), re.compile(r"[-@]20\d{2}-?\d{2}-?\d{2}$"))


def load() -> Any:
    """Import genai-prices (once) and return its `data_snapshot` module."""
    global _genai
    if _genai is None:
        with _lock:
            if _genai is None:
                import genai_prices.data_snapshot

                module = genai_prices.data_snapshot
                if not hasattr(module, "_custom_snapshot"):  # a genai-prices without it: no refresh detection
                    module._custom_snapshot = None
                _genai = module
    return _genai


def snapshot() -> DataSnapshot:
    """The genai-prices data in use: the bundled one, or a newer one fetched by `genai_prices.UpdatePrices`."""
    snap: DataSnapshot = load().get_snapshot()
    return snap


def price_source(snap: DataSnapshot) -> str:
    """Name and version of the price table, e.g. `'genai-prices 0.2.3'`."""
    import genai_prices

    source = f"genai-prices {genai_prices.__version__}"
    if snap.from_auto_update:
        source += f" (data of {snap.timestamp:%Y-%m-%d %H:%M})"
    return source


def canonical_provider(snap: DataSnapshot, name: str | None) -> str | None:
    """genai-prices' id for a provider name (`'bedrock'` -> `'aws'`), or None if it has no prices for it."""
    if not name or name in _NOT_PROVIDERS:
        return None
    name = _ALIASES.get(name, name)
    provider = load().find_provider_by_id(snap.providers, name)
    return None if provider is None else provider.id


def _lookup(snap: DataSnapshot, ref: str, provider_id: str | None) -> _Hit | None:
    try:
        return snap.find_provider_model(ref, None, provider_id, None)
    except LookupError:
        return None


def _by_id(snap: DataSnapshot, ref: str, provider_id: str | None) -> _Hit | None:
    global _ids
    if _ids is None or _ids[0] is not snap:
        index: dict[str, list[_Hit]] = {}
        for provider in snap.providers:
            for model in provider.models:
                index.setdefault(model.id.lower(), []).append((provider, model))
        _ids = (snap, index)
    found = _ids[1].get(ref, [])
    return next((hit for hit in found if hit[0].id == provider_id), found[0] if found else None)


def split_prefix(snap: DataSnapshot, ref: str) -> tuple[str | None, str] | None:
    """`(provider id or None, rest)` for `provider/model` or `provider:model` refs."""
    prefix, slash, rest = ref.partition("/")
    if slash and prefix and rest:
        return canonical_provider(snap, prefix), rest
    prefix, colon, rest = ref.partition(":")
    if colon and rest and (provider_id := canonical_provider(snap, prefix)):
        return provider_id, rest
    return None


def _find_one(snap: DataSnapshot, ref: str, provider_id: str | None) -> _Hit | None:
    if provider_id and (hit := _lookup(snap, ref, provider_id)):
        return hit
    split = split_prefix(snap, ref)
    if split:
        prefix_id, rest = split
        if provider_id and (hit := _lookup(snap, rest, provider_id)):
            return hit
        if prefix_id and prefix_id != provider_id and (hit := _lookup(snap, rest, prefix_id)):
            return hit
    if hit := _lookup(snap, ref, None):
        return hit
    if split:
        if provider_id != "openrouter" and (hit := _lookup(snap, ref, "openrouter")):
            return hit
        if hit := _find_one(snap, split[1], None):
            return hit
    if provider_id != "aws" and _BEDROCK_SHAPE.match(ref) and (hit := _lookup(snap, ref, "aws")):
        return hit
    return _by_id(snap, ref, provider_id)


def _variants(ref: str) -> Iterator[str]:
    yield ref
    for suffix in _SUFFIXES:
        shorter = suffix.sub("", ref)
        if shorter != ref and shorter:
            yield shorter


def find_model(snap: DataSnapshot, ref: str, provider_id: str | None) -> _Hit | None:
    """Find genai-prices' `(Provider, ModelInfo)` for a lower-cased model ref and canonical provider id."""
    for variant in _variants(ref):
        if hit := _find_one(snap, variant, provider_id):
            return hit
    return None
