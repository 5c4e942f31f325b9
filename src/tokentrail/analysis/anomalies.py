"""Spend anomalies: days or hours whose spend is far above a robust baseline, and who drove them.

For the total and for every value of each dimension (agent, model, user, project by default), the
spend per bucket is compared with a baseline that one spike cannot move. A series' history starts at
its first bucket with a call — days before a store (or an agent, a model) existed are not $0 days —
and from there on a bucket without calls counts as $0. The window starts on a bucket boundary, and the
last bucket, still running, is judged but kept out of the baseline. The baseline is the **median** of
the series (for hours, of the same hour of the day), with the **MAD** (median absolute deviation) as
its spread. A bucket is an anomaly when its spend is

- at least `factor` × the baseline (default 2×), and
- more than 3 robust standard deviations (3 × 1.4826 × MAD) above it, and
- at least `min_cost` above it, and at least `min_share` (25 %) of the total's usual spend per bucket,
  so that a user who usually spends a cent does not stand out for spending ten, nor a user whose
  day swings with a few large calls for a swing that leaves the total where it was.

A series with fewer than `min_history` complete buckets (5 days; for hours, 5 of each hour of the day)
is not judged: the report says how much history there is instead of flagging everything as new.
A value that spent in fewer than half of the buckets of its history has no meaningful baseline and is
not judged on its own (it can still be named as a driver). A dimension with a single value in the
window is skipped: it would only repeat the total. A spike with exactly the same numbers as one of an
earlier dimension (`model=o1` when only `agent=coder` uses it) is folded into that one's `also`, so the
first dimension in `by` — the agent, by default — names it. Each anomaly of the total lists its
**drivers**: the dimension values whose spend rose most above their own baselines in that bucket, with
their share.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

from ..errors import ValidationError
from ..formatting import money_text
from ..store.base import Store, check_dimension
from .reports import make_filter, resolve_store
from .windows import Window, resolve_window

__all__ = ["Anomaly", "AnomalyReport", "Driver", "anomalies"]

_MAD_SCALE = 1.4826
_Z = 3.0
MIN_HISTORY = 5
"""Buckets of history (per hour of the day, for hours) a series needs before it is judged."""


@dataclass(frozen=True, slots=True)
class Driver:
    """A dimension value's part in an anomaly of the total."""

    dimension: str
    value: str | None
    excess: Decimal
    """Its spend in the bucket minus its own baseline."""
    share: float
    """Its excess as a fraction of the total's excess."""


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One bucket of one series whose spend stood out."""

    at: datetime
    """Start of the day or hour, in the report's zone."""
    dimension: str
    """`total`, or the dimension (`agent`, `model`, …)."""
    value: str | None
    cost: Decimal
    baseline: Decimal
    """Median spend per bucket of this series (same hour of the day, for hours)."""
    mad: Decimal
    ratio: float
    """cost / baseline (`inf` when the baseline is 0)."""
    excess: Decimal
    drivers: tuple[Driver, ...] = ()
    """For the total: the values that drove it, largest excess first."""
    also: tuple[str, ...] = ()
    """Other series with exactly the same spike (`project=search` for `agent=rag`)."""

    @property
    def label(self) -> str:
        return (
            "total"
            if self.dimension == "total"
            else f"{self.dimension}={self.value if self.value is not None else '(none)'}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(), "dimension": self.dimension, "value": self.value,
            "cost_usd": money_text(self.cost), "baseline_usd": money_text(self.baseline),
            "mad_usd": money_text(self.mad), "ratio": None if self.ratio == float("inf") else round(self.ratio, 4),
            "excess_usd": money_text(self.excess),
            "drivers": [{"dimension": d.dimension, "value": d.value, "excess_usd": money_text(d.excess),
                         "share": round(d.share, 4)} for d in self.drivers],
            "also": list(self.also),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class AnomalyReport:
    window: Window
    bucket: str
    by: tuple[str, ...]
    factor: float
    anomalies: list[Anomaly]
    """Largest excess first."""
    history_since: datetime | None = None
    """The first bucket with a call in the window (None: no calls at all)."""
    history: int = 0
    """Complete buckets of history of the total (for hours: the fewest of any hour of the day)."""
    min_history: int = MIN_HISTORY

    @property
    def enough_history(self) -> bool:
        """Whether the total had enough history to be judged at all."""
        return self.history >= self.min_history

    @property
    def note(self) -> str | None:
        """Why nothing was judged, in words (None when the history sufficed)."""
        if self.enough_history:
            return None
        if self.history_since is None:
            return "no calls in this window: nothing to judge"
        unit = "day(s)" if self.bucket == "day" else "day(s) of each hour"
        return (f"too little history to judge: {self.history} {unit} since {self.history_since.date().isoformat()}, "
                f"at least {self.min_history} needed")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window.to_dict(), "bucket": self.bucket, "by": list(self.by), "factor": self.factor,
                "history": {"since": self.history_since.isoformat() if self.history_since else None,
                            "buckets": self.history, "min": self.min_history, "enough": self.enough_history},
                "note": self.note, "anomalies": [a.to_dict() for a in self.anomalies]}  # fmt: skip


