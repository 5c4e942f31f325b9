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

Backends are found by scheme in a registry (`registry`): the built-ins above, anything given to
`register_store(scheme, factory)`, and any installed package's `tokentrail.stores` entry point — so a backend can
live in another package. A backend implements `CallStore` (calls) and, if it keeps shared state for budgets and
alerts, `MetaStore` (`Store` is both); `tokentrail.testing` ships the contract suite every backend must pass.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import (
    DIMENSIONS,
    CallStore,
    Filter,
    Group,
    MetaStore,
    PercentileRow,
    Store,
    Totals,
    check_dimension,
    require_meta,
)
from .location import Location, locate, require_existing
from .redact import mask_url
from .registry import ENTRY_POINT_GROUP, StoreFactory, known_schemes, register_store, store_factory

__all__ = [
    "DIMENSIONS",
    "CallStore",
    "Filter",
    "Group",
    "Location",
    "MetaStore",
    "PercentileRow",
    "Store",
    "StoreFactory",
    "Totals",
    "check_dimension",
    "known_schemes",
    "locate",
    "mask_url",
    "open_store",
    "register_store",
    "require_meta",
    "shown_location",
]


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
        An open Store (a `CallStore` only, if its backend keeps no metadata).

    Raises:
        ConfigError: the URL is malformed, names an unknown backend (the message lists the known schemes), or the
            backend returned something that is not a store.
        StoreError: the store cannot be opened (unwritable path, bad credentials, newer schema), or it does
            not exist and `create` is false.

    Example:
        >>> open_store("memory://").url
        'memory://'
    """
    location = locate(url)
    factory = store_factory(location.scheme)
    if factory is None:
        raise ConfigError(
            f"store URL {mask_url(url)!r} has unknown scheme {location.scheme!r}: use one of "
            f"{', '.join(known_schemes())}, or install the package that provides it (a {ENTRY_POINT_GROUP!r} "
            "entry point) or register it with tokentrail.store.register_store()"
        )
    if not create:
        require_existing(location)
    store = factory(location.url, create=create, **options)
    if not isinstance(store, CallStore):
        missing = [name for name in _CALL_MEMBERS if not hasattr(store, name)]
        raise ConfigError(
            f"the {location.scheme!r} store backend returned {type(store).__name__}, which is not a store: "
            f"it lacks {', '.join(missing)} (see tokentrail.store.CallStore)"
        )
    # Typed `Store` for the callers that predate the split; a calls-only backend's store is a CallStore, and what
    # needs metadata (budgets, alerts) checks with require_meta().
    return store  # type: ignore[return-value]


_CALL_MEMBERS = ("url", "write", "calls", "aggregate", "percentiles", "delete", "close")
