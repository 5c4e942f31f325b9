"""A toy store backend, written from scratch the way another package would: `toy://NAME` and `toycalls://NAME`.

It knows tokentrail only through its public seam: the `CallStore`/`MetaStore` method names and signatures, the
`Call` objects it is handed, the `Filter` it is asked about (read by attribute) and the errors it raises. It does not
import `tokentrail.store` (not even for the result shapes: its groups and totals are its own classes with the same
fields), and it is found only through the `tokentrail.stores` entry-point group.

Stores live in a process-wide dict by NAME, like databases on a server: opening `toy://a` twice gives two handles on
one store, and opening with `create=False` a name that was never created fails as tokentrail's stores do.
`toycalls://` keeps calls only (no `meta_*`), to show what a backend without metadata gets.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

from tokentrail.errors import StoreError, ValidationError

__all__ = ["ToyCallStore", "ToyStore", "open_toy_calls_store", "open_toy_store"]

_DIMENSIONS = ("model", "provider", "response_model", "operation", "agent", "user", "session", "project",
               "environment", "git_branch", "finish_reason")  # fmt: skip
_LABEL_KEY = re.compile(r"^[A-Za-z0-9_.\-/:]{1,64}$")
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


@dataclass
class ToyTotals:
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated_calls: int = 0
    unpriced_calls: int = 0
    cost_usd: Decimal = Decimal(0)
    timed_calls: int = 0
    duration_ms_sum: float = 0.0
    timed_output_tokens: int = 0
    ttft_calls: int = 0
    ttft_ms_sum: float = 0.0
    first_at: datetime | None = None
    last_at: datetime | None = None


@dataclass(frozen=True)
class ToyGroup:
    key: tuple[str | None, ...]
    bucket: datetime | None
    totals: ToyTotals


@dataclass(frozen=True)
class ToyPercentiles:
    key: tuple[str | None, ...]
    count: int
    values: tuple[float | None, ...]
    max_relative_error: float = 0.0


@dataclass
class _Data:
    calls: dict[str, Any] = field(default_factory=dict)
    response_ids: set[str] = field(default_factory=set)
    meta: dict[tuple[str, str], str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_SERVER: dict[str, _Data] = {}
_SERVER_LOCK = threading.Lock()


def _checked(dim: object) -> str:
    if type(dim) is str and (dim in _DIMENSIONS or (dim.startswith("label:") and _LABEL_KEY.match(dim[6:]))):
        return dim
    raise ValidationError(f"dimension={dim!r} is not known to the toy store")


def _value(call: Any, dim: str) -> str | None:
    if dim.startswith("label:"):
        value: str | None = call.labels.get(dim[6:])
        return value
    value = getattr(call, dim)
    return value


def _matches(flt: Any, call: Any) -> bool:
    at = call.started_at
    if (flt.since is not None and at < flt.since) or (flt.until is not None and at >= flt.until):
        return False
    if flt.success is not None and call.success is not flt.success:
        return False
    return all(_value(call, _checked(dim)) in values for dim, values in flt.where.items())


def _bucket_start(at: datetime, bucket: str, tz: tzinfo) -> datetime:
    local = at.astimezone(tz)
    if bucket == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    if bucket == "month":
        return datetime(local.year, local.month, 1, tzinfo=tz)
    day = datetime(local.year, local.month, local.day, tzinfo=tz)
    return day - timedelta(days=local.weekday()) if bucket == "week" else day


def _key_order(key: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, v or "") for v in key)


def _quantile(xs: list[float], q: float) -> float:
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


class ToyCallStore:
    """Calls only: what every backend must do."""

    def __init__(self, url: str, data: _Data) -> None:
        self.url = url
        self._data = data
        self._closed = False

    def _live(self) -> _Data:
        if self._closed:
            raise StoreError(f"toy store {self.url!r} is closed")
        return self._data

    def write(self, calls: Sequence[Any]) -> int:
        data = self._live()
        with data.lock:
            fresh: dict[str, Any] = {}
            responses: set[str] = set()
            for call in calls:
                rid = call.response_id
                if call.id in data.calls or call.id in fresh or rid in data.response_ids or rid in responses:
                    continue
                fresh[call.id] = call
                if rid is not None:
                    responses.add(rid)
            data.calls.update(fresh)  # the whole batch at once: nothing half-stored
            data.response_ids |= responses
        return len(fresh)

    def _matching(self, flt: Any) -> list[Any]:
        data = self._live()
        with data.lock:
            stored = list(data.calls.values())
        return [c for c in stored if _matches(flt, c)]

    def calls(self, filter: Any, *, limit: int | None = None, newest_first: bool = True) -> Iterator[Any]:
        found = sorted(self._matching(filter), key=lambda c: (c.started_at, c.id), reverse=newest_first)
        yield from found if limit is None else found[:limit]

    def aggregate(
        self, filter: Any, *, by: Sequence[str] = (), bucket: str | None = None, tz: tzinfo = timezone.utc
    ) -> list[ToyGroup]:
        dims = [_checked(d) for d in by]
        groups: dict[tuple[datetime | None, tuple[str | None, ...]], ToyTotals] = {}
        for c in self._matching(filter):
            start = _bucket_start(c.started_at, bucket, tz) if bucket else None
            _add(groups.setdefault((start, tuple(_value(c, d) for d in dims)), ToyTotals()), c)
        order = sorted(groups, key=lambda k: (k[0] or _EARLIEST, _key_order(k[1])))
        return [ToyGroup(key, start, groups[(start, key)]) for start, key in order]

    def percentiles(
        self,
        filter: Any,
        *,
        by: Sequence[str] = (),
        metric: str = "duration_ms",
        quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    ) -> list[ToyPercentiles]:
        dims = [_checked(d) for d in by]
        groups: dict[tuple[str | None, ...], list[float]] = {}
        for c in self._matching(filter):
            if (value := getattr(c, metric)) is not None:
                groups.setdefault(tuple(_value(c, d) for d in dims), []).append(value)
        rows = []
        for key in sorted(groups, key=_key_order):
            xs = sorted(groups[key])
            rows.append(ToyPercentiles(key, len(xs), tuple(_quantile(xs, q) for q in quantiles)))
        return rows

    def delete(self, filter: Any, *, batch_size: int = 10_000) -> int:
        data = self._live()
        with data.lock:
            doomed = [c for c in data.calls.values() if _matches(filter, c)]
            for c in doomed:
                del data.calls[c.id]
                data.response_ids.discard(c.response_id)
        return len(doomed)

    def close(self) -> None:
        self._closed = True


class ToyStore(ToyCallStore):
    """Calls and metadata."""

    def meta_get(self, namespace: str, key: str) -> str | None:
        data = self._live()
        with data.lock:
            return data.meta.get((namespace, key))

    def meta_put(self, namespace: str, key: str, value: str) -> None:
        data = self._live()
        with data.lock:
            data.meta[(namespace, key)] = value

    def meta_put_if_absent(self, namespace: str, key: str, value: str) -> bool:
        data = self._live()
        with data.lock:
            if (namespace, key) in data.meta:
                return False
            data.meta[(namespace, key)] = value
            return True

    def meta_delete(self, namespace: str, key: str) -> bool:
        data = self._live()
        with data.lock:
            return data.meta.pop((namespace, key), None) is not None

    def meta_items(self, namespace: str) -> dict[str, str]:
        data = self._live()
        with data.lock:
            return {k: v for (ns, k), v in data.meta.items() if ns == namespace}


def _add(t: ToyTotals, c: Any) -> None:
    t.calls += 1
    t.errors += not c.success
    for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        setattr(t, name, getattr(t, name) + getattr(c, name))
    t.estimated_calls += bool(c.tokens_estimated)
    if c.cost_usd is None:
        t.unpriced_calls += 1
    else:
        t.cost_usd += c.cost_usd
    if c.duration_ms is not None:
        t.timed_calls += 1
        t.duration_ms_sum += c.duration_ms
        t.timed_output_tokens += c.output_tokens
    if c.ttft_ms is not None:
        t.ttft_calls += 1
        t.ttft_ms_sum += c.ttft_ms
    t.first_at = c.started_at if t.first_at is None else min(t.first_at, c.started_at)
    t.last_at = c.started_at if t.last_at is None else max(t.last_at, c.started_at)


def _data_for(url: str, create: bool) -> _Data:
    name = url.partition("://")[2]
    if not name:
        raise StoreError(f"toy store URL {url!r} names no store: write toy://NAME")
    with _SERVER_LOCK:
        if name not in _SERVER:
            if not create:
                raise StoreError(f"no toy store named {name!r}: a store is created by the first call recorded into it")
            _SERVER[name] = _Data()
        return _SERVER[name]


def open_toy_store(url: str, *, create: bool = True, **options: Any) -> ToyStore:
    """The `tokentrail.stores` entry point for `toy://NAME`."""
    if options:
        raise StoreError(f"the toy store takes no options, got {sorted(options)!r}")
    return ToyStore(url, _data_for(url, create))


def open_toy_calls_store(url: str, *, create: bool = True, **options: Any) -> ToyCallStore:
    """The `tokentrail.stores` entry point for `toycalls://NAME` (calls only, no metadata)."""
    return ToyCallStore(url, _data_for(url, create))
