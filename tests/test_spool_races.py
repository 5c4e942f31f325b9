"""Issue 12 items 8 and 9: the spool raced for real — by processes, by threads, by a disk that fills.

Several processes replaying the same dead spool files, a `replay_spool()` or `close()` while the writer is
appending, a spool write cut short by a full disk. In each, tracking never raises into the application and
every recorded call ends in exactly one of stored, spooled, counted lost; once the fault clears,
stored = recorded − counted lost, and no spool file is left behind.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tokentrail import Call, Tracker
from tokentrail.config import default_home
from tokentrail.model import new_call_id
from tokentrail.spool import Spool, spool_status
from tokentrail.store import Filter, open_store
from tokentrail.store.memory import MemoryStore

_DEAD_PID = 900_000_000  # above any pid_max (2**22): a process that has ended


class SwitchStore(MemoryStore):
    """A store that is down (ConnectionError, an outage) while `down` is set — the public Store seam."""

    def __init__(self) -> None:
        super().__init__("sqlite:///switch.db")  # a URL of a kind that spools
        self.down = False

    def write(self, calls: Sequence[Call]) -> int:
        if self.down:
            raise ConnectionError("server closed the connection unexpectedly")
        return super().write(calls)


def waiting() -> int:
    return spool_status(default_home() / "spool").calls


def spool_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.jsonl")) if folder.is_dir() else []


def stored_calls(url: str) -> list[Call]:
    store = open_store(url)
    try:
        return list(store.calls(Filter(), newest_first=False))
    finally:
        store.close()


def stored_ids(url: str) -> list[str]:
    return [c.id for c in stored_calls(url)]


def write_dead_file(folder: Path, url: str, pid: int, tag: str, n: int) -> list[str]:
    """Spool files a crashed process left behind: `n` calls in `<key>-<pid>.jsonl`, `pid` long gone."""
    now = datetime.now(timezone.utc)
    calls = [Call(id=new_call_id(), started_at=now, model="gpt-4o", input_tokens=i, agent=tag) for i in range(n)]
    tmp = folder / f"tmp-{os.getpid()}-{tag}"
    tmp.mkdir(parents=True)
    Spool(tmp, url).append(calls)
    [made] = tmp.iterdir()
    made.rename(folder / made.name.replace(f"-{os.getpid()}.", f"-{pid}."))  # appears at once, whole
    tmp.rmdir()
    return [c.id for c in calls]


# -- 8. processes replaying the same dead spool files ---------------------------------------------------

ROUNDS, RECORDS, DEAD_CALLS = 40, 3, 5


def _churn(url: str, p: int, start: Any, out: Any) -> None:
    """Each round: leave a dead process's spool file, then start a tracker, record, close — as a fleet does."""
    folder = default_home() / "spool"
    raised: list[str] = []
    dead_ids: list[str] = []
    spooled = lost = written = 0
    start.wait(60)
    for r in range(ROUNDS):
        dead_ids += write_dead_file(folder, url, _DEAD_PID + p * 10_000 + r, f"dead-{p}-{r}", DEAD_CALLS)
        try:
            t = Tracker(url, batch_size=100, flush_interval=0.01)
            for i in range(RECORDS):
                t.record("gpt-4o", i, 1, agent=f"live-{p}-{r}")
            t.close()
        except Exception as exc:  # the failure under test: this is the application's call
            raised.append(f"{type(exc).__name__}: {exc}")
            continue
        spooled += t.health.spooled
        lost += t.health.lost
        written += t.health.written - t.health.replayed
    out.put((p, raised, dead_ids, spooled, lost, written))


def test_processes_replaying_the_same_dead_files_never_raise_nor_take_the_store_for_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    open_store(url).close()  # created once, so every process meets a healthy store
    folder = default_home() / "spool"
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_churn, args=(url, p, start, out)) for p in range(4)]
    for proc in procs:
        proc.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    dead_ids = [i for r in results for i in r[2]]
    for p, raised, _, spooled, lost, written in results:
        assert raised == [], f"process {p} raised into the application: {raised[:3]}"
        assert (spooled, lost) == (0, 0), f"process {p} took a healthy store for down"
        assert written == ROUNDS * RECORDS
    # Whatever a last replayer could not finish is picked up by the next process (here: this one).
    with Tracker(url) as t:
        t.replay_spool()
    ids = stored_ids(url)
    assert len(ids) == len(set(ids)) == len(dead_ids) + 4 * ROUNDS * RECORDS  # none lost, none twice
    assert set(dead_ids) <= set(ids)
    assert spool_files(folder) == []


