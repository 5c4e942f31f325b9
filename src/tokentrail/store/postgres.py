"""`postgresql://`: a team's calls in one PostgreSQL database, with rollups so reports stay fast.

Everything lives in the `tokentrail` schema:

- `calls` — one row per `Call`, one typed column per field (`timestamptz`, `numeric` costs, `jsonb`
  labels), so a Call read back equals the Call written. Unique on `id`, partially unique on
  `response_id`; indexed on `(started_at, id)`, `(model, started_at)` and `(agent, started_at)`.
- `dims` — each distinct (provider, model, agent, project, environment, operation, success) numbered
  once; every call row carries its `dims_id`.
- `hourly` / `daily` — per UTC hour (day) and `dims_id`, every sum `Totals` needs. They are kept in
  the same transaction as the write that changes them (aggregate the batch, then
  `INSERT … ON CONFLICT DO UPDATE SET x = x + EXCLUDED.x`), and recomputed from `calls` for the
  hours a `delete` touches, so they always equal the raw table.
- `latency_daily` — per UTC day, `dims_id` and metric, a histogram of latencies (one jsonb
  `{bin: count}`) in log-spaced bins of ratio 1.02: reporting `2·r^(i+1)/(1+r)` for a value in
  `[r^i, r^(i+1))` is off by at most `(r-1)/(r+1)` < 1 % of the true value (DDSketch's bound), so
  `LATENCY_MAX_RELATIVE_ERROR = 0.01`. `latency_by_model` holds the same per model alone in 4-hour,
  day and 8-day blocks, so "p95 by model over 30 days" merges a few dozen histograms.
- `meta`, `schema_version`.

A question whose dimensions and filters are all in the `dims` key is answered from the rollups for
the whole hours/days of its window and from `calls` for the partial hours at its edges; any other
question (labels, users, sessions, …) is answered from `calls`. Results equal the memory store's:
same groups in the same order, exact integers and `Decimal` costs (float sums of durations may
differ in the last bits, since floating-point addition depends on order). Percentiles are exact
(`percentile_cont`, `max_relative_error == 0.0`) up to `exact_percentiles_up_to` values, and come
from the histograms (labelled with their error bound) above that.

Writes COPY a batch into a temporary staging table, then one statement inserts the new rows
(`ON CONFLICT DO NOTHING` skips known ids and response ids) and folds exactly those rows into the
rollups. Writers take a shared advisory lock and `delete` an exclusive one, so the rollups never
race a delete. PostgreSQL text cannot hold NUL, so the two characters `\\x00` and `\\x01` are stored
escaped (`\\x01\\x01`, `\\x01\\x02`) — an order-preserving code, invisible to callers. Needs PostgreSQL 14
or later (`date_bin`).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import threading
import weakref
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from operator import attrgetter
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from ..errors import ConfigError, SchemaVersionError, StoreError, StoreUnavailableError, ValidationError
from ..model import Call
from ._py import aggregate_calls, check_quantiles
from .base import BUCKETS, LABEL_PREFIX, Bucket, Filter, Group, Metric, PercentileRow, Totals, check_dimension
from .redact import mask_url

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError:  # pragma: no cover - exercised only without the postgres extra
    psycopg = None  # type: ignore[assignment]

_T = TypeVar("_T")

__all__ = ["LATENCY_MAX_RELATIVE_ERROR", "LATENCY_RATIO", "MIGRATIONS", "PostgresStore"]

LATENCY_RATIO = 1.02
"""Ratio between the edges of consecutive latency histogram bins."""
LATENCY_MAX_RELATIVE_ERROR = 0.01
"""Bound on the relative error of a histogram percentile: (r-1)/(r+1) = 0.0099 for r = 1.02, rounded up."""
_ZERO_BIN = -(2**31)
"""The bin of a latency of exactly 0 ms (log-spaced bins cannot hold it)."""

_LOCK_MIGRATE = 0x746F6B656E01  # advisory lock ids: "token" + a number
_LOCK_WRITE = 0x746F6B656E02

_FIELDS = tuple(f.name for f in fields(Call))
_TEXT_FIELDS = (
    "id", "model", "provider", "response_model", "operation", "finish_reason", "response_id", "currency",
    "price_source", "agent", "user", "session", "project", "environment", "git_branch", "trace_id", "span_id",
    "parent_span_id", "error_type", "error_message", "prompt_hash", "response_hash", "prompt", "response",
)  # fmt: skip
_TEXT_AT = tuple(_FIELDS.index(name) for name in _TEXT_FIELDS)
_LABELS_AT = _FIELDS.index("labels")
_get_fields = attrgetter(*_FIELDS)
_COLUMNS = ", ".join(f'"{name}"' for name in _FIELDS)
_ROLLUP_DIMS = ("provider", "model", "agent", "project", "environment", "operation")
_get_dims = attrgetter(*_ROLLUP_DIMS, "success")
_METRICS = {"duration_ms": 0, "ttft_ms": 1}

# --- text that PostgreSQL can hold ------------------------------------------------------------------------------


def _enc(text: str) -> str:
    """Escape NUL (which PostgreSQL text cannot hold) with an order-preserving, prefix-free code."""
    if "\x00" in text or "\x01" in text:
        return text.replace("\x01", "\x01\x02").replace("\x00", "\x01\x01")
    return text


def _dec(text: str) -> str:
    """Undo `_enc`."""
    if "\x01" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\x01" and i + 1 < len(text):
            out.append("\x00" if text[i + 1] == "\x01" else "\x01")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _enc_opt(text: str | None) -> str | None:
    return None if text is None else _enc(text)


def _dec_opt(text: str | None) -> str | None:
    return None if text is None else _dec(text)


# --- schema -----------------------------------------------------------------------------------------------------

_TOTALS_DDL = """
    calls bigint NOT NULL, errors bigint NOT NULL, input_tokens bigint NOT NULL, output_tokens bigint NOT NULL,
    cache_read_tokens bigint NOT NULL, cache_write_tokens bigint NOT NULL, reasoning_tokens bigint NOT NULL,
    estimated_calls bigint NOT NULL, unpriced_calls bigint NOT NULL, cost_usd numeric NOT NULL,
    timed_calls bigint NOT NULL, duration_ms_sum double precision NOT NULL, timed_output_tokens bigint NOT NULL,
    ttft_calls bigint NOT NULL, ttft_ms_sum double precision NOT NULL,
    first_at timestamptz NOT NULL, last_at timestamptz NOT NULL"""

_TOTAL_COLS = (
    "calls", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "estimated_calls", "unpriced_calls", "cost_usd", "timed_calls", "duration_ms_sum",
    "timed_output_tokens", "ttft_calls", "ttft_ms_sum",
)  # fmt: skip
# How each total is computed from a set of `calls` rows (the write path and the recomputation after a delete).
_TOTAL_AGGS = (
    "count(*)", "count(*) FILTER (WHERE NOT success)", "sum(input_tokens)", "sum(output_tokens)",
    "sum(cache_read_tokens)", "sum(cache_write_tokens)", "sum(reasoning_tokens)",
    "count(*) FILTER (WHERE tokens_estimated)", "count(*) FILTER (WHERE cost_usd IS NULL)",
    "coalesce(sum(cost_usd), 0)", "count(duration_ms)", "coalesce(sum(duration_ms), 0)",
    "coalesce(sum(output_tokens) FILTER (WHERE duration_ms IS NOT NULL), 0)", "count(ttft_ms)",
    "coalesce(sum(ttft_ms), 0)",
)  # fmt: skip
# The same totals for one raw row, so raw edges and rollup rows can be summed together.
_TOTAL_ROW = (
    "1", "(NOT c.success)::int", "c.input_tokens", "c.output_tokens", "c.cache_read_tokens", "c.cache_write_tokens",
    "c.reasoning_tokens", "c.tokens_estimated::int", "(c.cost_usd IS NULL)::int", "c.cost_usd",
    "(c.duration_ms IS NOT NULL)::int", "c.duration_ms",
    "CASE WHEN c.duration_ms IS NOT NULL THEN c.output_tokens END", "(c.ttft_ms IS NOT NULL)::int", "c.ttft_ms",
)  # fmt: skip


def _rollup_upsert(table: str, unit: str, source: str) -> str:
    """SQL folding the calls rows of `source` into `table` (per UTC `unit` and dims_id)."""
    cols = ", ".join(_TOTAL_COLS)
    aggs = ", ".join(_TOTAL_AGGS)
    sets = ", ".join(f"{c} = r.{c} + EXCLUDED.{c}" for c in _TOTAL_COLS)
    return (
        f"INSERT INTO tokentrail.{table} AS r (bucket, dims_id, {cols}, first_at, last_at) "
        f"SELECT date_trunc('{unit}', started_at, 'UTC'), dims_id, {aggs}, min(started_at), max(started_at) "
        f"FROM {source} GROUP BY 1, 2 ORDER BY 1, 2 "
        f"ON CONFLICT (bucket, dims_id) DO UPDATE SET {sets}, "
        "first_at = least(r.first_at, EXCLUDED.first_at), last_at = greatest(r.last_at, EXCLUDED.last_at)"
    )


_METRIC_VALUES = "CROSS JOIN LATERAL (VALUES (0::smallint, s.duration_ms), (1::smallint, s.ttft_ms)) AS m(metric, v)"


def _hist_upsert(table: str, keys: dict[str, str], source: str, sign: str) -> str:
    """SQL adding (`sign` "-": removing) the latencies of the calls rows `source` (alias s) to `table`.

    `keys` maps each key column of `table` (after `metric`) to its SQL over `s`. The batch is binned and
    counted, one `{bin: count}` object per key, then merged into the stored object by `hist_add`.
    """
    cols = ", ".join(keys)
    n = len(keys) + 1
    return (
        f"INSERT INTO tokentrail.{table} AS r (metric, {cols}, hist) "
        f"SELECT metric, {cols}, jsonb_object_agg(bin, n) FROM ("
        f"SELECT m.metric, {', '.join(f'{e} AS {c}' for c, e in keys.items())}, "
        f"tokentrail.latency_bin(m.v) AS bin, {sign}count(*) AS n FROM {source} {_METRIC_VALUES} "
        f"WHERE m.v IS NOT NULL GROUP BY {', '.join(str(i + 1) for i in range(n + 1))}) t "
        f"GROUP BY {', '.join(str(i + 1) for i in range(n))} ORDER BY {', '.join(str(i + 1) for i in range(n))} "
        f"ON CONFLICT (metric, {cols}) DO UPDATE SET hist = tokentrail.hist_add(r.hist, EXCLUDED.hist)"
    )


def _latency_upsert(source: str, sign: str = "") -> str:
    """SQL adding (`sign` "-": removing) the latencies of `source` (alias s) to `latency_daily`."""
    return _hist_upsert("latency_daily", {"day": "date_trunc('day', s.started_at, 'UTC')", "dims_id": "s.dims_id"},
                        source, sign)  # fmt: skip


def _model_latency_upsert(source: str, sign: str = "") -> str:
    """SQL adding (`sign` "-": removing) the latencies of `source` (alias s) to `latency_by_model`, every level."""
    start = (
        "date_bin(CASE lv.level WHEN 0 THEN interval '4 hours' WHEN 1 THEN interval '1 day' ELSE interval '8 days' "
        "END, s.started_at, timestamptz '1970-01-01 00:00:00+00')"  # blocks counted from the epoch, like _floor()
    )
    levels = f"{source} CROSS JOIN (VALUES (0::smallint), (1::smallint), (2::smallint)) AS lv(level)"
    return _hist_upsert("latency_by_model", {"level": "lv.level", "start": start, "model": "s.model"}, levels, sign)


def m001_create_calls(conn: Any) -> None:
    """Why: one row per Call, each field its own typed column, so a Call reads back exactly as written and
    every filter and group-by runs in SQL. `COLLATE "C"` makes text sort by code point, as Python does."""
    text = 'text COLLATE "C"'
    conn.execute(f"""
        CREATE TABLE tokentrail.calls (
            id {text} PRIMARY KEY, started_at timestamptz NOT NULL, model {text} NOT NULL, provider {text},
            response_model {text}, operation {text} NOT NULL, duration_ms double precision,
            ttft_ms double precision, finish_reason {text}, streamed boolean NOT NULL, response_id {text},
            input_tokens bigint NOT NULL, output_tokens bigint NOT NULL, cache_read_tokens bigint NOT NULL,
            cache_write_tokens bigint NOT NULL, cache_write_1h_tokens bigint NOT NULL,
            reasoning_tokens bigint NOT NULL, tokens_estimated boolean NOT NULL,
            cost_usd numeric, input_cost_usd numeric, output_cost_usd numeric, cache_read_cost_usd numeric,
            cache_write_cost_usd numeric, currency {text} NOT NULL, price_source {text},
            agent {text}, "user" {text}, session {text}, project {text}, environment {text}, git_branch {text},
            trace_id {text}, span_id {text}, parent_span_id {text}, labels jsonb NOT NULL,
            success boolean NOT NULL, error_type {text}, error_message {text}, retries bigint NOT NULL,
            prompt_hash {text}, response_hash {text}, prompt {text}, response {text}
        )""")
    # A response recorded twice (retried export, two callbacks) is stored once.
    conn.execute(
        "CREATE UNIQUE INDEX calls_response_id ON tokentrail.calls (response_id) WHERE response_id IS NOT NULL"
    )
    # Time windows and `calls()` order; the two most common report filters.
    conn.execute("CREATE INDEX calls_started_at ON tokentrail.calls (started_at, id)")
    conn.execute("CREATE INDEX calls_model_started_at ON tokentrail.calls (model, started_at)")
    conn.execute("CREATE INDEX calls_agent_started_at ON tokentrail.calls (agent, started_at)")


def m002_create_meta(conn: Any) -> None:
    """Why: budgets and alert state must be shared by every process writing to the same database."""
    conn.execute("""
        CREATE TABLE tokentrail.meta (
            namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, value text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (namespace, key)
        )""")


def m003_create_rollups(conn: Any) -> None:
    """Why: a 30-day report over a million calls must not read a million rows. Hourly and daily totals per
    combination of the common dimensions, and latency histograms, answer it from a few thousand rows.
    Existing calls are numbered and folded in, so a store upgraded from version 2 reports the same numbers."""
    text = 'text COLLATE "C"'
    conn.execute(f"""
        CREATE TABLE tokentrail.dims (
            id serial PRIMARY KEY, key text NOT NULL UNIQUE, provider {text}, model {text} NOT NULL,
            agent {text}, project {text}, environment {text}, operation {text} NOT NULL, success boolean NOT NULL
        )""")
    conn.execute(f"INSERT INTO tokentrail.dims (key, {', '.join(_ROLLUP_DIMS)}, success) "
                 f"SELECT DISTINCT {_DIMS_KEY_SQL.format(*_ROLLUP_DIMS, 'success')}, "
                 f"{', '.join(_ROLLUP_DIMS)}, success FROM tokentrail.calls")  # fmt: skip
    conn.execute("ALTER TABLE tokentrail.calls ADD COLUMN dims_id integer")
    conn.execute(f"UPDATE tokentrail.calls c SET dims_id = d.id FROM tokentrail.dims d "
                 f"WHERE d.key = {_DIMS_KEY_SQL.format(*(f'c.{x}' for x in _ROLLUP_DIMS), 'c.success')}")  # fmt: skip
    conn.execute("ALTER TABLE tokentrail.calls ALTER COLUMN dims_id SET NOT NULL")
    for table in ("hourly", "daily"):
        conn.execute(f"CREATE TABLE tokentrail.{table} (bucket timestamptz NOT NULL, dims_id integer NOT NULL, "
                     f"{_TOTALS_DDL}, PRIMARY KEY (bucket, dims_id))")  # fmt: skip
    # A histogram is one jsonb object {bin: count} per row: a batch merges into a few dozen rows, not thousands.
    conn.execute("""
        CREATE TABLE tokentrail.latency_daily (
            metric smallint NOT NULL, day timestamptz NOT NULL, dims_id integer NOT NULL, hist jsonb NOT NULL,
            PRIMARY KEY (metric, day, dims_id)
        )""")
    # The same per model alone, in 4-hour, day and 8-day blocks, so "p95 by model over 30 days" merges a few
    # dozen histograms instead of one per dims row and day.
    conn.execute("""
        CREATE TABLE tokentrail.latency_by_model (
            metric smallint NOT NULL, level smallint NOT NULL, start timestamptz NOT NULL,
            model text COLLATE "C" NOT NULL, hist jsonb NOT NULL, PRIMARY KEY (metric, level, start, model)
        )""")
    # Bin i holds [1.02^i, 1.02^(i+1)); an inlinable SQL function so writes and reads bin identically.
    conn.execute(f"""
        CREATE FUNCTION tokentrail.latency_bin(v double precision) RETURNS integer
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT CASE WHEN v > 0 THEN floor(ln(v) / ln({LATENCY_RATIO}))::integer ELSE {_ZERO_BIN} END $$""")
    # The sum of two histograms, bins whose count falls to 0 (after a delete) left out.
    conn.execute("""
        CREATE FUNCTION tokentrail.hist_add(a jsonb, b jsonb) RETURNS jsonb
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT coalesce(jsonb_object_agg(k, n), '{}') FROM (
                SELECT k, sum(v::bigint) AS n FROM (
                    SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)) e(k, v)
                GROUP BY k) t
              WHERE n <> 0 $$""")
    conn.execute(_rollup_upsert("hourly", "hour", "tokentrail.calls"))
    conn.execute(_rollup_upsert("daily", "day", "tokentrail.calls"))
    conn.execute(_latency_upsert("tokentrail.calls s"))
    conn.execute(_model_latency_upsert("tokentrail.calls s"))


def m004_add_modality_tokens(conn: Any) -> None:
    """Why: audio, image and video tokens cost their own rates (Gemini image output is 30x text output), so a
    Call counts them apart inside its totals and every column of a Call is a column here. A constant default
    adds them without rewriting the table; existing calls had no such counts, 0 is what they had."""
    conn.execute("""
        ALTER TABLE tokentrail.calls
            ADD COLUMN input_audio_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN input_image_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN input_video_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN cache_read_audio_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN cache_read_image_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN cache_read_video_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN output_audio_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN output_image_tokens bigint NOT NULL DEFAULT 0,
            ADD COLUMN output_video_tokens bigint NOT NULL DEFAULT 0""")


_DIMS_KEY_SQL = "jsonb_build_array({}, {}, {}, {}, {}, {}, {})::text"
MIGRATIONS: tuple[Callable[[Any], None], ...] = (
    m001_create_calls,
    m002_create_meta,
    m003_create_rollups,
    m004_add_modality_tokens,
)
"""Every schema change, in order; the schema version is how many have run."""


# --- connections ------------------------------------------------------------------------------------------------


def _scrub(message: str, url: str) -> str:
    """`message` without the URL's password (in the user part or a `password=` parameter), in any spelling."""
    try:
        secrets = {urlsplit(url).password or ""}
    except ValueError:
        secrets = set()
    secrets.update(m.group(1) for m in _PASSWORD_PARAM.finditer(url))
    for secret in sorted(secrets | {unquote(s) for s in secrets}, key=len, reverse=True):
        if secret:
            message = message.replace(secret, "***")
    return message


