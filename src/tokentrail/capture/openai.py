"""Instrument the official `openai` SDK: Chat Completions, Responses, Embeddings and legacy Completions.

Covers `create` (sync and async, `stream=True` included), `parse`, and the `.stream(...)` helpers,
which call `create` underneath. A Chat Completions stream that did not ask for usage is sent with
`stream_options={"include_usage": True}` so the provider's own count is recorded; the extra usage-only
chunk is kept from the caller, who sees exactly the chunks they asked for. The provider is read from
the client's base URL (api.openai.com → `openai`, *.openai.azure.com → `azure`, openrouter.ai →
`openrouter`, integrate.api.nvidia.com → `nvidia`, port 11434 → `ollama`, unknown hosts → `openai-compatible`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ._common import Config, Endpoint, Result, plain, to_text, warm_up
from ._patch import Instrumentation, patch
from .usage import _get, from_openai_chat, from_openai_responses

__all__ = ["detect_provider", "instrument_openai"]

_HOSTS = {
    "api.openai.com": "openai",
    "openrouter.ai": "openrouter",
    "api.groq.com": "groq",
    "api.deepseek.com": "deepseek",
    "api.together.xyz": "together",
    "api.mistral.ai": "mistral",
    "api.x.ai": "x-ai",
    "api.fireworks.ai": "fireworks",
    "api.perplexity.ai": "perplexity",
    "api.cerebras.ai": "cerebras",
    "api.moonshot.ai": "moonshotai",
    "generativelanguage.googleapis.com": "google",
    "api.anthropic.com": "anthropic",
    "api.nvidia.com": "nvidia",  # NVIDIA NIM's hosted API: integrate.api.nvidia.com/v1
}
_AZURE = (".openai.azure.com", ".azure-api.net", ".cognitiveservices.azure.com", ".services.ai.azure.com")
_provider_cache: dict[str, str] = {}


def detect_provider(base_url: object) -> str:
    """The provider an OpenAI-compatible base URL belongs to.

    Example:
        >>> detect_provider("https://myco.openai.azure.com/openai/deployments/x"), detect_provider("http://localhost:11434/v1")
        ('azure', 'ollama')
    """
    text = str(base_url)
    found = _provider_cache.get(text)
    if found is not None:
        return found
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    provider = "openai-compatible"
    for known, name in _HOSTS.items():
        if host == known or host.endswith("." + known):
            provider = name
            break
    else:
        if host.endswith(_AZURE):
            provider = "azure"
        elif parts.port == 11434 or "ollama" in host:
            provider = "ollama"
    if len(_provider_cache) < 1000:
        _provider_cache[text] = provider
    return provider


def _provider_of(resource: Any) -> str | None:
    client = getattr(resource, "_client", None)
    if client is None:
        return None
    if type(client).__name__ in ("AzureOpenAI", "AsyncAzureOpenAI"):
        return "azure"
    return detect_provider(getattr(client, "base_url", ""))


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else to_text(value)


def _join(parts: list[str]) -> str | None:
    return "\n".join(parts) if parts else None


class ChatEndpoint(Endpoint):
    """`chat.completions.create` / `parse`: messages in, choices out."""

    operation = "chat"

    def prepare(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        options = kwargs.get("stream_options")
        if isinstance(options, Mapping):
            if "include_usage" in options:
                return kwargs, False  # the caller decided
            return {**kwargs, "stream_options": {**options, "include_usage": True}}, True
        return {**kwargs, "stream_options": {"include_usage": True}}, True

    def prompt(self, kwargs: Mapping[str, Any]) -> Any:
        return plain(kwargs.get("messages"))

    def prompt_messages(self, kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        messages = kwargs.get("messages")
        if isinstance(messages, (list, tuple)) and all(isinstance(m, dict) for m in messages):
            return list(messages)
        return None

    def result(self, response: Any) -> Result:
        usage = _get(response, "usage")
        choices = _get(response, "choices") or ()
        texts: list[str] = []
        finish = None
        for choice in choices:
            finish = finish or _get(choice, "finish_reason")
            message = _get(choice, "message")
            for value in (_get(message, "content"), _get(message, "refusal"), _get(message, "tool_calls")):
                text = _text(value)
                if text:
                    texts.append(text)
            legacy = _get(choice, "text")  # legacy Completions
            if isinstance(legacy, str) and legacy:
                texts.append(legacy)
        return Result(
            usage=from_openai_chat(usage) if usage is not None else None,
            response_id=_get(response, "id") or None,
            response_model=_get(response, "model") or None,
            finish_reason=finish,
            text=_join(texts),
        )

    def is_content(self, chunk: Any) -> bool:
        for choice in chunk.choices or ():
            delta = getattr(choice, "delta", None)
            if delta is None:
                if getattr(choice, "text", None):  # legacy Completions
                    return True
                continue
            if delta.content or delta.tool_calls or getattr(delta, "refusal", None):
                return True
            if getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None):
                return True
        return False

    def keep(self, chunk: Any) -> Any:
        choices = chunk.choices
        if choices and len(choices) == 1 and chunk.usage is None:
            choice = choices[0]
            delta = choice.__dict__.get("delta")  # legacy Completions choices have text, not delta
            if delta is not None and choice.finish_reason is None and not delta.tool_calls:
                return delta.content or ""
        return chunk

    def stream_result(self, chunks: list[Any]) -> Result:
        usage = finish = None
        for chunk in reversed(chunks):  # the usage chunk comes last, the finish reason just before it
            if type(chunk) is str:
                continue
            if usage is None and chunk.usage is not None:
                usage = chunk.usage
            if finish is None:
                finish = next((c.finish_reason for c in chunk.choices or () if c.finish_reason), None)
            if finish is not None and usage is not None:
                break
        text = _simple_stream_text(chunks)
        if text is None:
            text = _stream_text(chunks)
        last = next((chunk for chunk in reversed(chunks) if type(chunk) is not str), None)
        return Result(
            usage=from_openai_chat(usage) if usage is not None else None,
            response_id=_get(last, "id") or None,
            response_model=_get(last, "model") or None,
            finish_reason=finish,
            text=text or None,
        )


def _simple_stream_text(chunks: list[Any]) -> str | None:
    """The text of a one-choice stream without tool calls (the common case, kept fast); else None."""
    texts: list[str] = []
    append = texts.append
    for chunk in chunks:
        if type(chunk) is str:  # text of choice 0 (see ChatEndpoint.keep)
            append(chunk)
            continue
        choices = chunk.choices
        if choices:
            delta = getattr(choices[0], "delta", None)
            if delta is None or delta.tool_calls or len(choices) > 1:
                return None
            content = delta.content
            if content:
                append(content)
    return "".join(texts)


def _stream_text(chunks: list[Any]) -> str | None:
    """The text of any stream: every choice, legacy completions, and tool calls assembled from their deltas."""
    text: dict[int, list[str]] = {}
    tools: dict[tuple[int, int], dict[str, Any]] = {}
    for chunk in chunks:
        if type(chunk) is str:
            text.setdefault(0, []).append(chunk)
            continue
        for choice in chunk.choices or ():
            delta = getattr(choice, "delta", None)
            if delta is None:
                if getattr(choice, "text", None):
                    text.setdefault(choice.index, []).append(choice.text)
                continue
            if delta.content:
                text.setdefault(choice.index, []).append(delta.content)
            if delta.tool_calls:
                for call in delta.tool_calls:
                    _merge_tool_call(tools.setdefault((choice.index, call.index), {}), call)
    texts = ["".join(parts) for _, parts in sorted(text.items())]
    if tools:
        texts.append(to_text([tools[k] for k in sorted(tools)]) or "")
    return _join(texts)


def _merge_tool_call(acc: dict[str, Any], call: Any) -> None:
    if call.id:
        acc["id"] = call.id
    function = call.function
    if function is not None:
        fn = acc.setdefault("function", {"name": "", "arguments": ""})
        if function.name:
            fn["name"] += function.name
        if function.arguments:
            fn["arguments"] += function.arguments
    acc.setdefault("type", "function")


class CompletionEndpoint(ChatEndpoint):
    """Legacy `completions.create`: a prompt string in, choices with text out."""

    operation = "completion"

    def prompt(self, kwargs: Mapping[str, Any]) -> Any:
        return plain(kwargs.get("prompt"))

    def prompt_messages(self, kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        return None


class ResponsesEndpoint(Endpoint):
    """`responses.create` / `parse`: instructions and input in, output items out."""

    operation = "responses"

    def prompt(self, kwargs: Mapping[str, Any]) -> Any:
        instructions = kwargs.get("instructions")
        value = plain(kwargs.get("input"))
        if isinstance(instructions, str) and instructions:
            items = [{"role": "user", "content": value}] if isinstance(value, str) else list(value or ())
            return [{"role": "system", "content": instructions}, *items]
        return value

    def prompt_messages(self, kwargs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        prompt = self.prompt(kwargs)
        if isinstance(prompt, str):
            return [{"role": "user", "content": prompt}]
        if isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m for m in prompt):
            return prompt
        return None

    def result(self, response: Any) -> Result:
        usage = _get(response, "usage")
        status = _get(response, "status")
        incomplete = _get(_get(response, "incomplete_details"), "reason")
        error = _get(response, "error")
        return Result(
            usage=from_openai_responses(usage) if usage is not None else None,
            response_id=_get(response, "id") or None,
            response_model=_get(response, "model") or None,
            finish_reason=incomplete or status or None,
            text=_responses_text(response),
            error_type=(_get(error, "code") or "response_failed") if status == "failed" else None,
            error_message=_get(error, "message") if status == "failed" else None,
        )

    def is_content(self, chunk: Any) -> bool:
        kind = getattr(chunk, "type", "")
        return kind.endswith(".delta")

    def keep(self, chunk: Any) -> Any:
        if getattr(chunk, "type", None) == "response.output_text.delta":
            return chunk.delta or ""
        return chunk

    def stream_result(self, chunks: list[Any]) -> Result:
        final = None
        started = None
        deltas: list[str] = []
        for event in chunks:
            if type(event) is str:
                deltas.append(event)
                continue
            kind = getattr(event, "type", "")
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                final = event.response
            elif kind == "response.created":
                started = event.response
            elif kind == "response.output_text.delta":
                deltas.append(event.delta)
        if final is not None:
            return self.result(final)
        return Result(
            response_id=_get(started, "id") or None,
            response_model=_get(started, "model") or None,
            text="".join(deltas) or None,
        )


def _responses_text(response: Any) -> str | None:
    texts: list[str] = []
    for item in _get(response, "output") or ():
        kind = _get(item, "type")
        if kind == "message":
            for part in _get(item, "content") or ():
                text = _get(part, "text") or _get(part, "refusal")
                if text:
                    texts.append(text)
        elif kind == "function_call":
            texts.append(to_text({"name": _get(item, "name"), "arguments": _get(item, "arguments")}) or "")
    return _join(texts)


class EmbeddingEndpoint(Endpoint):
    """`embeddings.create`: input tokens only."""

    operation = "embedding"

    def prompt(self, kwargs: Mapping[str, Any]) -> Any:
        return plain(kwargs.get("input"))

    def result(self, response: Any) -> Result:
        usage = _get(response, "usage")
        return Result(
            usage=from_openai_chat(usage) if usage is not None else None,
            response_model=_get(response, "model") or None,
        )


_CHAT, _COMPLETION, _RESPONSES, _EMBEDDING = (
    ChatEndpoint(),
    CompletionEndpoint(),
    ResponsesEndpoint(),
    EmbeddingEndpoint(),
)

# (module, sync class, async class, methods, endpoint)
_CLASS_TARGETS = (
    ("openai.resources.chat.completions", "Completions", "AsyncCompletions", ("create", "parse"), _CHAT),
    ("openai.resources.beta.chat.completions", "Completions", "AsyncCompletions", ("parse",), _CHAT),
    ("openai.resources.responses", "Responses", "AsyncResponses", ("create", "parse"), _RESPONSES),
    ("openai.resources.embeddings", "Embeddings", "AsyncEmbeddings", ("create",), _EMBEDDING),
    ("openai.resources.completions", "Completions", "AsyncCompletions", ("create",), _COMPLETION),
)
_RESOURCES = (
    (("chat", "completions"), ("create", "parse"), _CHAT),
    (("beta", "chat", "completions"), ("parse",), _CHAT),
    (("responses",), ("create", "parse"), _RESPONSES),
    (("embeddings",), ("create",), _EMBEDDING),
    (("completions",), ("create",), _COMPLETION),
)


def instrument_openai(
    client: Any = None, *, tracker: Any = None, provider: str | None = None, display: bool | None = None
) -> Any:
    """Record every call made through an OpenAI client (or, with no client, through every client).

    Args:
        client: an `openai.OpenAI` / `AsyncOpenAI` / `AzureOpenAI` client; None patches the SDK classes.
        tracker: the Tracker to record on (default: the default tracker at call time).
        provider: record this provider id instead of the one read from the client's base URL.
        display: show (True) or hide (False) the per-call panel for these calls (default: the tracker's).

    Returns:
        The client, when one was given (`client = instrument_openai(OpenAI())`); otherwise an
        `Instrumentation` handle whose `uninstrument()` (or `with` block) undoes the patch.

    Raises:
        ImportError: the `openai` package is not installed.

    Example:
        >>> from openai import OpenAI  # doctest: +SKIP
        >>> client = instrument_openai(OpenAI())  # doctest: +SKIP
    """
    import importlib

    import openai  # noqa: F401 - a clear ImportError when the SDK is missing

    warm_up()
    config = Config(tracker=tracker, provider=provider, display=display)
    if client is None:
        handle = Instrumentation("openai")
        for module_name, sync_name, async_name, methods, endpoint in _CLASS_TARGETS:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            for cls_name, kind in ((sync_name, "sync"), (async_name, "async")):
                cls = getattr(module, cls_name, None)
                if cls is None:
                    continue
                for method in methods:
                    patch(handle, cls, method, endpoint, kind, config, _provider_of, "openai")
        return handle
    handle = Instrumentation(f"openai client {type(client).__name__}")
    kind = "async" if type(client).__name__.startswith("Async") else "sync"
    for path, methods, endpoint in _RESOURCES:
        resource = client
        for attr in path:
            resource = getattr(resource, attr, None)
            if resource is None:
                break
        if resource is None:
            continue
        for method in methods:
            patch(handle, resource, method, endpoint, kind, config, _provider_of, "openai", id(client))
    return client
