"""Alert rules over the store: cost spikes, error rate, p95 latency and token rate, per dimension value.

A rule is evaluated at a moment `now` against the store's aggregates (inside the database) and returns
the alerts it would raise, each keyed by the dimension value it concerns (`agent=support`), so that the
manager's cooldown for one value never silences another. Rules are plain frozen dataclasses; any object
with `name`, `cooldown` and `evaluate(store, now)` is a rule too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

from ..errors import ValidationError
from ..formatting import money_text
from ..store.base import Filter, Store, check_dimension
from .model import Alert

__all__ = ["CostSpikeRule", "ErrorRateRule", "LatencyRule", "Rule", "TokenRateRule", "describe_rule", "parse_duration"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MICRO = Decimal("0.000001")


def parse_duration(value: object, name: str = "duration") -> timedelta:
    """A timedelta from a timedelta, a number of seconds, or text such as `90s`, `15m`, `1h`, `7d`.

    Example:
        >>> parse_duration("15m"), parse_duration(30)
        (datetime.timedelta(seconds=900), datetime.timedelta(seconds=30))
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif type(value) in (int, float):
        seconds = float(value)  # type: ignore[arg-type]
    elif type(value) is str and (m := _DURATION.match(value.strip().lower())):
        seconds = float(m[1]) * _UNITS[m[2]]
    else:
        raise ValidationError(f"{name}={value!r} is not valid: expected a duration such as '90s', '15m', '1h', '7d'")
    if seconds < 0:
        raise ValidationError(f"{name}={value!r} is not valid: a duration cannot be negative")
    return timedelta(seconds=seconds)


def _coerce(rule: object) -> None:
    """Let rules take `"1h"`, seconds and plain numbers: durations become timedeltas, `min_cost` a Decimal."""
    for name in ("window", "baseline", "cooldown"):
        if hasattr(rule, name) and not isinstance(getattr(rule, name), timedelta):
            object.__setattr__(rule, name, parse_duration(getattr(rule, name), name))
    if hasattr(rule, "min_cost") and not isinstance(rule.min_cost, Decimal):
        object.__setattr__(rule, "min_cost", Decimal(str(rule.min_cost)))
    by = getattr(rule, "by", None)
    if by is not None:
        check_dimension(by)


@runtime_checkable
class Rule(Protocol):
    name: str
    cooldown: timedelta

    def evaluate(self, store: Store, now: datetime) -> list[Alert]: ...


def _key(by: str | None, value: str | None) -> str:
    return "all" if by is None else f"{by}={value if value is not None else '(none)'}"


def _by(by: str | None) -> tuple[str, ...]:
    return () if by is None else (check_dimension(by),)


def _span(d: timedelta) -> str:
    """A duration as it is written in the config file: `90s`, `15m`, `1h`, `7d`."""
    seconds = d.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _words(by: str | None, what: str, cooldown: timedelta) -> str:
    """`per agent: <what>; at most one alert per agent every 1h` (or `all calls: ...`)."""
    scope, each = (f"per {by}", f" per {by}") if by is not None else ("all calls", "")
    return f"{scope}: {what}; at most one alert{each} every {_span(cooldown)}"


def _usd(amount: Decimal) -> str:
    cents = amount.quantize(Decimal("0.01"))
    return f"${cents}" if cents == amount else f"${amount.normalize():f}"


def describe_rule(rule: object) -> str:
    """What a rule watches, in words (`tokentrail alerts list`); a custom rule without `describe()` by its name."""
    describe = getattr(rule, "describe", None)
    if callable(describe):
        return str(describe())
    return f"custom rule {getattr(rule, 'name', type(rule).__name__)!r} ({type(rule).__name__})"


def _minutes(d: timedelta) -> str:
    m = d.total_seconds() / 60
    return f"{m / 60:g}h" if m >= 60 else f"{m:g}m"


@dataclass(frozen=True, slots=True)
class CostSpikeRule:
    """Spend in the last `window` is at least `factor` × its baseline (the average spend per `window` over the
    preceding `baseline`, counted only from each value's first call), and at least `min_cost` USD."""

    by: str | None = "agent"
    window: timedelta = timedelta(hours=1)
    baseline: timedelta = timedelta(days=7)
    factor: float = 3.0
    min_cost: Decimal = Decimal("1")
    cooldown: timedelta = timedelta(hours=1)
    name: str = "cost_spike"

    def __post_init__(self) -> None:
        _coerce(self)

    def describe(self) -> str:
        w = _span(self.window)
        what = (f"spend in the last {w} at least {self.factor:g}x its average per {w} over the previous "
                f"{_span(self.baseline)}, and at least {_usd(self.min_cost)}")  # fmt: skip
        return _words(self.by, what, self.cooldown)

    def evaluate(self, store: Store, now: datetime) -> list[Alert]:
        by = _by(self.by)
        start = now - self.window
        current = store.aggregate(Filter(since=start, until=now), by=by)
        base = {g.key: g.totals for g in store.aggregate(Filter(since=start - self.baseline, until=start), by=by)}
        alerts = []
        for g in current:
            spent = g.totals.cost_usd
            b = base.get(g.key)
            if b is None or b.first_at is None or spent < self.min_cost:
                continue
            span = start - max(b.first_at, start - self.baseline)
            if span < self.window:  # too little history to call anything a spike
                continue
            expected = b.cost_usd * Decimal(self.window / span)
            if expected <= 0 or spent < expected * Decimal(str(self.factor)):
                continue
            ratio = float(spent / expected)
            key = _key(self.by, g.key[0] if by else None)
            alerts.append(Alert(
                rule=self.name, key=key, at=now, severity="critical" if ratio >= 2 * self.factor else "warning",
                title=f"Cost spike for {key}: ${spent:.2f} in the last {_minutes(self.window)}, {ratio:.1f}x the usual "
                      f"${expected:.2f}",
                message=f"Baseline: average spend per {_minutes(self.window)} over the previous "
                        f"{span.days or 1} day(s).",
                data={"spent_usd": money_text(spent), "baseline_usd": money_text(expected.quantize(_MICRO)),
                      "ratio": round(ratio, 3), "window_s": self.window.total_seconds(), "by": self.by,
                      "value": g.key[0] if by else None},
            ))  # fmt: skip
        return alerts


