"""A private PostgreSQL server for fault tests: started on its own port, frozen, stopped, started again.

Fault tests must never stop or freeze the shared server on 5432 (other tests and other people use it), so
each one that needs a server to misbehave gets its own: `initdb` into a temporary folder (as the `postgres`
user, as PostgreSQL refuses to run as root), `pg_ctl start` on a free port with its socket in that folder,
trust authentication. `HungServer` is the other fault: a socket that accepts connections and never answers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_BIN = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = list(args)
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)


class PrivateServer:
    """One PostgreSQL server of our own: `url`, `stop()`, `start()`, `freeze()`, `thaw()`."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.data = folder / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _ctl(self, *args: str) -> None:
        assert _BIN is not None
        _as_postgres(str(_BIN / "pg_ctl"), "-D", str(self.data), *args)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-w", "-t", "60", "-l", str(self.folder / "log"), "-o", options, "start")

    def stop(self) -> None:
        self.thaw()  # a frozen server cannot stop
        self._ctl("-w", "-m", "immediate", "stop")

    def _pids(self) -> list[int]:
        """The postmaster and every backend: a frozen server is all of them stopped, as when the host hangs."""
        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        return [pid, *map(int, children)]

    def freeze(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if (self.data / "postmaster.pid").exists():
            for pid in self._pids():
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass


@contextmanager
def private_postgres() -> Iterator[PrivateServer]:
    """A fresh server of our own on a free port, removed afterwards (skips where PostgreSQL is not installed)."""
    if _BIN is None or shutil.which("runuser") is None and os.geteuid() == 0:
        pytest.skip("needs the PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    folder = Path(tempfile.mkdtemp(prefix="tt-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        server = PrivateServer(folder, free_port())
        _as_postgres(str(_BIN / "initdb"), "-D", str(server.data), "-A", "trust", "-U", "postgres", "--no-sync")
        server.start()
        try:
            yield server
        finally:
            try:
                server.stop()
            except subprocess.CalledProcessError:
                pass  # stopped by the test already
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class HungServer:
    """A TCP socket on 127.0.0.1 that accepts every connection and never sends a byte (a hung database host)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.accepted.append(conn)  # held open, never read from or written to

    def close(self) -> None:
        self._listener.close()
        for conn in self.accepted:
            conn.close()


@contextmanager
def hung_server() -> Iterator[HungServer]:
    server = HungServer()
    try:
        yield server
    finally:
        server.close()


def wait_until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(condition())  # type: ignore[operator]
