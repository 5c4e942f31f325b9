"""Issue 12, "Nothing lost without a word": each fault done for real, and the accounting after it.

Every recorded call ends in exactly one of stored, spooled, counted lost — and once the fault clears,
stored = recorded − counted lost. A hung PostgreSQL (a private server frozen with SIGSTOP, or a socket that
accepts and never answers), an outage in the middle of splitting a refused batch, spool lines that are JSON
but not calls, values no store can sum or report, and settings typos met inside the application's request.
The shared server on 5432 is never stopped or frozen here: each test that needs one to fail starts its own.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pgserver import PrivateServer, hung_server, private_postgres, wait_until
from tokentrail import Call, Tracker, ValidationError
from tokentrail.cli import build_app
from tokentrail.config import default_home
from tokentrail.errors import StoreError, StoreUnavailableError
from tokentrail.model import MAX_DURATION_MS, MAX_TOKENS, new_call_id
from tokentrail.spool import Spool, spool_status
from tokentrail.store import Filter, Store, open_store
from tokentrail.store.postgres import PostgresStore
from tokentrail.store.sqlite import SQLiteStore

NOW = datetime.now(timezone.utc)


def stored(url: str, **where: tuple[str, ...]) -> list[Call]:
    store = open_store(url)
    try:
        return list(store.calls(Filter(where=where), newest_first=False))
    finally:
        store.close()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tokentrail" and r.levelno >= logging.WARNING]


def waiting() -> int:
    return spool_status(default_home() / "spool").calls


def assert_accounted(t: Tracker, recorded: int, in_store: int) -> None:
    """recorded = stored + spooled (waiting now) + counted lost, and the tracker counted every stored call."""
    h = t.health
    assert recorded == in_store + waiting() + h.lost + h.dropped, h
    assert h.written == in_store, h


@pytest.fixture
def server() -> Iterator[PrivateServer]:
    with private_postgres() as s:
        yield s


# -- 1. a hung PostgreSQL ------------------------------------------------------------------------------

_SCRIPT = """
import sys, time
from tokentrail import Tracker
t = Tracker(sys.argv[1])
for i in range(364):
    t.record("gpt-4o", i, 1, agent="script")
    if i % 50 == 0:
        time.sleep(0.07)