def _buckets(window: Window, bucket: str, tz: tzinfo) -> list[datetime]:
    assert window.since is not None and window.until is not None
    start = window.since.astimezone(tz)
    if bucket == "hour":
        cur = start.replace(minute=0, second=0, microsecond=0)
        step = timedelta(hours=1)
    else:
        cur = datetime(start.year, start.month, start.day, tzinfo=tz)
        step = timedelta(days=1)
    out = []
    while cur < window.until:
        out.append(cur)
        # Step in wall time for days (DST days are 23 or 25 hours), in absolute time for hours.
        cur = (datetime(cur.year, cur.month, cur.day, tzinfo=tz) + step) if bucket == "day" else (cur + step)
        cur = cur.astimezone(tz)
    return out


def _bucket_end(start: datetime, bucket: str, tz: tzinfo) -> datetime:
    if bucket == "hour":
        return start + timedelta(hours=1)
    return (datetime(start.year, start.month, start.day, tzinfo=tz) + timedelta(days=1)).astimezone(tz)


def _history(slots: Sequence[int], hourly: bool) -> int:
    """Buckets of history: their number for days; for hours, how many the least covered hour of the day has."""
    if not hourly:
        return len(slots)
    counts = [0] * 24
    for s in slots:
        counts[s] += 1
    return min(counts)


def _baselines(
    series: Sequence[Decimal], slots: Sequence[int], running: bool = True
) -> tuple[list[Decimal], list[Decimal]]:
    """Median and MAD per bucket over the buckets that share its slot (hour of day, or one slot).

    A `running` last bucket (it ends after the window does) is judged but is not part of the baseline,
    unless its slot has nothing else.
    """
    groups: dict[int, list[Decimal]] = {}
    done = len(series) - 1 if running else len(series)
    for v, s in zip(series[:done], slots[:done], strict=True):
        groups.setdefault(s, []).append(v)
    if slots and slots[-1] not in groups:
        groups[slots[-1]] = [series[-1]]
    stats = {}
    for s, values in groups.items():
        med = statistics.median(values)
        stats[s] = (med, statistics.median([abs(v - med) for v in values]))
    return [stats[s][0] for s in slots], [stats[s][1] for s in slots]


