"""Which tokenizer a model uses: model ID -> tiktoken encoding name, or None for non-OpenAI models."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from tokentrail.errors import ValidationError

from ._errors import short_repr

__all__ = ["ESTIMATE_METHOD", "Resolution", "encoding_for_model", "resolve"]

ESTIMATE_METHOD = "estimate:heuristic-v1"

# A family name must be followed by the end of the ID or a separator, so "gpt-4" does not claim "gpt-4o" or a
# future "gpt-4.7", and "o1" does not claim "o1x". "." is a separator only after families whose point releases
# share the encoding (gpt-5.1, gpt-5.2, ...).
_O200K = re.compile(
    r"(?:gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|gpt-oss|codex-mini|gpt-realtime|gpt-audio)(?:$|[-.:@_])"
)
_CL100K = re.compile(
    r"(?:gpt-4|gpt-3\.5|gpt-35|text-embedding-3-[a-z]+|text-embedding-ada-002|davinci-002|babbage-002)(?:$|[-:@_])"
)
# gpt-3.5-turbo-0301 rendered each message as <|im_start|>{role or name}\n{content}<|im_end|>\n.
_LEGACY_0301 = re.compile(r"gpt-3\.?5-turbo-0301(?:$|[-:@_])")


@dataclass(frozen=True, slots=True)
class Resolution:
    """How to count tokens for one model ID."""

    encoding: str | None
    """tiktoken encoding name, or None when the model is not an OpenAI model and counts are estimated."""
    method: str
    """The ``TokenCount.method`` for counts made this way."""
    tokens_per_message: int
    """Fixed tokens each chat message adds (OpenAI cookbook formula)."""
    tokens_per_name: int
    """Tokens a ``name`` field adds on top of its own text."""


def resolve(model: object) -> Resolution:
    """Validate ``model`` and return how to count its tokens (cached per model ID)."""
    if not isinstance(model, str):
        raise ValidationError(f"model must be a model ID string such as 'gpt-4o', got {short_repr(model)}")
    return _resolve(model)


@lru_cache(maxsize=4096)
def _resolve(model: str) -> Resolution:
    name = _base_name(model)
    if not name:
        raise ValidationError(f"model must be a non-empty model ID such as 'gpt-4o', got {model!r}")
    if _O200K.match(name):
        encoding: str | None = "o200k_base"
    elif _CL100K.match(name):
        encoding = "cl100k_base"
    else:
        return Resolution(None, ESTIMATE_METHOD, 3, 1)
    if _LEGACY_0301.match(name):
        return Resolution(encoding, f"tiktoken:{encoding}", 4, -1)
    return Resolution(encoding, f"tiktoken:{encoding}", 3, 1)


def _base_name(model: str) -> str:
    """``"azure/gpt-4o"``, ``"openrouter/openai/gpt-4o"``, ``"ft:gpt-4o:org::id"`` -> ``"gpt-4o..."``."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    name = name.removeprefix("ft:")
    return name.removeprefix("openai.")  # Amazon Bedrock: "openai.gpt-oss-120b-1:0"


def encoding_for_model(model: str) -> str | None:
    """Return the name of the tiktoken encoding an OpenAI model uses, or None for any other model.

    Provider prefixes (``openai/``, ``azure/``, ``openrouter/openai/``), dated IDs (``gpt-4o-2024-08-06``),
    Azure names (``gpt-35-turbo``) and fine-tuned IDs (``ft:gpt-4o-mini-2024-07-18:org::id``) are understood.

    Args:
        model: a model ID as given to the provider.

    Returns:
        ``"o200k_base"`` or ``"cl100k_base"``; None when the model is not a known OpenAI model, in which case
        tokentrail estimates its token counts.

    Raises:
        ValidationError: ``model`` is not a string or is empty.

    Example:
        >>> encoding_for_model("openai/gpt-4o-2024-08-06"), encoding_for_model("claude-sonnet-4-5")
        ('o200k_base', None)
    """
    return resolve(model).encoding
