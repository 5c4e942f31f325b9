"""Live rates: tokens per second, dollars per second and calls per second over the last minute or so.

`rates()` reads the store, like every report: the calls of the last `window_s` seconds, whichever
process recorded them, so a script's `tt.rates()` and `tokentrail watch` in another terminal show the
same figures for the same window. With no store given it reads the default tracker's, flushed first,
so calls this process just recorded are counted.

A rate is its window's sum divided by the window's length — not by the time between the first and last
call — so a quiet minute reads low rather than a single call reading as a burst.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

from ..errors import ValidationError
from ..store.base import Store, Totals
from .reports import summary

__all__ = ["Rates", "rates"]


@dataclass(frozen=True, slots=True)
class Rates:
    """Throughput over a recent window: the window's sums, and those sums per second."""

    since: datetime
    """Start of the window (inclusive), UTC."""
    until: datetime
    """End of the window: the time the rates were taken, UTC."""
    totals: Totals
    """The window's calls, tokens and cost."""

    @property
    def window_s(self) -> float:
        """The window's length in seconds."""
        return (self.until - self.since).total_seconds()

    @property
    def calls_per_s(self) -> float:
        return self.totals.calls / self.window_s

    @property
    def input_tokens_per_s(self) -> float:
        return self.totals.input_tokens / self.window_s

    @property
    def output_tokens_per_s(self) -> float:
        return self.totals.output_tokens / self.window_s

    @property
    def tokens_per_s(self) -> float:
        """Input plus output tokens per second."""
        return self.totals.total_tokens / self.window_s

    @property
    def cost_per_s(self) -> Decimal:
        """USD per second of the priced calls (`totals.unpriced_calls` says how many were not)."""
        return self.totals.cost_usd / self._seconds()

    @property
    def cost_per_min(self) -> Decimal:
        """USD per minute (what `tokentrail watch` shows)."""
        return self.totals.cost_usd * 60 / self._seconds()

    def _seconds(self) -> Decimal:
        # `60`, not `60.0`: a zero cost over it is `0`, not `0E+1`
        w = self.window_s
        return Decimal(int(w)) if w == int(w) else Decimal(str(w))

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: window, sums, and per-second rates (money as exact text)."""
        t = self.totals
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "window_s": self.window_s,
            "calls": t.calls,
            "input_tokens": t.input_tokens,
            "output_tokens": t.output_tokens,
            "total_tokens": t.total_tokens,
            "cost_usd": _money_text(t.cost_usd),
            "unpriced_calls": t.unpriced_calls,
            "calls_per_s": self.calls_per_s,
            "input_tokens_per_s": self.input_tokens_per_s,
            "output_tokens_per_s": self.output_tokens_per_s,
            "tokens_per_s": self.tokens_per_s,
            "cost_per_s": _money_text(self.cost_per_s),
        }


def _money_text(amount: Decimal) -> str:
    """Exact text, the same on every store: no trailing zeros, no exponent (`0.000125`, `0`)."""
    return format(amount.normalize(), "f") if amount else "0"


def rates(
    window_s: float = 60.0,
    *,
    store: Store | str | None = None,
    now: datetime | None = None,
    tz: str | tzinfo | None = None,
    **filters: Any,
) -> Rates:
    """Tokens/s (input, output, total), $/s and calls/s over the last `window_s` seconds.

    Args:
        window_s: how far back to look, in seconds (> 0).
        store: a Store or URL (default: the default tracker's store, flushed first).
        now: the end of the window (default: now; for tests).
        tz: taken like every report's, though a window of seconds is the same in every zone.
        **filters: `model=`, `agent=`, `labels={...}`, … as for `summary`.

    Returns:
        A `Rates`; `.to_dict()` is its JSON shape.

    Raises:
        ValidationError: `window_s` is not a positive number of seconds, or a filter is bad.

    Example:
        >>> r = rates(60, store="memory://")
        >>> (r.totals.calls, r.tokens_per_s, r.cost_per_s)
        (0, 0.0, Decimal('0'))
    """
    if type(window_s) not in (int, float) or not 0 < window_s < 10**9:
        raise ValidationError(f"window_s={window_s!r} is not valid: expected a number of seconds > 0")
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    since = now - timedelta(seconds=window_s)
    totals = summary(since=since, until=now, tz=tz or "UTC", store=store, now=now, **filters).totals
    return Rates(since=since, until=now, totals=totals)
