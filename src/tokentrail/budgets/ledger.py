"""Budget state shared through the store's metadata, so every process sees the same thing.

Three namespaces:

- `budgets` — name → the budget's definition (JSON).
- `budget-fired` — `NAME|PERIOD_KEY|THRESHOLD` → when it fired. Written with `meta_put_if_absent`, which is
  atomic across processes on the SQL backends, so exactly one process fires each threshold once per period
  and scope; a new period key (rollover) arms every threshold again.
- `budget-reserve:NAME` — `PERIOD_KEY|ID` → an in-flight call's estimated cost and tokens and when the
  reservation expires. Written before an enforced call is sent and deleted once the call is in the store,
  so spend that is in flight in *any* process counts against the limit.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from ..store.base import Store
from .spec import BudgetSpec

__all__ = [
    "BUDGETS_NS",
    "FIRED_NS",
    "Reservation",
    "add_reservation",
    "delete_reservation",
    "fired_thresholds",
    "mark_fired",
    "reserved_total",
    "unmark_fired",
]

BUDGETS_NS = "budgets"
FIRED_NS = "budget-fired"


def _reserve_ns(name: str) -> str:
    return f"budget-reserve:{name}"


@dataclass(frozen=True, slots=True)
class Reservation:
    """An in-flight call's hold on a budget, until the call is recorded (or the hold expires)."""

    budget: str
    key: str
    """The metadata key: `PERIOD_KEY|ID`."""
    usd: Decimal
    tokens: int
    model: str
    input_tokens: int
    call_id: str | None
    """The id the recorded Call will carry, when capture passes one."""


def add_reservation(
    store: Store,
    spec: BudgetSpec,
    period_key: str,
    *,
    usd: Decimal,
    tokens: int,
    model: str,
    input_tokens: int,
    call_id: str | None,
    now: datetime,
    ttl: timedelta,
) -> Reservation:
    """Write a reservation record; it counts for every process until deleted or `now + ttl`."""
    key = f"{period_key}|{os.getpid()}-{secrets.token_hex(6)}"
    value = json.dumps({"usd": str(usd), "tokens": tokens, "expires": (now + ttl).isoformat(), "model": model})
    store.meta_put(_reserve_ns(spec.name), key, value)
    return Reservation(spec.name, key, usd, tokens, model, input_tokens, call_id)


def delete_reservation(store: Store, reservation: Reservation) -> None:
    store.meta_delete(_reserve_ns(reservation.budget), reservation.key)


def reserved_total(store: Store, name: str, period_key: str, now: datetime) -> tuple[Decimal, int]:
    """USD and tokens held by unexpired reservations of this budget and period (expired ones are removed)."""
    usd, tokens = Decimal(0), 0
    ns = _reserve_ns(name)
    for key, value in store.meta_items(ns).items():
        try:
            data = json.loads(value)
            expired = datetime.fromisoformat(data["expires"]) <= now
        except (ValueError, KeyError, TypeError):
            expired = True
        if expired:
            store.meta_delete(ns, key)
        elif key.rsplit("|", 1)[0] == period_key:
            usd += Decimal(data["usd"])
            tokens += int(data["tokens"])
    return usd, tokens


def _fired_key(name: str, period_key: str, threshold: float) -> str:
    return f"{name}|{period_key}|{threshold:g}"


def mark_fired(store: Store, name: str, period_key: str, threshold: float, now: datetime) -> bool:
    """Record that `threshold` fired for this period; True only for the one caller that recorded it."""
    return store.meta_put_if_absent(FIRED_NS, _fired_key(name, period_key, threshold), now.isoformat())


def unmark_fired(store: Store, name: str, period_key: str, threshold: float) -> None:
    """Re-arm a threshold (rolling periods, once spend falls back below it)."""
    store.meta_delete(FIRED_NS, _fired_key(name, period_key, threshold))


def fired_thresholds(store: Store, name: str, period_key: str) -> tuple[float, ...]:
    """The thresholds already fired for this budget and period."""
    prefix = f"{name}|{period_key}|"
    out = []
    for key in store.meta_items(FIRED_NS):
        if key.startswith(prefix):
            try:
                out.append(float(key[len(prefix) :]))
            except ValueError:
                continue
    return tuple(sorted(out))
