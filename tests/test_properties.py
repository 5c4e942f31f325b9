"""Properties over `record()` and every backend: what goes in valid comes back equal; what is invalid is
refused with a `ValidationError` naming the field, and stores nothing; text is data, never SQL.

Each test opens one store (memory, JSONL, SQLite, PostgreSQL) and one Tracker; every Hypothesis example
records under its own fresh `project`, and reads back only that project, so examples never see each other.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokentrail import Call, Tracker, ValidationError
from tokentrail.analysis import breakdown, summary
from tokentrail.store import Filter, Store, open_store

# 25 examples per test in the suite; `TOKENTRAIL_TEST_EXAMPLES=10000 pytest tests/test_properties.py` is the
# thorough run (issue 12: 10,000 examples per store find nothing), done by hand, too long for every CI run.
PROFILE = settings(
    max_examples=int(os.environ.get("TOKENTRAIL_TEST_EXAMPLES") or 25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies -----------------------------------------------------------------------------------------

# Any text a user may pass: every code point but lone surrogates (see test_values_no_store_can_hold), with
# NUL, quotes and SQL punctuation made likely.
text = st.text(
    alphabet=st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from("\x00\x01'\";-%_\\\n")),
    max_size=24,
)
name = text.filter(bool)
optional_name = st.none() | name
tokens = st.integers(0, 10**9)
millis = st.none() | st.floats(0, 1e9, allow_nan=False, allow_infinity=False) | st.integers(0, 10**6)
zones = st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-23 * 60, 23 * 60))
moments = st.datetimes(datetime(1971, 1, 1), datetime(2099, 12, 31), timezones=zones)  # noqa: DTZ001 - bounds
money = st.decimals(0, 10**6, allow_nan=False, allow_infinity=False, places=12)
labels = st.dictionaries(name, text, max_size=4)

_AUTO = ("git_branch", "environment", "agent", "user", "session")
_OPTIONAL_TEXT = ("provider", "response_model", "finish_reason", "agent", "user", "session", "environment",
                  "git_branch", "trace_id", "span_id", "parent_span_id", "error_type", "error_message")  # fmt: skip


@st.composite
def record_args(draw: st.DrawFn) -> tuple[str, int, int, dict[str, Any]]:
    """Valid arguments of one `record(model, input_tokens, output_tokens, **fields)` call."""
    # A blank model name (only whitespace) is refused by pricing: see test_values_no_store_can_hold.
    model = draw(st.sampled_from(["gpt-4o", "claude-sonnet-4", "gpt-4o-mini"]) | name.filter(str.strip))
    inp, out = draw(tokens), draw(tokens)
    fields: dict[str, Any] = {}
    cache_read = draw(st.integers(0, inp))
    cache_write = draw(st.integers(0, inp - cache_read))
    for key, value in (
        ("cache_read_tokens", cache_read),
        ("cache_write_tokens", cache_write),
        ("cache_write_1h_tokens", draw(st.integers(0, cache_write))),
        ("reasoning_tokens", draw(st.integers(0, out))),
        ("retries", draw(st.integers(0, 1000))),
    ):
        if draw(st.booleans()):
            fields[key] = value
    if "cache_write_1h_tokens" in fields:
        fields["cache_write_tokens"] = cache_write  # the 1-hour part is checked against the whole
    for key in _OPTIONAL_TEXT:
        if draw(st.integers(0, 3)) == 0:
            fields[key] = draw(optional_name if key != "provider" else st.none() | name.filter(str.strip))
    optional: dict[str, st.SearchStrategy[Any]] = {
        "operation": name,
        "duration_ms": millis,
        "ttft_ms": millis,
        "started_at": moments,
        "labels": labels,
        "streamed": st.booleans(),
        "success": st.booleans(),
        "tokens_estimated": st.booleans(),
        "cost_usd": st.none() | money,
        "prompt": text,
        "response": text,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            fields[key] = draw(strategy)
    if "cost_usd" in fields and draw(st.booleans()):
        fields["price_source"] = draw(name)
    return model, inp, out, fields


# -- one store of each kind ---------------------------------------------------------------------------

KINDS = ("memory", "jsonl", "sqlite", "postgres")


def _url(kind: str, tmp_path: Any, request: pytest.FixtureRequest) -> str:
    if kind == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return {"memory": "memory://", "jsonl": f"jsonl://{tmp_path / 'jsonl'}", "sqlite": f"sqlite:///{tmp_path}/t.db"}[
        kind
    ]


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    store = open_store(_url(request.param, tmp_path, request))
    try:
        yield store
    finally:
        store.close()


class Recorder:
    """A Tracker over `store` that keeps the completed Calls it handed to the store, per example."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.tracker = Tracker(store, store_prompts=True, store_responses=True, batch_size=7)
        self.sent: list[Call] = []
        self.tracker.on_call(self.sent.append)

    def fresh(self) -> str:
        assert self.tracker.flush()  # what an earlier (failed) example left queued
        self.sent.clear()
        return f"p-{uuid.uuid4().hex}"

    def read(self, project: str) -> list[Call]:
        assert self.tracker.flush()
        return list(self.store.calls(Filter(where={"project": (project,)}), newest_first=False))

    def close(self) -> None:
        self.tracker.close()
        h = self.tracker.health
        assert (h.lost, h.spooled, h.dropped, h.internal_errors) == (0, 0, 0, 0), h


