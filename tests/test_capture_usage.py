"""Usage normalizers: literal provider payloads in, tokentrail's token semantics out."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from providers.server import fixture_json
from tokentrail.capture.usage import (
    Usage,
    from_anthropic,
    from_gemini,
    from_langchain,
    from_litellm,
    from_openai_chat,
    from_openai_responses,
)
from tokentrail.model import MODALITY_FIELDS, check_token_consistency
from tokentrail.pricing import calculate_cost


def _consistent(u: Usage) -> Usage:
    check_token_consistency(
        u.input_tokens,
        u.output_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens,
        u.cache_write_1h_tokens,
        u.reasoning_tokens,
        **{name: getattr(u, name) for name in MODALITY_FIELDS},
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
    assert _consistent(from_langchain(payload)) == Usage(
        350, 240, 100, 200, 0, 200, input_audio_tokens=10, output_audio_tokens=10
    )


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


# --- audio, image and video tokens: real response bodies, priced exactly as genai-prices prices them ---------


AT = datetime(2026, 6, 1, tzinfo=timezone.utc)
_GENAI_NAMES = {f"cache_read_{m}_tokens": f"cache_{m}_read_tokens" for m in ("audio", "image", "video")}


def _pricing_args(u: Usage) -> dict[str, int]:
    fields = u.as_fields()
    del fields["reasoning_tokens"]
    return fields


def genai_price(model: str, u: Usage) -> Decimal:
    """genai-prices' price of the same usage, every count passed explicitly."""
    from genai_prices import Usage as GenaiUsage
    from genai_prices import calc_price

    usage = GenaiUsage(**{_GENAI_NAMES.get(k, k): v for k, v in _pricing_args(u).items()})
    return calc_price(usage, model, genai_request_timestamp=AT).total_price


def _priced_like_genai_prices(u: Usage, body: Any, *, provider: str, flavor: str = "default") -> Decimal:
    """Our cost of `u` must equal genai-prices' price of the same body, extracted by genai-prices itself."""
    from genai_prices import extract_usage

    extracted = extract_usage(body, provider_id=provider, api_flavor=flavor)
    expected = extracted.calc_price(genai_request_timestamp=AT).total_price
    ours = calculate_cost(extracted.model.id, **_pricing_args(u), provider=provider, at=AT).total
    assert ours == expected, (extracted.usage, u)
    return ours


def test_gemini_2_5_audio_and_video_input_with_cached_media() -> None:
    body = fixture_json("gemini_audio_video_cached.json")
    u = _consistent(from_gemini(body["usageMetadata"]))
    assert u == Usage(
        9262, 187 + 640, 4086, 0, 0, 640,
        input_audio_tokens=1600, input_video_tokens=7640, cache_read_audio_tokens=700, cache_read_video_tokens=3386,
    )  # fmt: skip
    # gemini-2.5-flash: text/video $0.30 in, $0.03 cached; audio $1.00 in, $0.10 cached; $2.50 out (per million)
    expected = (
        (22 + 7640 - 3386) * Decimal("0.30") + 3386 * Decimal("0.03")
        + (1600 - 700) * Decimal("1.00") + 700 * Decimal("0.10") + 827 * Decimal("2.50")
    ) / 10**6  # fmt: skip
    assert _priced_like_genai_prices(u, body, provider="google") == expected


def test_gemini_2_0_audio_input_is_three_times_text() -> None:
    body = fixture_json("gemini_2_0_audio.json")
    u = _consistent(from_gemini(body["usageMetadata"]))
    assert u == Usage(1948, 11, input_audio_tokens=1936)
    # gemini-2.0-flash: text $0.10, audio $0.70 in; $0.40 out
    expected = (12 * Decimal("0.10") + 1936 * Decimal("0.70") + 11 * Decimal("0.40")) / 10**6
    assert _priced_like_genai_prices(u, body, provider="google") == expected


@pytest.mark.parametrize(
    ("name", "model", "image_out", "expected"),
    [
        # $0.30 in, $2.50 text out, $30 image out per million: 1290 tokens = $0.0387 an image
        ("gemini_image_output.json", "gemini-2.5-flash-image", 1290,
         (14 * Decimal("0.30") + 10 * Decimal("2.50") + 1290 * Decimal(30)) / 10**6),
        # $2 in (images too), $12 text and thinking out, $120 image out per million
        ("gemini_3_pro_image.json", "gemini-3-pro-image-preview", 1120,
         (1113 * Decimal(2) + (14 + 284) * Decimal(12) + 1120 * Decimal(120)) / 10**6),
    ],
)  # fmt: skip
def test_gemini_image_output_is_priced_at_the_image_rate(
    name: str, model: str, image_out: int, expected: Decimal
) -> None:
    body = fixture_json(name)
    u = _consistent(from_gemini(body["usageMetadata"]))
    assert (u.output_image_tokens, body["modelVersion"]) == (image_out, model)
    assert _priced_like_genai_prices(u, body, provider="google") == expected
    text_only = calculate_cost(model, u.input_tokens, u.output_tokens, at=AT).total
    assert expected > 5 * text_only  # what an image cost when every token was text


