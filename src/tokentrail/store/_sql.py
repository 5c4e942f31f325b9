"""SQL-side helpers shared by the SQL backends: time, money and latency encodings, query plans, filters.

Nothing here talks to a database. It holds the parts of a SQL store that do not depend on the engine:

- **time** as integer microseconds since the epoch (UTC), and the UTC offsets a time zone uses over a
  window, with the exact instants where they change, so buckets in any IANA zone can be computed in SQL;
- **money** as integer pico-dollars (exact for every price quoted to 6 decimals per million tokens) split
  into a micro-dollar part and a remainder so SQL sums never overflow, with exact text for the rest;
- **latency histograms** with log-spaced bins of ratio `LATENCY_RATIO`, and quantiles from them that are
  within `LATENCY_MAX_RELATIVE_ERROR` of the exact (linearly interpolated) quantile;
- **plans**: which parts of a time window can be read from hourly or daily rollups and which from raw rows;
- **filters**: a `Filter` as a WHERE clause whose every value is a bound parameter.
"""

from __future__ import annotations

import math
import sys
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from itertools import accumulate
from typing import Any

from .base import LABEL_PREFIX, Filter

__all__ = [
    "DAY_US",
    "HIST_DIMS",
    "HOUR_US",
    "LATENCY_MAX_RELATIVE_ERROR",
    "LATENCY_RATIO",
    "SERIES_DIMS",
    "MAX_BIN",
    "MIN_BIN",
    "ZERO_BIN",
    "HistSum",
    "Segment",
    "SqlFilter",
    "bin_of",
    "bin_value",
    "cost_code",
    "cost_sum",
    "from_us",
    "group_order",
    "hist_pack",
    "hist_quantiles",
    "offset_pieces",
    "plan_segments",
    "to_us",
]

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
SHIFT_US = 100_000 * DAY_US
"""Added before an integer division in SQL so that it floors (SQL truncates toward zero) for years after 1700."""

SERIES_DIMS = (
    "provider", "model", "response_model", "operation", "agent", "project", "environment", "git_branch",
    "finish_reason",
)  # fmt: skip
"""The low-cardinality dimensions: numbered once per distinct combination (with `success`) in a series table."""
HIST_DIMS = ("provider", "model")
"""The dimensions latency histograms are kept by (with `success`)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)


def to_us(at: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact)."""
    return (at - _EPOCH) // _US


def from_us(us: int) -> datetime:
    """The UTC datetime `us` microseconds after the epoch."""
    return _EPOCH + timedelta(microseconds=us)


# --- money ------------------------------------------------------------------------------------------

PICO = 10**12
_MICRO_IN_PICO = 10**6
_MAX_PICO = 2**63 - 1


def cost_code(cost: Decimal | None) -> int | str | None:
    """How a cost is kept for summing: integer pico-dollars when exact, else its exact text; None if unpriced."""
    if cost is None:
        return None
    scaled = cost.scaleb(12)
    pico = int(scaled)
    if pico == scaled and pico <= _MAX_PICO:
        return pico
    return str(cost)


def cost_sum(micro: int | None, pico_rest: int | None, texts: str | None) -> Decimal:
    """The exact total of costs summed in SQL as micro-dollars + pico remainders + space-separated exact texts."""
    pico = (micro or 0) * _MICRO_IN_PICO + (pico_rest or 0)
    total = Decimal(pico).scaleb(-12) if pico else Decimal(0)
    if texts:
        for part in texts.split():
            total += Decimal(part)
    return total


# --- latency histograms -----------------------------------------------------------------------------

LATENCY_RATIO = 1.02
"""Ratio between the edges of consecutive latency histogram bins."""
LATENCY_MAX_RELATIVE_ERROR = 0.01
"""Bound on |reported - exact| / exact of a histogram quantile: (r-1)/(r+1) = 0.0099 for r = 1.02, rounded up."""
BIN_SCALE = 1 / math.log(LATENCY_RATIO)
MIN_BIN = -999
"""Lowest bin of a positive latency: values up to r^-999 (2.6e-9 ms) are counted here."""
MAX_BIN = 1100
"""Highest bin: values above r^1099 (2.9e9 ms, 34 days) are counted here."""
ZERO_BIN = MIN_BIN - 1
"""The bin of a latency of exactly 0 ms (log-spaced bins cannot hold it); next to the others so packing stays small."""


