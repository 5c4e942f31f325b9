"""Instrument Google's `google-genai` SDK: `models.generate_content` and `generate_content_stream`.

Both the sync client (`client.models`) and the async one (`client.aio.models`) are covered. Gemini
reports thinking tokens outside its candidates count and tool-use prompt tokens outside its prompt
count; `usage.from_gemini` adds them in, so thinking is billed as output. A stream's usage is the last
`usage_metadata` it carried (the SDK merges automatic continuation hops into it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._common import Config, Endpoint, Result, plain, to_text, warm_up
from ._patch import Instrumentation, patch
from .usage import _get, from_gemini

__all__ = ["instrument_google"]


def _provider_of(resource: Any) -> str | None:
    return "google"


def _finish_reason(candidate: Any) -> str | None:
    reason = _get(candidate, "finish_reason")
    if reason is None:
        return None
    value = getattr(reason, "value", reason)
    return value if isinstance(value, str) and value else None


def _parts_text(candidate: Any, out: list[str]) -> None:
    for part in _get(_get(candidate, "content"), "parts") or ():
        if _get(part, "thought"):
            continue
        text = _get(part, "text")
        if text:
            out.append(text)
            continue
        call = _get(part, "function_call")
        if call is not None:
            out.append(to_text({"name": _get(call, "name"), "args": _get(call, "args")}) or "")


class GenerateEndpoint(Endpoint):
    """`generate_content`: contents (and a system instruction) in, candidates out."""

    operation = "chat"

    def model(self, kwargs: Mapping[str, Any]) -> str | None:
        model = kwargs.get("model")
        if not isinstance(model, str) or not model:
            return None
        return model[len("models/") :] if model.startswith("models/") else model

    def prompt(self, kwargs: Mapping[str, Any]) -> Any:
        contents = plain(kwargs.get("contents"))
        system = _get(kwargs.get("config"), "system_instruction")
        if system is not None:
            return {"system_instruction": plain(system), "contents": contents}
        return contents

    def max_output_tokens(self, kwargs: Mapping[str, Any]) -> int | None:
        value = _get(kwargs.get("config"), "max_output_tokens")
        return value if type(value) is int else None

    def result(self, response: Any) -> Result:
        usage = _get(response, "usage_metadata")
        candidates = _get(response, "candidates") or ()
        texts: list[str] = []
        for candidate in candidates:
            _parts_text(candidate, texts)
        return Result(
            usage=from_gemini(usage) if usage is not None else None,
            response_id=_get(response, "response_id") or None,
            response_model=_get(response, "model_version") or None,
            finish_reason=_finish_reason(candidates[0]) if candidates else None,
            text="".join(texts) or None,
        )

    def is_content(self, chunk: Any) -> bool:
        return bool(getattr(chunk, "candidates", None))

    def stream_result(self, chunks: list[Any]) -> Result:
        usage = None
        response_id = model = finish = None
        texts: list[str] = []
        for chunk in chunks:
            if chunk.usage_metadata is not None:
                usage = chunk.usage_metadata
            response_id = chunk.response_id or response_id
            model = chunk.model_version or model
            for candidate in chunk.candidates or ():
                finish = _finish_reason(candidate) or finish
                _parts_text(candidate, texts)
        return Result(
            usage=from_gemini(usage) if usage is not None else None,
            response_id=response_id,
            response_model=model,
            finish_reason=finish,
            text="".join(texts) or None,
            partial=usage is not None and finish is None,
        )


class StreamEndpoint(GenerateEndpoint):
    """`generate_content_stream`: always a stream."""

    streams_always = True


_GENERATE, _STREAM = GenerateEndpoint(), StreamEndpoint()


def _patch_models(handle: Instrumentation, models: Any, is_async: bool, config: Config, client_id: int | None) -> None:
    patch(
        handle,
        models,
        "generate_content",
        _GENERATE,
        "async" if is_async else "sync",
        config,
        _provider_of,
        "google",
        client_id,
    )
    # Sync: a generator (nothing is sent until it is iterated). Async: a coroutine returning an async iterator.
    patch(
        handle,
        models,
        "generate_content_stream",
        _STREAM,
        "async" if is_async else "sync_iter",
        config,
        _provider_of,
        "google",
        client_id,
    )


def instrument_google(
    client: Any = None, *, tracker: Any = None, provider: str | None = None, display: bool | None = None
) -> Any:
    """Record every call made through a `google.genai.Client` (or, with no client, through every client).

    Args:
        client: a `google.genai.Client` (its `aio` side is included); None patches the SDK classes.
        tracker: the Tracker to record on (default: the default tracker at call time).
        provider: record this provider id instead of `google`.
        display: show (True) or hide (False) the per-call panel for these calls (default: the tracker's).

    Returns:
        The client, when one was given; otherwise an `Instrumentation` handle that undoes the patch.

    Raises:
        ImportError: the `google-genai` package is not installed.

    Example:
        >>> from google import genai  # doctest: +SKIP
        >>> client = instrument_google(genai.Client())  # doctest: +SKIP
    """
    from google.genai import models as genai_models

    warm_up()
    config = Config(tracker=tracker, provider=provider, display=display)
    if client is None:
        handle = Instrumentation("google-genai")
        _patch_models(handle, genai_models.Models, False, config, None)
        _patch_models(handle, genai_models.AsyncModels, True, config, None)
        return handle
    handle = Instrumentation(f"google-genai client {type(client).__name__}")
    if type(client).__name__ == "AsyncClient":  # `client.aio` given on its own
        _patch_models(handle, client.models, True, config, id(client))
        return client
    _patch_models(handle, client.models, False, config, id(client))
    aio = getattr(client, "aio", None)
    if aio is not None:
        _patch_models(handle, aio.models, True, config, id(client))
    return client
