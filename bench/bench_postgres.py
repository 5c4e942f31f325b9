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
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import _timing
import psycopg
from _timing import Report, summarize, timed_runs

from tokentrail.model import Call
from tokentrail.store.base import Filter
from tokentrail.store.postgres import PostgresStore

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
    envs, env_weights = zip(*ENVIRONMENTS, strict=True)
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


def bench_ingest(report: Report, store: PostgresStore, url: str, n: int, seed: int) -> None:
    seconds, sizes, stored = [], [], 0
    for batch in generate_calls(n, seed):
        t = time.perf_counter()
        stored += store.write(batch)
        seconds.append(time.perf_counter() - t)
        sizes.append(len(batch))
    assert stored == n, (stored, n)
    report.add("write_calls_per_s", summarize(chunk_rates(seconds, sizes), "calls/s", "store.write, batches of 1,000"))

    # The same rows, in the same batches, COPYed straight into an indexed table of the same shape.
    columns = ", ".join(f'"{f}"' for f in Call.__dataclass_fields__)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE raw_calls (LIKE tokentrail.calls INCLUDING ALL)")
        conn.execute("ALTER TABLE raw_calls DROP COLUMN dims_id")
        seconds, sizes = [], []
        for batch in generate_calls(n, seed):
            rows = [PostgresStore._row(0, c, 0)[1:-1] for c in batch]  # the store's own encoding of a row
            t = time.perf_counter()
            with conn.transaction(), conn.cursor().copy(f"COPY raw_calls ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            seconds.append(time.perf_counter() - t)
            sizes.append(len(rows))
        report.add(
            "copy_calls_per_s",
            summarize(chunk_rates(seconds, sizes), "calls/s", "bare COPY into an indexed table (raw ceiling)"),
        )
        conn.execute("VACUUM ANALYZE")


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


def bench_reports(report: Report, store: PostgresStore, url: str, repeat: int) -> None:
    window = Filter(since=END - timedelta(days=30), until=END)
    params = {"since": window.since, "until": window.until}
    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for key, name, via_store, sql in (
            ("summary", "30-day summary", lambda: store.aggregate(window), PLAIN_SUMMARY),
            ("breakdown", "breakdown by model x agent", lambda: store.aggregate(window, by=["model", "agent"]),
             PLAIN_BREAKDOWN),
            ("p95", "p95 by model", lambda: store.percentiles(window, by=["model"], quantiles=(0.95,)), PLAIN_P95),
        ):  # fmt: skip
            result = via_store()
            rows = conn.execute(sql, params).fetchall()
            report.add(
                f"{key}_store_ms", summarize([s * 1000 for s in timed_runs(via_store, repeat)], "ms", f"{name}: store")
            )
            plain = [s * 1000 for s in timed_runs(lambda sql=sql: conn.execute(sql, params).fetchall(), repeat)]
            report.add(f"{key}_sql_ms", summarize(plain, "ms", f"{name}: plain SQL, indexed raw table"))
            if key == "p95":
                exact = {r[0]: r[2] for r in rows}
                worst = max(abs(r.values[0] - exact[r.key[0]]) / exact[r.key[0]] for r in result)  # type: ignore[operator]
                bound = result[0].max_relative_error
                report.note(f"  p95 by model: {len(result)} groups; error bound {bound:.0%}, worst seen {worst:.3%}")
            else:
                assert sum(g.totals.calls for g in result) == sum(r[-17] for r in rows), name
                report.note(f"  {name}: {len(result)} groups, same call counts as plain SQL")


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
            bench_ingest(report, store, url, n, args.seed)
            with psycopg.connect(url) as conn:
                tables = ("hourly", "daily", "latency_daily", "latency_by_model", "dims")
                counts = [conn.execute(f"SELECT count(*) FROM tokentrail.{t}").fetchone()[0] for t in tables]  # type: ignore[index]
            report.note("  rollup rows: " + ", ".join(f"{t} {c:,}" for t, c in zip(tables, counts, strict=True)))
            bench_reports(report, store, url, repeat)
        finally:
            store.close()
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
