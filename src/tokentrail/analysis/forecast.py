"""Spend forecasts from the daily cost series: next N days and end of month, with an 80 % interval.

The method depends on how much history there is, and the result names the one used:

- `no_data` — nothing recorded: zero.
- `today_run_rate` — only today: today's spend so far scaled to a full day, times the days ahead.
- `mean_rate` — fewer than 14 full days: the mean daily spend times the days ahead (3 days at $10/day
  forecast about $300 for 30 days). The interval is wide: day-to-day spread (at least 25 % of the mean)
  plus the uncertainty of a mean from few days, with Student's t.
- 14 days or more: the best of `level`, `linear_trend`, `seasonal_level` and `seasonal_trend` by BIC,
  a trend only when its slope is at least 3 standard errors from zero (it is extrapolated for weeks).
  The seasonal models divide each day by a weekday factor (Monday..Sunday, mean 1), fit the level or
  linear trend on the weekday-adjusted series, and multiply back. The interval combines residual spread
  (inflated for day-to-day correlation) with the uncertainty of the fitted level and slope.

One-off spikes do not set the rate. With 5 full days or more, a day at least 2x what the model expects
of it and more than 3 robust standard deviations above (the rule `anomalies` uses) is left out: the
mean skips it, the longer models see it replaced by the model's own value for that day. The result
lists those days (`outliers`) and says so; if spikes are frequent (over a quarter of the days) they
are the pattern, and nothing is left out.

Daily forecasts never go below zero. End of month = actual spend so far this month + the forecast for
the rest of today and the remaining days. What-if scenarios (`growth=20%`, `move:model=gpt-4o->gpt-4o-mini`)
rebuild the series — moved traffic is repriced from its stored token counts, cache reads and writes
included — and forecast it the same way. `backtest()` measures the method on any series.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

from ..errors import ValidationError
from ..formatting import money_text
from ..store.base import Filter, Store, check_dimension
from .reports import make_filter, resolve_store
from .windows import Window, resolve_tz

__all__ = ["Backtest", "DailyForecast", "Forecast", "ForecastLine", "Scenario", "WhatIf", "backtest", "fit_daily",
           "forecast", "parse_what_if"]  # fmt: skip

MIN_SEASONAL_DAYS = 14
MIN_OUTLIER_DAYS = 5
"""Full days of history before a day can be called a spike and left out of the rate."""
_SPIKE_FACTOR = 2.0
_SPIKE_Z = 3 * 1.4826
_Q = Decimal("0.000001")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _t_quantile(p: float, df: int) -> float:
    """Student's t quantile: exact for 1 and 2 degrees of freedom, Cornish-Fisher expansion beyond."""
    if df <= 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = statistics.NormalDist().inv_cdf(p)
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def _ols(ts: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float, float]:
    """Least squares y = a + b t; returns (a, b, mean t, sum of squared t deviations)."""
    n = len(ts)
    tbar, ybar = sum(ts) / n, sum(ys) / n
    sxx = sum((t - tbar) ** 2 for t in ts)
    b = sum((t - tbar) * (y - ybar) for t, y in zip(ts, ys, strict=True)) / sxx if sxx else 0.0
    return ybar - b * tbar, b, tbar, sxx


