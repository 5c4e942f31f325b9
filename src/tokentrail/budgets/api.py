"""The budget functions users call: `budget(...)` in code, `load_budgets(...)` for `[budgets.NAME]` tables,
and store-level helpers the CLI uses (`set_budget`, `list_budgets`, `remove_budget`, `budget_status`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, ValidationError
from ..store.base import Store, require_meta
from . import ledger
from .engine import BudgetEngine, engine_for
from .spec import BudgetSpec
from .status import BudgetStatus, compute_status, session_statuses

if TYPE_CHECKING:
    from ..tracker import Tracker

__all__ = ["Budget", "budget", "budget_status", "list_budgets", "load_budgets", "remove_budget", "set_budget"]

_TABLE_KEYS = ("limit_usd", "limit_tokens", "period", "scope", "tz", "thresholds", "enforce")


class Budget:
    """A budget defined on a tracker: its `spec`, and `status()` / `remove()` against the tracker's store."""

    __slots__ = ("spec", "_engine")

    def __init__(self, spec: BudgetSpec, engine: BudgetEngine) -> None:
        self.spec = spec
        self._engine = engine

    @property
    def name(self) -> str:
        return self.spec.name

    def status(self, *, now: datetime | None = None, session: str | None = None) -> BudgetStatus:
        """Spent, remaining, percent, projected end-of-period spend and when the money runs out (at `now`)."""
        self._engine.tracker.flush()
        return compute_status(self.spec, self._engine.store, now or self._engine.clock(), session)

    def remove(self) -> bool:
        """Delete the budget from the store (every process stops applying it within a second)."""
        return self._engine.remove(self.spec.name)

    def __repr__(self) -> str:
        return f"Budget({self.spec!r})"


def budget(
    name: str,
    *,
    limit_usd: Any = None,
    limit_tokens: int | None = None,
    period: str = "month",
    scope: Any = None,
    tz: str | None = None,
    thresholds: Any = (0.5, 0.8, 1.0),
    enforce: bool = False,
    tracker: Tracker | None = None,
) -> Budget:
    """Define (or replace) a budget, save it in the store for every process, and start applying it.

    Args:
        name: unique name (letters, digits, `_ . -`).
        limit_usd: USD limit per period (number, text or Decimal).
        limit_tokens: input + output token limit per period.
        period: `day`, `week`, `month` (calendar, in `tz`), `7d` (rolling N days) or `session` (each session).
        scope: None for everything, `{"agent": "x"}`, `"agent=x"`, `"label:team=search"`, … (parts AND-ed).
        tz: the IANA zone periods roll over in (default: `TOKENTRAIL_TZ`, else the machine's zone).
        thresholds: fractions of the limit that fire an alert once per period and scope.
        enforce: refuse instrumented calls that would pass the limit, before they are sent.
        tracker: the tracker whose store keeps it (default: the default tracker).

    Returns:
        The Budget; `.status()` tells where it stands.

    Raises:
        ValidationError: a bad value, named with the field.

    Example:
        >>> import tokentrail as tt
        >>> b = budget("support-daily", limit_usd=25, period="day", scope={"agent": "support"},
        ...            tz="UTC", enforce=True, tracker=tt.Tracker("memory://"))
        >>> b.status().remaining_usd
        Decimal('25')
    """
    spec = BudgetSpec.create(name, limit_usd=limit_usd, limit_tokens=limit_tokens, period=period, scope=scope, tz=tz,
                             thresholds=thresholds, enforce=enforce)  # fmt: skip
    engine = engine_for(tracker)
    engine.define(spec)
    return Budget(spec, engine)


def load_budgets(mapping: Mapping[str, Any], *, tracker: Tracker | None = None) -> list[Budget]:
    """Define the budgets of a `[budgets]` config table: `{NAME: {limit_usd=..., period=..., ...}}`.

    Raises:
        ConfigError: an unknown key or a bad value, named with its `[budgets.NAME]` table.
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"[budgets]={mapping!r} is not a table of [budgets.NAME] tables")
    specs = []
    for name, table in mapping.items():
        where = f"[budgets.{name}]"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}={table!r} is not a table")
        unknown = set(table) - set(_TABLE_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}: use {', '.join(_TABLE_KEYS)}")
        try:
            kwargs = dict(table)
            if isinstance(kwargs.get("thresholds"), list):
                kwargs["thresholds"] = tuple(kwargs["thresholds"])
            specs.append(BudgetSpec.create(name, **kwargs))
        except ValidationError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    engine = engine_for(tracker)
    for spec in specs:
        engine.define(spec)
    return [Budget(spec, engine) for spec in specs]


# -- store-level helpers (the CLI, other processes) ---------------------------------------------------


@contextmanager
def _store(store: Store | str | None) -> Iterator[Store]:
    """The store to use: the given one, one opened from a URL (closed afterwards), or the default tracker's."""
    if store is None:
        from ..tracker import default_tracker

        tracker = default_tracker()
        tracker.flush()
        yield require_meta(tracker.store, needed_by="budgets")
    elif isinstance(store, str):
        from ..store import open_store

        opened = open_store(store)
        try:
            yield require_meta(opened, needed_by="budgets")
        finally:
            opened.close()
    else:
        yield require_meta(store, needed_by="budgets")


def set_budget(spec: BudgetSpec, *, store: Store | str | None = None) -> None:
    """Save `spec` in the store (every process using it applies it within a second)."""
    with _store(store) as st:
        st.meta_put(ledger.BUDGETS_NS, spec.name, spec.to_json())


def list_budgets(*, store: Store | str | None = None) -> list[BudgetSpec]:
    """Every budget saved in the store, by name."""
    with _store(store) as st:
        items = st.meta_items(ledger.BUDGETS_NS)
    return [BudgetSpec.from_json(items[name]) for name in sorted(items)]


def remove_budget(name: str, *, store: Store | str | None = None) -> bool:
    """Delete a budget from the store; True if it existed."""
    with _store(store) as st:
        return st.meta_delete(ledger.BUDGETS_NS, name)


def budget_status(
    name: str | None = None,
    *,
    store: Store | str | None = None,
    now: datetime | None = None,
    session: str | None = None,
) -> list[BudgetStatus]:
    """The status of one budget (or of every budget); a per-session budget lists its top-spending sessions.

    Raises:
        ValidationError: no budget has that name.
    """
    now = now or datetime.now(timezone.utc)
    with _store(store) as st:
        specs = list_budgets(store=st)
        if name is not None:
            specs = [s for s in specs if s.name == name]
            if not specs:
                raise ValidationError(f"no budget named {name!r}: list them with 'tokentrail budget list'")
        out: list[BudgetStatus] = []
        for spec in specs:
            if spec.period == "session" and session is None:
                out.extend(session_statuses(spec, st, now))
            else:
                out.append(compute_status(spec, st, now, session if spec.period == "session" else None))
    return out
