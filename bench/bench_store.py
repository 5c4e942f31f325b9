"""SQLite store: ingest rate and report latency, against plain SQL on a plain indexed table.

    python bench/bench_store.py            # 1,000,000 calls (a few minutes)
    python bench/bench_store.py --quick    # 20,000 calls (seconds)

Ingest: calls/s through `SQLiteStore.write` in batches of 1,000 (conversion, dedupe, rollups and commit
included) vs `executemany` of the same calls, already turned into rows, into a plain table with one column
per field and three indexes (started_at, unique id, partial unique response_id), one transaction per 1,000.

Reports over the last 30 days (a window that starts mid-hour): summary, by model, by model x agent, and p95
latency by model — through the store (rollups) vs the plain SQL a first version would run on the plain table.
Every figure is the median of several runs with the min-max range. Data are deterministic (`generate_calls`).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import itertools
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from tokentrail.model import Call
from tokentrail.store import Filter
from tokentrail.store.sqlite import SQLiteStore

END = datetime(2026, 3, 1, tzinfo=timezone.utc)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MODELS = [  # provider, model, $ per million input tokens, $ per million output tokens, operation
    ("openai", "gpt-4o-mini", "0.15", "0.60", "chat"),
    ("openai", "gpt-4o", "2.50", "10.00", "chat"),
    ("anthropic", "claude-3-5-haiku", "0.80", "4.00", "chat"),
    ("anthropic", "claude-sonnet-4", "3.00", "15.00", "chat"),
    ("google", "gemini-2.0-flash", "0.10", "0.40", "chat"),
    ("google", "gemini-2.5-pro", "1.25", "10.00", "chat"),
    ("openai", "o3-mini", "1.10", "4.40", "chat"),
    ("openai", "text-embedding-3-small", "0.02", "0", "embedding"),
    ("mistral", "mistral-large", "2.00", "6.00", "chat"),
    ("local", "llama-3.1-8b", None, None, "chat"),
]
AGENTS = ["router", "planner", "coder", "reviewer", "summarizer", "retriever", "support-bot", "eval"]
PROJECTS = ["webapp", "data-pipeline", "internal-tools"]
ENVIRONMENTS = ["prod", "dev", "staging"]
TEAMS = ["search", "growth", "infra"]


def _picker(rng: random.Random, weights: Sequence[float]) -> Callable[[], int]:
    cumulative = list(itertools.accumulate(weights))
    total, rnd = cumulative[-1], rng.random
    return lambda: bisect.bisect(cumulative, rnd() * total)


def _uuid7(ms: int, bits: int) -> str:
    v = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (bits >> 68 & 0xFFF) << 64 | 0b10 << 62 | bits & (2**62 - 1)
    h = f"{v:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def generate_calls(n: int, seed: int = 0, *, days: int = 60, end: datetime = END) -> list[Call]:
    """`n` calls spread over `days` days before `end`, the same for the same arguments.

    Zipf-skewed models (10, 5 providers), agents (8, each with its own model preferences), users (2,000),
    projects and environments; log-normal tokens and latencies; 1 % unpriced (plus an unpriced local model),
    2 % failures, half the chats streamed (with a time to first token), 95 % with a provider response id,
    30 % labelled, hashes on every call, and 5 % arriving up to 6 hours late (out of order).
    """
    rng = random.Random(seed)
    rnd, bits, lognorm = rng.random, rng.getrandbits, rng.lognormvariate
    start_us = (end - timedelta(days=days) - _EPOCH) // timedelta(microseconds=1)
    step = days * 86_400_000_000 / max(n, 1)
    prices = [(None, None) if p is None else (Decimal(p) / 10**6, Decimal(q) / 10**6) for _, _, p, q, _ in MODELS]
    preferences = []
    for _ in AGENTS:
        order = list(range(len(MODELS)))
        rng.shuffle(order)
        preferences.append(order)
    pick_model = _picker(rng, [1 / (i + 1) ** 1.3 for i in range(len(MODELS))])
    pick_agent = _picker(rng, [1 / (i + 1) ** 1.1 for i in range(len(AGENTS))])
    pick_user = _picker(rng, [1 / (i + 1) ** 1.1 for i in range(2_000)])
    pick_project, pick_env = _picker(rng, [6, 3, 1]), _picker(rng, [85, 10, 5])
    out = []
    session = ""
    for i in range(n):
        t = start_us + int((i + rnd()) * step)
        if rnd() < 0.05:
            t -= int(rnd() * 6 * 3_600_000_000)
        agent = pick_agent()
        m = preferences[agent][pick_model()]
        provider, model, _, _, operation = MODELS[m]
        inp = int(lognorm(6.5, 1.0))
        outp = 0 if operation == "embedding" else int(lognorm(5.0, 1.0))
        p_in, p_out = prices[m]
        if p_in is None or p_out is None or rnd() < 0.01:
            cost = c_in = c_out = None
        else:
            c_in, c_out = p_in * inp, p_out * outp
            cost = c_in + c_out
        streamed = operation == "chat" and rnd() < 0.5
        duration = round(lognorm(6.5, 0.8), 3)
        ok = rnd() > 0.02
        if not session or rnd() < 0.05:
            session = f"sess-{bits(64):016x}"
        out.append(
            Call(
                id=_uuid7(t // 1000, bits(80)),
                started_at=_EPOCH + timedelta(microseconds=t),
                model=model,
                provider=provider,
                response_model=model + "-2025-01",
                operation=operation,
                duration_ms=duration,
                ttft_ms=round(duration * (0.05 + 0.45 * rnd()), 3) if streamed else None,
                finish_reason="stop" if ok else None,
                streamed=streamed,
                response_id=f"resp_{bits(96):024x}" if rnd() < 0.95 else None,
                input_tokens=inp,
                output_tokens=outp,
                cache_read_tokens=int(rnd() * inp) if rnd() < 0.3 else 0,
                reasoning_tokens=int(rnd() * outp) if model == "o3-mini" else 0,
                cost_usd=cost,
                input_cost_usd=c_in,
                output_cost_usd=c_out,
                price_source=None if cost is None else "genai-prices 0.2.3",
                agent=AGENTS[agent],
                user=f"user-{pick_user():05d}" if rnd() < 0.9 else None,
                session=session,
                project=PROJECTS[pick_project()],
                environment=ENVIRONMENTS[pick_env()],
                git_branch="main",
                trace_id=f"{bits(128):032x}",
                span_id=f"{bits(64):016x}",
                labels={"team": TEAMS[int(rnd() * 3)]} if rnd() < 0.3 else {},
                success=ok,
                error_type=None if ok else "RateLimitError",
                error_message=None if ok else "429 Too Many Requests",
                retries=0 if ok else 1,
                prompt_hash=f"{bits(256):064x}",
                response_hash=f"{bits(256):064x}" if ok else None,
            )
        )
    return out


# --- the plain baseline -----------------------------------------------------------------------------

PLAIN_COLUMNS = (
    "started_at", "id", "model", "provider", "response_model", "operation", "duration_ms", "ttft_ms",
    "finish_reason", "streamed", "response_id", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens", "tokens_estimated", "cost_usd",
    "input_cost_usd", "output_cost_usd", "cache_read_cost_usd", "cache_write_cost_usd", "currency", "price_source",
    "agent", "user", "session", "project", "environment", "git_branch", "trace_id", "span_id", "parent_span_id",
    "labels", "success", "error_type", "error_message", "retries", "prompt_hash", "response_hash", "prompt",
    "response",
)  # fmt: skip


def plain_rows(calls: Sequence[Call]) -> list[tuple[Any, ...]]:
    import json

    rows = []
    for c in calls:
        d = c.to_dict()
        d["started_at"] = (c.started_at - _EPOCH) // timedelta(microseconds=1)
        d["cost_usd"] = None if c.cost_usd is None else float(c.cost_usd)
        d["labels"] = json.dumps(d["labels"]) if d["labels"] else None
        rows.append(tuple(int(v) if isinstance(v, bool) else v for v in (d[k] for k in PLAIN_COLUMNS)))
    return rows


def open_plain(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -65536")
    cols = ", ".join(f'"{c}"' for c in PLAIN_COLUMNS)
    conn.execute(f"CREATE TABLE IF NOT EXISTS calls ({cols})")
    conn.execute("CREATE INDEX IF NOT EXISTS calls_started_at ON calls (started_at)")
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS calls_id ON calls (id)")
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS calls_rid ON calls (response_id) WHERE response_id IS NOT NULL")
    return conn


PLAIN_SUMS = (
    "count(*), sum(1 - success), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), "
    "sum(cache_write_tokens), sum(reasoning_tokens), sum(tokens_estimated), sum(cost_usd IS NULL), total(cost_usd), "
    "count(duration_ms), total(duration_ms), count(ttft_ms), total(ttft_ms), min(started_at), max(started_at)"
)
PLAIN_QUERIES = {
    "summary": f"SELECT {PLAIN_SUMS} FROM calls WHERE started_at >= ?",
    "by model": f"SELECT model, {PLAIN_SUMS} FROM calls WHERE started_at >= ? GROUP BY model",
    "by model x agent": f"SELECT model, agent, {PLAIN_SUMS} FROM calls WHERE started_at >= ? GROUP BY model, agent",
    "p95 by model": (
        "SELECT model, v FROM (SELECT model, duration_ms AS v, row_number() OVER w - 1 AS rn, count(*) OVER w AS n "
        "FROM calls WHERE started_at >= ? AND duration_ms IS NOT NULL WINDOW w AS (PARTITION BY model "
        "ORDER BY duration_ms ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) "
        "WHERE rn = CAST((n - 1) * 0.95 AS INTEGER)"
    ),
}


# --- measuring --------------------------------------------------------------------------------------


def spread(values: Sequence[float], unit: str, digits: int = 1) -> str:
    return f"{statistics.median(values):,.{digits}f} {unit}  ({min(values):,.{digits}f}–{max(values):,.{digits}f})"


def fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def ingest_store(path: Path, calls: Sequence[Call], batch: int) -> tuple[float, list[float]]:
    """Overall calls/s, and the rate over each fifth of the load (does it hold up as the file grows?)."""
    fresh(path)
    store = SQLiteStore(str(path))
    fifths, mark = [], time.perf_counter()
    start = mark
    step = max(len(calls) // 5, batch)
    try:
        for i in range(0, len(calls), batch):
            store.write(calls[i : i + batch])
            if (i + batch) % step == 0:
                now = time.perf_counter()
                fifths.append(step / (now - mark))
                mark = now
        return len(calls) / (time.perf_counter() - start), fifths
    finally:
        store.close()


def ingest_plain(path: Path, rows: Sequence[tuple[Any, ...]], batch: int) -> float:
    fresh(path)
    conn = open_plain(path)
    marks = ", ".join("?" * len(PLAIN_COLUMNS))
    sql = f"INSERT OR IGNORE INTO calls VALUES ({marks})"
    try:
        start = time.perf_counter()
        for i in range(0, len(rows), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, rows[i : i + batch])
            conn.execute("COMMIT")
        return len(rows) / (time.perf_counter() - start)
    finally:
        conn.close()


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm the caches once
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 calls instead of 1,000,000")
    parser.add_argument("-n", type=int, help="number of calls")
    parser.add_argument("--runs", type=int, default=7, help="runs per query (default 7)")
    parser.add_argument("--dir", type=Path, help="where to put the databases (default: a temporary folder)")
    args = parser.parse_args(argv)
    n = args.n or (20_000 if args.quick else 1_000_000)
    ingest_runs = 3 if n <= 100_000 else 1
    print(f"tokentrail bench_store: {n:,} calls; Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")  # fmt: skip

    t = time.perf_counter()
    calls = generate_calls(n, seed=1)
    rows = plain_rows(calls)
    gc.collect()
    gc.freeze()  # a million Calls held for the benchmark would otherwise be rescanned by every collection
    print(f"generated in {time.perf_counter() - t:.1f} s")

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        store_db, plain_db = Path(tmp) / "store.db", Path(tmp) / "plain.db"
        store_rates, plain_rates, fifths = [], [], []
        for _ in range(ingest_runs):
            rate, parts = ingest_store(store_db, calls, 1_000)
            store_rates.append(rate)
            fifths = parts
            plain_rates.append(ingest_plain(plain_db, rows, 1_000))
        print("\ningest, batches of 1,000 (median of runs, min–max)")
        print(f"  SQLiteStore.write            {spread(store_rates, 'calls/s', 0)}")
        print(f"    per fifth of the load      {', '.join(f'{r:,.0f}' for r in fifths)}")
        print(f"  plain executemany, 3 indexes {spread(plain_rates, 'rows/s', 0)}  (rows prebuilt)")

        since = END - timedelta(days=30) + timedelta(minutes=7, seconds=13)
        flt = Filter(since=since)
        since_us = (since - _EPOCH) // timedelta(microseconds=1)
        store = SQLiteStore(str(store_db))
        plain = open_plain(plain_db)
        try:
            in_window = store.aggregate(flt)[0].totals.calls
            print(
                f"\nreports over the last 30 days ({in_window:,} of {n:,} calls), ms, median of {args.runs} (min–max)"
            )
            ours: dict[str, Callable[[], object]] = {
                "summary": lambda: store.aggregate(flt),
                "by model": lambda: store.aggregate(flt, by=("model",)),
                "by model x agent": lambda: store.aggregate(flt, by=("model", "agent")),
                "p95 by model": lambda: store.percentiles(flt, by=("model",), quantiles=(0.95,)),
            }
            print(f"  {'':18s} {'SQLiteStore':>30s}   {'plain SQL on the raw table':>30s}")
            for name, fn in ours.items():
                sql = PLAIN_QUERIES[name]
                mine = timed(fn, args.runs)
                theirs = timed(lambda sql=sql: plain.execute(sql, (since_us,)).fetchall(), max(3, args.runs // 2))
                print(f"  {name:18s} {spread(mine, 'ms', 2):>30s}   {spread(theirs, 'ms', 1):>30s}")
            extra = {
                "by agent": lambda: store.aggregate(flt, by=("agent",)),
                "by project (day rollups)": lambda: store.aggregate(flt, by=("project",)),
                "by day, New York": lambda: store.aggregate(flt, bucket="day", tz=_ny()),
                "by user (raw rows)": lambda: store.aggregate(flt, by=("user",)),
            }
            print("\nother store queries over the same window, ms")
            for name, fn in extra.items():
                print(f"  {name:26s} {spread(timed(fn, 3 if 'raw' in name else args.runs), 'ms', 2)}")
        finally:
            plain.close()
            store.close()
        print(f"\nfiles: store {store_db.stat().st_size / 1e6:,.0f} MB, plain {plain_db.stat().st_size / 1e6:,.0f} MB")


def _ny() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/New_York")


if __name__ == "__main__":
    main(sys.argv[1:])
