"""Move the record between stores: a laptop's SQLite history into the team's PostgreSQL, JSONL into SQLite.

`copy_calls` streams the source's calls oldest first and writes them to the destination in batches, so
memory stays flat whatever the size of the history (one batch, plus what the source's cursor holds).
Stores skip a call whose `id` (or `response_id`) they already hold, so a copy is idempotent: run it
again — after an interruption, or to top up — and only the calls that are not there yet are added.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone, tzinfo

from ..errors import ValidationError
from ..model import Call
from ..store import mask_url, open_store, shown_location
from ..store.base import Filter, Store
from .windows import parse_when, resolve_tz

__all__ = ["CopyResult", "copy_calls"]


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What a copy did."""

    read: int
    """Calls read from the source."""
    written: int
    """Calls newly stored in the destination."""
    skipped_duplicates: int
    """Calls the destination already held (same `id` or `response_id`), left as they were."""

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def copy_calls(
    source_url: str | Store,
    dest_url: str | Store,
    *,
    since: object = None,
    until: object = None,
    batch_size: int = 5000,
    tz: str | tzinfo | None = None,
    now: datetime | None = None,
    progress: Callable[[CopyResult], None] | None = None,
) -> CopyResult:
    """Copy the calls of `source_url` (optionally only `since`..`until`) into `dest_url`.

    Args:
        source_url: the store to read (a URL, or an open Store, which is left open).
        dest_url: the store to write (a URL, or an open Store, which is left open).
        since: first `started_at` to copy, inclusive: a datetime, an ISO date/datetime, or a span back
            from now (`30d`).
        until: `started_at` to stop at, exclusive (a date includes that whole day).
        batch_size: calls per write; memory holds one batch at a time.
        tz: the zone in which dates given as text are read (default: TOKENTRAIL_TZ or the machine's).
        now: the time spans like `30d` count back from (default: now).
        progress: called with the running totals after every batch.

    Returns:
        How many calls were read, newly written, and skipped as already there.

    Raises:
        ValidationError: bad `since`/`until`/`batch_size`, or the source and destination are one store.
        ConfigError: a URL is malformed.
        StoreError: a store cannot be opened, read or written. Batches written before the error stay
            written; running the copy again adds the rest.

    Example:
        >>> copy_calls("memory://", "memory://")
        CopyResult(read=0, written=0, skipped_duplicates=0)
    """
    if type(batch_size) is not int or batch_size < 1:
        raise ValidationError(f"batch_size={batch_size!r} is not valid: expected a whole number >= 1")
    zone = resolve_tz(tz)
    now = now or datetime.now(timezone.utc)
    flt = Filter(
        since=None if since is None else parse_when("since", since, zone, now),
        until=None if until is None else parse_when("until", until, zone, now, end=True),
    )
    if (
        isinstance(source_url, str)
        and isinstance(dest_url, str)
        and shown_location(source_url) == shown_location(dest_url)
    ):
        if not source_url.startswith("memory://"):  # sqlite:///x.db and /x.db are one store: compare where they are
            raise ValidationError(
                f"source and destination are the same store ({_shown(shown_location(source_url))!r}): nothing to copy; "
                "give a different destination"
            )
    source = open_store(source_url, create=False) if isinstance(source_url, str) else source_url
    try:
        dest = open_store(dest_url) if isinstance(dest_url, str) else dest_url
        try:
            return _stream(source, dest, flt, batch_size, progress)
        finally:
            if isinstance(dest_url, str):
                dest.close()
    finally:
        if isinstance(source_url, str):
            source.close()


def _shown(url: str) -> str:
    # mask_url() leaves a `?password=…` alone; hide that one too.
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", mask_url(url))


def _stream(
    source: Store, dest: Store, flt: Filter, batch_size: int, progress: Callable[[CopyResult], None] | None
) -> CopyResult:
    read = written = 0
    batch: list[Call] = []
    calls = source.calls(flt, newest_first=False)
    try:
        for call in calls:
            batch.append(call)
            if len(batch) >= batch_size:
                read, written = read + len(batch), written + dest.write(batch)
                batch = []
                if progress is not None:
                    progress(CopyResult(read, written, read - written))
        if batch:
            read, written = read + len(batch), written + dest.write(batch)
            if progress is not None:
                progress(CopyResult(read, written, read - written))
    finally:
        close = getattr(calls, "close", None)
        if close is not None:
            close()  # give a database cursor back at once, also when a write failed
    return CopyResult(read=read, written=written, skipped_duplicates=read - written)
