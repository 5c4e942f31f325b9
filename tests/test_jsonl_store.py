"""The JSONL store on real folders: layout, text files, dedupe across instances and processes, damaged
lines, retention and size cap, summaries, metadata locking and bad paths."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokentrail.errors import ConfigError, StoreError, ValidationError
from tokentrail.model import MODALITY_FIELDS, Call, new_call_id
from tokentrail.store import open_store
from tokentrail.store.base import Filter
from tokentrail.store.jsonl import JsonlStore, encode_calls

UTC = timezone.utc
DAY1 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DAY2 = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
EVERYTHING = Filter()


def make_call(at: datetime = DAY1, **fields: object) -> Call:
    values: dict[str, object] = {"id": new_call_id(), "started_at": at, "model": "gpt-4o", "input_tokens": 100}
    values.update(fields)
    return Call(**values)  # type: ignore[arg-type]


def rich_calls() -> list[Call]:
    """Calls that exercise every kind of value the encoder meets."""
    return [
        make_call(),
        make_call(
            DAY1 + timedelta(microseconds=123457),
            provider="openai",
            response_model="gpt-4o-2024-08-06",
            operation="responses",
            duration_ms=1234.5678,
            ttft_ms=12,
            finish_reason="stop",
            streamed=True,
            response_id="resp_1",
            input_tokens=1_000,
            output_tokens=500,
            cache_read_tokens=400,
            cache_write_tokens=100,
            cache_write_1h_tokens=50,
            reasoning_tokens=200,
            tokens_estimated=True,
            cost_usd=Decimal("0.012345678901234567890123"),
            input_cost_usd=Decimal("0.01"),
            output_cost_usd=Decimal("0.002345678901234567890123"),
            cache_read_cost_usd=Decimal("0E-9"),
            cache_write_cost_usd=Decimal("1E-7"),
            price_source="genai-prices 0.0.40",
            agent="router",
            user="u-1",
            session="s-1",
            project="demo",
            environment="prod",
            git_branch="main",
            trace_id="t" * 32,
            span_id="s" * 16,
            parent_span_id="p" * 16,
            labels={"team": "a", "tier": "gold", "region": "eu-west-1"},
            retries=2,
            prompt_hash="a" * 64,
            response_hash="b" * 64,
        ),
        make_call(
            DAY1.astimezone(timezone(timedelta(hours=5, minutes=30))) + timedelta(seconds=1),
            model='we"ird\\model\n\t\x00 ✓ 😀 \ud800',
            user="ü]\x00[ß",
            labels={'k"ey': "v\\al", "ü": "😀", "]\x00[": "x"},
            success=False,
            error_type="RateLimitError",
            error_message='429 %s %d {} [] ,"response_id": null',
        ),
        make_call(DAY1 + timedelta(seconds=2), labels={f"k{i}": str(i) for i in range(40)}, response_id='r"2'),
    ]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "telemetry"


@pytest.fixture
def store(folder: Path) -> Iterator[JsonlStore]:
    with JsonlStore(folder) as s:
        yield s


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def expected_line(call: Call) -> dict[str, object]:
    data = call.to_dict()
    del data["prompt"], data["response"]
    for name in MODALITY_FIELDS:  # written only when not 0
        if data[name] == 0:
            del data[name]
    return data


# --- layout and encoding --------------------------------------------------------------------------


def test_daily_folders_by_utc_date_hold_one_to_dict_per_line(store: JsonlStore, folder: Path) -> None:
    late_local = datetime(2024, 5, 2, 1, 30, tzinfo=timezone(timedelta(hours=3)))  # 2024-05-01 22:30 UTC
    calls = [make_call(DAY1), make_call(late_local), make_call(DAY2)]

    assert store.write(calls) == 3

    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "2024-05-01",
        "2024-05-02",
        "summary.json",
    ]
    assert [p.name for p in (folder / "2024-05-01").iterdir()] == ["telemetry.jsonl"]
    assert read_lines(folder / "2024-05-01" / "telemetry.jsonl") == [expected_line(calls[0]), expected_line(calls[1])]
    assert read_lines(folder / "2024-05-02" / "telemetry.jsonl") == [expected_line(calls[2])]
    assert (folder / "2024-05-02" / "telemetry.jsonl").read_bytes().endswith(b"}\n")


def test_encoded_lines_are_to_dict_without_the_texts() -> None:
    calls = rich_calls()
    text = encode_calls(calls)
    assert text.isascii()
    assert [json.loads(line) for line in text.splitlines()] == [expected_line(c) for c in calls]
    assert text == "".join(encode_calls([c]) for c in calls)  # no state leaks between calls
    assert text.startswith('{"id":"') and text.count("\n") == len(calls)


def test_values_of_unexpected_types_take_the_slow_path_and_stay_json() -> None:
    odd = make_call(cost_usd=0.25, duration_ms=7)  # type: ignore[arg-type]  # a float cost, an int duration
    text = encode_calls([make_call(), odd])
    assert json.loads(text.splitlines()[1])["cost_usd"] == 0.25
    assert json.loads(text.splitlines()[1])["duration_ms"] == 7
    with pytest.raises(ValidationError, match="cannot be stored"):
        encode_calls([make_call(agent=object())])  # type: ignore[arg-type]


# Every code point a str can hold as valid text: control characters, NUL, astral planes; not lone
# surrogates, which are not text and which record() refuses at the door (so they are not "valid values").
_text = st.text(st.characters(codec="utf-8", exclude_categories=()), max_size=12)
_opt = st.none() | _text


@settings(max_examples=150, deadline=None)
@given(
    strs=st.lists(_opt, min_size=9, max_size=9),
    labels=st.dictionaries(st.text(min_size=1, max_size=5), _text, max_size=4),
    floats=st.lists(st.none() | st.floats(0, 1e12, allow_nan=False) | st.integers(0, 10**6), min_size=2, max_size=2),
    cost=st.none() | st.decimals(0, 10**6, allow_nan=False, allow_infinity=False),
    micro=st.integers(0, 999_999),
    offset=st.sampled_from([UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=45))]),
    flags=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_encoding_round_trips_any_valid_values(
    strs: list[str | None],
    labels: dict[str, str],
    floats: list[float | int | None],
    cost: Decimal | None,
    micro: int,
    offset: timezone,
    flags: list[bool],
) -> None:
    names = (
        "provider",
        "agent",
        "user",
        "session",
        "response_id",
        "trace_id",
        "error_message",
        "prompt_hash",
        "price_source",
    )
    call = Call(
        id=strs[0] or "x",
        started_at=(DAY1 + timedelta(microseconds=micro)).astimezone(offset),
        model=strs[1] or "m",
        duration_ms=floats[0],
        ttft_ms=floats[1],
        cost_usd=cost,
        cache_read_cost_usd=cost,
        labels=labels,
        streamed=flags[0],
        success=flags[1],
        tokens_estimated=flags[2],
        **dict(zip(names, strs, strict=False)),
    )
    line, again, end = encode_calls([call, call]).split("\n")
    assert line == again and end == ""
    assert json.loads(line) == expected_line(call)
    assert Call.from_dict(json.loads(line)) == call


def test_prompts_and_responses_go_to_their_own_files_and_are_joined_on_read(store: JsonlStore, folder: Path) -> None:
    with_text = make_call(prompt="What is 2+2?", response="4")
    prompt_only = make_call(DAY1 + timedelta(seconds=1), prompt="Hi ✓")
    plain = make_call(DAY1 + timedelta(seconds=2))
    store.write([with_text, prompt_only, plain])

    day = folder / "2024-05-01"
    assert read_lines(day / "prompts.jsonl") == [
        {"id": with_text.id, "prompt": "What is 2+2?"},
        {"id": prompt_only.id, "prompt": "Hi ✓"},
    ]
    assert read_lines(day / "responses.jsonl") == [{"id": with_text.id, "response": "4"}]
    assert all("prompt" not in line and "response" not in line for line in read_lines(day / "telemetry.jsonl"))
    assert list(store.calls(EVERYTHING, newest_first=False)) == [with_text, prompt_only, plain]


def test_round_trip_is_exact(store: JsonlStore) -> None:
    calls = rich_calls()
    assert store.write(calls) == len(calls)
    assert list(store.calls(EVERYTHING, newest_first=False)) == sorted(calls, key=lambda c: (c.started_at, c.id))
    back = {c.id: c for c in store.calls(EVERYTHING)}
    assert str(back[calls[1].id].cost_usd) == "0.012345678901234567890123"


def test_calls_are_ordered_across_days_filtered_and_limited(store: JsonlStore) -> None:
    calls = [make_call(DAY1 + timedelta(hours=h), agent="a" if h % 2 else "b") for h in range(0, 48, 3)]
    store.write(list(reversed(calls)))

    assert list(store.calls(EVERYTHING, newest_first=False)) == calls
    assert list(store.calls(EVERYTHING, limit=3)) == calls[::-1][:3]
    assert list(store.calls(EVERYTHING, limit=0)) == []
    since, until = DAY1 + timedelta(hours=10), DAY2 + timedelta(hours=2)
    window = Filter(since=since, until=until, where={"agent": ("a",)})
    assert list(store.calls(window, newest_first=False)) == [
        c for c in calls if since <= c.started_at < until and c.agent == "a"
    ]


def test_aggregate_and_percentiles_match_the_calls(store: JsonlStore) -> None:
    calls = [
        make_call(DAY1, duration_ms=100.0, cost_usd=Decimal("0.5")),
        make_call(DAY1 + timedelta(hours=1), model="claude", duration_ms=300.0),
        make_call(DAY2, duration_ms=200.0, cost_usd=Decimal("0.25")),
    ]
    store.write(calls)

    groups = store.aggregate(EVERYTHING, by=["model"], bucket="day")
    assert [(g.key, g.bucket.date() if g.bucket else None, g.totals.calls) for g in groups] == [
        (("claude",), DAY1.date(), 1),
        (("gpt-4o",), DAY1.date(), 1),
        (("gpt-4o",), DAY2.date(), 1),
    ]
    (total,) = store.aggregate(Filter(since=DAY1 + timedelta(minutes=1)))
    assert (total.totals.calls, total.totals.cost_usd, total.totals.unpriced_calls) == (2, Decimal("0.25"), 1)
    (row,) = store.percentiles(EVERYTHING, quantiles=(0.5,))
    assert (row.count, row.values) == (3, (200.0,))


# --- dedupe ---------------------------------------------------------------------------------------


def test_dedupe_by_id_and_response_id_within_and_across_batches(store: JsonlStore) -> None:
    a = make_call(response_id="r-1")
    same_response = make_call(DAY1 + timedelta(seconds=1), response_id="r-1")
    b = make_call(DAY2)

    assert store.write([a, a, same_response, b]) == 2
    assert store.write([a, b, same_response]) == 0
    assert sorted(c.id for c in store.calls(EVERYTHING)) == sorted([a.id, b.id])


def test_dedupe_across_two_store_instances_on_the_same_folder(folder: Path) -> None:
    first, second = JsonlStore(folder), JsonlStore(folder)
    try:
        assert second.write([make_call(DAY2)]) == 1  # second has loaded its index before first writes
        shared = [make_call(response_id=f"r-{i}") for i in range(5)]
        assert first.write(shared) == 5

        assert second.write(shared) == 0
        assert second.write([make_call(DAY1 + timedelta(seconds=9), response_id="r-3")]) == 0
        assert first.write([*shared, make_call()]) == 1
        assert len(list(first.calls(EVERYTHING))) == 7
    finally:
        first.close()
        second.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, timedelta, timezone
    from tokentrail.model import Call
    from tokentrail.store.jsonl import JsonlStore

    folder, me, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    base = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    store = JsonlStore(folder)
    while not __import__("os").path.exists(go):
        time.sleep(0.001)
    added = 0
    for batch in range(20):
        calls = []
        for i in range(50):
            n = batch * 50 + i
            # Every process writes the shared calls; each also writes its own.
            owner = "shared" if n % 2 else f"p{me}"
            at = base + timedelta(seconds=n)
            calls.append(Call(id=f"{owner}-{n}", started_at=at, model="m", labels={"x": "y" * 300}))
        added += store.write(calls)
    store.close()
    print(added)
    """
)


