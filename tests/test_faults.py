"""Faults that really happen, done for real: many writers at once, kill -9, a database that goes away,
a full or read-only disk, corrupt files, newer schemas, bad credentials — and `tokentrail doctor`.

The promise under test (DESIGN.md, invariants 1 and 2): no record is lost or duplicated between
`record()` and the store, across threads and processes; at most the last unflushed batch is lost on
kill -9 and the files stay readable; tracking never raises into the application.
"""

from __future__ import annotations

import errno
import json
import logging
import multiprocessing
import os
import selectors
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer
from typer.testing import CliRunner, Result

from pgserver import private_postgres
from tokentrail import Call, SchemaVersionError, StoreError, Tracker, ValidationError
from tokentrail.cli import COMMANDS, build_app
from tokentrail.cli import doctor as doctor_command
from tokentrail.config import default_home
from tokentrail.model import new_call_id
from tokentrail.spool import Spool, spool_status
from tokentrail.store import Filter, open_store
from tokentrail.store.memory import MemoryStore

# -- helpers --------------------------------------------------------------------------------------------


def stored(url: str, **where: tuple[str, ...]) -> list[Call]:
    store = open_store(url)
    try:
        return list(store.calls(Filter(where=where), newest_first=False))
    finally:
        store.close()


def row_count(url: str) -> int:
    store = open_store(url)
    try:
        return sum(g.totals.calls for g in store.aggregate(Filter()))
    finally:
        store.close()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tokentrail" and r.levelno >= logging.WARNING]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def via_port(pg_url: str, port: int) -> str:
    return pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{port}", 1)


def doctor(*args: str) -> Result:
    """`tokentrail doctor …` through the real app (registering the command if cli.COMMANDS lacks it yet)."""
    app: typer.Typer = build_app()
    if "doctor" not in COMMANDS:
        doctor_command.register(app)
    return CliRunner().invoke(app, ["doctor", *args])


# -- 1. many processes, many threads, one store ---------------------------------------------------------

PROCESSES, THREADS, PER_THREAD = 8, 4, 5_000


