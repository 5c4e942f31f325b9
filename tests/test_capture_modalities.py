"""The real google-genai and openai SDKs against the loopback provider: audio, image and video tokens are
recorded end to end, and each call costs exactly what genai-prices makes of the same response body."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from genai_prices import extract_usage
from google import genai
from google.genai import types
from openai import OpenAI

from providers.helpers import _no_patches_left, _server, calls, one_call, server, tracker
from providers.server import FakeProvider, Reply, fixture_json, sse_event
from tokentrail import Tracker
from tokentrail.capture import instrument

__all__ = ["_no_patches_left", "_server", "server", "tracker"]  # pytest fixtures, imported

NOW = datetime.now(timezone.utc)


def genai_prices_cost(body: Any, *, provider: str, flavor: str = "default") -> Any:
    extracted = extract_usage(body, provider_id=provider, api_flavor=flavor)
    return extracted.calc_price(genai_request_timestamp=NOW).total_price


@pytest.fixture
def gemini(server: FakeProvider, tracker: Tracker) -> Any:
    c = genai.Client(api_key="goog-secret", http_options=types.HttpOptions(base_url=server.url))
    try:
        yield instrument(c, tracker=tracker)
    finally:
        getattr(c, "close", lambda: None)()


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("gemini_audio_video_cached.json", {"input_audio_tokens": 1600, "input_video_tokens": 7640,
                                            "cache_read_audio_tokens": 700, "cache_read_video_tokens": 3386}),
        ("gemini_2_0_audio.json", {"input_audio_tokens": 1936}),
        ("gemini_image_output.json", {"output_image_tokens": 1290}),
        ("gemini_3_pro_image.json", {"input_image_tokens": 1088, "output_image_tokens": 1120}),
    ],
)  # fmt: skip
def test_gemini_media_calls_are_recorded_with_their_modalities(
    gemini: genai.Client, server: FakeProvider, tracker: Tracker, name: str, counts: dict[str, int]
) -> None:
    body = fixture_json(name)
    model = body["modelVersion"]
    server.queue(Reply.json(body))
    image = types.Part.from_bytes(data=b"\x89PNG\r\n\x1a\n", mime_type="image/png")
    gemini.models.generate_content(
        model=model,
        contents=[image, "Describe this, or draw what it asks for."],
        config=types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"] if "image" in model else None),
    )
    call = one_call(tracker)
    meta = body["usageMetadata"]
    assert (call.model, call.input_tokens) == (model, meta["promptTokenCount"])
    assert call.output_tokens == meta["candidatesTokenCount"] + meta.get("thoughtsTokenCount", 0)
    assert {k: getattr(call, k) for k in counts} == counts
    assert call.cost_usd == genai_prices_cost(body, provider="google")
    assert call.input_cost_usd + call.cache_read_cost_usd + call.output_cost_usd == call.cost_usd


def test_gemini_stream_records_the_modalities_of_its_last_usage(
    gemini: genai.Client, server: FakeProvider, tracker: Tracker
) -> None:
    body = fixture_json("gemini_image_output.json")
    first = {**body, "usageMetadata": {"promptTokenCount": 14, "totalTokenCount": 14}}
    first["candidates"] = [{"content": {"parts": [{"text": "Here is"}], "role": "model"}, "index": 0}]
    server.queue(Reply.sse([sse_event(first, sep="\r\n"), sse_event(body, sep="\r\n")]))
    for _ in gemini.models.generate_content_stream(model="gemini-2.5-flash-image", contents="Draw a fox."):
        pass
    call = one_call(tracker)
    assert (call.streamed, call.output_tokens, call.output_image_tokens) == (True, 1300, 1290)
    assert call.cost_usd == genai_prices_cost(body, provider="google")


def test_openai_audio_chat_is_recorded_with_audio_in_and_out(server: FakeProvider, tracker: Tracker) -> None:
    body = fixture_json("openai_chat_audio.json")
    server.queue(Reply.json(body))
    with OpenAI(api_key="sk-test-secret", base_url=server.url + "/v1", max_retries=0) as client:
        instrument(client, tracker=tracker, provider="openai")
        response = client.chat.completions.create(
            model="gpt-audio",
            modalities=["text", "audio"],
            audio={"voice": "marin", "format": "wav"},
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"}}],
                }
            ],
        )
    assert response.usage is not None and response.usage.completion_tokens_details is not None
    (call,) = calls(tracker)
    assert (call.model, call.response_model) == ("gpt-audio", "gpt-audio-2025-08-28")
    assert (call.input_tokens, call.input_audio_tokens, call.output_tokens, call.output_audio_tokens) == (
        1089, 1037, 712, 568,
    )  # fmt: skip
    assert call.cost_usd == genai_prices_cost(body, provider="openai", flavor="chat")
    text_priced = (1089 * 2.5 + 712 * 10) / 1e6
    assert float(call.cost_usd) > 3 * text_priced  # audio is 13x text input and 6.4x text output here