def bin_of(value: float) -> int:
    """The bin holding `value`: bin `i` holds (r^(i-1), r^i], clamped to [MIN_BIN, MAX_BIN]; SQL does the same.

    Within the clamps (2.6e-9 ms to 34 days) every value is within `LATENCY_MAX_RELATIVE_ERROR` of its bin's value.
    """
    if value <= 0:
        return ZERO_BIN
    b = math.ceil(math.log(value) * BIN_SCALE)
    return MIN_BIN if b < MIN_BIN else MAX_BIN if b > MAX_BIN else b


def bin_value(b: int) -> float:
    """The value reported for bin `b`: 2·r^b/(1+r), within (r-1)/(r+1) of anything in the bin."""
    return 0.0 if b == ZERO_BIN else 2 * LATENCY_RATIO**b / (1 + LATENCY_RATIO)


def hist_quantiles(bins: Mapping[int, int], quantiles: Sequence[float]) -> tuple[int, tuple[float, ...]]:
    """Count and quantiles of a histogram, interpolating between ranks like the exact quantile does.

    Each rank's value is its bin's value (within the bound of the true value at that rank), and a convex
    combination of two such values is within the same bound of the exact interpolated quantile.
    """
    ordered = sorted((b, n) for b, n in bins.items() if n > 0)
    count = sum(n for _, n in ordered)
    if not count:
        return 0, tuple(0.0 for _ in quantiles)
    starts = list(accumulate((n for _, n in ordered), initial=0))[:-1]

    def at(rank: int) -> float:
        return bin_value(ordered[bisect_right(starts, rank) - 1][0])

    out = []
    for q in quantiles:
        pos = (count - 1) * q
        lo = int(pos)
        hi = min(lo + 1, count - 1)
        v_lo, v_hi = at(lo), at(hi)
        out.append(v_lo + (v_hi - v_lo) * (pos - lo))
    return count, tuple(out)


# Histograms are stored as (lo, counts): the bins from `lo` on, each count a little-endian 64-bit field. Read as
# one big integer, a histogram shifted to a common `lo` adds to another in a single integer addition, so merging
# a month of daily histograms is a few hundred C-speed additions instead of a Python loop over every bin.
_FIELD = 64
_FIELD_BYTES = _FIELD // 8


def hist_pack(bins: Mapping[int, int]) -> tuple[int, bytes]:
    """A sparse histogram (bin -> count) as (lowest bin, packed counts)."""
    lo = min(bins)
    counts = array("Q", bytes(_FIELD_BYTES * (max(bins) - lo + 1)))
    for b, n in bins.items():
        counts[b - lo] += n
    if sys.byteorder == "big":  # pragma: no cover - the fields are stored little-endian
        counts.byteswap()
    return lo, counts.tobytes()


