"""Report latency at 1 M and 10 M calls: `tokentrail.summary/breakdown/performance` next to plain SQL.

    python bench/bench_reports.py [--quick] [--json] [--sizes 1000000,10000000] [--stores sqlite,postgres]

For each size, a store holds that many calls from `bench/_data.py` over 30 days, and the same rows sit
in a plain table indexed on `started_at` (integer microseconds, REAL cost in SQLite; timestamptz and
numeric in PostgreSQL). Timed, warm (one run first), median and min-max of several runs:

- 30-day summary: `tokentrail.summary("30d", store=...)` vs one `GROUP BY model` over the window;
- breakdown by model x agent: `tokentrail.breakdown(["model", "agent"], period="30d", store=...)`
  vs `GROUP BY model, agent`;
- p95 by model: `tokentrail.performance("model", period="30d", store=...)` (p50/p95/p99, averages) vs
  the p95 alone in SQL (`percentile_cont` in PostgreSQL; a window function in SQLite, which has none).

The generated databases are cached under `bench/out/` (SQLite files; PostgreSQL databases named
`tt_bench_reports_<size>_s<seed>_v<version>_<code>` on the local server), keyed by size, seed,
generator version and a hash of the store's source (a database written by other store code is never
reused), so only the first run pays for building them (10 M calls: several minutes). `--rebuild`
builds them again; `--drop-cache` removes them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import END, batches
from _timing import OUT, Report, parser, summarize, timed_runs

import tokentrail
from tokentrail.model import Call

SEED = 42
DATA_VERSION = 1
"""Bump when `_data.py` changes what it generates: cached databases of another version are rebuilt."""


def code_key(kind: str) -> str:
    """8 hex digits of the store's own source: a cached database written by other store code is not reused."""
    import hashlib

    folder = Path(tokentrail.__file__).parent / "store"
    names = {"sqlite": ("sqlite.py", "_sql.py", "migrations.py"), "postgres": ("postgres.py",)}[kind]
    digest = hashlib.sha256()
    for name in (*names, "base.py"):
        path = folder / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:8]


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SINCE_US = int((END - timedelta(days=30)).timestamp() * 1e6)
UNTIL_US = int(END.timestamp() * 1e6)

RAW_COLUMNS = (
    "started_at", "model", "agent", "user", "success", "tokens_estimated", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "duration_ms", "ttft_ms",
)  # fmt: skip
QUOTED_COLUMNS = ", ".join(f'"{c}"' for c in RAW_COLUMNS)
TOTALS_SQL = (
    "count(*), sum(NOT success), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), "
    "sum(cache_write_tokens), sum(reasoning_tokens), sum(tokens_estimated), sum(cost_usd IS NULL), sum(cost_usd), "
    "count(duration_ms), sum(duration_ms), sum(CASE WHEN duration_ms IS NOT NULL THEN output_tokens END), "
    "count(ttft_ms), sum(ttft_ms), min(started_at), max(started_at)"
)
SQLITE_WINDOW = "started_at >= ? AND started_at < ?"
SQLITE_SUMMARY = f"SELECT model, {TOTALS_SQL} FROM raw_calls WHERE {SQLITE_WINDOW} GROUP BY model"
SQLITE_BREAKDOWN = f"SELECT model, agent, {TOTALS_SQL} FROM raw_calls WHERE {SQLITE_WINDOW} GROUP BY model, agent"
SQLITE_P95 = f"""
SELECT model, duration_ms FROM (
  SELECT model, duration_ms, row_number() OVER (PARTITION BY model ORDER BY duration_ms) AS rn,
         count(*) OVER (PARTITION BY model) AS n
  FROM raw_calls WHERE {SQLITE_WINDOW} AND duration_ms IS NOT NULL)
WHERE rn = max(1, CAST(ceil(0.95 * n) AS INTEGER))"""
PG_TOTALS = (
    TOTALS_SQL.replace("sum(NOT success)", "count(*) FILTER (WHERE NOT success)")
    .replace("sum(tokens_estimated)", "count(*) FILTER (WHERE tokens_estimated)")
    .replace("sum(cost_usd IS NULL)", "count(*) FILTER (WHERE cost_usd IS NULL)")
)
PG_WINDOW = "started_at >= %s AND started_at < %s"
PG_SUMMARY = f"SELECT model, {PG_TOTALS} FROM raw_calls WHERE {PG_WINDOW} GROUP BY model"
PG_BREAKDOWN = f"SELECT model, agent, {PG_TOTALS} FROM raw_calls WHERE {PG_WINDOW} GROUP BY model, agent"
PG_P95 = (
    "SELECT model, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FROM raw_calls "
    f"WHERE {PG_WINDOW} AND duration_ms IS NOT NULL GROUP BY model"
)


