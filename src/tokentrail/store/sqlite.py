"""`sqlite:///path.db`: the default store — one file, WAL mode, many threads and processes, fast reports.

A batch is written in one transaction (`BEGIN IMMEDIATE`): its rows go in with `INSERT OR IGNORE` (a call
whose `id` or non-null `response_id` is stored already is skipped), and in the same transaction the rows
that were new — exactly those with a rowid above the largest before the insert — are folded, by SQL, into
rollups and latency histograms (layout in `migrations`). So reports over a million calls read a few
thousand rollup rows instead of the calls:

- `aggregate` on totals, `provider`, `model`, `agent` (and `success`) reads the small rollups: whole days,
  whole hours around them, raw rows for the partial hours at the edges. On the other built-in dimensions
  (project, environment, operation, …) it reads the daily series rollups for whole days and raw rows for
  the rest. Buckets in any zone whose offsets are whole hours (DST included) line up with those rollups;
  users, sessions, labels and half-hour zones read raw rows. Either way the result equals the memory
  store's (float sums of durations may differ in the last bits: floating-point addition depends on order).
- `percentiles` over more than `EXACT_PERCENTILES_UP_TO` values, filtered and grouped on `provider`/`model`
  only, come from the histograms (bins of ratio 1.02: within `LATENCY_MAX_RELATIVE_ERROR` = 1 %, and the
  row says so); everything else is computed exactly from raw rows in SQL (`max_relative_error == 0.0`).
- `delete` removes rows in batches and recomputes the rollups of the days it touched.

`sqlite:///:memory:` keeps everything in one in-memory database shared by the threads of this process
(one connection behind a lock). Files get one connection per concurrent user, a 30 s busy timeout, and
`synchronous=NORMAL` (a committed batch survives a crash of the process; a power cut may lose the last ones).
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from json import encoder as _jsonenc
from operator import attrgetter
from pathlib import Path
from typing import Any

from ..errors import ConfigError, StoreError, StoreUnavailableError, ValidationError
from ..model import MODALITY_FIELDS, Call
from ._py import bucket_start, check_quantiles
from ._sql import (
    BIN_SCALE,
    DAY_US,
    HIST_DIMS,
    HOUR_US,
    LATENCY_MAX_RELATIVE_ERROR,
    MAX_BIN,
    MIN_BIN,
    SERIES_DIMS,
    SHIFT_US,
    ZERO_BIN,
    HistSum,
    Segment,
    SqlFilter,
    aligned,
    cost_sum,
    from_us,
    group_order,
    hist_pack,
    hist_quantiles,
    offset_pieces,
    plan_segments,
    to_us,
    unit_expr,
)
from .base import BUCKETS, Bucket, Filter, Group, Metric, PercentileRow, Totals, check_dimension
from .migrations import migrate

__all__ = ["SQLiteStore", "rebuild_rollups"]

BUSY_TIMEOUT_S = 30.0
PAGE_ROWS = 1000
"""Rows fetched per query while streaming `calls()`."""

EXTRA_FIELDS = (
    "streamed", "cache_write_1h_tokens", "cost_usd", "input_cost_usd", "output_cost_usd", "cache_read_cost_usd",
    "cache_write_cost_usd", "currency", "price_source", "trace_id", "span_id", "parent_span_id", "error_type",
    "error_message", "retries", "prompt_hash", "response_hash", "prompt", "response", *MODALITY_FIELDS,
)  # fmt: skip
"""The fields kept in the `extra` JSON array, in order (decimals as exact text).

