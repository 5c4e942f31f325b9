"""`tokentrail alerts test|list|check`: the channels and rules of the config file's `[alerts]` table.

`test` sends a sample alert through every channel at once (a dead channel delays no other; a misconfigured
one is reported and the others are still tested) and says which delivered; `list` says in words what each
channel and rule does; `check` runs the rules against the store now and sends what fires (cooldowns apply).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from ..alerts import Alert, Channel, build_channel, build_rule, describe_channel, describe_rule, sample_alert
from ..errors import ConfigError
from .app import OutputFormat
from .budgets import config_tables
from .render import Column, emit, paint, table

__all__ = ["register", "send_all"]

StoreOpt = Annotated[str | None, typer.Option("--store", metavar="URL", show_default=False,
                                              help="Store URL (default: TOKENTRAIL_STORE, the config file, or the "
                                              "SQLite store).")]  # fmt: skip
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output: table, json or csv.")]
_NO_CHANNELS = ('no alert channels: add a [[alerts.channels]] table to tokentrail.toml, e.g. type = "slack" and '
                'url_env = "SLACK_WEBHOOK_URL" (types: log, console, webhook, slack, email, callable; '
                "'tokentrail config' shows which file is read)")  # fmt: skip


class _Broken:
    """A `[[alerts.channels]]` entry that could not be built: reported, never sent to."""

    def __init__(self, name: str, kind: str, error: ConfigError) -> None:
        self.name, self.kind, self.error = name, kind, error


def _channels() -> list[Channel | _Broken]:
    """Every configured channel; an entry with a mistake becomes a `_Broken` so the others still work."""
    tables = config_tables("alerts").get("channels", [])
    if not isinstance(tables, list):
        raise ConfigError("[alerts] channels must be an array of tables: [[alerts.channels]]")
    out: list[Channel | _Broken] = []
    for i, t in enumerate(tables):
        try:
            out.append(build_channel(t, f"[[alerts.channels]] #{i + 1}"))
        except ConfigError as exc:
            entry: Mapping[str, Any] = t if isinstance(t, Mapping) else {}
            kind = str(entry.get("type", "?"))
            out.append(_Broken(str(entry.get("name") or kind), kind, exc))
    return out


def send_all(channels: list[Channel], alert: Alert, timeout: float) -> list[tuple[str, str, float]]:
    """Send `alert` through every channel in parallel; (name, `ok` or the error, seconds) for each."""
    results: dict[int, tuple[str, str, float]] = {}

    def one(i: int, channel: Channel) -> None:
        t0 = time.monotonic()
        try:
            channel.send(alert, timeout)
            outcome = "ok"
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        results[i] = (channel.name, outcome, time.monotonic() - t0)

    threads = [threading.Thread(target=one, args=(i, c), daemon=True) for i, c in enumerate(channels)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + timeout + 1
    for th in threads:
        th.join(max(0.0, deadline - time.monotonic()))
    return [results.get(i, (c.name, f"no answer within {timeout:g} s", timeout)) for i, c in enumerate(channels)]


def register(app: typer.Typer) -> None:
    group = typer.Typer(name="alerts", help="Alert channels and rules: test, list, check.", no_args_is_help=True,
                        rich_markup_mode=None, add_completion=False)  # fmt: skip
    app.add_typer(group, name="alerts")

    @group.command("test", help="Send a sample alert through every configured channel and say which delivered.")
    def test(
        timeout: Annotated[float, typer.Option("--timeout", metavar="SECONDS", help="Per channel.")] = 10.0,
        fmt: FormatOpt = OutputFormat.table,
    ) -> None:
        configured = _channels()
        if not configured:
            raise ConfigError(_NO_CHANNELS)
        working = [c for c in configured if not isinstance(c, _Broken)]
        sent = iter(send_all(working, sample_alert(), timeout))
        results: list[tuple[str, str, float | None]] = [
            (c.name, f"not sent: {c.error}", None) if isinstance(c, _Broken) else next(sent) for c in configured
        ]
        rows = [[name, outcome, "-" if secs is None else f"{secs:.2f} s"] for name, outcome, secs in results]

        def text(color: bool) -> str:
            styled = [[n, paint(o, "green" if o == "ok" else "red", color), s] for n, o, s in rows]
            return table([Column("channel"), Column("result"), Column("time", True)], styled, color=color,
                         title="alerts test")  # fmt: skip

        def seconds(s: float | None) -> float | None:
            return None if s is None else round(s, 3)

        emit(fmt.value, data=lambda: [{"channel": n, "result": o, "seconds": seconds(s)} for n, o, s in results],
             csv_rows=lambda: (["channel", "result", "seconds"], [[n, o, seconds(s)] for n, o, s in results]),
             text=text)  # fmt: skip
        if any(o != "ok" for _, o, _ in results):
            raise typer.Exit(1)

    @group.command("list", help="The configured channels and rules.")
    def list_(fmt: FormatOpt = OutputFormat.table) -> None:
        configured = _channels()
        rules = [
            build_rule(t, f"[[alerts.rules]] #{i + 1}") for i, t in enumerate(config_tables("alerts").get("rules", []))
        ]
        channels = []
        for c in configured:
            kind, where = (c.kind, f"not usable: {c.error}") if isinstance(c, _Broken) else describe_channel(c)
            channels.append({"name": c.name, "type": kind, "delivers": where})
        data = {"channels": channels,
                "rules": [{"name": r.name, "watches": describe_rule(r)} for r in rules]}  # fmt: skip

        def text(color: bool) -> str:
            if not configured and not rules:
                return _NO_CHANNELS
            rows = [[c["name"], c["type"], c["delivers"]] for c in channels]
            out = [table([Column("channel"), Column("type"), Column("delivers")], rows, color=color, title="channels")
                   if channels else "no channels: alerts go to the 'tokentrail.alerts' logger"]  # fmt: skip
            out.append(table([Column("rule"), Column("watches")], [[r["name"], r["watches"]] for r in data["rules"]],
                             color=color, title="rules") if rules else "no rules")  # fmt: skip
            return "\n\n".join(out)

        emit(fmt.value, data=lambda: data,
             csv_rows=lambda: (["kind", "name", "type", "detail"],
                               [["channel", c["name"], c["type"], c["delivers"]] for c in channels]
                               + [["rule", r["name"], r["name"], r["watches"]] for r in data["rules"]]),
             text=text)  # fmt: skip
        if any(isinstance(c, _Broken) for c in configured):
            raise typer.Exit(1)

    @group.command("check", help="Run the configured rules against the store now and send what fires.")
    def check(store: StoreOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
        from ..alerts import alert_manager
        from ..tracker import Tracker

        tracker = Tracker(store)  # configures the [alerts] of the config file
        try:
            manager = alert_manager(tracker)
            fired: list[Alert] = manager.evaluate()
            manager.flush(30)
        finally:
            tracker.close()
        rows = [[a.rule, a.key, a.severity, a.title] for a in fired]

        def text(color: bool) -> str:
            if not manager.rules:
                return "no rules: add [[alerts.rules]] tables to tokentrail.toml"
            if not rows:
                return f"{len(manager.rules)} rule(s) checked: nothing to report"
            return table([Column("rule"), Column("key"), Column("severity"), Column("alert")], rows, color=color,
                         title="alerts sent")  # fmt: skip

        data: list[dict[str, Any]] = [a.to_dict() for a in fired]
        emit(fmt.value, data=lambda: data, csv_rows=lambda: (["rule", "key", "severity", "title"], rows), text=text)
