"""No record lost or duplicated between record() and a SQLite file, across threads and processes."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from pathlib import Path

from tokentrail import Tracker
from tokentrail.store import Filter, open_store


def _count(url: str) -> tuple[int, int]:
    store = open_store(url)
    try:
        ids = [c.id for c in store.calls(Filter())]
        [group] = store.aggregate(Filter())
        return len(set(ids)), group.totals.calls
    finally:
        store.close()


def test_eight_threads_times_ten_thousand(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    with Tracker(url, batch_size=500) as tracker:

        def work(n: int) -> None:
            for i in range(10_000):
                tracker.record("gpt-4o", i, 1, agent=f"thread-{n}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert tracker.flush(timeout=120)
        assert (tracker.health.written, tracker.health.dropped, tracker.health.lost) == (80_000, 0, 0)
    assert _count(url) == (80_000, 80_000)


def _process(url: str, n: int) -> None:
    with Tracker(url, batch_size=500) as tracker:
        for i in range(10_000):
            tracker.record("gpt-4o", i, 1, agent=f"process-{n}")


def test_four_processes_times_ten_thousand(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process, args=(url, n)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    assert _count(url) == (40_000, 40_000)


def test_records_are_flushed_at_exit_without_an_explicit_flush(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    code = (
        "import tokentrail as tt\n"
        f"tt.configure({url!r}, flush_interval=3600)\n"
        "for i in range(2500): tt.record(model='gpt-4o', input_tokens=i, output_tokens=1)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert _count(url) == (2500, 2500)
