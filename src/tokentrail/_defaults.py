"""What "no store given" means to the layers below the tracker, provided from above.

A report called without a store (`tokentrail.summary()`) reads the default tracker's store, flushed first so
the calls this process just recorded count. Analysis must not import the tracker (DESIGN: imports point down
the layer table, and analysis imports neither the tracker nor a view), so the package's composition root
(`tokentrail/__init__.py`) provides that store here when tokentrail is imported, and analysis asks here.
Standard library only, so `import tokentrail` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import ConfigError

__all__ = ["default_store", "provide_default_store"]

_provider: Callable[[], Any] | None = None


def provide_default_store(provider: Callable[[], Any]) -> None:
    """Make `provider()` the store that reports read when given none."""
    global _provider
    _provider = provider


def default_store() -> Any:
    """The store reports read when given none (the default tracker's, flushed first).

    Raises:
        ConfigError: nothing provides one (tokentrail's own `__init__` always does).
    """
    if _provider is None:
        raise ConfigError("no default store is provided: pass store= a Store or a store URL")
    return _provider()
