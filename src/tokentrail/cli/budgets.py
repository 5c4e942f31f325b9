"""`tokentrail budget set|list|status|rm`: budgets kept in the store, seen by every process that uses it.

`[budgets.NAME]` tables of the config file are saved to the store first, so the file and the store agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from ..budgets import BudgetSpec, BudgetStatus, budget_status, list_budgets, remove_budget, set_budget
from ..errors import ConfigError, ValidationError
from ..store.base import Store
from .app import OutputFormat
from .render import Column, emit, fmt_pct, table

__all__ = ["register"]

StoreOpt = Annotated[str | None, typer.Option("--store", metavar="URL", show_default=False,
                                              help="Store URL (default: TOKENTRAIL_STORE, the config file, or the "
                                              "SQLite store).")]  # fmt: skip
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output: table, json or csv.")]


def config_tables(name: str) -> dict[str, Any]:
    """The `[NAME]` table (`budgets`, `alerts`) of the config file in force, or {}."""
    from ..config import resolve

    return dict(getattr(resolve(), name))


@contextmanager
def open_configured(store: str | None) -> Iterator[tuple[Store, Any]]:
    """The store named by `--store` or the settings, and the settings; closed afterwards."""
    from ..config import resolve
    from ..store import open_store

    settings = resolve(store=store)
    st = open_store(settings.store)
    try:
        yield st, settings
    finally:
        st.close()


def _sync_file_budgets(store: Store) -> set[str]:
    """Save the config file's budgets to the store; return their names."""
    tables = config_tables("budgets")
    for name, entry in tables.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"[budgets.{name}] is not a table")
        try:
            set_budget(BudgetSpec.create(name, **{k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}),
                       store=store)  # fmt: skip
        except (ValidationError, TypeError) as exc:
            raise ConfigError(f"[budgets.{name}]: {exc}") from None
    return set(tables)


def _money(value: Any) -> str:
    from ..display import format_money

    return "-" if value is None else format_money(value)


def _limit(spec: BudgetSpec) -> str:
    parts = []
    if spec.limit_usd is not None:
        parts.append(_money(spec.limit_usd))
    if spec.limit_tokens is not None:
        parts.append(f"{spec.limit_tokens:,} tok")
    return " + ".join(parts)


def _spent(s: BudgetStatus) -> str:
    if s.spec.limit_usd is not None:
        return _money(s.spent_usd) + (f" (+{_money(s.reserved_usd)} in flight)" if s.reserved_usd else "")
    return f"{s.spent_tokens:,} tok"


def _when(s: BudgetStatus) -> str:
    if s.runs_out_at is None:
        return "-"
    return s.runs_out_at.astimezone(s.period_start.tzinfo if s.period_start else None).strftime("%Y-%m-%d %H:%M")


def _status_text(statuses: list[BudgetStatus], color: bool) -> str:
    if not statuses:
        return "no budgets: add one with 'tokentrail budget set NAME --limit-usd 100'"
    cols = [Column("budget"), Column("scope"), Column("period"), Column("limit", True), Column("spent", True),
            Column("used", True), Column("projected", True), Column("runs out")]  # fmt: skip
    rows, styles = [], []
    for s in statuses:
        name = s.name + (f" [{s.session}]" if s.session else "") + (" (enforced)" if s.spec.enforce else "")
        projected = _money(s.projected_usd) if s.spec.limit_usd is not None else (
            f"{s.projected_tokens:,} tok" if s.projected_tokens is not None else "-")  # fmt: skip
        runs_out = "exceeded" if s.exceeded else _when(s)
        rows.append([name, s.spec.scope_text, s.period_key, _limit(s.spec), _spent(s), fmt_pct(s.fraction), projected,
                     runs_out])  # fmt: skip
        styles.append("red" if s.exceeded else "yellow" if s.fired else None)
    return table(cols, rows, color=color, title="budgets", styles=styles)