@pytest.fixture
def recorder(backend: Store) -> Iterator[Recorder]:
    r = Recorder(backend)
    try:
        yield r
    finally:
        r.close()


def _same(given: Any, got: Any) -> bool:
    if isinstance(given, float) and math.isnan(given):
        return False
    if isinstance(given, (int, float, Decimal)) and not isinstance(given, bool):
        return got == Decimal(str(given)) if isinstance(got, Decimal) else got == given
    return bool(got == given)


# -- what goes in comes back -------------------------------------------------------------------------------


def test_valid_records_come_back_equal(recorder: Recorder) -> None:
    @PROFILE
    @given(st.lists(record_args(), min_size=1, max_size=9))
    def check(records: list[tuple[str, int, int, dict[str, Any]]]) -> None:
        project = recorder.fresh()
        for model, inp, out, fields in records:
            recorder.tracker.record(model, inp, out, project=project, **fields)
        back = recorder.read(project)
        sent = recorder.sent
        assert len(sent) == len(records)
        # What was handed to the store is what the caller gave (completed, never altered)…
        for (model, inp, out, fields), call in zip(records, sent, strict=True):
            assert (call.model, call.input_tokens, call.output_tokens, call.project) == (model, inp, out, project)
            for key, value in fields.items():
                if key in ("prompt", "response") or (key == "labels" and not value):
                    continue
                if value is None and key in _AUTO:
                    continue  # None means "not given": the tracker fills it in (git branch, context)
                assert _same(value, getattr(call, key)), (key, value, getattr(call, key))
            assert call.started_at.utcoffset() == timedelta(0)
        # …and the store gives back exactly that, field for field.
        assert sorted(back, key=lambda c: c.id) == sorted(sent, key=lambda c: c.id)

    check()


def test_a_record_with_every_field_round_trips_with_its_text(recorder: Recorder) -> None:
    project = recorder.fresh()
    at = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    recorder.tracker.record(
        "gpt-4o", 1200, 300, project=project, cache_read_tokens=1000, cache_write_tokens=100,
        cache_write_1h_tokens=40, reasoning_tokens=200, duration_ms=812.25, ttft_ms=0.0, started_at=at,
        labels={"team": "o'brien", "q": 'say "hi"; --', "nul": "a\x00b"}, provider="openai",
        response_model="gpt-4o-2024-08-06", operation="chat", finish_reason="stop", streamed=True,
        response_id=f"r-{project}", agent="a", user="u", session="s", environment="prod", git_branch="main",
        trace_id="t", span_id="sp", parent_span_id="pp", success=False, error_type="RateLimitError",
        error_message="429 'slow down'", retries=3, tokens_estimated=True, prompt="héllo\x00", response="",
    )  # fmt: skip
    [back] = recorder.read(project)
    [sent] = recorder.sent
    assert back == sent
    assert back.started_at == at and back.prompt == "héllo\x00" and back.response == ""
    assert back.prompt_hash is not None and back.cost_usd is not None and back.labels["nul"] == "a\x00b"


