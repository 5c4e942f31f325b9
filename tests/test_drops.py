"""Calls dropped from a full queue are counted in the store, so `doctor` and `stats` show them in every process
and after a restart (issue 12, item 16). Every store kind; the queue really fills (a small `queue_size` and a
writer that is not woken), nothing of ours is patched."""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from typer.testing import CliRunner

from tokentrail import Tracker
from tokentrail.cli import build_app
from tokentrail.store import Store, open_store
from tokentrail.store.base import Filter
from tokentrail.store.drops import DROPS_NS, read_drops

QUEUE = 10
N = 2000  # recorded as fast as a loop can: far past a 10-call queue, so some calls always drop


def _filling_tracker(store: str | Store) -> Tracker:
    # The queue holds QUEUE calls; the writer takes some off as soon as the store is open, so how many drop
    # depends on timing: the tests assert the accounting (recorded = written + dropped), not a fixed split.
    return Tracker(store, queue_size=QUEUE, batch_size=1000, flush_interval=60, display=False)


def _record_past_the_queue(tracker: Tracker, n: int) -> None:
    for i in range(n):
        tracker.record("gpt-4o", 100 + i, 10, agent="drops")


def _another_process(url: str, n: int, out: Any) -> None:
    tracker = _filling_tracker(url)
    _record_past_the_queue(tracker, n)
    tracker.close()
    out.put((tracker.health.dropped, tracker.health.written))


def cli(*args: str) -> Any:
    result = CliRunner().invoke(build_app(), list(args))
    return result


def test_dropped_calls_are_counted_in_the_store_across_processes_and_restarts(store_url: str) -> None:
    before = datetime.now(timezone.utc)
    shared = open_store(store_url) if store_url == "memory://" else None  # memory: one process, one store object
    tracker = _filling_tracker(shared or store_url)
    _record_past_the_queue(tracker, N)
    assert tracker.flush()
    # recorded = stored + spooled + counted lost (dropped)
    h = tracker.health
    d1, w1 = h.dropped, h.written
    assert d1 > 0 and (h.spooled, h.lost) == (0, 0) and w1 + d1 == N
    drops = read_drops(tracker.store)
    assert drops.calls == d1 and drops.trackers == 1
    assert drops.since is not None and before <= drops.since <= drops.last <= datetime.now(timezone.utc)
    tracker.close()

    if shared is not None:  # a restart: a new tracker on the same store adds its own count
        again = _filling_tracker(shared)
        _record_past_the_queue(again, N)
        again.close()
        d2, w2 = again.health.dropped, again.health.written
        assert d2 > 0 and w2 + d2 == N
        assert read_drops(shared).calls == d1 + d2 and read_drops(shared).trackers == 2
        assert len(list(shared.calls(Filter()))) == w1 + w2
        shared.close()
        return

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_another_process, args=(store_url, N, out))
    proc.start()
    d2, w2 = out.get(timeout=120)
    proc.join(60)
    assert proc.exitcode == 0 and d2 > 0 and d2 + w2 == N
    total = d1 + d2

    store = open_store(store_url)
    try:
        assert len(list(store.calls(Filter()))) == w1 + w2  # 2 N recorded = stored + dropped
        assert read_drops(store).calls == total and read_drops(store).trackers == 2
    finally:
        store.close()

    result = cli("doctor", "--store", store_url, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["dropped"]
    assert report["calls"] == total and report["trackers"] == 2
    assert datetime.fromisoformat(report["since"]) == drops.since
    text = cli("doctor", "--store", store_url)
    assert f"{total:,} calls dropped (queue full) since {drops.since:%Y-%m-%d %H:%M} UTC" in text.stdout
    assert "TOKENTRAIL_QUEUE_SIZE" in text.stdout

    stats = cli("stats", "all", "--store", store_url, "--format", "json")
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.stdout)["dropped"]["calls"] == total
    assert f"{total:,} calls dropped (queue full)" in cli("stats", "all", "--store", store_url).stdout


def test_no_drops_says_none(store_url: str) -> None:
    tracker = Tracker(store_url, display=False)
    tracker.record("gpt-4o", 100, 10)
    tracker.close()
    store = open_store(store_url)
    try:
        assert read_drops(store).calls == 0 and store.meta_items(DROPS_NS) == {}
    finally:
        store.close()
    if store_url != "memory://":
        assert json.loads(cli("doctor", "--store", store_url, "-f", "json").stdout)["dropped"]["calls"] == 0
        assert "dropped" not in cli("stats", "all", "--store", store_url).stdout


class _WatchedStore:
    """A real memory store that notes which thread saves the drop count (a fake at the Store seam)."""

    def __init__(self) -> None:
        self._inner = open_store("memory://")
        self.saved_on: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def meta_put(self, namespace: str, key: str, value: str) -> None:
        if namespace == DROPS_NS:
            self.saved_on.append(threading.current_thread().name)
        self._inner.meta_put(namespace, key, value)


@pytest.fixture
def watched() -> Iterator[_WatchedStore]:
    store = _WatchedStore()
    yield store
    store._inner.close()


def test_the_count_is_saved_by_the_writer_never_by_the_caller(watched: _WatchedStore) -> None:
    tracker = _filling_tracker(watched)  # type: ignore[arg-type]  # a Store by its methods
    _record_past_the_queue(tracker, N)
    assert tracker.flush()
    saves = len(watched.saved_on)
    assert saves >= 1 and set(watched.saved_on) == {"tokentrail-writer"}  # never the caller's thread
    assert tracker.flush()  # nothing new dropped: nothing saved again
    assert len(watched.saved_on) == saves
    tracker.close()
    assert tracker.health.dropped > 0
    assert read_drops(watched).calls == tracker.health.dropped  # type: ignore[arg-type]


class _FailingMeta(_WatchedStore):
    """A real memory store whose metadata refuses writes (as a store that is down) until `down` is cleared."""

    down = True

    def meta_put(self, namespace: str, key: str, value: str) -> None:
        if self.down:
            raise OSError("store unreachable")
        super().meta_put(namespace, key, value)


def test_a_count_the_store_could_not_take_is_saved_once_it_answers(caplog: pytest.LogCaptureFixture) -> None:
    store = _FailingMeta()
    try:
        tracker = _filling_tracker(store)  # type: ignore[arg-type]  # a Store by its methods
        _record_past_the_queue(tracker, N)
        assert tracker.flush()  # the count cannot be saved: logged, kept, tried again
        dropped = tracker.health.dropped
        assert dropped > 0 and read_drops(store).calls == 0  # type: ignore[arg-type]
        assert any("could not save the count of dropped calls" in r.getMessage() for r in caplog.records)
        store.down = False
        assert tracker.flush()
        assert read_drops(store).calls == dropped  # type: ignore[arg-type]
        tracker.close()
    finally:
        store._inner.close()