@dataclass(frozen=True, slots=True)
class _Model:
    method: str
    n: int
    a: float
    b: float
    factors: tuple[float, ...] | None
    first: date
    sigma: float
    """Residual standard deviation of one day's spend."""
    df: int
    tbar: float
    var_a: float
    """Variance of the fitted level at day `tbar` (weekday-adjusted)."""
    var_b: float
    """Variance of the fitted slope (heteroscedasticity-consistent: later, larger days weigh in)."""
    inflation: float = 1.0
    """Variance multiplier of a sum of days, for positively correlated residuals."""
    ref: float = 0.0
    """Mean daily spend of the history: day-to-day noise is taken to grow with the level (costs vary in %)."""
    outliers: tuple[int, ...] = ()
    """Days (index into the history) left out of the fit as one-off spikes."""

    def point(self, day: date) -> float:
        t = (day - self.first).days
        f = self.factors[day.weekday()] if self.factors else 1.0
        return max(0.0, (self.a + self.b * t) * f)

    def interval(self, days: Sequence[tuple[date, float]], level: float) -> tuple[float, float, float]:
        """(mean, low, high) of the weighted sum of these days' spend."""
        mean = sum(w * self.point(d) for d, w in days)
        if self.method in ("no_data",):
            return 0.0, 0.0, 0.0
        s_f = sum(w * (self.factors[d.weekday()] if self.factors else 1.0) for d, w in days)
        s_ft = sum(w * (self.factors[d.weekday()] if self.factors else 1.0) * ((d - self.first).days - self.tbar)
                   for d, w in days)  # fmt: skip
        growth = [(max(self.point(d), self.ref) / self.ref) ** 2 if self.ref > 0 else 1.0 for d, _ in days]
        noise = sum(w * w * g for (_, w), g in zip(days, growth, strict=True))
        var = (self.sigma**2 * noise + s_f**2 * self.var_a + s_ft**2 * self.var_b) * self.inflation
        half = _t_quantile(0.5 + level / 2, self.df) * math.sqrt(var)
        return mean, max(0.0, mean - half), mean + half


def _fit_trend(ys: Sequence[float], first: date, seasonal: bool, trend: bool) -> tuple[_Model, float]:
    n = len(ys)
    ts = [float(i) for i in range(n)]
    wd = [(first + timedelta(days=i)).weekday() for i in range(n)]
    factors: list[float] | None = None
    a, b, tbar, sxx = _ols(ts, ys) if trend else (sum(ys) / n, 0.0, (n - 1) / 2, 0.0)
    if seasonal:
        for _ in range(3):
            sums, counts = [0.0] * 7, [0] * 7
            for t, y, w in zip(ts, ys, wd, strict=True):
                base = a + b * t
                if base > 1e-12:
                    sums[w] += y / base
                    counts[w] += 1
            raw = [sums[w] / counts[w] if counts[w] else 1.0 for w in range(7)]
            mean_f = sum(raw) / 7 or 1.0
            factors = [f / mean_f for f in raw]
            keep = [(t, y / factors[w]) for t, y, w in zip(ts, ys, wd, strict=True) if factors[w] > 1e-9]
            if trend:
                a, b, tbar, sxx = _ols([t for t, _ in keep], [z for _, z in keep])
            else:
                a = sum(z for _, z in keep) / len(keep)
    else:
        keep = list(zip(ts, ys, strict=True))
    fitted = [(a + b * t) * (factors[w] if factors else 1.0) for t, w in zip(ts, wd, strict=True)]
    resid = [y - f for y, f in zip(ys, fitted, strict=True)]
    sse = sum(r * r for r in resid)
    k = (2 if trend else 1) + (6 if seasonal else 0)
    df = max(1, n - k)
    sigma = math.sqrt(sse / df)
    rho = 0.0
    if sse > 0 and n > 2:
        rho = sum(resid[i] * resid[i - 1] for i in range(1, n)) / sse
    rho = min(max(rho, 0.0), 0.9)
    # Parameter uncertainty from the weekday-adjusted residuals, HC3 (leverage-corrected White) so that noise
    # growing with the level — costs vary in percent — widens the slope's uncertainty as it should.
    nk = len(keep)
    lev = [1 / nk + ((t - tbar) ** 2 / sxx if trend and sxx else 0.0) for t, _ in keep]
    ez2 = [((z - (a + b * t)) / (1 - min(h, 0.9))) ** 2 for (t, z), h in zip(keep, lev, strict=True)]
    var_a = sum(ez2) / nk**2
    var_b = sum((t - tbar) ** 2 * e2 for (t, _), e2 in zip(keep, ez2, strict=True)) / sxx**2 if trend and sxx else 0.0
    method = ("seasonal_" if seasonal else "") + ("trend" if trend else "level")
    if method == "trend":
        method = "linear_trend"
    model = _Model(method, n, a, b, tuple(factors) if factors else None, first, sigma, df, tbar, var_a, var_b,
                   inflation=(1 + rho) / (1 - rho), ref=sum(ys) / n)  # fmt: skip
    # BIC, not AIC: a trend or weekday factors that are not clearly there would be extrapolated for a month.
    bic = n * math.log(max(sse, 1e-12 * max(1.0, sum(y * y for y in ys))) / n) + k * math.log(n)
    return model, bic