@dataclass(frozen=True, slots=True)
class ErrorRateRule:
    """Failed calls are at least `max_rate` of at least `min_calls` calls in the last `window`."""

    max_rate: float = 0.1
    window: timedelta = timedelta(minutes=15)
    min_calls: int = 20
    by: str | None = None
    cooldown: timedelta = timedelta(minutes=30)
    name: str = "error_rate"

    def __post_init__(self) -> None:
        _coerce(self)

    def describe(self) -> str:
        what = (
            f"at least {self.max_rate:.0%} of at least {self.min_calls} calls failed in the last {_span(self.window)}"
        )
        return _words(self.by, what, self.cooldown)

    def evaluate(self, store: Store, now: datetime) -> list[Alert]:
        by = _by(self.by)
        alerts = []
        for g in store.aggregate(Filter(since=now - self.window, until=now), by=by):
            t = g.totals
            if t.calls < self.min_calls or t.error_rate < self.max_rate:
                continue
            key = _key(self.by, g.key[0] if by else None)
            alerts.append(Alert(
                rule=self.name, key=key, at=now, severity="critical" if t.error_rate >= 0.5 else "warning",
                title=f"Error rate for {key}: {t.error_rate:.0%} of {t.calls} calls failed in the last "
                      f"{_minutes(self.window)} (limit {self.max_rate:.0%})",
                data={"errors": t.errors, "calls": t.calls, "error_rate": round(t.error_rate, 6), "by": self.by},
            ))  # fmt: skip
        return alerts


@dataclass(frozen=True, slots=True)
class LatencyRule:
    """The p95 duration of at least `min_calls` calls in the last `window` is above `p95_ms`."""

    p95_ms: float = 10_000.0
    window: timedelta = timedelta(minutes=15)
    min_calls: int = 20
    by: str | None = "model"
    cooldown: timedelta = timedelta(minutes=30)
    name: str = "latency_p95"

    def __post_init__(self) -> None:
        _coerce(self)

    def describe(self) -> str:
        w = _span(self.window)
        what = f"p95 duration above {self.p95_ms:,.0f} ms over at least {self.min_calls} calls in the last {w}"
        return _words(self.by, what, self.cooldown)

    def evaluate(self, store: Store, now: datetime) -> list[Alert]:
        by = _by(self.by)
        alerts = []
        for row in store.percentiles(Filter(since=now - self.window, until=now), by=by, quantiles=(0.95,)):
            p95 = row.values[0]
            if row.count < self.min_calls or p95 is None or p95 <= self.p95_ms:
                continue
            key = _key(self.by, row.key[0] if by else None)
            alerts.append(Alert(
                rule=self.name, key=key, at=now,
                title=f"Slow calls for {key}: p95 {p95:,.0f} ms over {row.count} calls in the last "
                      f"{_minutes(self.window)} (limit {self.p95_ms:,.0f} ms)",
                data={"p95_ms": p95, "calls": row.count, "limit_ms": self.p95_ms,
                      "max_relative_error": row.max_relative_error, "by": self.by},
            ))  # fmt: skip
        return alerts


@dataclass(frozen=True, slots=True)
class TokenRateRule:
    """More than `max_tokens_per_minute` tokens (input + output) per minute, averaged over the last `window`."""

    max_tokens_per_minute: float = 1_000_000.0
    window: timedelta = timedelta(minutes=5)
    by: str | None = None
    cooldown: timedelta = timedelta(minutes=30)
    name: str = "token_rate"

    def __post_init__(self) -> None:
        _coerce(self)

    def describe(self) -> str:
        w = _span(self.window)
        what = f"more than {self.max_tokens_per_minute:,.0f} tokens a minute (input + output) over the last {w}"
        return _words(self.by, what, self.cooldown)

    def evaluate(self, store: Store, now: datetime) -> list[Alert]:
        by = _by(self.by)
        minutes = self.window.total_seconds() / 60
        alerts = []
        for g in store.aggregate(Filter(since=now - self.window, until=now), by=by):
            rate = g.totals.total_tokens / minutes if minutes else 0.0
            if rate <= self.max_tokens_per_minute:
                continue
            key = _key(self.by, g.key[0] if by else None)
            alerts.append(Alert(
                rule=self.name, key=key, at=now,
                title=f"Token rate for {key}: {rate:,.0f} tokens/min over the last {_minutes(self.window)} "
                      f"(limit {self.max_tokens_per_minute:,.0f})",
                data={"tokens_per_minute": round(rate, 3), "total_tokens": g.totals.total_tokens, "by": self.by},
            ))  # fmt: skip
        return alerts
