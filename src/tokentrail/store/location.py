"""Where a store lives: one rule for every file-based store URL, and plain paths.

The rule: what follows `sqlite://` or `jsonl://` is a path, read as a shell reads it.

- `sqlite:///data/usage.db` is the absolute path `/data/usage.db` (like `file:///data/usage.db`);
  `sqlite:////data/usage.db` (SQLAlchemy's spelling of an absolute path) means the same.
- `sqlite://~/usage.db` (or `sqlite:///~/usage.db`) is in the home folder.
- `sqlite://usage.db` and `sqlite://./data/usage.db` are relative to the current folder.
- The same holds for `jsonl://` (a folder). `sqlite:///:memory:` is an in-memory SQLite database.
- A plain path needs no scheme: an existing folder, or a path ending in `/`, is a JSONL store; an existing
  file, or a name ending in `.db`, `.sqlite`, `.sqlite3` or `.db3`, is a SQLite store.

Every path is resolved to an absolute one at once, so messages always name the place meant.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, StoreError

__all__ = ["FILE_SCHEMES", "SQLITE_SUFFIXES", "Location", "locate", "require_existing"]

FILE_SCHEMES = ("sqlite", "jsonl")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")
_MEMORY_PATHS = (":memory:", "/:memory:")
_SCHEME_TYPO = re.compile(r"^(memory|jsonl|sqlite|postgresql|postgres):/?(?!/)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Location:
    """A store URL resolved: its scheme and, for a file store, the absolute path it names."""

    scheme: str
    """`memory`, `jsonl`, `sqlite` or `postgresql` (`postgres` is spelled `postgresql`)."""
    path: Path | None
    """The absolute file (SQLite) or folder (JSONL); None for memory, PostgreSQL and `sqlite:///:memory:`."""
    query: str = ""
    """The URL's `?…` options (JSONL), without the `?`."""
    url: str = ""
    """The URL as given, for a network store; the canonical `scheme:///absolute/path` for a file store."""


def locate(url: str) -> Location:
    """Resolve a store URL or a plain path (see the module docs for the rule).

    Args:
        url: A store URL (`sqlite:///abs.db`, `jsonl://./dir`, `memory://`, `postgresql://…`) or a path.

    Returns:
        The scheme and, for a file store, its absolute path.

    Raises:
        ConfigError: the URL is malformed, or a plain path does not say which kind of store it is.

    Example:
        >>> locate("sqlite:///data/usage.db").path
        PosixPath('/data/usage.db')
    """
    if type(url) is not str or not url.strip():
        raise ConfigError(
            f"store URL {url!r} is not valid: expected memory://, jsonl:///dir, sqlite:///path.db, "
            "postgresql://… or a path (./usage.db, a folder for JSONL)"
        )
    if "://" not in url:
        return _locate_plain(url)
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme not in FILE_SCHEMES:
        return Location("postgresql" if scheme == "postgres" else scheme, None, url=url)
    text, _, query = rest.partition("?")
    if scheme == "sqlite":
        if query:
            raise ConfigError(f"store URL {url!r} is not valid: a SQLite store takes no ?options")
        if text in _MEMORY_PATHS:
            return Location("sqlite", None, url="sqlite:///:memory:")
    if sqlite_folder := (scheme == "sqlite" and text.endswith("/") and text.strip("/")):
        raise ConfigError(f"store URL {url!r} names a folder ({sqlite_folder!r}): a SQLite store is a file")
    if not text.strip("/"):
        raise ConfigError(
            f"store URL {url!r} names no path: use {scheme}:///absolute/path, {scheme}://~/path or "
            f"{scheme}://relative/path"
        )
    path = _absolute(text)
    return Location(scheme, path, query, f"{scheme}://{path}" + (f"?{query}" if query else ""))


def _absolute(text: str) -> Path:
    if text.startswith("/"):
        text = "/" + text.lstrip("/")  # sqlite:////abs (SQLAlchemy's absolute form) is /abs too
        if text.startswith("/~"):
            text = text[1:]  # sqlite:///~/x.db has always meant the home folder
    return Path(os.path.abspath(os.path.expanduser(text)))


def _locate_plain(text: str) -> Location:
    typo = _SCHEME_TYPO.match(text)
    if typo:
        scheme = typo[1].lower()
        raise ConfigError(f"store URL {text!r} is not valid: write {scheme}://… (two slashes after the colon)")
    path = _absolute(text)
    if path.is_dir() or text.endswith(("/", os.sep)):
        return Location("jsonl", path, url=f"jsonl://{path}")
    if path.is_file() or path.suffix.lower() in SQLITE_SUFFIXES:
        return Location("sqlite", path, url=f"sqlite://{path}")
    raise ConfigError(
        f"store URL {text!r} has no scheme, and as a path ({str(path)!r}) it does not say which store it is: "
        "end a SQLite file name in .db, end a JSONL folder with '/', or write sqlite://PATH or jsonl://PATH"
    )


def require_existing(location: Location) -> None:
    """Refuse a file store that is not there yet: commands that only read never create one.

    Raises:
        StoreError: the SQLite file or the JSONL folder does not exist (the message names its absolute path).
    """
    path = location.path
    if path is None:
        return
    hint = (
        "check --store / TOKENTRAIL_STORE (sqlite:///absolute/path.db, sqlite://relative/path.db or a plain path); "
        "a store is created by the first call recorded into it"
    )
    if location.scheme == "sqlite":
        if path.is_dir():
            raise StoreError(f"no SQLite store at {str(path)!r}: it is a folder, not a database file; {hint}")
        if not path.exists():
            raise StoreError(f"no SQLite store at {str(path)!r}: the file does not exist; {hint}")
    elif location.scheme == "jsonl":
        if path.exists() and not path.is_dir():
            raise StoreError(f"no JSONL store at {str(path)!r}: it is a file, not a folder; {hint}")
        if not path.exists():
            raise StoreError(f"no JSONL store at {str(path)!r}: the folder does not exist; {hint}")
