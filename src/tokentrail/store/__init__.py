"""Where Calls are kept: one `Store` protocol, backends chosen by URL.

- `memory://` — in this process only.
- `jsonl:///abs/dir` — daily folders of JSON lines, with retention and a size cap.
- `sqlite:///abs/path.db` (the default) — WAL mode, safe for many threads and processes.
- `postgresql://user@host/db` — for a team (`pip install 'tokentrail[postgres]'`).

File stores follow one path rule (`location`): what follows `sqlite://` or `jsonl://` is a path as a shell
reads it, so `sqlite:///data/x.db` is `/data/x.db`, `sqlite://data/x.db` and `sqlite://./data/x.db` are
relative to the current folder, `sqlite://~/x.db` is in the home folder (`sqlite:////data/x.db` still
means `/data/x.db`). A plain path is accepted too: `./usage.db`, `~/x.db`, `/abs/x.db` (SQLite, by the
`.db` ending or an existing file) or a folder (JSONL). Opened stores report the resolved absolute path in
`url` and in every error. Only writers create a store: `open_store(url, create=False)` (what reports,
`doctor`, `export` and `copy --from` use) refuses a SQLite file or JSONL folder that does not exist.

Every backend stores a batch atomically, skips a call whose `id` or `response_id` is already stored,
streams `calls()` in constant memory, and answers `aggregate()`/`percentiles()` inside the database
where there is one. Backends are imported only when their URL is opened.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import DIMENSIONS, Filter, Group, PercentileRow, Store, Totals, check_dimension
from .location import Location, locate, require_existing
from .redact import mask_url

__all__ = [
    "DIMENSIONS",
    "Filter",
    "Group",
    "Location",
    "PercentileRow",
    "Store",
    "Totals",
    "check_dimension",
    "locate",
    "mask_url",
    "open_store",
    "shown_location",
]

SCHEMES = ("memory", "jsonl", "sqlite", "postgresql", "postgres")


def shown_location(url: str) -> str:
    """The store `url` resolved and safe to print: a file store as `scheme:///absolute/path`, a password masked.

    A URL that does not parse is shown as given (masked); opening it reports the error.

    Example:
        >>> shown_location("sqlite:///data/usage.db")
        'sqlite:///data/usage.db'
    """
    try:
        return mask_url(locate(url).url)
    except ConfigError:
        return mask_url(url) if isinstance(url, str) else repr(url)


def open_store(url: str, *, create: bool = True, **options: Any) -> Store:
    """Open the store named by `url` (or by a plain path: see the path rule above).

    Args:
        url: `memory://`, `jsonl:///dir`, `sqlite:///path.db`, `postgresql://…`, or a path.
        create: Create a SQLite file or JSONL folder that does not exist (writers). With `create=False`
            (commands that only read) a missing one is a `StoreError` naming its absolute path.
        **options: backend options (`retention_days`, `max_size_mb` for JSONL).

    Returns:
        An open Store.

    Raises:
        ConfigError: the URL is malformed or names an unknown backend.
        StoreError: the store cannot be opened (unwritable path, bad credentials, newer schema), or it does
            not exist and `create` is false.

    Example:
        >>> open_store("memory://").url
        'memory://'
    """
    location = locate(url)
    scheme = location.scheme
    if not create:
        require_existing(location)
    if scheme == "memory":
        from .memory import MemoryStore

        return MemoryStore(url)
    if scheme == "jsonl":
        from .jsonl import JsonlStore

        return JsonlStore.from_url(location.url, **options)
    if scheme == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore.from_url(location.url)
    if scheme == "postgresql":
        from .postgres import PostgresStore

        return PostgresStore.from_url(url)
    raise ConfigError(f"store URL {mask_url(url)!r} has unknown scheme {scheme!r}: use one of {', '.join(SCHEMES)}")
