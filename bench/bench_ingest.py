"""Ingest: calls/s from `Tracker.record` through the writer into SQLite, JSONL and PostgreSQL, next to raw writes.

    python bench/bench_ingest.py [--quick] [--json] [--calls N] [--stores sqlite,jsonl,postgres]

For each store, over the same calls from `bench/_data.py` (median and min-max of several runs, a fresh
store each run):

- writer: `Tracker.record(...)` for every call (all the fields an instrumented SDK call passes, start
  time included), then `flush()`; calls/s over the whole span. The writer thread prices each call,
  builds the `Call` and writes batches of 1,000 (it drains every 50 ms, and the queue is sized to hold
  every call, so none is dropped);
- `store.write`: the same calls already built, written in batches of 1,000: the store alone;
- raw ceiling: the same rows, as plain values, in the same batches, written by the plainest means —
  SQLite `executemany` into an indexed table of the same columns (one transaction per batch, WAL);
  JSONL `json.dumps` of each row's `to_dict()` and one `os.write` per batch; PostgreSQL `COPY` into
  an indexed table.

PostgreSQL runs against the local server (`--pg-admin-url`, default as the tests use); each run gets a
throwaway database, dropped at the end. A store that is not available here is reported as such.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import calls as make_calls
from _data import record_fields
from _timing import Report, parser, summarize

from tokentrail.model import Call

BATCH = 1_000
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
COLUMNS = tuple(f.name for f in fields(Call))


def row(call: Call) -> tuple[Any, ...]:
    """One call as plain SQL values: text for times and money (exact), JSON for labels."""
    out = []
    for name in COLUMNS:
        v = getattr(call, name)
        if name == "labels":
            v = json.dumps(dict(v))
        elif name == "started_at":
            v = v.isoformat()
        elif v is not None and name.endswith("_usd"):
            v = str(v)
        out.append(v)
    return tuple(out)


def rate(n: int, seconds: list[float]) -> list[float]:
    return [n / s for s in seconds]


@contextmanager
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tt-bench-ingest-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    import psycopg

    name = f"tt_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def through_writer(url: str, args: list[tuple[str, int, int, dict[str, Any]]], home: Path) -> float:
    """Seconds from the first `record()` to the end of `flush()`."""
    from tokentrail import Tracker
    from tokentrail.store import open_store

    os.environ["TOKENTRAIL_HOME"] = str(home)
    store = open_store(url)
    tracker = Tracker(store, display=False, flush_interval=0.05, queue_size=len(args) + 1, batch_size=BATCH)
    from tokentrail.pricing import calculate_cost

    calculate_cost("gpt-4o", 1, 1)  # price tables loaded before the clock starts, as in a warm process
    try:
        record = tracker.record
        start = time.perf_counter()
        for model, i, o, f in args:
            record(model, i, o, **f)
        if not tracker.flush(timeout=600):
            raise RuntimeError("flush timed out")
        elapsed = time.perf_counter() - start
        health = tracker.health
        if health.written != len(args) or health.dropped or health.lost or health.internal_errors:
            raise RuntimeError(f"writer lost calls: {health}")
        return elapsed
    finally:
        tracker.close()
        store.close()


def store_write(url: str, batches: list[list[Call]]) -> float:
    from tokentrail.store import open_store

    store = open_store(url)
    try:
        start = time.perf_counter()
        for b in batches:
            store.write(b)
        return time.perf_counter() - start
    finally:
        store.close()


SQLITE_RAW = f"CREATE TABLE calls ({', '.join(f'{c} PRIMARY KEY' if c == 'id' else c for c in COLUMNS)})"


def sqlite_raw(path: Path, rows: list[list[tuple[Any, ...]]]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(SQLITE_RAW.replace(" user,", ' "user",'))
        conn.execute("CREATE INDEX calls_started_at ON calls (started_at)")
        sql = f"INSERT INTO calls VALUES ({', '.join('?' * len(COLUMNS))})"
        start = time.perf_counter()
        for batch in rows:
            conn.execute("BEGIN")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


def jsonl_raw(path: Path, dicts: list[list[dict[str, Any]]]) -> float:
    """`json.dumps` of each row (already plain data) and one `os.write` of the batch's lines."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = time.perf_counter()
        for batch in dicts:
            os.write(fd, "".join([dumps(d) + "\n" for d in batch]).encode())
        return time.perf_counter() - start
    finally:
        os.close(fd)


