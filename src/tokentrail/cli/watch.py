"""`tokentrail watch`: a live view of the store — totals, current tokens/s and $/min, per-model bars,
the latest calls — refreshed every `--interval` seconds until Ctrl-C."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import typer

from ..analysis import Summary, summary
from ..analysis.export import select_calls
from ..analysis.rates import rates
from ..model import Call
from ..store import mask_url
from .app import report_command
from .options import ReportOptions
from .render import fmt_cost, fmt_ms, fmt_tokens

__all__ = ["register", "render_frame"]

RATE_WINDOW = timedelta(seconds=60)


def register(app: typer.Typer) -> None:
    @report_command(
        app,
        "watch",
        exclude=("format",),
        short_help="Live view: totals, tokens/s, $/min, models, calls.",
        help="A live view refreshed every --interval seconds: "
        "totals of the window (default: today), current tokens/s and $/min, cost per model, "
        "the latest calls. Ctrl-C stops.",
    )
    def watch(
        opts: ReportOptions,
        interval: Annotated[
            float, typer.Option("--interval", metavar="SECONDS", min=0.0, help="Seconds between refreshes.")
        ] = 2.0,
        recent: Annotated[int, typer.Option("--recent", metavar="N", min=0, help="How many latest calls to show.")] = 8,
        iterations: Annotated[int | None, typer.Option("--iterations", hidden=True)] = None,
    ) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console()
        with opts.report(default_period="today") as (store, kwargs):
            frame = _frame_source(store, kwargs, recent)
            done = 0
            try:
                with Live(frame(), console=console, refresh_per_second=4, transient=False) as live:
                    while iterations is None or done < iterations - 1:
                        time.sleep(interval)
                        live.update(frame())
                        done += 1
            except KeyboardInterrupt:
                return


def _frame_source(store: Any, kwargs: dict[str, Any], recent: int) -> Any:
    filters = {k: v for k, v in kwargs.items() if k not in ("period", "since", "until", "days")}  # keeps tz

    def frame() -> Any:
        now = datetime.now(timezone.utc)
        window = summary(store=store, now=now, **kwargs)
        rate = rates(RATE_WINDOW.total_seconds(), store=store, now=now, **filters)  # what tt.rates() gives
        latest: list[Call] = []
        if recent:
            _, calls = select_calls(store=store, now=now, limit=recent, **filters)
            latest = list(calls)
        return render_frame(window, rate, latest, store_url=mask_url(store.url), now=now)

    return frame


def _when(at: datetime, now: datetime, tz: Any) -> str:
    local = at.astimezone(tz)
    return local.strftime("%H:%M:%S" if local.date() == now.astimezone(tz).date() else "%b %d %H:%M")


def render_frame(window: Summary, rate: Summary, latest: list[Call], *, store_url: str, now: datetime) -> Any:
    """One frame of the live view as a Rich renderable."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    t, r = window.totals, rate.totals
    tz = window.window.tz
    secs = RATE_WINDOW.total_seconds()
    head = Table.grid(padding=(0, 3))
    for _ in range(6):
        head.add_column(justify="right")
    head.add_row(*(Text(x, style="dim") for x in ("calls", "tokens", "cost", "errors", "tokens/s", "$/min")))
    head.add_row(
        f"{t.calls:,}",
        fmt_tokens(t.total_tokens, t.estimated_calls > 0),
        Text(fmt_cost(t.cost_usd, t.calls, t.unpriced_calls), style="green"),
        Text(f"{t.errors:,}", style="red" if t.errors else ""),
        f"{r.total_tokens / secs:,.1f}",
        fmt_cost(r.cost_usd * 60 / int(secs)),
    )
    models = Table(box=None, show_header=True, header_style="bold", pad_edge=False, expand=False)
    models.add_column("model")
    models.add_column("cost", justify="right")
    models.add_column("", min_width=30)
    models.add_column("calls", justify="right")
    top = max((m.totals.cost_usd for m in window.by_model), default=0) or 1
    for m in window.by_model[:8]:
        width = int(30 * m.totals.cost_usd / top) if m.totals.cost_usd else 0
        models.add_row(
            m.key[0] or "(none)",
            fmt_cost(m.totals.cost_usd, m.totals.calls, m.totals.unpriced_calls),
            Text("█" * max(width, 1 if m.totals.calls else 0), style="cyan"),
            f"{m.totals.calls:,}",
        )
    calls = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    for name, justify in (
        ("time", "left"),
        ("model", "left"),
        ("agent", "left"),
        ("tokens", "right"),
        ("cost", "right"),
        ("latency", "right"),
        ("status", "left"),
    ):
        calls.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in latest:
        calls.add_row(
            _when(c.started_at, now, tz),
            c.model,
            c.agent or "",
            fmt_tokens(c.total_tokens, c.tokens_estimated),
            fmt_cost(c.cost_usd) if c.cost_usd is not None else Text("unpriced", style="yellow"),
            fmt_ms(c.duration_ms),
            Text("ok", style="green") if c.success else Text(f"error: {c.error_type or 'failed'}", style="red"),
        )
    title = f"tokentrail watch — {window.window.label} ({window.window.tz_name}) · {store_url}"
    parts: list[Any] = [head, Text(""), models if window.by_model else Text("no calls yet", style="dim")]
    if latest:
        parts += [Text(""), calls]
    subtitle = f"{now.astimezone(tz):%H:%M:%S} · rates over the last {int(secs)} s · Ctrl-C to stop"
    return Panel(Group(*parts), title=title, title_align="left", subtitle=subtitle, subtitle_align="right")
