"""The Store protocol and the query shapes every backend answers.

A store keeps `Call` records and answers three kinds of question, always inside the database where
there is one: *which calls* (`calls`), *how much* grouped by dimensions and time buckets
(`aggregate`), and *how slow* (`percentiles`) — the `CallStore` protocol. Most stores also keep a little
shared metadata (`meta_*`, the `MetaStore` protocol) so that budgets and alert state are seen by every process
that uses the same store; `Store` is both, and what every built-in backend implements.

Dimensions are validated against a fixed list (or `label:KEY` with a safe key) before any backend
sees them, so no caller-supplied text ever becomes SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from ..errors import StoreError, ValidationError
from ..model import Call

__all__ = [
    "BUCKETS",
    "DIMENSIONS",
    "Bucket",
    "CallStore",
    "Filter",
    "Group",
    "MetaStore",
    "PercentileRow",
    "Store",
    "Totals",
    "check_dimension",
    "require_meta",
]

DIMENSIONS = (
    "model",
    "provider",
    "response_model",
    "operation",
    "agent",
    "user",
    "session",
    "project",
    "environment",
    "git_branch",
    "finish_reason",
)
"""Built-in dimensions for filters and group-bys; `label:KEY` adds any label."""

LABEL_PREFIX = "label:"
_LABEL_KEY = re.compile(r"^[A-Za-z0-9_.\-/:]{1,64}$")

Bucket = Literal["hour", "day", "week", "month"]
BUCKETS: tuple[str, ...] = ("hour", "day", "week", "month")
Metric = Literal["duration_ms", "ttft_ms"]


def check_dimension(name: object) -> str:
    """Return `name` if it is a built-in dimension or `label:KEY` with a safe key; else raise.

    Raises:
        ValidationError: unknown dimension, or a label key with characters outside `[A-Za-z0-9_.-/:]`.
    """
    if type(name) is str:
        if name in DIMENSIONS:
            return name
        if name.startswith(LABEL_PREFIX) and _LABEL_KEY.match(name[len(LABEL_PREFIX) :]):
            return name
    raise ValidationError(
        f"dimension={name!r} is not known: use one of {', '.join(DIMENSIONS)}, or label:KEY "
        "(KEY of letters, digits and _ . - / :, at most 64 characters)"
    )


def _check_time(name: str, value: datetime | None) -> None:
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        raise ValidationError(f"{name}={value!r} is not valid: expected a timezone-aware datetime")


@dataclass(frozen=True, slots=True)
class Filter:
    """Which calls a question is about. Every part is optional; parts combine with AND."""

    since: datetime | None = None
    """Earliest `started_at`, inclusive (timezone-aware)."""
    until: datetime | None = None
    """Latest `started_at`, exclusive (timezone-aware)."""
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Dimension (built-in or `label:KEY`) to the values it may take (any of them)."""
    success: bool | None = None
    """Only successful (True) or failed (False) calls."""

    def __post_init__(self) -> None:
        _check_time("since", self.since)
        _check_time("until", self.until)
        if self.since is not None and self.until is not None and self.until < self.since:
            raise ValidationError(f"until={self.until.isoformat()!r} is before since={self.since.isoformat()!r}")
        for dim, values in self.where.items():
            check_dimension(dim)
            if not isinstance(values, tuple) or not all(type(v) is str for v in values):
                raise ValidationError(f"filter {dim}={values!r} is not valid: expected a tuple of strings")

    def matches(self, call: Call) -> bool:
        """Whether `call` passes this filter (used by the in-Python backends)."""
        if self.since is not None and call.started_at < self.since:
            return False
        if self.until is not None and call.started_at >= self.until:
            return False
        if self.success is not None and call.success is not self.success:
            return False
        for dim, values in self.where.items():
            if dimension_value(call, dim) not in values:
                return False
        return True


def dimension_value(call: Call, dim: str) -> str | None:
    """The value of a (checked) dimension for one call."""
    if dim.startswith(LABEL_PREFIX):
        return call.labels.get(dim[len(LABEL_PREFIX) :])
    value: str | None = getattr(call, dim)
    return value


@dataclass(slots=True)
class Totals:
    """Sums over a set of calls. Cost sums only priced calls; `unpriced_calls` says how many were not."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated_calls: int = 0
    """Calls whose token counts are estimates."""
    unpriced_calls: int = 0
    """Calls with no known price (their cost is not in `cost_usd`)."""
    cost_usd: Decimal = Decimal(0)
    timed_calls: int = 0
    """Calls with a duration."""
    duration_ms_sum: float = 0.0
    timed_output_tokens: int = 0
    """Output tokens of the calls that have a duration (for tokens per second)."""
    ttft_calls: int = 0
    ttft_ms_sum: float = 0.0
    first_at: datetime | None = None
    last_at: datetime | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def avg_duration_ms(self) -> float | None:
        return self.duration_ms_sum / self.timed_calls if self.timed_calls else None

    @property
    def avg_ttft_ms(self) -> float | None:
        return self.ttft_ms_sum / self.ttft_calls if self.ttft_calls else None

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens per second of request time."""
        return self.timed_output_tokens / (self.duration_ms_sum / 1000) if self.duration_ms_sum > 0 else None

    def add(self, other: Totals) -> None:
        """Fold `other` into these totals."""
        for name in _SUM_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.first_at is not None and (self.first_at is None or other.first_at < self.first_at):
            self.first_at = other.first_at
        if other.last_at is not None and (self.last_at is None or other.last_at > self.last_at):
            self.last_at = other.last_at

    def add_call(self, call: Call) -> None:
        """Fold one call into these totals."""
        self.calls += 1
        self.errors += not call.success
        self.input_tokens += call.input_tokens
        self.output_tokens += call.output_tokens
        self.cache_read_tokens += call.cache_read_tokens
        self.cache_write_tokens += call.cache_write_tokens
        self.reasoning_tokens += call.reasoning_tokens
        self.estimated_calls += call.tokens_estimated
        if call.cost_usd is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += call.cost_usd
        if call.duration_ms is not None:
            self.timed_calls += 1
            self.duration_ms_sum += call.duration_ms
            self.timed_output_tokens += call.output_tokens
        if call.ttft_ms is not None:
            self.ttft_calls += 1
            self.ttft_ms_sum += call.ttft_ms
        if self.first_at is None or call.started_at < self.first_at:
            self.first_at = call.started_at
        if self.last_at is None or call.started_at > self.last_at:
            self.last_at = call.started_at