The per-modality counts come last and only when one is not 0, so a text-only call's row is no longer than
before they existed, and rows written before them read as 0: no schema change was needed.
"""
_EXTRA_DEFAULTS = tuple(0 if name in MODALITY_FIELDS else None for name in EXTRA_FIELDS)
_DECIMAL_EXTRAS = frozenset(range(2, 7))
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_MAX_PICO = 2**63 - 1
_SMALL_DIMS = frozenset(("provider", "model", "agent"))
"""Dimensions of the small rollups (with success): totals, by model, by agent, by provider."""
_SERIES_SET = frozenset(SERIES_DIMS)
_HIST_SET = frozenset(HIST_DIMS)
_KSERIES = ("provider", "model", "agent", "success")
_HSERIES = ("provider", "model", "success")
EXACT_PERCENTILES_UP_TO = 2_000
"""Percentiles over at most this many values are computed exactly even when histograms could answer."""
_SERIES_KEY = attrgetter(*SERIES_DIMS, "success")
_TOKENS = attrgetter("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
_EXTRA_TAIL = attrgetter(*EXTRA_FIELDS[7 : -len(MODALITY_FIELDS)])
_MODALITIES = attrgetter(*MODALITY_FIELDS)


def _json_encoder() -> Any:
    """A compact JSON encoder reused for every row (the C one when there is one: 3x faster than json.dumps)."""
    make = getattr(_jsonenc, "c_make_encoder", None)
    if make is not None:
        encode = make(None, None, _jsonenc.encode_basestring, None, ":", ",", False, False, False)
        return lambda value: "".join(encode(value, 0))
    return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False, allow_nan=False).encode


_to_json = _json_encoder()
_INSERT = (
    "INSERT OR IGNORE INTO calls (started_at, sid, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
    'reasoning_tokens, tokens_estimated, cost, duration_ms, ttft_ms, id, response_id, "user", session, labels, extra) '
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT_CALL = (
    "SELECT c.started_at, c.sid, c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, "
    'c.reasoning_tokens, c.tokens_estimated, c.duration_ms, c.ttft_ms, c.id, c.response_id, c."user", c.session, '
    "c.labels, c.extra FROM calls c"
)

# --- rollups ---------------------------------------------------------------------------------------
#
# A batch (or, after a delete, a span of days) is folded in three steps: its rows are summed by SQL per UTC
# hour and series into the temporary table `tt_delta`; `tt_delta` is added into the three rollup tables
# (INSERT … ON CONFLICT DO UPDATE SET x = x + excluded.x); and its latencies, binned by SQL, are added into
# the packed histograms of their hour and day.

_SUMS = (
    "calls", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
    "estimated_calls", "unpriced_calls", "cost_micro", "cost_pico", "cost_text", "timed_calls", "duration_ms_sum",
    "timed_output_tokens", "ttft_calls", "ttft_ms_sum", "first_at", "last_at",
)  # fmt: skip
_RAW_SUMS: tuple[str, ...] = (
    "count(*)", "sum(1 - s.success)", "sum(c.input_tokens)", "sum(c.output_tokens)", "sum(c.cache_read_tokens)",
    "sum(c.cache_write_tokens)", "sum(c.reasoning_tokens)", "sum(c.tokens_estimated)", "sum(c.cost IS NULL)",
    "ifnull(sum(CASE WHEN typeof(c.cost) = 'integer' THEN c.cost / 1000000 END), 0)",
    "ifnull(sum(CASE WHEN typeof(c.cost) = 'integer' THEN c.cost % 1000000 END), 0)",
    "group_concat(CASE WHEN typeof(c.cost) = 'text' THEN c.cost END, ' ')",
    "count(c.duration_ms)", "total(c.duration_ms)",
    "ifnull(sum(CASE WHEN c.duration_ms IS NOT NULL THEN c.output_tokens END), 0)",
    "count(c.ttft_ms)", "total(c.ttft_ms)", "min(c.started_at)", "max(c.started_at)",
)  # fmt: skip
_DELTA_COLUMNS = tuple(n for n in _SUMS if n != "errors")


def _sum_of(alias: str, name: str) -> str:
    if name == "cost_text":
        return f"group_concat({alias}.cost_text, ' ')"
    if name in ("first_at", "last_at"):
        return f"{'min' if name == 'first_at' else 'max'}({alias}.{name})"
    return f"{'total' if name.endswith('_ms_sum') else 'sum'}({alias}.{name})"


_ROLLUP_SUMS: tuple[str, ...] = tuple(_sum_of("r", n) for n in _SUMS)
_MERGE = ", ".join(
    f"{n} = min({n}, excluded.{n})" if n == "first_at"
    else f"{n} = max({n}, excluded.{n})" if n == "last_at"
    else f"{n} = CASE WHEN excluded.{n} IS NULL THEN {n} WHEN {n} IS NULL THEN excluded.{n} "
    f"ELSE tt_decsum({n} || ' ' || excluded.{n}) END" if n == "cost_text"
    else f"{n} = {n} + excluded.{n}"
    for n in _SUMS
)  # fmt: skip


def _bin(column: str) -> str:
    """SQL for the histogram bin of a latency column (`_sql.bin_of`)."""
    scaled = f"CAST(ceil(ln({column}) * {BIN_SCALE!r}) AS INTEGER)"
    return f"(CASE WHEN {column} > 0 THEN max({MIN_BIN}, min({MAX_BIN}, {scaled})) ELSE {ZERO_BIN} END)"


def _period(column: str, unit: int) -> str:
    return f"(({column} + {SHIFT_US}) / {unit} * {unit} - {SHIFT_US})"


_TEMP_DELTA = f"CREATE TEMP TABLE IF NOT EXISTS tt_delta (period INTEGER, sid INTEGER, {', '.join(_DELTA_COLUMNS)})"


def _delta_sql(where: str) -> str:
    sums = [x for n, x in zip(_SUMS, _RAW_SUMS, strict=True) if n != "errors"]
    return (
        f"INSERT INTO tt_delta SELECT {_period('c.started_at', HOUR_US)}, c.sid, {', '.join(sums)} "
        f"FROM calls c WHERE {where} GROUP BY 1, 2"
    )


def _upsert_sql(table: str, key: str, unit: int) -> str:
    sums = ["sum(d.calls)" if n == "calls" else "sum((1 - s.success) * d.calls)" if n == "errors" else _sum_of("d", n)
            for n in _SUMS]  # fmt: skip
    key_expr = "s.kid" if key == "kid" else "d.sid"
    return (
        f"INSERT INTO {table} (period, {key}, {', '.join(_SUMS)}) SELECT {_period('d.period', unit)}, {key_expr}, "
        f"{', '.join(sums)} FROM tt_delta d JOIN series s ON s.sid = d.sid WHERE 1 GROUP BY 1, 2 "
        f"ON CONFLICT (period, {key}) DO UPDATE SET {_MERGE}"
    )


_UPSERTS = (
    _upsert_sql("rollup_hour", "kid", HOUR_US),
    _upsert_sql("rollup_day", "kid", DAY_US),
    _upsert_sql("rollup_series_day", "sid", DAY_US),
)


def _hist_delta_sql(where: str) -> str:
    parts = [
        f"SELECT {_period('c.started_at', HOUR_US)} AS p, c.sid AS sid, {metric} AS metric, {_bin('c.' + column)} AS b "
        f"FROM calls c WHERE {where} AND c.{column} IS NOT NULL"
        for metric, column in ((0, "duration_ms"), (1, "ttft_ms"))
    ]
    return (
        f"SELECT p, s.hid, metric, b, count(*) FROM ({' UNION ALL '.join(parts)}) x "
        "JOIN series s ON s.sid = x.sid GROUP BY 1, 2, 3, 4"
    )


_Hists = dict[tuple[int, int, int], dict[int, int]]


def _fold(conn: sqlite3.Connection, where: str, params: Sequence[Any], hours: _Hists | None = None) -> None:
    """Add the calls selected by `where` (on `calls c`) to every rollup and histogram.

    `hours` are the latency histograms of exactly those calls per (hour, hid, metric), when the caller has
    them; otherwise SQL bins the calls' latencies.
    """
    conn.execute(_delta_sql(where), params)
    for sql in _UPSERTS:
        conn.execute(sql)
    conn.execute("DELETE FROM tt_delta")
    if hours is None:
        hours = {}
        for hour, hid, metric, b, n in conn.execute(_hist_delta_sql(where), (*params, *params)):
            bins = hours.get((hour, hid, metric))
            if bins is None:
                bins = hours[(hour, hid, metric)] = {}
            bins[b] = n
    days: dict[tuple[int, int, int], HistSum] = {}
    for (hour, hid, metric), bins in hours.items():
        key = (hour // DAY_US * DAY_US, hid, metric)
        if key not in days:
            days[key] = HistSum()
        days[key].add_bins(bins)
    for level, added in (("hour", hours), ("day", days)):
        periods = sorted({k[0] for k in added})
        have: dict[tuple[int, int, int], tuple[int, bytes]] = {}
        for i in range(0, len(periods), 500):
            chunk = periods[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT period, hid, metric, lo, counts FROM hist_{level} WHERE period IN ({marks})"
            for period, hid, metric, lo, counts in conn.execute(sql, chunk):
                have[(period, hid, metric)] = (lo, zlib.decompress(counts))
        rows = []
        for key, delta in added.items():
            old = have.get(key)
            if old is None and isinstance(delta, dict):
                lo, packed = hist_pack(delta)
                rows.append((*key, lo, zlib.compress(packed, 1)))
                continue
            total = delta if isinstance(delta, HistSum) else HistSum()
            if isinstance(delta, dict):
                total.add_bins(delta)
            if old is not None:
                total.add(*old)
            summed = total.packed()
            if summed is not None:
                rows.append((*key, summed[0], zlib.compress(summed[1], 1)))
        sql = f"INSERT OR REPLACE INTO hist_{level} (period, hid, metric, lo, counts) VALUES (?, ?, ?, ?, ?)"
        conn.executemany(sql, rows)


def _ranges(starts: Sequence[int], unit: int) -> list[tuple[int, int]]:
    """Period starts as maximal contiguous [lo, hi) ranges."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(starts)):
        if out and out[-1][1] == s:
            out[-1] = (out[-1][0], s + unit)
        else:
            out.append((s, s + unit))
    return out


