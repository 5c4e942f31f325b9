"""Old SQLite migrations are frozen: a store migrated from an older schema equals one created fresh.

m003 rolls up the calls already stored with its own literal SQL, never the store's live rollup code, so it
runs on a bare `sqlite3` connection (none of the store's SQL functions or temporary tables) and still builds
exactly the schema and the rollups that the live write path keeps for a store created at the latest version.
"""

from __future__ import annotations

import shutil
import sqlite3
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from test_sqlite_store import random_calls, totals
from tokentrail.store import Filter
from tokentrail.store.migrations import LATEST, MIGRATIONS, migrate
from tokentrail.store.sqlite import SQLiteStore

_ADDED_BY = {
    2: ("meta",),
    3: ("rollup_hour", "rollup_day", "rollup_series_day", "hist_hour", "hist_day"),
}
"""The tables each migration after the first creates: dropping them takes a file back to before it."""

_ROLLUPS = (("rollup_hour", "kid"), ("rollup_day", "kid"), ("rollup_series_day", "sid"))


def _downgrade(path: Path, version: int) -> None:
    """Make `path` what a store at `version` holds: the same calls, without the later migrations' tables."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for number in range(version + 1, LATEST + 1):
            for table in _ADDED_BY[number]:
                conn.execute(f"DROP TABLE {table}")
        conn.execute(f"PRAGMA user_version = {version}")
    finally:
        conn.close()


def _cost(micro: int, pico: int, text: str | None) -> Decimal:
    total = Decimal(micro * 10**6 + pico).scaleb(-12)
    return total + sum((Decimal(p) for p in (text or "").split()), Decimal(0))


def _contents(path: Path) -> dict[str, Any]:
    """Everything in the file that reports read: the schema, every table's rows, the histograms' counts.

    Exact, except where only the order of additions differs: a rollup's cost text is compared as the decimal
    sum it stands for, and float sums of latencies to 9 significant digits.
    """
    conn = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {
            "user_version": conn.execute("PRAGMA user_version").fetchone()[0],
            "schema": conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name"
            ).fetchall(),
        }
        for table in ("series", "kseries", "hseries", "calls", "meta"):
            out[table] = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
        for table, key in _ROLLUPS:
            rows = []
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY period, {key}"):
                cols = [d[0] for d in conn.execute(f"SELECT * FROM {table} LIMIT 0").description]
                named = dict(zip(cols, row, strict=True))
                named["cost"] = _cost(named.pop("cost_micro"), named.pop("cost_pico"), named.pop("cost_text"))
                for name in ("duration_ms_sum", "ttft_ms_sum"):
                    named[name] = float(f"{named[name]:.9g}")
                rows.append(named)
            out[table] = rows
        for table in ("hist_hour", "hist_day"):
            out[table] = [
                (period, hid, metric, lo, zlib.decompress(counts))
                for period, hid, metric, lo, counts in conn.execute(
                    f"SELECT period, hid, metric, lo, counts FROM {table} ORDER BY period, hid, metric"
                )
            ]
        return out
    finally:
        conn.close()


def test_every_migration_after_the_first_is_undone_by_dropping_its_tables() -> None:
    # The comparison below takes a fresh file back to each older version; a new migration must say what it adds.
    assert sorted(_ADDED_BY) == list(range(2, LATEST + 1))
    assert len(MIGRATIONS) == LATEST


@pytest.mark.parametrize("n_calls", [0, 3_000])
@pytest.mark.parametrize("version", range(1, LATEST))
def test_a_store_migrated_from_an_older_schema_equals_one_created_fresh(
    tmp_path: Path, version: int, n_calls: int
) -> None:
    calls = random_calls(n_calls, seed=11)  # late arrivals, unpriced and inexact costs, missing latencies
    fresh_path, old_path = tmp_path / "fresh.db", tmp_path / "old.db"
    fresh = SQLiteStore(str(fresh_path))
    for i in range(0, len(calls), 250):  # batches, so the live write path merges into rows it already wrote
        fresh.write(calls[i : i + 250] + calls[max(0, i - 40) : i])
    fresh.meta_put("budgets", "daily", "5")
    fresh.close()
    shutil.copyfile(fresh_path, old_path)
    _downgrade(old_path, version)

    conn = sqlite3.connect(old_path, isolation_level=None)  # bare: no store functions, no temporary tables
    try:
        assert migrate(conn, str(old_path)) == version
    finally:
        conn.close()
    migrated = _contents(old_path)
    expected = _contents(fresh_path)
    if version < 2:  # m002's table starts empty
        expected["meta"] = []
    assert migrated == expected
    assert sum(r["calls"] for r in migrated["rollup_day"]) == len(migrated["calls"])

    old, fresh = SQLiteStore(str(old_path)), SQLiteStore(str(fresh_path))
    try:
        for by in ((), ("model",), ("agent", "environment")):
            assert totals(old.aggregate(Filter(), by=by, bucket="day")) == totals(
                fresh.aggregate(Filter(), by=by, bucket="day")
            )
            for metric in ("duration_ms", "ttft_ms"):
                got = old.percentiles(Filter(), by=by, metric=metric, quantiles=(0.5, 0.95))
                assert got == fresh.percentiles(Filter(), by=by, metric=metric, quantiles=(0.5, 0.95))
    finally:
        old.close()
        fresh.close()