def pg_raw(url: str, rows: list[list[tuple[Any, ...]]]) -> float:
    import psycopg

    from tokentrail.store import open_store

    open_store(url).close()  # the store's schema, to copy the table's shape from
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE raw_calls (LIKE tokentrail.calls INCLUDING ALL)")
        conn.execute("ALTER TABLE raw_calls DROP COLUMN IF EXISTS dims_id")
        start = time.perf_counter()
        for batch in rows:
            with conn.transaction(), conn.cursor().copy(f"COPY raw_calls ({cols}) FROM STDIN") as copy:
                for r in batch:
                    copy.write_row(r)
        return time.perf_counter() - start


def in_pg(admin_url: str, fn: Callable[[str, Path], float]) -> Callable[[Path], float]:
    """`fn(url, folder)` run in a throwaway database."""

    def run(d: Path) -> float:
        with pg_database(admin_url) as url:
            return fn(url, d)

    return run


def available(kind: str, admin_url: str) -> str | None:
    """None when the store can be measured here, else why not."""
    module = {"sqlite": "sqlite", "jsonl": "jsonl", "postgres": "postgres"}[kind]
    if importlib.util.find_spec(f"tokentrail.store.{module}") is None:
        return f"n/a: no tokentrail.store.{module} in this checkout"
    if kind == "postgres":
        try:
            import psycopg

            psycopg.connect(admin_url, connect_timeout=3).close()
        except Exception as exc:  # no driver, no server
            return f"n/a: PostgreSQL not reachable ({type(exc).__name__})"
    return None


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--calls", type=int, help="calls per run (default 100,000; 5,000 with --quick)")
    p.add_argument("--stores", default="sqlite,jsonl,postgres", help="comma-separated: sqlite, jsonl, postgres")
    p.add_argument("--pg-admin-url", default=PG_ADMIN)
    args = p.parse_args()
    report = Report(__file__, args)
    n = args.calls or (5_000 if args.quick else 100_000)
    runs = 3 if args.quick else 5
    sample = make_calls(n, seed=11)
    record_args = [(c.model, c.input_tokens, c.output_tokens, record_fields(c)) for c in sample]
    batches = [sample[i : i + BATCH] for i in range(0, n, BATCH)]
    rows = [[row(c) for c in b] for b in batches]
    dicts = [[c.to_dict() for c in b] for b in batches]
    report.note(f"ingest: {n:,} calls per run, batches of {BATCH:,}, {runs} runs per figure")

    plans: dict[str, list[tuple[str, str, Callable[[Path], float]]]] = {
        "sqlite": [
            ("writer", "SQLite: record() → writer → flush",
             lambda d: through_writer(f"sqlite:///{d}/usage.db", record_args, d / "home")),
            ("store", "SQLite: store.write (Calls built)", lambda d: store_write(f"sqlite:///{d}/usage.db", batches)),
            ("raw", "SQLite raw ceiling: executemany, indexed table", lambda d: sqlite_raw(d / "raw.db", rows)),
        ],
        "jsonl": [
            ("writer", "JSONL: record() → writer → flush",
             lambda d: through_writer(f"jsonl://{d}/calls", record_args, d / "home")),
            ("store", "JSONL: store.write (Calls built)", lambda d: store_write(f"jsonl://{d}/calls", batches)),
            ("raw", "JSONL raw ceiling: json.dumps + os.write per batch", lambda d: jsonl_raw(d / "raw.jsonl", dicts)),
        ],
        "postgres": [
            ("writer", "PostgreSQL: record() → writer → flush",
             in_pg(args.pg_admin_url, lambda url, d: through_writer(url, record_args, d / "home"))),
            ("store", "PostgreSQL: store.write (Calls built)",
             in_pg(args.pg_admin_url, lambda url, d: store_write(url, batches))),
            ("raw", "PostgreSQL raw ceiling: COPY, indexed table",
             in_pg(args.pg_admin_url, lambda url, d: pg_raw(url, rows))),
        ],
    }  # fmt: skip
    for kind in [k.strip() for k in args.stores.split(",") if k.strip()]:
        if kind not in plans:
            raise SystemExit(f"unknown store {kind!r}: use sqlite, jsonl or postgres")
        why = available(kind, args.pg_admin_url)
        for name, label, fn in plans[kind]:
            if why and not (kind == "sqlite" and name == "raw"):  # the raw SQLite ceiling needs no store of ours
                report.text(f"ingest_{kind}_{name}", label, why)
                continue
            seconds = []
            try:
                for _ in range(runs):
                    with folder() as tmp:
                        seconds.append(fn(tmp))
            except Exception as exc:  # e.g. another suite restarted the PostgreSQL server: the other figures go on
                report.text(f"ingest_{kind}_{name}", label, f"error: {type(exc).__name__}: {str(exc)[:160]}")
                continue
            report.add(f"ingest_{kind}_{name}", summarize(rate(n, seconds), "calls/s", label))
    report.finish()


if __name__ == "__main__":
    main()
