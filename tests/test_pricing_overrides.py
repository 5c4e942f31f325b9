"""User prices: set_price, remove_price, clear_prices and load_price_overrides."""

from __future__ import annotations

import math
import re
from decimal import Decimal

import pytest

from tokentrail.errors import UnknownModelError, ValidationError
from tokentrail.pricing import (
    calculate_cost,
    clear_prices,
    is_priced,
    list_models,
    load_price_overrides,
    model_info,
    remove_price,
    set_price,
)

D = Decimal
M = 1_000_000


@pytest.fixture(autouse=True)
def _no_overrides() -> None:
    clear_prices()
    yield
    clear_prices()


def test_custom_model() -> None:
    assert not is_priced("acme-large")
    set_price("acme-large", input_per_mtok="0.50", output_per_mtok=2, context_window=32_000)
    cost = calculate_cost("acme-large", 2 * M, M)
    assert (cost.input, cost.output, cost.total) == (D(1), D(2), D(3))
    assert (cost.model_id, cost.provider_id, cost.price_source) == ("acme-large", None, "override")
    assert is_priced("ACME-Large")
    info = model_info("acme-large")
    assert (info.context_window, info.input_per_mtok, info.price_source) == (32_000, D("0.50"), "override")


def test_override_wins_over_genai_prices_and_is_undone_by_remove() -> None:
    before = calculate_cost("gpt-4o", M, M)
    set_price("gpt-4o", input_per_mtok=1, output_per_mtok=1)
    assert calculate_cost("gpt-4o", M, M).total == D(2)
    # Every name resolving to the same model gets the override, and the model's facts are kept.
    assert calculate_cost("gpt-4o-2024-08-06", M, M).total == D(2)
    assert calculate_cost("openai/gpt-4o", M, M).total == D(2)
    assert model_info("gpt-4o").context_window == model_info("gpt-4o-mini").context_window
    assert remove_price("gpt-4o") is True
    assert remove_price("gpt-4o") is False
    assert calculate_cost("gpt-4o", M, M) == before


