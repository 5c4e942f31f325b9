"""`tokentrail doctor`: is tracking healthy here? The store in force, whether it opens, what it holds, what waits.

It shows the resolved store URL (password masked, a file store's path absolute) and where it came from,
whether the store opens (and the error when it does not: a missing store is not created), how many calls it
holds, how many calls trackers dropped because their queue was full (counted in the store by every process),
and the local spool — calls kept on disk while a store was failing. `--replay` writes the spooled calls of
this store now instead of waiting for the next writer.
Exit status 1 when the store does not open or a replay fails, so scripts and health checks can use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from ..errors import TokentrailError
from ..spool import SpoolStatus, spool_status
from ..store.drops import Drops
from .app import OutputFormat
from .render import emit, kv_block, paint

__all__ = ["Diagnosis", "diagnose", "register", "shown_url"]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """What `tokentrail doctor` found."""

    url: str
    """The store URL in force, password masked; a file store as its absolute path (`sqlite:///abs/x.db`)."""
    source: str
    """Where the URL came from (`argument`, `environment (TOKENTRAIL_STORE)`, `file (…)`, `default`)."""
    opens: bool
    error: str | None
    """Why the store does not open (or could not be counted), password masked."""
    calls: int | None
    """Calls the store holds (None when it does not open)."""
    spool: SpoolStatus
    """What waits in the local spool (every store's files), after any replay."""
    replayed: int | None = None
    """Spooled calls newly written by `--replay` (None without it)."""
    replay_error: str | None = None
    drops: Drops | None = None
    """Calls dropped (queue full) by every tracker writing to this store (None when it does not open)."""

    @property
    def healthy(self) -> bool:
        return self.opens and self.error is None and self.replay_error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": {"url": self.url, "source": self.source, "opens": self.opens, "error": self.error,
                      "calls": self.calls},
            "spool": {"folder": str(self.spool.folder), "files": self.spool.files, "calls": self.spool.calls,
                      "bytes": self.spool.bytes},
            "dropped": None if self.drops is None else self.drops.to_dict(),
            "replay": None if self.replayed is None and self.replay_error is None
            else {"replayed": self.replayed, "error": self.replay_error},
        }  # fmt: skip


_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*")


def shown_url(url: str) -> str:
    """`url` safe to print: `mask_url`, plus a password given as `?password=…` (which it leaves alone)."""
    from ..store import mask_url

    return _QUERY_PASSWORD.sub(r"\1***", mask_url(url))


def _scrub(message: str, url: str) -> str:
    """`message` with every password of `url` (in the netloc or the query) replaced by `***`."""
    secrets = [m.group(0).split("=", 1)[1] for m in _QUERY_PASSWORD.finditer(url)]
    try:
        secrets.append(urlsplit(url).password or "")
    except ValueError:
        pass
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message.replace(url, shown_url(url))


def diagnose(store: str | None = None, *, replay: bool = False) -> Diagnosis:
    """Check the store in force (or `store`) and the spool; with `replay`, write the spooled calls first.

    Raises:
        ConfigError: a setting (environment, config file) has a bad value.
    """
    from ..analysis import summary
    from ..config import default_home, resolve
    from ..store import open_store, shown_location
    from ..store.drops import read_drops
    from ..tracker import Tracker

    settings = resolve(store=store)
    url = settings.store
    replayed = replay_error = None
    if replay:
        tracker = Tracker(url)
        try:
            replayed = tracker.replay_spool()
            if tracker.health.last_error is not None:
                replay_error = _scrub(tracker.health.last_error, url)
        finally:
            tracker.close()
    opens, error, calls, drops = False, None, None, None
    try:
        opened = open_store(url, create=False)  # the doctor only looks: a typo'd path is not created
    except Exception as exc:  # the doctor reports every failure; it never crashes on one
        error = _scrub(str(exc) if isinstance(exc, TokentrailError) else f"{type(exc).__name__}: {exc}", url)
    else:
        opens = True
        try:
            calls = summary("all", store=opened, tz="UTC").totals.calls
            drops = read_drops(opened)
        except Exception as exc:
            error = _scrub(f"opens, but cannot be read: {exc}", url)
        finally:
            opened.close()
    return Diagnosis(
        url=shown_location(url), source=settings.sources.get("store", "default"), opens=opens, error=error, calls=calls,
        spool=spool_status(default_home() / "spool"), replayed=replayed, replay_error=replay_error, drops=drops,
    )  # fmt: skip


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")  # pragma: no cover


def _text(d: Diagnosis, color: bool) -> str:
    ok, bad = paint("yes", "green", color), paint("no", "red", color)
    pairs = [("store", f"{d.url} (from {d.source})"), ("opens", ok if d.opens else bad)]
    if d.error:
        pairs.append(("error", paint(d.error, "red", color)))
    if d.calls is not None:
        pairs.append(("calls", f"{d.calls:,}"))
    if d.drops is not None and d.drops.calls:
        pairs.append(("dropped", paint(d.drops.describe(), "yellow", color)))
    s = d.spool
    waiting = f"{s.calls:,} call(s) in {s.files:,} file(s), {_size(s.bytes)}"
    pairs.append(("spool", f"{s.folder}: {paint(waiting, 'yellow', color) if s.calls else waiting}"))
    if d.replayed is not None or d.replay_error is not None:
        done = f"wrote {d.replayed or 0:,} spooled call(s) to the store"
        pairs.append(("replay", paint(f"failed: {d.replay_error}", "red", color) if d.replay_error else done))
    lines = [kv_block(pairs, color=color, title="tokentrail doctor")]
    if d.drops is not None and d.drops.calls:
        lines.append("  a tracker's queue was full (the store too slow or down): raise TOKENTRAIL_QUEUE_SIZE "
                     "or check the store")  # fmt: skip
    if s.calls and d.replayed is None:
        lines.append("  calls wait in the spool; writers replay them when the store answers, "
                     "or run 'tokentrail doctor --replay'")  # fmt: skip
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command(
        "doctor",
        short_help="Check the store and the local spool.",
        help=(
            "Show the store in force (password masked) and where it came from, whether it opens, how many "
            "calls it holds, the calls trackers dropped (queue full), and the calls waiting in the local spool. "
            "Exit status 1 when the store does not open or a replay fails."
        ),
    )
    def doctor(
        store: Annotated[
            str | None,
            typer.Option(
                "--store", metavar="URL", show_default=False, help="Store URL (default: the configured store)."
            ),
        ] = None,
        replay: Annotated[bool, typer.Option("--replay", help="Write this store's spooled calls to it now.")] = False,
        format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output: table, json or csv.")] = (
            OutputFormat.table
        ),
    ) -> None:
        d = diagnose(store, replay=replay)
        data = d.to_dict()
        emit(
            format.value,
            data=lambda: data,
            csv_rows=lambda: (["check", "value"], [
                ["store", d.url], ["source", d.source], ["opens", d.opens], ["error", d.error], ["calls", d.calls],
                ["spool_folder", d.spool.folder], ["spool_files", d.spool.files], ["spool_calls", d.spool.calls],
                ["spool_bytes", d.spool.bytes], ["replayed", d.replayed], ["replay_error", d.replay_error],
                ["dropped_calls", d.drops and d.drops.calls],
                ["dropped_since", d.drops and d.drops.since and d.drops.since.isoformat()],
            ]),
            text=lambda color: _text(d, color),
        )  # fmt: skip
        if not d.healthy:
            raise typer.Exit(1)
