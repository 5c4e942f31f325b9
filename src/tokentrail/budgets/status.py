"""Where a budget stands: spent, in flight, remaining, and where the current rate leads.

Spend is read from the store (aggregated inside the database) for the budget's scope and period; calls
still in flight under an enforced budget are shown separately as `reserved`. The projection assumes the
period's average rate so far continues: `projected` is the spend at the end of the period and
`runs_out_at` the moment the limit is reached at that rate (None when it is not reached this period).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..errors import ValidationError
from ..formatting import money_text
from ..store.base import Filter, Store
from .ledger import fired_thresholds, reserved_total
from .periods import period_window
from .spec import BudgetSpec

__all__ = ["BudgetStatus", "compute_status", "scope_filter", "session_statuses"]

_CENT = Decimal("0.000001")


def scope_filter(spec: BudgetSpec, since: datetime | None, until: datetime | None, session: str | None) -> Filter:
    """The store filter of a budget's scope over a span (and one session, for session budgets)."""
    where = {dim: (value,) for dim, value in spec.scope}
    if session is not None:
        where["session"] = (session,)
    return Filter(since=since, until=until, where=where)


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A budget at one moment."""

    spec: BudgetSpec
    at: datetime
    period_key: str
    period_start: datetime | None
    period_end: datetime | None
    session: str | None
    spent_usd: Decimal
    """Priced spend in the store for this scope and period."""
    spent_tokens: int
    calls: int
    unpriced_calls: int
    """Calls without a known price (not in `spent_usd`)."""
    reserved_usd: Decimal
    """Estimated cost of enforced calls in flight (any process)."""
    reserved_tokens: int
    projected_usd: Decimal | None
    """Spend at the end of the period at the period's average rate so far (None for sessions)."""
    projected_tokens: int | None
    runs_out_at: datetime | None
    """When the limit is reached at that rate; `at` when already reached; None if not this period."""
    fired: tuple[float, ...]
    """Thresholds that have already fired this period."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def remaining_usd(self) -> Decimal | None:
        return None if self.spec.limit_usd is None else max(Decimal(0), self.spec.limit_usd - self.spent_usd)

    @property
    def remaining_tokens(self) -> int | None:
        return None if self.spec.limit_tokens is None else max(0, self.spec.limit_tokens - self.spent_tokens)

    @property
    def fraction(self) -> float:
        """Spent over limit (the larger ratio when both a USD and a token limit are set)."""
        ratios = []
        if self.spec.limit_usd is not None:
            ratios.append(float(self.spent_usd / self.spec.limit_usd))
        if self.spec.limit_tokens is not None:
            ratios.append(self.spent_tokens / self.spec.limit_tokens)
        return max(ratios)

    @property
    def percent(self) -> float:
        return round(self.fraction * 100, 2)

    @property
    def exceeded(self) -> bool:
        return self.fraction >= 1.0

    def to_dict(self) -> dict[str, Any]:
        def text(v: object) -> str | None:
            if isinstance(v, Decimal):
                return money_text(v)  # plain digits, never an exponent, same text on every store
            return None if v is None else v.isoformat() if isinstance(v, datetime) else str(v)

        return {
            **self.spec.to_dict(),
            "at": self.at.isoformat(),
            "period_key": self.period_key,
            "period_start": text(self.period_start),
            "period_end": text(self.period_end),
            "session": self.session,
            "spent_usd": money_text(self.spent_usd),
            "spent_tokens": self.spent_tokens,
            "calls": self.calls,
            "unpriced_calls": self.unpriced_calls,
            "reserved_usd": money_text(self.reserved_usd),
            "reserved_tokens": self.reserved_tokens,
            "remaining_usd": text(self.remaining_usd),
            "remaining_tokens": self.remaining_tokens,
            "percent": self.percent,
            "projected_usd": text(self.projected_usd),
            "projected_tokens": self.projected_tokens,
            "runs_out_at": text(self.runs_out_at),
            "fired": list(self.fired),
        }


def _runs_out(
    spent: Decimal, limit: Decimal | None, rate: Decimal, now: datetime, end: datetime | None
) -> datetime | None:
    if limit is None:
        return None
    if spent >= limit:
        return now
    if rate <= 0:
        return None
    seconds = float((limit - spent) / rate)
    if end is not None and seconds >= (end - now).total_seconds():
        return None
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:  # past year 9999 at this rate: it does not run out
        return None


def compute_status(spec: BudgetSpec, store: Store, now: datetime, session: str | None = None) -> BudgetStatus:
    """The status of `spec` at `now` (for a session budget, of one `session`).

    Raises:
        ValidationError: a session budget without `session`.
    """
    if spec.period == "session" and session is None:
        raise ValidationError(f"budget {spec.name!r} is per session: give session=, or use session_statuses()")
    window = period_window(spec, now, session)
    totals = store.aggregate(
        scope_filter(spec, window.start, window.until, session if spec.period == "session" else None)
    )
    spent = sum((g.totals.cost_usd for g in totals), Decimal(0))
    tokens = sum(g.totals.total_tokens for g in totals)
    calls = sum(g.totals.calls for g in totals)
    unpriced = sum(g.totals.unpriced_calls for g in totals)
    reserved_usd, reserved_tokens = reserved_total(store, spec.name, window.key, now)
    projected_usd: Decimal | None = None
    projected_tokens: int | None = None
    runs_out: list[datetime] = []
    if window.start is not None and window.end is not None:
        if window.rolls_over:
            elapsed = max((now - window.start).total_seconds(), 60.0)
            left = max((window.end - now).total_seconds(), 0.0)
        else:  # rolling: the window's average rate, and spend over the next window at that rate
            elapsed = (window.end - window.start).total_seconds()
            left = 0.0
        usd_rate = spent / Decimal(elapsed)
        token_rate = Decimal(tokens) / Decimal(elapsed)
        projected_usd = (spent + usd_rate * Decimal(left)).quantize(_CENT)
        projected_tokens = int(tokens + token_rate * Decimal(left))
        end = window.end if window.rolls_over else None
        for at in (_runs_out(spent, spec.limit_usd, usd_rate, now, end),
                   _runs_out(Decimal(tokens), None if spec.limit_tokens is None else Decimal(spec.limit_tokens),
                             token_rate, now, end)):  # fmt: skip
            if at is not None:
                runs_out.append(at)
    return BudgetStatus(
        spec=spec, at=now, period_key=window.key, period_start=window.start,
        period_end=window.end if window.rolls_over else None, session=session, spent_usd=spent,
        spent_tokens=tokens, calls=calls, unpriced_calls=unpriced, reserved_usd=reserved_usd,
        reserved_tokens=reserved_tokens, projected_usd=projected_usd, projected_tokens=projected_tokens,
        runs_out_at=min(runs_out) if runs_out else None, fired=fired_thresholds(store, spec.name, window.key),
    )  # fmt: skip


def session_statuses(spec: BudgetSpec, store: Store, now: datetime, *, limit: int = 20) -> list[BudgetStatus]:
    """For a session budget: the status of the sessions that spent most (at most `limit`)."""
    groups = store.aggregate(scope_filter(spec, None, None, None), by=("session",))
    ranked = sorted(
        (g for g in groups if g.key[0] is not None), key=lambda g: (-g.totals.cost_usd, -g.totals.total_tokens)
    )
    return [compute_status(spec, store, now, session=g.key[0]) for g in ranked[:limit]]