def test_cache_prices_of_an_override() -> None:
    set_price("acme", input_per_mtok=4, output_per_mtok=8, cache_read_per_mtok=1, cache_write_per_mtok=5)
    cost = calculate_cost("acme", 4 * M, 0, cache_read_tokens=M, cache_write_tokens=M, cache_write_1h_tokens=M // 2)
    assert (cost.input, cost.cache_read, cost.cache_write) == (D(8), D(1), D(5))
    set_price("plain", input_per_mtok=4, output_per_mtok=8)  # no cache prices: cached tokens cost the input price
    cost = calculate_cost("plain", 4 * M, 0, cache_read_tokens=M, cache_write_tokens=M)
    assert (cost.input, cost.cache_read, cost.cache_write, cost.total) == (D(8), D(4), D(4), D(16))


def test_provider_specific_override() -> None:
    set_price("gpt-4o", provider="azure", input_per_mtok=3, output_per_mtok=12)
    assert calculate_cost("gpt-4o", M, 0, provider="azure").total == D(3)
    assert calculate_cost("azure/gpt-4o", M, 0).total == D(3)
    assert calculate_cost("gpt-4o", M, 0).total == D("2.5")  # openai's own price is untouched
    assert remove_price("gpt-4o") is False
    assert remove_price("gpt-4o", provider="azure") is True


def test_custom_model_with_a_provider_is_found_without_one() -> None:
    set_price("acme-small", provider="acme", input_per_mtok=1, output_per_mtok=1)
    assert calculate_cost("acme-small", M, 0).provider_id == "acme"
    assert calculate_cost("acme-small", M, 0, provider="acme").total == D(1)


def test_clear_prices() -> None:
    set_price("a-model", input_per_mtok=1, output_per_mtok=1)
    calculate_cost("a-model", 1, 1)
    clear_prices()
    with pytest.raises(UnknownModelError):
        calculate_cost("a-model", 1, 1)


def test_setting_a_price_invalidates_a_cached_unknown_model() -> None:
    with pytest.raises(UnknownModelError):
        calculate_cost("late-model", 1, 1)
    set_price("late-model", input_per_mtok=1, output_per_mtok=1)
    assert calculate_cost("late-model", M, 0).total == D(1)


@pytest.mark.parametrize("value", [1, 1.5, "1.5", D("1.5"), 0, "0"], ids=repr)
def test_prices_accept_numbers_and_strings(value: object) -> None:
    set_price("m", input_per_mtok=value, output_per_mtok=0)  # type: ignore[arg-type]
    assert calculate_cost("m", M, 0).total == D(str(value))


@pytest.mark.parametrize("field", ["input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok"])
@pytest.mark.parametrize("value", [-1, math.nan, math.inf, True, "abc", "-0.5", "NaN", D("Infinity"), [1]], ids=repr)
def test_bad_prices_are_rejected(field: str, value: object) -> None:
    prices: dict[str, object] = {"input_per_mtok": 1, "output_per_mtok": 1, field: value}
    message = f"{field}={value!r} is not a valid price; expected a finite non-negative number of USD per million tokens"
    with pytest.raises(ValidationError, match=re.escape(message)):
        set_price("m", **prices)  # type: ignore[arg-type]
    assert not is_priced("m")


def test_required_prices_cannot_be_none() -> None:
    with pytest.raises(ValidationError, match=re.escape("input_per_mtok=None is not a valid price")):
        set_price("m", input_per_mtok=None, output_per_mtok=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("window", [0, -5, 1.5, True, "big"], ids=repr)
def test_bad_context_window_is_rejected(window: object) -> None:
    message = f"context_window={window!r} is not a valid context window; expected a positive integer"
    with pytest.raises(ValidationError, match=re.escape(message)):
        set_price("m", input_per_mtok=1, output_per_mtok=1, context_window=window)  # type: ignore[arg-type]


def test_bad_model_name_is_rejected() -> None:
    with pytest.raises(ValidationError, match=re.escape("model='' is not a model name")):
        set_price("", input_per_mtok=1, output_per_mtok=1)


def test_load_price_overrides_from_a_config_table() -> None:
    table = {
        "my-model": {"input_per_mtok": "0.25", "output_per_mtok": 1, "context_window": 8192},
        "gpt-4o": {"input_per_mtok": 2, "output_per_mtok": 8, "cache_read_per_mtok": 1, "provider": "openai"},
    }
    assert load_price_overrides(table) == ["my-model", "gpt-4o"]
    assert calculate_cost("my-model", 4 * M, 0).total == D(1)
    assert calculate_cost("gpt-4o", M, M, cache_read_tokens=M).total == D(9)
    assert model_info("my-model").context_window == 8192


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"m": {"input_per_mtok": 1}}, "[prices.'m'] is missing 'output_per_mtok'"),
        ({"m": {"input_per_mtok": 1, "output_per_mtok": 1, "input": 2}}, "[prices.'m'] has unknown key 'input'"),
        ({"m": 3}, "[prices.'m'] = 3 is not a table"),
        (
            {"m": {"input_per_mtok": -2, "output_per_mtok": 1}},
            "[prices.'m'] input_per_mtok=-2 is not a valid price",
        ),
        ([("m", {})], "prices=[('m', {})] is not a table"),
    ],
)
def test_load_price_overrides_rejects_bad_tables_and_sets_nothing(table: object, message: str) -> None:
    good = {"good-model": {"input_per_mtok": 1, "output_per_mtok": 1}}
    bad = {**good, **table} if isinstance(table, dict) else table
    with pytest.raises(ValidationError, match=re.escape(message)):
        load_price_overrides(bad)  # type: ignore[arg-type]
    assert not is_priced("good-model")


def test_list_models_shows_overrides_in_place_of_the_rows_they_replace() -> None:
    set_price("gpt-4o", provider="openai", input_per_mtok=1, output_per_mtok=1)
    set_price("acme-large", input_per_mtok=1, output_per_mtok=1)
    rows = [info for info in list_models(provider="openai") if info.id == "gpt-4o"]
    assert [(info.price_source, info.input_per_mtok) for info in rows] == [("override", D(1))]
    assert [info.id for info in list_models(search="acme")] == ["acme-large"]
