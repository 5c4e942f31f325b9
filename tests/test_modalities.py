"""Audio, image and video tokens: counted apart inside their totals and priced exactly as genai-prices prices them."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price
from genai_prices.data_snapshot import get_snapshot

from tokentrail.errors import ValidationError
from tokentrail.model import MODALITY_FIELDS, Call, validate_call
from tokentrail.pricing import calculate_cost, clear_prices

MODALITY_PRICE_KEYS = {f"{kind}_{m}_mtok" for kind in ("input", "output") for m in ("audio", "image", "video")} | {
    f"cache_{m}_read_mtok" for m in ("audio", "image", "video")
}
# Our field name -> genai-prices' usage key.
GENAI_NAMES = {
    **{f"input_{m}_tokens": f"input_{m}_tokens" for m in ("audio", "image", "video")},
    **{f"cache_read_{m}_tokens": f"cache_{m}_read_tokens" for m in ("audio", "image", "video")},
    **{f"output_{m}_tokens": f"output_{m}_tokens" for m in ("audio", "image", "video")},
}
START = datetime(2024, 6, 1, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _no_overrides() -> None:
    clear_prices()


def genai_price(model: str, usage: dict[str, int], *, provider: str | None = None, at: datetime | None = None) -> Any:
    """genai-prices' price for our usage, every count passed explicitly (as its `Usage` requires)."""
    names = {name: GENAI_NAMES.get(name, name) for name in usage}
    return calc_price(
        GenaiUsage(**{names[k]: v for k, v in usage.items()}), model, provider_id=provider, genai_request_timestamp=at
    )


def _modality_priced_models() -> list[tuple[str, str]]:
    snap = get_snapshot()
    found: list[tuple[str, str]] = []
    for provider in snap.providers:
        for model in provider.models:
            variants = [c.prices for c in model.prices] if isinstance(model.prices, list) else [model.prices]
            keys = {k for v in variants for k, x in vars(v).items() if x is not None}
            if keys & MODALITY_PRICE_KEYS:
                try:
                    if snap.find_provider_model(model.id, None, provider.id, None)[1] is not model:
                        continue
                except LookupError:
                    continue
                found.append((model.id, provider.id))
    return found