_PASSWORD_PARAM = re.compile(r"password=([^&#\s]+)")
_CONNECT_TIMEOUT = re.compile(r"[?&]connect_timeout=")
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
"""A silent peer (a partition, a dead host) breaks an idle pooled connection within about a minute."""


def _sever(conn: Any, fired: threading.Event) -> None:
    """Shut the connection's socket down under a thread waiting on it, which then fails at once."""
    fired.set()
    try:
        fd = os.dup(conn.pgconn.socket)
    except Exception:  # already closed
        return
    with socket.socket(fileno=fd) as sock:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


@contextmanager
def _deadline(conn: Any, seconds: float | None) -> Iterator[threading.Event]:
    """Cut `conn` off if the work inside takes longer than `seconds` (the event says it was cut; None: never).

    The server's `statement_timeout` cannot help when the server itself hangs (frozen, swapping, a network
    that drops packets silently): only the client can stop waiting.
    """
    fired = threading.Event()
    if seconds is None:
        yield fired
        return
    timer = threading.Timer(seconds, _sever, (conn, fired))
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def _unavailable(e: BaseException) -> bool:
    """Whether a psycopg error is about the server or the network, not about the data sent (SQLSTATE 22, 23)."""
    return not isinstance(e, (psycopg.DataError, psycopg.IntegrityError))