def raw_row(c: Call) -> tuple[Any, ...]:
    return (int(c.started_at.timestamp() * 1e6), c.model, c.agent, c.user, c.success, c.tokens_estimated,
            c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens,
            None if c.cost_usd is None else float(c.cost_usd), c.duration_ms, c.ttft_ms)  # fmt: skip


def pg_row(c: Call) -> tuple[Any, ...]:
    return (c.started_at, c.model, c.agent, c.user, c.success, c.tokens_estimated, c.input_tokens,
            c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens, c.cost_usd,
            c.duration_ms, c.ttft_ms)  # fmt: skip


class SqliteTarget:
    """A cached SQLite store file and a plain-table file of the same calls."""

    kind = "sqlite"

    def __init__(self, n: int) -> None:
        key = f"{n}-s{SEED}-v{DATA_VERSION}-{code_key('sqlite')}"
        self.path = OUT / f"reports-{key}.db"
        self.raw_path = OUT / f"reports-raw-{key}.db"
        self.url = f"sqlite:///{self.path}"

    def cached(self) -> bool:
        return self.path.exists() and self.raw_path.exists()

    def drop(self) -> None:
        for p in OUT.glob(f"{self.path.stem}.db*"):
            p.unlink()
        for p in OUT.glob(f"{self.raw_path.stem}.db*"):
            p.unlink()

    def start(self) -> None:
        from tokentrail.store import open_store

        self.drop()
        OUT.mkdir(parents=True, exist_ok=True)
        self._building = self.path.with_suffix(".building")
        for p in OUT.glob(f"{self._building.name}*"):
            p.unlink()
        self._store = open_store(f"sqlite:///{self._building}")
        self._raw_building = self.raw_path.with_suffix(".building")
        self._raw_building.unlink(missing_ok=True)
        self._raw = sqlite3.connect(self._raw_building, isolation_level=None)
        self._raw.execute("PRAGMA journal_mode=OFF")
        self._raw.execute("PRAGMA synchronous=OFF")
        self._raw.execute(f"CREATE TABLE raw_calls ({QUOTED_COLUMNS})")
        self._insert = f"INSERT INTO raw_calls VALUES ({', '.join('?' * len(RAW_COLUMNS))})"

    def write(self, batch: list[Call]) -> None:
        self._store.write(batch)
        self._raw.execute("BEGIN")
        self._raw.executemany(self._insert, [raw_row(c) for c in batch])
        self._raw.execute("COMMIT")

    def finish(self) -> None:
        self._store.close()
        self._raw.execute("CREATE INDEX raw_calls_started_at ON raw_calls (started_at)")
        self._raw.execute("ANALYZE")
        self._raw.close()
        for p in OUT.glob(f"{self._building.name}*"):  # the store's -wal/-shm files, if it left any
            p.rename(OUT / p.name.replace(self._building.name, self.path.name))
        self._raw_building.rename(self.raw_path)

    def open(self) -> tuple[Any, Callable[[str], Callable[[], Any]]]:
        from tokentrail.store import open_store

        store = open_store(self.url)
        conn = sqlite3.connect(f"file:{self.raw_path}?mode=ro", uri=True)
        conn.create_function("ceil", 1, lambda x: -int(-x // 1), deterministic=True)

        def plain(sql: str) -> Callable[[], Any]:
            return lambda: conn.execute(sql, (SINCE_US, UNTIL_US)).fetchall()

        self._close = lambda: (store.close(), conn.close())
        return store, plain

    def close(self) -> None:
        self._close()


class PostgresTarget:
    """A cached PostgreSQL database holding the store and a plain `raw_calls` table of the same calls."""

    kind = "postgres"

    def __init__(self, n: int, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"tt_bench_reports_{n}_s{SEED}_v{DATA_VERSION}_{code_key('postgres')}"
        self.url = admin_url.rsplit("/", 1)[0] + f"/{self.name}"

    def cached(self) -> bool:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.name,)).fetchone():
                return False
        with psycopg.connect(self.url, autocommit=True) as conn:
            return bool(conn.execute("SELECT to_regclass('public.bench_done')").fetchone()[0])  # type: ignore[index]

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def start(self) -> None:
        import psycopg

        from tokentrail.store import open_store

        self.drop()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self._store = open_store(self.url)
        self._conn = psycopg.connect(self.url, autocommit=True)
        self._conn.execute(
            'CREATE TABLE raw_calls (started_at timestamptz NOT NULL, model text NOT NULL, agent text, "user" text, '
            "success boolean NOT NULL, tokens_estimated boolean NOT NULL, input_tokens bigint, output_tokens bigint, "
            "cache_read_tokens bigint, cache_write_tokens bigint, reasoning_tokens bigint, cost_usd numeric, "
            "duration_ms double precision, ttft_ms double precision)"
        )

    def write(self, batch: list[Call]) -> None:
        self._store.write(batch)
        with self._conn.cursor().copy(f"COPY raw_calls ({QUOTED_COLUMNS}) FROM STDIN") as copy:
            for c in batch:
                copy.write_row(pg_row(c))

    def finish(self) -> None:
        self._store.close()
        self._conn.execute("CREATE INDEX raw_calls_started_at ON raw_calls (started_at)")
        self._conn.execute("VACUUM ANALYZE")
        self._conn.execute("CREATE TABLE bench_done ()")
        self._conn.close()

    def open(self) -> tuple[Any, Callable[[str], Callable[[], Any]]]:
        import psycopg

        from tokentrail.store import open_store

        store = open_store(self.url)
        conn = psycopg.connect(self.url)
        conn.execute("SET TIME ZONE 'UTC'")
        params = (END - timedelta(days=30), END)

        def plain(sql: str) -> Callable[[], Any]:
            return lambda: conn.execute(sql, params).fetchall()

        self._close = lambda: (store.close(), conn.close())
        return store, plain

    def close(self) -> None:
        self._close()


def build(targets: list[Any], n: int, report: Report) -> list[Any]:
    """Build the targets not cached yet, in one pass over the generated calls; returns the ones that work."""
    todo = [t for t in targets if not t.cached()]
    if not todo:
        return targets
    failed = []
    start = time.perf_counter()
    for t in list(todo):
        try:
            t.start()
        except Exception as exc:
            report.text(f"report_summary_{t.kind}_{n}", f"{t.kind} {n:,}", f"error while building: {exc}")
            todo.remove(t)
            failed.append(t)
    for batch in batches(n, seed=SEED, days=30, size=50_000 if n >= 1_000_000 else 5_000):
        for t in list(todo):
            try:
                t.write(batch)
            except Exception as exc:  # e.g. the PostgreSQL server restarted under us: the others go on
                report.text(f"report_summary_{t.kind}_{n}", f"{t.kind} {n:,}", f"error while building: {exc}")
                todo.remove(t)
                failed.append(t)
    for t in todo:
        t.finish()
    if todo:
        kinds = ", ".join(t.kind for t in todo)
        report.note(f"  built {n:,} calls into {kinds} (and plain tables) in {time.perf_counter() - start:.0f} s")
    return [t for t in targets if t not in failed]


def measure(report: Report, target: Any, n: int, runs: int) -> None:
    store, plain = target.open()
    try:
        size = f"{n / 1e6:g} M" if n >= 1_000_000 else f"{n:,}"
        sql = (SQLITE_SUMMARY, SQLITE_BREAKDOWN, SQLITE_P95) if target.kind == "sqlite" else (
            PG_SUMMARY, PG_BREAKDOWN, PG_P95)  # fmt: skip
        name = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[target.kind]
        key = f"{target.kind}_{n}"
        ours: dict[str, Callable[[], Any]] = {
            "summary": lambda: tokentrail.summary("30d", store=store, now=END, tz="UTC"),
            "breakdown": lambda: tokentrail.breakdown(["model", "agent"], period="30d", store=store, now=END, tz="UTC"),
            "p95": lambda: tokentrail.performance("model", period="30d", store=store, now=END, tz="UTC"),
        }
        labels = {"summary": "30-day summary", "breakdown": "breakdown model × agent", "p95": "p95 by model"}
        for (what, fn), query in zip(ours.items(), sql, strict=True):
            ms = [s * 1000 for s in timed_runs(fn, runs)]
            report.add(f"report_{what}_{key}", summarize(ms, "ms", f"{name} {size}: {labels[what]} (tokentrail)"))
            plain_label = f"{name} {size}: {labels[what]} (plain SQL)"
            if what == "p95" and target.kind == "sqlite" and n >= 10_000_000:
                report.text(f"plain_{what}_{key}", plain_label, "not run: SQLite sorts all 10 M rows (minutes a run)")
                continue
            # Plain SQL scans every row of the window: seconds at 1 M on a busy machine, so fewer runs.
            ms = [s * 1000 for s in timed_runs(plain(query), min(runs, 5 if n < 10_000_000 else 3))]
            report.add(f"plain_{what}_{key}", summarize(ms, "ms", plain_label))
        calls = tokentrail.summary("30d", store=store, now=END, tz="UTC").totals.calls
        report.note(f"  {name} {size}: {calls:,} calls in the 30-day window")
    finally:
        target.close()


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--sizes", help="comma-separated call counts (default 1000000,10000000; 20000 with --quick)")
    p.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    p.add_argument("--pg-sizes", help="sizes for PostgreSQL (default: 1000000 only; 20000 with --quick)")
    p.add_argument("--pg-admin-url", default=PG_ADMIN)
    p.add_argument("--rebuild", action="store_true", help="build the cached databases again")
    p.add_argument("--drop-cache", action="store_true", help="remove the cached databases and stop")
    p.add_argument("--build-only", action="store_true", help="build what is not cached yet, measure nothing")
    p.add_argument(
        "--cached-only", action="store_true", help="measure what is cached; build nothing (say what is missing)"
    )
    args = p.parse_args()
    report = Report(__file__, args)
    sizes = [int(s) for s in (args.sizes or ("20000" if args.quick else "1000000,10000000")).split(",")]
    pg_sizes = [int(s) for s in (args.pg_sizes or ("20000" if args.quick else "1000000")).split(",")]
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    for n in sorted(set(sizes) | set(pg_sizes)):
        targets: list[Any] = []
        if "sqlite" in stores and n in sizes:
            if importlib.util.find_spec("tokentrail.store.sqlite") is None:
                report.text(f"report_summary_sqlite_{n}", f"SQLite {n:,}", "n/a: no tokentrail.store.sqlite here")
            else:
                targets.append(SqliteTarget(n))
        if "postgres" in stores and n in pg_sizes:
            why = pg_unavailable(args.pg_admin_url)
            if why:
                report.text(f"report_summary_postgres_{n}", f"PostgreSQL {n:,}", why)
            else:
                targets.append(PostgresTarget(n, args.pg_admin_url))
        if args.drop_cache:
            for t in targets:
                t.drop()
            continue
        if args.rebuild:
            for t in targets:
                t.drop()
        if args.cached_only:
            for t in [t for t in targets if not t.cached()]:
                why = f"not measured: no {n:,}-call database built yet (bench_reports.py --build-only)"
                report.text(f"report_summary_{t.kind}_{n}", f"{t.kind} {n:,}", why)
                targets.remove(t)
        targets = build(targets, n, report)
        if args.build_only:
            continue
        runs = 3 if args.quick else (9 if n <= 1_000_000 else 5)
        for t in targets:
            measure(report, t, n, runs)
    report.finish()


def pg_unavailable(admin_url: str) -> str | None:
    if importlib.util.find_spec("tokentrail.store.postgres") is None:
        return "n/a: no tokentrail.store.postgres here"
    try:
        import psycopg

        psycopg.connect(admin_url, connect_timeout=3).close()
    except Exception as exc:
        return f"n/a: PostgreSQL not reachable ({type(exc).__name__})"
    return None


if __name__ == "__main__":
    os.environ.setdefault("TOKENTRAIL_HOME", str(OUT / "home"))
    main()
    shutil.rmtree(OUT / "home", ignore_errors=True)
