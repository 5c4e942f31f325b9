"""Usage patterns: when calls happen (an hour × weekday matrix in local time), the busiest day, the most
common operations.

Computed from two aggregates the store runs in the database — totals per local hour, and totals per
operation — so the cost does not grow with the number of calls, only with the hours in the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import Any

from ..formatting import money_text
from ..store.base import Store, Totals
from .reports import query, resolve_store, totals_dict
from .windows import Window

__all__ = ["WEEKDAYS", "DayTotals", "UsagePatterns", "usage_patterns"]

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True, slots=True)
class DayTotals:
    """The totals of one local calendar day."""

    day: date
    totals: Totals


@dataclass(frozen=True, slots=True)
class UsagePatterns:
    """When and on what a window's calls were made."""

    window: Window
    calls: list[list[int]]
    """Calls per weekday (0 = Monday) and local hour (0–23): `calls[weekday][hour]`."""
    tokens: list[list[int]]
    """Total tokens per weekday and hour."""
    cost_usd: list[list[Decimal]]
    """Cost per weekday and hour (priced calls only)."""
    days: list[DayTotals]
    """Every local day with calls, oldest first."""
    operations: list[tuple[str | None, Totals]]
    """Operations by number of calls, most common first."""
    totals: Totals

    @property
    def peak(self) -> tuple[int, int, int] | None:
        """(weekday, hour, calls) of the busiest cell of the matrix, or None without calls."""
        best = max(((self.calls[d][h], -d, -h) for d in range(7) for h in range(24)), default=(0, 0, 0))
        return (-best[1], -best[2], best[0]) if best[0] else None

    @property
    def busiest_day(self) -> DayTotals | None:
        """The day with the most calls (the earliest of equals)."""
        return max(self.days, key=lambda d: (d.totals.calls, -d.day.toordinal()), default=None)

    @property
    def costliest_day(self) -> DayTotals | None:
        """The day with the highest cost (the earliest of equals)."""
        return max(self.days, key=lambda d: (d.totals.cost_usd, -d.day.toordinal()), default=None)

    def to_dict(self) -> dict[str, Any]:
        peak = self.peak
        busiest, costliest = self.busiest_day, self.costliest_day
        calls_total = self.totals.calls
        return {
            "window": self.window.to_dict(),
            "totals": totals_dict(self.totals),
            "weekdays": list(WEEKDAYS),
            "hours": list(range(24)),
            "calls": self.calls,
            "tokens": self.tokens,
            "cost_usd": [[money_text(c) for c in row] for row in self.cost_usd],
            "peak": {"weekday": WEEKDAYS[peak[0]], "hour": peak[1], "calls": peak[2]} if peak else None,
            "busiest_day": {"date": busiest.day.isoformat(), **totals_dict(busiest.totals)} if busiest else None,
            "costliest_day": {"date": costliest.day.isoformat(), **totals_dict(costliest.totals)}
            if costliest
            else None,
            "days": [{"date": d.day.isoformat(), **totals_dict(d.totals)} for d in self.days],
            "operations": [
                {
                    "operation": op,
                    **totals_dict(t),
                    "call_share": round(t.calls / calls_total, 6) if calls_total else 0.0,
                }
                for op, t in self.operations
            ],
        }


def usage_patterns(
    *,
    period: str | None = None,
    since: object = None,
    until: object = None,
    days: int | None = None,
    tz: str | tzinfo | None = None,
    store: Store | str | None = None,
    now: datetime | None = None,
    **filters: Any,
) -> UsagePatterns:
    """Hour × weekday matrix, days and operations of a window (hours and days in the window's zone).

    Example:
        >>> p = usage_patterns(store="memory://", tz="UTC")
        >>> p.peak is None, len(p.calls), len(p.calls[0])
        (True, 7, 24)
    """
    window, flt = query(period, filters, since=since, until=until, days=days, tz=tz, now=now)
    st = resolve_store(store)
    calls = [[0] * 24 for _ in range(7)]
    tokens = [[0] * 24 for _ in range(7)]
    cost = [[Decimal(0)] * 24 for _ in range(7)]
    per_day: dict[date, Totals] = {}
    total = Totals()
    for g in st.aggregate(flt, bucket="hour", tz=window.tz):
        if g.bucket is None:  # pragma: no cover - a bucketed aggregate always has buckets
            continue
        local = g.bucket.astimezone(window.tz)
        wd, hour = local.weekday(), local.hour
        calls[wd][hour] += g.totals.calls
        tokens[wd][hour] += g.totals.total_tokens
        cost[wd][hour] += g.totals.cost_usd
        per_day.setdefault(local.date(), Totals()).add(g.totals)
        total.add(g.totals)
    ops = [(g.key[0], g.totals) for g in st.aggregate(flt, by=("operation",), tz=window.tz)]
    ops.sort(key=lambda o: (-o[1].calls, o[0] or ""))
    return UsagePatterns(
        window=window,
        calls=calls,
        tokens=tokens,
        cost_usd=cost,
        days=[DayTotals(d, t) for d, t in sorted(per_day.items())],
        operations=ops,
        totals=total,
    )