def register(app: typer.Typer) -> None:
    group = typer.Typer(name="budget", help="Spend and token budgets: set, list, status, rm.", no_args_is_help=True,
                        rich_markup_mode=None, add_completion=False)  # fmt: skip
    app.add_typer(group, name="budget")

    @group.command("set", help="Create or replace a budget in the store (every process applies it within a second).")
    def set_(
        name: Annotated[str, typer.Argument(metavar="NAME", help="Budget name (letters, digits, _ . -).")],
        limit_usd: Annotated[str | None, typer.Option("--limit-usd", metavar="USD", show_default=False,
                                                      help="Spend limit per period in USD.")] = None,
        limit_tokens: Annotated[int | None, typer.Option("--limit-tokens", metavar="N", show_default=False,
                                                         help="Input + output token limit per period.")] = None,
        period: Annotated[str, typer.Option("--period", metavar="PERIOD",
                                            help="day, week, month, Nd (rolling) or session.")] = "month",
        scope: Annotated[str, typer.Option("--scope", metavar="SCOPE", help="all, DIM=VALUE (agent=router, "
                                           "model=gpt-4o, …) or label:KEY=VALUE; comma-separated parts AND.")] = "all",
        tz: Annotated[str | None, typer.Option("--tz", metavar="ZONE", show_default=False,
                                               help="Zone periods roll over in (default: TOKENTRAIL_TZ or the "
                                               "machine's).")] = None,
        thresholds: Annotated[str, typer.Option("--thresholds", metavar="PCTS",
                                                help="Alert thresholds in percent, comma-separated.")] = "50,80,100",
        enforce: Annotated[bool, typer.Option("--enforce/--no-enforce",
                                              help="Refuse calls that would pass the limit, before they are sent.")]
        = False,
        store: StoreOpt = None,
    ) -> None:  # fmt: skip
        try:
            pcts = tuple(f"{p.strip()}%" for p in thresholds.split(",") if p.strip())
        except ValueError:  # pragma: no cover - split never raises
            pcts = ()
        with open_configured(store) as (st, settings):
            spec = BudgetSpec.create(name, limit_usd=limit_usd, limit_tokens=limit_tokens, period=period, scope=scope,
                                     tz=tz or settings.tz, thresholds=pcts, enforce=enforce)  # fmt: skip
            set_budget(spec, store=st)
        typer.echo(f"budget {spec.name!r} set: {_limit(spec)} per {spec.period} for {spec.scope_text} ({spec.tz})"
                   + (", enforced" if spec.enforce else ""))  # fmt: skip

    @group.command("list", help="Every budget in the store (and in the config file).")
    def list_(store: StoreOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
        with open_configured(store) as (st, _):
            _sync_file_budgets(st)
            specs = list_budgets(store=st)
        cols = [Column("budget"), Column("limit", True), Column("period"), Column("scope"), Column("tz"),
                Column("thresholds"), Column("enforced")]  # fmt: skip
        rows = [[s.name, _limit(s), s.period, s.scope_text, s.tz, ",".join(f"{t:.0%}" for t in s.thresholds),
                 "yes" if s.enforce else "no"] for s in specs]  # fmt: skip
        flat = [{k: ";".join(map(str, v)) if isinstance(v, list) else v for k, v in s.to_dict().items()} for s in specs]
        emit(fmt.value, data=lambda: [s.to_dict() for s in specs],
             csv_rows=lambda: (list(flat[0]) if flat else ["name"], [list(d.values()) for d in flat]),
             text=lambda color: table(cols, rows, color=color, title="budgets") if specs else
             "no budgets: add one with 'tokentrail budget set NAME --limit-usd 100'")  # fmt: skip

    @group.command("status", help="Spent, remaining, percent, projected end-of-period spend and when it runs out.")
    def status(
        name: Annotated[str | None, typer.Argument(metavar="[NAME]", show_default=False,
                                                   help="One budget (default: all).")] = None,
        session: Annotated[str | None, typer.Option("--session", metavar="ID", show_default=False,
                                                    help="For a per-session budget: this session.")] = None,
        store: StoreOpt = None,
        fmt: FormatOpt = OutputFormat.table,
    ) -> None:  # fmt: skip
        with open_configured(store) as (st, _):
            _sync_file_budgets(st)
            statuses = budget_status(name, store=st, session=session)
        dicts = [s.to_dict() for s in statuses]
        rows = [[";".join(map(str, v)) if isinstance(v, list) else v for v in d.values()] for d in dicts]
        emit(fmt.value, data=lambda: dicts, csv_rows=lambda: (list(dicts[0]) if dicts else ["name"], rows),
             text=lambda color: _status_text(statuses, color))  # fmt: skip

    @group.command("rm", help="Delete a budget from the store.")
    def rm(name: Annotated[str, typer.Argument(metavar="NAME")], store: StoreOpt = None) -> None:
        with open_configured(store) as (st, _):
            removed = remove_budget(name, store=st)
        if not removed:
            raise ValidationError(f"no budget named {name!r}: list them with 'tokentrail budget list'")
        hint = " (it is also in the config file, which will add it again)" if name in config_tables("budgets") else ""
        typer.echo(f"budget {name!r} removed{hint}")
