"""What budgets say: the refusal of a call by a hard stop, and the alert of a crossed threshold.

A refusal names the budget, its scope and period, the spend already stored, what other calls still hold
while in flight (left out when nothing is), the limit, and the refused call's estimate with how it was made.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import BudgetExceededError
from .spec import BudgetSpec
from .status import BudgetStatus

if TYPE_CHECKING:
    from ..tracker import PendingCall

__all__ = ["BudgetRefusedError", "refusal", "threshold_alert"]

DEFAULT_OUTPUT_TOKENS = 4096
"""Output tokens assumed for a call that sets no `max_tokens`, when estimating it for a hard stop."""


class BudgetRefusedError(BudgetExceededError):
    """A call was refused by an enforced budget; the attributes carry the numbers in the message."""

    def __init__(self, message: str, *, budget: str, period: str, spent_usd: Decimal, reserved_usd: Decimal,
                 limit_usd: Decimal | None, estimated_usd: Decimal, spent_tokens: int, limit_tokens: int | None,
                 estimated_tokens: int) -> None:  # fmt: skip
        super().__init__(message)
        self.budget = budget
        self.period = period
        """The period key, e.g. `month:2026-11`."""
        self.spent_usd = spent_usd
        self.reserved_usd = reserved_usd
        """Estimated cost of other calls in flight (sent, or finished in another process but not yet stored)."""
        self.limit_usd = limit_usd
        self.estimated_usd = estimated_usd
        """Estimated cost of the refused call."""
        self.spent_tokens = spent_tokens
        self.limit_tokens = limit_tokens
        self.estimated_tokens = estimated_tokens


def _money(d: Decimal | None) -> str:
    from ..formatting import format_money

    return format_money(d)


def refusal(spec: BudgetSpec, period: str, pending: PendingCall, spent_usd: Decimal, held_usd: Decimal, usd: Decimal,
            spent_tokens: int, held_tokens: int, tokens: int) -> BudgetRefusedError:  # fmt: skip
    if spec.limit_usd is not None and (
        spent_usd + held_usd + usd > spec.limit_usd or spent_usd + held_usd >= spec.limit_usd
    ):
        flight = f" + {_money(held_usd)} in flight" if held_usd else ""
        numbers = (f"spent {_money(spent_usd)}{flight} of its {_money(spec.limit_usd)} limit; "
                   f"this call's estimated cost is {_money(usd)}")  # fmt: skip
    else:
        flight = f" + {held_tokens:,} in flight" if held_tokens else ""
        numbers = (f"used {spent_tokens:,}{flight} of its {spec.limit_tokens:,} token limit; "
                   f"this call may use {tokens:,} tokens")  # fmt: skip
    out = pending.max_output_tokens
    message = (
        f"budget {spec.name!r} ({spec.scope_text}, {period}) refused a call to {pending.model!r} before it was sent: "
        f"{numbers} ({pending.input_tokens:,} input + "
        f"{f'{out:,}' if out is not None else f'{DEFAULT_OUTPUT_TOKENS:,} assumed'} output tokens). "
        f"Raise the limit with 'tokentrail budget set {spec.name} ...' or wait for the next period."
    )
    return BudgetRefusedError(message, budget=spec.name, period=period, spent_usd=spent_usd, reserved_usd=held_usd,
                              limit_usd=spec.limit_usd, estimated_usd=usd, spent_tokens=spent_tokens,
                              limit_tokens=spec.limit_tokens, estimated_tokens=tokens)  # fmt: skip


def threshold_alert(status: BudgetStatus, threshold: float, now: datetime) -> Any:
    from ..alerts.model import Alert

    spec = status.spec
    if spec.limit_usd is not None:
        amount = f"{_money(status.spent_usd)} of {_money(spec.limit_usd)}"
    else:
        amount = f"{status.spent_tokens:,} of {spec.limit_tokens:,} tokens"
    where = f" for session {status.session}" if status.session else ""
    proj = f"; projected {_money(status.projected_usd)} by period end" if status.projected_usd is not None else ""
    return Alert(
        rule=f"budget:{spec.name}",
        key=f"{status.period_key}|{threshold:.0%}",
        title=f"Budget {spec.name!r} reached {threshold:.0%}{where} ({amount}, {spec.period}, {spec.scope_text})",
        message=f"Spent {status.percent}% of the limit in {status.period_key}{proj}.",
        severity="critical" if threshold >= 1 else "warning",
        at=now,
        data={**status.to_dict(), "threshold": threshold},
    )