def fit_daily(values: Sequence[float], first: date, *, today_so_far: float = 0.0, day_fraction: float = 1.0) -> _Model:
    """Fit the forecasting model to full days of spend starting at `first` (see the module docstring).

    Args:
        values: spend per full day, oldest first, gaps filled with 0.
        first: the date of `values[0]`.
        today_so_far: spend so far today (used only when there is no full day).
        day_fraction: the part of today that has passed (0..1).
    """
    ys = [float(v) for v in values]
    n = len(ys)
    if n == 0:
        if today_so_far <= 0:
            return _Model("no_data", 1, 0.0, 0.0, None, first, 0.0, 1, 0.0, 0.0, 0.0)
        rate = today_so_far / max(day_fraction, 1 / 24)
        return _Model("today_run_rate", 1, rate, 0.0, None, first, 0.5 * rate, 1, 0.0, (0.5 * rate) ** 2, 0.0)
    if n < MIN_SEASONAL_DAYS:
        out = _spikes(ys, [statistics.median(ys)] * n) if n >= MIN_OUTLIER_DAYS else []
        kept = [y for i, y in enumerate(ys) if i not in out]
        mean = sum(kept) / len(kept)
        sd = max(statistics.stdev(kept) if len(kept) > 1 else 0.5 * mean, 0.25 * mean)
        return _Model("mean_rate", len(kept), mean, 0.0, None, first, sd, max(1, len(kept) - 1), 0.0,
                      sd * sd / len(kept), 0.0, outliers=tuple(out))  # fmt: skip
    best = _select(ys, first)
    out = _spikes(ys, [best.point(first + timedelta(days=i)) for i in range(n)])
    if not out:
        return best
    # Fit again with each spike day replaced by what the model expects of that day (twice, so that the
    # replacement no longer carries the spike's pull on the first fit), keeping the series regular for
    # the weekday factors.
    for _ in range(2):
        best = _select([best.point(first + timedelta(days=i)) if i in out else y for i, y in enumerate(ys)], first)
    return replace(best, outliers=tuple(out))


def _select(ys: Sequence[float], first: date) -> _Model:
    """The best of level, linear trend and their seasonal forms by BIC (a trend only when clearly there)."""
    candidates = [_fit_trend(ys, first, seasonal, trend) for seasonal in (False, True) for trend in (False, True)]
    # A trend is extrapolated for weeks, so it must be clearly there: |slope| at least 3 standard errors.
    candidates = [
        c for c in candidates if not c[0].method.endswith("trend") or c[0].b ** 2 >= 9 * c[0].var_b * c[0].inflation
    ]
    return min(candidates, key=lambda c: c[1])[0]


def _spikes(ys: Sequence[float], expected: Sequence[float]) -> list[int]:
    """Days that are one-off spikes by the rule `anomalies` uses: at least 2x what was expected and more
    than 3 robust standard deviations (1.4826 x the MAD of the residuals) above it."""
    resid = [y - e for y, e in zip(ys, expected, strict=True)]
    centre = statistics.median(resid)
    mad = statistics.median([abs(r - centre) for r in resid])
    out = [i for i, (y, e, r) in enumerate(zip(ys, expected, resid, strict=True))
           if y > 0 and y >= _SPIKE_FACTOR * e and r - centre > _SPIKE_Z * mad]  # fmt: skip
    # Frequent "spikes" are the pattern, not exceptions: leave the series alone.
    return out if len(out) * 4 <= len(ys) else []