class _Pool:
    """At most `size` connections, handed to one thread at a time (autocommit, session time zone UTC)."""

    def __init__(self, url: str, shown_url: str, size: int, timeout: float, connect_timeout: float) -> None:
        self._url, self._shown_url, self._size, self._timeout = url, shown_url, size, timeout
        self._connect_options: dict[str, Any] = dict(_KEEPALIVES)
        if not _CONNECT_TIMEOUT.search(url):  # the URL's own connect_timeout wins
            self._connect_options["connect_timeout"] = max(2, math.ceil(connect_timeout))  # libpq's minimum is 2
        self.op_timeout = connect_timeout
        self._idle: list[Any] = []
        self._all: set[Any] = set()
        self._cond = threading.Condition()
        self._closed = False

    def _connect(self) -> Any:
        conn = None
        try:
            conn = psycopg.connect(self._url, autocommit=True, application_name="tokentrail", **self._connect_options)
            with _deadline(conn, self.op_timeout):
                conn.execute("SET TIME ZONE 'UTC'")  # timestamptz values come back in UTC
            return conn
        except psycopg.Error as e:
            if conn is not None:
                conn.close()
            reason = _scrub(str(e).strip().replace("\n", " "), self._url)
            raise StoreUnavailableError(
                f"cannot connect to PostgreSQL store {self._shown_url!r}: {reason}; "
                "check the host, port, database name, user and password"
            ) from None

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """Borrow a connection; it goes back to the pool afterwards unless it broke."""
        conn = self._checkout()
        try:
            yield conn
        finally:
            self._checkin(conn)

    def _checkout(self) -> Any:
        with self._cond:
            while True:
                if self._closed:
                    raise StoreError(f"PostgreSQL store {self._shown_url!r} is closed")
                if self._idle:
                    return self._idle.pop()
                if len(self._all) < self._size:
                    placeholder = object()
                    self._all.add(placeholder)
                    break
                if not self._cond.wait(self._timeout):
                    raise StoreUnavailableError(
                        f"all {self._size} connections to {self._shown_url!r} stayed busy for {self._timeout}s; "
                        "close iterators over calls() you no longer need"
                    )
        try:
            conn = self._connect()
        except BaseException:
            with self._cond:
                self._all.discard(placeholder)
                self._cond.notify()
            raise
        with self._cond:
            self._all.discard(placeholder)
            if not self._closed:
                self._all.add(conn)
                return conn
        conn.close()  # the store was closed while this connection was being made
        raise StoreError(f"PostgreSQL store {self._shown_url!r} is closed")

    def _checkin(self, conn: Any) -> None:
        healthy = not conn.closed and not conn.broken
        if healthy and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            healthy = False
        with self._cond:
            if healthy and not self._closed:
                self._idle.append(conn)
            else:
                self._all.discard(conn)
            self._cond.notify()
        if not healthy or self._closed:
            conn.close()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            conns = [c for c in self._all if hasattr(c, "close")]  # not the placeholders of connections being made
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for conn in conns:
            conn.close()


