"""Calls dropped because a tracker's queue was full, counted in the store's metadata for every process to see.

A tracker drops a call (rather than block the application) when its queue is full — the store is slow or
down. The count used to live only in the process (`Tracker.health.dropped`); the writer thread now also
saves it in the store's metadata, namespace `queue-drops`, one key per tracker (`HOST:PID:TOKEN`), so no two
processes ever write the same key and there is nothing to race. `tokentrail doctor` and `tokentrail stats`
add the keys up: "N calls dropped (queue full) since …", across processes and restarts.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime

from .base import Store

__all__ = ["DROPS_NS", "Drops", "drops_key", "read_drops", "save_drops"]

DROPS_NS = "queue-drops"
log = logging.getLogger("tokentrail")


@dataclass(frozen=True, slots=True)
class Drops:
    """Calls dropped (queue full) by every tracker that wrote to a store."""

    calls: int = 0
    since: datetime | None = None
    """The first drop counted."""
    last: datetime | None = None
    """The latest drop counted."""
    trackers: int = 0
    """How many trackers (processes) dropped calls."""

    def to_dict(self) -> dict[str, object]:
        return {
            "calls": self.calls,
            "since": self.since.isoformat() if self.since else None,
            "last": self.last.isoformat() if self.last else None,
            "trackers": self.trackers,
        }

    def describe(self) -> str:
        """`1,234 calls dropped (queue full) since 2026-12-06 14:31 UTC`."""
        since = f" since {self.since:%Y-%m-%d %H:%M} UTC" if self.since else ""
        return f"{self.calls:,} call{'' if self.calls == 1 else 's'} dropped (queue full){since}"


def drops_key() -> str:
    """The metadata key of one tracker: its host, process and a random token (a reused pid is a new key)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def save_drops(store: Store, key: str, calls: int, since: datetime, last: datetime) -> None:
    """Save one tracker's running count (it only grows; the writer thread calls this)."""
    value = {"calls": calls, "since": since.isoformat(), "last": last.isoformat()}
    store.meta_put(DROPS_NS, key, json.dumps(value, separators=(",", ":")))


def read_drops(store: Store) -> Drops:
    """The drops of every tracker that saved some in `store` (unreadable entries are skipped, logged)."""
    calls, trackers = 0, 0
    since: datetime | None = None
    last: datetime | None = None
    for key, text in store.meta_items(DROPS_NS).items():
        try:
            data = json.loads(text)
            n, first, latest = (
                int(data["calls"]),
                datetime.fromisoformat(data["since"]),
                datetime.fromisoformat(data["last"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("tokentrail: queue-drop count %r in the store cannot be read (skipped): %r", key, exc)
            continue
        calls += n
        trackers += 1
        since = first if since is None or first < since else since
        last = latest if last is None or latest > last else last
    return Drops(calls, since, last, trackers)
