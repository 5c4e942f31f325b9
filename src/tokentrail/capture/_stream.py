"""Thin proxies over a caller's stream: forward everything, keep the chunks, record once at the end.

Per chunk they do the minimum — one list append and, until the first content chunk, one check for time
to first token — and they record when the stream is exhausted, fails, is closed (directly or by leaving
its `with` block), or is dropped unfinished. `isinstance(proxy, openai.Stream)` stays true.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from ._internal import internal_error

__all__ = ["AsyncStream", "Recording", "SyncStream"]


class _Reader(Protocol):
    def keep(self, chunk: Any) -> Any: ...

    def is_content(self, chunk: Any) -> bool: ...


class Recording(Protocol):
    """What a stream proxy needs of the call it records (`_common._Capture` is one).

    Declared here so this module needs nothing from `_common`, which wraps the caller's streams in these proxies.
    """

    first: int | None
    """When the first content chunk arrived (`time.perf_counter_ns()`); the proxy sets it."""

    @property
    def tracker(self) -> Any: ...

    @property
    def endpoint(self) -> _Reader: ...

    @property
    def chunks(self) -> list[Any]: ...

    @property
    def done(self) -> bool: ...

    def stream_ended(self) -> None: ...

    def failed(self, exc: BaseException) -> None: ...


class _Proxy:
    """Forwards everything it does not handle to the wrapped object, and passes isinstance checks."""

    __slots__ = ("__wrapped__", "_tt_capture", "_tt_it", "_tt_append", "_tt_keep", "_tt_hide", "_tt_watch")

    def __init__(self, wrapped: Any, capture: Recording, hide_usage_chunk: bool = False) -> None:
        object.__setattr__(self, "__wrapped__", wrapped)
        object.__setattr__(self, "_tt_capture", capture)
        object.__setattr__(self, "_tt_it", None)
        object.__setattr__(self, "_tt_append", capture.chunks.append)
        object.__setattr__(self, "_tt_keep", capture.endpoint.keep)
        object.__setattr__(self, "_tt_hide", hide_usage_chunk)
        object.__setattr__(self, "_tt_watch", True)  # until the first content chunk

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        cls: type = self.__wrapped__.__class__
        return cls

    def __getattr__(self, name: str) -> Any:
        if name == "__wrapped__" or name.startswith("_tt_"):
            raise AttributeError(name)  # only before __init__ finished
        return getattr(self.__wrapped__, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.__wrapped__, name, value)

    def __repr__(self) -> str:
        return repr(self.__wrapped__)

    def __del__(self) -> None:
        # A stream dropped unfinished still cost tokens: record what is known.
        try:
            capture = self._tt_capture
            if not capture.done:
                capture.stream_ended()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def _tt_first(self, chunk: Any) -> None:
        capture = self._tt_capture
        try:
            found = capture.endpoint.is_content(chunk)
        except Exception as exc:  # an odd chunk: stop looking, never break the caller's loop
            object.__setattr__(self, "_tt_watch", False)
            internal_error(capture.tracker, exc)
            return
        if found:
            object.__setattr__(self, "_tt_watch", False)
            if capture.first is None:
                capture.first = time.perf_counter_ns()


class SyncStream(_Proxy):
    """A caller's synchronous stream, recorded when it ends."""

    __slots__ = ()

    def __iter__(self) -> SyncStream:
        return self

    def __next__(self) -> Any:
        it = self._tt_it
        if it is None:
            wrapped = self.__wrapped__
            it = wrapped.__next__ if hasattr(type(wrapped), "__next__") else iter(wrapped).__next__
            object.__setattr__(self, "_tt_it", it)
        try:
            chunk = it()
        except StopIteration:
            self._tt_capture.stream_ended()
            raise
        except BaseException as exc:
            self._tt_capture.failed(exc)
            raise
        if self._tt_watch:  # until the first content chunk: keep chunks whole (ids, model, timing)
            self._tt_append(chunk)
            self._tt_first(chunk)
        else:  # then only what the record needs (text as str: no GC-tracked objects pile up)
            self._tt_append(self._tt_keep(chunk))
        if self._tt_hide and not chunk.choices and chunk.usage is not None:  # the usage chunk we asked for
            return self.__next__()
        return chunk

    def __enter__(self) -> SyncStream:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        self._tt_capture.stream_ended()
        exit_ = getattr(self.__wrapped__, "__exit__", None)
        return exit_(*exc_info) if exit_ is not None else None

    def close(self) -> Any:
        self._tt_capture.stream_ended()
        return self.__wrapped__.close()


class AsyncStream(_Proxy):
    """A caller's asynchronous stream, recorded when it ends."""

    __slots__ = ()

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Any:
        it = self._tt_it
        if it is None:
            wrapped = self.__wrapped__
            it = wrapped.__anext__ if hasattr(type(wrapped), "__anext__") else wrapped.__aiter__().__anext__
            object.__setattr__(self, "_tt_it", it)
        try:
            chunk = await it()
        except StopAsyncIteration:
            self._tt_capture.stream_ended()
            raise
        except BaseException as exc:
            self._tt_capture.failed(exc)
            raise
        if self._tt_watch:  # until the first content chunk: keep chunks whole (ids, model, timing)
            self._tt_append(chunk)
            self._tt_first(chunk)
        else:  # then only what the record needs (text as str: no GC-tracked objects pile up)
            self._tt_append(self._tt_keep(chunk))
        if self._tt_hide and not chunk.choices and chunk.usage is not None:  # the usage chunk we asked for
            return await self.__anext__()
        return chunk

    async def __aenter__(self) -> AsyncStream:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        self._tt_capture.stream_ended()
        exit_ = getattr(self.__wrapped__, "__aexit__", None)
        return (await exit_(*exc_info)) if exit_ is not None else None

    async def close(self) -> Any:
        self._tt_capture.stream_ended()
        return await self.__wrapped__.close()

    async def aclose(self) -> Any:
        self._tt_capture.stream_ended()
        return await self.__wrapped__.aclose()
