"""The spool: where calls wait, on local disk, while their store is unreachable or failing.

When a batch cannot be written, the writer appends it to a spool file instead of dropping it, and
keeps doing so (to keep the order) until the store answers again; then the spool is replayed in order,
oldest first, and removed. Stores skip calls whose id is already stored, so a replay cut short and
started again duplicates nothing.

Each process appends to its own file (`<store-key>-<pid>.jsonl` under `TOKENTRAIL_HOME/spool/`), under
an exclusive `flock` while appending or replaying, so files never interleave; a process also replays
the files of processes that have ended. A line is one call, `Call.to_dict()` as JSON.

Races, settled by that lock: a replay removes a file while holding it, and an append that waited for it
opens the path again until it holds the file the path names, so no call is appended to a removed file; a
file another process replayed and removed first is theirs, skipped, never an error. An append cut short
(a full disk) cuts the file back to whole lines and raises, so its calls are counted lost, not spooled.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .model import Call

__all__ = ["Spool", "SpoolStatus", "spool_status"]

_CHUNK = 1000
log = logging.getLogger("tokentrail")
_held: set[int] = set()
"""Descriptors of spool files this process holds an flock on (appending or replaying) right now."""


def _close_held_in_child() -> None:
    # A fork copies the descriptor, and with it the parent's flock: the child, which never closes it, would
    # hold the lock for its whole life and every later append of the parent would wait for it.
    for fd in list(_held):
        try:
            os.close(fd)
        except OSError:  # pragma: no cover - already closed
            pass
    _held.clear()


os.register_at_fork(after_in_child=_close_held_in_child)


def _store_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _same_file(fd: int, path: Path) -> bool:
    """Whether `fd` is still the file at `path` (not removed, nor replaced, since it was opened)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process
        return True
    return True


@dataclass(frozen=True, slots=True)
class SpoolStatus:
    """What is waiting in the spool folder."""

    folder: Path
    files: int
    calls: int
    bytes: int


def spool_status(folder: Path) -> SpoolStatus:
    """Count the files, calls (lines) and bytes waiting in a spool folder."""
    files = calls = size = 0
    if folder.is_dir():
        for path in folder.glob("*.jsonl"):
            if path.name.startswith(("refused-", "corrupt-")):  # set aside for inspection, not waiting
                continue
            try:
                with path.open("rb") as fh:
                    n = sum(1 for line in fh if line.strip())
                    size += os.fstat(fh.fileno()).st_size
            except FileNotFoundError:  # replayed and removed just now
                continue
            except OSError:  # not a readable file: the replay names it, this only counts what waits
                continue
            files += 1
            calls += n
    return SpoolStatus(folder=folder, files=files, calls=calls, bytes=size)


_NOT_A_CALL = (ValueError, TypeError, ArithmeticError, AttributeError, KeyError, RecursionError)


