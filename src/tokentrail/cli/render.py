"""Shared output for every report: aligned tables, key/value blocks, JSON and CSV.

Deliberately free of Rich: `tokentrail stats` sits in shell prompts, and Rich costs more to import
than the whole report takes to compute. Colour follows Rich's conventions — only on a terminal, never
with `NO_COLOR` set or `TERM=dumb`, always with `FORCE_COLOR` set.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TextIO

from ..display import format_money, format_tokens
from ..formatting import csv_cell, money_text, number_text, safe_text

__all__ = [
    "Column",
    "abbreviate",
    "emit",
    "error_line",
    "fit_widths",
    "fmt_cost",
    "fmt_ms",
    "fmt_pct",
    "fmt_tokens",
    "kv_block",
    "paint",
    "table",
    "terminal_width",
    "use_color",
]

_CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
    "bold red": "1;31",
    "bold cyan": "1;36",
}


def use_color(stream: TextIO | None = None) -> bool:
    """Whether to colour output written to `stream` (stdout by default)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    stream = stream or sys.stdout
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, style: str | None, color: bool) -> str:
    """`text` wrapped in the ANSI codes of `style` when colouring."""
    if not color or not style or not text:
        return text
    return f"\x1b[{_CODES[style]}m{text}\x1b[0m"


def error_line(message: str) -> None:
    """The CLI's one red line on stderr."""
    text = message.splitlines()[0] if message else "error"
    sys.stderr.write(paint(f"Error: {text}", "red", use_color(sys.stderr)) + "\n")
    sys.stderr.flush()


# -- number formats --------------------------------------------------------------------------------


def fmt_cost(amount: Decimal | None, calls: int = 0, unpriced: int = 0) -> str:
    """Money with sensible precision; `unpriced` when nothing was priced; `+N unpriced` when some were not."""
    if calls and unpriced >= calls:
        return "unpriced"
    return format_money(amount, unpriced=unpriced)


def fmt_tokens(n: int, estimated: bool = False) -> str:
    """Thousands separators; a leading `~` marks an estimate."""
    return ("~" if estimated else "") + format_tokens(n)


def fmt_pct(fraction: float | None) -> str:
    return "" if fraction is None else f"{fraction * 100:.1f}%"


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms / 1000:,.2f} s" if ms >= 10_000 else f"{ms:,.0f} ms"


# -- tables ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: header, alignment, style of its cells, and how it gives way in a narrow terminal.

    Money columns keep the defaults: never hidden, never abbreviated.
    """

    header: str
    right: bool = False
    style: str | None = None
    drop: int = 0
    """0: always shown. When the table is too wide, columns with the highest `drop` are hidden first."""
    shrink: int = 0
    """The narrowest this column's text may be abbreviated to with `…` (0: never abbreviated)."""


def _utf8() -> bool:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return encoding.startswith("utf")


def _rule_char() -> str:
    return "─" if _utf8() else "-"


# -- fitting a table to the terminal -----------------------------------------------------------------

_SOFT_FLOOR = 16
"""Abbreviate text columns to this many characters before hiding any column; further only after."""


def terminal_width(stream: TextIO | None = None) -> int | None:
    """Columns available to a table: `COLUMNS` if set, else the terminal's width, else None (no limit)."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    stream = stream or sys.stdout
    isatty = getattr(stream, "isatty", None)
    if not (isatty and isatty()):
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return None


def fit_widths(columns: Sequence[Column], natural: Sequence[int], width: int | None, gap: int = 2) -> list[int | None]:
    """Each column's width within `width` (None: the column is hidden).

    Droppable columns are hidden (highest `drop` first) only while the table would not fit even with its text
    columns abbreviated to `_SOFT_FLOOR` characters (or their `shrink`); then the text columns that remain
    are abbreviated, the widest first, just enough to fit, down to their `shrink`. A column that allows
    neither (money, counts) keeps its full width, even if the table then overflows.
    """
    widths: list[int | None] = list(natural)

    def total(ws: Sequence[int | None]) -> int:
        shown = [w for w in ws if w is not None]
        return sum(shown) + gap * (len(shown) - 1)

    if width is None or total(widths) <= width:
        return widths
    soft: list[int | None] = [
        min(n, max(c.shrink, _SOFT_FLOOR)) if c.shrink else n for c, n in zip(columns, natural, strict=True)
    ]
    for i in sorted((i for i, c in enumerate(columns) if c.drop), key=lambda i: (-columns[i].drop, -i)):
        if total(soft) <= width:
            break
        soft[i] = widths[i] = None
    floors: tuple[Callable[[Column], int], ...] = (lambda c: max(c.shrink, _SOFT_FLOOR), lambda c: c.shrink)
    for floor_of in floors:  # first down to the soft floor, then down to each column's own shrink
        while total(widths) > width:
            movable = [i for i, c in enumerate(columns) if c.shrink and (widths[i] or 0) > floor_of(c)]
            if not movable:
                break
            i = max(movable, key=lambda k: (widths[k] or 0, -k))  # the widest first; on a tie, the leftmost
            widths[i] = max(floor_of(columns[i]), (widths[i] or 0) - (total(widths) - width))
    return widths


def abbreviate(text: str, width: int, ellipsis: str | None = None) -> str:
    """`text` cut to `width` characters, the last one `ellipsis` (`…`, or `.` if stdout cannot show it) when cut."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + (ellipsis or ("…" if _utf8() else "."))