def _replay_dead_files(url: str, p: int, start: Any, stop: Any) -> None:
    """Churn: leave dead processes' spool files and replay them, again and again."""
    folder = default_home() / "spool"
    store = MemoryStore()
    start.wait(60)
    r = 0
    while not stop.is_set():
        write_dead_file(folder, url, _DEAD_PID + 500_000 + p * 100_000 + r, f"churn-{p}-{r}", 1)
        r += 1
        try:
            Spool(folder, url).replay(store.write)
        except FileNotFoundError:  # before issue 12 #8 the replayers raised too; the makers are the test here
            continue


def _construct(url: str, start: Any, out: Any) -> None:
    """The application: a tracker made, a call recorded, again and again (a worker per request, say)."""
    raised: list[str] = []
    made = written = taken_for_down = 0
    start.wait(60)
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        try:
            t = Tracker(url, flush_interval=60)
            t.record("gpt-4o", 1, 1, agent="app")
            t.close()  # which replays the dead files it saw, racing the churners
            written += t.health.written - t.health.replayed
            taken_for_down += t.health.spooled
        except Exception as exc:
            raised.append(f"{type(exc).__name__}: {exc}")
        made += 1
    out.put((made, raised, written, taken_for_down))


def test_trackers_made_while_other_processes_replay_dead_files_never_raise(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'churn.db'}"
    ctx = multiprocessing.get_context("spawn")
    start, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    churners = [ctx.Process(target=_replay_dead_files, args=(url, p, start, stop)) for p in range(2)]
    makers = [ctx.Process(target=_construct, args=(url, start, out)) for _ in range(2)]
    for proc in churners + makers:
        proc.start()
    start.set()
    results = [out.get(timeout=120) for _ in makers]
    stop.set()
    made = sum(r[0] for r in results)
    raised = [e for r in results for e in r[1]]
    assert made > 50, "the race was not run"
    assert raised == [], f"{len(raised)} of {made} trackers raised into the application: {raised[:3]}"
    assert sum(r[3] for r in results) == 0, "a healthy store was taken for down"
    assert sum(r[2] for r in results) == made == sum(c.agent == "app" for c in stored_calls(url))
    for proc in churners + makers:
        proc.join(timeout=60)
        assert proc.exitcode == 0


# -- 9. replay_spool() and close() racing the writer ------------------------------------------------------


