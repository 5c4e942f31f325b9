"""A TokenCount is an int: the earlier token-calculator's README snippet runs, and every count-taking API takes one."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from decimal import Decimal

import pytest
import tiktoken

from test_tokens import reference
from tokentrail import Tracker, calculate_cost
from tokentrail.errors import ValidationError
from tokentrail.store import Filter
from tokentrail.tokens import TokenCount, count_tokens, estimate_tokens, truncate_to_tokens

FIXTURES = (reference,)  # tiktoken's own encodings, shared with test_tokens
TEXT = "Summarise the quarterly report in three bullet points, keeping every figure exact."


def test_token_calculators_readme_snippet_prices_the_count(reference: dict[str, tiktoken.Encoding]) -> None:
    tokens = count_tokens(TEXT, "gpt-4")
    cost = calculate_cost("gpt-4", tokens, 500)
    n = len(reference["cl100k_base"].encode_ordinary(TEXT))
    assert tokens == n and tokens.exact
    # gpt-4: $30 / MTok input, $60 / MTok output.
    assert cost.total == Decimal(n * 30 + 500 * 60) / 1_000_000 == calculate_cost("gpt-4", n, 500).total
    assert calculate_cost("gpt-4", tokens, tokens).total == calculate_cost("gpt-4", n, n).total


def test_a_count_is_an_int_in_arithmetic_formatting_and_json() -> None:
    tokens = count_tokens(TEXT, "gpt-4o")
    n = tokens.tokens
    assert isinstance(tokens, int) and type(n) is int
    assert (tokens + 1, tokens * 2, tokens - n, tokens // 2, -tokens) == (n + 1, 2 * n, 0, n // 2, -n)
    assert type(tokens + 1) is int and type(sum([tokens, tokens])) is int  # results are plain ints
    assert sum([tokens, estimate_tokens(TEXT)]) == n + estimate_tokens(TEXT).tokens
    assert (str(tokens), f"{tokens}", f"{tokens:,}", f"{tokens:>5}") == (str(n), str(n), f"{n:,}", f"{n:>5}")
    assert json.dumps({"tokens": tokens}) == json.dumps({"tokens": n})
    assert Decimal(tokens) == n and tokens == n and n == tokens and hash(tokens) == hash(n)
    assert tokens < n + 1 and max(tokens, 0) == n
    # Equal counts with different provenance are different counts; each still equals the plain number.
    other = TokenCount(n, False, "estimate:heuristic-v1", "gpt-4o")
    assert other != tokens and other == n and tokens == TokenCount(n, True, "tiktoken:o200k_base", "gpt-4o")


def test_a_count_survives_copy_and_pickle_with_its_provenance() -> None:
    tokens = count_tokens(TEXT, "claude-sonnet-4-5")
    for clone in (copy.copy(tokens), copy.deepcopy(tokens), pickle.loads(pickle.dumps(tokens))):
        assert type(clone) is TokenCount and clone == tokens and clone.to_dict() == tokens.to_dict()
    with pytest.raises(dataclasses.FrozenInstanceError):
        del tokens.model  # type: ignore[misc]


def test_truncate_takes_a_count_as_its_limit() -> None:
    limit = count_tokens("three words here", "gpt-4o")
    cut = truncate_to_tokens(TEXT, limit, "gpt-4o")
    assert count_tokens(cut, "gpt-4o") <= limit and TEXT.startswith(cut) and cut


def test_record_stores_a_count_as_its_number(store_url: str) -> None:
    prompt, answer = count_tokens(TEXT, "gpt-4o"), count_tokens("Three bullets.", "gpt-4o")
    cached = TokenCount(8, True, "tiktoken:o200k_base", "gpt-4o")
    tracker = Tracker(store_url, display=False)
    try:
        tracker.record("gpt-4o", prompt, answer, cache_read_tokens=cached, agent="a")
        assert tracker.flush()
        (call,) = tracker.store.calls(Filter())
        assert tracker.health.internal_errors == 0, tracker.health.last_error
    finally:
        tracker.close()
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens) == (prompt.tokens, answer.tokens, 8)
    assert {type(call.input_tokens), type(call.output_tokens), type(call.cache_read_tokens)} == {int}
    expected = calculate_cost("gpt-4o", prompt.tokens, answer.tokens, cache_read_tokens=8).total
    assert call.cost_usd == expected


def test_record_still_refuses_what_is_not_a_count() -> None:
    tracker = Tracker("memory://", display=False)
    try:
        for bad in (True, 1.5, "12", -TokenCount(3, True, "m", "x")):
            with pytest.raises(ValidationError, match="input_tokens="):
                tracker.record("gpt-4o", bad, 1)  # type: ignore[arg-type]
    finally:
        tracker.close()


def test_estimate_tokens_without_a_model_is_labelled_an_estimate() -> None:
    bare = estimate_tokens(TEXT)
    assert (bare.exact, bare.method, bare.model) == (False, "estimate:heuristic-v1", None)
    assert bare == count_tokens(TEXT, "some-unknown-model").tokens  # the same heuristic count_tokens falls back to
    named = estimate_tokens(TEXT, "gpt-4o")  # an estimate even where an exact count exists: it says so
    assert (named.tokens, named.exact, named.model) == (bare.tokens, False, "gpt-4o")
    assert estimate_tokens("") == 0
    assert calculate_cost("gpt-4o", bare, 0).total == calculate_cost("gpt-4o", bare.tokens, 0).total


@pytest.mark.parametrize(
    ("args", "message"),
    [((b"bytes",), "text must be a str, got b'bytes'"), (("x", ""), "model must be None or a model ID"),
     (("x", 4), "got 4")],
)  # fmt: skip
def test_estimate_tokens_names_bad_input(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        estimate_tokens(*args)  # type: ignore[arg-type]


def test_estimate_tokens_is_at_the_top_level_like_count_tokens() -> None:
    import tokentrail

    assert tokentrail.estimate_tokens is estimate_tokens and "estimate_tokens" in tokentrail.__all__
