"""`copy_calls` and `tokentrail copy`: exact counts, equal records, idempotent re-runs, streaming in batches."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from tokentrail import Call, StoreError, ValidationError
from tokentrail.analysis.copy import CopyResult, copy_calls
from tokentrail.cli import COMMANDS, build_app
from tokentrail.cli import copy as copy_command
from tokentrail.model import new_call_id, validate_call
from tokentrail.store import Filter, open_store
from tokentrail.store.memory import MemoryStore

T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)
N = 3_000


def make_calls(n: int, *, start: int = 0) -> list[Call]:
    """`n` varied calls over 6 days, one every ~3 minutes, each field exercised somewhere."""
    out = []
    for i in range(start, start + n):
        at = T0 + timedelta(seconds=173 * i, microseconds=i % 997)
        out.append(
            validate_call(
                Call(
                    id=new_call_id(int(at.timestamp() * 1e9)),
                    started_at=at,
                    model=("gpt-4o", "claude-sonnet-4", "local-llama")[i % 3],
                    provider=("openai", "anthropic", None)[i % 3],
                    input_tokens=1000 + i,
                    output_tokens=i % 500,
                    cache_read_tokens=i % 100,
                    reasoning_tokens=min(i % 7, i % 500),
                    duration_ms=12.5 + i,
                    cost_usd=None if i % 3 == 2 else Decimal(i) / Decimal(10**6),
                    agent=f"agent-{i % 4}",
                    user=f"u-{i % 11}",
                    labels={"team": f"t{i % 5}", "quote": 'it\'s "fine"'} if i % 2 else {},
                    success=i % 13 != 0,
                    error_type=None if i % 13 else "RateLimitError",
                    response_id=f"resp-{i}",
                    prompt_hash=f"{i:064x}",
                )
            )
        )
    return out


def seed(url: str, calls: Sequence[Call]) -> None:
    store = open_store(url)
    try:
        assert store.write(calls) == len(calls)
    finally:
        store.close()


def read_all(url: str) -> list[Call]:
    store = open_store(url)
    try:
        return list(store.calls(Filter(), newest_first=False))
    finally:
        store.close()


def jsonl_url(tmp_path: Path, name: str = "jsonl") -> str:
    return f"jsonl://{tmp_path / name}"


def sqlite_url(tmp_path: Path, name: str = "usage.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def _check_copy_and_rerun(source: str, dest: str) -> None:
    calls = make_calls(N)
    seed(source, calls)
    assert copy_calls(source, dest, batch_size=700) == CopyResult(read=N, written=N, skipped_duplicates=0)
    assert read_all(dest) == read_all(source) == sorted(calls, key=lambda c: (c.started_at, c.id))
    # Re-running copies nothing new; topping up copies only the new calls.
    assert copy_calls(source, dest, batch_size=700) == CopyResult(read=N, written=0, skipped_duplicates=N)
    seed(source, make_calls(25, start=N))
    assert copy_calls(source, dest) == CopyResult(read=N + 25, written=25, skipped_duplicates=N)
    assert len({c.id for c in read_all(dest)}) == len(read_all(dest)) == N + 25


@pytest.mark.postgres
def test_sqlite_to_postgres_is_exact_and_idempotent(tmp_path: Path, pg_url: str) -> None:
    _check_copy_and_rerun(sqlite_url(tmp_path), pg_url)


def test_jsonl_to_sqlite_is_exact_and_idempotent(tmp_path: Path) -> None:
    _check_copy_and_rerun(jsonl_url(tmp_path), sqlite_url(tmp_path))


@pytest.mark.postgres
def test_jsonl_to_postgres_is_exact_and_idempotent(tmp_path: Path, pg_url: str) -> None:
    _check_copy_and_rerun(jsonl_url(tmp_path), pg_url)


@pytest.mark.postgres
def test_postgres_to_jsonl_keeps_every_field(tmp_path: Path, pg_url: str) -> None:
    calls = make_calls(500)
    seed(pg_url, calls)
    dest = jsonl_url(tmp_path)
    assert copy_calls(pg_url, dest, batch_size=64) == CopyResult(500, 500, 0)
    assert read_all(dest) == read_all(pg_url)


def test_since_and_until_select_a_window(tmp_path: Path) -> None:
    source, dest = jsonl_url(tmp_path, "a"), jsonl_url(tmp_path, "b")
    calls = make_calls(N)
    seed(source, calls)
    since, until = T0 + timedelta(days=1), T0 + timedelta(days=3)
    expected = [c for c in calls if since <= c.started_at < until]
    result = copy_calls(source, dest, since=since, until=until)
    assert result == CopyResult(read=len(expected), written=len(expected), skipped_duplicates=0)
    assert {c.id for c in read_all(dest)} == {c.id for c in expected}
    # Dates as text: --until 2025-03-02 includes that whole day (in the zone given).
    again = copy_calls(source, dest, since="2025-03-02", until="2025-03-03", tz="UTC")
    whole_days = [c for c in calls if T0 + timedelta(days=1) <= c.started_at < T0 + timedelta(days=3)]
    assert again == CopyResult(read=len(whole_days), written=0, skipped_duplicates=len(whole_days))


def test_a_corrupt_line_in_the_source_is_skipped_and_the_rest_copied(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source, dest = jsonl_url(tmp_path, "a"), jsonl_url(tmp_path, "b")
    seed(source, make_calls(300))
    day_file = sorted((tmp_path / "a").glob("*/telemetry.jsonl"))[0]
    with day_file.open("ab") as f:
        f.write(b'{"id": "torn", "started_at": "2025-03-01T')
    assert copy_calls(source, dest) == CopyResult(300, 300, 0)
    assert any(f"{day_file}:" in r.getMessage() for r in caplog.records)


class CountingSource(MemoryStore):
    """A source that counts how many calls its cursor has handed out."""

    def __init__(self, calls: Sequence[Call]) -> None:
        super().__init__()
        self.write(calls)
        self.yielded = 0

    def calls(self, filter: Filter, *, limit: int | None = None, newest_first: bool = True) -> Iterator[Call]:
        for call in super().calls(filter, limit=limit, newest_first=newest_first):
            self.yielded += 1
            yield call


class RecordingDest(MemoryStore):
    """A destination that notes, at each write, the batch size and how far the source had been read."""

    def __init__(self, source: CountingSource, fail_at_batch: int | None = None) -> None:
        super().__init__()
        self.source = source
        self.fail_at_batch = fail_at_batch
        self.batches: list[tuple[int, int]] = []

    def write(self, calls: Sequence[Call]) -> int:
        if self.fail_at_batch is not None and len(self.batches) == self.fail_at_batch:
            raise StoreError("the destination went away")
        self.batches.append((len(calls), self.source.yielded))
        return super().write(calls)


def test_copy_streams_in_batches_oldest_first() -> None:
    calls = make_calls(1050)
    source = CountingSource(list(reversed(calls)))
    dest = RecordingDest(source)
    assert copy_calls(source, dest, batch_size=100) == CopyResult(1050, 1050, 0)
    # Constant memory: at each write the source had handed out exactly what was written, plus this batch.
    written = 0
    for size, yielded in dest.batches:
        assert size <= 100 and yielded == written + size
        written += size
    assert [c.id for c in list(dest.calls(Filter(), newest_first=False))] == [
        c.id for c in sorted(calls, key=lambda c: (c.started_at, c.id))
    ]


def test_an_interrupted_copy_is_finished_by_running_it_again() -> None:
    calls = make_calls(1000)
    source = CountingSource(calls)
    dest = RecordingDest(source, fail_at_batch=4)
    with pytest.raises(StoreError, match="went away"):
        copy_calls(source, dest, batch_size=100)
    assert len(list(dest.calls(Filter(), newest_first=False))) == 400
    dest.fail_at_batch = None
    assert copy_calls(source, dest, batch_size=100) == CopyResult(1000, 600, 400)
    assert sorted(c.id for c in list(dest.calls(Filter(), newest_first=False))) == sorted(c.id for c in calls)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"batch_size": 0}, "batch_size"), ({"since": "yesterday-ish"}, "since"), ({"until": 3}, "until")],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        copy_calls("memory://", "memory://", **kwargs)  # type: ignore[arg-type]


# -- the command ----------------------------------------------------------------------------------------


def cli() -> typer.Typer:
    """The real app (registering `copy` if cli.COMMANDS lacks it yet)."""
    app = build_app()
    if "copy" not in COMMANDS:
        copy_command.register(app)
    return app


def run(*args: str) -> Result:
    return CliRunner().invoke(cli(), list(args))


def test_cli_copy_prints_counts_and_copies_nothing_new_the_second_time(tmp_path: Path) -> None:
    source, dest = jsonl_url(tmp_path, "a"), jsonl_url(tmp_path, "b")
    seed(source, make_calls(1200))
    first = run("copy", "--from", source, "--to", dest, "--batch-size", "500")
    assert first.exit_code == 0, first.output
    assert first.stdout == (f"read 1,200 call(s) from {source}; wrote 1,200 new to {dest}; skipped 0 already there\n")
    second = run("copy", "--from", source, "--to", dest, "--format", "json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout) == {
        "from": source, "to": dest, "read": 1200, "written": 0, "skipped_duplicates": 1200,
    }  # fmt: skip
    csv_out = run("copy", "--from", source, "--to", dest, "--since", "2025-03-02", "--tz", "UTC", "-f", "csv")
    in_window = sum(1 for c in make_calls(1200) if c.started_at >= T0 + timedelta(days=1))
    assert csv_out.stdout.splitlines() == [
        "from,to,read,written,skipped_duplicates",
        f"{source},{dest},{in_window},0,{in_window}",
    ]


@pytest.mark.postgres
def test_cli_copy_errors_are_one_red_line_with_the_password_masked(tmp_path: Path, pg_url: str) -> None:
    source = jsonl_url(tmp_path)
    seed(source, make_calls(10))
    bad = pg_url.replace("postgres@", "no_such_role:hunter2@")
    result = run("copy", "--from", source, "--to", bad)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot connect to PostgreSQL store")
    assert "no_such_role:***@" in lines[0] and "hunter2" not in result.stderr
    same = run("copy", "--from", source, "--to", source)
    assert same.exit_code == 1 and "same store" in same.stderr and len(same.stderr.splitlines()) == 1
    unknown = run("copy", "--from", "mysql://x", "--to", source)
    assert unknown.exit_code == 1 and "unknown scheme 'mysql'" in unknown.stderr