def random_usage(rng: random.Random) -> dict[str, int]:
    """A usage that follows tokentrail's rules: modalities inside their totals, cached ones inside both."""
    scale = rng.choice((10, 2_000, 50_000, 199_999, 200_001, 1_500_000))
    uncached_m = [rng.randint(0, scale) if rng.random() < 0.5 else 0 for _ in range(3)]
    cached_m = [rng.randint(0, scale // 2) if rng.random() < 0.4 else 0 for _ in range(3)]
    text = rng.randint(0, scale)
    cached_text = rng.randint(0, text)
    write = rng.randint(0, text - cached_text) if rng.random() < 0.2 else 0
    output_m = [rng.randint(0, 5_000) if rng.random() < 0.5 else 0 for _ in range(3)]
    output_text = rng.randint(0, 3_000)
    usage = {
        "input_tokens": text + sum(uncached_m) + sum(cached_m),
        "output_tokens": output_text + sum(output_m),
        "cache_read_tokens": cached_text + sum(cached_m),
        "cache_write_tokens": write,
    }
    for i, m in enumerate(("audio", "image", "video")):
        usage[f"input_{m}_tokens"] = uncached_m[i] + cached_m[i]
        usage[f"cache_read_{m}_tokens"] = cached_m[i]
        usage[f"output_{m}_tokens"] = output_m[i]
    return usage


def test_every_model_genai_prices_prices_by_modality_costs_the_same_on_random_usage() -> None:
    rng = random.Random(20261206)
    models = _modality_priced_models()
    assert len(models) >= 30, models  # Gemini audio/image/video, OpenAI audio, realtime and image models, Nova Sonic
    seen: Counter[str] = Counter()
    for case in range(1_500):
        model_id, provider_id = models[case % len(models)]
        usage = random_usage(rng)
        at = START + timedelta(seconds=rng.randint(0, 3 * 365 * 86_400))
        expected = genai_price(model_id, usage, provider=provider_id, at=at)
        cost = calculate_cost(model_id, **usage, provider=provider_id, at=at)
        context = f"case {case}: {model_id!r} ({provider_id}) {usage} at {at}"
        assert cost.total == expected.total_price, context
        assert cost.input + cost.cache_read + cost.cache_write + cost.output + cost.request == cost.total, context
        assert cost.input + cost.cache_read + cost.cache_write == expected.input_price, context
        assert cost.output == expected.output_price, context
        seen[provider_id] += 1
        for name in MODALITY_FIELDS:
            seen[name] += bool(usage[name])
    assert min(seen[name] for name in MODALITY_FIELDS) >= 300, seen


def test_models_without_modality_prices_charge_every_modality_as_text() -> None:
    rng = random.Random(7)
    for model_id in ("gpt-4o", "claude-sonnet-4-5", "gemini-1.5-pro", "deepseek-chat", "gpt-4o-mini"):
        for _ in range(50):
            usage = random_usage(rng)
            expected = genai_price(model_id, usage, at=START)
            text_only = {k: usage[k] for k in ("input_tokens", "output_tokens", "cache_read_tokens")}
            plain = calculate_cost(model_id, **text_only, cache_write_tokens=usage["cache_write_tokens"], at=START)
            cost = calculate_cost(model_id, **usage, at=START)
            assert cost.total == expected.total_price == plain.total, (model_id, usage)


def test_gemini_image_output_costs_thirty_times_text_output() -> None:
    # The example: one 1024x1024 image (1290 tokens) and a short prompt on gemini-2.5-flash-image.
    cost = calculate_cost("gemini-2.5-flash-image", 12, 1290, output_image_tokens=1290)
    assert cost.output == Decimal("0.0387")  # 1290 x $30 per million
    assert (
        cost.total
        == Decimal("0.03870360")
        == genai_price(
            "gemini-2.5-flash-image", {"input_tokens": 12, "output_tokens": 1290, "output_image_tokens": 1290}
        ).total_price
    )
    text = calculate_cost("gemini-2.5-flash-image", 12, 1290)
    assert text.output == Decimal("0.003225")  # what tokentrail said before: 12x under


def test_openai_realtime_cached_audio_is_priced_at_the_cached_audio_rate() -> None:
    usage = {
        "input_tokens": 6_000,
        "cache_read_tokens": 4_000,
        "input_audio_tokens": 5_000,
        "cache_read_audio_tokens": 3_500,
        "output_tokens": 1_000,
        "output_audio_tokens": 800,
    }
    cost = calculate_cost("gpt-realtime", **usage)
    # gpt-realtime: text $4 in / $0.4 cached / $16 out; audio $32 in / $0.4 cached / $64 out (per million).
    assert cost.input == Decimal(500) * 4 / 10**6 + Decimal(1_500) * 32 / 10**6
    assert cost.cache_read == Decimal(500) * Decimal("0.4") / 10**6 + Decimal(3_500) * Decimal("0.4") / 10**6
    assert cost.output == Decimal(200) * 16 / 10**6 + Decimal(800) * 64 / 10**6
    assert cost.total == genai_price("gpt-realtime", usage).total_price


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"input_audio_tokens": 11}, r"uncached audio, image and video input tokens \(11\) are more than"),
        (
            {"cache_read_audio_tokens": 3, "input_audio_tokens": 2},
            r"cache_read_audio_tokens=3 is more than "
            r"input_audio_tokens=2",
        ),
        ({"cache_read_image_tokens": 5, "input_image_tokens": 5}, r"= 5 is more than cache_read_tokens=4"),
        ({"output_image_tokens": 4, "output_audio_tokens": 2}, r"= 6 is more than output_tokens=5"),
        ({"input_video_tokens": 7}, r"uncached .* \(7\) are more than .* = 4"),  # cache writes are text
        ({"output_video_tokens": -1}, r"output_video_tokens=-1 is not a valid token count"),
        ({"input_audio_tokens": 2.5}, r"input_audio_tokens=2.5 is not a valid token count"),
    ],
)
def test_counts_that_do_not_fit_their_totals_are_refused_naming_the_field(counts: dict[str, Any], message: str) -> None:
    usage: dict[str, Any] = {"cache_read_tokens": 4, "cache_write_tokens": 2, **counts}
    with pytest.raises(ValidationError, match=message):
        calculate_cost("gpt-realtime", 10, 5, **usage)
    if all(type(v) is int and v >= 0 for v in counts.values()):
        call = Call(id="x", started_at=START, model="gpt-realtime", input_tokens=10, output_tokens=5, **usage)
        with pytest.raises(ValidationError, match=message):
            validate_call(call)


