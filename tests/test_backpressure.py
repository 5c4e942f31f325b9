"""A full queue and kill -9: what `on_full` promises, and how much a crash can take.

`on_full="drop"` (the default) never makes the app wait: past `queue_size` calls are dropped and
counted, so recorded = stored + dropped exactly. `on_full="block"` makes `record()` wait for the writer
instead: nothing is dropped, and `kill -9` can take at most the queue and the batch being written.
Calls recorded while the writer starts up are written as soon as the store is open.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tokentrail import Call, ConfigError, Tracker
from tokentrail.config import resolve
from tokentrail.store import Filter, open_store
from tokentrail.store.memory import MemoryStore
from tokentrail.tracker import BLOCK_LIMIT_S

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _stored_numbers(url: str) -> list[int]:
    store = open_store(url)
    try:
        return sorted(c.input_tokens for c in store.calls(Filter(), newest_first=False))
    finally:
        store.close()


def test_on_full_is_a_setting_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve().on_full == "drop"
    monkeypatch.setenv("TOKENTRAIL_ON_FULL", "Block")
    settings = resolve()
    assert (settings.on_full, settings.sources["on_full"]) == ("block", "environment (TOKENTRAIL_ON_FULL)")
    monkeypatch.setenv("TOKENTRAIL_ON_FULL", "wait")
    with pytest.raises(ConfigError, match=r"TOKENTRAIL_ON_FULL='wait' \(from environment\) is not 'drop' or 'block'"):
        resolve()
    with pytest.raises(ConfigError, match=r"on_full=3 \(from argument\) is not 'drop' or 'block'"):
        resolve(on_full=3)


def test_block_loses_nothing_when_record_outpaces_the_writer(store_url: str) -> None:
    # 50,000 calls as fast as one thread can record them, through a queue of 1,000.
    with Tracker(store_url, queue_size=1000, batch_size=500, on_full="block") as tracker:
        for i in range(50_000):
            tracker.record("gpt-4o", i, 1)
        assert tracker.flush(timeout=60)
        health = tracker.health
        assert (health.dropped, health.lost, health.spooled) == (0, 0, 0)
        assert health.written == 50_000
        if store_url == "memory://":
            assert sorted(c.input_tokens for c in tracker.store.calls(Filter())) == list(range(50_000))
    if store_url != "memory://":
        assert _stored_numbers(store_url) == list(range(50_000))


def test_drop_counts_every_call_it_drops(store_url: str) -> None:
    # The default never waits: what the queue cannot hold is dropped and counted, and nothing else is missing.
    with Tracker(store_url, queue_size=1000, batch_size=500) as tracker:
        for i in range(50_000):
            tracker.record("gpt-4o", i, 1)
        assert tracker.flush(timeout=60)
        health = tracker.health
        assert health.dropped > 0
        assert health.written + health.dropped == 50_000
        assert (health.lost, health.spooled) == (0, 0)
        if store_url == "memory://":
            assert sum(1 for _ in tracker.store.calls(Filter())) == health.written
    if store_url != "memory://":
        assert len(_stored_numbers(store_url)) == health.written


def test_block_waits_for_several_threads_without_losing_any(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    with Tracker(url, queue_size=200, batch_size=100, on_full="block") as tracker:
        threads = [
            threading.Thread(target=lambda k=k: [tracker.record("gpt-4o", k * 10_000 + i, 1) for i in range(5_000)])
            for k in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert tracker.flush(timeout=60)
        assert tracker.health.dropped == 0
    assert _stored_numbers(url) == sorted(k * 10_000 + i for k in range(4) for i in range(5_000))


class HangingStore(MemoryStore):
    """A store whose writes hang until released, like a server that accepts and never answers."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, calls: Sequence[Call]) -> int:
        self.entered.set()
        self.release.wait(60)
        return super().write(calls)


def test_block_stops_waiting_for_a_writer_that_hangs(caplog: pytest.LogCaptureFixture) -> None:
    store = HangingStore()
    tracker = Tracker(store, queue_size=10, batch_size=5, on_full="block")
    try:
        tracker.record("gpt-4o", 0, 1)
        assert store.entered.wait(30)  # the writer is stuck writing call 0
        started = time.monotonic()
        for i in range(1, 31):
            tracker.record("gpt-4o", i, 1)
        waited = time.monotonic() - started
        # Calls 1-10 fill the queue; call 11 waits BLOCK_LIMIT_S, then it and the rest are dropped at once.
        assert BLOCK_LIMIT_S <= waited < BLOCK_LIMIT_S + 5
        assert tracker.health.dropped == 20
        assert "the writer has taken no call for 10 s" in caplog.text
        store.release.set()
        assert tracker.flush(timeout=30)
        assert tracker.health.written + tracker.health.dropped == 31
        assert sorted(c.input_tokens for c in store.calls(Filter())) == list(range(11))
        tracker.record("gpt-4o", 99, 1)  # the writer moves again: blocking is back in force
        assert tracker.flush(timeout=30) and tracker.health.written == 12
    finally:
        store.release.set()
        tracker.close()


def _child(args: list[str], script: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-c", script, *args], env=env, stdout=subprocess.PIPE, text=True)


# Records 500 calls (fewer than a batch) as its very first act, says so, then idles for a minute.
_STARTUP = """
import sys, time
from tokentrail import Tracker
tracker = Tracker(sys.argv[1], flush_interval=30)
for i in range(500):
    tracker.record("gpt-4o", i, 1)
print("recorded", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("kind", ["jsonl", "sqlite", "postgres"])
def test_calls_recorded_while_the_store_opens_are_written_once_it_is_open(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # They used to wait a whole flush_interval more (here 30 s): kill -9 during that time took them all.
    from tests.conftest import make_store_url

    url = make_store_url(kind, tmp_path, request)
    child = _child([url], _STARTUP)
    try:
        assert child.stdout is not None and child.stdout.readline() == "recorded\n"
        deadline = time.monotonic() + 15  # start-up (imports, store open) on a loaded machine, well under 30 s
        while time.monotonic() < deadline and len(_stored_numbers(url)) < 500:
            time.sleep(0.2)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert _stored_numbers(url) == list(range(500))


# Records as fast as it can with a blocking queue of QUEUE calls, printing how many it has recorded
# every 1,000 calls; the parent kills it with SIGKILL.
_FLOOD = """
import sys
from tokentrail import Tracker
url, queue, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tracker = Tracker(url, queue_size=queue, batch_size=batch, on_full="block")
i = 0
while True:
    tracker.record("gpt-4o", i, 1)
    i += 1
    if i % 1000 == 0:
        print(i, flush=True)
"""


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_kill_9_with_block_loses_at_most_the_queue_and_one_batch(kind: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'usage.db'}" if kind == "sqlite" else f"jsonl://{tmp_path / 'jsonl'}"
    queue, batch = 2_000, 500
    child = _child([url, str(queue), str(batch)], _FLOOD)
    last = 0
    try:
        assert child.stdout is not None
        for line in child.stdout:
            last = int(line)
            if last >= 30_000:
                break
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    for line in rest.split():
        last = int(line)  # printed before the kill landed: at least this many were recorded
    assert child.returncode == -signal.SIGKILL and last >= 30_000, (child.returncode, last)
    numbers = _stored_numbers(url)
    assert numbers == list(range(len(numbers))), "a call is missing or duplicated"
    # Every call recorded more than queue + batch calls before the last count printed is stored.
    assert len(numbers) >= last - queue - batch, (len(numbers), last)