def _call_from_line(line: bytes) -> Call:
    """The Call one spool line holds; raises one of `_NOT_A_CALL` for anything else (`null`, `[1]`, `"x"`, …)."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object but {type(data).__name__}")
    return Call.from_dict(data)


class Spool:
    """The spool files of one store for this process."""

    def __init__(self, folder: Path, store_url: str) -> None:
        self.folder = folder
        self._key = _store_key(store_url)
        self._pid = os.getpid()
        self._lock = threading.Lock()  # `pending` is set by appends and recomputed by replays, from any thread
        self._lock_pid = self._pid
        self.pending = any(self._files())

    def _pending_lock(self) -> threading.Lock:
        if self._lock_pid != os.getpid():  # forked, maybe while a parent's thread held it: the child's own
            self._lock, self._lock_pid = threading.Lock(), os.getpid()
        return self._lock

    @property
    def path(self) -> Path:
        if self._pid != os.getpid():  # forked: the child gets its own file
            self._pid = os.getpid()
        return self.folder / f"{self._key}-{self._pid}.jsonl"

    def _files(self) -> Iterator[Path]:
        """This process's file and those of ended processes, oldest first; a file gone meanwhile is skipped."""
        if not self.folder.is_dir():
            return
        found: list[tuple[float, Path]] = []
        own = self.path
        for path in self.folder.glob(f"{self._key}-*.jsonl"):
            pid = path.stem.rsplit("-", 1)[-1]
            if path != own and not (pid.isdigit() and not _alive(int(pid))):
                continue
            try:
                found.append((path.stat().st_mtime, path))
            except FileNotFoundError:  # replayed and removed by another process just now
                continue
        found.sort()
        yield from (path for _, path in found)

    def append(self, calls: Sequence[Call]) -> None:
        """Append calls to this process's spool file, whole lines or nothing.

        Raises OSError when the disk refuses, having cut the file back to where it was: a write cut short
        (a full disk) leaves no torn line for the next append to continue, and the caller counts the calls lost.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(c.to_dict(), separators=(",", ":")) + "\n" for c in calls).encode()
        fd = self._open_locked()
        try:
            size = os.fstat(fd).st_size
            try:
                done = 0
                while done < len(data):
                    n = os.write(fd, data[done:])
                    if n <= 0:  # pragma: no cover - a write that makes no progress
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    done += n
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # whole lines only: the calls cut short are the caller's to count lost
                raise
        finally:
            _held.discard(fd)
            os.close(fd)
        with self._pending_lock():
            self.pending = True

    def _open_locked(self) -> int:
        """Open this process's file for appending, under its flock, as the file the path names now.

        A replay removes the file while holding the lock; an append that opened it before and waited for the
        lock would write into the removed file, so it opens the path again until the file it holds is the one
        the path names.
        """
        while True:
            path = self.path
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            _held.add(fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if _same_file(fd, path):
                    return fd
            except BaseException:
                _held.discard(fd)
                os.close(fd)
                raise
            _held.discard(fd)
            os.close(fd)

    def set_aside(self, calls: Sequence[Call]) -> Path:
        """Keep calls the store refused in `refused-<store-key>.jsonl` (never replayed); returns the file."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"refused-{self._key}.jsonl"
        with path.open("a", encoding="utf-8") as fh:
            fh.writelines(json.dumps(c.to_dict(), separators=(",", ":")) + "\n" for c in calls)
        return path

    def _set_aside_line(self, line: bytes) -> Path | None:
        """Keep a line that is not a call in `corrupt-<store-key>.jsonl` (never replayed)."""
        path = self.folder / f"corrupt-{self._key}.jsonl"
        try:
            with path.open("ab") as fh:
                fh.write(line if line.endswith(b"\n") else line + b"\n")
        except OSError:
            return None
        return path

    def replay(
        self,
        write: Callable[[Sequence[Call]], int],
        *,
        on_corrupt: Callable[[str, BaseException], None] | None = None,
    ) -> int:
        """Write every spooled call with `write`, oldest file first, in order; remove each file when done.

        A line that is not a call (torn by a crash, damaged, or JSON of another shape) is set aside in
        `corrupt-<store-key>.jsonl`, skipped with a warning naming `file:line`, and reported to
        `on_corrupt("file:line", error)`; the lines around it are replayed.

        Returns the number of calls the store newly stored. Raises whatever `write` raises, leaving the
        rest of the spool in place (calls already written are skipped next time by their id).
        """
        written = 0
        for path in list(self._files()):
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:  # another process replayed and removed it: theirs, not an error
                continue
            _held.add(fd)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another process is replaying it
                    continue
                if not _same_file(fd, path):  # replayed and removed while this one waited to open it
                    continue
                written += self._replay_file(path, fd, write, on_corrupt)
                path.unlink()  # under the lock: an append waiting for it opens a new file
            finally:
                _held.discard(fd)
                os.close(fd)
        with self._pending_lock():
            self.pending = any(self._files())
        return written

    def _replay_file(
        self,
        path: Path,
        fd: int,
        write: Callable[[Sequence[Call]], int],
        on_corrupt: Callable[[str, BaseException], None] | None,
    ) -> int:
        written = 0
        with os.fdopen(fd, "rb", closefd=False) as fh:  # one descriptor: a fork closes it (_held)
            chunk: list[Call] = []
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    chunk.append(_call_from_line(line))
                except _NOT_A_CALL as exc:  # torn by a crash, damaged, or not a call at all
                    kept = self._set_aside_line(line)
                    log.warning("tokentrail: skipped a corrupt spool line at %s:%d (%s); that call is lost "
                                "to the store (line kept in %s)", path, lineno, exc, kept)  # fmt: skip
                    if on_corrupt is not None:
                        on_corrupt(f"{path}:{lineno}", exc)
                    continue
                if len(chunk) >= _CHUNK:
                    written += write(chunk)
                    chunk = []
            if chunk:
                written += write(chunk)
        return written
