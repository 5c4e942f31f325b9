"""Small background threads: a coalescing job runner and a per-channel delivery queue.

Both start lazily (never at import), are daemons, restart in a forked child, and never let an exception
escape: failures are logged. `flush(timeout)` waits until everything handed over so far is done, which is
what tests and the CLI use instead of sleeping.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Coalescer", "DeliveryQueue"]

log = logging.getLogger("tokentrail.alerts")
T = TypeVar("T")


class Coalescer:
    """Runs `job()` on its own thread after `kick()`; many kicks while it runs cause one more run, not many."""

    def __init__(self, name: str, job: Callable[[], None]) -> None:
        self._name = name
        self._job = job
        self._cond = threading.Condition()
        self._pending = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def kick(self) -> None:
        with self._cond:
            self._pending = True
            self._ensure_thread()
            self._cond.notify_all()

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's thread does not exist here
            self._pid, self._thread, self._busy = os.getpid(), None, False
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                self._pending, self._busy = False, True
            try:
                self._job()
            except Exception as exc:
                log.warning("tokentrail: %s failed (ignored): %s: %s", self._name, type(exc).__name__, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until no run is pending or running; True if that happened within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True


class DeliveryQueue(Generic[T]):
    """A bounded queue drained by one thread that calls `deliver(item)`; the oldest item goes when full."""

    def __init__(self, name: str, deliver: Callable[[T], None], *, maxsize: int = 1000) -> None:
        self._name = name
        self._deliver = deliver
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.dropped = 0
        """Items discarded because the queue was full."""

    def put(self, item: T) -> None:
        with self._cond:
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self.dropped += 1
                log.warning("tokentrail: %s is falling behind; dropped the oldest alert", self._name)
            self._items.append(item)
            if self._pid != os.getpid():
                self._pid, self._thread, self._busy = os.getpid(), None, False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items:
                    self._cond.wait()
                item = self._items.popleft()
                self._busy = True
            try:
                self._deliver(item)
            except Exception as exc:
                log.warning("tokentrail: %s failed (ignored): %s: %s", self._name, type(exc).__name__, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every queued item has been handled; True if within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._items or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True