# -- what is invalid is refused, by name, and stores nothing ----------------------------------------------

_NAIVE = datetime(2025, 1, 1)  # noqa: DTZ001 - the invalid input under test
INVALID: list[tuple[str, dict[str, Any], str]] = [
    # (what, record() arguments, the field the message must name)
    ("empty model", {"model": ""}, "model"),
    ("model not text", {"model": 4}, "model"),
    ("negative input", {"input_tokens": -1}, "input_tokens"),
    ("float input", {"input_tokens": 1.5}, "input_tokens"),
    ("bool input", {"input_tokens": True}, "input_tokens"),
    ("text output", {"output_tokens": "3"}, "output_tokens"),
    ("cache over input", {"input_tokens": 10, "cache_read_tokens": 11}, "cache_read_tokens"),
    ("1h over cache write", {"input_tokens": 10, "cache_write_tokens": 2, "cache_write_1h_tokens": 3},
     "cache_write_1h_tokens"),
    ("reasoning over output", {"output_tokens": 1, "reasoning_tokens": 2}, "reasoning_tokens"),
    ("negative retries", {"retries": -1}, "retries"),
    ("negative duration", {"duration_ms": -0.5}, "duration_ms"),
    ("nan duration", {"duration_ms": float("nan")}, "duration_ms"),
    ("infinite ttft", {"ttft_ms": float("inf")}, "ttft_ms"),
    ("naive time", {"started_at": _NAIVE}, "started_at"),
    ("time as text", {"started_at": "2025-01-01T00:00:00Z"}, "started_at"),
    ("labels not a mapping", {"labels": ["a"]}, "labels"),
    ("label value not text", {"labels": {"k": 1}}, "labels"),
    ("empty label key", {"labels": {"": "v"}}, "labels"),
    ("negative cost", {"cost_usd": -1}, "cost_usd"),
    ("cost not a number", {"cost_usd": "abc"}, "cost_usd"),
    ("nan cost", {"cost_usd": Decimal("NaN")}, "cost_usd"),
    ("empty agent", {"agent": ""}, "agent"),
    ("agent not text", {"agent": 7}, "agent"),
    ("success not bool", {"success": 1}, "success"),
    ("unknown field", {"colour": "red"}, "colour"),
]  # fmt: skip


def _record(tracker: Tracker, project: str, args: dict[str, Any]) -> None:
    a = dict(args)
    model = a.pop("model", "gpt-4o")
    inp, out = a.pop("input_tokens", 1), a.pop("output_tokens", 1)
    tracker.record(model, inp, out, project=project, **a)


@pytest.mark.parametrize(("what", "args", "field"), INVALID, ids=[w for w, _, _ in INVALID])
def test_invalid_input_is_refused_naming_the_field(what: str, args: dict[str, Any], field: str) -> None:
    tracker = Tracker("memory://")
    with pytest.raises(ValidationError, match=field):
        _record(tracker, "p", args)
    assert tracker.flush() and list(tracker.store.calls(Filter())) == []
    tracker.close()


def test_invalid_records_store_nothing_on_any_backend(recorder: Recorder) -> None:
    @PROFILE
    @given(st.lists(st.tuples(st.sampled_from(INVALID), record_args()), min_size=1, max_size=5))
    def check(cases: list[tuple[tuple[str, dict[str, Any], str], tuple[str, int, int, dict[str, Any]]]]) -> None:
        project = recorder.fresh()
        for (_, bad, field), (model, inp, out, fields) in cases:
            args = {"model": model, "input_tokens": inp, "output_tokens": out, **fields, **bad}
            with pytest.raises(ValidationError) as info:
                _record(recorder.tracker, project, args)
            message = str(info.value)
            assert field in message or any(k in message for k in bad), (message, bad)
        assert recorder.read(project) == [] and recorder.sent == []

    check()


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"input_tokens": 2**63}, "input_tokens"),
        ({"cache_read_tokens": 2**64, "input_tokens": 2**64}, "input_tokens"),
        ({"agent": "a\ud800"}, "agent"),
        ({"labels": {"k": "\udfff"}}, "labels"),
        ({"started_at": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))}, "started_at"),
        ({"started_at": datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))}, "started_at"),
        ({"model": " "}, "model"),
        ({"model": "\x1e"}, "model"),
        ({"provider": "\x85\x0c"}, "provider"),
    ],
)
def test_values_no_store_can_hold_are_refused_at_record(args: dict[str, Any], field: str) -> None:
    tracker = Tracker("memory://")
    try:
        with pytest.raises(ValidationError, match=field):
            _record(tracker, "p", args)
    finally:
        tracker.close()


