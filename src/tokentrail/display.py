"""What tokentrail shows in the terminal: the per-call panel and the session summary.

Rich is imported only when something is printed. The money and token formats (`formatting`) and the text of a
report's Summary (`analysis.reports`) live below the views, which share them; they are re-exported here.
"""

from __future__ import annotations

import atexit
from typing import TYPE_CHECKING, Any

from .analysis.reports import format_summary
from .formatting import format_money, format_tokens

if TYPE_CHECKING:
    from .model import Call
    from .tracker import SessionStats, Tracker

__all__ = [
    "TOKEN_STYLES",
    "enable_auto_summary",
    "format_money",
    "format_summary",
    "format_tokens",
    "print_call",
    "print_summary",
]


TOKEN_STYLES = {"input": "cyan", "output": "magenta", "total": "bold green"}
"""The colour of each count in the per-call panel (plain text when NO_COLOR is set or not on a terminal)."""


def print_call(call: Call, console: Any = None) -> None:
    """Print the per-call panel: provider, model, tokens (input, output, total in their colours), time, cost.

    Colours follow Rich's rules: none when the `NO_COLOR` environment variable is set or the output is not
    a terminal.

    Args:
        call: the completed call.
        console: a Rich Console (default: a new one on stderr).
    """
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim")
    grid.add_column()
    grid.add_row("model", f"{call.provider or '?'} / {call.response_model or call.model}")
    est = " (estimated)" if call.tokens_estimated else ""
    grid.add_row(
        "tokens",
        Text.assemble(
            (format_tokens(call.input_tokens), TOKEN_STYLES["input"]), " in · ",
            (format_tokens(call.output_tokens), TOKEN_STYLES["output"]), " out · ",
            (format_tokens(call.total_tokens), TOKEN_STYLES["total"]), f" total{est}",
        ),
    )  # fmt: skip
    if call.cache_read_tokens or call.cache_write_tokens:
        grid.add_row(
            "cache", f"{format_tokens(call.cache_read_tokens)} read · {format_tokens(call.cache_write_tokens)} write"
        )
    if call.duration_ms is not None:
        tps = f" · {call.output_tokens / (call.duration_ms / 1000):,.1f} tok/s" if call.duration_ms > 0 else ""
        grid.add_row("time", f"{call.duration_ms:,.0f} ms{tps}")
    grid.add_row("cost", format_money(call.cost_usd) if call.cost_usd is not None else "unpriced (no known price)")
    title = "LLM call" if call.success else f"[red]LLM call failed: {call.error_type}[/]"
    (console or Console(stderr=True)).print(Panel(grid, title=title, title_align="left", expand=False))


def print_summary(tracker: Tracker | None = None, console: Any = None) -> SessionStats:
    """Print this process's session totals (calls, tokens, cost, by model); returns them as data."""
    from rich.console import Console
    from rich.table import Table

    from .tracker import default_tracker

    stats = (tracker or default_tracker()).session_stats()
    t = stats.totals
    table = Table(title=f"tokentrail session — {t.calls:,} calls in {stats.elapsed_s:,.0f} s", title_justify="left")
    for col in ("model", "calls", "input", "output", "cost"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for model, mt in sorted(stats.by_model.items(), key=lambda kv: -kv[1].cost_usd):
        cost = format_money(mt.cost_usd) if mt.unpriced_calls < mt.calls else "unpriced"
        table.add_row(model, f"{mt.calls:,}", f"{mt.input_tokens:,}", f"{mt.output_tokens:,}", cost)
    table.add_row("total", f"{t.calls:,}", f"{t.input_tokens:,}", f"{t.output_tokens:,}",
                  format_money(t.cost_usd, unpriced=t.unpriced_calls), style="bold")  # fmt: skip
    (console or Console(stderr=True)).print(table)
    return stats


_auto_registered = False


def enable_auto_summary(tracker: Tracker | None = None) -> None:
    """Print the session summary when the process exits (once, however often this is called)."""
    global _auto_registered
    if not _auto_registered:
        _auto_registered = True
        atexit.register(print_summary, tracker)
