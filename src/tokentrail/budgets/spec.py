"""What a budget is: a limit, a period, a scope, thresholds, and whether it is enforced.

A `BudgetSpec` is plain, validated data. It round-trips through JSON (`to_json`/`from_json`) because
budgets live in the store's shared metadata, so a budget set in one process (or with the CLI) is seen
by every process using the same store. Bad input raises `ValidationError` naming the field and value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import ValidationError
from ..store.base import check_dimension

__all__ = ["CALENDAR_PERIODS", "SCOPE_DIMENSIONS", "BudgetSpec", "parse_scope", "parse_thresholds", "scope_text"]

CALENDAR_PERIODS = ("day", "week", "month")
SCOPE_DIMENSIONS = ("project", "agent", "user", "session", "model", "provider", "environment")
"""Dimensions a budget can be scoped to, besides `label:KEY`."""
_ROLLING = re.compile(r"^(?:rolling[:\s_-]?)?(\d{1,4})\s*d(?:ays?)?$")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")

Scope = tuple[tuple[str, str], ...]
"""A budget's scope: sorted (dimension, value) pairs that must all match; empty means everything."""


def _bad(name: str, value: object, expected: str) -> ValidationError:
    return ValidationError(f"{name}={value!r} is not valid: expected {expected}")


def parse_period(period: object) -> str:
    """`day`, `week`, `month`, `session`, or a rolling span (`7d`, `rolling:30d`) as `Nd`."""
    if type(period) is str:
        text = period.strip().lower()
        if text in CALENDAR_PERIODS or text == "session":
            return text
        m = _ROLLING.match(text)
        if m and int(m[1]) > 0:
            return f"{int(m[1])}d"
    raise _bad("period", period, "'day', 'week', 'month', 'session' or a rolling span such as '7d'")


def _scope_pair(dim: str, value: object) -> tuple[str, str]:
    dim = dim.strip()
    if dim not in SCOPE_DIMENSIONS and not dim.startswith("label:"):
        raise ValidationError(
            f"scope dimension {dim!r} is not known: use one of {', '.join(SCOPE_DIMENSIONS)} or label:KEY"
        )
    check_dimension(dim)
    if type(value) is not str or not value.strip():
        raise _bad(f"scope[{dim!r}]", value, "a non-empty string")
    return dim, value.strip()


def parse_scope(scope: object) -> Scope:
    """A scope from None/`"all"`, a mapping (`{"agent": "x"}`), or text (`"agent=x"`, `"label:team=search"`).

    Several parts combine with AND: `{"agent": "x", "label:team": "search"}` or `"agent=x,label:team=search"`.

    Example:
        >>> parse_scope("label:team=search"), parse_scope({"agent": "router"}), parse_scope(None)
        ((('label:team', 'search'),), (('agent', 'router'),), ())
    """
    if scope is None:
        return ()
    pairs: list[tuple[str, str]] = []
    if isinstance(scope, Mapping):
        for dim, value in scope.items():
            if dim == "labels" and isinstance(value, Mapping):
                pairs.extend(_scope_pair(f"label:{k}", v) for k, v in value.items())
            elif type(dim) is not str:
                raise _bad("scope", scope, "a mapping of dimension names to values")
            else:
                pairs.append(_scope_pair(dim, value))
    elif type(scope) is str:
        text = scope.strip()
        if text.lower() in ("", "all", "*", "global"):
            return ()
        for part in text.split(","):
            dim, sep, value = part.partition("=")
            if not sep and not dim.startswith("label:") and ":" in dim:
                dim, _, value = dim.partition(":")  # "agent:x"
                sep = "="
            if not sep:
                raise _bad("scope", scope, "'all', 'DIM=VALUE' (e.g. 'agent=router') or 'label:KEY=VALUE'")
            pairs.append(_scope_pair(dim, value))
    else:
        raise _bad("scope", scope, "None, 'all', a mapping such as {'agent': 'x'}, or text such as 'agent=x'")
    dims = [d for d, _ in pairs]
    if len(set(dims)) != len(dims):
        raise _bad("scope", scope, "each dimension at most once")
    return tuple(sorted(pairs))


def scope_text(scope: Scope) -> str:
    """The canonical text of a scope: `all`, or `agent=x,label:team=search`."""
    return ",".join(f"{d}={v}" for d, v in scope) if scope else "all"