def rebuild_rollups(conn: sqlite3.Connection, days: Sequence[int] | None) -> None:
    """Recompute every rollup of the given UTC day starts (µs) from the raw rows; None for all days.

    Runs inside the caller's transaction.
    """
    if days is None:
        for table in ("rollup_hour", "rollup_day", "rollup_series_day", "hist_hour", "hist_day"):
            conn.execute(f"DELETE FROM {table}")
        lo, hi = conn.execute("SELECT min(started_at), max(started_at) FROM calls").fetchone()
        if lo is None:
            return
        ranges = [(a, min(a + 7 * DAY_US, hi + 1)) for a in range(lo, hi + 1, 7 * DAY_US)]
    else:
        ranges = _ranges(days, DAY_US)
        for a, b in ranges:
            for table in ("rollup_hour", "rollup_day", "rollup_series_day", "hist_hour", "hist_day"):
                conn.execute(f"DELETE FROM {table} WHERE period >= ? AND period < ?", (a, b))
    for a, b in ranges:
        _fold(conn, "c.started_at >= ? AND c.started_at < ?", (a, b))


_OUTAGE_CODES = frozenset((
    3, 5, 6, 7, 8,  # SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_READONLY
    9, 10, 11, 13,  # SQLITE_INTERRUPT, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL
    14, 15, 26,  # SQLITE_CANTOPEN, SQLITE_PROTOCOL, SQLITE_NOTADB
))  # fmt: skip
"""SQLite result codes about the file, the disk or the locks, not about the data being written. Literal numbers
(SQLite's stable C API values): Python 3.10's `sqlite3` module does not name them."""


def _error_class(e: sqlite3.Error) -> type[StoreError]:
    """`StoreUnavailableError` when SQLite's result code is about the file, disk or locks; else `StoreError`."""
    code = getattr(e, "sqlite_errorcode", None)
    if code is None:  # a connection used after close, and the like: not about the data either
        return StoreUnavailableError if isinstance(e, sqlite3.OperationalError) else StoreError
    return StoreUnavailableError if code & 0xFF in _OUTAGE_CODES else StoreError


def _decsum(text: str | None) -> str | None:
    """SQL function: the exact sum of space-separated decimals (keeps rollup cost texts short)."""
    return None if text is None else str(sum((Decimal(p) for p in text.split()), Decimal(0)))


def _label(labels: str | None, path: str) -> str | None:
    """SQL function: the label at `path` (`$."key"`) of a labels JSON text, NUL characters kept.

    SQLite's `json_extract` ends a text at its first NUL ('a\\x00b' would read as 'a'), so `label_sql` sends
    the rare rows whose labels hold one here.
    """
    value = json.loads(labels).get(path[3:-1]) if labels else None
    return value if value is None or type(value) is str else json.dumps(value)


