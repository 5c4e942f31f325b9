"""The PostgreSQL store on the local server: COPY round trips, dedupe, credentials, schema versions,
concurrent writers, rollups against the raw table, and hostile label keys and values."""

from __future__ import annotations

import multiprocessing
import random
import threading
import traceback
from collections.abc import Generator, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import cast
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tokentrail.errors import SchemaVersionError, StoreError, ValidationError
from tokentrail.model import MODALITY_FIELDS, Call
from tokentrail.store import open_store
from tokentrail.store.base import Bucket, Filter, Metric, Totals
from tokentrail.store.memory import MemoryStore
from tokentrail.store.postgres import LATENCY_MAX_RELATIVE_ERROR, MIGRATIONS, PostgresStore

pytestmark = pytest.mark.postgres

ROLLUP_DIMS = {"provider", "model", "agent", "project", "environment", "operation"}
T0 = datetime(2024, 3, 20, 7, 13, 5, 250_001, tzinfo=timezone.utc)  # a week before Europe's DST change


def make_calls(n: int, seed: int, *, prefix: str = "c", days: float = 14.0) -> list[Call]:
    """`n` varied calls over `days` days from T0, the same for the same arguments."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        streamed = rnd.random() < 0.4
        priced = rnd.random() < 0.9
        out.append(
            Call(
                id=f"{prefix}-{seed}-{i:06d}",
                started_at=T0 + timedelta(seconds=rnd.uniform(0, days * 86400)),
                model=rnd.choice(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-pro"]),
                provider=rnd.choice(["openai", "anthropic", "google", None]),
                operation=rnd.choice(["chat", "chat", "embedding"]),
                duration_ms=rnd.choice([None, rnd.lognormvariate(6, 1), 0.0, float(rnd.randrange(1, 9000))]),
                ttft_ms=rnd.lognormvariate(4, 0.5) if streamed else None,
                streamed=streamed,
                response_id=rnd.choice([None, f"resp-{seed}-{i}"]),
                input_tokens=(inp := rnd.randrange(0, 50_000)),
                output_tokens=(out_t := rnd.randrange(0, 4_000)),
                cache_read_tokens=inp // 3,
                reasoning_tokens=out_t // 4,
                tokens_estimated=rnd.random() < 0.1,
                cost_usd=Decimal(rnd.randrange(1, 10**7)) / Decimal(10**9) if priced else None,
                agent=rnd.choice(["router", "coder", "", None]),
                user=rnd.choice(["u-1", "u-2", None]),
                project=rnd.choice(["alpha", "beta"]),
                environment=rnd.choice(["prod", "dev", None]),
                labels={"team": rnd.choice(["red", "blue"])} if rnd.random() < 0.7 else {},
                success=rnd.random() > 0.08,
            )
        )
    return out


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore.from_url(pg_url)
    try:
        yield store
    finally:
        store.close()


def oldest_first(store: PostgresStore | MemoryStore) -> list[Call]:
    return list(store.calls(Filter(), newest_first=False))


# --- writes -----------------------------------------------------------------------------------------------------


def test_copy_round_trip_keeps_every_field(pg: PostgresStore) -> None:
    odd = Call(
        id="odd\x00id\x01",
        started_at=datetime(2024, 5, 1, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        model="m\tmodel\n\\",
        provider="p",
        response_model="m-2024",
        operation="responses",
        duration_ms=1e-300,
        ttft_ms=0.1 + 0.2,
        finish_reason="stop",
        streamed=True,
        response_id="r\x00",
        input_tokens=2**40,
        output_tokens=7,
        cache_read_tokens=3,
        cache_write_tokens=2,
        cache_write_1h_tokens=1,
        reasoning_tokens=7,
        tokens_estimated=True,
        cost_usd=Decimal("0.000012300"),
        input_cost_usd=Decimal("1E-12"),
        output_cost_usd=Decimal("0"),
        cache_read_cost_usd=None,
        cache_write_cost_usd=Decimal("123456789.123456789123456789"),
        currency="EUR",
        price_source="genai-prices 0.2.3",
        agent="ägent 🚀",
        user="u",
        session="s",
        project="p",
        environment="prod",
        git_branch="feature/x",
        trace_id="t",
        span_id="s1",
        parent_span_id="s0",
        labels={"k\x00": "v\x01", "quote'\"": "\\u0000", "": "", "empty": ""},
        success=False,
        error_type="RateLimitError",
        error_message="429 \x00 \x01\x01 \x02",
        retries=3,
        prompt_hash="a" * 64,
        response_hash="b" * 64,
        prompt="hello\r\n",
        response="world",
    )
    calls = [odd, *make_calls(2_500, seed=1)]
    assert pg.write(calls[:1]) + pg.write(calls[1:]) == len(calls)
    assert oldest_first(pg) == sorted(calls, key=lambda c: (c.started_at, c.id))
    assert list(pg.calls(Filter(where={"provider": ("p",)}))) == [odd]


def test_dedupe_by_id_and_response_id(pg: PostgresStore) -> None:
    memory = MemoryStore()
    base = Call(id="a", started_at=T0, model="m", response_id="r1")
    batches = [
        [base, base.replace(id="b", response_id="r1"), base.replace(id="a", response_id="r2"), base.replace(id="c")],
        [base, base.replace(id="d", response_id=None), base.replace(id="e", response_id="r1")],
        [base.replace(id="f", response_id="r3"), base.replace(id="g", response_id="r3")],
    ]
    for batch in batches:
        assert pg.write(batch) == memory.write(batch)
    assert oldest_first(pg) == oldest_first(memory)
    assert [c.id for c in oldest_first(pg)] == ["a", "d", "f"]
    assert pg.aggregate(Filter())[0].totals.calls == 3


def test_write_returns_zero_for_an_empty_batch(pg: PostgresStore) -> None:
    assert pg.write([]) == 0


def test_a_refused_batch_stores_nothing(pg: PostgresStore) -> None:
    good = make_calls(3, seed=2)
    bad = Call(id="bad", started_at=T0, model="m", input_tokens=2**70)  # does not fit a bigint
    with pytest.raises(StoreError, match="could not write calls"):
        pg.write([*good, bad])
    assert oldest_first(pg) == []
    assert pg.aggregate(Filter()) == []
    assert pg.write(good) == 3


def _writer(url: str, seed: int, start: threading.Event | None, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One process: its own 10,000 calls in batches of 1,000, racing a neighbour's first 1,000."""
    store = PostgresStore.from_url(url)
    try:
        own = make_calls(10_000, seed=seed, prefix="w")
        neighbour = make_calls(1_000, seed=(seed + 1) % 4, prefix="w")
        batches = [own[i : i + 1_000] for i in range(0, len(own), 1_000)]
        batches.insert(seed, neighbour)
        if start is not None:
            start.wait(60)
        out.put(sum(store.write(b) for b in batches))
    except BaseException as e:
        out.put(f"writer {seed} failed: {e!r}")
        raise
    finally:
        store.close()