@dataclass(frozen=True, slots=True)
class DailyForecast:
    day: date
    value: Decimal
    low: Decimal
    high: Decimal


@dataclass(frozen=True, slots=True)
class ForecastLine:
    """The forecast of one series (the total, or one dimension value)."""

    key: tuple[str | None, ...]
    """The dimension value(s) (`()` for the total)."""
    method: str
    """`no_data`, `today_run_rate`, `mean_rate`, `level`, `linear_trend`, `seasonal_level` or `seasonal_trend`."""
    history_days: int
    """Full days of history the model was fitted on."""
    daily_rate: Decimal
    """Forecast spend for tomorrow."""
    trend_per_day: Decimal
    """Change in daily spend per day (weekday-adjusted); 0 for level and mean methods."""
    weekday_factors: tuple[float, ...] | None
    """Monday..Sunday multipliers (mean 1), for the seasonal methods."""
    next_total: Decimal
    """Spend over the horizon (the next N full days, from tomorrow)."""
    next_low: Decimal
    next_high: Decimal
    month_to_date: Decimal
    """Actual spend this calendar month so far, today included."""
    end_of_month: Decimal
    eom_low: Decimal
    eom_high: Decimal
    daily: tuple[DailyForecast, ...] = ()
    outliers: tuple[tuple[date, Decimal], ...] = ()
    """One-off spike days (and their spend) left out of the rate; they count in `month_to_date` as spent."""

    @property
    def note(self) -> str | None:
        """In words, what the rate leaves out (None when nothing)."""
        if not self.outliers:
            return None
        days = ", ".join(f"{d.isoformat()} (${v:,.2f})" for d, v in self.outliers)
        what = "a one-off spike" if len(self.outliers) == 1 else f"{len(self.outliers)} one-off spikes"
        return f"{days} left out of the rate as {what}; the forecast is for days like the others"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "method": self.method,
            "history_days": self.history_days,
            "daily_rate": money_text(self.daily_rate),
            "trend_per_day": money_text(self.trend_per_day),
            "weekday_factors": dict(zip(_WEEKDAYS, (round(f, 4) for f in self.weekday_factors), strict=True))
            if self.weekday_factors
            else None,
            "next": {"total": money_text(self.next_total), "low": money_text(self.next_low),
                     "high": money_text(self.next_high)},
            "month_to_date": money_text(self.month_to_date),
            "end_of_month": {"total": money_text(self.end_of_month), "low": money_text(self.eom_low),
                             "high": money_text(self.eom_high)},
            "daily": [{"day": d.day.isoformat(), "value": money_text(d.value), "low": money_text(d.low),
                       "high": money_text(d.high)} for d in self.daily],
            "outliers": [{"day": d.isoformat(), "spend_usd": money_text(v)} for d, v in self.outliers],
            "note": self.note,
        }  # fmt: skip


def _dec(x: float) -> Decimal:
    return Decimal(repr(x)).quantize(_Q) if math.isfinite(x) else Decimal(0)


