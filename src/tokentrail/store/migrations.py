"""Versioned schema of the SQLite store: each migration once, in order, in one transaction with its version.

The version is the database's `PRAGMA user_version` (0 for a blank file). `migrate` takes the write lock
(`BEGIN IMMEDIATE`), reads the version again under it — so two processes opening a new file at once
migrate it once — applies the missing migrations and records the new version in the same transaction:
a crash leaves the file at the old version or the new one, never in between. A file written by a newer
tokentrail is refused with `SchemaVersionError` rather than misread.

Layout (all times are integer microseconds since the epoch, UTC):

- `calls`: one row per Call. The low-cardinality dimensions (provider, model, response model, operation,
  agent, project, environment, git branch, finish reason, success) are numbered once in `series` and
  the row keeps the number (`sid`); what reports sum or filter on has a column; the rest of the Call is a
  JSON array in `extra` (`sqlite.EXTRA_FIELDS`). `cost` is integer pico-dollars, or the exact decimal
  text when that is not exact, or NULL when unpriced.
- `kseries` numbers each (provider, model, agent, success) and `hseries` each (provider, model, success);
  every series row names its `kid` and `hid`.
- `rollup_hour` / `rollup_day`: per UTC hour (day) and `kid`, every sum `Totals` needs — small, for the
  common questions (totals, by model, by agent, by provider).
- `rollup_series_day`: per UTC day and `sid`, the same sums — for questions on the other dimensions.
- `hist_hour` / `hist_day`: per UTC hour (day), `hid` and metric (0 = duration_ms, 1 = ttft_ms), a latency
  histogram packed as (lowest bin, zlib of little-endian 64-bit counts) — see `_sql.HistSum`.
- `meta`: shared key/value state (budgets, alert cooldowns).
"""

from __future__ import annotations

import math
import sqlite3
import zlib
from collections.abc import Callable

from ..errors import SchemaVersionError

__all__ = ["LATEST", "MIGRATIONS", "migrate", "schema_version"]

_TOTALS_COLUMNS = """
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cache_read_tokens INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL,
    estimated_calls INTEGER NOT NULL,
    unpriced_calls INTEGER NOT NULL,
    cost_micro INTEGER NOT NULL,
    cost_pico INTEGER NOT NULL,
    cost_text TEXT,
    timed_calls INTEGER NOT NULL,
    duration_ms_sum REAL NOT NULL,
    timed_output_tokens INTEGER NOT NULL,
    ttft_calls INTEGER NOT NULL,
    ttft_ms_sum REAL NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL
"""


