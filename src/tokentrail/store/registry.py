"""Which backend opens which URL scheme: a registry, filled by the built-ins and by other packages.

A backend is a *factory*: `factory(url, *, create, **options)` returns an open `CallStore` (a `Store` if it keeps
metadata too). `url` is the store URL as resolved by `location` (for a file store, `scheme:///absolute/path`);
`create=False` means the caller only reads, so a store that does not exist must not be created (raise
`StoreError`); `**options` are the caller's backend options. A factory raises `StoreError` when the store cannot
be opened (and `StoreUnavailableError`, its subclass, when the cause is the network, the disk or a lock).

Backends get here two ways, the same for ours and everybody else's:

- `register_store("toy", open_toy)` in code;
- an entry point in the `tokentrail.stores` group, named by the scheme, e.g. in the backend's `pyproject.toml`:
  `[project.entry-points."tokentrail.stores"]` / `toy = "toy_store:open_toy_store"`. Entry points are read
  only when a URL names a scheme that is not registered yet, and each is loaded only when its scheme is opened,
  so importing tokentrail stays cheap and a broken plugin breaks only its own scheme.

The built-ins (`memory`, `jsonl`, `sqlite`, `postgresql`/`postgres`) are registered at import, and declared as
entry points too; they work whether or not the package is installed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from .base import CallStore

__all__ = ["ENTRY_POINT_GROUP", "StoreFactory", "known_schemes", "open_jsonl", "open_memory", "open_postgres",
           "open_sqlite", "register_store", "store_factory"]  # fmt: skip

ENTRY_POINT_GROUP = "tokentrail.stores"

StoreFactory = Callable[..., CallStore]
"""`factory(url: str, *, create: bool, **options) -> CallStore`."""

_lock = threading.Lock()
_factories: dict[str, StoreFactory] = {}


def register_store(scheme: str, factory: StoreFactory) -> None:
    """Make `factory` open URLs that start with `scheme://` (replacing the one registered before, if any).

    Args:
        scheme: The URL scheme, e.g. `"toy"` for `toy://…` (compared without regard to case).
        factory: `factory(url, *, create, **options)` returning an open store.

    Raises:
        ConfigError: the scheme is not a plain name, or the factory is not callable.

    Example:
        >>> from tokentrail.store.memory import MemoryStore
        >>> register_store("scratch", lambda url, *, create, **options: MemoryStore(url))
        >>> from tokentrail.store import open_store
        >>> open_store("scratch://notes").url
        'scratch://notes'
    """
    if type(scheme) is not str or not scheme or not all(ch.isalnum() or ch in "+-." for ch in scheme):
        raise ConfigError(f"store scheme {scheme!r} is not valid: use letters, digits and + - . (e.g. 'toy')")
    if not callable(factory):
        raise ConfigError(f"store factory for scheme {scheme!r} is {factory!r}, not a callable")
    with _lock:
        _factories[scheme.lower()] = factory


def known_schemes() -> tuple[str, ...]:
    """Every scheme that can be opened: the registered ones and those declared by installed entry points."""
    with _lock:
        names = set(_factories)
    names.update(ep.name.lower() for ep in _entry_points())
    return tuple(sorted(names))


def store_factory(scheme: str) -> StoreFactory | None:
    """The factory registered for `scheme`, loading it from the `tokentrail.stores` entry points if need be.

    Raises:
        ConfigError: an entry point names the scheme but cannot be loaded (the message names the package).
    """
    scheme = scheme.lower()
    with _lock:
        factory = _factories.get(scheme)
    if factory is not None:
        return factory
    for ep in _entry_points():
        if ep.name.lower() != scheme:
            continue
        try:
            loaded: StoreFactory = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"store scheme {scheme!r} is declared by the entry point {ep.name} = {ep.value!r} "
                f"(group {ENTRY_POINT_GROUP!r}{_distribution(ep)}), which cannot be loaded: {exc!r}; "
                "reinstall or fix that package"
            ) from exc
        register_store(scheme, loaded)
        return loaded
    return None


def _entry_points() -> list[Any]:
    """The `tokentrail.stores` entry points installed now (read on each call: this runs only for unknown schemes)."""
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _distribution(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    return f", package {dist.name!r}" if dist is not None and getattr(dist, "name", None) else ""


# --- the built-in backends, imported only when their URL is opened ---------------------------------------------


def open_memory(url: str, *, create: bool = True, **options: Any) -> CallStore:
    """`memory://`: calls kept in this process (`create` and options have nothing to act on)."""
    from .memory import MemoryStore

    return MemoryStore(url)


def open_jsonl(url: str, *, create: bool = True, **options: Any) -> CallStore:
    """`jsonl:///dir`: daily folders of JSON lines (options: `retention_days`, `max_size_mb`)."""
    from .jsonl import JsonlStore

    return JsonlStore.from_url(url, **options)


def open_sqlite(url: str, *, create: bool = True, **options: Any) -> CallStore:
    """`sqlite:///path.db`: one file, WAL mode."""
    from .sqlite import SQLiteStore

    return SQLiteStore.from_url(url)


def open_postgres(url: str, *, create: bool = True, **options: Any) -> CallStore:
    """`postgresql://…` (or `postgres://…`): a PostgreSQL database."""
    from .postgres import PostgresStore

    return PostgresStore.from_url(url)


for _scheme, _factory in (
    ("memory", open_memory),
    ("jsonl", open_jsonl),
    ("sqlite", open_sqlite),
    ("postgresql", open_postgres),
    ("postgres", open_postgres),
):
    register_store(_scheme, _factory)