# --- the store --------------------------------------------------------------------------------------------------


class _Params(dict):  # type: ignore[type-arg]
    """Named query parameters; calling it with a value returns the placeholder."""

    def __call__(self, value: object) -> str:
        name = f"p{len(self)}"
        self[name] = value
        return f"%({name})s"


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_UNITS = {
    "hour": timedelta(hours=1),
    "4hour": timedelta(hours=4),
    "day": timedelta(days=1),
    "8day": timedelta(days=8),
}
"""UTC blocks, each a whole number of the one before, all counted from the epoch."""
_LEVELS = {"4hour": 0, "day": 1, "8day": 2}
"""The block sizes of `latency_by_model`, by level number."""
_Range = tuple[datetime | None, datetime | None]


def _floor(t: datetime, unit: str) -> datetime:
    step = _UNITS[unit]
    return _EPOCH + (t - _EPOCH) // step * step


def _ceil(t: datetime, unit: str) -> datetime:
    f = _floor(t, unit)
    return f if f == t else f + _UNITS[unit]


def _decompose(since: datetime | None, until: datetime | None, units: Sequence[str]) -> tuple[list[_Range], list[Any]]:
    """Split [since, until) into raw edges (parts of a `units[0]` block) and whole blocks, each as coarse as it can be.

    Returns:
        The raw (lo, hi) ranges, and (unit, lo, hi) ranges of whole blocks; None is unbounded.
    """
    try:
        a = None if since is None else _ceil(since, units[0])
        b = None if until is None else _floor(until, units[0])
        if until is not None and units[-1] != units[0]:
            _ceil(until, units[-1])  # windows ending near datetime.max: leave them to the raw table
    except OverflowError:
        return [(since, until)], []
    if a is not None and b is not None and a >= b:
        return [(since, until)], []
    raw: list[_Range] = [(lo, hi) for lo, hi in ((since, a), (b, until)) if lo is not None and lo != hi]
    blocks: list[Any] = []
    for unit, coarser in zip(units, (*units[1:], None), strict=True):
        na = None if a is None or coarser is None else _ceil(a, coarser)
        nb = None if b is None or coarser is None else _floor(b, coarser)
        if coarser is None or (na is not None and nb is not None and na >= nb):
            blocks.append((unit, a, b))
            break
        blocks += [(unit, lo, hi) for lo, hi in ((a, na), (nb, b)) if lo is not None and lo != hi]
        a, b = na, nb
    return raw, blocks


def _group_order(kv: tuple[tuple[datetime | None, tuple[str | None, ...]], Any]) -> Any:
    """The memory store's order: by bucket, then by key with None last."""
    (start, key), _ = kv
    return (start or 0, tuple((v is None, v or "") for v in key))


def _key_order(key: tuple[str | None, ...]) -> Any:
    return tuple((v is None, v or "") for v in key)


def _tz_param(tz: tzinfo) -> tuple[str, object] | None:
    """How to name `tz` to PostgreSQL (`AT TIME ZONE`), or None when it cannot be named."""
    if isinstance(tz, timezone):
        return "%s::interval", f"{tz.utcoffset(None).total_seconds()} seconds"
    key = getattr(tz, "key", None) if isinstance(tz, ZoneInfo) else getattr(tz, "zone", None)  # pytz has .zone
    if isinstance(key, str) and key:
        return "%s::text", key
    return None


def _offsets(tz: tzinfo, lo: datetime, hi: datetime) -> Iterator[timedelta | None]:
    """`tz`'s UTC offsets sampled every 6 hours over [lo, hi]."""
    t = lo
    while t < hi:
        yield t.astimezone(tz).utcoffset()
        t += timedelta(hours=6)
    yield hi.astimezone(tz).utcoffset()


def _bin_value(b: int) -> float:
    """The value reported for histogram bin `b` (within LATENCY_MAX_RELATIVE_ERROR of every value in it)."""
    if b == _ZERO_BIN:
        return 0.0
    return float(LATENCY_RATIO**b * (2 * LATENCY_RATIO / (1 + LATENCY_RATIO)))


def _hist_quantiles(bins: list[tuple[int, int]], quantiles: Sequence[float]) -> tuple[int, tuple[float, ...]]:
    """Count and quantiles (linear interpolation between ranks, like percentile_cont) of a histogram."""
    bins.sort()
    cumulative, total = [], 0
    for _, n in bins:
        total += n
        cumulative.append(total)

    def at(rank: int) -> float:
        return _bin_value(bins[bisect_right(cumulative, rank)][0])

    values = []
    for q in quantiles:
        pos = (total - 1) * q
        lo = int(pos)
        a, b = at(lo), at(min(lo + 1, total - 1))
        values.append(a + (b - a) * (pos - lo))
    return total, tuple(values)


