"""calculate_cost against published prices, resolution of model names, bad input, threads, lazy import."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import threading
from dataclasses import FrozenInstanceError, fields
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokentrail.errors import UnknownModelError, ValidationError
from tokentrail.pricing import Cost, calculate_cost, clear_prices, is_priced, list_models, model_info

M = 1_000_000
D = Decimal
UTC = timezone.utc


@pytest.fixture(autouse=True)
def _no_overrides() -> None:
    clear_prices()


def per_token(per_mtok: str) -> Decimal:
    return D(per_mtok) / M


# Published prices, USD per million tokens: (input, cache read, cache write 5m, cache write 1h, output).
PUBLISHED = {
    "gpt-4o": ("2.50", "1.25", None, None, "10"),
    "gpt-4o-mini": ("0.15", "0.075", None, None, "0.60"),
    "claude-3-5-haiku": ("0.80", "0.08", "1", "1.6", "4"),
    "claude-sonnet-4": ("3", "0.30", "3.75", "6", "15"),
    "claude-opus-4-5": ("5", "0.50", "6.25", "10", "25"),
    "gemini-2.5-flash": ("0.30", "0.03", None, None, "2.50"),
    "gemini-2.0-flash": ("0.10", "0.025", None, None, "0.40"),
}


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_costs_match_published_prices(model: str) -> None:
    inp, read, write, write_1h, out = PUBLISHED[model]
    write = write or inp  # no cache-write price: writes cost the input price
    write_1h = write_1h or write
    cost = calculate_cost(
        model,
        1_000_000,
        250_000,
        cache_read_tokens=300_000,
        cache_write_tokens=200_000,
        cache_write_1h_tokens=50_000,
        at=datetime(2025, 9, 1, tzinfo=UTC),
    )
    assert cost.input == 500_000 * per_token(inp)
    assert cost.cache_read == 300_000 * per_token(read)
    assert cost.cache_write == 150_000 * per_token(write) + 50_000 * per_token(write_1h)
    assert cost.output == 250_000 * per_token(out)
    assert cost.request == 0
    assert cost.total == cost.input + cost.cache_read + cost.cache_write + cost.output
    assert cost.currency == "USD"
    assert cost.price_source.startswith("genai-prices ")


def test_gpt_4o_in_dollars() -> None:
    cost = calculate_cost("gpt-4o", 2_000_000, 1_000_000, cache_read_tokens=1_000_000)
    assert (cost.input, cost.cache_read, cost.output, cost.total) == (D("2.50"), D("1.25"), D("10"), D("13.75"))


def test_claude_sonnet_4_in_dollars() -> None:
    cost = calculate_cost(
        "claude-sonnet-4-20250514", 4_000_000, 1_000_000, cache_read_tokens=1_000_000, cache_write_tokens=2_000_000
    )
    assert (cost.input, cost.cache_read, cost.cache_write, cost.output) == (D(3), D("0.30"), D("7.50"), D(15))
    assert cost.total == D("25.80")
    assert (cost.model_id, cost.provider_id) == ("claude-sonnet-4-0", "anthropic")


def test_gemini_2_5_pro_tier_applies_to_all_tokens_above_200k_input() -> None:
    at = datetime(2025, 9, 1, tzinfo=UTC)
    below = calculate_cost("gemini-2.5-pro", 200_000, 10_000, cache_read_tokens=100_000, at=at)
    above = calculate_cost("gemini-2.5-pro", 200_001, 10_000, cache_read_tokens=100_000, at=at)
    assert below.input == 100_000 * per_token("1.25")
    assert below.cache_read == 100_000 * per_token("0.125")
    assert below.output == 10_000 * per_token("10")
    assert above.input == 100_001 * per_token("2.50")
    assert above.cache_read == 100_000 * per_token("0.25")
    assert above.output == 10_000 * per_token("15")
    assert model_info("gemini-2.5-pro").tiered


def test_price_by_date() -> None:
    """OpenAI cut o3 from $10/$40 to $2/$8 on 2025-06-10 (UTC date of the call decides)."""
    before = calculate_cost("o3", M, M, at=datetime(2025, 6, 9, 23, 59, 59, 999_999, tzinfo=UTC))
    after = calculate_cost("o3", M, M, at=datetime(2025, 6, 10, tzinfo=UTC))
    assert (before.input, before.output) == (D(10), D(40))
    assert (after.input, after.output) == (D(2), D(8))
    # 21:00 on June 9 in New York is 01:00 on June 10 UTC: the new price; 19:59 is still June 9 UTC.
    new_york = timezone(timedelta(hours=-4))
    assert calculate_cost("o3", M, 0, at=datetime(2025, 6, 9, 21, tzinfo=new_york)).total == D(2)
    assert calculate_cost("o3", M, 0, at=datetime(2025, 6, 9, 19, 59, tzinfo=new_york)).total == D(10)


def test_price_by_time_of_day() -> None:
    """deepseek-chat costs less outside 00:30-16:30 UTC."""
    peak = calculate_cost("deepseek-chat", M, M, at=datetime(2025, 3, 1, 0, 30, tzinfo=UTC))
    off_peak = calculate_cost("deepseek-chat", M, M, at=datetime(2025, 3, 1, 0, 29, 59, tzinfo=UTC))
    assert (peak.input, peak.output) == (D("0.27"), D("1.1"))
    assert (off_peak.input, off_peak.output) == (D("0.135"), D("0.55"))
    tokyo = timezone(timedelta(hours=9))  # 02:00 in Tokyo is 17:00 UTC the day before: off-peak
    assert calculate_cost("deepseek-chat", M, 0, at=datetime(2025, 3, 2, 2, tzinfo=tokyo)).total == D("0.135")


def test_default_time_is_now() -> None:
    now = datetime.now(UTC)
    assert calculate_cost("o3", M, 0).total == calculate_cost("o3", M, 0, at=now).total == D(2)


def test_per_request_fee_is_its_own_part() -> None:
    cost = calculate_cost("sonar", M, 0, provider="perplexity")
    assert cost.input == D(1)
    assert cost.request == D(12) / 1000
    assert cost.total == D("1.012")


# --- cache accounting -------------------------------------------------------------------------------


def test_anthropic_style_usage_is_neither_negative_nor_double_counted() -> None:
    # Anthropic reports input_tokens (uncached only), cache_read_input_tokens and cache_creation_input_tokens
    # separately; tokentrail's input_tokens is their sum.
    uncached, read, created = 120, 9_000, 2_000
    cost = calculate_cost(
        "claude-3-5-haiku-20241022",
        uncached + read + created,
        300,
        cache_read_tokens=read,
        cache_write_tokens=created,
    )
    assert cost.input == uncached * per_token("0.80")
    assert cost.cache_read == read * per_token("0.08")
    assert cost.cache_write == created * per_token("1")
    assert cost.total == cost.input + cost.cache_read + cost.cache_write + 300 * per_token("4")


def test_openai_style_usage_counts_cached_tokens_once() -> None:
    # OpenAI reports prompt_tokens (all) and prompt_tokens_details.cached_tokens (a subset).
    cost = calculate_cost("gpt-4o-mini", 10_000, 100, cache_read_tokens=8_000)
    assert cost.input == 2_000 * per_token("0.15")
    assert cost.cache_read == 8_000 * per_token("0.075")
    assert cost.cache_write == 0


def test_cache_writes_without_a_cache_write_price_cost_the_input_price() -> None:
    cost = calculate_cost("gpt-4o", 1_000, 0, cache_write_tokens=1_000, cache_write_1h_tokens=400)
    assert cost.input == 0
    assert cost.cache_write == 1_000 * per_token("2.50")


def test_everything_cached() -> None:
    cost = calculate_cost("claude-sonnet-4", 1_000, 0, cache_read_tokens=1_000)
    assert cost.input == 0
    assert cost.total == 1_000 * per_token("0.30")


@given(
    input_tokens=st.integers(0, 3_000_000),
    output_tokens=st.integers(0, 100_000),
    read_share=st.fractions(0, 1),
    write_share=st.fractions(0, 1),
    hour_share=st.fractions(0, 1),
    model=st.sampled_from(["gpt-4o", "claude-sonnet-4", "claude-3-5-haiku", "gemini-2.5-pro", "deepseek-chat"]),
)
def test_parts_are_never_negative_and_add_up(
    input_tokens: int, output_tokens: int, read_share, write_share, hour_share, model: str
) -> None:
    read = int(input_tokens * read_share)
    write = int((input_tokens - read) * write_share)
    hour = int(write * hour_share)
    cost = calculate_cost(
        model, input_tokens, output_tokens, cache_read_tokens=read, cache_write_tokens=write, cache_write_1h_tokens=hour
    )
    parts = (cost.input, cost.cache_read, cost.cache_write, cost.output, cost.request)
    assert all(part >= 0 for part in parts)
    assert sum(parts) == cost.total
    # Reading from the cache never costs more than sending the same tokens uncached.
    uncached = calculate_cost(model, input_tokens, output_tokens, cache_write_tokens=write, cache_write_1h_tokens=hour)
    assert cost.total <= uncached.total


# --- resolution -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider", "model_id", "provider_id"),
    [
        ("gpt-4o-2024-08-06", None, "gpt-4o", "openai"),
        ("GPT-4o", None, "gpt-4o", "openai"),
        ("claude-sonnet-4-20250514", None, "claude-sonnet-4-0", "anthropic"),
        ("claude-3-5-haiku-latest", None, "claude-3-5-haiku-latest", "anthropic"),
        ("claude-opus-4-5-20251101", None, "claude-opus-4-5", "anthropic"),
        ("gpt-4o-latest", None, "gpt-4o", "openai"),
        ("openai/gpt-4o", None, "gpt-4o", "openai"),
        ("openai:gpt-4o", None, "gpt-4o", "openai"),
        ("anthropic/claude-3.5-haiku", None, "claude-3-5-haiku-latest", "anthropic"),
        ("google/gemini-2.5-flash", None, "gemini-2.5-flash", "google"),
        ("gemini/gemini-2.5-pro", None, "gemini-2.5-pro", "google"),
        ("models/gemini-2.5-flash", None, "gemini-2.5-flash", "google"),
        ("azure/gpt-4o", None, "gpt-4o", "azure"),
        ("gpt-4o", "azure", "gpt-4o", "azure"),
        ("gpt-4o", "OpenAI", "gpt-4o", "openai"),
        ("gemini-2.5-flash", "vertex_ai", "gemini-2.5-flash", "google"),
        (
            "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
            None,
            "regional.anthropic.claude-3-5-haiku-20241022-v1:0",
            "aws",
        ),
        (
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "bedrock",
            "regional.anthropic.claude-sonnet-4-20250514-v1:0",
            "aws",
        ),
        ("openrouter/anthropic/claude-3.5-haiku", None, "anthropic/claude-3.5-haiku", "openrouter"),
        ("anthropic/claude-3.5-haiku", "openrouter", "anthropic/claude-3.5-haiku", "openrouter"),
        ("meta-llama/llama-3.3-70b-instruct", None, "meta-llama/llama-3.3-70b-instruct", "openrouter"),
        ("xai/grok-3", None, "grok-3", "x-ai"),
        ("gpt-4o", "my-proxy", "gpt-4o", "openai"),  # a provider without prices of its own: priced by model
    ],
)
def test_resolution(model: str, provider: str | None, model_id: str, provider_id: str) -> None:
    cost = calculate_cost(model, 1_000, 1_000, provider=provider)
    assert (cost.model_id, cost.provider_id) == (model_id, provider_id)
    assert is_priced(model, provider)


def test_prefixed_and_dated_names_cost_the_same_as_the_plain_name() -> None:
    plain = calculate_cost("gpt-4o", 12_345, 678, cache_read_tokens=1_000)
    for name in ("openai/gpt-4o", "gpt-4o-2024-08-06", "GPT-4O", " gpt-4o "):
        assert calculate_cost(name, 12_345, 678, cache_read_tokens=1_000) == plain


@pytest.mark.parametrize(("model", "provider"), [("foo", None), ("openai/foo", None), ("gpt-4o", "nobody/x")])
def test_unknown_model_raises(model: str, provider: str | None) -> None:
    if provider == "nobody/x":
        model = "no-such-model-anywhere"
    message = f"no price for model={model!r} (provider={provider!r}); add one with tokentrail.set_price(...)"
    for _ in range(2):  # the second time from the negative cache, with the same message
        with pytest.raises(UnknownModelError, match=re.escape(message)):
            calculate_cost(model, 1, 1, provider=provider)
    assert not is_priced(model, provider)
    with pytest.raises(UnknownModelError):
        model_info(model, provider)


def test_model_priced_only_by_other_units_is_not_priced_by_tokens() -> None:
    # Whisper is billed per audio hour: its tokens have no price, and $0 would be made up.
    with pytest.raises(UnknownModelError, match=re.escape("no price for model='whisper-large-v3'")):
        calculate_cost("whisper-large-v3", 100, 0, provider="groq")
    assert not is_priced("whisper-large-v3", "groq")


def test_free_model_costs_zero() -> None:
    cost = calculate_cost("mai-ds-r1:free", 1_000, 1_000, provider="azure")
    assert cost.total == 0
    assert is_priced("mai-ds-r1:free", "azure")


def test_unknown_model_error_is_a_lookup_error() -> None:
    with pytest.raises(LookupError):
        calculate_cost("definitely-not-a-model", 1, 1)


# --- bad input --------------------------------------------------------------------------------------

COUNT_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens")
BAD_COUNTS = [-1, math.nan, math.inf, -math.inf, True, False, None, "5", 1.5, D("2.5"), D("NaN"), [1]]


@pytest.mark.parametrize("field", COUNT_FIELDS)
@pytest.mark.parametrize("value", BAD_COUNTS, ids=repr)
def test_bad_token_counts_are_rejected(field: str, value: object) -> None:
    counts: dict[str, object] = {name: 0 for name in COUNT_FIELDS}
    counts["input_tokens"] = 10
    counts[field] = value
    message = f"{field}={value!r} is not a valid token count; expected a non-negative whole number"
    with pytest.raises(ValidationError, match=re.escape(message)):
        calculate_cost("gpt-4o", counts.pop("input_tokens"), counts.pop("output_tokens"), **counts)  # type: ignore[arg-type]


def test_whole_number_floats_and_decimals_are_accepted() -> None:
    assert calculate_cost("gpt-4o", 1000.0, D(10)) == calculate_cost("gpt-4o", 1000, 10)  # type: ignore[arg-type]


def test_cached_tokens_cannot_exceed_input_tokens() -> None:
    message = (
        "cache_read_tokens + cache_write_tokens = 60 + 50 exceeds input_tokens=100; "
        "input_tokens counts every prompt token, cached ones included"
    )
    with pytest.raises(ValidationError, match=re.escape(message)):
        calculate_cost("claude-sonnet-4", 100, 0, cache_read_tokens=60, cache_write_tokens=50)


def test_1h_cache_writes_cannot_exceed_cache_writes() -> None:
    message = (
        "cache_write_1h_tokens=11 exceeds cache_write_tokens=10; 1-hour cache writes are a subset of all cache writes"
    )
    with pytest.raises(ValidationError, match=re.escape(message)):
        calculate_cost("claude-sonnet-4", 100, 0, cache_write_tokens=10, cache_write_1h_tokens=11)


def test_naive_datetime_is_rejected() -> None:
    naive = datetime(2025, 1, 1, 12)  # noqa: DTZ001 - the point of the test
    message = f"at={naive!r} is a naive datetime; pass a timezone-aware one, e.g. datetime.now(timezone.utc)"
    with pytest.raises(ValidationError, match=re.escape(message)):
        calculate_cost("gpt-4o", 1, 1, at=naive)
    with pytest.raises(ValidationError, match=re.escape("at='2025-01-01' is not a datetime")):
        calculate_cost("gpt-4o", 1, 1, at="2025-01-01")  # type: ignore[arg-type]


@pytest.mark.parametrize("model", [None, "", "   ", 42, ["gpt-4o"]], ids=repr)
def test_bad_model_name_is_rejected(model: object) -> None:
    message = f"model={model!r} is not a model name; expected a non-empty string"
    with pytest.raises(ValidationError, match=re.escape(message)):
        calculate_cost(model, 1, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("provider", ["", 7, ["openai"]], ids=repr)
def test_bad_provider_is_rejected(provider: object) -> None:
    message = f"provider={provider!r} is not a provider name; expected a non-empty string or None"
    with pytest.raises(ValidationError, match=re.escape(message)):
        calculate_cost("gpt-4o", 1, 1, provider=provider)  # type: ignore[arg-type]


# --- the Cost and ModelInfo types ----------------------------------------------------------------


def test_cost_is_a_frozen_slotted_dataclass_with_a_dict_view() -> None:
    cost = calculate_cost("gpt-4o", 1_000, 100)
    with pytest.raises(FrozenInstanceError):
        cost.total = D(0)  # type: ignore[misc]
    assert not hasattr(cost, "__dict__")
    assert cost.to_dict() == {f.name: getattr(cost, f.name) for f in fields(Cost)}
    assert cost == Cost(**cost.to_dict())
    assert hash(cost) == hash(Cost(**cost.to_dict()))
    assert list(cost.to_dict()) == [
        "model_id",
        "provider_id",
        "input",
        "cache_read",
        "cache_write",
        "output",
        "request",
        "total",
        "currency",
        "price_source",
    ]


def test_model_info() -> None:
    info = model_info("claude-sonnet-4-20250514")
    assert (info.id, info.provider_id, info.name) == ("claude-sonnet-4-0", "anthropic", "Claude Sonnet 4")
    assert info.context_window == 200_000
    assert (info.input_per_mtok, info.output_per_mtok) == (D(3), D(15))
    assert (info.cache_read_per_mtok, info.cache_write_per_mtok, info.cache_write_1h_per_mtok) == (
        D("0.3"),
        D("3.75"),
        D(6),
    )
    assert not info.tiered
    assert info.to_dict()["id"] == "claude-sonnet-4-0"
    assert model_info("gpt-4o").cache_write_per_mtok is None
    assert model_info("o3", at=datetime(2025, 1, 1, tzinfo=UTC)).input_per_mtok == D(10)


def test_list_models() -> None:
    everything = list_models()
    assert len(everything) > 2_000
    assert everything == sorted(everything, key=lambda info: (info.provider_id or "", info.id.lower()))
    openai = list_models(provider="openai")
    assert openai and {info.provider_id for info in openai} == {"openai"}
    assert "gpt-4o" in {info.id for info in openai}
    assert {info.provider_id for info in list_models(provider="bedrock")} == {"aws"}
    found = list_models(search="SONNET-4")
    assert found and all("sonnet-4" in (info.id + (info.name or "")).lower().replace(" ", "-") for info in found)
    assert list_models(provider="no-such-provider") == []


# --- threads and import cost --------------------------------------------------------------------

MIXED = [
    ("gpt-4o", None),
    ("claude-sonnet-4", None),
    ("gemini-2.5-pro", None),
    ("deepseek-chat", None),
    ("openai/gpt-4o-mini", None),
    ("anthropic/claude-3.5-haiku", "openrouter"),
    ("o3", None),
    ("sonar", "perplexity"),
]


def _run(seed: int) -> list[Cost]:
    at = datetime(2025, 7, 1, 12, tzinfo=UTC)
    results = []
    for i in range(400):
        model, provider = MIXED[(seed + i) % len(MIXED)]
        n = (i * 7919) % 300_000
        results.append(calculate_cost(model, n, i, cache_read_tokens=n // 3, provider=provider, at=at))
    return results


def test_threads_get_the_same_results_as_serial() -> None:
    serial = {seed: _run(seed) for seed in range(8)}
    clear_prices()  # drop the caches so the threads also race to fill them
    results: dict[int, list[Cost]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work(seed: int) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                results[seed] = _run(seed)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert results == serial


def test_importing_tokentrail_does_not_import_genai_prices() -> None:
    code = (
        "import sys, tokentrail, tokentrail.pricing\n"
        "from tokentrail.pricing import set_price, Cost\n"
        "set_price('x', input_per_mtok=1, output_per_mtok=1)\n"
        "assert 'genai_prices' not in sys.modules, 'imported too early'\n"
        "tokentrail.pricing.calculate_cost('gpt-4o', 1, 1)\n"
        "assert 'genai_prices' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_newer_genai_prices_data_replaces_cached_prices() -> None:
    """genai-prices' UpdatePrices installs a custom snapshot; cached entries must not outlive it."""
    import dataclasses

    from genai_prices.data_snapshot import DataSnapshot, get_snapshot, set_custom_snapshot
    from genai_prices.types import ModelPrice

    assert calculate_cost("gpt-4o", M, 0).total == D("2.5")  # cached from the bundled data
    openai = next(provider for provider in get_snapshot().providers if provider.id == "openai")
    gpt_4o = next(model for model in openai.models if model.id == "gpt-4o")
    cheaper = dataclasses.replace(gpt_4o, prices=ModelPrice(input_mtok=D(5), output_mtok=D(20)))
    set_custom_snapshot(DataSnapshot(providers=[dataclasses.replace(openai, models=[cheaper])], from_auto_update=True))
    try:
        cost = calculate_cost("gpt-4o", M, 0)
        assert cost.total == D(5)
        assert cost.price_source.startswith("genai-prices ") and "(data of " in cost.price_source
    finally:
        set_custom_snapshot(None)
    assert calculate_cost("gpt-4o", M, 0).total == D("2.5")