# -- text is data, never SQL ----------------------------------------------------------------------------------

HOSTILE = [
    "x'); DROP TABLE calls; --",
    "o'brien",
    'say "hi"',
    "' OR '1'='1",
    "%",
    "_",
    "\\",
    "ünï©ødé 🚀",
    "\x01",
]


def test_dimensions_built_from_text_are_refused(backend: Store) -> None:
    for dim in ["label:x'); DROP TABLE calls; --", 'label:a"b', "label:", "label:a b", "agent; DROP TABLE calls"]:
        with pytest.raises(ValidationError, match="dimension"):
            breakdown([dim], store=backend, tz="UTC")
    with pytest.raises(ValidationError):
        backend.aggregate(Filter(), by=["label:x'); DROP TABLE calls; --"])
    with pytest.raises(ValidationError):
        Filter(where={"label:x' --": ("v",)})


def test_hostile_label_values_and_keys_are_stored_and_filtered_as_data(recorder: Recorder) -> None:
    project = recorder.fresh()
    for i, value in enumerate(HOSTILE):
        for _ in range(i + 1):
            recorder.tracker.record("gpt-4o", 10, 1, project=project, agent=value, labels={"team": value})
    recorder.tracker.record("gpt-4o", 10, 1, project=project, labels={"x'); DROP TABLE calls; --": "v"})
    back = recorder.read(project)
    assert len(back) == sum(range(1, len(HOSTILE) + 1)) + 1  # the table is still there, every call in it
    assert any(c.labels == {"x'); DROP TABLE calls; --": "v"} for c in back)
    store = recorder.store
    for i, value in enumerate(HOSTILE):
        by_label = breakdown(["label:team"], store=store, tz="UTC", project=project, labels={"team": value})
        assert [(r.key, r.totals.calls) for r in by_label.rows] == [((value,), i + 1)]
        by_agent = summary(store=store, tz="UTC", project=project, agent=value)
        assert by_agent.totals.calls == i + 1
    everything = breakdown(["label:team"], store=store, tz="UTC", project=project)
    assert {r.key[0]: r.totals.calls for r in everything.rows} == {
        **{v: i + 1 for i, v in enumerate(HOSTILE)}, None: 1
    }  # fmt: skip
    assert summary(store=store, tz="UTC", project=project, agent="' OR '1'='1' --").totals.calls == 0


@pytest.mark.parametrize("kind", ["memory", "jsonl", "sqlite", "postgres"])
def test_label_values_with_nul_stay_apart_from_their_prefix(
    kind: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    store = open_store(_url(kind, tmp_path, request))
    try:
        at = datetime(2025, 3, 1, tzinfo=timezone.utc)
        store.write([
            Call(id=f"nul-{i}", started_at=at, model="m", agent=value, labels={"team": value})
            for i, value in enumerate(["a\x00b", "a", "a"])
        ])  # fmt: skip
        rows = breakdown(["label:team"], store=store, tz="UTC").rows
        assert sorted((r.key, r.totals.calls) for r in rows) == [(("a",), 2), (("a\x00b",), 1)]
        assert summary(store=store, tz="UTC", labels={"team": "a\x00b"}).totals.calls == 1
        assert summary(store=store, tz="UTC", agent="a\x00b").totals.calls == 1
    finally:
        store.close()