def test_a_call_round_trips_its_modality_counts_through_to_dict() -> None:
    call = Call(id="x", started_at=START, model="gemini-2.5-flash", input_tokens=900, output_tokens=50,
                cache_read_tokens=300, input_audio_tokens=600, cache_read_audio_tokens=200, input_video_tokens=100,
                output_image_tokens=20)  # fmt: skip
    data = call.to_dict()
    assert {k: data[k] for k in MODALITY_FIELDS if data[k]} == {
        "input_audio_tokens": 600, "cache_read_audio_tokens": 200, "input_video_tokens": 100, "output_image_tokens": 20,
    }  # fmt: skip
    assert Call.from_dict(data) == call


def modal_calls(n: int, seed: int) -> list[Call]:
    """Calls with every mix of modality counts, priced as the tracker prices them."""
    rng = random.Random(seed)
    models = ("gemini-2.5-flash", "gemini-2.5-flash-image", "gpt-realtime", "gpt-audio", "gpt-4o")
    out = []
    for i in range(n):
        usage = random_usage(rng)
        model = models[i % len(models)]
        at = START + timedelta(hours=i, microseconds=rng.randint(0, 999_999))
        cost = calculate_cost(model, **usage, at=at)
        out.append(
            Call(id=f"m-{seed}-{i:05d}", started_at=at, model=model, provider="x", **usage,
                 reasoning_tokens=min(usage["output_tokens"], 7), cost_usd=cost.total, input_cost_usd=cost.input,
                 output_cost_usd=cost.output, cache_read_cost_usd=cost.cache_read,
                 cache_write_cost_usd=cost.cache_write, price_source=cost.price_source)
        )  # fmt: skip
    return out


def test_every_store_keeps_the_modality_counts(store_url: str) -> None:
    from tokentrail.store import open_store
    from tokentrail.store.base import Filter

    calls = modal_calls(60, seed=1)
    assert all(validate_call(c) for c in calls)
    store = open_store(store_url)
    try:
        assert store.write(calls) == len(calls)
        stored = sorted(store.calls(Filter()), key=lambda c: c.id)
        assert stored == calls
        assert sum(c.output_image_tokens for c in stored) == sum(c.output_image_tokens for c in calls) > 0
    finally:
        store.close()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_exports_carry_every_modality_count(fmt: str) -> None:
    import csv
    import io
    import json

    from tokentrail.analysis.export import write_calls

    calls = modal_calls(30, seed=2)
    out: Any = io.BytesIO() if fmt == "parquet" else io.StringIO()
    assert write_calls(calls, fmt, out) == len(calls)
    if fmt == "csv":
        rows = [{k: int(r[k]) for k in MODALITY_FIELDS} for r in csv.DictReader(io.StringIO(out.getvalue()))]
    elif fmt == "jsonl":
        rows = [{k: json.loads(line)[k] for k in MODALITY_FIELDS} for line in out.getvalue().splitlines()]
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(out.getvalue()))
        assert all(str(table.schema.field(k).type) == "int64" for k in MODALITY_FIELDS)
        rows = [{k: r[k] for k in MODALITY_FIELDS} for r in table.to_pylist()]
    assert rows == [{k: getattr(c, k) for k in MODALITY_FIELDS} for c in calls]
    assert any(row["output_image_tokens"] for row in rows) and any(row["cache_read_audio_tokens"] for row in rows)


@pytest.mark.postgres
def test_copy_from_sqlite_to_postgres_keeps_the_modality_counts(tmp_path: Any, pg_url: str) -> None:
    from tokentrail.analysis.copy import copy_calls
    from tokentrail.store import open_store
    from tokentrail.store.base import Filter

    calls = modal_calls(80, seed=3)
    source = open_store(f"sqlite:///{tmp_path / 'laptop.db'}")
    source.write(calls)
    result = copy_calls(source, pg_url, since=START - timedelta(days=1), until=START + timedelta(days=30),
                        batch_size=25)  # fmt: skip
    source.close()
    assert (result.read, result.written) == (len(calls), len(calls))
    dest = open_store(pg_url)
    try:
        assert sorted(dest.calls(Filter()), key=lambda c: c.id) == calls
    finally:
        dest.close()


