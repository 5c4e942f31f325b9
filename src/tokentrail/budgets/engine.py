"""The budget engine of one tracker: the hard-stop guard, in-flight reservations, and threshold alerts.

**Hard stop.** The engine installs a guard (`Tracker.add_guard`) that instrumented SDK calls run before
sending. For every enforced budget whose scope matches the pending call, under one in-process lock, it:

1. estimates the call: `calculate_cost(model, input_tokens, max_output_tokens)` — or
   `DEFAULT_OUTPUT_TOKENS` output tokens when the request sets no limit; every input token is priced as
   uncached, so the estimate is an upper bound whenever the request caps its output;
2. reads the reservations of calls in flight in *every* process, then the period's spend from the store
   (in that order: a call leaves the reservations only once it is stored, so it is never missed);
3. refuses with `BudgetRefusedError` if spend + in flight + estimate would pass the limit;
4. otherwise writes its own short-lived reservation to the store's metadata, then reads reservations and
   spend again: if another process reserved at the same moment and together they would pass the limit,
   it withdraws, backs off and looks again (write-then-check, so two racing processes never both get in;
   after a few collisions it refuses);
5. deletes the reservation once *that* call is in the store (the writer's listener matches the recorded
   call's id to `PendingCall.call_id`, which capture records the call with — never another call of the same
   model), at once when capture will not record it (`Tracker.release_guards`), or after `reservation_ttl` if
   the process died or the call was never recorded (dropped from a full queue).

So spend counts from the moment a call is allowed until the moment it is stored — never zero times. The
only overshoot left is estimation error: a call may cost more than its reservation when it sets no
`max_tokens` (then up to one call's excess per in-flight call), when counts are estimates, or when a
model has no price (its estimate is $0). If the store cannot be read the guard fails open (logged).

**Thresholds.** After calls are written the engine re-reads each touched budget's status on its own
thread and fires each crossed threshold once per period and scope, across processes (`meta_put_if_absent`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import UnknownModelError
from ..project import detect_project
from ..store.base import Store, require_meta
from . import ledger
from .messages import DEFAULT_OUTPUT_TOKENS, BudgetRefusedError, refusal, threshold_alert
from .periods import period_window
from .spec import BudgetSpec
from .status import BudgetStatus, compute_status, scope_filter

if TYPE_CHECKING:
    from ..model import Call
    from ..tracker import PendingCall, Tracker

__all__ = ["DEFAULT_OUTPUT_TOKENS", "BudgetEngine", "BudgetRefusedError", "engine_for"]

log = logging.getLogger("tokentrail.budgets")
Clock = Callable[[], datetime]
_ATTEMPTS = 6
_FLUSH_BEFORE_REFUSING = 5.0
"""Seconds a refusal may wait for this process's finished calls to be written (their real cost replaces their
reservation)."""
"""Tries when another process reserves at the same moment (backing off 0-10 ms, 0-20 ms, … 0-320 ms)."""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class BudgetEngine:
    """Budgets of one tracker: definitions (cached from the store), the guard, reservations, thresholds."""

    def __init__(
        self,
        tracker: Tracker,
        *,
        clock: Clock | None = None,
        reservation_ttl: timedelta = timedelta(minutes=10),
        default_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
        refresh_interval: float = 1.0,
    ) -> None:
        from ..alerts.worker import Coalescer

        self._tracker = weakref.ref(tracker)
        self.clock: Clock = clock or _utcnow
        self.reservation_ttl, self.default_output_tokens = reservation_ttl, default_output_tokens
        self.refresh_interval = refresh_interval
        self._project = tracker.settings.project or detect_project()
        self._lock = threading.Lock()
        self._specs: dict[str, BudgetSpec] = {}
        self._specs_read = float("-inf")
        self._held: dict[str, list[ledger.Reservation]] = {}
        self._dirty: set[tuple[str, str | None]] = set()
        self._evaluator = Coalescer("tokentrail-budgets", self._evaluate_dirty)
        self._by_call: dict[str, list[ledger.Reservation]] = {}
        self._remove_guard = tracker.add_guard(self.guard, release=self.release)
        self._unsubscribe = tracker.on_call(self._on_call)
        tracker.on_close(self._finish)

    @property
    def tracker(self) -> Tracker:
        tracker = self._tracker()
        if tracker is None:
            raise RuntimeError("the tracker of this BudgetEngine was closed and collected")
        return tracker

    @property
    def store(self) -> Store:
        return require_meta(self.tracker.store, needed_by="budgets")

    # -- definitions ------------------------------------------------------------------------------

    def specs(self) -> dict[str, BudgetSpec]:
        """Every budget defined in the store (re-read at most every `refresh_interval` seconds)."""
        if time.monotonic() - self._specs_read >= self.refresh_interval:
            specs = {}
            for name, text in self.store.meta_items(ledger.BUDGETS_NS).items():
                try:
                    specs[name] = BudgetSpec.from_json(text)
                except Exception as exc:
                    log.warning("tokentrail: budget %r in the store cannot be read (ignored): %r", name, exc)
            self._specs, self._specs_read = specs, time.monotonic()
        return self._specs

    def define(self, spec: BudgetSpec) -> None:
        """Save `spec` to the store (replacing a budget of the same name) for every process to see."""
        self.store.meta_put(ledger.BUDGETS_NS, spec.name, spec.to_json())
        self._specs_read = float("-inf")

    def remove(self, name: str) -> bool:
        removed = self.store.meta_delete(ledger.BUDGETS_NS, name)
        self._specs_read = float("-inf")
        return removed

    def status(self, name: str, *, now: datetime | None = None, session: str | None = None) -> BudgetStatus:
        spec = self.specs().get(name) or _missing(name)
        return compute_status(spec, self.store, now or self.clock(), session)

    # -- the guard --------------------------------------------------------------------------------

    def estimate(self, pending: PendingCall, now: datetime) -> tuple[Decimal, int]:
        """(USD, tokens) a pending call may cost: its input plus its output limit (or the default)."""
        from ..pricing import calculate_cost

        out = pending.max_output_tokens if pending.max_output_tokens is not None else self.default_output_tokens
        try:
            usd = calculate_cost(pending.model, pending.input_tokens, out, provider=pending.provider, at=now).total
        except UnknownModelError:
            usd = Decimal(0)
        return usd, pending.input_tokens + out

    def guard(self, pending: PendingCall) -> None:
        """Refuse `pending` (raise `BudgetRefusedError`) if it would take an enforced budget past its limit."""
        specs = [s for s in self.specs().values() if s.enforce and self._matches_pending(s, pending)]
        if not specs:
            return
        now = self.clock()
        usd, tokens = self.estimate(pending, now)
        call_id = getattr(pending, "call_id", None)
        try:
            self._reserve_all(specs, pending, usd, tokens, call_id, now)
        except BudgetRefusedError:
            # Calls of this process that have finished but wait in the writer's queue still hold their
            # reservation (an upper-bound estimate): write them — outside the lock, which their release takes —
            # and look again, so a refusal counts them at their real cost and "in flight" means in flight.
            with self._lock:
                finished = any(self._held.get(s.name) for s in specs)
            if not finished or not self.tracker.flush(_FLUSH_BEFORE_REFUSING):
                raise
            self._reserve_all(specs, pending, usd, tokens, call_id, now)

    def _reserve_all(self, specs: list[BudgetSpec], pending: PendingCall, usd: Decimal, tokens: int,
                     call_id: str | None, now: datetime) -> None:  # fmt: skip
        with self._lock:
            taken: list[ledger.Reservation] = []
            try:
                for spec in specs:
                    taken.append(self._reserve(spec, pending, usd, tokens, call_id, now))
            except BaseException:
                for r in taken:
                    ledger.delete_reservation(self.store, r)
                raise
            for r in taken:
                self._held.setdefault(r.budget, []).append(r)
                if call_id is not None:
                    self._by_call.setdefault(call_id, []).append(r)

    def _reserve(self, spec: BudgetSpec, pending: PendingCall, usd: Decimal, tokens: int, call_id: str | None,
                 now: datetime) -> ledger.Reservation:  # fmt: skip
        store = self.store
        session = pending.scope.session if spec.period == "session" else None
        window = period_window(spec, now, session)
        for attempt in range(_ATTEMPTS):
            # Reservations first, then spend: a call leaves the reservations only after it is in the store,
            # so read in this order it is counted at least once, whenever it moves.
            held_usd, held_tokens = ledger.reserved_total(store, spec.name, window.key, now)
            spent_usd, spent_tokens = self._spent(spec, window.start, window.until, session)
            if _over(spec, spent_usd + held_usd, usd, spent_tokens + held_tokens, tokens):
                break
            r = ledger.add_reservation(store, spec, window.key, usd=usd, tokens=tokens, model=pending.model,
                                       input_tokens=pending.input_tokens, call_id=call_id, now=now,
                                       ttl=self.reservation_ttl)  # fmt: skip
            all_usd, all_tokens = ledger.reserved_total(store, spec.name, window.key, now)
            spent_usd, spent_tokens = self._spent(spec, window.start, window.until, session)
            if not _over(spec, spent_usd + all_usd - usd, usd, spent_tokens + all_tokens - tokens, tokens):
                return r
            ledger.delete_reservation(store, r)  # raced with another process: withdraw, back off, look again
            held_usd, held_tokens = all_usd - usd, all_tokens - tokens
            time.sleep(random.uniform(0.0, 0.01) * 2**attempt)
        raise refusal(spec, window.key, pending, spent_usd, held_usd, usd, spent_tokens, held_tokens, tokens)

    def _spent(self, spec: BudgetSpec, since: datetime | None, until: datetime | None,
               session: str | None) -> tuple[Decimal, int]:  # fmt: skip
        groups = self.store.aggregate(scope_filter(spec, since, until, session))
        return sum((g.totals.cost_usd for g in groups), Decimal(0)), sum(g.totals.total_tokens for g in groups)

    def _matches_pending(self, spec: BudgetSpec, pending: PendingCall) -> bool:
        scope = pending.scope
        if spec.period == "session" and not scope.session:
            return False
        for dim, value in spec.scope:
            actual: str | None
            if dim == "model":
                actual = pending.model
            elif dim == "provider":
                actual = pending.provider
            elif dim == "project":
                actual = scope.project or self._project
            elif dim.startswith("label:"):
                actual = scope.labels.get(dim[6:])
            else:
                actual = getattr(scope, dim)
            if actual != value:
                return False
        return True

    # -- after calls are written ------------------------------------------------------------------

    def _on_call(self, call: Call) -> None:
        self.release(call.id)
        touched = False
        for spec in self.specs().values():
            if spec.period == "session" and not call.session:
                continue
            if not all((call.labels.get(d[6:]) if d.startswith("label:") else getattr(call, d)) == v
                       for d, v in spec.scope):  # fmt: skip
                continue
            self._dirty.add((spec.name, call.session if spec.period == "session" else None))
            touched = True
        if touched:
            self._evaluator.kick()

    def release(self, call_id: str) -> None:
        """Delete the reservations held for the call with this id (it is stored, or will never be recorded).

        Only that call's own: a call of the same model that finishes first leaves another's hold in place, so
        a long call in flight keeps counting until it lands (issue 12: $1.20 spent against $1.00 otherwise).
        """
        with self._lock:
            mine = self._by_call.pop(call_id, None)
            if not mine:
                return
            for r in mine:
                held = self._held.get(r.budget)
                if held and r in held:
                    held.remove(r)
        for r in mine:
            ledger.delete_reservation(self.store, r)

    def _evaluate_dirty(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        self.check_thresholds(dirty)

    def check_thresholds(self, which: set[tuple[str, str | None]] | None = None, *, now: datetime | None = None,
                         ) -> list[BudgetStatus]:  # fmt: skip
        """Fire the thresholds newly crossed by the given (budget, session) pairs (default: every budget
        that is not per session); return the statuses that fired something."""
        from ..alerts.manager import alert_manager

        now = now or self.clock()
        specs = self.specs()
        pairs = which if which is not None else {(n, None) for n, s in specs.items() if s.period != "session"}
        fired = []
        for name, session in sorted(pairs, key=lambda p: (p[0], p[1] or "")):
            spec = specs.get(name)
            if spec is None:
                continue
            status = compute_status(spec, self.store, now, session)
            crossed = [t for t in spec.thresholds if status.fraction >= t]
            new = [t for t in crossed if ledger.mark_fired(self.store, name, status.period_key, t, now)]
            if spec.rolling_days is not None:  # rolling windows re-arm once spend falls back below a threshold
                for t in status.fired:
                    if status.fraction < t:
                        ledger.unmark_fired(self.store, name, status.period_key, t)
            for t in new:
                alert_manager(self.tracker).emit(threshold_alert(status, t, now))
            if new:
                fired.append(status)
        return fired

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Flush the tracker, then wait for threshold checks and alert deliveries."""
        from ..alerts.manager import alert_manager

        self.tracker.flush(timeout)
        return self._evaluator.flush(timeout) and alert_manager(self.tracker).flush(timeout)

    def close(self) -> None:
        """Remove the guard and the listener, and finish the threshold checks under way (reservations still
        held expire)."""
        self._remove_guard()
        self._unsubscribe()
        self._evaluator.stop()

    def _finish(self, timeout: float) -> None:
        # The tracker is closing and has written its last call: the threshold checks those calls started read
        # the store, so they finish (and their thread ends) before the store is closed under them.
        self._evaluator.stop(timeout)