def table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    *,
    color: bool,
    title: str | None = None,
    footer: Sequence[str] | None = None,
    styles: Sequence[str | None] | None = None,
    width: int | None = None,
) -> str:
    """Columns aligned with two spaces between them, a header rule, an optional bold footer row.

    `styles` gives one row style per body row (e.g. `red` for failed calls). The table fits in `width`
    columns (default: the terminal's, no limit when not writing to one) by abbreviating and hiding the
    columns that allow it (see `Column`); money is never cut. A hidden column is named under the table.
    """
    # Cells carry stored values (model, agent, user, label …) that anyone making LLM calls controls: control
    # characters are shown as escapes, so no cell can move the cursor, fake a line or set the clipboard.
    rows = [[safe_text(c, keep_color=True) for c in r] for r in rows]
    footer = [safe_text(c, keep_color=True) for c in footer] if footer else footer
    body = [list(r) for r in rows]
    natural = [len(c.header) for c in columns]
    for r in body + ([list(footer)] if footer else []):
        for i, cell in enumerate(r):
            natural[i] = max(natural[i], len(cell))
    fitted = fit_widths(columns, natural, terminal_width() if width is None else width)
    shown = [i for i, w in enumerate(fitted) if w is not None]
    widths = [fitted[i] or 0 for i in shown]
    last = len(shown) - 1

    def line(cells: Sequence[str], row_style: str | None = None, header: bool = False) -> str:
        out = []
        for k, i in enumerate(shown):
            col, cell = columns[i], abbreviate(cells[i], widths[k])
            text = cell.rjust(widths[k]) if col.right else cell.ljust(widths[k]) if k < last else cell
            out.append(paint(text, "bold" if header else row_style or col.style, color))
        return "  ".join(out).rstrip()

    rule = _rule_char()
    lines = [paint(title, "bold", color)] if title else []
    lines.append(line([c.header for c in columns], header=True))
    lines.append(paint("  ".join(rule * w for w in widths), "dim", color))
    for i, r in enumerate(body):
        lines.append(line(r, styles[i] if styles else None))
    if footer:
        lines.append(paint("  ".join(rule * w for w in widths), "dim", color))
        lines.append(line(footer, "bold"))
    hidden = [c.header for c, w in zip(columns, fitted, strict=True) if w is None]
    if hidden:
        note = f"(hidden at this width: {', '.join(hidden)})"
        if len(note) > max(sum(widths) + 2 * last, 40):
            note = f"({len(hidden)} columns hidden at this width)"
        lines.append(paint(note, "dim", color))
    return "\n".join(lines)


def kv_block(pairs: Sequence[tuple[str, str]], *, color: bool, title: str | None = None) -> str:
    """`label  value` lines with the labels dimmed and aligned."""
    width = max((len(k) for k, _ in pairs), default=0)
    lines = [paint(title, "bold", color)] if title else []
    lines += [f"  {paint(k.ljust(width), 'dim', color)}  {safe_text(v, keep_color=True)}" for k, v in pairs]
    return "\n".join(lines)


# -- the three formats -----------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return money_text(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any, indent: str = "") -> str:
    """JSON like `json.dumps(value, indent=2)`, but floats in fixed notation (`0.000079`, never `7.9e-05`),
    non-finite floats as `null`, Decimals as canonical money text."""
    import json

    if isinstance(value, float):
        return number_text(value) if math.isfinite(value) else "null"
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = indent + "  "
        items = [f"{inner}{json.dumps(str(k))}: {to_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        inner = indent + "  "
        return "[\n" + ",\n".join(inner + to_json(v, inner) for v in value) + f"\n{indent}]"
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return json.dumps(value)
    return to_json(_json_default(value), indent)


def emit(
    fmt: str,
    *,
    data: Callable[[], Any],
    csv_rows: Callable[[], tuple[Sequence[str], Iterable[Sequence[Any]]]],
    text: Callable[[bool], str],
    out: TextIO | None = None,
) -> None:
    """Write a report in the chosen format: `data()` as JSON, `csv_rows()` as CSV, or `text(color)`.

    JSON and CSV share one rendering of numbers (`tokentrail.formatting`): money as exact plain text, no
    exponents; CSV text cells are defused against formula injection and control characters.
    """
    out = out or sys.stdout
    if fmt == "json":
        out.write(to_json(data()) + "\n")
    elif fmt == "csv":
        import csv

        header, rows = csv_rows()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(v) for v in row])
    else:
        out.write(text(use_color(out)) + "\n")
    out.flush()
