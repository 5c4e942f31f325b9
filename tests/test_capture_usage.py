"""Usage normalizers: literal provider payloads in, tokentrail's token semantics out."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tokentrail.capture.usage import (
    Usage,
    from_anthropic,
    from_gemini,
    from_langchain,
    from_litellm,
    from_openai_chat,
    from_openai_responses,
)
from tokentrail.model import check_token_consistency


def _consistent(u: Usage) -> Usage:
    check_token_consistency(
        u.input_tokens,
        u.output_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens,
        u.cache_write_1h_tokens,
        u.reasoning_tokens,
    )
    return u


def test_openai_chat_cached_and_reasoning_are_already_inside_the_totals() -> None:
    payload = {
        "prompt_tokens": 1450,
        "completion_tokens": 1530,
        "total_tokens": 2980,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 1280,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    assert from_openai_chat(payload) == Usage(1450, 1530, 1024, 0, 0, 1280)


def test_openai_chat_from_the_sdk_object() -> None:
    from openai.types import CompletionUsage

    usage = CompletionUsage.model_validate(
        {
            "prompt_tokens": 2006,
            "completion_tokens": 300,
            "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920},
        }
    )
    assert _consistent(from_openai_chat(usage)) == Usage(2006, 300, 1920, 0, 0, 0)


def test_openai_chat_without_details_and_with_nulls() -> None:
    assert from_openai_chat({"prompt_tokens": 8, "total_tokens": 8}) == Usage(8, 0)
    assert from_openai_chat(
        {
            "prompt_tokens": 10,
            "completion_tokens": None,
            "prompt_tokens_details": None,
            "completion_tokens_details": None,
        }
    ) == Usage(10, 0)
    assert from_openai_chat({}) == Usage()
    assert from_openai_chat(None) == Usage()


def test_openai_compatible_cache_fields() -> None:
    deepseek = {
        "prompt_tokens": 1000,
        "completion_tokens": 50,
        "prompt_cache_hit_tokens": 768,
        "prompt_cache_miss_tokens": 232,
    }
    assert from_openai_chat(deepseek).cache_read_tokens == 768
    gateway = {
        "prompt_tokens": 3000,
        "completion_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 1500},
    }
    assert _consistent(from_openai_chat(gateway)) == Usage(3000, 10, 1000, 1500)


def test_openai_responses() -> None:
    payload = {
        "input_tokens": 2500,
        "input_tokens_details": {"cached_tokens": 2048},
        "output_tokens": 900,
        "output_tokens_details": {"reasoning_tokens": 640},
        "total_tokens": 3400,
    }
    assert from_openai_responses(payload) == Usage(2500, 900, 2048, 0, 0, 640)


def test_anthropic_adds_cache_reads_and_writes_to_the_input() -> None:
    payload = {
        "input_tokens": 21,
        "cache_creation_input_tokens": 1800,
        "cache_read_input_tokens": 9000,
        "cache_creation": {"ephemeral_5m_input_tokens": 600, "ephemeral_1h_input_tokens": 1200},
        "output_tokens": 412,
        "service_tier": "standard",
    }
    assert _consistent(from_anthropic(payload)) == Usage(10_821, 412, 9000, 1800, 1200, 0)


def test_anthropic_without_cache_and_with_thinking_tokens() -> None:
    assert from_anthropic({"input_tokens": 472, "output_tokens": 89}) == Usage(472, 89)
    payload = {
        "input_tokens": 472,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 89,
        "output_tokens_details": {"thinking_tokens": 41},
    }
    assert from_anthropic(payload) == Usage(472, 89, 0, 0, 0, 41)
    nulls = {
        "input_tokens": 5,
        "output_tokens": 2,
        "cache_creation_input_tokens": None,
        "cache_read_input_tokens": None,
        "cache_creation": None,
    }
    assert from_anthropic(nulls) == Usage(5, 2)


def test_anthropic_split_without_the_total_still_counts_the_writes_once() -> None:
    u = from_anthropic(
        {
            "input_tokens": 10,
            "output_tokens": 1,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 50},
        }
    )
    assert _consistent(u) == Usage(160, 1, 0, 150, 50)


def test_anthropic_sdk_object() -> None:
    from anthropic.types import Usage as AnthropicUsage

    usage = AnthropicUsage.model_validate(
        {"input_tokens": 3, "output_tokens": 7, "cache_read_input_tokens": 2048, "cache_creation_input_tokens": 0}
    )
    assert from_anthropic(usage) == Usage(2051, 7, 2048)


def test_gemini_thinking_is_outside_the_candidates_count() -> None:
    payload = {
        "promptTokenCount": 1500,
        "candidatesTokenCount": 120,
        "totalTokenCount": 2000,
        "cachedContentTokenCount": 1024,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1500}],
        "thoughtsTokenCount": 380,
    }
    assert _consistent(from_gemini(payload)) == Usage(1500, 500, 1024, 0, 0, 380)


def test_gemini_snake_case_and_tool_use_prompt() -> None:
    payload = {
        "prompt_token_count": 40,
        "candidates_token_count": 12,
        "tool_use_prompt_token_count": 300,
        "total_token_count": 352,
    }
    u = from_gemini(payload)
    assert u == Usage(340, 12)
    assert u.total_tokens == payload["total_token_count"]


def test_gemini_sdk_object() -> None:
    from google.genai import types

    meta = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=72, candidates_token_count=15, thoughts_token_count=51, total_token_count=138
    )
    assert from_gemini(meta) == Usage(72, 66, 0, 0, 0, 51)


def test_langchain_usage_metadata() -> None:
    payload = {
        "input_tokens": 350,
        "output_tokens": 240,
        "total_tokens": 590,
        "input_token_details": {"audio": 10, "cache_creation": 200, "cache_read": 100},
        "output_token_details": {"audio": 10, "reasoning": 200},
    }
    assert from_langchain(payload) == Usage(350, 240, 100, 200, 0, 200)


def test_langchain_anthropic_ttl_split_zeroes_cache_creation() -> None:
    # langchain-anthropic moves the writes to the TTL keys and sets cache_creation to 0.
    payload = {
        "input_tokens": 260,
        "output_tokens": 30,
        "total_tokens": 290,
        "input_token_details": {
            "cache_read": 10,
            "cache_creation": 0,
            "ephemeral_5m_input_tokens": 80,
            "ephemeral_1h_input_tokens": 70,
        },
    }
    assert _consistent(from_langchain(payload)) == Usage(260, 30, 10, 150, 70)
    same_total = {
        "input_tokens": 260,
        "output_tokens": 30,
        "input_token_details": {
            "cache_creation": 150,
            "ephemeral_5m_input_tokens": 80,
            "ephemeral_1h_input_tokens": 70,
        },
    }
    assert from_langchain(same_total).cache_write_tokens == 150


def test_litellm_usage() -> None:
    anthropic_via_litellm = {
        "prompt_tokens": 10_821,
        "completion_tokens": 412,
        "total_tokens": 11_233,
        "prompt_tokens_details": {
            "cached_tokens": 9000,
            "cache_creation_tokens": 1800,
            "cache_creation_token_details": {"ephemeral_5m_input_tokens": 600, "ephemeral_1h_input_tokens": 1200},
        },
        "cache_creation_input_tokens": 1800,
        "cache_read_input_tokens": 9000,
    }
    assert from_litellm(anthropic_via_litellm) == Usage(10_821, 412, 9000, 1800, 1200)
    openai_via_litellm = {
        "prompt_tokens": 1450,
        "completion_tokens": 1530,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 1280},
    }
    assert from_litellm(openai_via_litellm) == Usage(1450, 1530, 1024, 0, 0, 1280)


@pytest.mark.parametrize(
    "normalize, payload",
    [
        (
            from_openai_chat,
            {"prompt_tokens": -5, "completion_tokens": "junk", "prompt_tokens_details": {"cached_tokens": 50}},
        ),
        (
            from_openai_responses,
            {"input_tokens": 10, "output_tokens": 1, "output_tokens_details": {"reasoning_tokens": 99}},
        ),
        (from_anthropic, {"input_tokens": -3, "output_tokens": -1, "cache_read_input_tokens": 4}),
        (from_gemini, {"promptTokenCount": 5, "cachedContentTokenCount": 50}),
        (
            from_langchain,
            {
                "input_tokens": 1,
                "output_tokens": 0,
                "input_token_details": {"cache_read": 9},
                "output_token_details": {"reasoning": 3},
            },
        ),
        (
            from_litellm,
            {"prompt_tokens": None, "completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 5}},
        ),
    ],
)
def test_bad_or_inconsistent_reports_never_go_negative_or_break_the_invariants(normalize, payload) -> None:
    u = _consistent(normalize(payload))
    assert min(u.as_fields().values()) >= 0


def test_as_fields_are_record_arguments() -> None:
    from tokentrail import Tracker

    t = Tracker("memory://")
    try:
        t.record(
            "gpt-4o",
            **from_anthropic({"input_tokens": 1, "cache_read_input_tokens": 5, "output_tokens": 2}).as_fields(),
        )
        assert t.flush()
        from tokentrail.store.base import Filter

        (call,) = t.store.calls(Filter())
        assert (call.input_tokens, call.cache_read_tokens, call.output_tokens) == (6, 5, 2)
    finally:
        t.close()


def test_objects_and_dicts_read_alike() -> None:
    obj = SimpleNamespace(
        prompt_tokens=7,
        completion_tokens=3,
        prompt_tokens_details=SimpleNamespace(cached_tokens=4),
        completion_tokens_details=None,
    )
    assert from_openai_chat(obj) == from_openai_chat(
        {"prompt_tokens": 7, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 4}}
    )
