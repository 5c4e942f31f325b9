"""The result type of every token count."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["TokenCount", "new_count"]


@dataclass(frozen=True, slots=True)
class TokenCount:
    """A number of tokens and how it was obtained. ``int(count)`` gives the number."""

    tokens: int
    """The number of tokens."""
    exact: bool
    """True when the count comes from the model's own tokenizer; False for an estimate."""
    method: str
    """How it was counted: ``"tiktoken:<encoding>"`` or ``"estimate:heuristic-v1"``."""
    model: str
    """The model ID the count was made for, as given."""

    def __int__(self) -> int:
        return self.tokens

    def __index__(self) -> int:
        return self.tokens

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict, e.g. for JSON."""
        return asdict(self)


_new = object.__new__
_slots = vars(TokenCount)  # the slot descriptors: setting through them skips the frozen check
_set_tokens = _slots["tokens"].__set__
_set_exact = _slots["exact"].__set__
_set_method = _slots["method"].__set__
_set_model = _slots["model"].__set__


def new_count(tokens: int, exact: bool, method: str, model: str) -> TokenCount:
    """``TokenCount(tokens, exact, method, model)`` for the hot path: writes the slots directly.

    The frozen dataclass ``__init__`` sets each field through ``object.__setattr__`` (about 0.5 us for four
    fields); this takes about 0.3 us, which matters when counting 1 KB of text takes only ~25 us.
    """
    count = _new(TokenCount)
    _set_tokens(count, tokens)
    _set_exact(count, exact)
    _set_method(count, method)
    _set_model(count, model)
    return count
