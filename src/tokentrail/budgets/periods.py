"""When a budget's period starts and ends, and the key that names it.

Calendar periods roll over at local midnight in the budget's time zone: `day` at every midnight,
`week` on Monday, `month` on the 1st — daylight-saving days included (a day may last 23 or 25 hours).
A rolling `Nd` period is the N days ending now; a `session` period is the whole life of one session.
The key (`month:2026-11`, `session:abc`) names the period in the "already fired" records, so a
threshold fires again after rollover and once per session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from .spec import BudgetSpec

__all__ = ["PeriodWindow", "period_window", "zone"]


def zone(name: str) -> tzinfo:
    """The tzinfo of a budget's zone name."""
    return timezone.utc if name.upper() == "UTC" else ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    """The span a budget counts spend over, at one moment."""

    start: datetime | None
    """Inclusive start (None: the beginning of the record, for sessions)."""
    end: datetime | None
    """Exclusive end; for a rolling period, now; None for sessions."""
    key: str
    """Names this period in shared state: `day:2026-11-22`, `week:2026-11-16`, `month:2026-11`, `rolling`,
    `session:ID`."""
    rolls_over: bool
    """True for calendar periods (a new key starts at `end`)."""

    @property
    def until(self) -> datetime | None:
        """The end to count spend up to: the period's end, or none for rolling and session periods (a call
        stamped a moment after `now` still counts)."""
        return self.end if self.rolls_over else None


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def period_window(spec: BudgetSpec, now: datetime, session: str | None = None) -> PeriodWindow:
    """The period of `spec` holding `now` (for a session budget, the life of `session`).

    Example:
        >>> spec = BudgetSpec.create("b", limit_usd=10, period="month", tz="Europe/Paris")
        >>> w = period_window(spec, datetime(2026, 11, 30, 23, 30, tzinfo=timezone.utc))
        >>> w.key, w.start.isoformat()
        ('month:2026-12', '2026-12-01T00:00:00+01:00')
    """
    if spec.period == "session":
        return PeriodWindow(None, None, f"session:{session}", rolls_over=False)
    days = spec.rolling_days
    if days is not None:
        return PeriodWindow(now - timedelta(days=days), now, "rolling", rolls_over=False)
    tz = zone(spec.tz)
    today = now.astimezone(tz).date()
    if spec.period == "day":
        first, nxt, key = today, today + timedelta(days=1), f"day:{today.isoformat()}"
    elif spec.period == "week":
        first = today - timedelta(days=today.weekday())
        nxt, key = first + timedelta(days=7), f"week:{first.isoformat()}"
    else:
        first = today.replace(day=1)
        nxt, key = (first + timedelta(days=32)).replace(day=1), f"month:{first.isoformat()[:7]}"
    return PeriodWindow(_midnight(first, tz), _midnight(nxt, tz), key, rolls_over=True)