def _line(key: tuple[str | None, ...], series: Mapping[date, Decimal], today: date, day_fraction: float,
          horizon: int, level: float, fit_from: date, scale: float = 1.0) -> ForecastLine:  # fmt: skip
    """Fit one daily series (full days from its first day, or `fit_from`, to yesterday) and forecast it;
    `scale` multiplies the future."""
    past = sorted(d for d in series if fit_from <= d < today)
    first = past[0] if past else today
    values = [float(series.get(first + timedelta(days=i), 0)) for i in range((today - first).days)]
    today_so_far = float(series.get(today, 0))
    model = fit_daily(values, first, today_so_far=today_so_far, day_fraction=day_fraction)
    ahead = [(today + timedelta(days=i), 1.0) for i in range(1, horizon + 1)]
    mean, low, high = model.interval(ahead, level)
    month_start = today.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    mtd = sum((v for d, v in series.items() if month_start <= d <= today), Decimal(0))
    rest = [(today, 1.0 - day_fraction)] + [
        (today + timedelta(days=i), 1.0) for i in range(1, (next_month - today).days)
    ]
    e_mean, e_low, e_high = model.interval(rest, level)
    daily = []
    for d, _ in ahead:
        m, lo, hi = model.interval([(d, 1.0)], level)
        daily.append(DailyForecast(d, _dec(m * scale), _dec(lo * scale), _dec(hi * scale)))
    tomorrow = today + timedelta(days=1)
    return ForecastLine(
        key=key, method=model.method, history_days=len(values), daily_rate=_dec(model.point(tomorrow) * scale),
        trend_per_day=_dec(model.b * scale), weekday_factors=model.factors, next_total=_dec(mean * scale),
        next_low=_dec(low * scale), next_high=_dec(high * scale), month_to_date=mtd,
        end_of_month=mtd + _dec(e_mean * scale), eom_low=mtd + _dec(e_low * scale),
        eom_high=mtd + _dec(e_high * scale), daily=tuple(daily),
        outliers=tuple((first + timedelta(days=i), series.get(first + timedelta(days=i), Decimal(0)))
                       for i in model.outliers),
    )  # fmt: skip


# -- what-if --------------------------------------------------------------------------------------

_GROWTH = re.compile(r"^growth\s*=\s*([+-]?\d+(?:\.\d+)?)\s*(%?)$")
_MOVE = re.compile(r"^move\s*:\s*([^=]+?)\s*=\s*(.+?)\s*->\s*(\S+)$")


@dataclass(frozen=True, slots=True)
class WhatIf:
    """A scenario: `growth` of all traffic, or moving one dimension value's traffic to `target_model`."""

    text: str
    growth: float = 0.0
    """Fractional change of future traffic (0.2 for +20 %)."""
    dimension: str | None = None
    value: str | None = None
    target_model: str | None = None


def parse_what_if(text: str) -> WhatIf:
    """`growth=20%`, `growth=-10%`, `move:model=gpt-4o->gpt-4o-mini`, `move:agent=support->claude-3-5-haiku`.

    Example:
        >>> parse_what_if("move:model=gpt-4o->gpt-4o-mini").target_model
        'gpt-4o-mini'
    """
    t = text.strip() if type(text) is str else ""
    m = _GROWTH.match(t)
    if m:
        g = float(m[1]) / (100 if m[2] or abs(float(m[1])) > 5 else 1)
        if g <= -1:
            raise ValidationError(f"what_if={text!r} is not valid: growth must be above -100%")
        return WhatIf(t, growth=g)
    m = _MOVE.match(t)
    if m:
        return WhatIf(t, dimension=check_dimension(m[1]), value=m[2], target_model=m[3])
    raise ValidationError(f"what_if={text!r} is not valid: use 'growth=20%' or 'move:model=gpt-4o->gpt-4o-mini' "
                          "(move:DIMENSION=VALUE->TARGET_MODEL)")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Scenario:
    """The total forecast under a what-if, and how it differs from the baseline."""

    what_if: WhatIf
    line: ForecastLine
    delta_next: Decimal
    """Scenario minus baseline over the horizon."""
    delta_end_of_month: Decimal
    moved_share: float
    """Share of the history's cost that the scenario moved to another model (0 for growth)."""
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {"what_if": self.what_if.text, "forecast": self.line.to_dict(),
                "delta_next": money_text(self.delta_next), "delta_end_of_month": money_text(self.delta_end_of_month),
                "moved_share": round(self.moved_share, 6), "note": self.note}  # fmt: skip