def anomalies(
    *,
    days: int | None = None,
    since: object = None,
    until: object = None,
    bucket: str = "day",
    by: Sequence[str] | str = ("agent", "model", "user", "project"),
    factor: float = 2.0,
    min_cost: Decimal | float | str = "0.01",
    min_share: float = 0.25,
    min_history: int = MIN_HISTORY,
    tz: str | tzinfo | None = None,
    store: Store | str | None = None,
    now: datetime | None = None,
    **filters: Any,
) -> AnomalyReport:
    """Find days (or hours) whose spend exceeds a robust baseline by `factor`, naming who drove them.

    Args:
        days: the window, the last N days ending now (14 when neither `days` nor `since` is given).
        since, until: the window as a start and an exclusive end (a datetime, ISO text or a span like '7d');
            it ends now at the latest.
        bucket: `day` or `hour`.
        by: dimensions to judge and attribute (`label:KEY` too).
        factor: how many times the baseline counts as an anomaly.
        min_cost: the least excess (USD) worth reporting.
        min_share: the least excess as a fraction of the total's usual spend per bucket.
        min_history: buckets of history a series needs to be judged (for hours: per hour of the day).
        tz, store, now, **filters: as for the other reports.

    Example:
        >>> anomalies(store="memory://", tz="UTC").anomalies
        []
    """
    if bucket not in ("day", "hour"):
        raise ValidationError(f"bucket={bucket!r} is not valid: use 'day' or 'hour'")
    if type(factor) not in (int, float) or factor <= 1:
        raise ValidationError(f"factor={factor!r} is not valid: expected a number greater than 1")
    if type(min_history) is not int or min_history < 3:
        raise ValidationError(f"min_history={min_history!r} is not valid: expected a whole number of buckets >= 3")
    dims = tuple(check_dimension(d) for d in ((by,) if isinstance(by, str) else by))
    floor = Decimal(str(min_cost))
    now = now or datetime.now(timezone.utc)
    window = resolve_window(since=since, until=until, days=14 if days is None and since is None else days, tz=tz,
                            now=now)  # fmt: skip
    window = Window(window.since, min(window.until, now) if window.until else now, window.tz, window.label)
    zone = window.tz
    flt = make_filter(window, filters)
    st = resolve_store(store)
    starts = _buckets(window, bucket, zone)
    # Whole buckets only: the first one starts on its boundary, so it is not a part-day that looks quiet.
    window = Window(starts[0], window.until, zone, window.label)
    flt = make_filter(window, filters)
    running = _bucket_end(starts[-1], bucket, zone) > window.until  # type: ignore[operator]
    done = len(starts) - running  # complete buckets; a running last one is judged, not history
    index = {b: i for i, b in enumerate(starts)}
    slots = [b.hour if bucket == "hour" else 0 for b in starts]
    n = len(starts)

    def series_of(groups: Any) -> dict[tuple[str | None, ...], tuple[list[Decimal], int]]:
        """Spend per bucket of each key, and the first bucket in which it made a call (where its history starts)."""
        out: dict[tuple[str | None, ...], list[Decimal]] = {}
        firsts: dict[tuple[str | None, ...], int] = {}
        for g in groups:
            i = index.get(g.bucket.astimezone(zone)) if g.bucket is not None else None
            if i is not None:
                out.setdefault(g.key, [Decimal(0)] * n)[i] += g.totals.cost_usd
                if g.totals.calls:
                    firsts[g.key] = min(firsts.get(g.key, n), i)
        return {k: (v, firsts.get(k, n)) for k, v in out.items()}

    found: list[Anomaly] = []
    total, t0 = series_of(st.aggregate(flt, bucket=bucket, tz=zone)).get((), ([Decimal(0)] * n, n))  # type: ignore[arg-type]
    history = _history(slots[t0:done], bucket == "hour")
    since = starts[t0] if t0 < n else None
    if history < min_history:
        return AnomalyReport(window=window, bucket=bucket, by=dims, factor=float(factor), anomalies=[],
                             history_since=since, history=history, min_history=min_history)  # fmt: skip
    total_med, total_mad = _baselines(total[t0:], slots[t0:], running)
    share = Decimal(str(min_share))
    floors = [max(floor, share * m) for m in total_med]
    per_dim: dict[str, dict[tuple[str | None, ...], tuple[list[Decimal], list[Decimal], int]]] = {}
    for dim in dims:
        per_dim[dim] = {}
        by_value = series_of(st.aggregate(flt, by=(dim,), bucket=bucket, tz=zone))  # type: ignore[arg-type]
        if len(by_value) < 2:  # one value is the total again: it neither stands out nor explains anything
            continue
        for key, (values, first) in by_value.items():
            first = max(first, t0)
            if first >= n:
                continue
            med, mad = _baselines(values[first:], slots[first:], running)
            per_dim[dim][key] = (values, med, first)
            judged = values[first:]
            enough = _history(slots[first:done], bucket == "hour") >= min_history
            if enough and sum(1 for v in judged if v > 0) * 2 >= len(judged):
                found.extend(_judge(dim, key[0], starts[first:], judged, med, mad, factor, floors[first - t0 :]))
    found = _fold(found)
    for a in _judge("total", None, starts[t0:], total[t0:], total_med, total_mad, factor, floors):
        i = index[a.at]
        drivers = sorted(
            (Driver(dim, key[0], v[i] - m[i - f], 0.0) for dim, groups in per_dim.items()
             for key, (v, m, f) in groups.items() if i >= f and v[i] - m[i - f] > 0),
            key=lambda d: (-d.excess, d.dimension, d.value or ""),
        )[:5]  # fmt: skip
        drivers = [Driver(d.dimension, d.value, d.excess, float(d.excess / a.excess) if a.excess else 0.0)
                   for d in drivers]  # fmt: skip
        found.append(Anomaly(a.at, a.dimension, a.value, a.cost, a.baseline, a.mad, a.ratio, a.excess, tuple(drivers)))
    found.sort(key=lambda a: (-a.excess, a.at, a.dimension != "total", a.dimension, a.value or ""))
    return AnomalyReport(window=window, bucket=bucket, by=dims, factor=float(factor), anomalies=found,
                         history_since=since, history=history, min_history=min_history)  # fmt: skip


def _fold(found: list[Anomaly]) -> list[Anomaly]:
    """Fold anomalies with identical numbers in the same bucket into the first one's `also`."""
    kept: dict[tuple[datetime, Decimal, Decimal], Anomaly] = {}
    for a in found:
        key = (a.at, a.cost, a.baseline)
        first = kept.get(key)
        if first is None:
            kept[key] = a
        else:
            kept[key] = Anomaly(first.at, first.dimension, first.value, first.cost, first.baseline, first.mad,
                                first.ratio, first.excess, first.drivers, (*first.also, a.label))  # fmt: skip
    return list(kept.values())


def _judge(dim: str, value: str | None, starts: Sequence[datetime], values: Sequence[Decimal], med: Sequence[Decimal],
           mad: Sequence[Decimal], factor: float, floors: Sequence[Decimal]) -> list[Anomaly]:  # fmt: skip
    out = []
    f = Decimal(str(factor))
    for at, v, m, d, floor in zip(starts, values, med, mad, floors, strict=True):
        excess = v - m
        if v >= f * m and excess > Decimal(str(_Z * _MAD_SCALE)) * d and excess >= floor and v > 0:
            out.append(Anomaly(at, dim, value, v, m, d, float(v / m) if m else float("inf"), excess))
    return out