@pytest.mark.slow
def test_concurrent_processes_neither_interleave_lines_nor_duplicate_same_day_calls(folder: Path) -> None:
    JsonlStore(folder).close()
    go = folder.parent / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), str(me), str(go)], stdout=subprocess.PIPE, text=True
        )
        for me in range(3)
    ]
    time.sleep(0.5)
    go.touch()
    added = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)

    lines = (folder / "2024-05-01" / "telemetry.jsonl").read_bytes().splitlines()
    ids = [json.loads(line)["id"] for line in lines]  # every line is whole JSON
    assert sum(added) == len(ids) == len(set(ids)) == 500 + 3 * 500
    with JsonlStore(folder) as store:
        assert store.summary()["totals"]["calls"] == 2_000


# --- damaged files --------------------------------------------------------------------------------


def test_corrupt_line_is_skipped_once_with_a_warning_naming_file_and_line(
    store: JsonlStore, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [make_call(DAY1 + timedelta(seconds=i)) for i in range(3)]
    store.write(calls)
    path = folder / "2024-05-01" / "telemetry.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + '{"id": "broken", "started_at": \n' + lines[1] + '{"id": "x"}\n' + lines[2])

    with caplog.at_level(logging.WARNING, logger="tokentrail"):
        assert list(store.calls(EVERYTHING, newest_first=False)) == calls
        assert list(store.calls(EVERYTHING, newest_first=False)) == calls

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert f"{path}:2" in warnings[0]
    assert f"{path}:4" in warnings[1]
    assert store.corrupt_lines == 2
    (group,) = store.aggregate(EVERYTHING)
    assert group.totals.calls == 3


def test_append_after_a_truncated_last_line_starts_a_fresh_line(
    store: JsonlStore, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = [make_call(DAY1 + timedelta(seconds=i)) for i in range(2)]
    store.write(first)
    path = folder / "2024-05-01" / "telemetry.jsonl"
    with open(path, "ab") as f:
        f.write(encode_calls([make_call()]).encode()[:57])  # a crash in the middle of a line

    with JsonlStore(folder) as other:  # a fresh process: the cut line is in its first index scan
        later = [make_call(DAY1 + timedelta(seconds=10 + i)) for i in range(2)]
        assert other.write(later) == 2  # (its recount of the day warns about the cut line once)
    before = len(caplog.records)
    with caplog.at_level(logging.WARNING, logger="tokentrail"):
        assert list(store.calls(EVERYTHING, newest_first=False)) == first + later

    assert path.read_bytes().endswith(b"}\n")
    (record,) = caplog.records[before:]
    assert f"skipped corrupt line {path}:3 " in record.getMessage()
    assert store.summary()["totals"]["calls"] == 4


def test_a_truncated_line_at_the_end_is_reported_as_truncated(
    store: JsonlStore, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store.write([make_call()])
    path = folder / "2024-05-01" / "telemetry.jsonl"
    with open(path, "ab") as f:
        f.write(b'{"id":"cut')
    with caplog.at_level(logging.WARNING, logger="tokentrail"):
        assert len(list(store.calls(EVERYTHING))) == 1
    assert f"truncated line {path}:2" in caplog.records[0].getMessage()


# --- retention and size cap -----------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_retention_removes_old_day_folders_on_open_and_hourly_on_write(folder: Path) -> None:
    now = datetime(2024, 5, 31, 23, 30, tzinfo=UTC)
    with JsonlStore(folder) as store:
        store.write([make_call(now - timedelta(days=d)) for d in (0, 7, 10, 20)])

    clock = Clock(now)
    with JsonlStore(folder, retention_days=7, clock=clock) as store:
        assert sorted(p.name for p in folder.glob("2024-*")) == ["2024-05-24", "2024-05-31"]
        assert store.summary()["totals"]["calls"] == 2
        assert sorted(store.summary()["days"]) == ["2024-05-24", "2024-05-31"]

        clock.now = now + timedelta(minutes=40)  # a new day: 2024-05-24 is now past retention...
        store.write([make_call(clock.now)])
        assert (folder / "2024-05-24").exists()  # ...but the last pass was less than an hour ago

        clock.now = now + timedelta(minutes=61)
        store.write([make_call(clock.now)])
        assert sorted(p.name for p in folder.glob("2024-*")) == ["2024-05-31", "2024-06-01"]
        assert store.summary()["totals"]["calls"] == 3
        assert len(list(store.calls(EVERYTHING))) == 3


def test_size_cap_removes_the_oldest_days_but_never_the_newest(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    with JsonlStore(folder) as store:
        for d in range(5):
            store.write([make_call(DAY1 + timedelta(days=d, seconds=i), labels={"pad": "x" * 400}) for i in range(100)])
    day_mb = sum(p.stat().st_size for p in (folder / "2024-05-01").iterdir()) / 1048576

    with JsonlStore(folder, max_size_mb=2.5 * day_mb) as store:
        assert sorted(p.name for p in folder.glob("2024-*")) == ["2024-05-04", "2024-05-05"]
        assert store.summary()["totals"]["calls"] == 200

    with caplog.at_level(logging.WARNING, logger="tokentrail"), JsonlStore(folder, max_size_mb=day_mb / 10):
        assert sorted(p.name for p in folder.glob("2024-*")) == ["2024-05-05"]
    assert "over max_size_mb" in caplog.records[-1].getMessage()


# --- delete ---------------------------------------------------------------------------------------


def test_delete_rewrites_affected_days_and_removes_whole_ones(store: JsonlStore, folder: Path) -> None:
    day1 = [make_call(DAY1 + timedelta(seconds=i), agent="a" if i % 2 else "b", prompt=f"p{i}") for i in range(6)]
    day2 = [make_call(DAY2 + timedelta(seconds=i)) for i in range(3)]
    store.write(day1 + day2)

    assert store.delete(Filter(where={"agent": ("a",)}), batch_size=2) == 3
    assert [c.agent for c in store.calls(EVERYTHING, newest_first=False)][:3] == ["b", "b", "b"]
    assert read_lines(folder / "2024-05-01" / "prompts.jsonl") == [{"id": c.id, "prompt": c.prompt} for c in day1[::2]]

    assert store.delete(Filter(since=DAY2 - timedelta(hours=12), until=DAY2 + timedelta(days=1))) == 3
    assert not (folder / "2024-05-02").exists()
    assert store.summary()["totals"]["calls"] == 3
    assert store.write([day1[1], day2[0]]) == 2  # deleted calls may be written again

    with pytest.raises(ValidationError, match="batch_size=0"):
        store.delete(EVERYTHING, batch_size=0)
    assert store.delete(EVERYTHING) == 5
    assert list(store.calls(EVERYTHING)) == []


# --- summary.json ---------------------------------------------------------------------------------


def test_summary_json_holds_rolling_totals_by_model(store: JsonlStore, folder: Path) -> None:
    store.write(
        [
            make_call(input_tokens=100, output_tokens=10, cost_usd=Decimal("0.10")),
            make_call(DAY2, input_tokens=50, output_tokens=5, cost_usd=Decimal("0.05"), success=False),
            make_call(model="local", input_tokens=7, output_tokens=3),
        ]
    )
    store.write([make_call(DAY2, input_tokens=1, cost_usd=Decimal("0.01"))])

    data = json.loads((folder / "summary.json").read_text())
    assert data["totals"] == {
        "calls": 4,
        "errors": 1,
        "input_tokens": 158,
        "output_tokens": 18,
        "total_tokens": 176,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost_usd": "0.16",
        "unpriced_calls": 1,
    }
    assert {m: (t["calls"], t["cost_usd"], t["unpriced_calls"]) for m, t in data["by_model"].items()} == {
        "gpt-4o": (3, "0.16", 0),
        "local": (1, "0", 1),
    }
    assert data["days"] == {
        day: {"calls": 2, "bytes": (folder / day / "telemetry.jsonl").stat().st_size}
        for day in ("2024-05-01", "2024-05-02")
    }
    assert store.summary() == data
    assert not list(folder.glob("**/*.tmp"))


def test_summary_counts_lines_appended_behind_its_back(store: JsonlStore, folder: Path) -> None:
    store.write([make_call(cost_usd=Decimal("1"))])
    with open(folder / "2024-05-01" / "telemetry.jsonl", "a") as f:  # another tool, or a crash before the summary
        f.write(encode_calls([make_call(cost_usd=Decimal("2"))]))

    store.write([make_call(cost_usd=Decimal("4"))])
    assert store.summary()["totals"]["cost_usd"] == "7"
    assert store.summary()["days"]["2024-05-01"]["calls"] == 3


def test_a_lost_or_broken_summary_is_counted_again_from_the_data(
    store: JsonlStore, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store.write([make_call(cost_usd=Decimal("1")), make_call(DAY2, model="m2")])
    expected = store.summary()

    (folder / "summary.json").write_text("{not json")
    assert store.write([]) == 0
    store.write([make_call(cost_usd=Decimal("2"))])
    assert "counting it again from the data" in caplog.records[-1].getMessage()
    assert store.summary()["totals"]["cost_usd"] == "3"
    (folder / "summary.json").unlink()
    assert store.summary()["by_model"] == {
        **expected["by_model"],
        "gpt-4o": store.rebuild_summary()["by_model"]["gpt-4o"],
    }
    assert store.summary()["totals"]["calls"] == 3


# --- metadata -------------------------------------------------------------------------------------


def test_meta_round_trip(store: JsonlStore, folder: Path) -> None:
    assert store.meta_get("budgets", "daily") is None
    store.meta_put("budgets", "daily", "10")
    assert store.meta_put_if_absent("budgets", "daily", "20") is False
    assert store.meta_put_if_absent("alerts", "fired", "yes") is True
    assert store.meta_items("budgets") == {"daily": "10"}
    assert store.meta_delete("budgets", "daily") is True
    assert store.meta_delete("budgets", "daily") is False
    assert json.loads((folder / "meta.json").read_text()) == {"alerts": {"fired": "yes"}}
    with pytest.raises(ValidationError, match="value=3"):
        store.meta_put("a", "b", 3)  # type: ignore[arg-type]


META_RACER = textwrap.dedent(
    """
    import os, sys, time
    from tokentrail.store.jsonl import JsonlStore
    folder, me, go = sys.argv[1], sys.argv[2], sys.argv[3]
    store = JsonlStore(folder)
    while not os.path.exists(go):
        time.sleep(0.0005)
    won = [k for k in range(30) if store.meta_put_if_absent("race", f"key-{k}", me)]
    store.close()
    print(",".join(map(str, won)))
    """
)


@pytest.mark.slow
def test_meta_put_if_absent_is_atomic_across_four_processes(folder: Path) -> None:
    JsonlStore(folder).close()
    go = folder.parent / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", META_RACER, str(folder), f"p{i}", str(go)], stdout=subprocess.PIPE, text=True
        )
        for i in range(4)
    ]
    time.sleep(0.5)
    go.touch()
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)

    wins = [int(k) for out in outputs for k in out.split(",") if k]
    assert sorted(wins) == list(range(30))  # every key won exactly once
    with JsonlStore(folder) as store:
        items = store.meta_items("race")
    assert len(items) == 30
    for i, out in enumerate(outputs):
        assert {f"key-{k}" for k in out.split(",") if k} == {k for k, v in items.items() if v == f"p{i}"}


# --- opening --------------------------------------------------------------------------------------


def test_open_store_accepts_jsonl_urls(tmp_path: Path) -> None:
    store = open_store(f"jsonl://{tmp_path / 'a'}", retention_days=30, max_size_mb=5)
    try:
        assert isinstance(store, JsonlStore)
        assert (store.path, store.url, store.retention_days, store.max_size_mb) == (
            tmp_path / "a",
            f"jsonl://{tmp_path / 'a'}",
            30,
            5,
        )
    finally:
        store.close()
    with JsonlStore.from_url(f"jsonl://{tmp_path / 'b'}?retention_days=3&max_size_mb=0.5") as store:
        assert (store.retention_days, store.max_size_mb) == (3, 0.5)


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("jsonl://", {}, "names no path"),
        ("jsonl://?retention_days=3", {}, "names no path"),
        ("sqlite:///x.db", {}, "is not a jsonl URL"),
        ("jsonl:///tmp/x", {"retention": 3}, "unknown jsonl option"),
        ("jsonl:///tmp/x", {"retention_days": 0}, "retention_days=0"),
        ("jsonl:///tmp/x", {"retention_days": 1.5}, "retention_days=1.5"),
        ("jsonl:///tmp/x?max_size_mb=lots", {}, "max_size_mb='lots'"),
    ],
)
def test_bad_urls_and_options_are_config_errors(url: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        JsonlStore.from_url(url, **options)


def test_a_file_in_the_way_is_a_store_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    for path in (blocker, blocker / "sub"):
        with pytest.raises(StoreError, match=f"cannot open the jsonl store at '{path}'"):
            open_store(f"jsonl://{path}")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_folder_is_a_store_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(StoreError, match=str(locked / "store")):
            JsonlStore(locked / "store")
    finally:
        locked.chmod(0o700)


def test_a_closed_store_refuses_work(folder: Path) -> None:
    store = JsonlStore(folder)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.write([make_call()])
    with pytest.raises(StoreError, match="is closed"):
        list(store.calls(EVERYTHING))


def test_a_naive_started_at_is_refused(store: JsonlStore) -> None:
    naive = Call(id="n", started_at=datetime(2024, 5, 1), model="m")  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValidationError, match="started_at=.* is not a timezone-aware datetime"):
        store.write([naive])
