"""Who and what a call is for, carried in `contextvars` so nothing is passed by hand.

`with tokentrail.context(agent="router", user="u-1"):` (or `@tokentrail.context(...)`, or
`@tokentrail.agent("router")`) attributes every call made inside — across `asyncio` tasks and threads
that copy the context. Each entered context is a span of a workflow: nested contexts share the
trace id of the outermost one and name their enclosing span as parent, so the calls of a multi-agent
run form a tree.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from .errors import ValidationError

__all__ = ["Scope", "agent", "context", "current_scope"]

F = TypeVar("F", bound=Callable[..., Any])

_EMPTY_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Scope:
    """The attribution in force: dimensions, labels and the workflow span."""

    agent: str | None = None
    user: str | None = None
    session: str | None = None
    project: str | None = None
    environment: str | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY_LABELS)
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    name: str | None = None
    """The span's name (the agent's, or the decorated function's)."""
    display: bool | None = None
    """Show (True) or hide (False) the per-call panel for calls made inside; None: not said here."""


EMPTY_SCOPE = Scope()
_scope: ContextVar[Scope] = ContextVar("tokentrail_scope", default=EMPTY_SCOPE)


def current_scope() -> Scope:
    """The attribution in force for a call made now."""
    return _scope.get()


def _check(name: str, value: object) -> None:
    if value is not None and (type(value) is not str or not value):
        raise ValidationError(f"{name}={value!r} is not valid: expected a non-empty string or None")


class context:
    """Attribute every call made inside to these dimensions and labels; a span of the workflow.

    Works as a context manager (sync and async code alike) and as a decorator of sync or async functions.
    Values given here override the enclosing context's; labels are merged.

    Args:
        agent, user, session, project, environment: dimensions for the calls inside.
        name: the span's name (default: the agent, or the decorated function's name).
        display: True prints the per-call panel for every call made inside, False prints none, whatever
            the tracker's setting or the client's (`instrument(client, display=...)`); None inherits the
            enclosing context's. (So `display` cannot be a label given here.)
        **labels: any other string dimensions.

    Raises:
        ValidationError: a value is not a string.

    Example:
        >>> with context(agent="router", user="u-1", team="search"):
        ...     current_scope().labels["team"]
        'search'
    """

    __slots__ = ("_values", "_labels", "_name", "_display", "_tokens")

    def __init__(
        self,
        *,
        agent: str | None = None,
        user: str | None = None,
        session: str | None = None,
        project: str | None = None,
        environment: str | None = None,
        name: str | None = None,
        display: bool | None = None,
        **labels: str,
    ) -> None:
        self._values = {
            "agent": agent,
            "user": user,
            "session": session,
            "project": project,
            "environment": environment,
        }
        for key, value in self._values.items():
            _check(key, value)
        _check("name", name)
        if display is not None and type(display) is not bool:
            raise ValidationError(f"display={display!r} is not valid: expected True, False or None")
        self._display = display
        if labels:
            from .model import validate_labels

            validate_labels(labels)
        self._labels = labels
        self._name = name
        self._tokens: list[Token[Scope]] = []

    def _enter_scope(self, default_name: str | None = None) -> Token[Scope]:
        outer = _scope.get()
        values = {k: v if v is not None else getattr(outer, k) for k, v in self._values.items()}
        labels = MappingProxyType({**outer.labels, **self._labels}) if self._labels else outer.labels
        scope = Scope(
            **values,
            labels=labels,
            trace_id=outer.trace_id or os.urandom(16).hex(),
            span_id=os.urandom(8).hex(),
            parent_span_id=outer.span_id,
            name=self._name or self._values["agent"] or default_name,
            display=outer.display if self._display is None else self._display,
        )
        return _scope.set(scope)

    def __enter__(self) -> Scope:
        self._tokens.append(self._enter_scope())
        return _scope.get()

    def __exit__(self, *exc: object) -> None:
        _scope.reset(self._tokens.pop())

    async def __aenter__(self) -> Scope:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__()

    def __call__(self, func: F) -> F:
        import inspect

        name = getattr(func, "__qualname__", None)
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = self._enter_scope(name)
                try:
                    return await func(*args, **kwargs)
                finally:
                    _scope.reset(token)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = self._enter_scope(name)
            try:
                return func(*args, **kwargs)
            finally:
                _scope.reset(token)

        return wrapper  # type: ignore[return-value]


def agent(name: str, **kwargs: Any) -> context:
    """Shorthand for `context(agent=name, ...)`, as decorator or context manager.

    Example:
        >>> @agent("planner")
        ... def plan() -> str | None:
        ...     return current_scope().agent
        >>> plan()
        'planner'
    """
    return context(agent=name, **kwargs)
