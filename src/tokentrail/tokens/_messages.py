"""Counting chat messages with OpenAI's published per-message formula.

From the OpenAI cookbook, "How to count tokens with tiktoken" (``num_tokens_from_messages``): every message adds
3 tokens (``<|start|>{role}\\n ... <|end|>\\n``), every string field of a message is encoded and counted (``role``,
``content``, ``name``, ...), a ``name`` adds 1 more, and 3 tokens prime the reply (``<|start|>assistant<|message|>``).
gpt-3.5-turbo-0301 used 4 per message and -1 per name (the name replaced the role).

Beyond the cookbook, which only shows plain string content:

- ``content`` may be a list of parts: the ``text`` of each text part (``text``, ``input_text``, ``output_text``)
  and the ``refusal`` of refusal parts are counted, each encoded on its own. Other parts (images, audio, files)
  are not counted, and the result is marked ``exact=False``.
- ``tool_calls`` (and the legacy ``function_call``) count the function ``name`` and ``arguments`` strings; tool
  results (``role`` ``"tool"`` or ``"function"``) count like other messages, ``tool_call_id`` included. OpenAI has
  not published how it renders tool calls and results, so such counts are marked ``exact=False``.
- Fields that are None are skipped; other non-string fields are not counted and make the count inexact.
- Tool *definitions* passed with the request (``tools=``) are not messages and are not counted here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tokentrail.errors import ValidationError

from ._errors import short_repr
from ._estimate import heuristic_tokens
from ._loader import get_encoding
from ._models import Resolution, resolve
from ._types import TokenCount

__all__ = ["count_message_tokens"]

_REPLY_PRIMING = 3
_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
_TOOL_ROLES = frozenset({"tool", "function"})


def count_message_tokens(messages: Sequence[Mapping[str, Any]], model: str) -> TokenCount:
    """Count the prompt tokens a list of chat messages costs, the way OpenAI bills it.

    Follows OpenAI's published formula (see the module docstring for the rules and for what else is counted).
    Exact for OpenAI models when the messages hold only text; an estimate (``exact=False``) for other models or
    when they hold images, audio, files, tool calls or tool results.

    Args:
        messages: a list (or tuple) of dicts with ``role``, ``content`` (a string, None or a list of parts) and
            optionally ``name``, ``tool_calls``, ``tool_call_id``.
        model: the model ID, e.g. ``"gpt-4o-mini"``.

    Returns:
        A ``TokenCount`` of the whole prompt, reply priming included.

    Raises:
        ValidationError: ``messages`` is not a list of dicts, a field has the wrong type, or ``model`` is not a
            non-empty string.

    Example:
        >>> count_message_tokens([{"role": "user", "content": "Hello!"}], "gpt-4o")
        TokenCount(tokens=9, exact=True, method='tiktoken:o200k_base', model='gpt-4o')
    """
    if not isinstance(messages, (list, tuple)):
        raise ValidationError(f"messages must be a list of dicts, got {short_repr(messages)}")
    how = resolve(model)
    count = heuristic_tokens if how.encoding is None else _exact_counter(how.encoding)
    total, exact = _REPLY_PRIMING, how.encoding is not None
    for i, message in enumerate(messages):
        tokens, complete = _count_message(message, f"messages[{i}]", count, how)
        total += tokens
        exact = exact and complete
    return TokenCount(total, exact, how.method, model)


def _exact_counter(encoding: str) -> Callable[[str], int]:
    encode = get_encoding(encoding).encode_ordinary

    def count(text: str) -> int:
        return len(encode(text))

    return count


def _count_message(message: object, field: str, count: Callable[[str], int], how: Resolution) -> tuple[int, bool]:
    """Tokens of one message, and whether that number is exact."""
    if not isinstance(message, Mapping):
        raise ValidationError(
            f"{field} must be a dict such as {{'role': 'user', 'content': '...'}}, got {short_repr(message)}"
        )
    role = message.get("role")
    if not isinstance(role, str):
        raise ValidationError(f"{field}['role'] must be a string such as 'user', got {short_repr(role)}")
    total, complete = how.tokens_per_message, role not in _TOOL_ROLES
    for key, value in message.items():
        if value is None:
            continue
        if key == "tool_calls":
            total += _count_tool_calls(value, count, f"{field}['tool_calls']")
            complete = False
        elif key == "function_call":
            total += _count_function(value, count, f"{field}['function_call']")
            complete = False
        elif isinstance(value, str):
            total += count(value)
            if key == "name":
                total += how.tokens_per_name
        elif key == "content":
            tokens, parts_complete = _count_parts(value, count, f"{field}['content']")
            total += tokens
            complete = complete and parts_complete
        elif key == "name":
            raise ValidationError(f"{field}['name'] must be a string, got {short_repr(value)}")
        else:
            complete = False  # a structured field we cannot render, e.g. "audio": {"id": ...}
    return total, complete


def _count_parts(parts: object, count: Callable[[str], int], field: str) -> tuple[int, bool]:
    if not isinstance(parts, (list, tuple)):
        raise ValidationError(f"{field} must be a string, None or a list of parts, got {short_repr(parts)}")
    tokens, complete = 0, True
    for j, part in enumerate(parts):
        if not isinstance(part, Mapping):
            raise ValidationError(
                f"{field}[{j}] must be a dict such as {{'type': 'text', 'text': '...'}}, got {short_repr(part)}"
            )
        kind = part.get("type")
        if kind in _TEXT_PARTS or kind == "refusal":
            key = "refusal" if kind == "refusal" else "text"
            text = part.get(key)
            if not isinstance(text, str):
                raise ValidationError(f"{field}[{j}][{key!r}] must be a string, got {short_repr(text)}")
            tokens += count(text)
        else:
            complete = False  # image_url, input_audio, file, ...: not text, not counted
    return tokens, complete


def _count_tool_calls(calls: object, count: Callable[[str], int], field: str) -> int:
    if not isinstance(calls, (list, tuple)):
        raise ValidationError(f"{field} must be a list of tool calls, got {short_repr(calls)}")
    tokens = 0
    for j, call in enumerate(calls):
        if not isinstance(call, Mapping):
            raise ValidationError(f"{field}[{j}] must be a dict with a 'function', got {short_repr(call)}")
        tokens += _count_function(call.get("function"), count, f"{field}[{j}]['function']")
    return tokens


def _count_function(function: object, count: Callable[[str], int], field: str) -> int:
    if not isinstance(function, Mapping):
        raise ValidationError(f"{field} must be a dict with 'name' and 'arguments', got {short_repr(function)}")
    tokens = 0
    for key in ("name", "arguments"):
        value = function.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValidationError(f"{field}[{key!r}] must be a string, got {short_repr(value)}")
        tokens += count(value)
    return tokens
