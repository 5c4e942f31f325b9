"""Counting and truncating plain text."""

from __future__ import annotations

from collections.abc import Callable

from tokentrail.errors import ValidationError

from ._errors import short_repr
from ._estimate import heuristic_tokens, truncate_estimate
from ._loader import get_encoding
from ._models import ESTIMATE_METHOD, resolve
from ._types import TokenCount, new_count

__all__ = ["count_tokens", "estimate_tokens", "truncate_to_tokens"]

# The hot path: model ID -> (the encoding's encode_ordinary, method), for OpenAI models already counted once.
_exact: dict[str, tuple[Callable[[str], list[int]], str]] = {}
_EXACT_MAX = 4096  # model IDs remembered; past that the dict starts over (it is only a cache)


def count_tokens(text: str, model: str) -> TokenCount:
    """Count the tokens ``model`` would see for ``text``.

    Exact for OpenAI models (tiktoken with the encoding shipped in tokentrail, no network needed); an estimate,
    marked ``exact=False``, for every other model. Special-token strings such as ``<|endoftext|>`` are counted as
    the plain text they are, never rejected.

    Args:
        text: the text to count.
        model: the model ID, e.g. ``"gpt-4o"``, ``"azure/gpt-4.1-mini"`` or ``"claude-sonnet-4-5"``.

    Returns:
        A ``TokenCount``; ``int(count)`` is the number of tokens.

    Raises:
        ValidationError: ``text`` is not a string, or ``model`` is not a non-empty string.

    Example:
        >>> count_tokens("Hello, world!", "gpt-4o")
        TokenCount(tokens=4, exact=True, method='tiktoken:o200k_base', model='gpt-4o')
    """
    if not isinstance(text, str):
        raise ValidationError(f"text must be a str, got {short_repr(text)} ({type(text).__name__})")
    hit = _exact.get(model) if isinstance(model, str) else None
    if hit is not None:
        return new_count(len(hit[0](text)), True, hit[1], model)
    how = resolve(model)
    if how.encoding is None:
        return new_count(heuristic_tokens(text), False, how.method, model)
    encode = get_encoding(how.encoding).encode_ordinary
    if len(_exact) >= _EXACT_MAX:
        _exact.clear()
    _exact[model] = (encode, how.method)
    return new_count(len(encode(text)), True, how.method, model)


def estimate_tokens(text: str, model: str | None = None) -> TokenCount:
    """Estimate the tokens in ``text`` when no model (or no tokenizer for it) is known, labelled as an estimate.

    Always the heuristic (``exact=False``, ``method="estimate:heuristic-v1"``), whatever ``model`` is: it is
    only recorded on the result. For an exact count where one is possible, use ``count_tokens(text, model)``.

    Args:
        text: the text to estimate.
        model: the model ID the text is meant for, if any; kept on the result as ``model``.

    Returns:
        A ``TokenCount`` with ``exact=False``; it is an ``int``.

    Raises:
        ValidationError: ``text`` is not a string, or ``model`` is neither None nor a non-empty string.

    Example:
        >>> estimate_tokens("The quick brown fox jumps over the lazy dog.")
        TokenCount(tokens=10, exact=False, method='estimate:heuristic-v1', model=None)
    """
    if not isinstance(text, str):
        raise ValidationError(f"text must be a str, got {short_repr(text)} ({type(text).__name__})")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise ValidationError(f"model must be None or a model ID such as 'gpt-4o', got {short_repr(model)}")
    return new_count(heuristic_tokens(text), False, ESTIMATE_METHOD, model)


def truncate_to_tokens(text: str, max_tokens: int, model: str) -> str:
    """Cut ``text`` so that it is at most ``max_tokens`` tokens for ``model``.

    The result is always a prefix of ``text`` (never a split character) and ``count_tokens(result, model)`` is at
    most ``max_tokens``; ``text`` itself is returned when it already fits. For non-OpenAI models the limit applies
    to the estimate.

    Args:
        text: the text to cut.
        max_tokens: the largest number of tokens to keep, 0 or more.
        model: the model ID whose tokenizer decides.

    Returns:
        The longest prefix of ``text`` found that fits.

    Raises:
        ValidationError: ``text`` is not a string, ``max_tokens`` is not a non-negative int, or ``model`` is not
            a non-empty string.

    Example:
        >>> truncate_to_tokens("The quick brown fox jumps over the lazy dog", 4, "gpt-4o")
        'The quick brown fox'
    """
    if not isinstance(text, str):
        raise ValidationError(f"text must be a str, got {short_repr(text)} ({type(text).__name__})")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
        raise ValidationError(f"max_tokens must be an int of 0 or more, got {short_repr(max_tokens)}")
    how = resolve(model)
    if how.encoding is None:
        return truncate_estimate(text, max_tokens)
    enc = get_encoding(how.encoding)
    tokens = enc.encode_ordinary(text)
    if len(tokens) <= max_tokens:
        return text
    # Decode the first max_tokens tokens, drop a trailing partial UTF-8 character, and cut ``text`` at that many
    # characters (so the result is a prefix even where tiktoken replaced lone surrogates). Encoded on its own, a
    # prefix can occasionally take more tokens than it did inside the text: then keep one token less and retry.
    for n in range(max_tokens, 0, -1):
        head = enc.decode_bytes(tokens[:n]).decode("utf-8", errors="ignore")
        prefix = text[: len(head)]
        if len(enc.encode_ordinary(prefix)) <= max_tokens:
            return prefix
    return ""