def m001_create_calls(conn: sqlite3.Connection) -> None:
    """Why: the store's reason to exist — every Call, deduplicated on `id` and on a non-null `response_id`.

    The table stays lean so ingest is fast: three indexes only (time for windows and ordering, the two
    uniqueness rules), dimensions as a small series number, rarely queried fields packed in `extra`.
    """
    conn.execute(
        """CREATE TABLE series (
            sid INTEGER PRIMARY KEY,
            provider TEXT, model TEXT NOT NULL, response_model TEXT, operation TEXT NOT NULL, agent TEXT,
            project TEXT, environment TEXT, git_branch TEXT, finish_reason TEXT, success INTEGER NOT NULL,
            kid INTEGER NOT NULL, hid INTEGER NOT NULL
        )"""
    )
    conn.execute(
        "CREATE TABLE kseries (kid INTEGER PRIMARY KEY, provider TEXT, model TEXT NOT NULL, agent TEXT, "
        "success INTEGER NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE hseries (hid INTEGER PRIMARY KEY, provider TEXT, model TEXT NOT NULL, success INTEGER NOT NULL)"
    )
    conn.execute(
        """CREATE TABLE calls (
            started_at INTEGER NOT NULL,
            sid INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cache_read_tokens INTEGER NOT NULL,
            cache_write_tokens INTEGER NOT NULL,
            reasoning_tokens INTEGER NOT NULL,
            tokens_estimated INTEGER NOT NULL,
            cost,
            duration_ms REAL,
            ttft_ms REAL,
            id TEXT NOT NULL,
            response_id TEXT,
            "user" TEXT,
            session TEXT,
            labels TEXT,
            extra TEXT NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX calls_started_at ON calls (started_at)")
    conn.execute("CREATE UNIQUE INDEX calls_id ON calls (id)")
    conn.execute("CREATE UNIQUE INDEX calls_response_id ON calls (response_id) WHERE response_id IS NOT NULL")


def m002_create_meta(conn: sqlite3.Connection) -> None:
    """Why: budgets and alert cooldowns must be seen by every process that writes to the same file."""
    conn.execute(
        "CREATE TABLE meta (namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
        "PRIMARY KEY (namespace, key)) WITHOUT ROWID"
    )


def m003_create_rollups(conn: sqlite3.Connection) -> None:
    """Why: summaries and percentiles over a month of a million calls must answer in milliseconds.

    Sums per hour and day by (provider, model, agent, success), per day by series, and latency histograms
    per hour and day by (provider, model, success), all kept in the write transaction. Rows already
    stored are rolled up here, by the frozen SQL below (`_M003_*`): never by the store's live rollup code,
    which may change after this migration has shipped.
    """
    for table, key in (("rollup_hour", "kid"), ("rollup_day", "kid"), ("rollup_series_day", "sid")):
        conn.execute(
            f"CREATE TABLE {table} (period INTEGER NOT NULL, {key} INTEGER NOT NULL, {_TOTALS_COLUMNS}, "
            f"PRIMARY KEY (period, {key})) WITHOUT ROWID"
        )
    for table in ("hist_hour", "hist_day"):
        conn.execute(
            f"CREATE TABLE {table} (period INTEGER NOT NULL, hid INTEGER NOT NULL, metric INTEGER NOT NULL, "
            "lo INTEGER NOT NULL, counts BLOB NOT NULL, PRIMARY KEY (period, hid, metric)) WITHOUT ROWID"
        )
    _m003_roll_up(conn)


# --- m003's rollup of the rows already stored: frozen ------------------------------------------------
#
# The SQL the store ran for this in version 3 (`sqlite.rebuild_rollups(conn, None)`), copied as literal text
# with the constants of that day written out: hours and days are periods of microseconds shifted by
# 100,000 days so integer division floors negative times too; a latency's histogram bin is
# ceil(ln(ms) * 1/ln(1.02)) clamped to [-999, 1100], and -1000 holds 0 ms. The calls are taken 7 whole UTC
# days at a time, so every hour and day is summed by one statement: the tables start empty and no row is ever
# merged, hence plain INSERTs (the store's `ON CONFLICT … tt_decsum(…)` merge is not needed). The temporary
# table has a name of its own. Do not edit: a change to the rollups is a new migration.

_M003_DAY_US = 86_400_000_000
_M003_DELTA_TABLE = (
    "CREATE TEMP TABLE m003_delta (period INTEGER, sid INTEGER, calls, input_tokens, output_tokens, "
    "cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated_calls, unpriced_calls, cost_micro, "
    "cost_pico, cost_text, timed_calls, duration_ms_sum, timed_output_tokens, ttft_calls, ttft_ms_sum, first_at, "
    "last_at)"
)
_M003_DELTA = (
    "INSERT INTO m003_delta SELECT ((c.started_at + 8640000000000000) / 3600000000 * 3600000000 - 8640000000000000), "
    "c.sid, count(*), sum(c.input_tokens), sum(c.output_tokens), sum(c.cache_read_tokens), sum(c.cache_write_tokens), "
    "sum(c.reasoning_tokens), sum(c.tokens_estimated), sum(c.cost IS NULL), "
    "ifnull(sum(CASE WHEN typeof(c.cost) = 'integer' THEN c.cost / 1000000 END), 0), "
    "ifnull(sum(CASE WHEN typeof(c.cost) = 'integer' THEN c.cost % 1000000 END), 0), "
    "group_concat(CASE WHEN typeof(c.cost) = 'text' THEN c.cost END, ' '), count(c.duration_ms), "
    "total(c.duration_ms), ifnull(sum(CASE WHEN c.duration_ms IS NOT NULL THEN c.output_tokens END), 0), "
    "count(c.ttft_ms), total(c.ttft_ms), min(c.started_at), max(c.started_at) "
    "FROM calls c WHERE c.started_at >= ? AND c.started_at < ? GROUP BY 1, 2"
)
_M003_ROLLUP_COLUMNS = (
    "calls, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, "
    "estimated_calls, unpriced_calls, cost_micro, cost_pico, cost_text, timed_calls, duration_ms_sum, "
    "timed_output_tokens, ttft_calls, ttft_ms_sum, first_at, last_at"
)
_M003_ROLLUP_SUMS = (
    "sum(d.calls), sum((1 - s.success) * d.calls), sum(d.input_tokens), sum(d.output_tokens), "
    "sum(d.cache_read_tokens), sum(d.cache_write_tokens), sum(d.reasoning_tokens), sum(d.estimated_calls), "
    "sum(d.unpriced_calls), sum(d.cost_micro), sum(d.cost_pico), group_concat(d.cost_text, ' '), "
    "sum(d.timed_calls), total(d.duration_ms_sum), sum(d.timed_output_tokens), sum(d.ttft_calls), "
    "total(d.ttft_ms_sum), min(d.first_at), max(d.last_at)"
)
_M003_ROLLUPS = (
    f"INSERT INTO rollup_hour (period, kid, {_M003_ROLLUP_COLUMNS}) "
    "SELECT ((d.period + 8640000000000000) / 3600000000 * 3600000000 - 8640000000000000), s.kid, "
    f"{_M003_ROLLUP_SUMS} FROM m003_delta d JOIN series s ON s.sid = d.sid GROUP BY 1, 2",
    f"INSERT INTO rollup_day (period, kid, {_M003_ROLLUP_COLUMNS}) "
    "SELECT ((d.period + 8640000000000000) / 86400000000 * 86400000000 - 8640000000000000), s.kid, "
    f"{_M003_ROLLUP_SUMS} FROM m003_delta d JOIN series s ON s.sid = d.sid GROUP BY 1, 2",
    f"INSERT INTO rollup_series_day (period, sid, {_M003_ROLLUP_COLUMNS}) "
    "SELECT ((d.period + 8640000000000000) / 86400000000 * 86400000000 - 8640000000000000), d.sid, "
    f"{_M003_ROLLUP_SUMS} FROM m003_delta d JOIN series s ON s.sid = d.sid GROUP BY 1, 2",
)
_M003_HIST_BINS = (
    "SELECT p, s.hid, metric, b, count(*) FROM ("
    "SELECT ((c.started_at + 8640000000000000) / 3600000000 * 3600000000 - 8640000000000000) AS p, c.sid AS sid, "
    "0 AS metric, (CASE WHEN c.duration_ms > 0 THEN max(-999, min(1100, "
    "CAST(ceil(ln(c.duration_ms) * 50.4983497918439) AS INTEGER))) ELSE -1000 END) AS b "
    "FROM calls c WHERE c.started_at >= ? AND c.started_at < ? AND c.duration_ms IS NOT NULL "
    "UNION ALL "
    "SELECT ((c.started_at + 8640000000000000) / 3600000000 * 3600000000 - 8640000000000000) AS p, c.sid AS sid, "
    "1 AS metric, (CASE WHEN c.ttft_ms > 0 THEN max(-999, min(1100, "
    "CAST(ceil(ln(c.ttft_ms) * 50.4983497918439) AS INTEGER))) ELSE -1000 END) AS b "
    "FROM calls c WHERE c.started_at >= ? AND c.started_at < ? AND c.ttft_ms IS NOT NULL"
    ") x JOIN series s ON s.sid = x.sid GROUP BY 1, 2, 3, 4"
)
_M003_HIST_INSERT = "INSERT INTO hist_{level} (period, hid, metric, lo, counts) VALUES (?, ?, ?, ?, ?)"


def _m003_roll_up(conn: sqlite3.Connection) -> None:
    """Fill m003's new tables from the calls already stored, 7 whole UTC days per pass."""
    try:
        conn.execute("SELECT ln(2.0), ceil(0.5)").fetchone()
    except sqlite3.OperationalError:  # SQLite built without its math functions
        conn.create_function("ln", 1, math.log, deterministic=True)
        conn.create_function("ceil", 1, math.ceil, deterministic=True)
    lo, hi = conn.execute("SELECT min(started_at), max(started_at) FROM calls").fetchone()
    if lo is None:
        return
    conn.execute(_M003_DELTA_TABLE)  # in the migration's transaction: a failure rolls it back too
    week = 7 * _M003_DAY_US
    for start in range(lo // _M003_DAY_US * _M003_DAY_US, hi + 1, week):
        span = (start, start + week)
        conn.execute(_M003_DELTA, span)
        for sql in _M003_ROLLUPS:
            conn.execute(sql)
        conn.execute("DELETE FROM m003_delta")
        hours: dict[tuple[int, int, int], dict[int, int]] = {}
        days: dict[tuple[int, int, int], dict[int, int]] = {}
        for hour, hid, metric, b, n in conn.execute(_M003_HIST_BINS, span * 2):
            hours.setdefault((hour, hid, metric), {})[b] = n
            day = days.setdefault((hour // _M003_DAY_US * _M003_DAY_US, hid, metric), {})
            day[b] = day.get(b, 0) + n
        for level, hists in (("hour", hours), ("day", days)):
            rows = [(*key, *_m003_pack(bins)) for key, bins in hists.items()]
            conn.executemany(_M003_HIST_INSERT.format(level=level), rows)
    conn.execute("DROP TABLE temp.m003_delta")


def _m003_pack(bins: dict[int, int]) -> tuple[int, bytes]:
    """A histogram as version 3 stores it: (lowest bin, zlib level 1 of little-endian 64-bit counts)."""
    lo = min(bins)
    counts = b"".join(bins.get(b, 0).to_bytes(8, "little") for b in range(lo, max(bins) + 1))
    return lo, zlib.compress(counts, 1)


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    m001_create_calls,
    m002_create_meta,
    m003_create_rollups,
)
LATEST = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file (0 for a blank one)."""
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def check_version(version: int, path: str) -> None:
    """Raise `SchemaVersionError` if `version` is newer than this tokentrail knows."""
    if version > LATEST:
        raise SchemaVersionError(
            f"SQLite store {path!r} has schema version {version}, newer than this tokentrail knows "
            f"(version {LATEST}); upgrade tokentrail to read it"
        )


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the file to the latest schema; returns the version it had.

    Args:
        conn: A connection in autocommit mode (`isolation_level=None`).
        path: The file, for messages.

    Raises:
        SchemaVersionError: the file was written by a newer tokentrail.
    """
    found = schema_version(conn)
    check_version(found, path)
    if found == LATEST:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(conn)  # again, under the write lock: another process may have migrated
        check_version(found, path)
        for number, step in enumerate(MIGRATIONS[found:], start=found + 1):
            step(conn)
            conn.execute(f"PRAGMA user_version = {int(number)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
