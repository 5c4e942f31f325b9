"""`AlertManager`: evaluates rules, applies cooldowns, and hands alerts to channels off the caller's thread.

Guarantees:

- **Never in the way.** `emit()` only queues. Each channel has its own queue and thread, a per-attempt
  timeout and retries with back-off; a channel that keeps failing is logged (and counted in `failures`),
  never raised, and delays no other channel and no recording.
- **Cooldown per rule and key.** After an alert for (rule, key) — e.g. (`cost_spike`, `agent=support`) —
  the same pair is silent for the rule's cooldown; other keys are not affected. The last-fired time lives
  in the store's metadata and is claimed with `meta_put_if_absent`, so across processes one alert goes out
  per cooldown.
- **Rules run by themselves.** After calls are written, rules are evaluated on a background thread at
  most every `interval`; `evaluate(now=...)` runs them at once (tests, `tokentrail alerts check`).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..store.base import require_meta
from .channels import CallableChannel, Channel, LogChannel
from .model import Alert
from .rules import Rule
from .worker import Coalescer, DeliveryQueue

if TYPE_CHECKING:
    from ..model import Call
    from ..store.base import Store
    from ..tracker import Tracker

__all__ = ["AlertManager", "alert_manager"]

log = logging.getLogger("tokentrail.alerts")
COOLDOWN_NS = "alert-cooldown"
_CLAIMS_NS = "alert-cooldown-claims"
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AlertManager:
    """Rules, channels and cooldowns for one tracker. Get it with `alert_manager(tracker)`.

    Args:
        tracker: whose store keeps cooldown state and whose written calls trigger rule evaluation.
        clock: returns the current aware datetime (inject one in tests).
        timeout: seconds allowed for one delivery attempt.
        retries: further attempts after a failed one (back-off 0.5 s, 1 s, 2 s, …).
        interval: least time between two automatic rule evaluations.
    """

    def __init__(
        self,
        tracker: Tracker,
        *,
        clock: Clock | None = None,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.5,
        interval: timedelta = timedelta(seconds=10),
    ) -> None:
        self._tracker = weakref.ref(tracker)
        self.clock: Clock = clock or _utcnow
        self.timeout, self.retries, self.backoff, self.interval = timeout, retries, backoff, interval
        self._lock = threading.Lock()
        self._channels: list[tuple[Channel, DeliveryQueue[Alert]]] = []
        self._default: tuple[Channel, DeliveryQueue[Alert]] | None = None
        self.rules: list[Rule] = []
        self.failures: dict[str, int] = {}
        """Channel name to the number of alerts it could not deliver."""
        self.delivered: dict[str, int] = {}
        self._last_eval = float("-inf")
        self._evaluator = Coalescer("tokentrail-alert-rules", self._evaluate_job)
        self._unsubscribe = tracker.on_call(self._on_call)
        tracker.on_close(self._finish)

    @property
    def store(self) -> Store:
        tracker = self._tracker()
        if tracker is None:
            raise RuntimeError("the tracker of this AlertManager was closed and collected")
        return require_meta(tracker.store, needed_by="alerts")

    # -- channels ---------------------------------------------------------------------------------

    def add_channel(self, channel: Channel | Callable[[Alert], Any]) -> Channel:
        """Deliver alerts to `channel` (any object with `send(alert, timeout)`, or a callable taking the alert)."""
        target: Channel = channel if isinstance(channel, Channel) else CallableChannel(channel)
        queue = DeliveryQueue[Alert](f"tokentrail-alert-{target.name}", lambda a: self._deliver(target, a))
        with self._lock:
            self._channels.append((target, queue))
        return target

    def remove_channel(self, channel: Channel) -> None:
        with self._lock:
            self._channels = [(c, q) for c, q in self._channels if c is not channel]

    @property
    def channels(self) -> list[Channel]:
        """The configured channels (when none is, alerts go to the log)."""
        return [c for c, _ in self._channels]

    def _queues(self) -> list[tuple[Channel, DeliveryQueue[Alert]]]:
        with self._lock:
            if self._channels:
                return list(self._channels)
            if self._default is None:
                ch = LogChannel()
                self._default = (ch, DeliveryQueue[Alert]("tokentrail-alert-log", lambda a: self._deliver(ch, a)))
            return [self._default]

    def _deliver(self, channel: Channel, alert: Alert) -> None:
        for attempt in range(self.retries + 1):
            try:
                channel.send(alert, self.timeout)
            except Exception as exc:
                if attempt < self.retries:
                    time.sleep(self.backoff * 2**attempt)
                    continue
                with self._lock:
                    self.failures[channel.name] = self.failures.get(channel.name, 0) + 1
                log.warning("tokentrail: alert channel %r failed after %d attempt(s): %s: %s",
                            channel.name, attempt + 1, type(exc).__name__, exc)  # fmt: skip
                return
            with self._lock:
                self.delivered[channel.name] = self.delivered.get(channel.name, 0) + 1
            return

    # -- emitting ---------------------------------------------------------------------------------

    def emit(self, alert: Alert, *, cooldown: timedelta | None = None) -> bool:
        """Queue `alert` on every channel unless (rule, key) is cooling down; True if it was queued."""
        if cooldown is not None and cooldown > timedelta(0):
            try:
                if not self._claim(alert, cooldown):
                    return False
            except Exception as exc:  # a broken store must not stop the alert
                log.warning("tokentrail: could not check alert cooldown (sending anyway): %r", exc)
        for _, queue in self._queues():
            queue.put(alert)
        return True

    def _claim(self, alert: Alert, cooldown: timedelta) -> bool:
        store, now = self.store, self.clock()
        key = f"{alert.rule}|{alert.key}"
        last = store.meta_get(COOLDOWN_NS, key)
        if last is not None and now - datetime.fromisoformat(last) < cooldown:
            return False
        # Compare-and-set on the store: of every process that saw the same `last`, one wins the claim.
        if not store.meta_put_if_absent(_CLAIMS_NS, f"{key}|after:{last or '-'}", now.isoformat()):
            return False
        store.meta_put(COOLDOWN_NS, key, now.isoformat())
        if last is not None:
            self._prune_claims(store, key, now, cooldown)
        return True

    @staticmethod
    def _prune_claims(store: Store, key: str, now: datetime, cooldown: timedelta) -> None:
        prefix = f"{key}|after:"
        for claim, at in store.meta_items(_CLAIMS_NS).items():
            if claim.startswith(prefix) and now - datetime.fromisoformat(at) > 2 * cooldown + timedelta(days=1):
                store.meta_delete(_CLAIMS_NS, claim)

    # -- rules ------------------------------------------------------------------------------------

    def add_rule(self, rule: Rule) -> Rule:
        """Evaluate `rule` after calls are written (at most every `interval`) and on `evaluate()`."""
        self.rules.append(rule)
        return rule

    def evaluate(self, now: datetime | None = None, rules: Iterable[Rule] | None = None) -> list[Alert]:
        """Run the rules now; emit (subject to cooldowns) and return the alerts that were queued."""
        now = now or self.clock()
        fired: list[Alert] = []
        for rule in list(self.rules if rules is None else rules):
            try:
                alerts = rule.evaluate(self.store, now)
            except Exception as exc:
                log.warning("tokentrail: alert rule %r failed (ignored): %r", getattr(rule, "name", rule), exc)
                continue
            fired.extend(a for a in alerts if self.emit(a, cooldown=rule.cooldown))
        return fired

    def _on_call(self, call: Call) -> None:
        if self.rules and time.monotonic() - self._last_eval >= self.interval.total_seconds():
            self._last_eval = time.monotonic()
            self._evaluator.kick()

    def _evaluate_job(self) -> None:
        self.evaluate()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait for pending rule evaluation and every queued delivery; True if done within `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = self._evaluator.flush(timeout)
        for _, queue in self._queues():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ok = queue.flush(left) and ok
        return ok

    def close(self) -> None:
        """Stop listening to the tracker (queued alerts are still delivered)."""
        self._unsubscribe()

    def _finish(self, timeout: float) -> None:
        # The tracker is closing: a rule evaluation under way reads the store (and claims cooldowns in it), so it
        # finishes before the store is closed. Deliveries do not touch the store: their threads end once the
        # queued alerts are sent, without holding up the close.
        self._evaluator.stop(timeout)
        with self._lock:
            queues = [q for _, q in self._channels] + ([self._default[1]] if self._default else [])
        for queue in queues:
            queue.stop(0)


_managers: weakref.WeakKeyDictionary[Tracker, AlertManager] = weakref.WeakKeyDictionary()
_managers_lock = threading.Lock()


def alert_manager(tracker: Tracker | None = None, **options: Any) -> AlertManager:
    """The AlertManager of `tracker` (default: the default tracker), created on first use.

    Options (`clock=`, `timeout=`, `retries=`, `backoff=`, `interval=`) apply when it is created and
    update it afterwards.

    Example:
        >>> from tokentrail import Tracker
        >>> m = alert_manager(Tracker("memory://"))
        >>> m.add_channel(lambda alert: print(alert.title)).name
        '<lambda>'
    """
    if tracker is None:
        from ..tracker import default_tracker

        tracker = default_tracker()
    with _managers_lock:
        manager = _managers.get(tracker)
        if manager is None:
            manager = _managers[tracker] = AlertManager(tracker, **options)
            return manager
    for name, value in options.items():
        if name not in ("clock", "timeout", "retries", "backoff", "interval"):
            raise TypeError(f"alert_manager() got an unexpected option {name!r}")
        setattr(manager, name, value)
    return manager