def test_recorded_calls_are_priced_with_their_modality_counts() -> None:
    from tokentrail import Tracker
    from tokentrail.store.base import Filter

    usage = {"input_tokens": 9_262, "cache_read_tokens": 4_086, "input_audio_tokens": 1_600,
             "cache_read_audio_tokens": 700, "input_video_tokens": 7_640, "cache_read_video_tokens": 3_386}  # fmt: skip
    tracker = Tracker("memory://")
    try:
        tracker.record("gemini-2.5-flash", output_tokens=827, reasoning_tokens=640, started_at=START, **usage)
        with pytest.raises(ValidationError, match=r"cache_read_audio_tokens=1601 is more than input_audio_tokens"):
            tracker.record("gemini-2.5-flash", **{**usage, "cache_read_audio_tokens": 1_601})
        assert tracker.flush()
        (call,) = tracker.store.calls(Filter())
    finally:
        tracker.close()
    expected = genai_price("gemini-2.5-flash", {**usage, "output_tokens": 827}, at=START)
    assert (call.cost_usd, call.input_audio_tokens, call.cache_read_video_tokens) == (
        expected.total_price,
        1_600,
        3_386,
    )
    text_only = calculate_cost("gemini-2.5-flash", 9_262, 827, cache_read_tokens=4_086, at=START).total
    assert call.cost_usd > text_only  # audio costs more than text on this model
    assert call.input_cost_usd + call.cache_read_cost_usd == expected.input_price


def test_jsonl_lines_name_modality_counts_only_when_there_are_some(tmp_path: Any) -> None:
    from tokentrail.store import open_store
    from tokentrail.store.base import Filter

    text = Call(id="t-1", started_at=START, model="gpt-4o", input_tokens=10, output_tokens=2)
    modal = modal_calls(20, seed=4)
    store = open_store(f"jsonl://{tmp_path / 'store'}")
    try:
        store.write([text, *modal])
        lines = [
            line for path in sorted((tmp_path / "store").rglob("*.jsonl")) for line in path.read_text().splitlines()
        ]
        by_id = {line.split('"id":"')[1].split('"')[0]: line for line in lines}
        assert not any(name in by_id["t-1"] for name in MODALITY_FIELDS)  # as lines were before these counts
        for call in modal:
            assert all((f'"{name}":' in by_id[call.id]) == bool(getattr(call, name)) for name in MODALITY_FIELDS)
        assert sorted(store.calls(Filter()), key=lambda c: c.id) == sorted([text, *modal], key=lambda c: c.id)
    finally:
        store.close()


def test_user_prices_can_price_each_modality_like_genai_prices_does() -> None:
    from tokentrail.pricing import load_price_overrides, set_price

    rng = random.Random(5)
    usages = [random_usage(rng) for _ in range(200)]
    bundled = [calculate_cost("gpt-realtime", **u, at=START) for u in usages]
    # gpt-realtime's published prices, set by hand: the same model priced by an override costs the same.
    set_price("gpt-realtime", input_per_mtok=4, output_per_mtok=16, cache_read_per_mtok="0.4",
              input_audio_per_mtok=32, cache_read_audio_per_mtok="0.4", output_audio_per_mtok=64,
              input_image_per_mtok=5, cache_read_image_per_mtok="0.5")  # fmt: skip
    overridden = [calculate_cost("gpt-realtime", **u, at=START) for u in usages]
    assert [c.price_source for c in overridden] == ["override"] * len(usages)
    assert [c.total for c in overridden] == [c.total for c in bundled]
    load_price_overrides({"my-painter": {"input_per_mtok": 1, "output_per_mtok": 2, "output_image_per_mtok": "30"}})
    cost = calculate_cost("my-painter", 100, 1_300, output_image_tokens=1_290)
    assert cost.output == (10 * Decimal(2) + 1_290 * Decimal(30)) / 10**6
    with pytest.raises(ValidationError, match=r"output_image_per_mtok='lots' is not a valid price"):
        set_price("my-painter", input_per_mtok=1, output_per_mtok=2, output_image_per_mtok="lots")
    with pytest.raises(ValidationError, match=r"unknown price 'output_picture_per_mtok'"):
        set_price("my-painter", input_per_mtok=1, output_per_mtok=2, output_picture_per_mtok=3)
    with pytest.raises(ValidationError, match=r"\[prices.'p'\] has unknown key 'image_per_mtok'"):
        load_price_overrides({"p": {"input_per_mtok": 1, "output_per_mtok": 2, "image_per_mtok": 3}})


def test_text_is_what_each_total_leaves_of_the_other_modalities() -> None:
    body_counts = {"input_audio_tokens": 1600, "input_video_tokens": 7640, "cache_read_audio_tokens": 700,
                   "cache_read_video_tokens": 3386}  # fmt: skip
    call = Call(id="x", started_at=START, model="gemini-2.5-flash", input_tokens=9262, output_tokens=827,
                cache_read_tokens=4086, reasoning_tokens=640, **body_counts)  # fmt: skip
    assert (call.input_text_tokens, call.output_text_tokens) == (22, 827)
    assert "input_text_tokens" not in call.to_dict()  # derived, like total_tokens
