"""tokentrail: record every LLM call — tokens, cost, latency, outcome, who made it — and answer what it cost.

```python
import tokentrail as tt
tt.record(model="gpt-4o", input_tokens=1200, output_tokens=300, agent="support", user="u-42")
print(tt.summary(period="today"))
```

Importing tokentrail patches nothing and starts no thread; the writer thread starts on the first record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import tracker as _tracker
from .analysis import breakdown, performance, summary
from .context import agent, context
from .display import enable_auto_summary, print_summary
from .errors import (
    BudgetExceededError,
    ConfigError,
    SchemaVersionError,
    StoreError,
    TokentrailError,
    UnknownModelError,
    ValidationError,
)
from .model import Call
from .tracker import SessionStats, Tracker, configure, default_tracker

if TYPE_CHECKING:
    from .budgets import budget
    from .capture import instrument, instrument_anthropic, instrument_google, instrument_openai, uninstrument
    from .pricing import Cost, calculate_cost, set_price
    from .tokens import TokenCount, count_message_tokens, count_tokens, truncate_to_tokens

# Imported on first use: pricing and token counting pull in price tables and encodings.
_LAZY = {
    "budget": "budgets",
    "instrument": "capture",
    "instrument_anthropic": "capture",
    "instrument_google": "capture",
    "instrument_openai": "capture",
    "uninstrument": "capture",
    "Cost": "pricing",
    "calculate_cost": "pricing",
    "set_price": "pricing",
    "TokenCount": "tokens",
    "count_message_tokens": "tokens",
    "count_tokens": "tokens",
    "truncate_to_tokens": "tokens",
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
    "flush",
    "instrument",
    "instrument_anthropic",
    "instrument_google",
    "instrument_openai",
    "on_call",
    "performance",
    "print_summary",
    "record",
    "reset_session",
    "session_stats",
    "set_price",
    "summary",
    "truncate_to_tokens",
    "uninstrument",
]


def record(model: str, input_tokens: int = 0, output_tokens: int = 0, **fields: Any) -> None:
    """Record one LLM call on the default tracker (see `Tracker.record`).

    Example:
        >>> import tokentrail as tt
        >>> tt.record(model="gpt-4o", input_tokens=1200, output_tokens=300, agent="support")  # doctest: +SKIP
    """
    (_tracker._default or default_tracker()).record(model, input_tokens, output_tokens, **fields)


def flush(timeout: float | None = 30.0) -> bool:
    """Write everything recorded so far to the store; True when done within `timeout` seconds."""
    return default_tracker().flush(timeout)


def on_call(listener: Any) -> Any:
    """Call `listener(call)` for every completed call; returns a function that unsubscribes."""
    return default_tracker().on_call(listener)


def session_stats() -> SessionStats:
    """This process's totals since start (or `reset_session()`)."""
    return default_tracker().session_stats()


def reset_session() -> None:
    """Start this process's session totals again from zero."""
    default_tracker().reset_session()