class PostgresStore:
    """Calls in a PostgreSQL database, safe for many threads and processes at once.

    Example:
        >>> store = PostgresStore.from_url("postgresql://tokentrail@db.internal/usage")  # doctest: +SKIP
        >>> store.write([call])  # doctest: +SKIP
        1
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        pool_timeout: float = 30.0,
        timeout: float = 5.0,
        use_rollups: bool = True,
        exact_percentiles_up_to: int = 100_000,
    ) -> None:
        """Connect, and create or upgrade the schema.

        Args:
            url: `postgresql://user:password@host:port/database` (or `postgres://…`).
            pool_size: Most connections held open at once.
            pool_timeout: Seconds to wait for a free connection before raising `StoreUnavailableError`.
            timeout: Seconds a connection attempt, a write or a metadata read may take before the server is
                taken for unreachable (`StoreUnavailableError`; the tracker spools the calls). Reports and
                deletes are not limited. A URL's own `connect_timeout` parameter sets the connection part.
            use_rollups: Answer from the rollup tables where they can answer (False: always the raw table).
            exact_percentiles_up_to: Above this many values, percentiles come from the latency histograms
                (within `LATENCY_MAX_RELATIVE_ERROR`) instead of sorting every value; 0 means always, where the
                histograms can answer.

        Raises:
            StoreError: psycopg is not installed, or the database cannot be set up.
            StoreUnavailableError: the database cannot be reached, or did not answer within `timeout`.
            SchemaVersionError: the database was set up by a newer tokentrail.
        """
        self.url = _scrub(mask_url(url), url)
        if psycopg is None:  # pragma: no cover
            raise StoreError(f"cannot open {self.url!r}: psycopg is missing; pip install 'tokentrail[postgres]'")
        if type(pool_size) is not int or pool_size < 1:
            raise ValidationError(f"pool_size={pool_size!r} is not valid: expected an integer >= 1")
        self._use_rollups = use_rollups
        self._exact_up_to = exact_percentiles_up_to
        if not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
            raise ValidationError(f"timeout={timeout!r} is not valid: expected a number of seconds > 0")
        self._pool = _Pool(url, self.url, pool_size, pool_timeout, timeout)
        self._dims: dict[tuple[Any, ...], int] = {}
        self._dims_lock = threading.Lock()
        self._staged: weakref.WeakSet[Any] = weakref.WeakSet()
        try:
            self._migrate()
        except BaseException:
            self._pool.close()
            raise

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresStore:
        """Open the store at a `postgresql://` or `postgres://` URL (see `__init__` for the options).

        Raises:
            StoreError: bad URL, unreachable server, bad credentials (the message masks the password).
        """
        scheme = url.split("://", 1)[0].lower() if isinstance(url, str) else ""
        if scheme not in ("postgresql", "postgres"):
            raise ConfigError(f"store URL {_scrub(mask_url(str(url)), str(url))!r} is not a postgresql:// URL")
        return cls(url, **options)

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    # --- schema -------------------------------------------------------------------------------------------------

    def _version(self, conn: Any) -> int:
        if conn.execute("SELECT to_regclass('tokentrail.schema_version')").fetchone()[0] is None:
            return 0
        return int(conn.execute("SELECT coalesce(max(version), 0) FROM tokentrail.schema_version").fetchone()[0])

    def _check_version(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise SchemaVersionError(
                f"store {self.url!r} has schema version {version}, newer than this tokentrail knows "
                f"({len(MIGRATIONS)}); upgrade tokentrail (pip install -U tokentrail)"
            )

    def _migrate(self) -> None:
        """Run the migrations this database lacks, one transaction each, under an advisory lock."""
        with self._pool.connection() as conn, self._errors("set up the schema"):
            with _deadline(conn, self._pool.op_timeout):  # not the migrations: on a big table they take long
                version = self._version(conn)
            self._check_version(version)
            if version == len(MIGRATIONS):
                return
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_MIGRATE,))
            try:
                conn.execute("CREATE SCHEMA IF NOT EXISTS tokentrail")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS tokentrail.schema_version (version integer PRIMARY KEY, "
                    "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                version = self._version(conn)  # another process may have migrated while we waited
                self._check_version(version)
                for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                    with conn.transaction():
                        migration(conn)
                        conn.execute(
                            "INSERT INTO tokentrail.schema_version (version, name) VALUES (%s, %s)",
                            (number, migration.__name__),
                        )
            finally:
                if not conn.broken:  # a dropped connection released its lock already
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_MIGRATE,))

    def _error(self, action: str, e: Exception, timed_out: bool = False) -> StoreError:
        """`StoreUnavailableError` for the server or the network, `StoreError` for data it refused."""
        message = _scrub(str(e).strip(), self._pool._url)
        if timed_out:
            message = f"no answer within {self._pool.op_timeout:g}s (the server or the network hangs)"
        kind = StoreUnavailableError if timed_out or _unavailable(e) else StoreError
        return kind(f"PostgreSQL store {self.url!r} could not {action}: {message}")

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as e:
            raise self._error(action, e) from e

    def _run(self, action: str, work: Callable[[Any], _T], *, timed: bool = False) -> _T:
        """`work(connection)` on a pooled connection, as `StoreError` on failure.

        Run again (at most twice more) when the server had dropped the connection while it sat in the pool, or
        chose this transaction as a deadlock victim. Every unit of work here is safe to repeat: writes skip the
        ids already stored. `timed`: give up after the store's `timeout` (the writer's short steps; not reports
        or deletes, which may rightly take long on a big table).
        """
        for attempt in range(3):
            seconds = self._pool.op_timeout if timed else None
            with self._pool.connection() as conn, _deadline(conn, seconds) as fired:
                try:
                    return work(conn)
                except psycopg.Error as e:
                    again = conn.broken or isinstance(e, (pg_errors.DeadlockDetected, pg_errors.SerializationFailure))
                    if fired.is_set() or not again or attempt == 2:
                        raise self._error(action, e, fired.is_set()) from e
        raise AssertionError("unreachable")  # pragma: no cover

    # --- writes -------------------------------------------------------------------------------------------------

    def _dims_ids(self, keys: set[tuple[Any, ...]]) -> dict[tuple[Any, ...], int]:
        """The dims id of each (provider, model, agent, project, environment, operation, success), cached."""
        with self._dims_lock:
            missing = [k for k in keys if k not in self._dims]
        if missing:
            columns = list(zip(*missing, strict=True))
            arrays = ", ".join(f"%s::{'boolean' if i == 6 else 'text'}[]" for i in range(7))
            names = ("p", "m", "a", "pr", "e", "o", "s")
            values = f"FROM unnest({arrays}) AS t({', '.join(names)})"
            key = _DIMS_KEY_SQL.format(*names)
            params = [list(c) for c in columns]

            def work(conn: Any) -> list[Any]:
                conn.execute(
                    f"INSERT INTO tokentrail.dims (key, {', '.join(_ROLLUP_DIMS)}, success) "
                    f"SELECT {key}, {', '.join(names)} {values} ORDER BY 1 ON CONFLICT (key) DO NOTHING",  # lock order
                    params,
                )
                return list(
                    conn.execute(
                        f"SELECT id, {', '.join(_ROLLUP_DIMS)}, success FROM tokentrail.dims "
                        f"WHERE key IN (SELECT {key} {values})",
                        params,
                    )
                )

            rows = self._run("record dimensions", work, timed=True)
            with self._dims_lock:
                for row in rows:
                    self._dims[tuple(row[1:])] = row[0]
        with self._dims_lock:
            return {k: self._dims[k] for k in keys}

    def _stage(self, conn: Any) -> None:
        """Create this connection's staging table once (emptied at every commit)."""
        if conn in self._staged:
            return
        conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS tt_stage ON COMMIT DELETE ROWS AS "
            f"SELECT 0::integer AS ord, {_COLUMNS}, dims_id FROM tokentrail.calls WITH NO DATA"
        )
        self._staged.add(conn)

    def write(self, calls: Sequence[Call]) -> int:
        """Store a batch in one transaction; calls whose `id` or `response_id` is already stored are skipped.

        Args:
            calls: The batch (any length; 1,000 per call is a good size).

        Returns:
            The number of calls newly stored.

        Raises:
            StoreError: the database refused the batch (nothing of it is stored).
        """
        calls = list(calls)
        if not calls:
            return 0
        dim_keys = [tuple(_enc_opt(v) if i < 6 else v for i, v in enumerate(_get_dims(c))) for c in calls]
        ids = self._dims_ids(set(dim_keys))
        rows = [self._row(i, call, ids[key]) for i, (call, key) in enumerate(zip(calls, dim_keys, strict=True))]

        def work(conn: Any) -> int:
            self._stage(conn)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_LOCK_WRITE,))
                with conn.cursor().copy(f"COPY tt_stage (ord, {_COLUMNS}, dims_id) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return int(conn.execute(_WRITE_SQL).fetchone()[0])

        return self._run("write calls", work, timed=True)

    @staticmethod
    def _row(ordinal: int, call: Call, dims_id: int) -> list[Any]:
        values = list(_get_fields(call))
        for i in _TEXT_AT:
            v = values[i]
            if v is not None and ("\x00" in v or "\x01" in v):
                values[i] = _enc(v)
        labels = values[_LABELS_AT]
        values[_LABELS_AT] = json.dumps({_enc(k): _enc(v) for k, v in labels.items()}) if labels else "{}"
        return [ordinal, *values, dims_id]

    # --- reads --------------------------------------------------------------------------------------------------

    @staticmethod
    def _raw_dim(dim: str, p: _Params) -> str:
        if dim.startswith(LABEL_PREFIX):
            return f"(c.labels ->> {p(dim[len(LABEL_PREFIX) :])})"
        return f'c."{dim}"'

    def _raw_where(self, f: Filter, p: _Params, lo: datetime | None, hi: datetime | None) -> list[str]:
        conds = []
        if lo is not None:
            conds.append(f"c.started_at >= {p(lo)}")
        if hi is not None:
            conds.append(f"c.started_at < {p(hi)}")
        for dim, values in f.where.items():
            conds.append(f"{self._raw_dim(check_dimension(dim), p)} = ANY({p([_enc(v) for v in values])}::text[])")
        if f.success is not None:
            conds.append(f"c.success = {p(f.success)}")
        return conds

    @staticmethod
    def _dims_where(f: Filter, p: _Params, col: str, lo: datetime | None, hi: datetime | None) -> list[str]:
        conds = []
        if lo is not None:
            conds.append(f"{col} >= {p(lo)}")
        if hi is not None:
            conds.append(f"{col} < {p(hi)}")
        for dim, values in f.where.items():
            conds.append(f'd."{dim}" = ANY({p([_enc(v) for v in values])}::text[])')
        if f.success is not None:
            conds.append(f"d.success = {p(f.success)}")
        return conds

    def calls(self, filter: Filter, *, limit: int | None = None, newest_first: bool = True) -> Iterator[Call]:
        """The matching calls ordered by (`started_at`, `id`), streamed through a server-side cursor.

        Args:
            filter: Which calls.
            limit: At most this many.
            newest_first: Newest first (default) or oldest first.

        Returns:
            An iterator holding one pooled connection until it is exhausted or closed.
        """
        p = _Params()
        where = self._raw_where(filter, p, filter.since, filter.until)
        direction = "DESC" if newest_first else "ASC"
        query = (
            f"SELECT {_COLUMNS} FROM tokentrail.calls c WHERE {' AND '.join(where) or 'true'} "
            f"ORDER BY c.started_at {direction}, c.id {direction}"
        )
        if limit is not None:
            query += f" LIMIT {p(limit)}"
        with self._pool.connection() as conn, self._errors("read calls"), conn.transaction():
            with conn.cursor(name="tokentrail_calls") as cur:
                cur.itersize = 2000
                cur.execute(query, p)
                for row in cur:
                    yield self._call(row)

    @staticmethod
    def _call(row: tuple[Any, ...]) -> Call:
        values = list(row)
        for i in _TEXT_AT:
            v = values[i]
            if v is not None and "\x01" in v:
                values[i] = _dec(v)
        labels = values[_LABELS_AT]
        if any("\x01" in k or "\x01" in v for k, v in labels.items()):
            values[_LABELS_AT] = {_dec(k): _dec(v) for k, v in labels.items()}
        return Call(*values)

    def _plan(self, f: Filter, by: Sequence[str], bucket: str | None, tz: tzinfo) -> tuple[list[_Range], list[Any]]:
        """Raw ranges (partial hours, or everything) and whole (unit, lo, hi) blocks the rollups answer."""
        if not self._use_rollups or not all(d in _ROLLUP_DIMS for d in (*by, *f.where)):
            return [(f.since, f.until)], []
        units: tuple[str, ...] = ("hour", "day")
        if bucket is not None:  # a rollup row must fall in one bucket: whole-hour offsets, and UTC for daily rows
            offsets = self._window_offsets(f, tz)
            if not all(o is not None and o % timedelta(hours=1) == timedelta(0) for o in offsets):
                return [(f.since, f.until)], []
            if bucket == "hour" or any(o != timedelta(0) for o in offsets):
                units = ("hour",)
        return _decompose(f.since, f.until, units)

    def _window_offsets(self, f: Filter, tz: tzinfo) -> list[timedelta | None]:
        """`tz`'s offsets over the query window (bounded by the stored data when the window is open)."""
        if isinstance(tz, timezone):
            return [tz.utcoffset(None)]
        lo, hi = f.since, f.until
        if lo is None or hi is None:
            first, last = self._run(
                "read the rollups",
                lambda conn: conn.execute("SELECT min(bucket), max(bucket) FROM tokentrail.hourly").fetchone(),
            )
            if first is None:
                return [None]  # no data: the raw table answers instantly
            lo = first if lo is None else lo
            hi = last + timedelta(hours=1) if hi is None else hi
        return list(_offsets(tz, lo, max(lo, hi)))

    def aggregate(
        self, filter: Filter, *, by: Sequence[str] = (), bucket: Bucket | None = None, tz: tzinfo = timezone.utc
    ) -> list[Group]:
        """Totals per distinct value of the `by` dimensions (and per time bucket in `tz`), computed in SQL.

        Args:
            filter: Which calls.
            by: Dimensions to group by (built-in names or `label:KEY`).
            bucket: `hour`, `day`, `week` (starting Monday) or `month`, in `tz`; None for no time buckets.
            tz: Time zone of the buckets.

        Returns:
            Groups ordered by bucket, then key (None last), equal to the memory store's.

        Raises:
            ValidationError: unknown dimension or bucket.
        """
        dims = [check_dimension(d) for d in by]
        if bucket is not None and bucket not in BUCKETS:
            raise ValidationError(f"bucket={bucket!r} is not valid: use one of {', '.join(BUCKETS)}")
        tz_sql = _tz_param(tz) if bucket is not None else None
        if bucket is not None and tz_sql is None:  # a tzinfo PostgreSQL cannot name: bucket in Python
            return aggregate_calls(self.calls(filter, newest_first=False), filter, by=dims, bucket=bucket, tz=tz)
        p = _Params()
        keys = [f"k{i}" for i in range(len(dims))] + (["b"] if bucket else [])
        segments = []
        raw, blocks = self._plan(filter, dims, bucket, tz)
        parts = [("raw", lo, hi) for lo, hi in raw] + [
            ({"hour": "hourly", "day": "daily"}[u], lo, hi) for u, lo, hi in blocks
        ]
        for source, lo, hi in parts:
            totals: tuple[str, ...]
            if source == "raw":
                cols = [self._raw_dim(d, p) for d in dims]
                at, totals = "c.started_at", (*_TOTAL_ROW, "c.started_at", "c.started_at")
                from_ = "tokentrail.calls c"
                where = self._raw_where(filter, p, lo, hi)
            else:
                cols = [f'd."{d}"' for d in dims]
                at, totals = "r.bucket", tuple(f"r.{c}" for c in (*_TOTAL_COLS, "first_at", "last_at"))
                from_ = f"tokentrail.{source} r JOIN tokentrail.dims d ON d.id = r.dims_id"
                where = self._dims_where(filter, p, "r.bucket", lo, hi)
            if bucket is not None and tz_sql is not None:
                cols.append(f"date_trunc({p(bucket)}, {at} AT TIME ZONE {tz_sql[0] % p(tz_sql[1])})")
            names = (*keys, *_TOTAL_COLS, "f", "l")
            select = ", ".join(f"{e} AS {n}" for e, n in zip((*cols, *totals), names, strict=True))
            segments.append(f"SELECT {select} FROM {from_} WHERE {' AND '.join(where) or 'true'}")
        sums = ", ".join(
            f"coalesce(sum(s.{c}), 0)" if c in ("cost_usd", "duration_ms_sum", "ttft_ms_sum", "timed_output_tokens")
            else f"sum(s.{c})"
            for c in _TOTAL_COLS
        )  # fmt: skip
        group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
        query = (
            f"SELECT {''.join(f's.{k}, ' for k in keys)}{sums}, min(s.f), max(s.l) "
            f"FROM ({' UNION ALL '.join(segments)}) s{group}"
        )
        try:
            rows = self._run("aggregate calls", lambda conn: conn.execute(query, p).fetchall())
        except StoreError as e:
            if bucket is None or not isinstance(e.__cause__, pg_errors.InvalidParameterValue):
                raise  # below: a time zone Python knows and this server does not — bucket in Python
            return aggregate_calls(self.calls(filter, newest_first=False), filter, by=dims, bucket=bucket, tz=tz)
        groups: dict[tuple[datetime | None, tuple[str | None, ...]], Totals] = {}
        for row in rows:
            if not row[len(keys)]:
                continue  # an empty window without GROUP BY still returns one row
            key = tuple(_dec_opt(v) for v in row[: len(dims)])
            start = _bucket_value(row[len(dims)], bucket, tz) if bucket else None
            groups[(start, key)] = _totals(row[len(keys) :])
        return [Group(key=key, bucket=start, totals=t) for (start, key), t in sorted(groups.items(), key=_group_order)]

    def percentiles(
        self,
        filter: Filter,
        *,
        by: Sequence[str] = (),
        metric: Metric = "duration_ms",
        quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    ) -> list[PercentileRow]:
        """Quantiles of `metric` per group: exact (`percentile_cont`), or from the latency histograms when
        more than `exact_percentiles_up_to` values match (then `max_relative_error` says by how much at most).

        Args:
            filter: Which calls.
            by: Dimensions to group by.
            metric: `duration_ms` or `ttft_ms`.
            quantiles: Numbers from 0 to 1.

        Returns:
            One row per group that has values, ordered by key (None last).

        Raises:
            ValidationError: unknown dimension or metric, or a quantile outside [0, 1].
        """
        dims = [check_dimension(d) for d in by]
        if metric not in _METRICS:
            raise ValidationError(f"metric={metric!r} is not valid: use 'duration_ms' or 'ttft_ms'")
        qs = [float(q) for q in check_quantiles(quantiles)]
        used = {*dims, *filter.where}
        many = self._exact_up_to <= 0 or self._table_rows() > self._exact_up_to  # else skip straight to exact
        if self._use_rollups and used <= set(_ROLLUP_DIMS) and many:
            hist = self._histograms(filter, dims, metric, by_model=used <= {"model"} and filter.success is None)
            if sum(n for bins in hist.values() for _, n in bins) > self._exact_up_to:
                rows = []
                for key in sorted(hist, key=_key_order):
                    count, values = _hist_quantiles(hist[key], qs)
                    rows.append(PercentileRow(key, count, values, LATENCY_MAX_RELATIVE_ERROR))
                return rows
        p = _Params()
        cols = [self._raw_dim(d, p) for d in dims]
        where = [f"c.{metric} IS NOT NULL", *self._raw_where(filter, p, filter.since, filter.until)]
        group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(dims)))}" if dims else ""
        query = (
            f"SELECT {''.join(f'{c}, ' for c in cols)}count(*), "
            f"percentile_cont({p(qs)}::float8[]) WITHIN GROUP (ORDER BY c.{metric}) "
            f"FROM tokentrail.calls c WHERE {' AND '.join(where)}{group}"
        )
        result = self._run("compute percentiles", lambda conn: conn.execute(query, p).fetchall())
        out = [
            PercentileRow(tuple(_dec_opt(v) for v in row[: len(dims)]), row[-2], tuple(row[-1]), 0.0)
            for row in result
            if row[-2]
        ]
        return sorted(out, key=lambda r: _key_order(r.key))

    def _table_rows(self) -> float:
        """About how many calls are stored, from the server's statistics (no scan): a hint, never a count."""
        query = (
            "SELECT greatest(coalesce(s.n_live_tup, 0), c.reltuples) FROM pg_class c "
            "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = 'tokentrail.calls'::regclass"
        )
        return float(self._run("read table statistics", lambda conn: conn.execute(query).fetchone()[0]))

    def _histograms(
        self, f: Filter, dims: list[str], metric: str, *, by_model: bool
    ) -> dict[tuple[str | None, ...], list[Any]]:
        """Latency bins per group: histograms for whole blocks of the window, binned raw rows for its edges.

        Questions about models alone read `latency_by_model` (4-hour, day and 8-day blocks: a 30-day window is a
        dozen blocks or so); others read `latency_daily` per dims row.
        """
        p = _Params()
        raw, blocks = _decompose(f.since, f.until, tuple(_LEVELS) if by_model else ("day",))
        segments = []
        if blocks:
            at = "h.start" if by_model else "h.day"
            ranges = []
            for unit, lo, hi in blocks:
                conds = [f"h.level = {p(_LEVELS[unit])}"] if by_model else []
                conds += [f"{at} >= {p(lo)}"] if lo is not None else []
                conds += [f"{at} < {p(hi)}"] if hi is not None else []
                ranges.append(f"({' AND '.join(conds) or 'true'})")
            where = [f"h.metric = {p(_METRICS[metric])}", f"({' OR '.join(ranges)})"]
            if by_model:
                where += [f"h.model = ANY({p([_enc(v) for v in vs])}::text[])" for vs in f.where.values()]
                source = "tokentrail.latency_by_model h"
                keys = "".join("h.model AS k0, " for _ in dims)
            else:
                where += self._dims_where(f, p, at, None, None)
                source = "tokentrail.latency_daily h JOIN tokentrail.dims d ON d.id = h.dims_id"
                keys = "".join(f"d.{d} AS k{i}, " for i, d in enumerate(dims))
            segments.append(
                f"SELECT {keys}e.key::integer AS bin, e.value::bigint AS n "
                f"FROM {source} CROSS JOIN LATERAL jsonb_each_text(h.hist) e WHERE {' AND '.join(where)}"
            )
        for lo, hi in raw:
            where = [f"c.{metric} IS NOT NULL", *self._raw_where(f, p, lo, hi)]
            segments.append(
                f"SELECT {''.join(f'c.{d} AS k{i}, ' for i, d in enumerate(dims))}"
                f"tokentrail.latency_bin(c.{metric}) AS bin, 1 AS n FROM tokentrail.calls c WHERE {' AND '.join(where)}"
            )
        names = "".join(f"k{i}, " for i in range(len(dims)))
        query = f"SELECT {names}bin, sum(n) FROM ({' UNION ALL '.join(segments)}) s GROUP BY {names}bin"
        out: dict[tuple[str | None, ...], list[Any]] = {}
        for row in self._run("compute percentiles", lambda conn: conn.execute(query, p).fetchall()):
            out.setdefault(tuple(_dec_opt(v) for v in row[: len(dims)]), []).append((row[-2], int(row[-1])))
        return out

    # --- delete -------------------------------------------------------------------------------------------------

    def delete(self, filter: Filter, *, batch_size: int = 10_000) -> int:
        """Delete the matching calls, at most `batch_size` rows per transaction, keeping the rollups exact.

        Args:
            filter: Which calls.
            batch_size: Rows per transaction (bounds lock time and WAL per step).

        Returns:
            How many calls were deleted.
        """
        if type(batch_size) is not int or batch_size < 1:
            raise ValidationError(f"batch_size={batch_size!r} is not valid: expected an integer >= 1")
        p = _Params()
        where = " AND ".join(self._raw_where(filter, p, filter.since, filter.until)) or "true"
        query = (
            "WITH gone AS (DELETE FROM tokentrail.calls WHERE ctid IN "
            f"(SELECT ctid FROM tokentrail.calls c WHERE {where} LIMIT {p(batch_size)}) "
            "RETURNING started_at, dims_id, model, duration_ms, ttft_ms), "
            f"l AS ({_latency_upsert('gone s', '-')}), m AS ({_model_latency_upsert('gone s', '-')}) "
            "SELECT count(*), array_agg(DISTINCT date_trunc('hour', started_at, 'UTC')), "
            "array_agg(DISTINCT date_trunc('day', started_at, 'UTC')) FROM gone"
        )

        def one_batch(conn: Any) -> int:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_WRITE,))
                n, hours, days = conn.execute(query, p).fetchone()
                if n:
                    self._settle(conn, hours, days)
                return int(n)

        total = 0
        while True:
            n = self._run("delete calls", one_batch)
            total += n
            if n < batch_size:
                return total

    @staticmethod
    def _settle(conn: Any, hours: list[datetime], days: list[datetime]) -> None:
        """After a delete: drop emptied histogram bins, rebuild the totals of the touched hours and days from `calls`.

        Histograms are counts, so the delete itself subtracted from them (emptied bins go with `hist_add`); totals
        hold first/last times, which
        cannot be subtracted, so their rows are recomputed.
        """
        four_hours = sorted({_floor(h, "4hour") for h in hours})
        blocks = sorted({_floor(d, "8day") for d in days})
        empty = "hist = '{}'::jsonb"
        conn.execute(
            f"DELETE FROM tokentrail.latency_daily WHERE metric IN (0, 1) AND day = ANY(%s) AND {empty}", (days,)
        )
        conn.execute(
            f"DELETE FROM tokentrail.latency_by_model WHERE metric IN (0, 1) AND {empty} AND ("
            "(level = 0 AND start = ANY(%s)) OR (level = 1 AND start = ANY(%s)) OR (level = 2 AND start = ANY(%s)))",
            (four_hours, days, blocks),
        )
        for table, unit, starts in (("hourly", "hour", hours), ("daily", "day", days)):
            conn.execute(f"DELETE FROM tokentrail.{table} WHERE bucket = ANY(%s)", (starts,))
            source = (
                f"(SELECT c.* FROM unnest(%s::timestamptz[]) u(b) JOIN tokentrail.calls c "
                f"ON c.started_at >= u.b AND c.started_at < u.b + interval '1 {unit}') s"
            )
            conn.execute(_rollup_upsert(table, unit, source), (starts,))

    # --- meta ---------------------------------------------------------------------------------------------------

    def _meta(self, query: str, params: tuple[str, ...]) -> tuple[list[Any], int]:
        """Rows and row count of one metadata statement."""

        def work(conn: Any) -> tuple[list[Any], int]:
            cur = conn.execute(query, tuple(_enc(v) for v in params))
            return (cur.fetchall() if cur.description else []), cur.rowcount

        return self._run("use metadata", work, timed=True)

    def meta_get(self, namespace: str, key: str) -> str | None:
        """A shared metadata value, or None."""
        rows, _ = self._meta("SELECT value FROM tokentrail.meta WHERE namespace = %s AND key = %s", (namespace, key))
        return _dec(rows[0][0]) if rows else None

    def meta_put(self, namespace: str, key: str, value: str) -> None:
        """Set a shared metadata value."""
        self._meta(
            "INSERT INTO tokentrail.meta (namespace, key, value) VALUES (%s, %s, %s) "
            "ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
            (namespace, key, value),
        )

    def meta_put_if_absent(self, namespace: str, key: str, value: str) -> bool:
        """Set a value only if the key is new, atomically across processes; True if this call set it."""
        _, added = self._meta(
            "INSERT INTO tokentrail.meta (namespace, key, value) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (namespace, key, value),
        )
        return added == 1

    def meta_delete(self, namespace: str, key: str) -> bool:
        """Remove a key; True if it existed."""
        _, removed = self._meta("DELETE FROM tokentrail.meta WHERE namespace = %s AND key = %s", (namespace, key))
        return removed == 1

    def meta_items(self, namespace: str) -> dict[str, str]:
        """Every key and value of a namespace."""
        rows, _ = self._meta("SELECT key, value FROM tokentrail.meta WHERE namespace = %s ORDER BY key", (namespace,))
        return {_dec(k): _dec(v) for k, v in rows}

    def close(self) -> None:
        """Close every connection. The store must not be used afterwards."""
        self._pool.close()