@pytest.mark.slow
def test_concurrent_writers_store_each_call_once(pg: PostgresStore, pg_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(pg_url, seed, start, out)) for seed in range(4)]
    for proc in procs:
        proc.start()
    start.set()
    stored = [out.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(60)
    out.close()
    out.join_thread()
    assert [p.exitcode for p in procs] == [0, 0, 0, 0], stored
    assert sum(stored) == 40_000
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM tokentrail.calls").fetchone() == (40_000, 40_000)
    raw = PostgresStore.from_url(pg_url, use_rollups=False)
    try:
        assert_same_groups(pg.aggregate(Filter(), by=["model"]), raw.aggregate(Filter(), by=["model"]))
    finally:
        raw.close()
    assert sum(g.totals.calls for g in pg.aggregate(Filter(), by=["model"])) == 40_000


# --- connections and schema -------------------------------------------------------------------------------------


def _hba_enforces_passwords(pg_url: str) -> bool:
    with psycopg.connect(pg_url) as conn:
        rules = conn.execute(
            "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' AND address = '127.0.0.1'"
        ).fetchall()
    return bool(rules) and rules[0][0] in ("md5", "scram-sha-256", "password")


def assert_masked(error: BaseException, secret: str) -> None:
    """Neither the error nor anything a traceback would show with it (its causes) holds `secret`."""
    shown: BaseException | None = error
    while shown is not None:
        assert secret not in "".join(traceback.format_exception_only(shown))
        shown = shown.__cause__ or (None if shown.__suppress_context__ else shown.__context__)
    assert "***" in str(error)


def test_unreachable_server_error_masks_the_password() -> None:
    with pytest.raises(StoreError, match=r"cannot connect to PostgreSQL store") as info:
        open_store("postgresql://u:secret@127.0.0.1:1/x")
    assert_masked(info.value, "secret")
    assert "postgresql://u:***@127.0.0.1:1/x" in str(info.value)


def test_bad_database_or_password_error_masks_the_password(pg_url: str) -> None:
    host = pg_url.split("@", 1)[1].rsplit("/", 1)[0]
    with pytest.raises(StoreError) as info:
        PostgresStore.from_url(f"postgres://postgres:s3cr%40t@{host}/no_such_database_here")
    assert_masked(info.value, "s3cr%40t")
    assert "s3cr@t" not in str(info.value)
    assert "no_such_database_here" in str(info.value)
    with pytest.raises(StoreError) as info:
        PostgresStore.from_url(f"postgresql://{host}/no_such_database_here?password=hunter2&user=postgres")
    assert_masked(info.value, "hunter2")
    if _hba_enforces_passwords(pg_url):  # this server trusts 127.0.0.1, so a wrong password is only tested elsewhere
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DROP ROLE IF EXISTS tt_pw_test")
            conn.execute("CREATE ROLE tt_pw_test LOGIN PASSWORD 'right-one'")
        try:
            with pytest.raises(StoreError) as info:
                PostgresStore.from_url(pg_url.replace("postgres@", "tt_pw_test:wrong-one@"))
            assert_masked(info.value, "wrong-one")
        finally:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute("DROP ROLE tt_pw_test")


def test_newer_schema_is_refused(pg: PostgresStore, pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tokentrail.schema_version (version, name) VALUES (999, 'm999_from_the_future')")
    known = rf"schema version 999, newer than this tokentrail knows \({len(MIGRATIONS)}\)"
    with pytest.raises(SchemaVersionError, match=known):
        PostgresStore.from_url(pg_url)


def test_many_processes_opening_a_blank_database_migrate_once(pg_url: str) -> None:
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(PostgresStore.from_url(pg_url))
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.close()
    assert errors == []
    with psycopg.connect(pg_url) as conn:
        versions = conn.execute("SELECT version, name FROM tokentrail.schema_version ORDER BY version").fetchall()
    assert versions == [(i + 1, m.__name__) for i, m in enumerate(MIGRATIONS)]


def test_upgrade_from_version_2_folds_existing_calls_into_the_rollups(pg_url: str) -> None:
    calls = make_calls(300, seed=3)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA tokentrail")
        conn.execute("CREATE TABLE tokentrail.schema_version (version integer PRIMARY KEY, name text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")  # fmt: skip
        for number, migration in enumerate(MIGRATIONS[:2], start=1):
            migration(conn)
            conn.execute("INSERT INTO tokentrail.schema_version VALUES (%s, %s)", (number, migration.__name__))
        cols = ("id", "started_at", "model", "provider", "operation", "duration_ms", "ttft_ms", "streamed",
                "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens",
                "reasoning_tokens", "tokens_estimated", "cost_usd", "currency", "agent", "project", "environment",
                "labels", "success", "retries")  # fmt: skip
        with conn.cursor().copy(f"COPY tokentrail.calls ({', '.join(cols)}) FROM STDIN") as copy:
            for c in calls:
                copy.write_row([Jsonb(dict(c.labels)) if n == "labels" else getattr(c, n)
                                for n in cols])  # fmt: skip
    memory = MemoryStore()
    memory.write([c.replace(user=None, response_id=None) for c in calls])
    store = PostgresStore.from_url(pg_url)
    raw = PostgresStore.from_url(pg_url, use_rollups=False)
    try:
        for by in ([], ["model", "agent"], ["environment"]):
            assert_same_groups(
                store.aggregate(Filter(), by=by, bucket="day"), memory.aggregate(Filter(), by=by, bucket="day")
            )
            assert_same_groups(store.aggregate(Filter(), by=by), raw.aggregate(Filter(), by=by))
        assert store.write(calls[:10]) == 0
    finally:
        store.close()
        raw.close()


def test_upgrade_from_version_3_adds_the_modality_columns_and_keeps_every_call(pg_url: str) -> None:
    from test_modalities import modal_calls

    old = make_calls(300, seed=4)
    store = PostgresStore.from_url(pg_url)
    store.write(old)
    store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:  # take the store back to version 3: drop what m004 added
        for name in MODALITY_FIELDS:
            conn.execute(f"ALTER TABLE tokentrail.calls DROP COLUMN {name}")
        conn.execute("DELETE FROM tokentrail.schema_version WHERE version > 3")
    assert MIGRATIONS[3].__name__ == "m004_add_modality_tokens" and "Why" in (MIGRATIONS[3].__doc__ or "")
    memory = MemoryStore()
    memory.write(old)
    store = PostgresStore.from_url(pg_url)
    try:
        with psycopg.connect(pg_url) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM tokentrail.schema_version ORDER BY version")]
        assert names == [m.__name__ for m in MIGRATIONS]
        assert sorted(store.calls(Filter()), key=lambda c: c.id) == sorted(old, key=lambda c: c.id)
        for by in ([], ["model", "agent"]):
            assert_same_groups(
                store.aggregate(Filter(), by=by, bucket="day"), memory.aggregate(Filter(), by=by, bucket="day")
            )
        new = modal_calls(40, seed=5)
        assert store.write(new) == len(new)
        assert sorted((c for c in store.calls(Filter()) if c.id.startswith("m-")), key=lambda c: c.id) == new
    finally:
        store.close()


# --- reads ------------------------------------------------------------------------------------------------------


def assert_same_totals(got: Totals, want: Totals) -> None:
    for name in ("duration_ms_sum", "ttft_ms_sum"):  # float sums depend on the order of addition
        assert getattr(got, name) == pytest.approx(getattr(want, name), rel=1e-12, abs=1e-9), name
    assert replace(got, duration_ms_sum=0.0, ttft_ms_sum=0.0) == replace(want, duration_ms_sum=0.0, ttft_ms_sum=0.0)


def assert_same_groups(got: list, want: list) -> None:  # type: ignore[type-arg]
    assert [(g.key, g.bucket) for g in got] == [(g.key, g.bucket) for g in want]
    for g, w in zip(got, want, strict=True):
        assert_same_totals(g.totals, w.totals)


WINDOWS = [
    Filter(),
    Filter(since=T0 + timedelta(days=2, minutes=17, microseconds=3), until=T0 + timedelta(days=9, hours=5, seconds=1)),
    Filter(since=datetime(2024, 3, 22, tzinfo=timezone.utc), until=datetime(2024, 3, 29, 5, tzinfo=timezone.utc)),
    Filter(since=T0 + timedelta(hours=30)),
    Filter(until=T0 + timedelta(days=6, minutes=1)),
    Filter(since=T0 + timedelta(days=3, minutes=5), until=T0 + timedelta(days=3, minutes=50)),
    Filter(where={"model": ("gpt-4o", "claude-sonnet-4")}, success=True),
    Filter(since=T0 + timedelta(days=1), where={"agent": ("",), "environment": ("prod",)}, success=False),
    Filter(where={"label:team": ("red",)}),
    Filter(where={"user": ("u-1",), "model": ("gpt-4o",)}),
]
GROUPINGS = [(), ("model",), ("model", "agent"), ("provider", "environment", "operation"), ("label:team",), ("user",)]
BUCKETINGS: list[tuple[Bucket | None, tzinfo]] = [
    (None, timezone.utc),
    ("hour", timezone.utc),
    ("day", timezone.utc),
    ("day", ZoneInfo("Europe/Berlin")),
    ("week", ZoneInfo("America/New_York")),
    ("month", timezone(timedelta(hours=-3))),
    ("hour", ZoneInfo("Asia/Kolkata")),
    ("day", timezone(timedelta(hours=5, minutes=45))),
]


def test_rollups_answer_like_the_raw_table_and_memory(pg: PostgresStore, pg_url: str) -> None:
    calls = make_calls(3_000, seed=4)
    memory = MemoryStore()
    for i in range(0, len(calls), 700):
        assert pg.write(calls[i : i + 700]) == memory.write(calls[i : i + 700])
    raw = PostgresStore.from_url(pg_url, use_rollups=False)
    try:
        for f in WINDOWS:
            for by in GROUPINGS:
                for bucket, tz in BUCKETINGS:
                    want = memory.aggregate(f, by=by, bucket=bucket, tz=tz)
                    assert_same_groups(pg.aggregate(f, by=by, bucket=bucket, tz=tz), want)
                    assert_same_groups(raw.aggregate(f, by=by, bucket=bucket, tz=tz), want)
    finally:
        raw.close()


def test_percentiles_are_exact_until_the_histograms_take_over(pg: PostgresStore, pg_url: str) -> None:
    calls = make_calls(4_000, seed=5)
    memory = MemoryStore()
    pg.write(calls)
    memory.write(calls)
    approx = PostgresStore.from_url(pg_url, exact_percentiles_up_to=0)
    try:
        for f in WINDOWS:
            for by in GROUPINGS[:4]:
                metrics: tuple[Metric, ...] = ("duration_ms", "ttft_ms")
                for metric in metrics:
                    qs = (0.0, 0.5, 0.95, 0.99, 1.0)
                    want = memory.percentiles(f, by=by, metric=metric, quantiles=qs)
                    assert pg.percentiles(f, by=by, metric=metric, quantiles=qs) == want
                    got = approx.percentiles(f, by=by, metric=metric, quantiles=qs)
                    assert [(r.key, r.count) for r in got] == [(r.key, r.count) for r in want]
                    in_rollup = {*by, *f.where} <= ROLLUP_DIMS  # others always come exact from the raw table
                    for g, w in zip(got, want, strict=True):
                        assert g.max_relative_error == (LATENCY_MAX_RELATIVE_ERROR if in_rollup else 0.0)
                        for a, b in zip(g.values, w.values, strict=True):
                            assert abs(a - b) <= LATENCY_MAX_RELATIVE_ERROR * b + 1e-12  # type: ignore[operator]
    finally:
        approx.close()


class _FixedPlusOne(tzinfo):
    """A tzinfo PostgreSQL cannot name (neither a zoneinfo key nor a datetime.timezone)."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=1)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "+01"


def test_unnamed_time_zones_and_extreme_windows(pg: PostgresStore) -> None:
    calls = make_calls(400, seed=9)
    memory = MemoryStore()
    pg.write(calls)
    memory.write(calls)
    for bucket in ("hour", "day", "week", "month"):
        want = memory.aggregate(Filter(), by=["model"], bucket=bucket, tz=_FixedPlusOne())
        assert_same_groups(pg.aggregate(Filter(), by=["model"], bucket=bucket, tz=_FixedPlusOne()), want)
    for f in (
        Filter(since=datetime.min.replace(tzinfo=timezone.utc)),
        Filter(until=datetime.max.replace(tzinfo=timezone.utc)),
        Filter(since=T0 + timedelta(days=1), until=T0 + timedelta(days=1)),
    ):
        assert_same_groups(pg.aggregate(f, by=["model"]), memory.aggregate(f, by=["model"]))
        assert pg.percentiles(f, by=["model"]) == memory.percentiles(f, by=["model"])


def test_calls_streams_filters_and_releases_its_connection(pg_url: str) -> None:
    store = PostgresStore.from_url(pg_url, pool_size=1, pool_timeout=2)
    try:
        calls = make_calls(5_000, seed=6)
        store.write(calls)
        memory = MemoryStore()
        memory.write(calls)
        for f in WINDOWS:
            assert list(store.calls(f, limit=50)) == list(memory.calls(f, limit=50))
        stream = cast(Generator[Call, None, None], store.calls(Filter()))
        assert next(stream) == next(memory.calls(Filter()))
        stream.close()  # hands the only connection back
        assert store.meta_put_if_absent("ns", "k", "v")
        assert sum(1 for _ in store.calls(Filter(), newest_first=False)) == 5_000
    finally:
        store.close()


def test_delete_in_batches_keeps_rollups_exact(pg: PostgresStore, pg_url: str) -> None:
    calls = make_calls(3_000, seed=7)
    memory = MemoryStore()
    pg.write(calls)
    memory.write(calls)
    for f in (
        Filter(until=T0 + timedelta(days=3, hours=2, minutes=30)),
        Filter(where={"model": ("gpt-4o",)}, since=T0 + timedelta(days=9, minutes=1)),
        Filter(where={"label:team": ("blue",)}, success=False),
    ):
        assert pg.delete(f, batch_size=97) == memory.delete(f)
    assert pg.delete(Filter(until=T0)) == 0
    raw = PostgresStore.from_url(pg_url, use_rollups=False)
    try:
        for f in WINDOWS[:6]:
            for by in GROUPINGS[:3]:
                want = memory.aggregate(f, by=by, bucket="day")
                assert_same_groups(pg.aggregate(f, by=by, bucket="day"), want)
                assert_same_groups(raw.aggregate(f, by=by, bucket="day"), want)
                assert_same_groups(pg.aggregate(f, by=by), memory.aggregate(f, by=by))
    finally:
        raw.close()
    approx = PostgresStore.from_url(pg_url, exact_percentiles_up_to=0)  # histograms lost exactly what was deleted
    try:
        for f in WINDOWS[:6]:
            for by in GROUPINGS[:3]:
                rows, exact = approx.percentiles(f, by=by), memory.percentiles(f, by=by)
                assert [(r.key, r.count) for r in rows] == [(r.key, r.count) for r in exact]
        with psycopg.connect(pg_url) as conn:
            for table in ("latency_daily", "latency_by_model"):
                empty = conn.execute(
                    f"SELECT count(*) FROM tokentrail.{table} h LEFT JOIN LATERAL jsonb_each_text(h.hist) e ON true "
                    "WHERE e.key IS NULL OR e.value::bigint <= 0"
                ).fetchone()
                assert empty == (0,)
    finally:
        approx.close()
    assert oldest_first(pg) == oldest_first(memory)
    with pytest.raises(ValidationError, match="batch_size"):
        pg.delete(Filter(), batch_size=0)


# --- hostile input ----------------------------------------------------------------------------------------------


def test_label_keys_and_values_cannot_inject_sql(pg: PostgresStore, pg_url: str) -> None:
    nasty = ["x'; DROP TABLE tokentrail.calls; --", "' OR '1'='1", "\\", '"}', "$1", "%s", "%(p0)s", "a\x00b"]
    calls = [
        Call(id=f"n{i}", started_at=T0 + timedelta(minutes=i), model="m", labels={key: key, "team": key})
        for i, key in enumerate(nasty)
    ]
    assert pg.write(calls) == len(nasty)
    assert oldest_first(pg) == calls
    for i, value in enumerate(nasty):
        assert [c.id for c in pg.calls(Filter(where={"label:team": (value,)}))] == [f"n{i}"]
        assert [g.totals.calls for g in pg.aggregate(Filter(where={"label:team": (value,)}), by=["label:team"])] == [1]
        assert pg.delete(Filter(where={"model": (value,)})) == 0
    groups = pg.aggregate(Filter(), by=["label:team"])
    assert sorted(g.key[0] for g in groups) == sorted(nasty)  # type: ignore[type-var]
    for key in ["team'", "team) OR true --", "a b", "", "x" * 65, "k\x00"]:
        with pytest.raises(ValidationError, match="dimension="):
            pg.aggregate(Filter(), by=[f"label:{key}"])
        with pytest.raises(ValidationError, match="dimension="):
            Filter(where={f"label:{key}": ("v",)})
    with pytest.raises(ValidationError):
        pg.aggregate(Filter(), by=["model; DROP TABLE tokentrail.calls"])
    for key in ["a-b", "a.b", "a/b", "a:b", "A_9"]:
        assert pg.aggregate(Filter(where={f"label:{key}": ("v",)}), by=[f"label:{key}"]) == []
    for value in nasty:
        assert pg.meta_put_if_absent(value, value, value)
        assert pg.meta_get(value, value) == value
    assert pg.meta_items(nasty[0]) == {nasty[0]: nasty[0]}
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM tokentrail.calls").fetchone() == (len(nasty),)


# --- meta -------------------------------------------------------------------------------------------------------


def test_meta_is_shared_between_stores(pg: PostgresStore, pg_url: str) -> None:
    other = PostgresStore.from_url(pg_url)
    try:
        assert pg.meta_get("budgets", "daily") is None
        pg.meta_put("budgets", "daily", "10")
        assert other.meta_get("budgets", "daily") == "10"
        other.meta_put("budgets", "daily", "12")
        assert pg.meta_items("budgets") == {"daily": "12"}
        results = []
        threads = [
            threading.Thread(target=lambda s=s: results.append(s.meta_put_if_absent("alerts", "fired", "x")))
            for s in (pg, other, pg, other)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [False, False, False, True]
        assert other.meta_delete("alerts", "fired") and not pg.meta_delete("alerts", "fired")
        assert pg.meta_items("alerts") == {}
    finally:
        other.close()


def test_connections_the_server_dropped_are_replaced(pg: PostgresStore, pg_url: str) -> None:
    calls = make_calls(200, seed=8)
    assert pg.write(calls[:100]) == 100
    with psycopg.connect(pg_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert killed is not None and killed[0] >= 1
    assert pg.write(calls) == 100
    assert pg.aggregate(Filter())[0].totals.calls == 200


def test_closed_store_refuses_work(pg_url: str) -> None:
    store = PostgresStore.from_url(pg_url)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.meta_get("a", "b")
    assert "postgres" in repr(store)