def _race_the_writer(how: str) -> None:
    store = SwitchStore()
    t = Tracker(store, batch_size=5, flush_interval=0.001)
    stop = threading.Event()
    recorded = [0, 0]

    def record(k: int) -> None:
        while not stop.is_set():
            t.record("gpt-4o", recorded[k], 1, agent=f"r{k}")
            recorded[k] += 1
            time.sleep(0.001)

    def flap() -> None:  # short outages keep the writer in its backoff, appending to the spool
        while not stop.is_set():
            store.down = True
            time.sleep(0.02)
            store.down = False
            time.sleep(0.15)

    threads = [threading.Thread(target=record, args=(k,)) for k in range(2)] + [threading.Thread(target=flap)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline:
        if not store.down:
            if how == "replay_spool":
                t.replay_spool()  # the application's thread, while the writer appends
            else:  # another tracker of this process (the module's default, say) closes: it replays the file
                Tracker(store).close()  # they share, while this tracker's writer appends to it
        time.sleep(0.002)
    stop.set()
    for th in threads:
        th.join()
    store.down = False
    t.close()
    with Tracker(store) as after:  # the fault has cleared: whatever still waits is replayed
        after.replay_spool()
    total = sum(recorded)
    in_store = len(list(store.calls(Filter())))
    h = t.health
    assert h.spooled > 0, "the race was not run: nothing was spooled"
    assert (h.lost, h.dropped) == (0, 0), h
    assert waiting() == 0
    assert in_store == total - h.lost, f"{total - in_store} of {total} calls vanished ({h})"
    assert len({c.id for c in store.calls(Filter())}) == in_store


def test_replay_spool_racing_the_writer_loses_nothing() -> None:
    _race_the_writer("replay_spool")


def test_close_racing_the_writer_loses_nothing() -> None:
    _race_the_writer("close")


# -- 9. a spool write cut short by a full disk -----------------------------------------------------------


@contextmanager
def tiny_disk(path: Path) -> Iterator[Path]:
    """A 128 KiB tmpfs at `path`, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("a disk that fills needs root (mount -t tmpfs)")
    path.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k,mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(path: Path, leave: int) -> Path:
    """Fill the disk at `path`, then free `leave` bytes: the next large write is cut short."""
    ballast = path / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    os.truncate(ballast, ballast.stat().st_size - leave)
    return ballast


def test_a_spool_write_cut_short_by_a_full_disk_is_counted_lost_and_leaves_no_torn_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tiny_disk(tmp_path / "disk") as disk:
        monkeypatch.setenv("TOKENTRAIL_HOME", str(disk / "home"))
        folder = disk / "home" / "spool"
        folder.mkdir(parents=True)
        store = SwitchStore()
        store.down = True
        t = Tracker(store, batch_size=40, flush_interval=60)
        recorded = 0
        for _ in range(40):  # the first batch fits and is spooled whole
            t.record("gpt-4o", recorded, 1, agent="a" * 200)
            recorded += 1
        t.flush()
        assert (t.health.spooled, t.health.lost) == (40, 0)
        ballast = fill(disk, 8192)  # room for about a quarter of the next batch
        for _ in range(40):
            t.record("gpt-4o", recorded, 1, agent="a" * 200)
            recorded += 1
        t.flush()
        assert t.health.lost == 40, t.health  # cut short: counted lost, not spooled
        assert t.health.spooled == 40
        assert waiting() == 40  # the file is back to where it was: whole lines only
        ballast.unlink()  # the disk has room again
        for _ in range(40):
            t.record("gpt-4o", recorded, 1, agent="a" * 200)
            recorded += 1
        t.flush()
        assert waiting() == 80
        store.down = False
        t.close()
        h = t.health
        in_store = len(list(store.calls(Filter())))
        assert recorded == in_store + waiting() + h.lost
        assert (in_store, waiting(), h.lost) == (80, 0, 40)  # stored = recorded − counted lost
        assert not any(name.startswith("corrupt-") for name in spool_files(folder)), "a torn line was replayed"


def test_a_spool_file_that_cannot_be_read_does_not_make_a_healthy_store_look_down(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    folder = default_home() / "spool"
    dead_ids = write_dead_file(folder, url, _DEAD_PID, "dead", 3)
    key = next(folder.glob("*.jsonl")).name.rsplit("-", 1)[0]
    unreadable = folder / f"{key}-{_DEAD_PID + 1}.jsonl"
    unreadable.mkdir()  # where a dead process's file should be, something no replay can open
    with Tracker(url) as t:
        for i in range(10):
            t.record("gpt-4o", i, 1, agent="app")
        assert t.flush()
        assert (t.health.spooled, t.health.lost) == (0, 0), t.health
    calls = stored_calls(url)
    assert sum(c.agent == "app" for c in calls) == 10
    assert {c.id for c in calls if c.agent == "dead"} == set(dead_ids)  # the readable dead file was replayed
    assert waiting() == 0  # what `doctor` shows counts what waits, and is not stopped by what cannot be read


class SlowFailingStore(MemoryStore):
    """A store that takes half a second to fail each write (an outage met mid-replay)."""

    def __init__(self) -> None:
        super().__init__("sqlite:///slow.db")
        self.writing = threading.Event()

    def write(self, calls: Sequence[Call]) -> int:
        self.writing.set()
        time.sleep(0.5)
        raise ConnectionError("server closed the connection unexpectedly")


def test_a_fork_during_a_replay_leaves_no_lock_in_the_child(tmp_path: Path) -> None:
    import signal
    import warnings

    now = datetime.now(timezone.utc)
    spool = Spool(default_home() / "spool", "sqlite:///slow.db")
    spool.append([Call(id=new_call_id(), started_at=now, model="gpt-4o", input_tokens=1)])
    store = SlowFailingStore()

    def replay() -> None:
        with pytest.raises(ConnectionError):
            spool.replay(store.write)

    replayer = threading.Thread(target=replay)
    replayer.start()
    assert store.writing.wait(10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: what gunicorn and Celery do
        pid = os.fork()
    if pid == 0:  # the child lives on (a worker) and never touches the spool
        time.sleep(30)
        os._exit(0)
    try:
        replayer.join()
        appender = threading.Thread(
            target=spool.append, args=([Call(id=new_call_id(), started_at=now, model="gpt-4o", input_tokens=2)],)
        )
        appender.start()
        appender.join(timeout=5)
        assert not appender.is_alive(), "the parent's append waits for a lock its forked child holds"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        appender.join()
    assert waiting() == 2
