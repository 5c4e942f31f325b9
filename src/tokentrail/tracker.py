"""The Tracker: the one place a Call is completed, and the Writer that hands it to the Store.

`record()` checks its arguments on the caller's thread (bad input raises at once, and nothing is
queued), snapshots the active `tokentrail.context`, and appends one tuple to a bounded queue. That is
all the caller pays for. A background thread — started on the first record, never at import — turns
each tuple into a `Call` (prices it, hashes prompt and response, attaches project and labels), writes
batches to the Store (when `batch_size` calls are waiting or every `flush_interval` seconds), and then
tells the listeners. `flush()` waits for everything recorded before it; the queue is flushed at exit.

Tracking never raises into the host application: a full queue, a dead store or a bug here is logged
once, counted in `Tracker.health`, and otherwise ignored.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from .context import EMPTY_SCOPE, Scope, _scope
from .errors import BudgetExceededError, StoreUnavailableError, UnknownModelError, ValidationError
from .model import (
    MAX_DURATION_MS,
    MAX_TOKENS,
    MODALITY_FIELDS,
    Call,
    build_call,
    check_started_at,
    check_text,
    check_token_consistency,
    new_call_id,
    utc_from_ns,
    validate_call,
    validate_labels,
)
from .project import detect_git_branch, detect_project
from .spool import Spool
from .store.base import MetaStore, Store, Totals

__all__ = ["Health", "PendingCall", "SessionStats", "Tracker", "configure", "default_tracker"]

log = logging.getLogger("tokentrail")

EXIT_FLUSH_S = 15.0
"""How long the writer is given at exit (and at a multiprocessing worker's end) to write what is queued: longer
than a network store's timeout (5 s), so a hung server is given up on and the queue spooled before the end."""

BLOCK_LIMIT_S = 10.0
"""With `on_full="block"`, the longest `record()` waits for a writer that takes no call off the queue."""

_INT, _NUM, _STR, _BOOL, _TIME, _LABELS, _MONEY, _NAME = range(8)
_FIELD_KINDS: dict[str, int] = {
    **dict.fromkeys(("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens",
                     "retries", *MODALITY_FIELDS), _INT),
    **dict.fromkeys(("duration_ms", "ttft_ms"), _NUM),
    **dict.fromkeys(("id", "provider", "response_model", "finish_reason", "response_id", "agent", "user",
                     "session", "project", "environment", "git_branch", "trace_id", "span_id", "parent_span_id",
                     "error_type", "error_message", "prompt", "response", "price_source"), _STR),
    **dict.fromkeys(("streamed", "success", "tokens_estimated", "display"), _BOOL),
    "started_at": _TIME,
    "operation": _NAME,
    "labels": _LABELS,
    "cost_usd": _MONEY,
}  # fmt: skip
_CONSISTENCY_KEYS = ("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens",
                     *MODALITY_FIELDS)  # fmt: skip


def _invalid(name: str, value: object, expected: str) -> ValidationError:
    return ValidationError(f"{name}={value!r} is not valid: expected {expected}")


MAX_INT = MAX_TOKENS
"""The largest count `record()` takes (`tokentrail.model.MAX_TOKENS`): its sums never overflow a store."""


def _check_int(name: str, value: Any) -> None:
    # a TokenCount is an int: accepted, never a bool
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        raise _invalid(name, value, f"an integer from 0 to {MAX_TOKENS:,}")


def _check_name(name: str, value: Any) -> None:
    if type(value) is not str or not value:
        raise _invalid(name, value, "a non-empty string (leave it out for the default)")
    check_text(name, value)


def _check_str(name: str, value: Any) -> None:
    if value is None:
        return
    if type(value) is not str:
        raise _invalid(name, value, "a string or None")
    if not value and name not in ("prompt", "response"):
        raise _invalid(name, value, "a non-empty string or None")
    if name == "provider" and not value.strip():  # looked up in the price tables, like the model
        raise _invalid(name, value, "a non-blank string or None")
    check_text(name, value)


def _check_num(name: str, value: Any) -> None:
    if value is not None and (type(value) not in (int, float) or not 0 <= value <= MAX_DURATION_MS):
        raise _invalid(name, value, f"a number of milliseconds from 0 to {MAX_DURATION_MS:,}, or None")


def _check_bool(name: str, value: Any) -> None:
    if type(value) is not bool:
        raise _invalid(name, value, "True or False")


def _check_time(name: str, value: Any) -> None:
    check_started_at(value, name)


def _check_labels(name: str, value: Any) -> None:
    validate_labels(value)


def _check_money(name: str, value: Any) -> None:
    if value is not None and (type(value) not in (int, float, Decimal, str) or not _finite_money(value)):
        raise _invalid(name, value, "a finite amount of USD >= 0 or None")


_CHECKS: dict[int, Callable[[str, Any], None]] = {
    _INT: _check_int, _NUM: _check_num, _STR: _check_str, _BOOL: _check_bool, _TIME: _check_time,
    _LABELS: _check_labels, _MONEY: _check_money, _NAME: _check_name,
}  # fmt: skip


def check_record_fields(model: object, input_tokens: object, output_tokens: object, fields: Mapping[str, Any]) -> None:
    """Validate `record()` arguments; raise `ValidationError` naming the first bad field and its value."""
    if type(model) is not str or not model.strip():
        raise _invalid("model", model, "a non-blank string")
    check_text("model", model)
    _check_int("input_tokens", input_tokens)
    _check_int("output_tokens", output_tokens)
    for name, value in fields.items():
        kind = _FIELD_KINDS.get(name)
        if kind is None:
            raise ValidationError(f"unknown field {name!r}: record() takes {', '.join(sorted(_FIELD_KINDS))}")
        _CHECKS[kind](name, value)
        if kind == _INT and type(value) is not int:  # a TokenCount (an int subclass) is kept as its number
            fields[name] = int(value)  # type: ignore[index]  # record()'s own **fields dict
    if fields.keys() & _CONSISTENCY_KEYS:
        check_token_consistency(
            input_tokens,  # type: ignore[arg-type]
            output_tokens,  # type: ignore[arg-type]
            fields.get("cache_read_tokens", 0),
            fields.get("cache_write_tokens", 0),
            fields.get("cache_write_1h_tokens", 0),
            fields.get("reasoning_tokens", 0),
            **{name: fields[name] for name in MODALITY_FIELDS if name in fields},
        )


def _outage(exc: BaseException) -> bool:
    """Whether the store is unreachable (network, disk, locks, timeouts) rather than refusing the data.

    Told by what the backend raised: `StoreUnavailableError`, or a built-in `OSError` (`ConnectionError`,
    `TimeoutError`, a full disk) from a store of one's own. Anything else is the store refusing this data.
    """
    return isinstance(exc, (StoreUnavailableError, OSError, _PartialWrite))


class _PartialWrite(Exception):
    """The store became unreachable half-way through a batch: `written` calls went in, `rest` did not."""

    def __init__(self, cause: BaseException, written: int, rest: list[Call]) -> None:
        super().__init__(str(cause))
        self.cause, self.written, self.rest = cause, written, rest


def _finite_money(value: int | float | Decimal | str) -> bool:
    try:
        d = Decimal(str(value))
    except ArithmeticError:
        return False
    return d.is_finite() and d >= 0


@dataclass
class Health:
    """What happened to recorded calls that did not reach the store as they should."""

    written: int = 0
    """Calls newly stored."""
    duplicates: int = 0
    """Calls skipped because their id or response id was already stored."""
    dropped: int = 0
    """Calls dropped because the queue was full."""
    lost: int = 0
    """Calls that could not be written (store failing) and were not kept elsewhere."""
    failed_batches: int = 0
    spooled: int = 0
    """Calls kept in the local spool because the store was failing."""
    replayed: int = 0
    """Spooled calls written to the store once it answered again."""
    internal_errors: int = 0
    """Bugs inside tracking (logged)."""
    last_error: str | None = None


@dataclass
class SessionStats:
    """What this process has recorded since it started (or since `reset_session()`)."""

    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    totals: Totals = field(default_factory=Totals)
    by_model: dict[str, Totals] = field(default_factory=dict)

    @property
    def elapsed_s(self) -> float:
        return (datetime.now(timezone.utc) - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A call about to be sent to a provider, as the guards (budgets) see it."""

    model: str
    provider: str | None
    input_tokens: int
    """Prompt tokens, counted or estimated before sending."""
    max_output_tokens: int | None
    """The request's output limit (`max_tokens`), if it set one."""
    scope: Scope
    """The attribution in force (agent, user, session, project, labels)."""
    call_id: str | None = field(default_factory=new_call_id)
    """The id the call will be recorded with (`record(..., id=call_id)`), so what a guard holds for this call
    (a budget reservation) is settled by exactly this call — never by another call of the same model."""


_Item = tuple[str, int, int, dict[str, Any], Scope, int]
_trackers: weakref.WeakSet[Tracker] = weakref.WeakSet()


class Tracker:
    """Completes, checks and writes Calls. Use the module's default one, or make your own.

    Args:
        store: a store URL or a Store object (default: the configured store).
        **settings: overrides of `tokentrail.config` settings (`store_prompts=True`, `batch_size=500`, …).

    Example:
        >>> t = Tracker("memory://")
        >>> t.record("gpt-4o", 1200, 300, agent="support")
        >>> t.flush()
        True
        >>> t.close()
    """

    def __init__(self, store: str | Store | None = None, **settings: Any) -> None:
        from .config import resolve

        resolved = settings.pop("_resolved", None)  # internal: the default tracker's, resolved leniently
        self.settings = resolved or resolve(store=store if isinstance(store, str) else None, **settings)
        self._store: Store | None = None if store is None or isinstance(store, str) else store
        self._owns_store = self._store is None
        self._store_lock = threading.Lock()
        self._queue: deque[_Item | Call | threading.Event] = deque()
        self._queue_size = self.settings.queue_size
        self._block_when_full = self.settings.on_full == "block"
        self._room = threading.Event()
        self._taken = 0
        """Set by the writer whenever it takes calls off the queue (record() waits on it when blocking)."""
        self._stalled = False
        self._busy = threading.Lock()
        """Held by the writer while it starts up (lazy imports, store open) and while it drains or replays:
        a fork waits for it, so no child is copied with a half-done import or a store library's lock held."""
        self._batch_size = self.settings.batch_size
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._listeners: list[Callable[[Call], None]] = []
        self._guards: list[Callable[[PendingCall], None]] = []
        self._releases: list[Callable[[str], None]] = []
        self._closers: list[Callable[[float], object]] = []
        self._errors_logged: set[str] = set()
        self.health = Health()
        self._session = SessionStats()
        self._session_lock = threading.Lock()
        self.display = self.settings.display
        self._spool = self._make_spool(store)
        self._spool_error: OSError | None = None
        self._retry_at = 0.0
        self._backoff = 1.0
        self._refused_now = 0
        self._slow_failure = False
        self._open_failure: tuple[Exception, float] | None = None
        self._refused_ids: set[str] = set()
        self._dropped_since: int | None = None
        self._dropped_last = 0
        self._dropped_saved = 0
        self._drops_key: str | None = None
        self._project = self.settings.project or detect_project()
        self._git_branch = detect_git_branch()
        self._budgets_ready = False
        if self.settings.prices:
            from .pricing import load_price_overrides

            load_price_overrides(self.settings.prices)
        if self.settings.alerts:
            from .alerts import load_alerts

            load_alerts(self.settings.alerts, tracker=self)
        _trackers.add(self)

    # -- the caller's side ----------------------------------------------------------------------

    def record(self, model: str, input_tokens: int = 0, output_tokens: int = 0, **fields: Any) -> None:
        """Record one LLM call. Cheap: checks the arguments and queues them; the rest happens off-thread.

        Args:
            model: the model as requested.
            input_tokens: all prompt tokens, cache reads and writes included.
            output_tokens: all generated tokens, reasoning included.
            **fields: any other `Call` field (`agent`, `user`, `cache_read_tokens`, `duration_ms`, `labels`,
                `prompt`, `response`, `response_id`, …), and `display=True/False` to show or silence this
                call's panel whatever the tracker's setting (a `context(display=...)` around it wins).

        Raises:
            ValidationError: a bad value, named with the field; nothing is recorded.
        """
        if type(model) is not str or type(input_tokens) is not int or type(output_tokens) is not int or fields:
            check_record_fields(model, input_tokens, output_tokens, fields)
            input_tokens, output_tokens = int(input_tokens), int(output_tokens)  # a TokenCount: its number
        elif (
            not 0 <= input_tokens <= MAX_INT
            or not 0 <= output_tokens <= MAX_INT
            or not model.isascii()
            or not model.strip()
        ):
            check_record_fields(model, input_tokens, output_tokens, fields)
        scope = _scope.get()
        item = (model, input_tokens, output_tokens, fields, scope, time.time_ns())
        show = scope.display  # a context's display= wins, then the call's or client's, then the tracker's
        if show is None:
            show = fields.get("display", self.display) if fields else self.display
        if show:
            self._record_displayed(item)
            return
        queue = self._queue
        if len(queue) >= self._queue_size and not self._wait_for_room():
            self._drop()
            return
        queue.append(item)
        if self._thread is None:
            self._start()
        elif len(queue) >= self._batch_size:
            self._wake.set()

    def record_call(self, call: Call) -> None:
        """Queue an already complete Call (imports, copies between stores).

        Raises:
            ValidationError: the Call has an invalid field; nothing is queued.
        """
        validate_call(call)
        if len(self._queue) >= self._queue_size and not self._wait_for_room():
            self._drop()
            return
        self._queue.append(call)
        if self._thread is None:
            self._start()

    def _record_displayed(self, item: _Item) -> None:
        try:
            call = self._complete(item)
            from .display import print_call

            print_call(call)
        except Exception as exc:  # tracking never raises into the caller
            self._internal_error(exc)
            return
        self.record_call(call)

    def _wait_for_room(self) -> bool:
        """With `on_full="block"`, wait until the writer has made room; False means drop the call instead.

        Never waits on the writer thread itself (a listener recording), nor for a writer that is not running,
        nor for one that has taken no call off the queue for `BLOCK_LIMIT_S` (a store that hangs): then calls
        are dropped and counted, without waiting, until it takes calls again.
        """
        if not self._block_when_full or self._stalled:
            return False
        if self._thread is None:
            self._start()
        with self._start_lock:  # another caller may be starting the writer: wait until it runs, not drop
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return False
        queue, room = self._queue, self._room
        give_up = time.monotonic() + BLOCK_LIMIT_S
        seen = self._taken
        while True:
            room.clear()
            if len(queue) < self._queue_size:
                return True
            if self._closed or not thread.is_alive():
                return False
            if self._taken != seen:  # the writer moves, other callers took the room: not a stall, wait on
                seen = self._taken
                give_up = time.monotonic() + BLOCK_LIMIT_S
            elif time.monotonic() >= give_up:
                self._stalled = True
                self._log_once(
                    "stalled",
                    "tokentrail: the writer has taken no call for %.0f s (is the store hanging?); "
                    "dropping calls instead of blocking until it takes calls again",
                    BLOCK_LIMIT_S,
                )
                return False
            self._wake.set()
            room.wait(0.05)

    def _drop(self) -> None:
        self.health.dropped += 1
        self._dropped_last = now = time.time_ns()  # the writer saves the count in the store's metadata
        if self._dropped_since is None:
            self._dropped_since = now
        if self.health.dropped == 1 or self.health.dropped % 10_000 == 0:
            log.warning(
                "tokentrail: queue full (%d calls waiting); %d call(s) dropped so far — "
                "raise TOKENTRAIL_QUEUE_SIZE or check the store",
                self._queue_size,
                self.health.dropped,
            )

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write everything recorded so far; True when done within `timeout` seconds."""
        if self._thread is None or not self._thread.is_alive():
            if self._queue:
                self._drain()
            return True
        if threading.current_thread() is self._thread:
            self._drain()
            return True
        marker = threading.Event()
        self._queue.append(marker)
        self._wake.set()
        return marker.wait(timeout)

    def close(self) -> None:
        """Flush, stop the writer thread and close the store if this tracker opened it."""
        if self._closed:
            return
        self.flush()
        self._final_replay()
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._run_closers()
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def on_call(self, listener: Callable[[Call], None]) -> Callable[[], None]:
        """Call `listener(call)` for every completed call (on the writer thread); returns an unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def on_close(self, closer: Callable[[float], object]) -> None:
        """Call `closer(timeout)` after the last write, before the store closes (at `close()` and at exit):
        background work that reads the store (budget thresholds, alert rules) finishes there."""
        self._closers.append(closer)

    def _run_closers(self) -> None:
        for closer in reversed(list(self._closers)):
            try:
                closer(10.0)
            except Exception as exc:
                self._internal_error(exc)

    def add_guard(
        self, guard: Callable[[PendingCall], None], *, release: Callable[[str], None] | None = None
    ) -> Callable[[], None]:
        """Run `guard(pending)` before every instrumented call is sent; returns a function that removes it.

        A guard refuses a call by raising `BudgetExceededError`, which reaches the caller; any other
        exception from a guard is logged and ignored. `release(call_id)` is called when a call the guards
        checked will not be recorded after all (refused by a later guard, or not recorded by capture).
        """
        self._guards.append(guard)
        if release is not None:
            self._releases.append(release)

        def remove() -> None:
            if guard in self._guards:
                self._guards.remove(guard)
            if release in self._releases:
                self._releases.remove(release)

        return remove

    def release_guards(self, call_id: str | None) -> None:
        """The call checked as `PendingCall(call_id=...)` will not be recorded: let the guards drop what they
        hold for it (a budget reservation). Never raises."""
        if call_id is None:
            return
        for release in list(self._releases):
            try:
                release(call_id)
            except Exception as exc:
                self._internal_error(exc)

    @property
    def has_guards(self) -> bool:
        """Whether any guard is installed (capture counts prompt tokens only then)."""
        if not self._budgets_ready:
            self._ensure_budgets(caller=True)
        return bool(self._guards)

    def check_guards(self, pending: PendingCall) -> None:
        """Run the guards for a call about to be sent; raises `BudgetExceededError` to refuse it."""
        if not self._budgets_ready:
            self._ensure_budgets(caller=True)
        for guard in list(self._guards):
            try:
                guard(pending)
            except BudgetExceededError:
                self.release_guards(pending.call_id)  # what earlier guards reserved for it
                raise
            except Exception as exc:
                self._internal_error(exc)

    def _ensure_budgets(self, *, caller: bool = False) -> None:
        """Attach the budget engine once: for the config file's budgets, or budgets already in the store.

        Budgets live in the store (so `tokentrail budget set` reaches every process); a process that
        never defined one in code still enforces them. Done on first need, never at import. On the
        caller's thread a network store is not opened here (an unreachable server must not hold up the
        user's call): the writer thread is started to do it, and guards apply from then on.
        """
        if caller and self._store is None and self.settings.store.startswith(("postgres", "postgresql")):
            if self._thread is None:
                self._start()
            return
        if time.monotonic() < self._retry_at:  # the store is failing: look again once it answers
            return
        with self._start_lock:
            if self._budgets_ready:
                return
            self._budgets_ready = True
        try:
            store = self.store
        except Exception:  # unreachable for now: the write path reports it; try again later
            self._budgets_ready = False
            return
        try:
            if self.settings.budgets:
                from .budgets import load_budgets

                load_budgets(self.settings.budgets, tracker=self)
            elif isinstance(store, MetaStore) and store.meta_items("budgets"):  # a calls-only store has none
                from .budgets import engine_for

                engine_for(self)
        except Exception as exc:  # a store that cannot be read must not break the app
            self._internal_error(exc)

    def session_stats(self) -> SessionStats:
        """This process's totals since start or `reset_session()` (flushes first)."""
        self.flush()
        with self._session_lock:
            s = self._session
            copy = SessionStats(started_at=s.started_at, totals=Totals(), by_model={})
            copy.totals.add(s.totals)
            for model, totals in s.by_model.items():
                copy.by_model[model] = Totals()
                copy.by_model[model].add(totals)
            return copy

    def reset_session(self) -> None:
        """Start the session totals again from zero."""
        self.flush()
        with self._session_lock:
            self._session = SessionStats()

    @property
    def store(self) -> Store:
        """The store, opened on first use.

        A store that took long to fail to open (it hangs) is not tried again for a second: the same error is
        raised at once, so it costs one timeout, not one per step (budgets lookup, then the first write).
        """
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    from .store import open_store

                    failed = self._open_failure
                    if failed is not None and time.monotonic() < failed[1]:
                        raise failed[0]
                    s = self.settings
                    started = time.monotonic()
                    try:
                        self._store = open_store(s.store, retention_days=s.retention_days, max_size_mb=s.max_size_mb)
                    except Exception as exc:
                        if time.monotonic() - started > 1.0:
                            self._open_failure = (exc, time.monotonic() + 1.0)
                        raise
        return self._store

    # -- the writer's side ----------------------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._run, name="tokentrail-writer", daemon=True)
            self._thread.start()
            atexit.unregister(self._at_exit)  # a forked child inherits its parent's registration
            atexit.register(self._at_exit)
            _flush_at_worker_exit(self)

    def _at_exit(self) -> None:
        try:
            if not self.flush(timeout=EXIT_FLUSH_S):
                self._report_unwritten_at_exit()
            self._final_replay()
            self._run_closers()
        except Exception as exc:  # pragma: no cover - interpreter shutdown
            self._internal_error(exc)

    def _report_unwritten_at_exit(self) -> None:
        # The process ends without waiting longer (a hung store must not hold it forever): say what it takes.
        waiting = sum(1 for item in list(self._queue) if not isinstance(item, threading.Event))
        self.health.lost += waiting
        log.warning(
            "tokentrail: %d call(s) were still waiting to be written after %.0f s at exit (is the store slow "
            "or hanging?); they are lost — call tokentrail.flush() before exiting to wait longer",
            waiting,
            EXIT_FLUSH_S,
        )

    def _final_replay(self) -> None:
        # A short outage may be over by the time a script ends: try the spool once, whatever the backoff,
        # rather than leave it to a next process that may never come (a CI job, a container).
        # Not when the store took long to fail (it hangs): trying again would hold up the exit as long again.
        if self._spool is not None and self._spool.pending and not self._slow_failure:
            self._replay()

    def _run(self) -> None:
        interval = self.settings.flush_interval
        with self._busy:
            self._warm_up()
            self._drain()  # what was recorded while the store opened goes out now, not a flush_interval later
        while not self._closed:
            self._wake.wait(interval)
            self._wake.clear()
            with self._busy:
                self._drain()
                if self._spool is not None and self._spool.pending and time.monotonic() >= self._retry_at:
                    self._replay()
        with self._busy:
            self._drain()

    def _warm_up(self) -> None:
        """Do the writer's lazy imports and open the store (under `_busy`, so a fork waits for them).

        A fork while this thread is half-way through importing genai-prices or a store driver would leave
        the child with half-imported modules, or with an import lock no thread will ever release.
        """
        try:
            from .pricing import calculate_cost, source

            source.load()
            calculate_cost("gpt-4o", 1, 1)  # resolves genai-prices' model index once
        except UnknownModelError:  # a price table without it: the index is built all the same
            pass
        except Exception as exc:  # pricing broken: calls are still stored, unpriced
            self._internal_error(exc)
        if not self._budgets_ready:
            self._ensure_budgets()

    def _drain(self) -> None:
        queue = self._queue
        batch: list[Call] = []
        markers: list[threading.Event] = []
        block, room = self._block_when_full, self._room
        while queue:
            try:
                item = queue.popleft()
            except IndexError:  # pragma: no cover - raced with another drain
                break
            if block and len(batch) % 64 == 0:
                self._stalled = False
                self._taken += 1  # progress, for callers waiting for room (never a stall while this moves)
                room.set()
            if type(item) is tuple:
                try:
                    batch.append(self._complete(item))
                except Exception as exc:
                    self._internal_error(exc)
            elif isinstance(item, Call):
                batch.append(item)
            else:
                markers.append(item)  # type: ignore[arg-type]
                self._write(batch)
                batch = []
                if self.health.dropped != self._dropped_saved:
                    self._save_drops()  # flushed means counted in the store too
                for m in markers:
                    m.set()
                markers.clear()
                continue
            if len(batch) >= self._batch_size:
                self._write(batch)
                batch = []
        self._write(batch)
        if self.health.dropped != self._dropped_saved:
            self._save_drops()

    def _save_drops(self) -> None:
        """Save the count of calls dropped (queue full) in the store's metadata, for `doctor` and `stats` in
        every process; on the writer's side only, and not while the store is failing (later, then)."""
        if self._dropped_since is None or (self._spool is not None and self._spool.pending):
            return
        from .store.drops import drops_key, save_drops

        dropped = self.health.dropped
        try:
            if self._drops_key is None:
                self._drops_key = drops_key()
            save_drops(self.store, self._drops_key, dropped, utc_from_ns(self._dropped_since),
                       utc_from_ns(self._dropped_last))  # fmt: skip
        except Exception as exc:  # the store is failing: the next cycle tries again
            self._log_once(f"drops:{type(exc).__name__}", "tokentrail: could not save the count of dropped calls "
                           "(%d) in the store (%s); trying again with the next batch", dropped, exc)  # fmt: skip
            return
        self._dropped_saved = dropped

    def _write(self, batch: list[Call]) -> None:
        if not batch:
            return
        spool = self._spool
        if spool is not None and spool.pending and (time.monotonic() < self._retry_at or not self._replay()):
            self._keep(batch)  # the store is still failing: keep order by spooling behind the earlier calls
        else:
            started = time.monotonic()
            try:
                written = self._store_write(batch)
                self.health.written += written
                self.health.duplicates += len(batch) - written - self._refused_now
                self._slow_failure = False
            except _PartialWrite as exc:  # stored in part, then the store went away: keep the rest
                self.health.written += exc.written
                self.health.duplicates += len(batch) - len(exc.rest) - exc.written - self._refused_now
                self.health.failed_batches += 1
                self._slow_failure = time.monotonic() - started > 1.0
                self._on_write_failure(exc.cause, kept=self._keep(exc.rest))
            except Exception as exc:
                self.health.failed_batches += 1
                self._slow_failure = time.monotonic() - started > 1.0
                self._on_write_failure(exc, kept=self._keep(batch))
        self._after_write(batch)

    def _store_write(self, batch: Sequence[Call]) -> int:
        """Write a batch. If the store refuses it for its data, write the calls it takes and set aside the rest.

        An outage (`StoreUnavailableError`, `OSError`) is raised at once: the caller spools the batch. Any
        other error is the store refusing data: the batch is bisected down to the calls refused one by one,
        which are counted lost (and kept in `spool/refused-*.jsonl` for inspection), so that one bad call
        never blocks those behind it. An outage half-way raises `_PartialWrite` with the calls not yet
        written, which the caller spools: an outage never turns a good call into a refused one.
        """
        self._refused_now = 0
        store = self.store
        try:
            return store.write(batch)
        except Exception as exc:
            if _outage(exc):
                raise
            if len(batch) == 1:
                self._refuse(batch, exc)
                return 0
        mid = len(batch) // 2
        parts = [batch[mid:], batch[:mid]]  # a stack: the first half is written first, keeping the order
        written = 0
        while parts:
            part = parts.pop()
            try:
                written += store.write(part)
            except Exception as exc:
                if _outage(exc):
                    rest = [call for p in (part, *reversed(parts)) for call in p]
                    raise _PartialWrite(exc, written, rest) from exc
                if len(part) == 1:
                    self._refuse(part, exc)
                else:
                    mid = len(part) // 2
                    parts += [part[mid:], part[:mid]]
        return written

    def _refuse(self, calls: Sequence[Call], exc: BaseException) -> None:
        if len(self._refused_ids) < 100_000:  # a replay cut short meets them again: set aside and counted once
            self._refused_ids.update(c.id for c in calls)
        self._refused_now += len(calls)
        self.health.lost += len(calls)
        self.health.last_error = f"{type(exc).__name__}: {exc}"
        where = "not kept"
        if self._spool is not None:
            try:
                where = str(self._spool.set_aside(calls))
            except OSError:
                pass
        self._log_once(f"refused:{type(exc).__name__}",
                       "tokentrail: the store refused %d call(s) (%s); they are lost to it (%s), the rest are written",
                       len(calls), exc, where)  # fmt: skip

    def _make_spool(self, store: str | Store | None) -> Spool | None:
        url = self.settings.store if store is None or isinstance(store, str) else getattr(store, "url", None)
        if not url or url.startswith("memory://"):
            return None
        from .config import default_home
        from .spool import Spool

        return Spool(default_home() / "spool", url)

    def replay_spool(self) -> int:
        """Write the calls spooled while the store was failing, now; returns how many were newly stored."""
        self.flush()
        before = self.health.replayed
        self._open_failure = None  # asked for now: try the store again, whenever it last failed
        if self._spool is not None and self._spool.pending:
            self._replay()
        return self.health.replayed - before

    def _replay(self) -> bool:
        assert self._spool is not None
        health = self.health

        store_failed = False

        def write(chunk: Sequence[Call]) -> int:
            nonlocal store_failed
            if self._refused_ids:
                chunk = [c for c in chunk if c.id not in self._refused_ids]
            try:
                written = self._store_write(chunk)
            except _PartialWrite as exc:
                health.replayed += exc.written
                health.written += exc.written
                store_failed = True
                raise
            except BaseException:
                store_failed = True
                raise
            health.replayed += written
            health.written += written
            return written

        started = time.monotonic()
        try:
            self._spool.replay(write, on_corrupt=self._corrupt_spool_line)
        except OSError as exc:
            if store_failed:
                self._slow_failure = time.monotonic() - started > 1.0
                self._on_write_failure(exc, kept=True)
                return False
            # The spool file, not the store, failed (unreadable, a disk error): that file stays for a later
            # replay, and the store, which is not known to be down, keeps taking new calls.
            self._log_once(f"spool:{type(exc).__name__}", "tokentrail: could not replay the local spool (%s); its "
                           "calls stay there for a later replay (tokentrail doctor --replay)", exc)  # fmt: skip
            return True
        except Exception as exc:
            self._slow_failure = time.monotonic() - started > 1.0
            self._on_write_failure(exc.cause if isinstance(exc, _PartialWrite) else exc, kept=True)
            return False
        self._slow_failure = False
        self._backoff = 1.0
        return True

    def _keep(self, batch: list[Call]) -> bool:
        """Spool a batch the store did not take; count it lost when the spool refuses too."""
        if self._spool is not None:
            try:
                self._spool.append(batch)
                self.health.spooled += len(batch)
                return True
            except OSError as exc:
                self._spool_error = exc
        self.health.lost += len(batch)
        return False

    def _corrupt_spool_line(self, where: str, exc: BaseException) -> None:
        self.health.lost += 1  # the spool has logged it, naming file:line

    def _on_write_failure(self, exc: BaseException, *, kept: bool) -> None:
        self.health.last_error = f"{type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, 60.0)
        from .store import mask_url

        url = mask_url(getattr(self._store, "url", None) or self.settings.store)
        if kept:
            self._log_once(f"write:{type(exc).__name__}", "tokentrail: could not write to %s (%s); calls are kept "
                           "in the local spool and replayed when it answers", url, exc)  # fmt: skip
        else:
            spool_error = self._spool_error
            self._log_once(
                f"lost:{type(exc).__name__}",
                "tokentrail: could not write to %s (%s) and could not spool the calls (%s); "
                "they are lost, counted in Tracker.health.lost",
                url,
                exc,
                spool_error,
            )

    def _after_write(self, batch: list[Call]) -> None:
        if not self._budgets_ready:
            self._ensure_budgets()
        with self._session_lock:
            session = self._session
            for call in batch:
                session.totals.add_call(call)
                totals = session.by_model.get(call.model)
                if totals is None:
                    totals = session.by_model[call.model] = Totals()
                totals.add_call(call)
        for listener in list(self._listeners):
            for call in batch:
                try:
                    listener(call)
                except Exception as exc:
                    self._internal_error(exc)

    def _internal_error(self, exc: BaseException) -> None:
        self.health.internal_errors += 1
        self.health.last_error = f"{type(exc).__name__}: {exc}"
        self._log_once(f"internal:{type(exc).__name__}", "tokentrail: internal error (ignored): %r", exc)

    def _log_once(self, key: str, msg: str, *args: Any) -> None:
        if key not in self._errors_logged:
            self._errors_logged.add(key)
            log.warning(msg, *args)

    def _complete(self, item: _Item) -> Call:
        """Turn a queued record into a full Call: id, time, attribution, hashes, price."""
        model, input_tokens, output_tokens, fields, scope, t_ns = item
        f = dict(fields) if fields else {}
        f.pop("display", None)
        started_at = f.pop("started_at", None) or utc_from_ns(t_ns)
        if started_at.tzinfo is not timezone.utc:
            started_at = started_at.astimezone(timezone.utc)
        call_id = f.pop("id", None) or new_call_id(t_ns)
        if scope is not EMPTY_SCOPE:
            for dim in ("agent", "user", "session", "project", "environment"):
                if f.get(dim) is None and getattr(scope, dim) is not None:
                    f[dim] = getattr(scope, dim)
            if scope.labels:
                f["labels"] = {**scope.labels, **f.get("labels", {})}
            if scope.trace_id and "trace_id" not in f:
                f["trace_id"] = scope.trace_id
                f["parent_span_id"] = scope.span_id
                f.setdefault("span_id", os.urandom(8).hex())
        if f.get("project") is None:
            f["project"] = self._project
        if f.get("environment") is None and self.settings.environment:
            f["environment"] = self.settings.environment
        if f.get("git_branch") is None and self._git_branch:
            f["git_branch"] = self._git_branch
        self._hash_text(f)
        if "cost_usd" in f:
            if f["cost_usd"] is not None:
                f["cost_usd"] = Decimal(str(f["cost_usd"]))
                f.setdefault("price_source", "reported")
        else:
            self._price(f, model, input_tokens, output_tokens, started_at)
        call: Call = build_call(id=call_id, started_at=started_at, model=model, input_tokens=input_tokens,
                                output_tokens=output_tokens, **f)  # fmt: skip
        return call

    def _hash_text(self, f: dict[str, Any]) -> None:
        prompt = f.get("prompt")
        if prompt is not None:
            f["prompt_hash"] = hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()
            if not self.settings.store_prompts:
                del f["prompt"]
        response = f.get("response")
        if response is not None:
            f["response_hash"] = hashlib.sha256(response.encode("utf-8", "surrogatepass")).hexdigest()
            if not self.settings.store_responses:
                del f["response"]

    def _price(self, f: dict[str, Any], model: str, input_tokens: int, output_tokens: int, at: datetime) -> None:
        try:
            from .pricing import calculate_cost
        except Exception as exc:  # pragma: no cover - a broken install must not lose records
            self._internal_error(exc)
            return
        kwargs = {
            "cache_read_tokens": f.get("cache_read_tokens", 0),
            "cache_write_tokens": f.get("cache_write_tokens", 0),
            "cache_write_1h_tokens": f.get("cache_write_1h_tokens", 0),
            "provider": f.get("provider"),
            "at": at,
        }
        for name in MODALITY_FIELDS:  # audio, image, video: each at its own rate
            if f.get(name):
                kwargs[name] = f[name]
        for candidate in dict.fromkeys((f.get("response_model"), model)):
            if not isinstance(candidate, str) or not candidate:
                continue
            name = candidate
            try:
                cost = calculate_cost(name, input_tokens, output_tokens, **kwargs)
            except (UnknownModelError, ValidationError):  # no price, or a name no price table holds (" ")
                continue
            except Exception as exc:  # a pricing bug must not lose the record: keep it, unpriced
                self._internal_error(exc)
                return
            f["cost_usd"] = cost.total
            f["input_cost_usd"] = cost.input
            f["output_cost_usd"] = cost.output
            f["cache_read_cost_usd"] = cost.cache_read
            f["cache_write_cost_usd"] = cost.cache_write
            f["price_source"] = cost.price_source
            return

    def _after_fork(self) -> None:
        # The parent's queue belongs to the parent (it will write it); the child starts empty, with
        # fresh locks (a parent thread may have held one at the fork) and its own counts.
        self._queue = deque()
        self._wake = threading.Event()
        self._room = threading.Event()
        self._taken = 0
        self._busy = threading.Lock()
        self._stalled = False
        self.health = Health()
        self._session = SessionStats()
        self._thread = None
        self._start_lock = threading.Lock()
        self._session_lock = threading.Lock()
        self._store_lock = threading.Lock()
        self._open_failure = None
        if self._owns_store:
            if self._store is not None:  # the parent's connection: never used, nor closed (a close could
                _inherited_stores.append(self._store)  # checkpoint or unlink files the parent still uses)
            self._store = None  # connections are not shared across processes


_FORK_WAIT_S = 5.0


_held_at_fork: list[threading.Lock] = []
_inherited_stores: list[Store] = []


def _before_fork() -> None:
    """Let every writer finish what it is doing (start-up, a batch) and hold it still while the process is copied.

    A writer that does not finish within `_FORK_WAIT_S` (a hanging store) is not waited for longer.
    """
    deadline = time.monotonic() + _FORK_WAIT_S
    for tracker in list(_trackers):
        thread = tracker._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            busy = tracker._busy
            if busy.acquire(timeout=max(0.0, deadline - time.monotonic())):
                _held_at_fork.append(busy)


def _release_after_fork() -> None:
    while _held_at_fork:
        _held_at_fork.pop().release()


def _reset_after_fork() -> None:
    global _default_lock
    _held_at_fork.clear()
    _default_lock = threading.Lock()
    for tracker in list(_trackers):
        tracker._after_fork()


os.register_at_fork(before=_before_fork, after_in_parent=_release_after_fork, after_in_child=_reset_after_fork)


def _flush_at_worker_exit(tracker: Tracker) -> None:
    """In a multiprocessing worker, flush when the worker ends: it ends with `os._exit`, which skips atexit.

    A worker that returns (a `Process`, a `Pool` after `close()` and `join()`) runs multiprocessing's
    finalizers, so its calls are written. A `Pool` worker stopped by `terminate()` (what `with Pool()` does on
    exit) is killed by SIGTERM and flushes nothing: the calls of its last `flush_interval` are lost unless
    each task ends with `tokentrail.flush()`. tokentrail installs no SIGTERM handler to catch that — one was
    tried, and a worker blocked on the pool's task queue could miss it and hang `with Pool()` forever.
    """
    process = sys.modules.get("multiprocessing.process")
    if process is None or process.parent_process() is None:
        return
    from multiprocessing import util

    util.Finalize(None, tracker._at_exit, exitpriority=100)


# -- the module's default tracker ---------------------------------------------------------------

_default: Tracker | None = None
_default_lock = threading.Lock()


def default_tracker() -> Tracker:
    """The tracker `tokentrail.record()` uses, created from the settings on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = _lenient_tracker()
    return _default


def _lenient_tracker() -> Tracker:
    """The default tracker, built inside the application's first `record()`: it must not raise there.

    A bad setting (a typo in the environment, an unknown key or a syntax error in a config file, a removed
    working folder) is warned about once and left at its default; `tokentrail doctor` names it.
    """
    from .config import resolve_leniently

    settings, problems = resolve_leniently()
    if problems:
        log.warning(
            "tokentrail: ignoring %d bad setting(s) and using the defaults for them: %s; "
            "fix them ('tokentrail doctor' shows them)",
            len(problems),
            "; ".join(str(p) for p in problems),
        )
    try:
        return Tracker(_resolved=settings)
    except Exception as exc:  # e.g. a bad [prices] or [budgets] table in the config file
        log.warning("tokentrail: %s; recording with the default settings ('tokentrail doctor' shows it)", exc)
        return Tracker(_resolved=replace(settings, prices={}, budgets={}, alerts={}))


def configure(store: str | Store | None = None, **settings: Any) -> Tracker:
    """Replace the default tracker with one built from these settings (the old one is flushed and closed).

    Example:
        >>> t = configure("memory://", store_prompts=True)
        >>> t.settings.store_prompts
        True
    """
    global _default
    new = Tracker(store, **settings)
    with _default_lock:
        old, _default = _default, new
    if old is not None:
        old.close()
    return new
