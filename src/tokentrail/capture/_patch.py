"""Patching: wrap SDK methods on a class or on one client's resources, reversibly and only once.

Each patched attribute has one `_State` — what was there before, the wrapper, and the configs of the
`Instrumentation` handles that hold it (the newest one's tracker and provider are used). Instrumenting
again adds a config, never a second wrapper; undoing a handle removes its config, and the original
method comes back when no handle holds it any more. `unpatch()` forces it back whatever holds it.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ._common import Config, Endpoint, ProviderOf, run_async, run_sync, run_sync_iter

__all__ = ["Instrumentation", "patch", "patched_states", "unpatch"]

_MISSING = object()


class _State:
    """One patched attribute: what was there, the wrapper, and the configs of the handles that hold it."""

    __slots__ = (
        "owner_ref",
        "name",
        "original",
        "had_own",
        "wrapper",
        "configs",
        "config",
        "enabled",
        "provider_of",
        "sdk",
        "client_id",
        "__weakref__",
    )

    def __init__(self, owner: Any, name: str, provider_of: ProviderOf, sdk: str, client_id: int | None) -> None:
        is_class = isinstance(owner, type)
        self.owner_ref: Callable[[], Any] = (lambda: owner) if is_class else weakref.ref(owner)
        self.name = name
        own = owner.__dict__ if is_class else vars(owner)
        self.had_own = name in own
        self.original = own.get(name, _MISSING)
        self.wrapper: Callable[[], Any] = lambda: None
        self.configs: list[tuple[int, Config]] = []
        self.config = Config()
        self.enabled = True
        self.provider_of = provider_of
        self.sdk = sdk
        self.client_id = client_id

    def restore(self) -> None:
        self.enabled = False
        owner = self.owner_ref()
        if owner is None:
            return
        current = (owner.__dict__ if isinstance(owner, type) else vars(owner)).get(self.name, _MISSING)
        if current is not self.wrapper():
            return  # someone patched over us: leave theirs in place (our wrapper now passes through)
        if self.had_own:
            setattr(owner, self.name, self.original)
        else:
            delattr(owner, self.name)


_lock = threading.RLock()
_states: dict[tuple[int, str], _State] = {}


class Instrumentation:
    """What an `instrument*()` call patched; `uninstrument()` (or leaving its `with` block) undoes it.

    Example:
        >>> import tokentrail as tt
        >>> with tt.instrument_openai():  # doctest: +SKIP
        ...     client.chat.completions.create(model="gpt-4o", messages=[...])
    """

    def __init__(self, description: str) -> None:
        self.description = description
        self._states: list[_State] = []
        self._parts: list[Instrumentation] = []
        self._active = True

    def __repr__(self) -> str:
        state = "active" if self._active else "undone"
        return f"<tokentrail Instrumentation of {self.description}: {len(self._states)} methods, {state}>"

    def __enter__(self) -> Instrumentation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.uninstrument()

    @property
    def active(self) -> bool:
        """False once `uninstrument()` ran."""
        return self._active

    def uninstrument(self) -> int:
        """Undo this handle's patches (a method another handle still holds stays patched for it).

        Returns:
            How many methods got their original back.
        """
        restored = sum(part.uninstrument() for part in self._parts)
        with _lock:
            if not self._active:
                return restored
            self._active = False
            key = id(self)
            for state in self._states if not self._parts else ():
                state.configs = [(k, c) for k, c in state.configs if k != key]
                if state.configs:
                    state.config = state.configs[-1][1]
                elif state.enabled:
                    _drop(state)
                    restored += 1
        return restored


def _drop(state: _State) -> None:
    state.restore()
    for k, v in list(_states.items()):
        if v is state:
            del _states[k]


def patch(
    handle: Instrumentation,
    owner: Any,
    name: str,
    endpoint: Endpoint,
    kind: str,
    config: Config,
    provider_of: ProviderOf,
    sdk: str,
    client_id: int | None = None,
) -> bool:
    """Wrap `owner.name` (a class's function or one resource object's bound method) for `handle`.

    `kind` is `sync`, `async` or `sync_iter` (see the `run_*` functions) or a callable
    `kind(state, endpoint, original) -> wrapper` for special cases. Returns False if there is no such
    method (an older SDK).
    """
    if getattr(owner, name, None) is None:
        return False
    with _lock:
        key = (id(owner), name)
        state = _states.get(key)
        if state is None or state.owner_ref() is not owner:
            state = _State(owner, name, provider_of, sdk, client_id)
            is_class = isinstance(owner, type)
            wrapper = _make_wrapper(state, endpoint, owner, getattr(owner, name), kind, is_class)
            # A client's wrapper holds its resource: keep only weak references to both, so patching a
            # client never keeps it alive.
            state.wrapper = (lambda: wrapper) if is_class else weakref.ref(wrapper)
            setattr(owner, name, wrapper)
            _states[key] = state
            if not is_class:
                weakref.finalize(owner, _forget, key, weakref.ref(state))
        state.configs.append((id(handle), config))
        state.config = config
        handle._states.append(state)
    return True


def _forget(key: tuple[int, str], state_ref: Callable[[], _State | None]) -> None:
    with _lock:
        state = state_ref()
        if state is not None and _states.get(key) is state:
            del _states[key]


def _make_wrapper(state: _State, endpoint: Endpoint, owner: Any, target: Any, kind: Any, is_class: bool) -> Any:
    wrapper: Any
    if callable(kind):
        wrapper = kind(state, endpoint, owner, target, is_class)
        functools.update_wrapper(wrapper, target)
        wrapper._tokentrail_wrapped = True
        return wrapper
    runner = {"sync": run_sync, "sync_iter": run_sync_iter}.get(kind)
    if kind == "async":
        if is_class:

            async def async_method(self: Any, *args: Any, **kwargs: Any) -> Any:
                return await run_async(state, endpoint, target, self, (self, *args), kwargs)

            wrapper = async_method
        else:
            resource = owner

            async def async_bound(*args: Any, **kwargs: Any) -> Any:
                return await run_async(state, endpoint, target, resource, args, kwargs)

            wrapper = async_bound
    elif runner is not None:
        if is_class:

            def method(self: Any, *args: Any, **kwargs: Any) -> Any:
                return runner(state, endpoint, target, self, (self, *args), kwargs)

            wrapper = method
        else:
            resource = owner

            def bound(*args: Any, **kwargs: Any) -> Any:
                return runner(state, endpoint, target, resource, args, kwargs)

            wrapper = bound
    else:  # pragma: no cover - programming error
        raise ValueError(f"unknown wrapper kind {kind!r}")
    functools.update_wrapper(wrapper, target)
    wrapper._tokentrail_wrapped = True
    return wrapper


def unpatch(predicate: Callable[[_State], bool]) -> int:
    """Force-undo every patch matching `predicate`, whichever handles hold it; returns how many."""
    with _lock:
        states = [s for s in set(_states.values()) if predicate(s)]
        for state in states:
            state.configs.clear()
            _drop(state)
    return len(states)


def patched_states() -> list[_State]:
    """The patches in force (for tests and `repr`)."""
    with _lock:
        return list(_states.values())