def _prepare(conn: sqlite3.Connection) -> None:
    """Functions and the temporary table every connection needs; `ln`/`ceil` only if SQLite lacks them."""
    conn.create_function("tt_decsum", 1, _decsum, deterministic=True)
    conn.create_function("tt_label", 2, _label, deterministic=True)
    try:
        conn.execute("SELECT ln(2.0), ceil(0.5)").fetchone()
    except sqlite3.OperationalError:
        conn.create_function("ln", 1, math.log, deterministic=True)
        conn.create_function("ceil", 1, math.ceil, deterministic=True)
    conn.execute(_TEMP_DELTA)


def _rollback(conn: sqlite3.Connection) -> None:
    """Undo the open transaction without hiding the error that got here.

    On a full disk or an I/O error SQLite may already have rolled the transaction back; a plain `ROLLBACK`
    then fails with "cannot rollback - no transaction is active", and that error would replace the real one
    ("database or disk is full").
    """
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:  # the error being raised says what went wrong; this one would only hide it
        pass


class SQLiteStore:
    """Calls in one SQLite file (or in memory), with rollups kept in step for fast reports.

    Example:
        >>> store = SQLiteStore.from_url("sqlite:///:memory:")
        >>> store.write([Call(id="c1", started_at=from_us(0), model="gpt-4o")])
        1
        >>> store.close()
    """

    def __init__(self, path: str, *, url: str | None = None) -> None:
        """Open (creating if needed) the store at `path` (`:memory:` for an in-memory one).

        Raises:
            StoreError: the file or its folder cannot be created, opened or written.
            SchemaVersionError: the file was written by a newer tokentrail.
        """
        self.url = url or f"sqlite:///{path}"
        self.path = path
        self._memory = path == ":memory:"
        self._lock = threading.Lock()  # guards the pool (and, in memory, the one connection)
        self._write_lock = threading.Lock()  # one writer at a time in this process (SQLite allows one anyway)
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._closed = False
        self._sids: dict[tuple[Any, ...], int] = {}
        self._dims: dict[int, tuple[Any, ...]] = {}
        self._hids: dict[int, int] = {}
        if not self._memory:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreUnavailableError(
                    f"cannot create the folder of SQLite store {path!r}: {e}; choose a writable path"
                ) from e
        try:
            with self._connection() as conn:
                if not self._memory:
                    conn.execute("PRAGMA journal_mode = WAL")
                migrate(conn, path)
        except sqlite3.Error as e:
            self.close()
            raise _error_class(e)(
                f"cannot open SQLite store {path!r}: {e}; check that the path is a writable file"
            ) from e
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """Open `sqlite:///absolute/path.db`, `sqlite://relative/path.db`, `sqlite://~/x.db` or `sqlite:///:memory:`.

        The path rule is `store.location`'s; `url` becomes the canonical `sqlite:///absolute/path.db`.

        Raises:
            ConfigError: the URL does not name a file.
            StoreError: the store cannot be opened.
        """
        from .location import locate

        if type(url) is not str or not url.lower().startswith("sqlite://"):
            raise ConfigError(
                f"SQLite store URL {url!r} is not valid: expected sqlite:///absolute/path.db, "
                "sqlite://relative/path.db or sqlite:///:memory:"
            )
        location = locate(url)
        if location.path is None:
            return cls(":memory:", url=location.url)
        return cls(str(location.path), url=location.url)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.url!r})"

    # --- connections --------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False, cached_statements=256
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA temp_store = MEMORY")
            if not self._memory:
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA cache_size = -65536")
                # Checkpoint every ~40 MB of WAL rather than 4 MB: a page rewritten by many batches is copied
                # back to the database once per checkpoint, and the fsyncs are ten times rarer.
                conn.execute("PRAGMA wal_autocheckpoint = 10000")
                conn.execute("PRAGMA journal_size_limit = 67108864")
            _prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation: this thread's own for files, the shared one (locked) in memory."""
        if self._memory:
            with self._lock:
                if self._closed:
                    raise StoreError(f"SQLite store {self.url!r} is closed")
                if not self._all:
                    self._all.append(self._connect())
                yield self._all[0]
            return
        with self._lock:
            if self._closed:
                raise StoreError(f"SQLite store {self.url!r} is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
            with self._lock:
                self._all.append(conn)
        try:
            yield conn
        finally:
            if conn.in_transaction:  # an interrupted operation: never hand out a connection mid-transaction
                conn.rollback()
            with self._lock:
                if self._closed:
                    conn.close()
                else:
                    self._idle.append(conn)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as e:
            raise _error_class(e)(f"SQLite store {self.path!r} could not {action}: {e}") from e

    # --- series -------------------------------------------------------------------------------------

    def _load_series(self, conn: sqlite3.Connection) -> None:
        for row in conn.execute(f"SELECT sid, hid, {', '.join(SERIES_DIMS)}, success FROM series"):
            key = (*row[2:-1], bool(row[-1]))
            self._sids[key] = row[0]
            self._dims[row[0]] = key
            self._hids[row[0]] = row[1]

    def _resolve(self, key: tuple[Any, ...]) -> int:
        """The series number of `key`, creating it (under the write lock) if it is new."""
        params = (*key[:-1], int(key[-1]))
        with self._write_lock, self._connection() as conn, self._errors("record a new series"):
            conn.execute("BEGIN IMMEDIATE")
            try:
                sid = _number(conn, "series", "sid", (*SERIES_DIMS, "success"), params, lambda: {
                    "kid": _number(conn, "kseries", "kid", _KSERIES, (key[0], key[1], key[4], params[-1])),
                    "hid": _number(conn, "hseries", "hid", _HSERIES, (key[0], key[1], params[-1])),
                })  # fmt: skip
                hid = conn.execute("SELECT hid FROM series WHERE sid = ?", (sid,)).fetchone()[0]
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        self._hids[sid] = hid
        self._sids[key] = sid
        self._dims[sid] = key
        return sid

    # --- writing ------------------------------------------------------------------------------------

    def _rows(self, calls: Sequence[Call]) -> tuple[list[tuple[Any, ...]], _Hists]:
        """The table rows of `calls`, and their latency histograms per (hour, hid, metric) in case all are new."""
        sids, hids = self._sids, self._hids
        hists: _Hists = {}
        log, ceil, scale = math.log, math.ceil, BIN_SCALE
        rows = []
        for c in calls:
            key = _SERIES_KEY(c)
            sid = sids.get(key)
            if sid is None:
                sid = self._resolve(key)
            us = (c.started_at - _EPOCH) // _US
            cost = c.cost_usd
            if cost is None:  # _sql.cost_code, inlined: this loop is the hot path of every write
                text = code = None
            else:
                text = str(cost)
                scaled = cost.scaleb(12)
                code = int(scaled)
                if code != scaled or code > _MAX_PICO:
                    code = text  # type: ignore[assignment]
            ic, oc, rc, wc = c.input_cost_usd, c.output_cost_usd, c.cache_read_cost_usd, c.cache_write_cost_usd
            extra = (
                c.streamed, c.cache_write_1h_tokens, text, None if ic is None else str(ic),
                None if oc is None else str(oc), None if rc is None else str(rc), None if wc is None else str(wc),
            ) + _EXTRA_TAIL(c)  # fmt: skip
            modal = _MODALITIES(c)
            if any(modal):
                extra += modal
            labels = c.labels
            duration, ttft = c.duration_ms, c.ttft_ms
            rows.append(
                (us, sid, *_TOKENS(c), 1 if c.tokens_estimated else 0, code, duration, ttft, c.id, c.response_id,
                 c.user, c.session, _to_json(labels if type(labels) is dict else dict(labels)) if labels else None,
                 _to_json(extra))
            )  # fmt: skip
            for metric, value in ((0, duration), (1, ttft)):
                if value is not None:
                    hkey = (us // HOUR_US * HOUR_US, hids[sid], metric)
                    bins = hists.get(hkey)
                    if bins is None:
                        bins = hists[hkey] = {}
                    b = ceil(log(value) * scale) if value > 0 else ZERO_BIN
                    if b < MIN_BIN:
                        b = ZERO_BIN if value <= 0 else MIN_BIN
                    elif b > MAX_BIN:
                        b = MAX_BIN
                    bins[b] = bins.get(b, 0) + 1
        return rows, hists

    def write(self, calls: Sequence[Call]) -> int:
        """Store a batch in one transaction, skipping calls whose `id` or `response_id` is stored already.

        Args:
            calls: The calls to store.

        Returns:
            How many were newly stored.

        Raises:
            ValidationError: a call has a field of the wrong type.
            StoreError: the database could not be written (nothing of the batch was stored).
        """
        if not calls:
            return 0
        try:
            rows, hists = self._rows(calls)
        except (TypeError, AttributeError, ValueError) as e:
            raise ValidationError(
                f"cannot store a call of this batch: {e}; check it with tokentrail.model.validate_call"
            ) from e
        with self._write_lock, self._connection() as conn, self._errors("store a batch"):
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.execute("SELECT ifnull(max(rowid), 0) FROM calls").fetchone()[0]
                added: int = conn.executemany(_INSERT, rows).rowcount
                if added:
                    _fold(conn, "c.rowid > ?", (before,), hists if added == len(rows) else None)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        return added

    # --- reading calls ------------------------------------------------------------------------------

    def _call(self, row: tuple[Any, ...]) -> Call:
        dims = self._dims[row[1]]
        extra = json.loads(row[15])
        extra += _EXTRA_DEFAULTS[len(extra) :]
        for i in _DECIMAL_EXTRAS:
            if extra[i] is not None:
                extra[i] = Decimal(extra[i])
        fields: dict[str, Any] = dict(zip(SERIES_DIMS, dims[:-1], strict=True))
        fields.update(zip(EXTRA_FIELDS, extra[: len(EXTRA_FIELDS)], strict=True))
        return Call(
            started_at=from_us(row[0]), success=dims[-1], input_tokens=row[2], output_tokens=row[3],
            cache_read_tokens=row[4], cache_write_tokens=row[5], reasoning_tokens=row[6], tokens_estimated=bool(row[7]),
            duration_ms=row[8], ttft_ms=row[9], id=row[10], response_id=row[11], user=row[12], session=row[13],
            labels=json.loads(row[14]) if row[14] else {}, **fields,
        )  # fmt: skip

    def _filter_sql(self, f: Filter, lo: int | None, hi: int | None) -> SqlFilter:
        q = SqlFilter()
        q.add_time("c.started_at", lo, hi)
        q.add_filter(f, calls="c", series_id="c.sid", series_table="series")
        return q

    def calls(self, filter: Filter, *, limit: int | None = None, newest_first: bool = True) -> Iterator[Call]:
        """The matching calls, newest first by default, ordered by (`started_at`, `id`), streamed page by page.

        Args:
            filter: Which calls.
            limit: At most this many.
            newest_first: Newest first (default) or oldest first.

        Returns:
            An iterator of Calls; memory stays constant however many match.
        """
        since, until = _window(filter)
        order = "DESC" if newest_first else "ASC"
        cmp = "<" if newest_first else ">"
        after: tuple[int, str] | None = None
        remaining = limit
        while remaining is None or remaining > 0:
            q = self._filter_sql(filter, since, until)
            if after is not None:
                q.conditions.append(f"c.started_at {cmp}= ? AND (c.started_at {cmp} ? OR c.id {cmp} ?)")
                q.params += [after[0], after[0], after[1]]
            n = PAGE_ROWS if remaining is None else min(PAGE_ROWS, remaining)
            sql = f"{_SELECT_CALL} {q.sql()} ORDER BY c.started_at {order}, c.id {order} LIMIT {int(n)}"
            with self._connection() as conn, self._errors("read calls"):
                rows = conn.execute(sql, q.params).fetchall()
                if any(r[1] not in self._dims for r in rows):
                    self._load_series(conn)
            yield from map(self._call, rows)
            if len(rows) < n:
                return
            after = (rows[-1][0], rows[-1][10])
            if remaining is not None:
                remaining -= len(rows)

    # --- aggregates ---------------------------------------------------------------------------------

    def _bounds(self, conn: sqlite3.Connection, since: int | None, until: int | None) -> tuple[int, int] | None:
        row = conn.execute("SELECT (SELECT min(started_at) FROM calls), (SELECT max(started_at) FROM calls)").fetchone()
        if row[0] is None:
            return None
        lo = row[0] if since is None else since
        hi = row[1] + 1 if until is None else until
        return (lo, hi) if lo < hi else None

    def aggregate(
        self, filter: Filter, *, by: Sequence[str] = (), bucket: Bucket | None = None, tz: tzinfo = timezone.utc
    ) -> list[Group]:
        """Totals per distinct value of the `by` dimensions (and per time bucket in `tz`), computed in SQL.

        Args:
            filter: Which calls.
            by: Dimensions to group by (built-in or `label:KEY`).
            bucket: `hour`, `day`, `week` (Monday) or `month`, in `tz`; None for one bucket.
            tz: Time zone of the buckets.

        Returns:
            Groups sorted by bucket, then key (None last) — the same as the memory store's.

        Raises:
            ValidationError: an unknown dimension or bucket.
        """
        dims = [check_dimension(d) for d in by]
        if bucket is not None and bucket not in BUCKETS:
            raise ValidationError(f"bucket={bucket!r} is not valid: use one of {', '.join(BUCKETS)}")
        since, until = _window(filter)
        needed = {*dims, *filter.where}
        route = "small" if needed <= _SMALL_DIMS else "series" if needed <= _SERIES_SET else "raw"
        out: dict[tuple[Any, tuple[str | None, ...]], Totals] = {}
        with self._connection() as conn, self._errors("aggregate calls"):
            pieces = None
            hours_ok = days_ok = True
            if bucket is not None:
                bounds = self._bounds(conn, since, until)
                if bounds is None:
                    return []
                pieces = offset_pieces(tz, *bounds)
                hours_ok = aligned(pieces, HOUR_US)
                days_ok = bucket != "hour" and aligned(pieces, DAY_US)
            segments = plan_segments(
                since, until, use_hours=route == "small" and hours_ok, use_days=route != "raw" and days_ok
            )
            unit = HOUR_US if bucket == "hour" else DAY_US
            for seg in segments:
                sql, params = self._aggregate_sql(filter, seg, route, dims, pieces, unit)
                for row in conn.execute(sql, params):
                    _fold_group(out, row, len(dims), bucket, tz)
        ordered = sorted(out.items(), key=lambda kv: (kv[0][0] or 0, group_order(kv[0][1])))
        return [Group(key=key, bucket=start, totals=totals) for (start, key), totals in ordered]

    def _aggregate_sql(
        self,
        f: Filter,
        seg: Segment,
        route: str,
        dims: list[str],
        pieces: Sequence[tuple[int, int]] | None,
        unit: int,
    ) -> tuple[str, list[Any]]:
        q = SqlFilter()
        t = "c.started_at" if seg.level == "raw" else "r.period"
        cols = [unit_expr(t, pieces, unit), f"min({t})"] if pieces is not None else ["NULL", "NULL"]
        cols += [q.dim_sql(d, calls="c", series="s") for d in dims]
        q.add_time(t, seg.lo, seg.hi)
        if seg.level == "raw":
            q.add_filter(f, calls="c", series_id="c.sid", series_table="series")
            source, sums = "calls c JOIN series s ON s.sid = c.sid", _RAW_SUMS
        elif route == "small":
            q.add_filter(f, calls="r", series_id="r.kid", series_table="kseries", key="kid")
            source, sums = f"rollup_{seg.level} r" + (" JOIN kseries s ON s.kid = r.kid" if dims else ""), _ROLLUP_SUMS
        else:
            q.add_filter(f, calls="r", series_id="r.sid", series_table="series")
            source, sums = "rollup_series_day r" + (" JOIN series s ON s.sid = r.sid" if dims else ""), _ROLLUP_SUMS
        group = ", ".join(str(i) for i in ([1] if pieces is not None else []) + list(range(3, 3 + len(dims))))
        sql = f"SELECT {', '.join(cols)}, {', '.join(sums)} FROM {source} {q.sql()}"
        return sql + (f" GROUP BY {group}" if group else ""), q.params

    # --- percentiles --------------------------------------------------------------------------------

    def percentiles(
        self,
        filter: Filter,
        *,
        by: Sequence[str] = (),
        metric: Metric = "duration_ms",
        quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    ) -> list[PercentileRow]:
        """Quantiles of `metric` per group: exact for up to `EXACT_PERCENTILES_UP_TO` values, else within 1 %.

        Large sets filtered and grouped on `provider`/`model` only are read from the latency histograms
        (each value within `LATENCY_MAX_RELATIVE_ERROR` of the exact quantile, and the row says so);
        everything else is computed exactly from raw rows in SQL (`max_relative_error == 0.0`).

        Args:
            filter: Which calls.
            by: Dimensions to group by.
            metric: `duration_ms` or `ttft_ms`.
            quantiles: Each from 0 to 1.

        Returns:
            One row per group that has values, sorted by key (None last).

        Raises:
            ValidationError: an unknown dimension, metric or quantile.
        """
        dims = [check_dimension(d) for d in by]
        if metric not in ("duration_ms", "ttft_ms"):
            raise ValidationError(f"metric={metric!r} is not valid: use 'duration_ms' or 'ttft_ms'")
        qs = check_quantiles(quantiles)
        since, until = _window(filter)
        segments = plan_segments(since, until)
        hist_ok = {*dims, *filter.where} <= _HIST_SET and any(s.level != "raw" for s in segments)
        with self._connection() as conn, self._errors("compute percentiles"):
            if hist_ok:
                sums: dict[tuple[str | None, ...], HistSum] = {}
                for seg in segments:
                    sql, params = self._hist_sql(filter, seg, dims, metric)
                    for row in conn.execute(sql, params):
                        key = tuple(row[: len(dims)])
                        total = sums.get(key)
                        if total is None:
                            total = sums[key] = HistSum()
                        if seg.level == "raw":
                            total.add_bins({row[-2]: row[-1]})
                        else:
                            total.add(row[-2], zlib.decompress(row[-1]))
                hists = {key: total.bins() for key, total in sums.items()}
                if sum(sum(b.values()) for b in hists.values()) > EXACT_PERCENTILES_UP_TO:
                    rows = []
                    for key in sorted(hists, key=group_order):
                        count, values = hist_quantiles(hists[key], qs)
                        if count:
                            rows.append(PercentileRow(key, count, values, LATENCY_MAX_RELATIVE_ERROR))
                    return rows
            return self._exact_percentiles(conn, filter, dims, metric, qs, since, until)

    def _hist_sql(self, f: Filter, seg: Segment, dims: list[str], metric: str) -> tuple[str, list[Any]]:
        q = SqlFilter()
        group = ", ".join(str(i) for i in range(1, len(dims) + 2))
        if seg.level == "raw":
            cols = [*(f"s.{d}" for d in dims), _bin(f"c.{metric}")]
            q.add_time("c.started_at", seg.lo, seg.hi)
            q.add_filter(f, calls="c", series_id="c.sid", series_table="series")
            q.conditions.append(f"c.{metric} IS NOT NULL")
            source = "calls c JOIN series s ON s.sid = c.sid"
            return f"SELECT {', '.join(cols)}, count(*) FROM {source} {q.sql()} GROUP BY {group}", q.params
        cols = [*(f"s.{d}" for d in dims), "h.lo", "h.counts"]
        q.add_time("h.period", seg.lo, seg.hi)
        q.conditions.append(f"h.metric = {1 if metric == 'ttft_ms' else 0}")
        q.add_filter(f, calls="h", series_id="h.hid", series_table="hseries", key="hid")
        source = f"hist_{seg.level} h" + (" JOIN hseries s ON s.hid = h.hid" if dims else "")
        return f"SELECT {', '.join(cols)} FROM {source} {q.sql()}", q.params

    def _exact_percentiles(
        self, conn: sqlite3.Connection, f: Filter, dims: list[str], metric: str, qs: tuple[float, ...],
        since: int | None, until: int | None,
    ) -> list[PercentileRow]:  # fmt: skip
        q = SqlFilter()
        cols = [q.dim_sql(d, calls="c", series="s") for d in dims]  # first: their parameters come first
        q.add_time("c.started_at", since, until)
        q.add_filter(f, calls="c", series_id="c.sid", series_table="series")
        q.conditions.append(f"c.{metric} IS NOT NULL")
        keys = ", ".join(f"k{i}" for i in range(len(dims))) or "NULL"
        rank = f"CAST((cnt - 1) * {q.param} AS INTEGER)"
        ranks = " OR ".join(f"rn = {rank} OR rn = min({rank} + 1, cnt - 1)" for _ in qs)
        inner = ", ".join([*(f"{c} AS k{i}" for i, c in enumerate(cols)), f"c.{metric} AS v"])
        sql = (
            f"SELECT {keys}, rn, cnt, v FROM (SELECT *, row_number() OVER w - 1 AS rn, count(*) OVER w AS cnt FROM "
            f"(SELECT {inner} FROM calls c JOIN series s ON s.sid = c.sid {q.sql()}) WINDOW w AS (PARTITION BY {keys} "
            f"ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) WHERE {ranks}"
        )
        params = q.params + [float(x) for x in qs for _ in (0, 1)]
        found: dict[tuple[Any, ...], tuple[int, dict[int, float]]] = {}
        for row in conn.execute(sql, params):
            key = tuple(row[: len(dims)])
            found.setdefault(key, (row[-2], {}))[1][row[-3]] = row[-1]
        rows = []
        for key in sorted(found, key=group_order):
            count, at = found[key]
            values = []
            for qv in qs:
                pos = (count - 1) * qv
                lo = int(pos)
                hi = min(lo + 1, count - 1)
                values.append(at[lo] + (at[hi] - at[lo]) * (pos - lo))
            rows.append(PercentileRow(key=key, count=count, values=tuple(values), max_relative_error=0.0))
        return rows

    # --- delete, meta, close ------------------------------------------------------------------------

    def delete(self, filter: Filter, *, batch_size: int = 10_000) -> int:
        """Delete matching calls, `batch_size` rows per transaction, recomputing the rollups they touched.

        Returns:
            How many calls were deleted.
        """
        if type(batch_size) is not int or batch_size < 1:
            raise ValidationError(f"batch_size={batch_size!r} is not valid: expected a positive integer")
        since, until = _window(filter)
        removed = 0
        while True:
            q = self._filter_sql(filter, since, until)
            with self._write_lock, self._connection() as conn, self._errors("delete calls"):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    sql = (
                        f"SELECT c.rowid, c.started_at FROM calls c {q.sql()} ORDER BY c.rowid LIMIT {int(batch_size)}"
                    )
                    rows = conn.execute(sql, q.params).fetchall()
                    if rows:
                        ids = json.dumps([r[0] for r in rows])
                        conn.execute("DELETE FROM calls WHERE rowid IN (SELECT value FROM json_each(?))", (ids,))
                        rebuild_rollups(conn, [r[1] // DAY_US * DAY_US for r in rows])
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
            removed += len(rows)
            if len(rows) < batch_size:
                return removed

    def _meta(self, sql: str, params: tuple[str, ...]) -> tuple[list[Any], int]:
        with self._connection() as conn, self._errors("use metadata"):
            cur = conn.execute(sql, params)
            return cur.fetchall(), cur.rowcount

    def meta_get(self, namespace: str, key: str) -> str | None:
        """A shared metadata value, or None."""
        rows, _ = self._meta("SELECT value FROM meta WHERE namespace = ? AND key = ?", (namespace, key))
        return rows[0][0] if rows else None

    def meta_put(self, namespace: str, key: str, value: str) -> None:
        """Set a shared metadata value."""
        self._meta(
            "INSERT INTO meta (namespace, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            (namespace, key, value),
        )

    def meta_put_if_absent(self, namespace: str, key: str, value: str) -> bool:
        """Set a value only if the key is new — atomic across processes; True if this call set it."""
        _, changed = self._meta(
            "INSERT OR IGNORE INTO meta (namespace, key, value) VALUES (?, ?, ?)", (namespace, key, value)
        )
        return changed == 1

    def meta_delete(self, namespace: str, key: str) -> bool:
        """Remove a key; True if it existed."""
        return self._meta("DELETE FROM meta WHERE namespace = ? AND key = ?", (namespace, key))[1] == 1

    def meta_items(self, namespace: str) -> dict[str, str]:
        """Every key and value of a namespace."""
        rows, _ = self._meta("SELECT key, value FROM meta WHERE namespace = ?", (namespace,))
        return dict(rows)

    def close(self) -> None:
        """Close every connection (idempotent). Operations afterwards raise `StoreError`."""
        with self._lock:
            self._closed = True
            conns, self._all, self._idle = self._all, [], []
        for conn in conns:
            conn.close()


def _number(
    conn: sqlite3.Connection,
    table: str,
    id_column: str,
    columns: Sequence[str],
    values: Sequence[Any],
    more: Callable[[], dict[str, int]] | None = None,
) -> int:
    """The id of the row of `table` whose `columns` are `values` (NULLs match), inserted if missing."""
    match = " AND ".join(f"{c} IS ?" for c in columns)
    row = conn.execute(f"SELECT {id_column} FROM {table} WHERE {match}", values).fetchone()
    if row is not None:
        found: int = row[0]
        return found
    extra = more() if more is not None else {}
    names = [*columns, *extra]
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    new: int = conn.execute(sql, (*values, *extra.values())).lastrowid  # type: ignore[assignment]
    return new


def _window(f: Filter) -> tuple[int | None, int | None]:
    return (None if f.since is None else to_us(f.since), None if f.until is None else to_us(f.until))


def _fold_group(
    out: dict[tuple[Any, tuple[str | None, ...]], Totals],
    row: Sequence[Any],
    ndims: int,
    bucket: str | None,
    tz: tzinfo,
) -> None:
    """Add one SQL result row (unit, representative time, dims…, sums…) into the groups."""
    sums = row[2 + ndims :]
    if not sums[0]:
        return  # an ungrouped aggregate over no rows
    start = None if bucket is None else bucket_start(from_us(row[1]), bucket, tz)
    t = Totals(
        calls=sums[0], errors=sums[1], input_tokens=sums[2], output_tokens=sums[3], cache_read_tokens=sums[4],
        cache_write_tokens=sums[5], reasoning_tokens=sums[6], estimated_calls=sums[7], unpriced_calls=sums[8],
        cost_usd=cost_sum(sums[9], sums[10], sums[11]), timed_calls=sums[12], duration_ms_sum=sums[13],
        timed_output_tokens=sums[14], ttft_calls=sums[15], ttft_ms_sum=sums[16], first_at=from_us(sums[17]),
        last_at=from_us(sums[18]),
    )  # fmt: skip
    key = (start, tuple(row[2 : 2 + ndims]))
    have = out.get(key)
    if have is None:
        out[key] = t
    else:
        have.add(t)
