"""`tokentrail demo`: fill a separate demo store with a realistic week of traffic, then show a short tour."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import ValidationError
from .options import ReportOptions

__all__ = ["default_demo_url", "register"]


def default_demo_url() -> str:
    """`sqlite:///$TOKENTRAIL_HOME/demo.db` (absolute) — never the store your application writes to."""
    import os

    from ..config import default_home

    return f"sqlite://{os.path.abspath(default_home() / 'demo.db')}"


def register(app: typer.Typer) -> None:
    @app.command(
        "demo",
        short_help="Fill a separate demo store with a week of traffic.",
        help="Fill a separate demo store (default: demo.db in TOKENTRAIL_HOME, never your real "
        "store) with a realistic week of multi-agent traffic, then show stats, costs by agent and top "
        "models. Try other reports on it with --store.",
    )
    def demo(
        store: Annotated[
            str | None,
            typer.Option(
                "--store",
                metavar="URL",
                show_default=False,
                help="Demo store URL (default: sqlite:///$TOKENTRAIL_HOME/demo.db).",
            ),
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same week.")] = 7,
        reset: Annotated[
            bool, typer.Option("--reset", help="Empty a non-default demo store that already has calls.")
        ] = False,
        tour: Annotated[bool, typer.Option("--tour/--no-tour", help="Print the tour afterwards.")] = True,
        tz: Annotated[
            str | None, typer.Option("--tz", metavar="ZONE", show_default=False, help="Time zone of the tour.")
        ] = None,
    ) -> None:
        from ..analysis import summary
        from ..config import resolve
        from ..demo import fill_demo_store
        from ..store import Filter, open_store, shown_location

        url = store or default_demo_url()
        shown = shown_location(url)
        if shown == shown_location(resolve().store):
            raise ValidationError(
                f"--store={shown!r} is your configured store; the demo writes only to a "
                "separate one (omit --store to use demo.db)"
            )
        target = open_store(url)
        try:
            existing = summary(store=target, period="all", tz="UTC").totals.calls
            if existing:
                if store is not None and not reset:
                    raise ValidationError(
                        f"the demo store {shown!r} already has {existing:,} calls; pass "
                        "--reset to replace them, or choose another --store"
                    )
                target.delete(Filter())
        finally:
            target.close()
        result = fill_demo_store(url, seed=seed)
        sys.stderr.write(f"recorded {result.calls:,} demo calls over the last 7 days into {shown}\n\n")
        sys.stderr.flush()
        if tour:
            _tour(url, shown, tz)


def _tour(url: str, shown: str, tz: str | None) -> None:
    from . import costs, dims, stats

    opts = ReportOptions(store=url, tz=tz)
    stats.run(opts, "week", top=0)
    print()
    costs.run(opts, ["agent"], default_period="week")
    print()
    dims.run(opts, "models", 5, dims.SortKey.cost, default_period="week")
    print(f"\nexplore it with --store {shown}, e.g. tokentrail patterns, tokentrail performance,")
    print("tokentrail costs --by model,user --daily, tokentrail sessions, tokentrail watch")