class HistSum:
    """Adds packed histograms; `bins()` gives the total as bin -> count."""

    __slots__ = ("_lo", "_total")

    def __init__(self) -> None:
        self._lo: int | None = None
        self._total = 0

    def add(self, lo: int, packed: bytes) -> None:
        value = int.from_bytes(packed, "little")
        if self._lo is None:
            self._lo, self._total = lo, value
        elif lo >= self._lo:
            self._total += value << (_FIELD * (lo - self._lo))
        else:
            self._total = (self._total << (_FIELD * (self._lo - lo))) + value
            self._lo = lo

    def add_bins(self, bins: Mapping[int, int]) -> None:
        if bins:
            self.add(*hist_pack(bins))

    def packed(self) -> tuple[int, bytes] | None:
        """The sum as (lowest bin, packed counts) with no empty bins at either end, or None if empty."""
        if self._lo is None or not self._total:
            return None
        total, lo = self._total, self._lo
        low_zero_fields = ((total & -total).bit_length() - 1) // _FIELD
        total >>= _FIELD * low_zero_fields
        return lo + low_zero_fields, total.to_bytes(_FIELD_BYTES * -(-total.bit_length() // _FIELD), "little")

    def bins(self) -> dict[int, int]:
        packed = self.packed()
        if packed is None:
            return {}
        lo, data = packed
        counts = array("Q")
        counts.frombytes(data)
        if sys.byteorder == "big":  # pragma: no cover - the fields are stored little-endian
            counts.byteswap()
        return {lo + i: n for i, n in enumerate(counts) if n}


# --- time zones and plans ---------------------------------------------------------------------------


def _offset_us(tz: tzinfo, us: int) -> int:
    offset = from_us(us).astimezone(tz).utcoffset()
    return 0 if offset is None else offset // _US


def offset_pieces(tz: tzinfo, lo_us: int, hi_us: int) -> list[tuple[int, int]]:
    """The UTC offsets (µs) `tz` uses over [lo_us, hi_us], as (from_us, offset_us) pieces in time order.

    The first piece starts at `lo_us`; each later one at the exact microsecond its offset takes effect.
    Zones are sampled every 6 hours and each change is located by bisection, so two changes less than
    6 hours apart could be missed — no zone in the IANA database has those.
    """
    if isinstance(tz, timezone):
        return [(lo_us, _offset_us(tz, lo_us))]
    step = 6 * HOUR_US
    pieces = [(lo_us, _offset_us(tz, lo_us))]
    t = lo_us
    while t < hi_us:
        nxt = min(t + step, hi_us)
        off = _offset_us(tz, nxt)
        if off != pieces[-1][1]:
            a, b = t, nxt  # offset(a) == previous, offset(b) == new: find the first µs with the new one
            while b - a > 1:
                mid = (a + b) // 2
                if _offset_us(tz, mid) == off:
                    b = mid
                else:
                    a = mid
            pieces.append((b, off))
        t = nxt
    return pieces


def offset_case(pieces: Sequence[tuple[int, int]], column: str) -> str:
    """A SQL expression for the offset in force at `column` (integer literals only, no caller text)."""
    if len(pieces) == 1:
        return str(int(pieces[0][1]))
    whens = " ".join(
        f"WHEN {column} < {int(start)} THEN {int(prev[1])}"
        for prev, (start, _) in zip(pieces, pieces[1:], strict=False)
    )
    return f"(CASE {whens} ELSE {int(pieces[-1][1])} END)"


def unit_expr(column: str, pieces: Sequence[tuple[int, int]] | None, unit: int) -> str:
    """SQL for the local `unit` (hour or day) number of `column`: floor((t + offset(t)) / unit)."""
    offset = "0" if pieces is None else offset_case(pieces, column)
    return f"(({column} + {offset} + {SHIFT_US}) / {unit})"


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of a query window and where to read it from: `raw` rows, `hour` or `day` rollups."""

    level: str
    lo: int | None
    """Inclusive start (µs), None for unbounded."""
    hi: int | None
    """Exclusive end (µs), None for unbounded."""


def _ceil(us: int, unit: int) -> int:
    return -((-us) // unit) * unit


def plan_segments(
    since: int | None, until: int | None, *, use_hours: bool = True, use_days: bool = True
) -> list[Segment]:
    """Split [since, until) into whole days, whole hours around them, and raw partial hours at the edges.

    Levels not allowed become raw reads (adjacent raw parts are merged).
    """
    if not use_hours and not use_days:
        return [Segment("raw", since, until)]
    lo_h = None if since is None else _ceil(since, HOUR_US)
    hi_h = None if until is None else until // HOUR_US * HOUR_US
    if lo_h is not None and hi_h is not None and lo_h >= hi_h:
        return [Segment("raw", since, until)]
    out: list[Segment] = []
    if since is not None and lo_h != since:
        out.append(Segment("raw", since, lo_h))
    lo_d = None if lo_h is None else _ceil(lo_h, DAY_US)
    hi_d = None if hi_h is None else hi_h // DAY_US * DAY_US
    if not use_days or (lo_d is not None and hi_d is not None and lo_d >= hi_d):
        out.append(Segment("hour", lo_h, hi_h))
    else:
        if lo_h is not None and lo_h != lo_d:
            out.append(Segment("hour", lo_h, lo_d))
        out.append(Segment("day", lo_d, hi_d))
        if hi_h is not None and hi_h != hi_d:
            out.append(Segment("hour", hi_d, hi_h))
    if until is not None and hi_h != until:
        out.append(Segment("raw", hi_h, until))
    if use_hours:
        return out
    merged: list[Segment] = []
    for seg in out:
        level = "day" if seg.level == "day" else "raw"
        if merged and merged[-1].level == level == "raw":
            merged[-1] = Segment("raw", merged[-1].lo, seg.hi)
        else:
            merged.append(Segment(level, seg.lo, seg.hi))
    return merged


def aligned(pieces: Sequence[tuple[int, int]], unit: int) -> bool:
    """Whether every offset and every change instant is a whole number of `unit`s (so rollups line up)."""
    return all(off % unit == 0 for _, off in pieces) and all(start % unit == 0 for start, _ in pieces[1:])


def group_order(key: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    """Sort key of a group key: values in order, None last (as the memory store sorts)."""
    return tuple((v is None, v or "") for v in key)


# --- filters ----------------------------------------------------------------------------------------


@dataclass
class SqlFilter:
    """A Filter as SQL conditions with bound parameters.

    Built-in dimensions in `SERIES_DIMS` and `success` are looked up through the series table (alias given
    by `series`); other dimensions are columns of the calls table (alias `calls`), labels are read with
    `label_sql`, a function of the column and the parameter placeholder for the key path (bound once for
    every placeholder the expression holds).
    """

    param: str = "?"
    label_sql: Callable[[str, str], str] = lambda column, param: (
        # json_extract() ends a text at NUL; labels holding one (stored escaped as \u0000) go to tt_label().
        f"CASE WHEN instr({column}, '\\u0000') THEN tt_label({column}, {param}) "
        f"ELSE json_extract({column}, {param}) END"
    )
    label_path: Callable[[str], str] = lambda key: f'$."{key}"'
    conditions: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def values(self, values: Iterable[Any]) -> str:
        """A parenthesised list of placeholders for `values` (bound), or a false condition list if empty."""
        vs = list(values)
        self.params.extend(vs)
        return "(" + ", ".join([self.param] * len(vs)) + ")" if vs else "(NULL)"

    def dim_sql(self, dim: str, *, calls: str, series: str) -> str:
        """The SQL expression for a checked dimension (labels add their key path as a parameter)."""
        if dim.startswith(LABEL_PREFIX):
            sql = self.label_sql(f"{calls}.labels", self.param)
            self.params.extend([self.label_path(dim[len(LABEL_PREFIX) :])] * sql.count(self.param))
            return sql
        if dim in SERIES_DIMS:
            return f"{series}.{dim}"
        return f'{calls}."{dim}"'

    def add_time(self, column: str, lo: int | None, hi: int | None) -> None:
        """`lo <= column < hi` on integer microseconds."""
        if lo is not None:
            self.conditions.append(f"{column} >= {self.param}")
            self.params.append(lo)
        if hi is not None:
            self.conditions.append(f"{column} < {self.param}")
            self.params.append(hi)

    def add_filter(self, f: Filter, *, calls: str, series_id: str, series_table: str, key: str = "sid") -> None:
        """The dimension and success parts of `f` (time is added per segment with `add_time`)."""
        series_conds: list[str] = []
        for dim, vals in f.where.items():
            if dim in SERIES_DIMS:
                series_conds.append(f"{dim} IN {self.values(vals)}")
        if f.success is not None:
            series_conds.append(f"success = {self.param}")
            self.params.append(1 if f.success else 0)
        if series_conds:
            self.conditions.append(
                f"{series_id} IN (SELECT {key} FROM {series_table} WHERE {' AND '.join(series_conds)})"
            )
        for dim, vals in f.where.items():
            if dim not in SERIES_DIMS:
                expr = self.dim_sql(dim, calls=calls, series="")
                self.conditions.append(f"{expr} IN {self.values(vals)}")

    def sql(self) -> str:
        """`WHERE …` (or an empty string)."""
        return "WHERE " + " AND ".join(self.conditions) if self.conditions else ""
