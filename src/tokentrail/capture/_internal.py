"""Capture's one internal-error path: a bug or surprise inside tokentrail is logged and counted, never raised.

A leaf module, so the stream proxies (`_stream`) and the call runner (`_common`) share it without importing
each other.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["internal_error"]

log = logging.getLogger("tokentrail")


def internal_error(tracker: Any, exc: BaseException) -> None:
    """A bug or surprise inside tokentrail: log it, count it, never raise it into the caller."""
    try:
        health = getattr(tracker, "health", None)
        if health is not None:
            health.internal_errors += 1
            health.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("tokentrail: capture error (ignored, the call is unaffected): %r", exc, exc_info=exc)
    except Exception:  # pragma: no cover - logging itself failed
        pass
