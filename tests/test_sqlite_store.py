"""What only the SQLite store promises: WAL, schema versions, many threads and processes, rollups = raw rows."""

from __future__ import annotations

import math
import multiprocessing
import random
import sqlite3
import threading
import zlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tokentrail.errors import ConfigError, SchemaVersionError, StoreError, ValidationError
from tokentrail.model import Call
from tokentrail.store import Filter, open_store
from tokentrail.store._sql import (
    HOUR_US,
    LATENCY_MAX_RELATIVE_ERROR,
    MAX_BIN,
    MIN_BIN,
    ZERO_BIN,
    HistSum,
    bin_of,
    bin_value,
    cost_code,
    cost_sum,
    hist_pack,
    hist_quantiles,
    offset_pieces,
    to_us,
)
from tokentrail.store.memory import MemoryStore
from tokentrail.store.migrations import LATEST, MIGRATIONS
from tokentrail.store.sqlite import SQLiteStore, rebuild_rollups

UTC = timezone.utc
T0 = datetime(2025, 5, 1, tzinfo=UTC)


def make(n: int, prefix: str = "c", **fields: object) -> Call:
    defaults: dict[str, object] = {"id": f"{prefix}-{n:07d}", "started_at": T0 + timedelta(seconds=n), "model": "m"}
    defaults.update(fields)
    return Call(**defaults)  # type: ignore[arg-type]