"""


@pytest.mark.postgres
def test_a_script_against_a_server_that_never_answers_spools_every_call_and_exits_soon() -> None:
    # Before: the writer waited on the connection (connect_timeout=10 s) past the 10 s exit flush and the
    # whole queue died with the process: 364 recorded, 0 stored, 0 spooled, nothing said.
    with hung_server() as hung:
        url = f"postgresql://postgres@127.0.0.1:{hung.port}/app"
        started = time.monotonic()
        child = subprocess.run([sys.executable, "-c", _SCRIPT, url], capture_output=True, text=True, timeout=120)
        took = time.monotonic() - started
        assert hung.accepted, "the client never reached the hung server"
    assert child.returncode == 0, child.stderr
    assert waiting() == 364, child.stderr  # nothing lost: every call waits in the spool
    assert "could not write" in child.stderr and "no answer" in child.stderr or "timeout" in child.stderr
    assert took < 9, f"exit held up {took:.1f}s"  # one connection timeout (5 s), not one per batch or step


@pytest.mark.postgres
def test_a_frozen_postgres_is_given_up_on_spooled_and_replayed_once_it_thaws(server: PrivateServer) -> None:
    # Before: a write on a pooled connection to a frozen server waited forever; flush() never returned and
    # every call recorded meanwhile sat in memory until the queue was full or the process ended.
    with Tracker(server.url, batch_size=100, flush_interval=0.05) as t:
        for i in range(500):
            t.record("gpt-4o", i, 1, agent="app")
        assert t.flush() and t.health.written == 500
        server.freeze()
        try:
            began = time.monotonic()
            for i in range(500, 1500):
                t.record("gpt-4o", i, 1, agent="app")  # the application never waits on the database
            assert time.monotonic() - began < 2
            assert t.flush(timeout=40), "the writer hangs on the frozen server"
            h = t.health
            assert (h.written, h.spooled, h.lost, h.dropped) == (500, 1000, 0, 0)
            assert "no answer within 5s" in (h.last_error or "") or "timeout" in (h.last_error or "")
        finally:
            server.thaw()
        assert wait_until(lambda: t.flush() and t.health.written == 1500, timeout=60), t.health
        assert_accounted(t, 1500, 1500)
    assert sorted(c.input_tokens for c in stored(server.url, agent=("app",))) == list(range(1500))
    assert waiting() == 0


# -- 5. an outage while a refused batch is being split ------------------------------------------------


class Refusing:
    """A real store that refuses, for its data, any batch holding a call of agent 'unstorable' (as PostgreSQL
    refuses an out-of-range value), and calls `on_refusal` at its `at`-th refusal."""

    def __init__(self, inner: Store, on_refusal: Any = None, at: int = 1) -> None:
        self.inner, self.url, self.on_refusal, self.refusals, self.at = inner, inner.url, on_refusal, 0, at

    def write(self, calls: Sequence[Call]) -> int:
        if any(c.agent == "unstorable" for c in calls):
            self.refusals += 1
            if self.refusals == self.at and self.on_refusal is not None:
                self.on_refusal()
            raise StoreError('value "9223372036854775808" is out of range for type bigint')
        return self.inner.write(calls)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.postgres
@pytest.mark.parametrize(("at", "written_first"), [(1, 0), (3, 2000)])
def test_an_outage_while_bisecting_spools_the_rest_and_refuses_no_good_call(
    at: int, written_first: int, server: PrivateServer
) -> None:
    # Before: once the batch holding one bad call was being split, any error counted as a refusal, so with the
    # server gone mid-split every good call behind it was set aside as refused and counted lost. The server is
    # stopped for real at the first refusal (the whole batch) or the third (calls 2000-2999, after 0-1999 went in).
    store = Refusing(PostgresStore(server.url, timeout=2), on_refusal=server.stop, at=at)
    try:
        with Tracker(store, batch_size=4000, flush_interval=60) as t:  # type: ignore[arg-type]
            for i in range(4000):
                t.record("gpt-4o", i, 1, agent="unstorable" if i == 2345 else "app")
            assert t.flush(timeout=60)
            h = t.health
            assert (h.lost, h.written, h.spooled) == (0, written_first, 4000 - written_first), h  # none refused
            assert_accounted(t, 4000, written_first)
            server.start()
            t.replay_spool()
            assert (t.health.lost, waiting()) == (1, 0), t.health  # now the bad call alone is refused
            assert_accounted(t, 4000, 3999)
    finally:
        store.inner.close()
    calls = stored(server.url)
    assert sorted(c.input_tokens for c in calls) == [i for i in range(4000) if i != 2345]


class DataRefusing:
    """A store that refuses one call for its data (StoreError) and keeps the rest, in memory."""

    def __init__(self) -> None:
        self.inner = open_store("memory://")
        self.url = "sqlite:///refusing.db"

    def write(self, calls: Sequence[Call]) -> int:
        if any(c.agent == "bad" for c in calls):
            raise StoreError("the store refused this value")
        return self.inner.write(calls)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_single_call_refused_for_its_data_is_set_aside_not_spooled_forever() -> None:
    # Before: a one-call batch refused for its data was taken for an outage and spooled, then refused at every
    # replay, holding every later call behind it in the spool.
    store = DataRefusing()
    with Tracker(store, batch_size=1) as t:  # type: ignore[arg-type]
        t.record("gpt-4o", 1, 1, agent="bad")
        assert t.flush()
        for i in range(2, 12):
            t.record("gpt-4o", i, 1, agent="app")
        assert t.flush()
        assert (t.health.lost, t.health.spooled, t.health.written) == (1, 0, 10)
        assert_accounted(t, 11, 10)
    assert waiting() == 0
    refused = default_home() / "spool"
    lines = [line for f in refused.glob("refused-*.jsonl") for line in f.read_text().splitlines()]
    assert [json.loads(line)["agent"] for line in lines] == ["bad"]


# -- 2. sums no store can hold -------------------------------------------------------------------------


def test_a_sum_sqlite_cannot_hold_is_a_refusal_never_an_outage(tmp_path: Path) -> None:
    # Two counts of 2**62 in one batch overflow SQLite's sum() while the batch is folded into the rollups.
    # Before: 'integer overflow' is an OperationalError, taken for "store down": that batch and every later
    # one spooled forever, in every process. Now record() refuses such counts, and the store says "data".
    store = SQLiteStore(str(tmp_path / "usage.db"))
    try:
        calls = [Call(id=new_call_id(), started_at=NOW, model="m", input_tokens=2**62) for _ in range(2)]
        with pytest.raises(StoreError, match="overflow") as info:
            store.write(calls)
        assert not isinstance(info.value, StoreUnavailableError), info.value
        assert store.write(calls[:1]) == 1  # the store is up
    finally:
        store.close()


@pytest.mark.postgres
def test_a_sum_postgres_cannot_hold_is_refused_and_the_calls_behind_it_are_stored(pg_url: str) -> None:
    # A database written by an older version holds a count near 2**63; one more call in the same hour and
    # dimensions overflows the rollup's bigint. That call alone is refused; the batch around it is stored.
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    old = open_store(pg_url)
    try:
        old.write([Call(id=new_call_id(), started_at=hour, model="m-old", project="p", input_tokens=2**63 - 10)])
        with pytest.raises(StoreError, match="out of range") as info:
            old.write([Call(id=new_call_id(), started_at=hour, model="m-old", project="p", input_tokens=100)])
        assert not isinstance(info.value, StoreUnavailableError), info.value
    finally:
        old.close()
    with Tracker(pg_url, batch_size=50) as t:
        t.record("m-old", 100, 1, project="p", started_at=hour + timedelta(minutes=1))
        for i in range(49):
            t.record("gpt-4o", i, 1, agent="app", started_at=hour + timedelta(minutes=2))
        assert t.flush()
        assert (t.health.written, t.health.lost, t.health.spooled) == (49, 1, 0), t.health
    assert waiting() == 0
    assert len(stored(pg_url, agent=("app",))) == 49


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        ({"input_tokens": 2**62}, "input_tokens", "4611686018427387904"),
        ({"output_tokens": MAX_TOKENS + 1}, "output_tokens", str(MAX_TOKENS + 1)),
        ({"cache_read_tokens": 2**63 - 1}, "cache_read_tokens", str(2**63 - 1)),
        ({"retries": 2**40}, "retries", str(2**40)),
        ({"duration_ms": 1e308}, "duration_ms", "1e+308"),
        ({"ttft_ms": MAX_DURATION_MS * 2.0}, "ttft_ms", repr(MAX_DURATION_MS * 2.0)),
        ({"started_at": datetime(9999, 12, 31, tzinfo=timezone.utc)}, "started_at", "9999"),
        ({"started_at": datetime(1, 1, 1, tzinfo=timezone.utc)}, "started_at", "datetime(1, 1, 1"),
        ({"started_at": datetime(1969, 12, 31, 23, tzinfo=timezone.utc)}, "started_at", "1969"),
        ({"operation": None}, "operation", "None"),
        ({"operation": ""}, "operation", "''"),
    ],
)
def test_values_a_store_could_not_sum_or_report_are_refused_at_the_door(
    args: dict[str, Any], field: str, value: str
) -> None:
    with Tracker("memory://") as t:
        with pytest.raises(ValidationError, match=field) as info:
            t.record("gpt-4o", args.pop("input_tokens", 1), args.pop("output_tokens", 1), **args)
        assert value in str(info.value)
        assert t.flush() and list(t.store.calls(Filter())) == []


def test_the_count_bound_keeps_every_sum_exact() -> None:
    # Every store sums counts in signed 64-bit integers, input and output together for totals.
    assert 2 * MAX_TOKENS * 450_000_000 < 2**63
    assert MAX_DURATION_MS * 10**9 < 1e300  # float sums of durations stay finite


def test_the_date_bounds_are_named() -> None:
    with Tracker("memory://") as t, pytest.raises(ValidationError, match="1970-01-01.*2200-01-01"):
        t.record("gpt-4o", 1, 1, started_at=datetime(9999, 12, 31, tzinfo=timezone.utc))


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_the_largest_values_record_accepts_are_stored_and_reported_on_every_store(store_url: str) -> None:
    # Before: counts near 2**63 made PostgreSQL refuse the call (lost), SQLite sums overflow, and a duration
    # of 1e308 made the JSON reports print Infinity. What record() takes, every store keeps and sums.
    first, last = datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(2199, 12, 31, 23, tzinfo=timezone.utc)
    with Tracker(store_url) as t:
        for at in (first, last, first, last):
            t.record("gpt-4o", MAX_TOKENS, MAX_TOKENS, reasoning_tokens=MAX_TOKENS, retries=MAX_TOKENS,
                     duration_ms=MAX_DURATION_MS, ttft_ms=float(MAX_DURATION_MS), started_at=at,
                     operation="embedding", cost_usd=0)  # fmt: skip
        t.record("gpt-4o", 1, 1, started_at=last)  # operation left out: "chat"
        with pytest.raises(ValidationError, match="operation=None"):
            t.record("gpt-4o", 1, 1, operation=None)  # no store keeps it (SQL: NOT NULL; JSONL: unreadable)
        assert t.flush()
        assert (t.health.written, t.health.lost, t.health.spooled) == (5, 0, 0), t.health
        back = list(t.store.calls(Filter()))
        [totals] = [g.totals for g in t.store.aggregate(Filter())]
    assert sorted(c.operation for c in back) == ["chat", "embedding", "embedding", "embedding", "embedding"]
    assert sum(c.input_tokens for c in back) == totals.input_tokens == 4 * MAX_TOKENS + 1
    assert type(totals.output_tokens) is int and totals.output_tokens == 4 * MAX_TOKENS + 1
    if store_url == "memory://":
        return  # the reports below open the store again: a memory store is gone by then
    since, until = "--since", "1970-01-01"
    runner, app = CliRunner(), build_app()
    for args in (["costs"], ["costs", "--daily"], ["stats"]):
        result = runner.invoke(app, [*args, "--store", store_url, since, until, "--until", "2200-01-01",
                                     "--tz", "UTC", "--format", "json"])  # fmt: skip
        assert result.exit_code == 0, (args, result.output)
        data = _strict_json(result.stdout)  # no Infinity, no NaN
        assert str(4 * MAX_TOKENS + 1) in result.stdout or data, args


# -- 3. a spool line that is JSON but not a call ------------------------------------------------------


def test_spool_lines_that_are_json_but_not_calls_are_set_aside_and_every_writer_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: `null`, `[1,2]`, `"x"`, `42` or a bad cost escaped the corrupt-line handling; the replay aborted,
    # the file stayed, and every new batch queued behind it while the store was healthy.
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    spool = Spool(default_home() / "spool", url)
    good = [Call(id=new_call_id(), started_at=NOW, model="gpt-4o", input_tokens=i, agent="old") for i in range(3)]
    bad_cost = json.dumps({**good[0].to_dict(), "id": new_call_id(), "cost_usd": "abc"})
    spool.append(good[:1])
    with spool.path.open("ab") as f:
        f.write(b"null\n[1,2]\n")
    spool.append(good[1:2])
    with spool.path.open("ab") as f:
        f.write(b'"x"\n42\n' + bad_cost.encode() + b"\n")
    spool.append(good[2:])
    dead = spool.path.with_name(spool.path.name.replace(f"-{os.getpid()}.", "-999999999."))
    spool.path.rename(dead)  # left by a process that has ended
    with caplog.at_level(logging.WARNING, logger="tokentrail"), Tracker(url, batch_size=10) as t:
        for i in range(20):
            t.record("gpt-4o", i, 1, agent="new")
        assert t.flush()
        assert t.health.lost == 5 and t.health.replayed == 3, t.health
    assert waiting() == 0 and not dead.exists()
    assert len(stored(url, agent=("old",))) == 3 and len(stored(url, agent=("new",))) == 20
    said = warnings_of(caplog)
    for lineno in (2, 3, 5, 6, 7):
        assert any(f"{dead}:{lineno}" in w for w in said), said
    assert not any("could not write" in w for w in said), said  # the store is not blamed
    [kept] = (default_home() / "spool").glob("corrupt-*.jsonl")
    assert kept.read_bytes().splitlines() == [b"null", b"[1,2]", b'"x"', b"42", bad_cost.encode()]


# -- 13. settings typos and a removed working folder, met inside the first record() --------------------


@pytest.mark.parametrize(
    "fault",
    ["batch_size", "unknown_key", "toml_syntax", "removed_cwd"],
)
def test_a_bad_setting_never_raises_from_record_warns_once_and_doctor_names_it(
    fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    monkeypatch.setenv("TOKENTRAIL_STORE", url)
    app = tmp_path / "project" / "service"
    app.mkdir(parents=True)
    monkeypatch.chdir(app)
    expect = ""
    if fault == "batch_size":
        monkeypatch.setenv("TOKENTRAIL_BATCH_SIZE", "1k")
        expect = "TOKENTRAIL_BATCH_SIZE='1k'"
    elif fault == "unknown_key":
        (tmp_path / "project" / "tokentrail.toml").write_text("batch_sise = 100\n")
        expect = "batch_sise"
    elif fault == "toml_syntax":
        (tmp_path / "project" / "pyproject.toml").write_text("[tool.tokentrail]\nbatch_size = = 1\n")
        expect = "pyproject.toml"
    else:
        gone = tmp_path / "gone"
        gone.mkdir()
        monkeypatch.chdir(gone)
        gone.rmdir()
        expect = "No such file or directory"
    code = (
        "import tokentrail as tt\nfor i in range(3):\n    tt.record('gpt-4o', i, 1, agent='app')\nprint('recorded')\n"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0 and child.stdout == "recorded\n", child.stderr
    assert child.stderr.count("tokentrail: ") == 1, child.stderr  # warned once, not once per call
    assert expect in child.stderr
    assert len(stored(url, agent=("app",))) == 3  # recorded with the defaults for what was wrong
    if fault != "removed_cwd":
        result = CliRunner().invoke(build_app(), ["doctor"])
        assert result.exit_code == 1 and expect in result.output, result.output


class RefusingThenDown(DataRefusing):
    """Refuses calls of agent 'bad' for their data; raises ConnectionError on the `down_at`-th write."""

    def __init__(self, down_at: int) -> None:
        super().__init__()
        self.writes, self.down_at = 0, down_at

    def write(self, calls: Sequence[Call]) -> int:
        self.writes += 1
        if self.writes == self.down_at:
            raise ConnectionError("server closed the connection unexpectedly")
        return super().write(calls)


def test_a_replay_cut_short_after_a_refusal_counts_the_refused_call_once() -> None:
    # The spool holds 100 calls, one the store refuses. The replay splits the batch, refuses the bad call,
    # then the store goes away; the next replay meets the bad call again: it must not be refused twice.
    store = RefusingThenDown(down_at=0)
    spool = Spool(default_home() / "spool", store.url)
    calls = [Call(id=new_call_id(), started_at=NOW, model="m", input_tokens=i, agent="app") for i in range(100)]
    calls[10] = calls[10].replace(agent="bad")
    spool.append(calls)
    store.down_at = 13  # the 12 writes of the split that set call 10 aside, then down at calls 12-24
    with Tracker(store) as t:  # type: ignore[arg-type]
        t.replay_spool()
        assert t.health.lost == 1 and waiting() == 100, t.health  # cut short: the file stays
        t.replay_spool()
        assert (t.health.lost, waiting(), t.health.replayed) == (1, 0, 99), t.health
    assert len(list(store.inner.calls(Filter()))) == 99
