"""`tokentrail count FILE|TEXT --model M`: tokens (exact or marked estimate), their cost as input, and their
share of the model's context window."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UnknownModelError, ValidationError
from ..formatting import money_text
from .app import OutputFormat
from .render import emit, fmt_cost, kv_block, paint

__all__ = ["register"]


_FILE_NAME = re.compile(r"^\S*(/|\\|\.[A-Za-z0-9]{1,10}$)\S*$")
"""One word with a folder separator or an extension: `missing.txt`, `prompts/q1`."""


def _read(source: str, *, literal: bool = False) -> tuple[str, str]:
    """The text to count and where it came from: `-` is stdin, an existing path a file, `literal` the text.

    Raises:
        ValidationError: `source` looks like a file name (one word with a '/' or an extension) and no such
            file exists, or the file cannot be read.
    """
    if literal:
        return source, "text"
    if source == "-":
        return sys.stdin.read(), "stdin"
    path = Path(source)
    try:
        is_file = "\n" not in source and path.is_file()
    except (OSError, ValueError):  # too long or not a possible path: it is the text itself
        is_file = False
    if is_file:
        try:
            return path.read_text(encoding="utf-8", errors="replace"), str(path)
        except OSError as exc:
            raise ValidationError(f"{source!r} cannot be read: {exc.strerror}") from None
    if _FILE_NAME.match(source):
        where = "is a folder" if path.is_dir() else "does not exist"
        raise ValidationError(
            f"file {source!r} {where} (looked for {str(path.absolute())!r}); to count these characters "
            "as text, add --text"
        )
    return source, "text"


def register(app: typer.Typer) -> None:
    @app.command(
        "count",
        short_help="Tokens of a file or text, their cost, context share.",
        help="Count the tokens of a file, text or stdin (-) for a model, with their cost if sent "
        "as input and their share of the context window. Exact for OpenAI models; an estimate, marked "
        "~, for others. A word that looks like a file name (notes.txt, prompts/q1) must be a file that exists; "
        "--text counts it as text.",
    )
    def count(
        source: Annotated[
            str,
            typer.Argument(
                metavar="FILE|TEXT", show_default=False, help="A file path, the text itself, or - for stdin."
            ),
        ],
        model: Annotated[
            str, typer.Option("--model", "-m", metavar="MODEL", help="The model to count for.")
        ] = "gpt-4o",
        provider: Annotated[
            str | None,
            typer.Option(
                "--provider",
                metavar="PROVIDER",
                show_default=False,
                help="Provider whose price to use (default: inferred).",
            ),
        ] = None,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", "-f", help="Output: table, json or csv.")
        ] = OutputFormat.table,
        literal: Annotated[
            bool, typer.Option("--text", help="Count FILE|TEXT as text, even when it looks like a file name.")
        ] = False,
    ) -> None:
        from ..config import resolve
        from ..pricing import calculate_cost, load_price_overrides, model_info
        from ..tokens import count_tokens

        settings = resolve()
        if settings.prices:
            load_price_overrides(settings.prices)
        text, origin = _read(source, literal=literal)
        counted = count_tokens(text, model)
        try:
            info: Any = model_info(model, provider)
            cost: Any = calculate_cost(model, counted.tokens, 0, provider=provider).total
        except UnknownModelError:
            info = cost = None
        window = info.context_window if info is not None else None
        share = counted.tokens / window if window else None
        data = {
            "model": model,
            "source": origin,
            "characters": len(text),
            "tokens": counted.tokens,
            "exact": counted.exact,
            "method": counted.method,
            "input_cost_usd": money_text(cost),
            "provider": info.provider_id if info is not None else None,
            "context_window": window,
            "context_share": round(share, 6) if share is not None else None,
        }
        emit(
            fmt.value,
            data=lambda: data,
            csv_rows=lambda: (list(data), [list(data.values())]),
            text=lambda color: _text(data, color),
        )


def _text(d: dict[str, Any], color: bool) -> str:
    exact = d["exact"]
    tokens = f"{d['tokens']:,}" if exact else paint(f"~{d['tokens']:,}", "yellow", color)
    method = str(d["method"]).removeprefix("estimate:")
    how = f"exact, {method}" if exact else f"estimate, {method}"
    pairs = [("tokens", f"{tokens} ({how})"), ("characters", f"{d['characters']:,}")]
    if d["input_cost_usd"] is not None:
        from decimal import Decimal

        cost = fmt_cost(Decimal(d["input_cost_usd"]))
        pairs.append(("input cost", f"{'~' if not exact else ''}{cost} ({d['provider'] or '?'} price)"))
    else:
        pairs.append(("input cost", paint(f"unknown: no price for {d['model']!r}", "yellow", color)))
    if d["context_window"]:
        share = d["context_share"] * 100
        text = f"{'<0.01' if 0 < share < 0.01 else f'{share:.2f}'}% of {d['context_window']:,} tokens"
        pairs.append(("context", paint(text, "red", color) if share > 100 else text))
    return kv_block(pairs, color=color, title=f"{d['source']} for {d['model']}")