def parse_thresholds(thresholds: object) -> tuple[float, ...]:
    """Fractions of the limit (`(0.5, 0.8, 1.0)`); text such as `"80%"` is read as a percentage."""
    if isinstance(thresholds, (str, bytes)) or not isinstance(thresholds, Sequence):
        raise _bad("thresholds", thresholds, "a list of fractions of the limit such as (0.5, 0.8, 1.0)")
    out: list[float] = []
    for t in thresholds:
        if type(t) is str and t.strip().endswith("%"):
            try:
                value = float(t.strip()[:-1]) / 100
            except ValueError:
                raise _bad("thresholds", thresholds, "fractions (0.8) or percentages ('80%')") from None
        elif type(t) in (int, float):
            value = float(t)
        else:
            raise _bad("thresholds", thresholds, "fractions (0.8) or percentages ('80%')")
        if not 0 < value <= 10:
            raise _bad("thresholds", thresholds, "fractions greater than 0 and at most 10 (1000 %)")
        out.append(round(value, 6))
    return tuple(sorted(set(out)))


def _money(value: object) -> Decimal | None:
    if value is None:
        return None
    if type(value) in (int, float, str, Decimal) and type(value) is not bool:
        try:
            d = Decimal(str(value).strip().lstrip("$"))
        except InvalidOperation:
            d = Decimal("NaN")
        if d.is_finite() and d > 0:
            return d
    raise _bad("limit_usd", value, "an amount of USD greater than 0, or None")


def _tokens(value: object) -> int | None:
    if value is None:
        return None
    if type(value) is int and value > 0:
        return value
    raise _bad("limit_tokens", value, "a whole number of tokens greater than 0, or None")


def _tz(value: object) -> str:
    from ..analysis.windows import resolve_tz

    if value is None:
        zone = resolve_tz(None)
    elif type(value) is str:
        zone = resolve_tz(value)
    else:
        raise _bad("tz", value, "an IANA time zone name such as 'Europe/Paris' or 'UTC'")
    return getattr(zone, "key", None) or ("UTC" if str(zone) == "UTC" else str(zone))


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    """The definition of one budget."""

    name: str
    """Unique name (letters, digits, `_ . -`)."""
    limit_usd: Decimal | None = None
    """Spend limit in USD per period, or None."""
    limit_tokens: int | None = None
    """Token limit (input + output) per period, or None."""
    period: str = "month"
    """`day`, `week`, `month` (calendar, in `tz`), `Nd` (rolling N days) or `session` (each session's lifetime)."""
    scope: Scope = ()
    """(dimension, value) pairs a call must match to count; empty: every call."""
    tz: str = "UTC"
    """The IANA zone whose midnights start and end calendar periods."""
    thresholds: tuple[float, ...] = (0.5, 0.8, 1.0)
    """Fractions of the limit at which an alert fires, once per period and scope."""
    enforce: bool = False
    """Refuse instrumented calls that would go past the limit (hard stop)."""

    @classmethod
    def create(
        cls,
        name: object,
        *,
        limit_usd: object = None,
        limit_tokens: object = None,
        period: object = "month",
        scope: object = None,
        tz: object = None,
        thresholds: object = (0.5, 0.8, 1.0),
        enforce: object = False,
    ) -> BudgetSpec:
        """Validate loose input (numbers, text, mappings) into a spec; raise `ValidationError` naming the field."""
        if type(name) is not str or not _NAME.match(name):
            raise _bad("name", name, "1-64 letters, digits, '_', '.' or '-'")
        usd, tokens = _money(limit_usd), _tokens(limit_tokens)
        if usd is None and tokens is None:
            raise ValidationError(f"budget {name!r} has no limit: give limit_usd=, limit_tokens= or both")
        if type(enforce) is not bool:
            raise _bad("enforce", enforce, "True or False")
        return cls(name=name, limit_usd=usd, limit_tokens=tokens, period=parse_period(period),
                   scope=parse_scope(scope), tz=_tz(tz), thresholds=parse_thresholds(thresholds),
                   enforce=enforce)  # fmt: skip

    @property
    def scope_text(self) -> str:
        return scope_text(self.scope)

    @property
    def rolling_days(self) -> int | None:
        """N for a rolling `Nd` period, else None."""
        return int(self.period[:-1]) if self.period.endswith("d") else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limit_usd": str(self.limit_usd) if self.limit_usd is not None else None,
            "limit_tokens": self.limit_tokens,
            "period": self.period,
            "scope": self.scope_text,
            "tz": self.tz,
            "thresholds": list(self.thresholds),
            "enforce": self.enforce,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BudgetSpec:
        data = json.loads(text)
        return cls.create(data["name"], limit_usd=data.get("limit_usd"), limit_tokens=data.get("limit_tokens"),
                          period=data.get("period", "month"), scope=data.get("scope"), tz=data.get("tz"),
                          thresholds=tuple(data.get("thresholds", (0.5, 0.8, 1.0))),
                          enforce=bool(data.get("enforce", False)))  # fmt: skip
