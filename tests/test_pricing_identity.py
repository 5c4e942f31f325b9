"""Our fast path against genai-prices itself: 1,000 seeded random calls must cost exactly the same."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot

from tokentrail.pricing import calculate_cost, clear_prices

SEED = 20250601
CASES = 1_000
MAJOR = ("openai", "anthropic", "google", "aws", "azure", "deepseek", "mistral", "x-ai", "groq", "openrouter")
ZONES = (timezone.utc, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)))
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
SPAN_SECONDS = int((datetime(2027, 6, 30, tzinfo=timezone.utc) - START).total_seconds())


@pytest.fixture(autouse=True)
def _no_overrides() -> None:
    clear_prices()


TOKEN_KEYS = {"input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok", "cache_write_1h_mtok"}


def _token_priced(model: Any) -> bool:
    variants = [c.prices for c in model.prices] if isinstance(model.prices, list) else [model.prices]
    keys = {key for variant in variants for key, value in vars(variant).items() if value is not None}
    return not keys or bool(keys & (TOKEN_KEYS | {"requests_kcount"}))


def _population() -> list[tuple[str, str, bool]]:
    """(model ref, provider id, whether genai-prices also resolves the ref without the provider)."""
    snap = get_snapshot()
    refs: list[tuple[str, str, bool]] = []
    for provider in snap.providers:
        for model in provider.models:
            try:
                found_provider, found = snap.find_provider_model(model.id, None, provider.id, None)
            except LookupError:
                continue  # an id genai-prices itself does not resolve: nothing to compare with
            if found is not model or found_provider is not provider:
                continue
            if not _token_priced(model):
                continue  # priced per audio hour, character…: tokentrail refuses rather than say $0
            try:
                alone = snap.find_provider_model(model.id, None, None, None)[1] is model
            except LookupError:
                alone = False
            refs.append((model.id, provider.id, alone))
    return refs


def _usage(rng: random.Random) -> dict[str, int]:
    scale = rng.choice((10, 1_000, 30_000, 150_000, 199_999, 200_000, 200_001, 272_001, 1_500_000))
    input_tokens = rng.randint(0, scale)
    read = rng.randint(0, input_tokens) if rng.random() < 0.6 else 0
    write = rng.randint(0, input_tokens - read) if rng.random() < 0.5 else 0
    write_1h = rng.randint(0, write) if rng.random() < 0.4 else 0
    output = rng.randint(0, rng.choice((1, 500, 20_000, 200_000)))
    return {
        "input_tokens": input_tokens,
        "output_tokens": output,
        "cache_read_tokens": read,
        "cache_write_tokens": write,
        "cache_write_1h_tokens": write_1h,
    }


def _when(rng: random.Random) -> datetime:
    moment = START + timedelta(seconds=rng.randint(0, SPAN_SECONDS), microseconds=rng.randint(0, 999_999))
    return moment.astimezone(rng.choice(ZONES))


def test_calculate_cost_equals_genai_prices_on_1000_random_calls() -> None:
    rng = random.Random(SEED)
    population = _population()
    by_provider: dict[str, list[tuple[str, str, bool]]] = {}
    for ref in population:
        by_provider.setdefault(ref[1], []).append(ref)
    snap = get_snapshot()
    conditional = {
        (provider.id, model.id)
        for provider in snap.providers
        for model in provider.models
        if isinstance(model.prices, list)
    }
    dated = [ref for ref in population if (ref[1], ref[0]) in conditional]
    covered: Counter[str] = Counter()
    models: set[tuple[str, str]] = set()
    kinds: Counter[str] = Counter()
    for case in range(CASES):
        # A third each: a major provider, any provider, and the models whose price changes with time.
        if case % 3 == 0:
            model_id, provider_id, alone = rng.choice(by_provider[rng.choice(MAJOR)])
        elif case % 3 == 1:
            model_id, provider_id, alone = rng.choice(by_provider[rng.choice(sorted(by_provider))])
        else:
            model_id, provider_id, alone = rng.choice(dated)
        usage = _usage(rng)
        at = _when(rng)
        ref = model_id.upper() if rng.random() < 0.1 else model_id
        provider = None if alone and rng.random() < 0.3 else provider_id

        expected = calc_price(Usage(**usage), ref, provider_id=provider, genai_request_timestamp=at)
        cost = calculate_cost(ref, **usage, provider=provider, at=at)

        context = f"case {case}: {ref!r} provider={provider!r} {usage} at={at.isoformat()}"
        assert cost.total == expected.total_price, context
        assert (cost.model_id, cost.provider_id) == (expected.model.id, expected.provider.id), context
        assert cost.input + cost.cache_read + cost.cache_write + cost.output + cost.request == cost.total, context
        assert min(cost.input, cost.cache_read, cost.cache_write, cost.output, cost.request) >= 0, context
        covered[provider_id] += 1
        models.add((provider_id, model_id))
        kinds["cache_write_1h"] += bool(usage["cache_write_1h_tokens"])
        kinds["above_200k"] += usage["input_tokens"] > 200_000
        kinds["conditional"] += (provider_id, model_id) in conditional
        kinds["tiered"] += any(hasattr(price, "tiers") for price in vars(expected.model_price).values())

    # The sample really is broad: many models, every major provider, and each tricky feature exercised.
    assert len(models) >= 400, len(models)
    assert all(covered[provider] >= 10 for provider in MAJOR), covered
    assert len(covered) >= 40, len(covered)
    assert min(kinds.values()) >= 50, kinds
    print(f"{CASES} cases, {len(models)} models, {len(covered)} providers, {dict(kinds)}")


def test_identity_covers_a_decimal_total() -> None:
    """Sanity check that the comparison above is Decimal against Decimal, not float."""
    cost = calculate_cost("gpt-4o", 1_000, 0)
    expected = calc_price(Usage(input_tokens=1_000), "gpt-4o").total_price
    assert isinstance(cost.total, Decimal)
    assert isinstance(expected, Decimal)
    assert cost.total == expected == Decimal("0.0025")
