"""How values become text, the same in every report, export and store: money, fractions, safe cells.

- **Money in JSON and CSV** (`money_text`): one rule for every money column — the exact Decimal in plain
  notation with six decimal places (micro-dollars), more only when the exact amount has more, never an
  exponent: `27.431160`, `300.000000`, `0.00000036`. The same amount prints the same digits whichever store
  summed it (SQLite keeps pico-dollars, PostgreSQL a `numeric`). An amount that is unknown (no call
  priced) is `None` (JSON `null`, an empty CSV cell), never `0`.
- **Money and tokens for people** (`format_money`, `format_tokens`): `$0.000412`, `$1,204.33`, `n/a` when
  nothing was priced; `1,204,330` — what the terminal panels, the CLI tables and `str()` of a report show.
- **Fractions and other floats** (`number_text`): fixed notation, never `7.9e-05`.
- **Untrusted text** (`safe_text`): model, agent, user, session and label values are written by whoever
  calls the LLM; before they reach a terminal, control characters (ESC, BEL, CR, newline, C1, bidi
  overrides) are shown as visible escapes (`\\x1b`), so a value cannot move the cursor, fake a line or set
  the clipboard (OSC 52). What is stored is never changed.
- **CSV cells** (`csv_cell`): text starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'` (OWASP's
  advice against formula injection) unless it is a plain number such as `-5`, which stays a number.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

__all__ = ["csv_cell", "defuse_formula", "format_money", "format_tokens", "money_text", "number_text", "safe_text"]

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_OUR_SGR = re.compile(r"\x1b\[(?:0|1|2|3[1-6]|1;31|1;36)m")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def money_text(amount: Decimal | int | None) -> str | None:
    """The canonical text of an amount of money: exact, plain, at least 6 decimal places; None stays None.

    Example:
        >>> money_text(Decimal("27.431160000000")), money_text(Decimal("3.6E-7")), money_text(Decimal("3E+2"))
        ('27.431160', '0.00000036', '300.000000')
    """
    if amount is None:
        return None
    value = amount if type(amount) is Decimal else Decimal(amount)
    text = str(value)  # string work, not Decimal arithmetic: exports write millions of these
    if "E" in text:
        if not value.is_finite():
            return text
        text = format(value, "f")
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    if len(frac) < 6:
        frac += "0" * (6 - len(frac))
    if whole == "-0" and frac.strip("0") == "":
        whole = "0"
    return f"{whole}.{frac}"


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


def number_text(value: float, places: int | None = None) -> str:
    """A float as JSON/CSV text (rounded to `places` if given): its shortest form, but never an exponent.

    Example:
        >>> number_text(7.9e-05), number_text(0.4952401, 6), number_text(165600.0)
        ('0.000079', '0.49524', '165600.0')
    """
    if places is not None:
        value = round(value, places)
    text = repr(value)
    if "e" not in text or not math.isfinite(value):
        return text
    return format(Decimal(text), "f")


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def safe_text(text: Any, *, keep_color: bool = False) -> str:
    """`text` with every control character shown as a visible escape (`\\x1b`, `\\n`), for a terminal.

    With `keep_color`, the exact colour codes tokentrail itself paints with stay (a cell we coloured);
    anything else — cursor moves, OSC sequences, BEL, CR — is escaped.

    Example:
        >>> safe_text("u-1\\x1b]52;c;aGk=\\x07")
        'u-1\\\\x1b]52;c;aGk=\\\\x07'
    """
    s = text if isinstance(text, str) else str(text)
    if not _UNSAFE.search(s):
        return s
    if not keep_color:
        return _UNSAFE.sub(_escape, s)
    parts = []
    last = 0
    for m in _OUR_SGR.finditer(s):
        parts.append(_UNSAFE.sub(_escape, s[last : m.start()]))
        parts.append(m.group())
        last = m.end()
    parts.append(_UNSAFE.sub(_escape, s[last:]))
    return "".join(parts)


def defuse_formula(text: str) -> str:
    """`text` with a leading `'` if a spreadsheet would run it as a formula; plain numbers (`-5`) stay as they are.

    Example:
        >>> defuse_formula("=1+1"), defuse_formula("-5"), defuse_formula("@SUM(A1)"), defuse_formula("a=b")
        ("'=1+1", '-5', "'@SUM(A1)", 'a=b')
    """
    if text.startswith(_FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def csv_cell(value: Any) -> Any:
    """A value ready for a CSV report cell: money and floats as plain text, risky text defused.

    Numbers (int, float, Decimal) stay numbers; text that is a plain number (`-5`, `+3.5`) too; other text
    starting with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`; control characters are escaped.

    Example:
        >>> csv_cell("=HYPERLINK(1)"), csv_cell("-5"), csv_cell(Decimal("1E-7")), csv_cell(None)
        ("'=HYPERLINK(1)", '-5', '0.0000001', '')
    """
    if value is None:
        return ""
    if isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return money_text(value)
    if isinstance(value, float):
        return number_text(value)
    return safe_text(defuse_formula(value if isinstance(value, str) else str(value)))