def random_calls(n: int, seed: int) -> list[Call]:
    """A messy workload: skewed dimensions, backfilled timestamps, failures, unpriced and exotic costs."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = T0 + timedelta(seconds=i * 97 + rng.randrange(97))
        if rng.random() < 0.1:
            at -= timedelta(hours=rng.uniform(0, 30))  # arrives late
        out.append(
            make(
                i,
                prefix=f"r{seed}",
                started_at=at,
                model=rng.choice(["gpt-4o", "gpt-4o", "gpt-4o-mini", "claude", "gemini"]),
                provider=rng.choice(["openai", "anthropic", None]),
                agent=rng.choice(["a", "b", "c", None]),
                project=rng.choice(["p1", "p2"]),
                environment=rng.choice(["prod", "dev", None]),
                finish_reason=rng.choice(["stop", "length", None]),
                user=f"u{rng.randrange(9)}",
                labels={"all": "1", "team": rng.choice(["x", "y"])},
                input_tokens=rng.randrange(10_000),
                output_tokens=rng.randrange(2_000),
                cost_usd=rng.choice([None, Decimal(rng.randrange(10**6)) / 10**9, Decimal("0.000000333333333333333")]),
                duration_ms=None if rng.random() < 0.05 else rng.lognormvariate(6, 1),
                ttft_ms=rng.lognormvariate(4, 1) if rng.random() < 0.5 else None,
                success=rng.random() > 0.05,
                response_id=f"resp-{rng.randrange(n * 2)}" if rng.random() < 0.5 else None,
            )
        )
    return out


def sqlite_url(tmp_path: Path, name: str = "store.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def totals(groups: list) -> list:  # type: ignore[type-arg]
    out = []
    for g in groups:
        t = g.totals
        out.append((g.bucket, g.key, t.calls, t.errors, t.input_tokens, t.output_tokens, t.unpriced_calls,
                    t.cost_usd, t.timed_calls, t.ttft_calls, t.first_at, t.last_at,
                    round(t.duration_ms_sum, 3), round(t.ttft_ms_sum, 3)))  # fmt: skip
    return out


# --- opening ------------------------------------------------------------------------------------


def test_file_is_in_wal_mode_and_parent_folders_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "usage.db"
    store = open_store(f"sqlite:///{path}")
    try:
        store.write([make(1)])
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    conn.close()


def test_urls_follow_one_path_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What follows sqlite:// is the path as written: three slashes make it absolute, as with file:// and jsonl://.
    monkeypatch.chdir(tmp_path)
    absolute = tmp_path / "absolute.db"
    cases = {
        "sqlite://relative.db": tmp_path / "relative.db",
        "sqlite://./sub/dotted.db": tmp_path / "sub" / "dotted.db",
        f"sqlite://{absolute}": absolute,  # sqlite:///tmp/.../absolute.db
        f"sqlite:///{absolute}": absolute,  # SQLAlchemy's four-slash absolute form still works
        "plain.db": tmp_path / "plain.db",
    }
    for url, path in cases.items():
        store = open_store(url)
        assert isinstance(store, SQLiteStore) and (store.path, store.url) == (str(path), f"sqlite://{path}"), url
        store.close()
        assert path.is_file()
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    for url in ("sqlite://~/h.db", "sqlite:///~/h.db", "~/h.db"):
        store = open_store(url)
        assert store.url == f"sqlite://{home / 'h.db'}"
        store.close()
    memory = SQLiteStore.from_url("sqlite:///:memory:")
    assert memory.url == "sqlite:///:memory:"
    memory.close()
    for bad in ("sqlite://", "sqlite:///", "sqlite:/x.db", "postgres:///x.db", "sqlite:///x.db?mode=ro"):
        with pytest.raises(ConfigError):
            SQLiteStore.from_url(bad)


def test_unwritable_path_is_a_store_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    path = blocker / "usage.db"
    with pytest.raises(StoreError, match=str(path)):
        open_store(f"sqlite:///{path}")
    with pytest.raises(StoreError, match=str(tmp_path)):
        open_store(f"sqlite:///{tmp_path}")  # a folder, not a database file


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.write([make(1)])


def test_bad_calls_are_rejected_with_the_field(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    try:
        naive = Call.__new__(Call)
        for f, v in make(1).to_dict().items():
            object.__setattr__(naive, f, v)
        object.__setattr__(naive, "started_at", datetime(2025, 1, 1))  # noqa: DTZ001 - the point of the test
        with pytest.raises(ValidationError):
            store.write([make(2), naive])
        assert list(store.calls(Filter())) == []
    finally:
        store.close()


# --- schema versions ----------------------------------------------------------------------------


def test_a_file_from_a_newer_tokentrail_is_refused(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    open_store(url).close()
    conn = sqlite3.connect(tmp_path / "store.db")
    conn.execute(f"PRAGMA user_version = {LATEST + 7}")
    conn.close()
    with pytest.raises(SchemaVersionError) as info:
        open_store(url)
    message = str(info.value)
    assert str(tmp_path / "store.db") in message and str(LATEST + 7) in message and str(LATEST) in message


def test_migrations_build_the_schema_from_a_blank_file(tmp_path: Path) -> None:
    assert [m.__name__ for m in MIGRATIONS] == [f"m{i:03d}_{m.__name__[5:]}" for i, m in enumerate(MIGRATIONS, 1)]
    assert all(m.__doc__ and "Why" in m.__doc__ for m in MIGRATIONS)
    open_store(sqlite_url(tmp_path)).close()
    conn = sqlite3.connect(tmp_path / "store.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert {"calls", "series", "meta", "rollup_hour", "rollup_day", "rollup_series_day", "hist_hour"} <= tables


@pytest.mark.parametrize("version", range(1, LATEST))
def test_migrations_upgrade_every_older_schema_keeping_the_calls(tmp_path: Path, version: int) -> None:
    calls = random_calls(500, seed=version)
    url = sqlite_url(tmp_path)
    store = open_store(url)
    store.write(calls)
    store.close()
    conn = sqlite3.connect(tmp_path / "store.db")  # take the file back to `version`: drop what came later
    later = {2: ["meta"], 3: ["rollup_hour", "rollup_day", "rollup_series_day", "hist_hour", "hist_day"]}
    for number in range(version + 1, LATEST + 1):
        for table in later[number]:
            conn.execute(f"DROP TABLE {table}")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    store = open_store(url)
    memory = MemoryStore()
    memory.write(calls)
    try:
        assert list(store.calls(Filter())) == list(memory.calls(Filter()))
        for by in ((), ("model",), ("agent", "environment")):
            assert totals(store.aggregate(Filter(), by=by, bucket="day")) == totals(
                memory.aggregate(Filter(), by=by, bucket="day")
            )
        store.meta_put("n", "k", "v")
    finally:
        store.close()


def test_modality_counts_need_no_schema_change_and_rows_written_before_them_read_as_zero(tmp_path: Path) -> None:
    from test_modalities import modal_calls
    from tokentrail.model import MODALITY_FIELDS
    from tokentrail.store.sqlite import EXTRA_FIELDS

    text_only = [c for c in random_calls(200, seed=11) if c.response_id is None]  # none deduplicated away
    modal = modal_calls(50, seed=12)
    url = sqlite_url(tmp_path)
    store = open_store(url)
    store.write(text_only + modal)
    store.close()
    conn = sqlite3.connect(tmp_path / "store.db")
    lengths = dict(conn.execute("SELECT id, json_array_length(extra) FROM calls").fetchall())
    before = len(EXTRA_FIELDS) - len(MODALITY_FIELDS)  # the `extra` array as tokentrail wrote it before them
    assert {lengths[c.id] for c in text_only} == {before}
    assert {lengths[c.id] for c in modal if any(getattr(c, f) for f in MODALITY_FIELDS)} == {len(EXTRA_FIELDS)}
    # A row written before the counts existed is exactly such a shorter array: it reads back with zeros.
    last = ", ".join(["'$[#-1]'"] * len(MODALITY_FIELDS))  # json_remove drops the last item, once per path
    conn.execute(f"UPDATE calls SET extra = json_remove(extra, {last}) WHERE json_array_length(extra) = ?",
                 (len(EXTRA_FIELDS),))  # fmt: skip
    conn.commit()
    conn.close()
    store = open_store(url)
    try:
        stored = {c.id: c for c in store.calls(Filter())}
        assert [stored[c.id] for c in text_only] == text_only
        zeroed = {name: 0 for name in MODALITY_FIELDS}
        assert [stored[c.id] for c in modal] == [
            c if not any(getattr(c, f) for f in MODALITY_FIELDS) else Call(**{**_fields(c), **zeroed}) for c in modal
        ]
    finally:
        store.close()


def _fields(call: Call) -> dict[str, object]:
    return {name: getattr(call, name) for name in Call.__dataclass_fields__}


# --- concurrency --------------------------------------------------------------------------------


def test_in_memory_store_is_shared_by_threads() -> None:
    store = open_store("sqlite:///:memory:")
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for b in range(10):
                store.write([make(t * 1000 + b * 50 + i, prefix=f"t{t}") for i in range(50)])
                store.aggregate(Filter(), by=("model",))
                list(store.calls(Filter(), limit=5))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors
        assert store.aggregate(Filter())[0].totals.calls == 6 * 500
    finally:
        store.close()


@pytest.mark.slow
def test_eight_threads_write_eighty_thousand_calls(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    errors: list[BaseException] = []
    shared = [make(i, prefix="shared", response_id=f"shared-{i}") for i in range(200)]

    def work(t: int) -> None:
        try:
            mine = [
                make(i, prefix=f"thread{t}", started_at=T0 + timedelta(milliseconds=i * 8 + t)) for i in range(10_000)
            ]
            for i in range(0, len(mine), 500):
                store.write(mine[i : i + 500] + shared[i // 50 : i // 50 + 10])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors
        (group,) = store.aggregate(Filter())
        assert group.totals.calls == 80_000 + 200
        assert sum(1 for _ in store.calls(Filter())) == 80_200
    finally:
        store.close()


def _process_writes(url: str, worker: int) -> int:
    store = open_store(url)
    try:
        added = 0
        mine = [
            make(i, prefix=f"proc{worker}", started_at=T0 + timedelta(milliseconds=i * 4 + worker))
            for i in range(10_000)
        ]
        shared = [make(i, prefix="both", response_id=f"both-{i}") for i in range(100)]
        for i in range(0, len(mine), 1_000):
            added += store.write(mine[i : i + 1_000] + shared[i // 100 : i // 100 + 10])
        return added
    finally:
        store.close()


@pytest.mark.slow
def test_four_processes_write_forty_thousand_calls(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    open_store(url).close()
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        added = pool.starmap(_process_writes, [(url, w) for w in range(4)])
    assert sum(added) == 40_000 + 100
    store = open_store(url)
    try:
        assert store.aggregate(Filter())[0].totals.calls == 40_100
        assert len({c.id for c in store.calls(Filter())}) == 40_100
    finally:
        store.close()


# --- rollups ------------------------------------------------------------------------------------

QUERIES = [
    ((), None),
    (("model",), None),
    (("agent",), "day"),
    (("provider", "model", "agent"), "hour"),
    (("project", "environment"), "day"),
    (("finish_reason",), "week"),
]


@pytest.mark.parametrize("tz", [UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")], ids=str)
def test_rollups_answer_exactly_what_raw_rows_answer(tmp_path: Path, tz: timezone) -> None:
    calls = random_calls(6_000, seed=7)
    random.Random(1).shuffle(calls[4_000:])  # a late, out-of-order backfill
    store = SQLiteStore.from_url(sqlite_url(tmp_path))
    try:
        for i in range(0, len(calls), 700):
            store.write(calls[i : i + 700])
        store.delete(Filter(where={"agent": ("c",)}, since=T0 + timedelta(hours=40)), batch_size=300)
        windows = [
            Filter(),
            Filter(since=T0 + timedelta(hours=3, minutes=17, microseconds=5), until=T0 + timedelta(days=5, hours=7)),
            Filter(since=T0 + timedelta(days=2), where={"model": ("gpt-4o", "claude")}, success=True),
        ]
        for flt in windows:
            raw = Filter(
                since=flt.since, until=flt.until, where={**flt.where, "label:all": ("1",)}, success=flt.success
            )
            for by, bucket in QUERIES:
                got = store.aggregate(flt, by=by, bucket=bucket, tz=tz)  # type: ignore[arg-type]
                assert got, (by, bucket)
                assert totals(got) == totals(store.aggregate(raw, by=by, bucket=bucket, tz=tz)), (flt, by, bucket)  # type: ignore[arg-type]
            for by in ((), ("model",), ("provider", "model")):
                hist = store.percentiles(flt, by=by, quantiles=(0.5, 0.9, 0.99))
                exact = store.percentiles(raw, by=by, quantiles=(0.5, 0.9, 0.99))
                assert [(r.key, r.count) for r in hist] == [(r.key, r.count) for r in exact]
                assert all(r.max_relative_error == 0.0 for r in exact)
                for h, e in zip(hist, exact, strict=True):
                    assert h.values == pytest.approx(e.values, rel=h.max_relative_error)
    finally:
        store.close()


def _snapshot(conn: sqlite3.Connection) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    out = {}
    for table, key in (("rollup_hour", "kid"), ("rollup_day", "kid"), ("rollup_series_day", "sid")):
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY period, {key}").fetchall()
        out[table] = [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]
    for table in ("hist_hour", "hist_day"):
        rows = []
        for period, hid, metric, lo, counts in conn.execute(f"SELECT * FROM {table} ORDER BY period, hid, metric"):
            h = HistSum()
            h.add(lo, zlib.decompress(counts))
            rows.append((period, hid, metric, h.bins()))
        out[table] = rows
    return out


def test_rollups_kept_by_writes_and_deletes_equal_a_rebuild(tmp_path: Path) -> None:
    calls = [c.replace(cost_usd=None if c.cost_usd is None else c.cost_usd.quantize(Decimal("1E-9")))
             for c in random_calls(4_000, seed=3)]  # fmt: skip
    store = SQLiteStore.from_url(sqlite_url(tmp_path))
    try:
        for i in range(0, len(calls), 333):
            store.write(calls[i : i + 333] + calls[max(0, i - 50) : i])  # with repeats
        store.delete(Filter(where={"model": ("claude",)}), batch_size=100)
        store.delete(Filter(until=T0 + timedelta(hours=5)))
    finally:
        store.close()
    conn = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    try:
        from tokentrail.store.sqlite import _prepare

        _prepare(conn)
        kept = _snapshot(conn)
        conn.execute("BEGIN")
        rebuild_rollups(conn, None)
        rebuilt = _snapshot(conn)
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    assert kept == rebuilt


# --- helpers ------------------------------------------------------------------------------------


def test_histogram_quantiles_are_within_the_bound() -> None:
    rng = random.Random(5)
    for _ in range(50):
        values = [rng.lognormvariate(5, 2) for _ in range(rng.randrange(1, 3_000))] + [0.0] * rng.randrange(3)
        bins: dict[int, int] = {}
        for v in values:
            bins[bin_of(v)] = bins.get(bin_of(v), 0) + 1
        half = HistSum()
        items = list(bins.items())
        half.add(*hist_pack(dict(items[::2])))
        if items[1::2]:
            half.add(*hist_pack(dict(items[1::2])))
        assert half.bins() == bins
        qs = (0.0, 0.01, 0.5, 0.95, 0.999, 1.0)
        count, got = hist_quantiles(bins, qs)
        assert count == len(values)
        xs = sorted(values)
        for q, g in zip(qs, got, strict=True):
            pos = (len(xs) - 1) * q
            lo = math.floor(pos)
            exact = xs[lo] + (xs[min(lo + 1, len(xs) - 1)] - xs[lo]) * (pos - lo)
            assert abs(g - exact) <= LATENCY_MAX_RELATIVE_ERROR * exact + 1e-12
    for v in (1e-8, 0.5, 1.0, 1.02, 123.456, 1e7, 2e9):
        assert abs(bin_value(bin_of(v)) - v) <= LATENCY_MAX_RELATIVE_ERROR * v
    assert bin_of(0.0) == ZERO_BIN and bin_of(1e-300) == MIN_BIN and bin_of(1e300) == MAX_BIN
    assert len(hist_pack({bin_of(0.0): 1, bin_of(1e300): 1})[1]) == 8 * (MAX_BIN - ZERO_BIN + 1)  # small, always


def test_extreme_latencies_are_stored_and_counted(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    try:
        values = [0.0, 1e-300, 5.0, 1e300] * 3_000
        store.write([make(i, started_at=T0 + timedelta(seconds=i), duration_ms=v) for i, v in enumerate(values)])
        (row,) = store.percentiles(Filter(), quantiles=(0.0, 0.5, 1.0))
        assert row.count == len(values) and row.max_relative_error == LATENCY_MAX_RELATIVE_ERROR
        assert row.values[0] == 0.0 and row.values[1] == pytest.approx(0.5 * bin_value(MIN_BIN) + 2.5, rel=0.01)
        assert [c.duration_ms for c in store.calls(Filter(), limit=4, newest_first=False)] == values[:4]
    finally:
        store.close()


def test_costs_are_kept_as_exact_integers_or_exact_text() -> None:
    assert cost_code(None) is None
    assert cost_code(Decimal("0.0000000375")) == 37_500 and cost_code(Decimal("12.5")) == 12_500_000_000_000
    assert cost_code(Decimal("1E-13")) == "1E-13" and cost_code(Decimal("1E+10")) == "1E+10"  # too fine, too big
    assert cost_sum(7, 999_999, "1E-13 0.5") == Decimal("0.000007999999") + Decimal("1E-13") + Decimal("0.5")
    assert cost_sum(0, 0, None) == 0


def test_offset_pieces_find_the_exact_dst_instants() -> None:
    ny = ZoneInfo("America/New_York")
    lo, hi = to_us(datetime(2025, 1, 1, tzinfo=UTC)), to_us(datetime(2026, 1, 1, tzinfo=UTC))
    pieces = offset_pieces(ny, lo, hi)
    assert pieces == [
        (lo, -5 * HOUR_US),
        (to_us(datetime(2025, 3, 9, 7, tzinfo=UTC)), -4 * HOUR_US),
        (to_us(datetime(2025, 11, 2, 6, tzinfo=UTC)), -5 * HOUR_US),
    ]
    assert offset_pieces(ZoneInfo("Asia/Kolkata"), lo, hi) == [(lo, 5 * HOUR_US + 30 * 60_000_000)]