_SUM_FIELDS = (
    "calls", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "estimated_calls", "unpriced_calls", "cost_usd", "timed_calls", "duration_ms_sum",
    "timed_output_tokens", "ttft_calls", "ttft_ms_sum",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Group:
    """One row of an aggregate: the values of the group-by dimensions, the time bucket, the totals."""

    key: tuple[str | None, ...]
    """One value per requested dimension, in order (`None` where the call had none)."""
    bucket: datetime | None
    """Start of the time bucket in the requested time zone, or None when not bucketed."""
    totals: Totals


@dataclass(frozen=True, slots=True)
class PercentileRow:
    """Latency percentiles of one group."""

    key: tuple[str | None, ...]
    count: int
    """How many calls had a value for the metric."""
    values: tuple[float | None, ...]
    """One value per requested quantile, in milliseconds."""
    max_relative_error: float
    """0.0 when exact; otherwise the bound on |reported - true| / true of each value."""


@runtime_checkable
class CallStore(Protocol):
    """Where Calls are kept: what every backend implements (the calls half of `Store`).

    A backend that implements only this records and reports calls; budgets and alerts, which keep shared state,
    need a `MetaStore` too (`require_meta` says so by name).
    """

    url: str
    """The URL the store was opened with (password masked)."""

    def write(self, calls: Sequence[Call]) -> int:
        """Store a batch atomically; calls whose `id` or `response_id` is already stored are skipped.

        Returns the number of calls newly stored.
        """
        ...

    def calls(self, filter: Filter, *, limit: int | None = None, newest_first: bool = True) -> Iterator[Call]:
        """The calls that match, streamed (constant memory), ordered by `started_at`."""
        ...

    def aggregate(
        self,
        filter: Filter,
        *,
        by: Sequence[str] = (),
        bucket: Bucket | None = None,
        tz: tzinfo = timezone.utc,
    ) -> list[Group]:
        """Totals per distinct value of the `by` dimensions (and per time bucket in `tz`)."""
        ...

    def percentiles(
        self,
        filter: Filter,
        *,
        by: Sequence[str] = (),
        metric: Metric = "duration_ms",
        quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    ) -> list[PercentileRow]:
        """Quantiles of `metric` per group, with the error bound of the method used."""
        ...

    def delete(self, filter: Filter, *, batch_size: int = 10_000) -> int:
        """Delete matching calls in batches of at most `batch_size` rows; returns how many."""
        ...

    def close(self) -> None:
        """Release connections and files. The store must not be used afterwards."""
        ...


@runtime_checkable
class MetaStore(Protocol):
    """Shared metadata (namespace, key → text) seen by every process using the store: budgets, alert state.

    `meta_put_if_absent` is the one atomic step (a compare-and-set across processes) that budgets and alerts
    build on; every other method may be a plain read or write.
    """

    def meta_get(self, namespace: str, key: str) -> str | None:
        """A shared metadata value, or None."""
        ...

    def meta_put(self, namespace: str, key: str, value: str) -> None:
        """Set a shared metadata value."""
        ...

    def meta_put_if_absent(self, namespace: str, key: str, value: str) -> bool:
        """Set a value only if the key is new, atomically across processes; True if this call set it."""
        ...

    def meta_delete(self, namespace: str, key: str) -> bool:
        """Remove a key; True if it existed."""
        ...

    def meta_items(self, namespace: str) -> dict[str, str]:
        """Every key and value of a namespace."""
        ...


@runtime_checkable
class Store(CallStore, MetaStore, Protocol):
    """Calls and metadata: what every built-in backend (memory, jsonl, sqlite, postgresql) implements."""


_META_KINDS: set[type] = set()


def require_meta(store: CallStore, *, needed_by: str) -> Store:
    """`store` itself if it keeps metadata too; else a `StoreError` saying who needs it.

    Args:
        store: An open store.
        needed_by: What needs the metadata, for the message (e.g. `"budgets"`).

    Raises:
        StoreError: the store implements `CallStore` only.

    Example:
        >>> from tokentrail.store.memory import MemoryStore
        >>> require_meta(MemoryStore(), needed_by="budgets").url
        'memory://'
    """
    kind = type(store)
    if kind in _META_KINDS or isinstance(store, MetaStore):  # the cache: budgets ask on every guarded call
        _META_KINDS.add(kind)
        return store  # type: ignore[return-value]  # a CallStore that is a MetaStore is a Store
    raise StoreError(
        f"{needed_by} need a store that keeps metadata, and store {getattr(store, 'url', '?')!r} "
        f"({type(store).__name__}) keeps calls only (it has no meta_get/meta_put/meta_put_if_absent/meta_delete/"
        "meta_items): use a sqlite://, postgresql://, jsonl:// or memory:// store, or implement "
        "tokentrail.store.MetaStore in the backend"
    )
