"""`tokentrail price MODEL` and `tokentrail prices`: prices per million tokens, cache prices included, and
context windows (from genai-prices, with the user's overrides on top)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import typer

from .app import OutputFormat
from .render import Column, emit, kv_block, table

__all__ = ["register"]

_FIELDS = (
    "provider_id",
    "id",
    "name",
    "input_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
    "output_per_mtok",
    "context_window",
    "tiered",
    "price_source",
)


def _per_m(value: Decimal | None, fallback: Decimal | None = None) -> str:
    value = value if value is not None else fallback
    return "-" if value is None else f"${value.normalize():f}"


def _dict(info: Any) -> dict[str, Any]:
    d = info.to_dict()
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in d.items()}


def _load_overrides() -> None:
    from ..config import resolve
    from ..pricing import load_price_overrides

    settings = resolve()
    if settings.prices:
        load_price_overrides(settings.prices)


def register(app: typer.Typer) -> None:
    @app.command(
        "price",
        short_help="One model's prices per million tokens, context.",
        help="Prices of one model per million tokens (input, cache read, cache write, output) and its context window.",
    )
    def price(
        model: Annotated[str, typer.Argument(metavar="MODEL", help="Model name, e.g. gpt-4o or openai/gpt-4o.")],
        provider: Annotated[
            str | None,
            typer.Option(
                "--provider",
                metavar="PROVIDER",
                show_default=False,
                help="Provider whose price to show (default: inferred).",
            ),
        ] = None,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", "-f", help="Output: table, json or csv.")
        ] = OutputFormat.table,
    ) -> None:
        from ..pricing import model_info

        _load_overrides()
        info = model_info(model, provider)
        d = _dict(info)
        emit(
            fmt.value,
            data=lambda: d,
            csv_rows=lambda: (list(d), [list(d.values())]),
            text=lambda color: _one(info, color),
        )

    @app.command(
        "prices",
        short_help="Prices of every known model (--provider, --search).",
        help="Prices of every known model per million tokens, cache prices and context window "
        "included; filter with --provider and --search.",
    )
    def prices(
        provider: Annotated[
            str | None,
            typer.Option(
                "--provider",
                metavar="PROVIDER",
                show_default=False,
                help="Only this provider (openai, anthropic, google, …).",
            ),
        ] = None,
        search: Annotated[
            str | None,
            typer.Option(
                "--search",
                "-s",
                metavar="TEXT",
                show_default=False,
                help="Only models whose id or name contains this text.",
            ),
        ] = None,
        fmt: Annotated[
            OutputFormat, typer.Option("--format", "-f", help="Output: table, json or csv.")
        ] = OutputFormat.table,
    ) -> None:
        from ..pricing import list_models

        _load_overrides()
        rows = list_models(provider=provider, search=search)
        emit(
            fmt.value,
            data=lambda: [_dict(i) for i in rows],
            csv_rows=lambda: (list(_FIELDS), [[_dict(i)[f] for f in _FIELDS] for i in rows]),
            text=lambda color: _many(rows, color),
        )


def _one(info: Any, color: bool) -> str:
    pairs = [
        ("provider", info.provider_id or "-"),
        ("input", f"{_per_m(info.input_per_mtok)} / M tokens" + (" (lowest tier)" if info.tiered else "")),
        ("cache read", f"{_per_m(info.cache_read_per_mtok, info.input_per_mtok)} / M tokens"),
        ("cache write", f"{_per_m(info.cache_write_per_mtok, info.input_per_mtok)} / M tokens"),
        ("output", f"{_per_m(info.output_per_mtok)} / M tokens"),
        ("context", f"{info.context_window:,} tokens" if info.context_window else "unknown"),
        ("source", info.price_source),
    ]
    title = info.id + (f" ({info.name})" if info.name and info.name != info.id else "")
    return kv_block(pairs, color=color, title=title)


def _many(rows: list[Any], color: bool) -> str:
    if not rows:
        return "no models match"
    cols = [
        Column("provider"),
        Column("model"),
        Column("input/M", True),
        Column("cache read/M", True),
        Column("cache write/M", True),
        Column("output/M", True),
        Column("context", True),
    ]
    body = [
        [
            i.provider_id or "-",
            i.id + ("*" if i.tiered else ""),
            _per_m(i.input_per_mtok),
            _per_m(i.cache_read_per_mtok, i.input_per_mtok),
            _per_m(i.cache_write_per_mtok, i.input_per_mtok),
            _per_m(i.output_per_mtok),
            f"{i.context_window:,}" if i.context_window else "-",
        ]
        for i in rows
    ]
    note = (
        "\n* tiered: the price rises above a prompt-size threshold; the lowest tier is shown"
        if any(i.tiered for i in rows)
        else ""
    )
    return table(cols, body, color=color, title=f"{len(rows):,} models, USD per million tokens") + note
