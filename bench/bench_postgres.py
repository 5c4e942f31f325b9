"""Benchmark the PostgreSQL store: ingest through `write` against a bare COPY, and report latency against plain SQL.

Usage:
    python bench/bench_postgres.py [--quick] [--json] [--n N] [--repeat R] [--admin-url URL]

Creates a throwaway database on the server of `--admin-url` (default: the local server, as the tests use), fills
it with N deterministic calls (default 1,000,000; `--quick` 20,000) spread over 32 days, and prints:

- ingest rate of `PostgresStore.write` in batches of 1,000 (COPY to staging, dedupe, rollups, one transaction
  per batch) against a bare `COPY` of the same rows, in the same batches, into an indexed table of the same shape;
- latency of a 30-day summary, a breakdown by model x agent, and p95 by model, through the store and as plain
  SQL over the indexed raw table: median (min-max) of repeated runs, after one warm-up run.

The database is dropped at the end. Figures depend on the machine; nothing here is asserted.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

import _timing
import psycopg
from _timing import Report, summarize

from tokentrail.errors import StoreError
from tokentrail.model import Call
from tokentrail.store.base import Filter
from tokentrail.store.postgres import PostgresStore

_T = TypeVar("_T")
END = datetime(2025, 6, 30, 14, 37, 12, 345_678, tzinfo=timezone.utc)
SPAN = timedelta(days=32)
BATCH = 1_000

# model: (provider, median latency ms, $ per million input tokens, $ per million output tokens)
MODELS = {
    "gpt-4o": ("openai", 1800.0, "2.50", "10.00"),
    "gpt-4o-mini": ("openai", 900.0, "0.15", "0.60"),
    "o3-mini": ("openai", 6000.0, "1.10", "4.40"),
    "claude-sonnet-4": ("anthropic", 2500.0, "3.00", "15.00"),
    "claude-3-5-haiku": ("anthropic", 1100.0, "0.80", "4.00"),
    "gemini-2.5-pro": ("google", 3500.0, "1.25", "10.00"),
    "gemini-2.5-flash": ("google", 700.0, "0.30", "2.50"),
    "text-embedding-3-small": ("openai", 120.0, "0.02", "0"),
}
# agent: (project, the models it uses, share of all calls)
AGENTS = {
    "router": ("assistant", ("gpt-4o-mini", "gemini-2.5-flash"), 0.25),
    "planner": ("assistant", ("o3-mini", "claude-sonnet-4"), 0.10),
    "coder": ("devtools", ("claude-sonnet-4", "gpt-4o"), 0.15),
    "reviewer": ("devtools", ("claude-sonnet-4",), 0.05),
    "summarizer": ("assistant", ("claude-3-5-haiku", "gpt-4o-mini"), 0.15),
    "support-bot": ("support", ("gpt-4o", "gemini-2.5-pro"), 0.15),
    "indexer": ("search", ("text-embedding-3-small",), 0.10),
    None: ("scratch", ("gpt-4o", "gemini-2.5-pro", "claude-sonnet-4"), 0.05),
}
ENVIRONMENTS = (("prod", 0.85), ("staging", 0.10), ("dev", 0.05))


def generate_calls(n: int, seed: int = 42) -> Iterator[list[Call]]:
    """`n` realistic calls in time order over the 32 days before END, in batches of BATCH; same seed, same calls.

    Agents use a few models each, projects follow agents, most traffic is production, latencies are log-normal
    around each model's median, costs follow token counts, 3 % of calls fail.
    """
    rnd = random.Random(seed)
    agents = list(AGENTS)
    weights = [AGENTS[a][2] for a in agents]
    envs, env_weights = [e for e, _ in ENVIRONMENTS], [w for _, w in ENVIRONMENTS]
    start = END - SPAN
    step_us = SPAN / timedelta(microseconds=1) / n
    at_us = 0.0
    batch: list[Call] = []
    for i in range(n):
        at_us += rnd.expovariate(1.0) * step_us
        at = start + timedelta(microseconds=min(int(at_us), int(SPAN / timedelta(microseconds=1)) - 1))
        agent = rnd.choices(agents, weights)[0]
        project, models, _ = AGENTS[agent]
        model = rnd.choice(models)
        provider, median_ms, in_price, out_price = MODELS[model]
        embedding = model.startswith("text-embedding")
        streamed = not embedding and rnd.random() < 0.5
        success = rnd.random() > 0.03
        input_tokens = int(rnd.lognormvariate(7.0, 1.0))
        output_tokens = 0 if embedding else int(rnd.lognormvariate(5.5, 0.8))
        cache_read = input_tokens // 2 if rnd.random() < 0.3 else 0
        cost = (Decimal(input_tokens) * Decimal(in_price) + Decimal(output_tokens) * Decimal(out_price)) / 10**6
        ms = rnd.getrandbits(48)
        batch.append(
            Call(
                id=f"{ms:012x}-{rnd.getrandbits(16):04x}-7{rnd.getrandbits(12):03x}-{i:016x}",
                started_at=at,
                model=model,
                provider=provider,
                response_model=f"{model}-2025-01-01",
                operation="embedding" if embedding else "chat",
                duration_ms=round(rnd.lognormvariate(0, 0.6) * median_ms, 3),
                ttft_ms=round(rnd.lognormvariate(0, 0.5) * median_ms / 5, 3) if streamed else None,
                finish_reason=None if embedding else "stop",
                streamed=streamed,
                response_id=f"resp_{i:x}_{seed}" if provider != "google" else None,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_read_tokens=cache_read,
                cost_usd=cost.quantize(Decimal("1e-9")) if success else None,
                price_source="genai-prices 0.0.40",
                agent=agent,
                user=f"user-{int(rnd.paretovariate(1.2)) % 500}",
                session=f"s-{rnd.getrandbits(20):05x}",
                project=project,
                environment=rnd.choices(envs, env_weights)[0],
                labels={"team": project, "feature": rnd.choice(("chat", "search", "summary", "triage"))},
                success=success,
                error_type=None if success else rnd.choice(("RateLimitError", "APITimeoutError")),
                prompt_hash=f"{rnd.getrandbits(256):064x}",
            )
        )
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def chunk_rates(seconds: list[float], sizes: list[int], chunks: int = 10) -> list[float]:
    """Calls/s of consecutive groups of batches, so the rate has a median and a range."""
    per = max(1, len(seconds) // chunks)
    return [
        sum(sizes[i : i + per]) / sum(seconds[i : i + per])
        for i in range(0, len(seconds), per)
        if sum(seconds[i : i + per])
    ]


class Survivor:
    """Runs a step again when the server went away mid-step (other jobs on a shared machine restart it).

    Only the successful attempt is timed; `retries` says how many steps had to be run again.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.retries = 0

    def run(self, step: Callable[[], _T]) -> tuple[_T, float]:
        for _ in range(10):
            t = time.perf_counter()
            try:
                result = step()
                return result, time.perf_counter() - t
            except (StoreError, psycopg.OperationalError):
                self.retries += 1
                self.wait_for_server()
        raise SystemExit("the PostgreSQL server kept going away; try again later")

    def wait_for_server(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                time.sleep(1)


def bench_ingest(report: Report, store: PostgresStore, url: str, n: int, seed: int, survivor: Survivor) -> None:
    seconds, sizes = [], []
    for batch in generate_calls(n, seed):
        _, took = survivor.run(lambda batch=batch: store.write(batch))  # type: ignore[misc]
        seconds.append(took)
        sizes.append(len(batch))
    report.add("write_calls_per_s", summarize(chunk_rates(seconds, sizes), "calls/s", "store.write, batches of 1,000"))

    # The same rows, in the same batches, COPYed straight into an indexed table of the same shape.
    columns = ", ".join(f'"{f}"' for f in Call.__dataclass_fields__)
    conn = psycopg.connect(url, autocommit=True)
    try:
        conn.execute("CREATE TABLE raw_calls (LIKE tokentrail.calls INCLUDING ALL)")
        conn.execute("ALTER TABLE raw_calls DROP COLUMN dims_id")
        seconds, sizes = [], []
        for batch in generate_calls(n, seed):
            rows = [PostgresStore._row(0, c, 0)[1:-1] for c in batch]  # the store's own encoding of a row

            def copy_batch(rows: list[list[Any]] = rows) -> None:
                nonlocal conn
                if conn.broken or conn.closed:
                    conn = psycopg.connect(url, autocommit=True)
                with conn.transaction(), conn.cursor().copy(f"COPY raw_calls ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)

            _, took = survivor.run(copy_batch)
            seconds.append(took)
            sizes.append(len(rows))
        report.add(
            "copy_calls_per_s",
            summarize(chunk_rates(seconds, sizes), "calls/s", "bare COPY into an indexed table (raw ceiling)"),
        )
        stored, copied = conn.execute(
            "SELECT (SELECT count(*) FROM tokentrail.calls), (SELECT count(*) FROM raw_calls)"
        ).fetchone()  # type: ignore[misc]
        assert stored == copied == n, (stored, copied, n)
        conn.execute("VACUUM ANALYZE")
    finally:
        conn.close()


PLAIN_SUMMARY = """
SELECT count(*), count(*) FILTER (WHERE NOT success), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
       sum(cache_write_tokens), sum(reasoning_tokens), count(*) FILTER (WHERE tokens_estimated),
       count(*) FILTER (WHERE cost_usd IS NULL), sum(cost_usd), count(duration_ms), sum(duration_ms),
       sum(output_tokens) FILTER (WHERE duration_ms IS NOT NULL), count(ttft_ms), sum(ttft_ms),
       min(started_at), max(started_at)
FROM raw_calls WHERE started_at >= %(since)s AND started_at < %(until)s"""
PLAIN_BREAKDOWN = PLAIN_SUMMARY.replace("SELECT count(*)", "SELECT model, agent, count(*)") + " GROUP BY 1, 2"
PLAIN_P95 = """
SELECT model, count(*), percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
FROM raw_calls WHERE started_at >= %(since)s AND started_at < %(until)s AND duration_ms IS NOT NULL GROUP BY 1"""


def bench_reports(report: Report, store: PostgresStore, url: str, repeat: int, survivor: Survivor) -> None:
    window = Filter(since=END - timedelta(days=30), until=END)
    params = {"since": window.since, "until": window.until}
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")

        def plain(sql: str) -> list[tuple[Any, ...]]:
            nonlocal conn
            if conn.broken or conn.closed:
                conn = psycopg.connect(url)
                conn.execute("SET TIME ZONE 'UTC'")
            return conn.execute(sql, params).fetchall()

        def timed(step: Callable[[], object]) -> list[float]:
            survivor.run(step)  # warm-up
            return [survivor.run(step)[1] * 1000 for _ in range(repeat)]

        def compare(key: str, name: str, via_store: Callable[[], object], sql: str) -> None:
            report.add(f"{key}_store_ms", summarize(timed(via_store), "ms", f"{name}: store"))
            runs = timed(lambda: plain(sql))
            report.add(f"{key}_sql_ms", summarize(runs, "ms", f"{name}: plain SQL, indexed raw table"))

        for key, name, by, sql in (
            ("summary", "30-day summary", [], PLAIN_SUMMARY),
            ("breakdown", "breakdown by model x agent", ["model", "agent"], PLAIN_BREAKDOWN),
        ):
            groups = store.aggregate(window, by=by)
            assert sum(g.totals.calls for g in groups) == sum(int(r[len(by)]) for r in plain(sql)), name
            compare(key, name, lambda by=by: store.aggregate(window, by=by), sql)  # type: ignore[misc]
            report.note(f"  {name}: {len(groups)} groups, the same call counts as plain SQL")

        rows = store.percentiles(window, by=["model"], quantiles=(0.95,))
        exact = {r[0]: float(r[2]) for r in plain(PLAIN_P95)}
        worst = max(abs(float(r.values[0] or 0) - exact[str(r.key[0])]) / exact[str(r.key[0])] for r in rows)
        compare("p95", "p95 by model", lambda: store.percentiles(window, by=["model"], quantiles=(0.95,)), PLAIN_P95)
        bound = rows[0].max_relative_error
        report.note(f"  p95 by model: {len(rows)} groups; error bound {bound:.0%}, worst seen {worst:.3%} off exact")


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    parser = _timing.parser(__doc__)
    parser.add_argument("--n", type=int, help="number of calls (default 1,000,000; --quick 20,000)")
    parser.add_argument("--repeat", type=int, help="timed runs per query (default 15; --quick 5)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    report = Report(__file__, args)
    n = args.n or (20_000 if args.quick else 1_000_000)
    repeat = args.repeat or (5 if args.quick else 15)
    name = f"tt_bench_pg_{uuid.uuid4().hex[:10]}"
    url = args.admin_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        server = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        conn.execute(f'CREATE DATABASE "{name}"')
    report.note(f"PostgreSQL {server}, {n:,} calls over {SPAN.days} days (seed {args.seed}), medians (min-max)")
    try:
        store = PostgresStore.from_url(url)
        try:
            survivor = Survivor(url)
            bench_ingest(report, store, url, n, args.seed, survivor)
            with psycopg.connect(url) as conn:
                tables = ("hourly", "daily", "latency_daily", "latency_by_model", "dims")
                counts = [conn.execute(f"SELECT count(*) FROM tokentrail.{t}").fetchone()[0] for t in tables]  # type: ignore[index]
            report.note("  rollup rows: " + ", ".join(f"{t} {c:,}" for t, c in zip(tables, counts, strict=True)))
            bench_reports(report, store, url, repeat, survivor)
            if survivor.retries:
                report.note(f"  the server went away {survivor.retries} time(s); those steps were run again")
        finally:
            store.close()
    finally:
        Survivor(args.admin_url).run(lambda: drop_database(args.admin_url, name))
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
