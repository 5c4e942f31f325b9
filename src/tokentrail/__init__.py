"""tokentrail: record every LLM call — tokens, cost, latency, outcome, who made it — and answer what it cost.

```python
import tokentrail as tt
tt.record(model="gpt-4o", input_tokens=1200, output_tokens=300, agent="support", user="u-42")
print(tt.summary(period="today"))
print(tt.rates().tokens_per_s)  # over the last 60 s
```

Importing tokentrail patches nothing and starts no thread; the writer thread starts on the first record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _defaults
from .context import agent, context
from .errors import (
    BudgetExceededError,
    ConfigError,
    SchemaVersionError,
    StoreError,
    TokentrailError,
    UnknownModelError,
    ValidationError,
)

if TYPE_CHECKING:
    from .analysis import breakdown, performance, summary
    from .analysis.rates import rates
    from .budgets import budget
    from .capture import instrument, instrument_anthropic, instrument_google, instrument_openai, uninstrument
    from .display import enable_auto_summary, print_summary
    from .model import Call
    from .pricing import Cost, calculate_cost, set_price
    from .tokens import TokenCount, count_message_tokens, count_tokens, estimate_tokens, truncate_to_tokens
    from .tracker import SessionStats, Tracker, configure, default_tracker

# Imported on first use, so `import tokentrail` stays cheap (the CLI's --help pays for it): the tracker,
# reports, price tables and encodings load when something asks for them.
_LAZY = {
    "breakdown": "analysis",
    "performance": "analysis",
    "summary": "analysis",
    "rates": "analysis.rates",
    "budget": "budgets",
    "instrument": "capture",
    "instrument_anthropic": "capture",
    "instrument_google": "capture",
    "instrument_openai": "capture",
    "uninstrument": "capture",
    "enable_auto_summary": "display",
    "print_summary": "display",
    "Call": "model",
    "Cost": "pricing",
    "calculate_cost": "pricing",
    "set_price": "pricing",
    "TokenCount": "tokens",
    "count_message_tokens": "tokens",
    "count_tokens": "tokens",
    "estimate_tokens": "tokens",
    "truncate_to_tokens": "tokens",
    "SessionStats": "tracker",
    "Tracker": "tracker",
    "configure": "tracker",
    "default_tracker": "tracker",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tokentrail' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "BudgetExceededError",
    "Call",
    "ConfigError",
    "Cost",
    "SchemaVersionError",
    "SessionStats",
    "StoreError",
    "TokenCount",
    "TokentrailError",
    "Tracker",
    "UnknownModelError",
    "ValidationError",
    "agent",
    "breakdown",
    "budget",
    "calculate_cost",
    "configure",
    "context",
    "count_message_tokens",
    "count_tokens",
    "default_tracker",
    "enable_auto_summary",
    "estimate_tokens",
    "flush",
    "instrument",
    "instrument_anthropic",
    "instrument_google",
    "instrument_openai",
    "on_call",
    "performance",
    "print_summary",
    "rates",
    "record",
    "reset_session",
    "session_stats",
    "set_price",
    "summary",
    "truncate_to_tokens",
    "uninstrument",
]


_tracker: Any = None


def record(model: str, input_tokens: int = 0, output_tokens: int = 0, **fields: Any) -> None:
    """Record one LLM call on the default tracker (see `Tracker.record`).

    Example:
        >>> import tokentrail as tt
        >>> tt.record(model="gpt-4o", input_tokens=1200, output_tokens=300, agent="support")  # doctest: +SKIP
    """
    global _tracker
    if _tracker is None:
        from . import tracker as _tracker
    (_tracker._default or _tracker.default_tracker()).record(model, input_tokens, output_tokens, **fields)


def flush(timeout: float | None = 30.0) -> bool:
    """Write everything recorded so far to the store; True when done within `timeout` seconds."""
    from .tracker import default_tracker

    return default_tracker().flush(timeout)


def on_call(listener: Any) -> Any:
    """Call `listener(call)` for every completed call; returns a function that unsubscribes."""
    from .tracker import default_tracker

    return default_tracker().on_call(listener)


def session_stats() -> SessionStats:
    """This process's totals since start (or `reset_session()`)."""
    from .tracker import default_tracker

    return default_tracker().session_stats()


def reset_session() -> None:
    """Start this process's session totals again from zero."""
    from .tracker import default_tracker

    default_tracker().reset_session()


def _default_report_store() -> Any:
    """The store a report reads when given none: the default tracker's, flushed first so it is current."""
    from .tracker import default_tracker

    tracker = default_tracker()
    tracker.flush()
    return tracker.store


# The composition root of reports: analysis asks `_defaults` for the store, never the tracker.
_defaults.provide_default_store(_default_report_store)
