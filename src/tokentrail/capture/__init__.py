"""Capture: record every LLM call an application makes, from the provider's own usage report.

`instrument()` patches the official SDKs — `openai`, `anthropic`, `google-genai` — either one client
(`client = tt.instrument(OpenAI())`) or, with no client, the SDK classes so every client is covered.
Each call is recorded once on a `Tracker` with the provider-reported tokens (normalized by
`tokentrail.capture.usage`: input includes cache reads and writes, output includes reasoning), timing
(duration, time to first token on streams), response id and served model, finish reason, prompt and
response text (hashed; kept only if the user opted in), the active `tokentrail.context` labels, and
the outcome. Guarantees:

- Importing tokentrail patches nothing and imports no SDK; `uninstrument()` restores the originals.
- Instrumenting twice records once; a response recorded by two paths (SDK and LangChain callback)
  carries the same `response_id` and is stored once.
- The caller gets the SDK's own response object, and their stream through a thin proxy that forwards
  everything. Provider errors are recorded and re-raised unchanged. A failure inside tokentrail is
  logged and counted (`tracker.health.internal_errors`), never raised into the call — except a
  budget guard's `BudgetExceededError`, raised before the request is sent.
- A stream that ends without a usage report is counted with `tokentrail.tokens` and marked
  `tokens_estimated=True`, never recorded as 0/0.
"""

from __future__ import annotations

import types
from typing import Any

from ._patch import Instrumentation, unpatch
from .usage import Usage

__all__ = [
    "Instrumentation",
    "Usage",
    "instrument",
    "instrument_anthropic",
    "instrument_google",
    "instrument_openai",
    "uninstrument",
]

_SDKS = ("openai", "anthropic", "google")


def _sdk_of(client: Any) -> str | None:
    module = type(client).__module__ or ""
    if module.startswith("openai"):
        return "openai"
    if module.startswith("anthropic"):
        return "anthropic"
    if module.startswith("google.genai"):
        return "google"
    return None


def instrument_openai(
    client: Any = None, *, tracker: Any = None, provider: str | None = None, display: bool | None = None
) -> Any:
    """Instrument the `openai` SDK (see `tokentrail.capture.openai.instrument_openai`)."""
    from .openai import instrument_openai as impl

    return impl(client, tracker=tracker, provider=provider, display=_checked(display))


def instrument_anthropic(
    client: Any = None, *, tracker: Any = None, provider: str | None = None, display: bool | None = None
) -> Any:
    """Instrument the `anthropic` SDK (see `tokentrail.capture.anthropic.instrument_anthropic`)."""
    from .anthropic import instrument_anthropic as impl

    return impl(client, tracker=tracker, provider=provider, display=_checked(display))


def instrument_google(
    client: Any = None, *, tracker: Any = None, provider: str | None = None, display: bool | None = None
) -> Any:
    """Instrument the `google-genai` SDK (see `tokentrail.capture.google.instrument_google`)."""
    from .google import instrument_google as impl

    return impl(client, tracker=tracker, provider=provider, display=_checked(display))


def _checked(display: object) -> bool | None:
    if display is not None and type(display) is not bool:
        from ..errors import ValidationError

        raise ValidationError(f"display={display!r} is not valid: expected True, False or None")
    return display


_BY_SDK = {"openai": instrument_openai, "anthropic": instrument_anthropic, "google": instrument_google}


def instrument(
    client: Any = None, *, tracker: Any = None, provider: str | None = None, display: bool | None = None
) -> Any:
    """Record every LLM call made through `client`, or through every client of every installed SDK.

    Args:
        client: an `openai`, `anthropic` or `google-genai` client; None instruments each of these SDKs
            that is installed (the SDK classes, so clients created later are covered too).
        tracker: the Tracker to record on (default: the default tracker at the time of each call).
        provider: record this provider id instead of the one detected from the client (e.g. for an
            OpenAI-compatible server whose URL says nothing).
        display: True prints the per-call panel for every call made through `client` (False never does),
            whatever the tracker's `display` setting; a `tokentrail.context(display=...)` around a call
            wins over both. None (the default) leaves it to the context, then the tracker.

    Returns:
        The client itself when one was given, so `client = tt.instrument(OpenAI())` reads naturally;
        otherwise an `Instrumentation` handle whose `uninstrument()` — or the end of its `with`
        block — undoes what this call did.

    Raises:
        ValidationError: `client` is not a client of a supported SDK.

    Example:
        >>> import tokentrail as tt
        >>> from openai import OpenAI  # doctest: +SKIP
        >>> client = tt.instrument(OpenAI())  # doctest: +SKIP
        >>> quiet = tt.instrument(OpenAI(), display=False)  # doctest: +SKIP
        >>> with tt.instrument():  # doctest: +SKIP
        ...     ...  # every call of every SDK client is recorded here
    """
    _checked(display)
    if client is not None:
        sdk = _sdk_of(client)
        if sdk is None:
            from ..errors import ValidationError

            raise ValidationError(
                f"client={type(client).__module__}.{type(client).__qualname__} is not a client tokentrail can "
                "instrument: pass an openai, anthropic or google-genai client, or use the LangChain/LiteLLM "
                "callbacks in tokentrail.integrations"
            )
        return _BY_SDK[sdk](client, tracker=tracker, provider=provider, display=display)
    handle = Instrumentation("all installed SDKs")
    for function in _BY_SDK.values():
        try:
            part = function(None, tracker=tracker, provider=provider, display=display)
        except ImportError:
            continue
        handle._states.extend(part._states)
        handle._parts.append(part)
    return handle


def uninstrument(target: Any = None) -> int:
    """Undo instrumentation: everything (no argument), one client, one SDK, or one handle.

    Args:
        target: None for everything tokentrail patched; a client given to `instrument`; an SDK module
            or its name (`"openai"`, `"anthropic"`, `"google"`) for its class-level patches; or an
            `Instrumentation` handle.

    Returns:
        How many methods were restored.

    Example:
        >>> uninstrument()  # nothing was patched
        0
    """
    if target is None:
        return unpatch(lambda state: True)
    if isinstance(target, Instrumentation):
        return target.uninstrument()
    name = target if isinstance(target, str) else target.__name__ if isinstance(target, types.ModuleType) else None
    if name is not None:
        sdk = "google" if name.startswith("google") else name.split(".")[0]
        return unpatch(lambda state: state.sdk == sdk and state.client_id is None)
    client_id = id(target)
    return unpatch(lambda state: state.client_id == client_id)