def test_gemini_sdk_object_with_modality_details() -> None:
    from google.genai import types

    body = fixture_json("gemini_audio_video_cached.json")
    meta = types.GenerateContentResponseUsageMetadata.model_validate(body["usageMetadata"])
    assert meta.prompt_tokens_details[1].modality == types.MediaModality.AUDIO  # an enum, not the text
    assert from_gemini(meta) == from_gemini(body["usageMetadata"])


def test_gemini_live_api_response_counts_and_document_as_image() -> None:
    live = {  # a Live API server message's usageMetadata: audio and video in, audio out
        "promptTokenCount": 3410,
        "responseTokenCount": 960,
        "totalTokenCount": 4370,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 50},
            {"modality": "AUDIO", "tokenCount": 1600},
            {"modality": "VIDEO", "tokenCount": 1760},
        ],
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 960}],
    }
    u = _consistent(from_gemini(live))
    assert u == Usage(3410, 960, input_audio_tokens=1600, input_video_tokens=1760, output_audio_tokens=960)
    cost = calculate_cost("gemini-live-2.5-flash", **_pricing_args(u), at=AT)
    assert cost.total == genai_price("gemini-live-2.5-flash", u)
    details = [{"modality": "TEXT", "tokenCount": 26}, {"modality": "DOCUMENT", "tokenCount": 774}]
    pdf = {"promptTokenCount": 800, "candidatesTokenCount": 5, "promptTokensDetails": details}
    assert from_gemini(pdf).input_image_tokens == 774  # as genai-prices counts a PDF's pages


def test_openai_chat_audio_in_and_out() -> None:
    body = fixture_json("openai_chat_audio.json")
    u = _consistent(from_openai_chat(body["usage"]))
    assert u == Usage(1089, 712, input_audio_tokens=1037, output_audio_tokens=568)
    # gpt-audio: text $2.50 in / $10 out, audio $32 in / $64 out (per million)
    expected = (52 * Decimal("2.5") + 1037 * Decimal(32) + 144 * Decimal(10) + 568 * Decimal(64)) / 10**6
    assert _priced_like_genai_prices(u, body, provider="openai", flavor="chat") == expected


def test_openai_realtime_response_done_with_cached_audio() -> None:
    body = fixture_json("openai_realtime_response_done.json")
    u = _consistent(from_openai_responses(body["response"]["usage"]))
    assert u == Usage(1850, 440, 1344, input_audio_tokens=1540, cache_read_audio_tokens=1088, output_audio_tokens=342)
    body["model"] = "gpt-realtime"  # response.done names no model; the session does
    _priced_like_genai_prices(u, body, provider="openai", flavor="realtime")


def test_openai_sdk_objects_with_audio_details() -> None:
    from openai.types import CompletionUsage
    from openai.types.realtime import RealtimeResponseUsage

    chat = fixture_json("openai_chat_audio.json")["usage"]
    assert from_openai_chat(CompletionUsage.model_validate(chat)) == from_openai_chat(chat)
    realtime = fixture_json("openai_realtime_response_done.json")["response"]["usage"]
    assert from_openai_responses(RealtimeResponseUsage.model_validate(realtime)) == from_openai_responses(realtime)


def test_a_cached_count_that_must_include_audio_is_read_as_cached_audio() -> None:
    # 900 audio + 300 cached in a 1,000-token prompt: at least 200 of the cached tokens are audio.
    u = _consistent(
        from_openai_chat(
            {"prompt_tokens": 1000, "completion_tokens": 5,
             "prompt_tokens_details": {"cached_tokens": 300, "audio_tokens": 900}}
        )
    )  # fmt: skip
    assert (u.input_tokens, u.cache_read_tokens, u.input_audio_tokens, u.cache_read_audio_tokens) == (
        1000,
        300,
        900,
        200,
    )
    assert calculate_cost("gpt-audio", **_pricing_args(u), at=AT).total == genai_price("gpt-audio", u)