def _over(spec: BudgetSpec, used_usd: Decimal, est_usd: Decimal, used_tokens: int, est_tokens: int) -> bool:
    if spec.limit_usd is not None and (used_usd >= spec.limit_usd or used_usd + est_usd > spec.limit_usd):
        return True
    return spec.limit_tokens is not None and (
        used_tokens >= spec.limit_tokens or used_tokens + est_tokens > spec.limit_tokens
    )


def _missing(name: str) -> BudgetSpec:
    from ..errors import ValidationError

    raise ValidationError(f"no budget named {name!r}: list them with 'tokentrail budget list'")


_engines: weakref.WeakKeyDictionary[Tracker, BudgetEngine] = weakref.WeakKeyDictionary()
_engines_lock = threading.Lock()


def engine_for(tracker: Tracker | None = None, **options: Any) -> BudgetEngine:
    """The BudgetEngine of `tracker` (default: the default tracker), created — guard installed — on first use.

    Options (`clock=`, `reservation_ttl=`, `default_output_tokens=`, `refresh_interval=`) apply when it is
    created and update it afterwards.
    """
    if tracker is None:
        from ..tracker import default_tracker

        tracker = default_tracker()
    with _engines_lock:
        engine = _engines.get(tracker)
        if engine is None:
            engine = _engines[tracker] = BudgetEngine(tracker, **options)
            return engine
    for name, value in options.items():
        if name not in ("clock", "reservation_ttl", "default_output_tokens", "refresh_interval"):
            raise TypeError(f"engine_for() got an unexpected option {name!r}")
        setattr(engine, name, value)
    return engine