_WRITE_SQL = (
    f"WITH ins AS (INSERT INTO tokentrail.calls ({_COLUMNS}, dims_id) "
    f"SELECT {_COLUMNS}, dims_id FROM tt_stage ORDER BY ord ON CONFLICT DO NOTHING "
    "RETURNING started_at, dims_id, success, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
    "reasoning_tokens, tokens_estimated, cost_usd, duration_ms, ttft_ms, model), "
    f"h AS ({_rollup_upsert('hourly', 'hour', 'ins')}), "
    f"d AS ({_rollup_upsert('daily', 'day', 'ins')}), "
    f"l AS ({_latency_upsert('ins s')}), "
    f"m AS ({_model_latency_upsert('ins s')}) "
    "SELECT count(*) FROM ins"
)


def _bucket_value(local: datetime, bucket: str | None, tz: tzinfo) -> datetime:
    """A bucket start PostgreSQL returned as local wall time, as the memory store builds it."""
    if bucket == "hour":
        return local.replace(tzinfo=tz)
    return local.replace(tzinfo=tz).astimezone(tz)


def _totals(row: Sequence[Any]) -> Totals:
    (calls, errors, inp, out, cread, cwrite, reasoning, estimated, unpriced, cost, timed, dsum, timed_out,
     ttft_calls, tsum, first, last) = row  # fmt: skip
    return Totals(
        calls=int(calls), errors=int(errors), input_tokens=int(inp), output_tokens=int(out),
        cache_read_tokens=int(cread), cache_write_tokens=int(cwrite), reasoning_tokens=int(reasoning),
        estimated_calls=int(estimated), unpriced_calls=int(unpriced), cost_usd=Decimal(cost), timed_calls=int(timed),
        duration_ms_sum=float(dsum), timed_output_tokens=int(timed_out), ttft_calls=int(ttft_calls),
        ttft_ms_sum=float(tsum), first_at=first, last_at=last,
    )  # fmt: skip
