"""The spool: where calls wait, on local disk, while their store is unreachable or failing.

When a batch cannot be written, the writer appends it to a spool file instead of dropping it, and
keeps doing so (to keep the order) until the store answers again; then the spool is replayed in order,
oldest first, and removed. Stores skip calls whose id is already stored, so a replay cut short and
started again duplicates nothing.

Each process appends to its own file (`<store-key>-<pid>.jsonl` under `TOKENTRAIL_HOME/spool/`), under
an exclusive `flock` while appending or replaying, so files never interleave; a process also replays
the files of processes that have ended. A line is one call, `Call.to_dict()` as JSON.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .model import Call

__all__ = ["Spool", "SpoolStatus", "spool_status"]

_CHUNK = 1000
log = logging.getLogger("tokentrail")


def _store_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


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
            files += 1
            size += path.stat().st_size
            with path.open("rb") as fh:
                calls += sum(1 for line in fh if line.strip())
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
        self.pending = any(self._files())

    @property
    def path(self) -> Path:
        if self._pid != os.getpid():  # forked: the child gets its own file
            self._pid = os.getpid()
        return self.folder / f"{self._key}-{self._pid}.jsonl"

    def _files(self) -> Iterator[Path]:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob(f"{self._key}-*.jsonl"), key=lambda p: p.stat().st_mtime):
            pid = path.stem.rsplit("-", 1)[-1]
            if path == self.path or (pid.isdigit() and not _alive(int(pid))):
                yield path

    def append(self, calls: Sequence[Call]) -> None:
        """Append calls to this process's spool file (raises OSError when the disk refuses)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(c.to_dict(), separators=(",", ":")) + "\n" for c in calls).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.pending = True

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
            fd = os.open(path, os.O_RDWR)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # another process is replaying it
                    continue
                with os.fdopen(os.dup(fd), "rb") as fh:
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
                path.unlink()
            finally:
                os.close(fd)
        self.pending = any(self._files())
        return written