def _writer_process(url: str, p: int, start: Any, out: Any) -> None:
    tracker = Tracker(url, batch_size=1000)

    def work(t: int) -> None:
        for i in range(PER_THREAD):
            tracker.record("gpt-4o", i, 1, agent=f"p{p}-t{t}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    start.wait(60)
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    done = tracker.flush(timeout=300)
    tracker.close()
    h = tracker.health
    out.put((p, done, h.written, h.duplicates, h.dropped, h.lost, h.internal_errors, h.spooled, h.replayed))


def _many_writers(url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer_process, args=(url, p, start, out)) for p in range(PROCESSES)]
    for proc in procs:
        proc.start()
    start.set()  # all at once: the most contention
    results = [out.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    per_process = PER_THREAD * THREADS
    for p, done, written, duplicates, dropped, lost, internal, spooled, replayed in results:
        assert done, f"process {p} did not flush"
        assert (written, duplicates, dropped, lost, internal) == (per_process, 0, 0, 0, 0), (p, spooled, replayed)
    total = PROCESSES * per_process
    calls = stored(url)
    assert len(calls) == total == row_count(url)
    assert len({c.id for c in calls}) == total  # no duplicates
    got = {(c.agent, c.input_tokens) for c in calls}
    expected = {(f"p{p}-t{t}", i) for p in range(PROCESSES) for t in range(THREADS) for i in range(PER_THREAD)}
    assert got == expected  # none missing: every (process, thread, i)


@pytest.mark.slow
def test_eight_processes_of_four_threads_into_one_sqlite_file(tmp_path: Path) -> None:
    _many_writers(f"sqlite:///{tmp_path / 'usage.db'}")


@pytest.mark.slow
@pytest.mark.postgres
def test_eight_processes_of_four_threads_into_postgres(pg_url: str) -> None:
    _many_writers(pg_url)


# -- 2. kill -9 in the middle of writing ----------------------------------------------------------------

# Records forever, numbering the calls; every EVERY calls it flushes and prints how many calls it has
# flushed, so the last line it printed is a count known to be in the store. The writer also writes on its
# own whenever BATCH calls wait or FLUSH_INTERVAL has passed, so the store may hold more than that.
# With DIE_AT it kills itself with SIGKILL right after recording that many calls.
_CHILD = """
import os, signal, sys, time
from tokentrail import Tracker
url, tag, every, batch, interval, pause, die_at = sys.argv[1:8]
every, pause, die_at = int(every), float(pause), int(die_at)
tracker = Tracker(url, batch_size=int(batch), flush_interval=float(interval))
i = 0
while True:
    tracker.record("gpt-4o", i, 1, agent=tag)
    i += 1
    if i == die_at:
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 at a known point: exactly die_at calls recorded
    if pause:
        time.sleep(pause)
    if every and i % every == 0:
        assert tracker.flush(timeout=60)
        print(i, flush=True)
"""


def _kill_while_writing(url: str, tag: str, *, at_least: int = 0, every: int = 0, batch: int, interval: float,
                        pause: float = 0.0, die_at: int = 0) -> int:  # fmt: skip
    """Run a recording child, SIGKILL it once it has reported `at_least` calls; the last count it reported."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, tag, str(every), str(batch), str(interval), str(pause), str(die_at)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    last = 0
    try:
        for line in child.stdout:
            last = int(line)
            if last >= at_least and not die_at:
                break
        if not die_at:
            child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    for line in rest.split():
        last = int(line)  # printed after we stopped reading, before the kill landed
    assert child.returncode == -signal.SIGKILL
    return last


def _store_url(kind: str, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'usage.db'}" if kind == "sqlite" else f"jsonl://{tmp_path / 'jsonl'}"


def _prefix_count(url: str, tag: str) -> int:
    """The calls of one writer are exactly its first n records (0..n-1), each once; returns n."""
    calls = stored(url, agent=(tag,))
    numbers = sorted(c.input_tokens for c in calls)
    assert numbers == list(range(len(numbers))), "a record is missing or duplicated"
    assert len({c.id for c in calls}) == len(calls)
    return len(numbers)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_kill_9_loses_at_most_the_unflushed_calls_and_the_store_stays_readable(kind: str, tmp_path: Path) -> None:
    url = _store_url(kind, tmp_path)
    every = 700  # flush() every 700 calls; the writer also writes batches of 100 on its own
    for round_ in range(3):  # kill the same store three times; each time a fresh writer carries on
        tag = f"round-{round_}"
        flushed = _kill_while_writing(url, tag, at_least=2_000 + 1_000 * round_, every=every, batch=100, interval=0.2)
        n = _prefix_count(url, tag)  # the store opens cleanly and reads back
        assert flushed <= n <= flushed + every, (flushed, n)
    # After three crashes the store still takes writes and answers exactly.
    with Tracker(url) as tracker:
        tracker.record("gpt-4o", 0, 1, agent="after")
    assert _prefix_count(url, "after") == 1
    assert row_count(url) == sum(_prefix_count(url, f"round-{r}") for r in range(3)) + 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_kill_9_without_flush_loses_at_most_about_one_batch(kind: str, tmp_path: Path) -> None:
    # No flush() at all: the writer's own schedule (a batch of 100 calls, or every 0.1 s) is all that stands
    # between a call and the disk. The child records ~1 call per ms and kills itself after 2,345 calls.
    url = _store_url(kind, tmp_path)
    _kill_while_writing(url, "w", batch=100, interval=0.1, pause=0.001, die_at=2_345)
    lost = 2_345 - _prefix_count(url, "w")
    # Lost: the calls recorded since the writer's last write — at most one batch_size, or flush_interval's
    # worth (~100 each here), plus any recorded while that write ran. Slack for a slow, busy CI machine.
    assert 0 <= lost <= 3 * 100, lost


# -- 3. PostgreSQL goes away while the application keeps recording ------------------------------------


class TcpProxy:
    """A local TCP forwarder to PostgreSQL that can be switched off (refusing, and cutting live connections)."""

    def __init__(self, target: int) -> None:
        self.port = free_port()
        self._target = target
        self._listener: socket.socket | None = None
        self._peers: dict[socket.socket, socket.socket] = {}
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def up(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        listener.setblocking(False)
        with self._lock:
            self._listener = listener
            self._sel.register(listener, selectors.EVENT_READ)

    def down(self) -> None:
        """Refuse new connections and cut every open one (what clients see when the server dies)."""
        with self._lock:
            if self._listener is not None:
                self._sel.unregister(self._listener)
                self._listener.close()
                self._listener = None
            for sock in list(self._peers):
                self._drop(sock)

    def close(self) -> None:
        self.down()
        self._stop.set()
        self._thread.join(5)
        self._sel.close()

    def _drop(self, sock: socket.socket) -> None:
        other = self._peers.pop(sock, None)
        for s in (sock, other):
            if s is not None:
                try:
                    self._sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                s.close()
        if other is not None:
            self._peers.pop(other, None)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                events = self._sel.select(timeout=0) if self._sel.get_map() else []
                for key, _ in events:
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self._listener:
                        client, _ = sock.accept()
                        server = socket.create_connection(("127.0.0.1", self._target))
                        self._peers[client], self._peers[server] = server, client
                        for s in (client, server):
                            self._sel.register(s, selectors.EVENT_READ)
                        continue
                    if sock not in self._peers:
                        continue
                    try:
                        data = sock.recv(65536)
                        if data:
                            self._peers[sock].sendall(data)
                            continue
                    except OSError:
                        pass
                    self._drop(sock)
            time.sleep(0.001)


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    p = TcpProxy(5432)
    try:
        yield p
    finally:
        p.close()


def _record_from_threads(tracker: Tracker, agent: str, n_threads: int, per_thread: int, start: int = 0) -> None:
    def work(t: int) -> None:
        for i in range(per_thread):
            tracker.record("gpt-4o", start + t * per_thread + i, 1, agent=agent)  # raises nothing

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def _wait_until(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


@pytest.mark.postgres
def test_unreachable_postgres_spools_every_call_then_replays_exactly(
    pg_url: str, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    url = via_port(pg_url, proxy.port)  # nothing listens there yet: connection refused
    with caplog.at_level(logging.WARNING, logger="tokentrail"), Tracker(url, batch_size=100, flush_interval=0.05) as t:
        _record_from_threads(t, "app", 3, 700)
        assert t.flush()
        h = t.health
        assert (h.written, h.spooled, h.lost, h.dropped) == (0, 2100, 0, 0)
        assert spool_status(default_home() / "spool").calls == 2100
        assert f"127.0.0.1:{proxy.port}" in (h.last_error or "")
        proxy.up()  # the database is back
        assert t.replay_spool() == 2100
        _record_from_threads(t, "app", 1, 400, start=2100)
        assert t.flush()
        assert (t.health.written, t.health.lost) == (2500, 0)
    assert spool_status(default_home() / "spool").calls == 0
    assert _prefix_count(pg_url, "app") == 2500
    assert len([w for w in warnings_of(caplog) if "could not write" in w]) == 1  # one warning, not one per batch


@pytest.mark.postgres
def test_connections_cut_mid_flight_are_replaced_and_the_writer_replays_on_its_own(
    pg_url: str, proxy: TcpProxy
) -> None:
    proxy.up()
    url = via_port(pg_url, proxy.port)
    with Tracker(url, batch_size=100, flush_interval=0.05) as t:
        _record_from_threads(t, "app", 2, 250)
        assert t.flush() and t.health.written == 500
        proxy.down()  # the pooled connection is cut: the next write fails on it
        _record_from_threads(t, "app", 2, 500, start=500)
        assert t.flush()
        assert (t.health.written, t.health.spooled, t.health.lost) == (500, 1000, 0)
        proxy.up()
        # No replay_spool(): the writer retries by itself (with backoff) on a fresh connection.
        assert _wait_until(lambda: t.flush() and t.health.written == 1500, timeout=30), t.health
    assert _prefix_count(pg_url, "app") == 1500


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_server_stopped_and_restarted_loses_nothing() -> None:
    # A private server (tests/pgserver.py), never the shared one: stopping that breaks every other test running.
    with private_postgres() as server, Tracker(server.url, batch_size=100, flush_interval=0.05) as t:
        _record_from_threads(t, "app", 2, 250)
        assert t.flush() and t.health.written == 500
        server.stop()
        try:
            for i in range(500, 1500):
                t.record("gpt-4o", i, 1, agent="app")  # the app carries on; nothing raises
                if i % 100 == 0:
                    time.sleep(0.05)
            assert t.flush()
            h = t.health
            assert (h.written, h.spooled, h.lost, h.dropped) == (500, 1000, 0, 0)
        finally:
            server.start()
        assert _wait_until(lambda: t.flush() and t.health.written == 1500, timeout=60), t.health
        t.record("gpt-4o", 1500, 1, agent="app")
        assert t.flush()
        assert _prefix_count(server.url, "app") == 1501
        assert spool_status(default_home() / "spool").calls == 0


@pytest.mark.postgres
def test_closed_port_with_a_password_never_raises_never_leaks_and_doctor_shows_the_spool(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "postgresql://postgres:hunter2@127.0.0.1:1/nowhere"
    with caplog.at_level(logging.WARNING, logger="tokentrail"), Tracker(url, batch_size=50) as t:
        for i in range(300):
            t.record("gpt-4o", i, 1)
        assert t.flush() and t.health.spooled == 300
        assert "hunter2" not in (t.health.last_error or "")
    assert all("hunter2" not in w for w in warnings_of(caplog)) and warnings_of(caplog)
    result = doctor("--store", url, "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["store"]["url"] == "postgresql://postgres:***@127.0.0.1:1/nowhere"
    assert data["store"]["opens"] is False and "127.0.0.1:1" in data["store"]["error"]
    assert data["spool"]["calls"] == 300 and data["spool"]["files"] == 1
    assert "hunter2" not in result.output


# -- 4. a full or read-only disk, with the spool on it too --------------------------------------------


class FullDiskStore(MemoryStore):
    """A store whose disk is full: every write fails with ENOSPC (the public Store protocol, no patching)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.attempts = 0

    def write(self, calls: Sequence[Call]) -> int:
        self.attempts += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@contextmanager
def small_disk(path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs at `path` (as root, which ignores permission bits); a plain folder otherwise."""
    path.mkdir(parents=True)
    if os.geteuid() != 0:
        try:
            yield path
        finally:
            for folder in (path, *path.rglob("*")):
                if folder.is_dir():
                    folder.chmod(0o700)
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def break_disk(path: Path, how: str) -> None:
    """Make the disk at `path` refuse writes: fill it up (ENOSPC), or make it read-only (EROFS / EACCES)."""
    if os.geteuid() != 0:
        if how == "full":
            pytest.skip("filling a disk needs root (mount -t tmpfs); the read-only case covers non-root")
        for folder in (path, *path.rglob("*")):
            if folder.is_dir():
                folder.chmod(0o500)
        return
    if how == "read-only":
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        return
    fd = os.open(path / "ballast", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)


def _lose_everything_quietly(url_or_store: str | MemoryStore, caplog: pytest.LogCaptureFixture) -> Tracker:
    with caplog.at_level(logging.WARNING, logger="tokentrail"):
        t = Tracker(url_or_store, batch_size=50, flush_interval=0.05)
        for i in range(1000):
            t.record("gpt-4o", i, 1)  # never raises
        assert t.flush()
        first = len(warnings_of(caplog))
        for i in range(1000, 3000):
            t.record("gpt-4o", i, 1)
        assert t.flush()
        t.close()
    h = t.health
    assert (h.written, h.spooled, h.lost) == (0, 0, 3000)  # counted, not hidden
    said = " ".join(warnings_of(caplog))
    assert h.last_error and any(e in said for e in ("No space left", "Read-only", "Permission denied")), said
    assert len(warnings_of(caplog)) == first, "a warning for every failing batch"
    assert any("could not spool" in w for w in warnings_of(caplog))  # the loss is reported
    return t


_BROKEN = [("jsonl", "full"), ("jsonl", "read-only"), ("sqlite", "full"), ("sqlite", "read-only")]


@pytest.mark.parametrize(("kind", "how"), _BROKEN)
def test_a_full_or_read_only_disk_counts_the_loss_and_never_raises(
    kind: str, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        monkeypatch.setenv("TOKENTRAIL_HOME", str(disk / "home"))  # the spool is on the broken disk too
        url = _store_url(kind, disk)
        with Tracker(url) as t:
            t.record("gpt-4o", 0, 1)  # the store works, and holds one call
        assert t.health.written == 1
        break_disk(disk, how)
        _lose_everything_quietly(url, caplog)


def test_full_disk_store_and_spool_counts_the_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "spool").write_text("a file where the spool folder should be: every spool write fails")
    monkeypatch.setenv("TOKENTRAIL_HOME", str(home))
    store = FullDiskStore("sqlite:///full.db")
    _lose_everything_quietly(store, caplog)
    assert store.attempts >= 2


def test_one_warning_says_the_calls_are_lost_when_store_and_spool_both_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "spool").write_text("not a folder")
    monkeypatch.setenv("TOKENTRAIL_HOME", str(home))
    _lose_everything_quietly(FullDiskStore("sqlite:///full.db"), caplog)
    [warning] = warnings_of(caplog)
    assert "lost" in warning and "kept in the local spool" not in warning


# -- 5. corrupt files, newer schemas, bad credentials --------------------------------------------------


def test_corrupt_and_truncated_jsonl_lines_are_named_skipped_and_nothing_else_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"jsonl://{tmp_path / 'jsonl'}"
    with Tracker(url) as t:
        for i in range(100):
            t.record("gpt-4o", i, 1, agent="a", started_at=datetime(2025, 3, 1, 12, tzinfo=timezone.utc))
    [day_file] = (tmp_path / "jsonl").glob("*/telemetry.jsonl")
    with day_file.open("ab") as f:
        f.write(b'{"id": "x", "started_at": "not a date", "model": "m"}\n')  # line 101: corrupt
        f.write(b"\x00\x00garbage\n")  # line 102: not JSON
        f.write(b'{"id": "torn", "started_at": "2025-03-01T12:00')  # line 103: truncated by a crash
    with Tracker(url) as t:  # a writer after the crash appends on a fresh line
        for i in range(100, 150):
            t.record("gpt-4o", i, 1, agent="a", started_at=datetime(2025, 3, 1, 13, tzinfo=timezone.utc))
    with caplog.at_level(logging.WARNING, logger="tokentrail"):
        store = open_store(url)
        try:
            calls = list(store.calls(Filter(), newest_first=False))
            assert sorted(c.input_tokens for c in calls) == list(range(150))
            assert store.corrupt_lines == 3  # type: ignore[attr-defined]
            assert sum(g.totals.calls for g in store.aggregate(Filter())) == 150
        finally:
            store.close()
    skipped = [w for w in warnings_of(caplog) if "skipped" in w]
    for lineno in (101, 102, 103):
        assert any(f"{day_file}:{lineno}" in w for w in skipped), skipped
    assert any("truncated" in w and f":{103}" in w for w in skipped)
    result = doctor("--store", url, "--format", "json")  # the reader does not crash on them either
    assert result.exit_code == 0 and json.loads(result.stdout)["store"]["calls"] == 150


def test_a_corrupt_line_inside_a_spool_file_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    now = datetime.now(timezone.utc)
    spool = Spool(tmp_path, "sqlite:///x.db")
    spool.append([Call(id=new_call_id(), started_at=now, model="gpt-4o", input_tokens=1)])
    with spool.path.open("ab") as f:
        f.write(b'{"id": "half a line\n')
    spool.append([Call(id=new_call_id(), started_at=now, model="gpt-4o", input_tokens=2)])
    store = MemoryStore()
    with caplog.at_level(logging.WARNING, logger="tokentrail"):
        assert spool.replay(store.write) == 2
    assert any(f"{spool.path}:2" in w for w in warnings_of(caplog))


class PickyStore(MemoryStore):
    """A store that refuses any batch holding a call it cannot take (as PostgreSQL refuses 2**63 in a bigint)."""

    def write(self, calls: Sequence[Call]) -> int:
        if any(c.agent == "unstorable" for c in calls):
            raise StoreError('could not write calls: value "9223372036854775808" is out of range for type bigint')
        return super().write(calls)


_POISON = (
    "one call the store refuses blocks every call behind it forever: the writer spools the whole batch, and "
    "Spool.replay fails on the same chunk at every retry (spool.py/tracker.py); on a refused batch, bisect "
    "it, write the good calls, set the refused ones aside (counted in health.lost, one warning)"
)


def test_a_call_the_store_refuses_does_not_block_the_calls_behind_it() -> None:
    store = PickyStore("sqlite:///picky.db")
    with Tracker(store, batch_size=10) as t:
        for i in range(5):
            t.record("gpt-4o", i, 1, agent="app")
        t.record("gpt-4o", 5, 1, agent="unstorable")
        for i in range(6, 106):
            t.record("gpt-4o", i, 1, agent="app")
        assert t.flush()
        for _ in range(3):
            t.replay_spool()
        assert len(list(store.calls(Filter()))) == 105
        assert t.health.lost == 1 and spool_status(default_home() / "spool").calls == 0


@pytest.mark.postgres
def test_an_out_of_range_count_does_not_block_postgres(pg_url: str) -> None:
    with Tracker(pg_url, batch_size=10) as t:
        try:
            t.record("gpt-4o", 2**63, 1, agent="unstorable")
        except ValidationError:
            pass  # refusing it at the boundary is a fix too
        for i in range(200):
            t.record("gpt-4o", i, 1, agent="app")
        assert t.flush()
        t.replay_spool()
    assert _prefix_count(pg_url, "app") == 200


class SwitchableStore(MemoryStore):
    """A store that refuses every write while `down` is set."""

    down = False

    def write(self, calls: Sequence[Call]) -> int:
        if self.down:
            raise ConnectionError("server closed the connection unexpectedly")
        return super().write(calls)


def test_closing_replays_the_spool_once_the_store_answers_again() -> None:
    store = SwitchableStore("sqlite:///switch.db")
    t = Tracker(store, batch_size=10)
    store.down = True
    for i in range(20):
        t.record("gpt-4o", i, 1)
    assert t.flush() and t.health.spooled == 20
    store.down = False  # the outage is over just before the script ends
    t.close()
    assert len(list(store.calls(Filter()))) == 20


def test_record_call_refuses_a_call_the_store_could_not_read_back(tmp_path: Path) -> None:
    url = f"jsonl://{tmp_path / 'jsonl'}"
    bad = Call(id=new_call_id(), started_at=datetime.now(timezone.utc), model="m", output_tokens=1, reasoning_tokens=5)
    with Tracker(url) as t:
        with pytest.raises(ValidationError, match="reasoning_tokens"):
            t.record_call(bad)
        assert t.flush()
    assert t.health.written == len(stored(url)) == 0


def _bump_sqlite_schema(path: Path) -> None:
    con = sqlite3.connect(path)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version_tables = [t for t in tables if "version" in t or "migration" in t]
        if version_tables:
            table = version_tables[0]
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            values = {"version": 999, "name": "m999_from_the_future", "applied_at": "2099-01-01T00:00:00+00:00"}
            cols = [c for c in columns if c in values]
            con.execute(
                f'INSERT INTO "{table}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})',
                [values[c] for c in cols],
            )
        con.execute("PRAGMA user_version = 999")
        con.commit()
    finally:
        con.close()


def test_a_sqlite_file_from_a_newer_version_is_refused_by_name_and_nothing_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "usage.db"
    url = f"sqlite:///{path}"
    with Tracker(url) as t:
        t.record("gpt-4o", 1, 1)
    _bump_sqlite_schema(path)
    with pytest.raises(SchemaVersionError, match=str(path)):
        open_store(url)
    with caplog.at_level(logging.WARNING, logger="tokentrail"), Tracker(url) as t:
        t.record("gpt-4o", 2, 1)  # the application is not broken by it: the call waits in the spool
        assert t.flush()
        assert (t.health.spooled, t.health.lost) == (1, 0)
    assert any(str(path) in w for w in warnings_of(caplog))
    result = doctor("--store", url)
    assert result.exit_code == 1 and "newer" in result.stdout and str(path) in result.stdout


@pytest.mark.postgres
def test_a_postgres_database_from_a_newer_version_is_refused_by_url(pg_url: str) -> None:
    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tokentrail.schema_version (version, name) VALUES (999, 'm999_from_the_future')")
    with pytest.raises(SchemaVersionError, match="schema version 999") as info:
        open_store(pg_url)
    assert pg_url.rsplit("/", 1)[1] in str(info.value)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "where",
    [
        "netloc",
        "query",
    ],
)  # fmt: skip
def test_bad_credentials_name_the_url_with_the_password_masked(
    where: str, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    base, db = pg_url.rsplit("/", 1)
    if where == "netloc":
        url = base.replace("postgres@", "no_such_role:hunter2@") + f"/{db}"
    else:
        url = base.replace("postgres@", "no_such_role@") + f"/{db}?password=hunter2"
    with pytest.raises(StoreError) as info:
        open_store(url)
    message = str(info.value)
    assert "no_such_role" in message and db in message and "hunter2" not in message
    with caplog.at_level(logging.WARNING, logger="tokentrail"), Tracker(url) as t:
        t.record("gpt-4o", 1, 1)
        assert t.flush() and (t.health.spooled, t.health.lost) == (1, 0)
        assert "hunter2" not in (t.health.last_error or "")
    assert warnings_of(caplog)
    result = doctor("--store", url)
    assert result.exit_code == 1 and "hunter2" not in result.output and "no_such_role" in result.output
    assert [w for w in warnings_of(caplog) if "hunter2" in w] == []


# -- doctor ---------------------------------------------------------------------------------------------


def test_doctor_shows_the_store_its_size_and_an_empty_spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"jsonl://{tmp_path / 'jsonl'}"
    monkeypatch.setenv("TOKENTRAIL_STORE", url)
    with Tracker(url) as t:
        for i in range(42):
            t.record("gpt-4o", i, 1)
    result = doctor()
    assert result.exit_code == 0, result.output
    spool = default_home() / "spool"
    assert result.stdout.splitlines() == [
        "tokentrail doctor",
        f"  store  {url} (from environment (TOKENTRAIL_STORE))",
        "  opens  yes",
        "  calls  42",
        f"  spool  {spool}: 0 call(s) in 0 file(s), 0 B",
    ]
    assert json.loads(doctor("--format", "json").stdout) == {
        "store": {"url": url, "source": "environment (TOKENTRAIL_STORE)", "opens": True, "error": None, "calls": 42},
        "spool": {"folder": str(spool), "files": 0, "calls": 0, "bytes": 0},
        "dropped": {"calls": 0, "since": None, "last": None, "trackers": 0},
        "replay": None,
    }


@pytest.mark.postgres
def test_doctor_replay_writes_the_spool_into_the_store(pg_url: str, proxy: TcpProxy) -> None:
    url = via_port(pg_url, proxy.port)
    with Tracker(url, batch_size=10) as t:  # the database is unreachable while these are recorded
        for i in range(120):
            t.record("gpt-4o", i, 1, agent="app")
        assert t.flush() and t.health.spooled == 120
    waiting = doctor("--store", url)
    assert waiting.exit_code == 1
    assert "120 call(s) in 1 file(s)" in waiting.stdout and "tokentrail doctor --replay" in waiting.stdout
    proxy.up()
    result = doctor("--store", url, "--replay", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["replay"] == {"replayed": 120, "error": None}
    assert data["store"]["calls"] == 120 and data["spool"]["calls"] == 0
    assert _prefix_count(pg_url, "app") == 120
    again = doctor("--store", url, "--replay")
    assert again.exit_code == 0 and "wrote 0 spooled call(s)" in again.stdout