def _repriced(store: Store, flt: Filter, w: WhatIf, tz: tzinfo) -> tuple[dict[date, Decimal], dict[date, Decimal]]:
    """Per day: the stored cost of the traffic to move, and its cost repriced on the target model."""
    from ..pricing import calculate_cost

    assert w.dimension is not None and w.value is not None and w.target_model is not None
    where = {**flt.where, w.dimension: (w.value,)}
    moved = Filter(since=flt.since, until=flt.until, where=where, success=flt.success)
    before: dict[date, Decimal] = {}
    after: dict[date, Decimal] = {}
    for g in store.aggregate(moved, by=("model",), bucket="day", tz=tz):
        t = g.totals
        if g.bucket is None or not t.calls:
            continue
        day = g.bucket.date()
        # Price the average call and multiply, so tiered prices see call-sized prompts, not a day's worth.
        cr, cw = t.cache_read_tokens // t.calls, t.cache_write_tokens // t.calls
        unit = calculate_cost(w.target_model, max(t.input_tokens // t.calls, cr + cw), t.output_tokens // t.calls,
                              cache_read_tokens=cr, cache_write_tokens=cw, at=g.bucket)  # fmt: skip
        before[day] = before.get(day, Decimal(0)) + t.cost_usd
        after[day] = after.get(day, Decimal(0)) + unit.total * t.calls
    return before, after


# -- the result -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Forecast:
    """Forecasts of the total and (with `by`) of each dimension value, with an optional what-if."""

    at: datetime
    tz_name: str
    horizon_days: int
    level: float
    """The interval's coverage (0.8)."""
    history_since: datetime
    total: ForecastLine
    by: str | None = None
    groups: list[ForecastLine] = field(default_factory=list)
    scenario: Scenario | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(), "tz": self.tz_name, "horizon_days": self.horizon_days, "level": self.level,
            "history_since": self.history_since.isoformat(), "total": self.total.to_dict(), "by": self.by,
            "groups": [g.to_dict() for g in self.groups],
            "scenario": self.scenario.to_dict() if self.scenario else None,
        }  # fmt: skip


