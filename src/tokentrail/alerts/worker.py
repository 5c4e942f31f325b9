"""Small background threads: a coalescing job runner and a per-channel delivery queue.

Both start lazily (never at import), are daemons, restart in a forked child, and never let an exception
escape: failures are logged. `flush(timeout)` waits until everything handed over so far is done, which is
what tests and the CLI use instead of sleeping; `stop(timeout)` also ends the thread once that work is done
(a tracker stops its workers before it closes the store they read).
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


class _Worker:
    """One lazily started daemon thread that takes work under a condition and runs it, logging failures.

    Subclasses say when there is work (`_has_work`) and hand out the next piece of it (`_take`, called
    with the condition held); `flush` waits until none is waiting or running.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._cond = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def _has_work(self) -> bool:
        raise NotImplementedError

    def _take(self) -> Callable[[], None]:
        raise NotImplementedError

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's thread does not exist here
            self._pid, self._thread, self._busy, self._stopping = os.getpid(), None, False, False
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._has_work():
                    if self._stopping and self._thread is threading.current_thread():
                        self._thread, self._stopping = None, False  # the next piece of work starts a new thread
                        self._cond.notify_all()
                        return
                    self._cond.wait()
                work = self._take()
                self._busy = True
            try:
                work()
            except Exception as exc:
                log.warning("tokentrail: %s failed (ignored): %s: %s", self._name, type(exc).__name__, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until nothing is waiting or running; True if that happened within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._has_work() or self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Finish the work handed over so far, then end the thread; True if it ended within `timeout` seconds.

        Work handed over later starts a new thread, so stopping is never a reason to lose an item.
        """
        with self._cond:
            thread = self._thread
            if thread is None or self._pid != os.getpid():
                return True
            self._stopping = True
            self._cond.notify_all()
        if thread is threading.current_thread():  # asked by its own work: it ends once that work is done
            return False
        thread.join(timeout)
        return not thread.is_alive()


class Coalescer(_Worker):
    """Runs `job()` on its own thread after `kick()`; many kicks while it runs cause one more run, not many."""

    def __init__(self, name: str, job: Callable[[], None]) -> None:
        super().__init__(name)
        self._job = job
        self._pending = False

    def kick(self) -> None:
        with self._cond:
            self._pending = True
            self._ensure_thread()
            self._cond.notify_all()

    def _has_work(self) -> bool:
        return self._pending

    def _take(self) -> Callable[[], None]:
        self._pending = False
        return self._job


class DeliveryQueue(_Worker, Generic[T]):
    """A bounded queue drained by one thread that calls `deliver(item)`; the oldest item goes when full."""

    def __init__(self, name: str, deliver: Callable[[T], None], *, maxsize: int = 1000) -> None:
        super().__init__(name)
        self._deliver = deliver
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self.dropped = 0
        """Items discarded because the queue was full."""

    def put(self, item: T) -> None:
        with self._cond:
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self.dropped += 1
                log.warning("tokentrail: %s is falling behind; dropped the oldest alert", self._name)
            self._items.append(item)
            self._ensure_thread()
            self._cond.notify_all()

    def _has_work(self) -> bool:
        return bool(self._items)

    def _take(self) -> Callable[[], None]:
        item = self._items.popleft()
        return lambda: self._deliver(item)
