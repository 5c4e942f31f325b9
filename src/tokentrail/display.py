"""What tokentrail shows in the terminal: money and token formats, the per-call panel, summaries.

Rich is imported only when something is printed.
"""

from __future__ import annotations

import atexit
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .analysis.reports import Summary
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


def format_money(amount: Decimal | float | None, *, unpriced: int = 0) -> str:
    """`$0.000412`, `$1,204.33`; `n/a` when nothing was priced; `+N unpriced` appended when some were not.

    Example:
        >>> format_money(Decimal("0.000412")), format_money(Decimal("1204.333"))
        ('$0.000412', '$1,204.33')
    """
    if amount is None:
        text = "n/a"
    else:
        value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
        if value == 0:
            text = "$0.00"
        elif abs(value) >= 1:
            text = f"${value:,.2f}"
        elif abs(value) >= Decimal("0.01"):
            text = f"${value:.4f}".rstrip("0").rstrip(".") if abs(value) < Decimal("0.1") else f"${value:.2f}"
        else:
            # Below a micro-dollar: two significant digits, still in plain notation ($0.00000036, not $3.60e-7).
            places = max(6, 1 - value.adjusted())
            text = f"${value:.{places}f}"
    return f"{text} (+{unpriced} unpriced)" if unpriced else text


def format_tokens(n: int) -> str:
    """Thousands separators: `1,204,330`."""
    return f"{n:,}"


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


def format_summary(summary: Summary) -> str:
    """A plain-text table of a Summary (for `print(tokentrail.summary())`)."""
    t = summary.totals
    w = summary.window
    lines = [
        f"tokentrail summary — {w.label} ({w.tz_name})",
        f"  calls   {t.calls:,}  ({t.errors:,} failed)",
        f"  tokens  {t.input_tokens:,} in · {t.output_tokens:,} out · {t.cache_read_tokens:,} cached",
        f"  cost    {format_money(t.cost_usd, unpriced=t.unpriced_calls)}",
    ]
    if t.estimated_calls:
        lines.append(f"  ({t.estimated_calls:,} call(s) with estimated token counts)")
    if summary.by_model:
        from .formatting import safe_text

        names = [safe_text(r.key[0] or "?") for r in summary.by_model]
        width = max(len(n) for n in names)
        lines.append("  by model:")
        for name, r in zip(names, summary.by_model, strict=True):
            cost = format_money(r.totals.cost_usd) if r.totals.unpriced_calls < r.totals.calls else "unpriced"
            lines.append(
                f"    {name:<{width}}  {r.totals.calls:>8,} calls  {r.totals.total_tokens:>12,} tokens  {cost}"
            )
    return "\n".join(lines)


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
