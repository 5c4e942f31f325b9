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

import sqlite3
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
    stored are rolled up here.
    """
    from .sqlite import rebuild_rollups  # the same SQL the store uses after a delete

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
    rebuild_rollups(conn, None)


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
