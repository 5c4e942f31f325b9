"""`memory://`: calls kept in a list in this process. For tests, demos and short scripts."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import timezone, tzinfo

from ..model import Call
from ._py import aggregate_calls, percentiles_of
from .base import Bucket, Filter, Group, Metric, PercentileRow

__all__ = ["MemoryStore"]


class MemoryStore:
    """A thread-safe in-process store; everything is lost when the process ends."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._ids: set[str] = set()
        self._response_ids: set[str] = set()
        self._meta: dict[tuple[str, str], str] = {}

    def write(self, calls: Sequence[Call]) -> int:
        added = 0
        with self._lock:
            for call in calls:
                if call.id in self._ids or (call.response_id is not None and call.response_id in self._response_ids):
                    continue
                self._calls.append(call)
                self._ids.add(call.id)
                if call.response_id is not None:
                    self._response_ids.add(call.response_id)
                added += 1
        return added

    def _snapshot(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls(self, filter: Filter, *, limit: int | None = None, newest_first: bool = True) -> Iterator[Call]:
        matching = sorted((c for c in self._snapshot() if filter.matches(c)), key=lambda c: (c.started_at, c.id))
        if newest_first:
            matching.reverse()
        yield from matching[:limit] if limit is not None else matching

    def aggregate(
        self, filter: Filter, *, by: Sequence[str] = (), bucket: Bucket | None = None, tz: tzinfo = timezone.utc
    ) -> list[Group]:
        return aggregate_calls(self._snapshot(), filter, by=by, bucket=bucket, tz=tz)

    def percentiles(
        self,
        filter: Filter,
        *,
        by: Sequence[str] = (),
        metric: Metric = "duration_ms",
        quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    ) -> list[PercentileRow]:
        return percentiles_of(self._snapshot(), filter, by=by, metric=metric, quantiles=quantiles)

    def delete(self, filter: Filter, *, batch_size: int = 10_000) -> int:
        with self._lock:
            keep = [c for c in self._calls if not filter.matches(c)]
            removed = len(self._calls) - len(keep)
            self._calls = keep
            self._ids = {c.id for c in keep}
            self._response_ids = {c.response_id for c in keep if c.response_id is not None}
        return removed

    def meta_get(self, namespace: str, key: str) -> str | None:
        with self._lock:
            return self._meta.get((namespace, key))

    def meta_put(self, namespace: str, key: str, value: str) -> None:
        with self._lock:
            self._meta[(namespace, key)] = value

    def meta_put_if_absent(self, namespace: str, key: str, value: str) -> bool:
        with self._lock:
            if (namespace, key) in self._meta:
                return False
            self._meta[(namespace, key)] = value
            return True

    def meta_delete(self, namespace: str, key: str) -> bool:
        with self._lock:
            return self._meta.pop((namespace, key), None) is not None

    def meta_items(self, namespace: str) -> dict[str, str]:
        with self._lock:
            return {k: v for (ns, k), v in self._meta.items() if ns == namespace}

    def close(self) -> None:
        pass
