"""Where Calls are kept: one `Store` protocol, backends chosen by URL.

- `memory://` — in this process only.
- `jsonl:///abs/dir` — daily folders of JSON lines, with retention and a size cap.
- `sqlite:///abs/path.db` (the default) — WAL mode, safe for many threads and processes.
- `postgresql://user@host/db` — for a team (`pip install 'tokentrail[postgres]'`).

Every backend stores a batch atomically, skips a call whose `id` or `response_id` is already stored,
streams `calls()` in constant memory, and answers `aggregate()`/`percentiles()` inside the database
where there is one. Backends are imported only when their URL is opened.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError
from .base import DIMENSIONS, Filter, Group, PercentileRow, Store, Totals, check_dimension

__all__ = [
    "DIMENSIONS",
    "Filter",
    "Group",
    "PercentileRow",
    "Store",
    "Totals",
    "check_dimension",
    "mask_url",
    "open_store",
]

SCHEMES = ("memory", "jsonl", "sqlite", "postgresql", "postgres")


_QUERY_SECRET = re.compile(r"([?&](?:password|passwd|pwd|sslpassword)=)[^&#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`url` with any password (in the user part or a `?password=` parameter) replaced by `***`.

    Example:
        >>> mask_url("postgresql://app:s3cret@db/x?sslmode=require&password=s3cret")
        'postgresql://app:***@db/x?sslmode=require&password=***'
    """
    try:
        parts = urlsplit(url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            url = urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        pass
    return _QUERY_SECRET.sub(r"\1***", url)


def open_store(url: str, **options: Any) -> Store:
    """Open the store named by `url`.

    Args:
        url: `memory://`, `jsonl:///dir`, `sqlite:///path.db`, or `postgresql://…`.
        **options: backend options (`retention_days`, `max_size_mb` for JSONL).

    Returns:
        An open Store.

    Raises:
        ConfigError: the URL is malformed or names an unknown backend.
        StoreError: the store cannot be opened (unwritable path, bad credentials, newer schema).

    Example:
        >>> open_store("memory://").url
        'memory://'
    """
    if type(url) is not str or "://" not in url:
        raise ConfigError(
            f"store URL {url!r} is not valid: expected memory://, jsonl:///dir, sqlite:///path.db or postgresql://…"
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from .memory import MemoryStore

        return MemoryStore(url)
    if scheme == "jsonl":
        from .jsonl import JsonlStore

        return JsonlStore.from_url(url, **options)
    if scheme == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore.from_url(url)
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresStore

        return PostgresStore.from_url(url)
    raise ConfigError(f"store URL {mask_url(url)!r} has unknown scheme {scheme!r}: use one of {', '.join(SCHEMES)}")
