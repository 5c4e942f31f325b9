"""Spend anomalies: days or hours whose spend is far above a robust baseline, and who drove them.

For the total and for every value of each dimension (agent, model, user, project by default), the
spend per bucket over the window (missing buckets count as $0) is compared with a baseline that one
spike cannot move: the **median** of that series (for hours, the median of the same hour of the day),
with the **MAD** (median absolute deviation) as its spread. A bucket is an anomaly when its spend is

- at least `factor` × the baseline (default 2×), and
- more than 3 robust standard deviations (3 × 1.4826 × MAD) above it, and
- at least `min_cost` above it, and at least `min_share` (5 %) of the total's usual spend per bucket,
  so that a user who usually spends a cent does not stand out for spending ten.

A value that spent in fewer than half of the buckets has no meaningful baseline and is not judged on
its own (it can still be named as a driver). A dimension with a single value in the window is skipped:
it would only repeat the total. A spike with exactly the same numbers as one of an earlier dimension
(`model=o1` when only `agent=coder` uses it) is folded into that one's `also`, so the first dimension
in `by` — the agent, by default — names it. Each anomaly of the total lists its **drivers**: the
dimension values whose spend rose most above their own baselines in that bucket, with their share.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

from ..errors import ValidationError
from ..store.base import Store, check_dimension
from .reports import make_filter, resolve_store
from .windows import Window, resolve_window

__all__ = ["Anomaly", "AnomalyReport", "Driver", "anomalies"]

_MAD_SCALE = 1.4826
_Z = 3.0


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
            "at": self.at.isoformat(), "dimension": self.dimension, "value": self.value, "cost_usd": str(self.cost),
            "baseline_usd": str(self.baseline), "mad_usd": str(self.mad),
            "ratio": None if self.ratio == float("inf") else round(self.ratio, 4), "excess_usd": str(self.excess),
            "drivers": [{"dimension": d.dimension, "value": d.value, "excess_usd": str(d.excess),
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

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window.to_dict(), "bucket": self.bucket, "by": list(self.by), "factor": self.factor,
                "anomalies": [a.to_dict() for a in self.anomalies]}  # fmt: skip


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


def _baselines(series: Sequence[Decimal], slots: Sequence[int]) -> tuple[list[Decimal], list[Decimal]]:
    """Median and MAD per bucket, computed over the buckets that share its slot (hour of day, or one slot)."""
    groups: dict[int, list[Decimal]] = {}
    for v, s in zip(series, slots, strict=True):
        groups.setdefault(s, []).append(v)
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
    min_share: float = 0.05,
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
        tz, store, now, **filters: as for the other reports.

    Example:
        >>> anomalies(store="memory://", tz="UTC").anomalies
        []
    """
    if bucket not in ("day", "hour"):
        raise ValidationError(f"bucket={bucket!r} is not valid: use 'day' or 'hour'")
    if type(factor) not in (int, float) or factor <= 1:
        raise ValidationError(f"factor={factor!r} is not valid: expected a number greater than 1")
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
    index = {b: i for i, b in enumerate(starts)}
    slots = [b.hour if bucket == "hour" else 0 for b in starts]
    n = len(starts)

    def series_of(groups: Any) -> dict[tuple[str | None, ...], list[Decimal]]:
        out: dict[tuple[str | None, ...], list[Decimal]] = {}
        for g in groups:
            i = index.get(g.bucket.astimezone(zone)) if g.bucket is not None else None
            if i is not None:
                out.setdefault(g.key, [Decimal(0)] * n)[i] += g.totals.cost_usd
        return out

    found: list[Anomaly] = []
    total = series_of(st.aggregate(flt, bucket=bucket, tz=zone)).get((), [Decimal(0)] * n)  # type: ignore[arg-type]
    total_med, total_mad = _baselines(total, slots)
    share = Decimal(str(min_share))
    floors = [max(floor, share * m) for m in total_med]
    per_dim: dict[str, dict[tuple[str | None, ...], tuple[list[Decimal], list[Decimal], list[Decimal]]]] = {}
    for dim in dims:
        per_dim[dim] = {}
        by_value = series_of(st.aggregate(flt, by=(dim,), bucket=bucket, tz=zone))  # type: ignore[arg-type]
        if len(by_value) < 2:  # one value is the total again: it neither stands out nor explains anything
            continue
        for key, values in by_value.items():
            med, mad = _baselines(values, slots)
            per_dim[dim][key] = (values, med, mad)
            if sum(1 for v in values if v > 0) * 2 >= n:
                found.extend(_judge(dim, key[0], starts, values, med, mad, factor, floors))
    found = _fold(found)
    for a in _judge("total", None, starts, total, total_med, total_mad, factor, floors):
        i = index[a.at]
        drivers = sorted(
            (Driver(dim, key[0], v[i] - m[i], 0.0) for dim, groups in per_dim.items()
             for key, (v, m, _) in groups.items() if v[i] - m[i] > 0),
            key=lambda d: (-d.excess, d.dimension, d.value or ""),
        )[:5]  # fmt: skip
        drivers = [Driver(d.dimension, d.value, d.excess, float(d.excess / a.excess) if a.excess else 0.0)
                   for d in drivers]  # fmt: skip
        found.append(Anomaly(a.at, a.dimension, a.value, a.cost, a.baseline, a.mad, a.ratio, a.excess, tuple(drivers)))
    found.sort(key=lambda a: (-a.excess, a.at, a.dimension != "total", a.dimension, a.value or ""))
    return AnomalyReport(window=window, bucket=bucket, by=dims, factor=float(factor), anomalies=found)


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