def forecast(
    *,
    by: str | None = None,
    days: int = 30,
    history_days: int = 56,
    what_if: str | WhatIf | None = None,
    level: float = 0.8,
    tz: str | tzinfo | None = None,
    store: Store | str | None = None,
    now: datetime | None = None,
    **filters: Any,
) -> Forecast:
    """Forecast spend for the next `days` full days and to the end of the month, with an interval.

    Args:
        by: also forecast each value of this dimension (`agent`, `model`, `label:team`, …).
        days: the horizon in days, from tomorrow.
        history_days: how many past days to fit on (at most).
        what_if: `growth=20%` or `move:DIMENSION=VALUE->MODEL` (see `parse_what_if`).
        level: the interval's coverage.
        tz, store, now: the zone days are counted in, the store (default: the default tracker's), the time.
        **filters: `model=`, `agent=`, `labels={...}`, … as for the other reports.

    Returns:
        A Forecast; `.total.method` names the method, `.to_dict()` is the JSON shape.

    Raises:
        ValidationError: a bad argument. UnknownModelError: a what-if's target model has no price.

    Example:
        >>> forecast(store="memory://", tz="UTC").total.method
        'no_data'
    """
    if type(days) is not int or not 1 <= days <= 366:
        raise ValidationError(f"days={days!r} is not valid: expected a whole number of days from 1 to 366")
    if type(history_days) is not int or history_days < 1:
        raise ValidationError(f"history_days={history_days!r} is not valid: expected a whole number of days >= 1")
    if not 0 < level < 1:
        raise ValidationError(f"level={level!r} is not valid: expected a fraction such as 0.8")
    zone = resolve_tz(tz)
    now = now or datetime.now(timezone.utc)
    local = now.astimezone(zone)
    today = local.date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=zone)
    day_fraction = min(1.0, max(0.0, (now - midnight).total_seconds() / 86400))
    since = min(midnight - timedelta(days=history_days), datetime(today.year, today.month, 1, tzinfo=zone))
    window = Window(since=since, until=midnight + timedelta(days=1), tz=zone, label=f"last {history_days} days")
    flt = make_filter(window, filters)
    st = resolve_store(store)
    dims = (check_dimension(by),) if by else ()
    total: dict[date, Decimal] = {}
    per: dict[tuple[str | None, ...], dict[date, Decimal]] = {}
    for g in st.aggregate(flt, by=dims, bucket="day", tz=zone):
        if g.bucket is None:
            continue
        d = g.bucket.astimezone(zone).date()
        total[d] = total.get(d, Decimal(0)) + g.totals.cost_usd
        if dims:
            per.setdefault(g.key, {})[d] = g.totals.cost_usd
    fit_from = today - timedelta(days=history_days)
    base = _line((), total, today, day_fraction, days, level, fit_from)
    groups = sorted((_line(k, s, today, day_fraction, days, level, fit_from) for k, s in per.items()),
                    key=lambda ln: (-ln.next_total, tuple(v or "" for v in ln.key)))  # fmt: skip
    scenario = None
    if what_if is not None:
        w = what_if if isinstance(what_if, WhatIf) else parse_what_if(what_if)
        if w.target_model is None:
            line = _line((), total, today, day_fraction, days, level, fit_from, scale=1 + w.growth)
            note, moved_share = f"future traffic x{1 + w.growth:g}; spend so far this month unchanged", 0.0
        else:
            before, after = _repriced(st, flt, w, zone)
            adjusted = {d: total.get(d, Decimal(0)) - before.get(d, Decimal(0)) + after.get(d, Decimal(0))
                        for d in set(total) | set(after) if d < today}  # fmt: skip
            adjusted[today] = total.get(today, Decimal(0))  # today so far is spent; the move applies from tomorrow
            line = _line((), adjusted, today, day_fraction, days, level, fit_from)
            hist = sum((v for d, v in total.items() if d < today), Decimal(0))
            moved_share = float(sum((v for d, v in before.items() if d < today), Decimal(0)) / hist) if hist else 0.0
            note = (f"{w.dimension}={w.value} repriced on {w.target_model} from stored tokens (cache reads and writes "
                    "at the target's cache prices, assuming the same cache hit rate)")  # fmt: skip
        scenario = Scenario(w, line, line.next_total - base.next_total, line.end_of_month - base.end_of_month,
                            moved_share, note)  # fmt: skip
    return Forecast(at=now, tz_name=getattr(zone, "key", None) or str(zone), horizon_days=days, level=level,
                    history_since=since, total=base, by=by, groups=groups, scenario=scenario)  # fmt: skip


# -- backtest -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backtest:
    """How the method did on held-out days: fit on all but the last `horizon` days, forecast those."""

    method: str
    train_days: int
    horizon: int
    mape: float
    """Mean absolute percentage error of the daily forecasts (days with actual 0 skipped), in %."""
    total_error: float
    """(forecast total - actual total) / actual total over the horizon, in %."""
    covered: bool
    """Whether the actual total fell inside the interval."""


def backtest(values: Sequence[float], first: date, *, horizon: int = 30, level: float = 0.8) -> Backtest:
    """Backtest the forecasting method on a daily series starting at `first`.

    Example:
        >>> b = backtest([10.0] * 40, date(2026, 1, 5), horizon=10)
        >>> b.method, round(b.mape, 6)
        ('level', 0.0)
    """
    if len(values) <= horizon:
        raise ValidationError(f"backtest needs more than horizon={horizon} days, got {len(values)}")
    train, test = list(values[:-horizon]), list(values[-horizon:])
    model = fit_daily(train, first)
    start = first + timedelta(days=len(train))
    preds = [model.point(start + timedelta(days=i)) for i in range(horizon)]
    errors = [abs(p - a) / a for p, a in zip(preds, test, strict=True) if a]
    mean, low, high = model.interval([(start + timedelta(days=i), 1.0) for i in range(horizon)], level)
    actual = sum(test)
    return Backtest(model.method, len(train), horizon, 100 * sum(errors) / len(errors) if errors else 0.0,
                    100 * (mean - actual) / actual if actual else 0.0, low <= actual <= high)  # fmt: skip
