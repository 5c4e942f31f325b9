"""Budgets: a spend (or token) limit per period and scope, with threshold alerts and an optional hard stop.

A budget is a limit in USD or tokens over a period — a calendar day, week or month in a stated time
zone, a rolling N days, or the life of each session — for a scope: everything, or one project, agent,
user, session, model, environment or label value. Define it in code (`budget(...)`), in
`tokentrail.toml` (`[budgets.NAME]`, read by `load_budgets`), or with `tokentrail budget set`; it is
kept in the store's shared metadata, so every process using that store applies it.

What this concern guarantees:

- **Thresholds fire exactly once** per threshold, period and scope (and per session for session
  budgets), across processes, and fire again after the period rolls over.
- **A hard stop (`enforce=True`) refuses the call before the provider is called**, raising
  `BudgetExceededError` (a `BudgetRefusedError`) naming the budget, the spend, the limit and the refused
  call's estimated cost. Concurrent calls from any number of threads and processes cannot jointly pass
  the limit through a race: each allowed call holds a reservation, visible to every process, until it is
  stored. What remains is estimation error — at most one call's excess over its estimate per call in
  flight, and none for calls that set `max_tokens` (`help(tokentrail.budgets.engine)` explains how).
- **Status is honest**: spend comes from the store; calls in flight are shown apart; the projection
  says which rate it assumes.

Example:
    >>> import tokentrail as tt
    >>> from tokentrail.budgets import budget
    >>> b = budget("monthly", limit_usd=500, period="month", tz="UTC", tracker=tt.Tracker("memory://"))
    >>> b.status().percent
    0.0
"""

from __future__ import annotations

from .api import Budget, budget, budget_status, list_budgets, load_budgets, remove_budget, set_budget
from .engine import DEFAULT_OUTPUT_TOKENS, BudgetEngine, BudgetRefusedError, engine_for
from .periods import PeriodWindow, period_window
from .spec import BudgetSpec, parse_scope
from .status import BudgetStatus

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "Budget",
    "BudgetEngine",
    "BudgetRefusedError",
    "BudgetSpec",
    "BudgetStatus",
    "PeriodWindow",
    "budget",
    "budget_status",
    "engine_for",
    "list_budgets",
    "load_budgets",
    "parse_scope",
    "period_window",
    "remove_budget",
    "set_budget",
]
