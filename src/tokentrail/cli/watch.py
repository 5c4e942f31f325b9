"""`tokentrail watch`: a live view of the store — totals, current tokens/s and $/min, per-model bars,
the latest calls — refreshed every `--interval` seconds until Ctrl-C."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import typer

from ..analysis import Summary, summary
from ..analysis.export import select_calls
from ..analysis.rates import Rates, rates
from ..model import Call
from ..store import mask_url
from .app import report_command
from .options import ReportOptions
from .render import Column, abbreviate, fit_widths, fmt_cost, fmt_ms, fmt_tokens

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

        console = Console()
        with opts.report(default_period="today") as (store, kwargs):
            frame = _frame_source(store, kwargs, recent)
            try:
                if console.is_terminal:
                    _live(console, frame, interval, iterations)
                else:  # a pipe or a file: one plain frame per interval, no cursor movement
                    _print_frames(console, frame, interval, iterations)
            except KeyboardInterrupt:
                return


def _live(console: Any, frame: Any, interval: float, iterations: int | None) -> None:
    from rich.live import Live

    done = 1
    with Live(frame(), console=console, refresh_per_second=4, transient=False) as live:
        while iterations is None or done < iterations:
            time.sleep(interval)
            live.update(frame())
            done += 1


def _print_frames(console: Any, frame: Any, interval: float, iterations: int | None) -> None:
    done = 0
    while True:
        console.print(frame())
        console.file.flush()
        done += 1
        if iterations is not None and done >= iterations:
            return
        time.sleep(interval)


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


def render_frame(window: Summary, rate: Rates | Summary, latest: list[Call], *, store_url: str, now: datetime) -> Any:
    """One frame of the live view as a Rich renderable that fits the width it is printed in.

    `rate` holds the totals of the last `RATE_WINDOW` (from `rates()`, or a `summary()` of that span).

    Narrow terminals lose columns in a fixed order (latency, agent, tokens of the latest calls; the calls
    per model; the bars shrink) and long names are abbreviated; money is never cut.
    """
    return _Frame(window, rate, latest, store_url, now)


class _Frame:
    def __init__(
        self, window: Summary, rate: Rates | Summary, latest: list[Call], store_url: str, now: datetime
    ) -> None:
        self.window, self.rate, self.latest, self.store_url, self.now = window, rate, latest, store_url, now

    def __rich_console__(self, console: Any, options: Any) -> Any:
        dots = "…" if (console.encoding or "").lower().startswith("utf") else "."
        yield _panel(self.window, self.rate, self.latest, self.store_url, self.now, options.max_width, dots)


def _grid(columns: list[Column], rows: list[list[Any]], inner: int, dots: str) -> Any:
    """A borderless Rich table whose columns are fitted to `inner` by `fit_widths` (cells pre-abbreviated)."""
    from rich.table import Table
    from rich.text import Text

    natural = [max([len(c.header)] + [len(_plain(r[i])) for r in rows]) for i, c in enumerate(columns)]
    widths = fit_widths(columns, natural, inner)
    out = Table(box=None, show_header=True, header_style="bold", pad_edge=False, expand=False)
    shown = [i for i, w in enumerate(widths) if w is not None]
    for i in shown:
        c = columns[i]
        out.add_column(c.header, justify="right" if c.right else "left", width=widths[i], no_wrap=True)
    for r in rows:
        cells = []
        for i in shown:
            cell = r[i]
            w = widths[i] or 0
            if isinstance(cell, Text):
                cell = Text(abbreviate(cell.plain, w, dots), style=cell.style)
            elif isinstance(cell, _Bar):
                cell = cell.render(w)
            else:
                cell = abbreviate(cell, w, dots)
            cells.append(cell)
        out.add_row(*cells)
    return out


class _Bar:
    """A bar whose length is a fraction of whatever width its column gets."""

    def __init__(self, fraction: float, nonzero: bool) -> None:
        self.fraction, self.nonzero = fraction, nonzero

    def __len__(self) -> int:
        return 30

    def render(self, width: int) -> Any:
        from rich.text import Text

        return Text("█" * max(int(width * self.fraction), 1 if self.nonzero else 0), style="cyan")


def _plain(cell: Any) -> str:
    return "x" * len(cell) if isinstance(cell, _Bar) else getattr(cell, "plain", cell)


def _panel(
    window: Summary, rate: Rates | Summary, latest: list[Call], store_url: str, now: datetime, width: int, dots: str
) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    inner = max(width - 4, 20)  # the border and one space of padding on each side
    t, r = window.totals, rate.totals
    tz = window.window.tz
    secs = RATE_WINDOW.total_seconds()
    head = [
        ("calls", f"{t.calls:,}"),
        ("tokens", fmt_tokens(t.total_tokens, t.estimated_calls > 0)),
        ("cost", Text(fmt_cost(t.cost_usd, t.calls, t.unpriced_calls), style="green")),
        ("errors", Text(f"{t.errors:,}", style="red" if t.errors else "")),
        ("tokens/s", f"{r.total_tokens / secs:,.1f}"),
        ("$/min", fmt_cost(r.cost_usd * 60 / int(secs))),
    ]
    parts: list[Any] = _head(head, inner) + [Text("")]
    if window.by_model:
        top = max((m.totals.cost_usd for m in window.by_model), default=0) or 1
        rows = [[m.key[0] or "(none)", fmt_cost(m.totals.cost_usd, m.totals.calls, m.totals.unpriced_calls),
                 _Bar(float(m.totals.cost_usd / top) if m.totals.cost_usd else 0.0, m.totals.calls > 0),
                 f"{m.totals.calls:,}"] for m in window.by_model[:8]]  # fmt: skip
        cols = [Column("model", shrink=8), Column("cost", True), Column("", shrink=5), Column("calls", True, drop=1)]
        parts.append(_grid(cols, rows, inner, dots))
    else:
        parts.append(Text("no calls yet", style="dim"))
    if latest:
        cols = [Column("time"), Column("model", shrink=8), Column("agent", shrink=6, drop=2),
                Column("tokens", True, drop=1), Column("cost", True), Column("latency", True, drop=3),
                Column("status", shrink=6)]  # fmt: skip
        rows = [[_when(c.started_at, now, tz), c.model, c.agent or "", fmt_tokens(c.total_tokens, c.tokens_estimated),
                 fmt_cost(c.cost_usd) if c.cost_usd is not None else Text("unpriced", style="yellow"),
                 fmt_ms(c.duration_ms),
                 Text("ok", style="green") if c.success else Text(f"error: {c.error_type or 'failed'}", style="red")]
                for c in latest]  # fmt: skip
        parts += [Text(""), _grid(cols, rows, inner, dots)]
    title = f"tokentrail watch — {window.window.label} ({window.window.tz_name}) · {store_url}"
    subtitle = f"{now.astimezone(tz):%H:%M:%S} · rates over the last {int(secs)} s · Ctrl-C to stop"
    return Panel(Group(*parts), title=title, title_align="left", subtitle=subtitle, subtitle_align="right")


def _head(metrics: list[tuple[str, Any]], inner: int) -> list[Any]:
    """The headline numbers in one row, or in rows of three when one row does not fit."""
    from rich.table import Table
    from rich.text import Text

    def grid(part: list[tuple[str, Any]]) -> Any:
        g = Table.grid(padding=(0, 3))
        for _ in part:
            g.add_column(justify="right", no_wrap=True)
        g.add_row(*(Text(label, style="dim") for label, _ in part))
        g.add_row(*(value for _, value in part))
        return g

    need = sum(max(len(label), len(_plain(value))) for label, value in metrics) + 3 * (len(metrics) - 1)
    if need <= inner:
        return [grid(metrics)]
    return [grid(metrics[:3]), grid(metrics[3:])]
