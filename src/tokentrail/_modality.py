"""Audio, image and video tokens, counted apart inside a Call's inclusive totals (see `tokentrail.model`).

`input_audio_tokens`, `input_image_tokens`, `input_video_tokens` are part of `input_tokens`, cached ones
included; `cache_read_audio_tokens` (image, video) are the part of `cache_read_tokens` of that modality,
and so also part of `input_<modality>_tokens`; `output_audio_tokens`, `output_image_tokens`,
`output_video_tokens` are part of `output_tokens`. Text is what is left of each total. Cache writes are
text (no provider reports them by modality), so the uncached audio, image and video tokens fit in the
input that was neither read from nor written to the cache:
`sum(input_m - cache_read_m) <= input_tokens - cache_read_tokens - cache_write_tokens`. These rules are
exactly what makes genai-prices' price of the counts well defined.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ValidationError

__all__ = ["MODALITIES", "MODALITY_FIELDS", "check_modality_consistency"]

MODALITIES = ("audio", "image", "video")
"""The modalities counted apart from text (text is the rest of each total)."""
MODALITY_FIELDS = (
    "input_audio_tokens",
    "input_image_tokens",
    "input_video_tokens",
    "cache_read_audio_tokens",
    "cache_read_image_tokens",
    "cache_read_video_tokens",
    "output_audio_tokens",
    "output_image_tokens",
    "output_video_tokens",
)
"""The per-modality token counts of a Call, each a subset of an inclusive total (see the module docstring)."""
_INPUT_PAIRS = tuple((m, f"input_{m}_tokens", f"cache_read_{m}_tokens") for m in MODALITIES)


def check_modality_consistency(
    input_tokens: int, output_tokens: int, cache_read_tokens: int, cache_write_tokens: int, counts: Mapping[str, int]
) -> None:
    """Reject per-modality counts that do not fit in their totals (see the module docstring)."""
    uncached = 0
    read = 0
    for modality, input_name, cached_name in _INPUT_PAIRS:
        inp = counts.get(input_name, 0)
        cached = counts.get(cached_name, 0)
        if cached > inp:
            raise ValidationError(
                f"cache_read_{modality}_tokens={cached!r} is more than input_{modality}_tokens={inp!r}; "
                f"input_{modality}_tokens must include cached {modality} tokens"
            )
        uncached += inp - cached
        read += cached
    if read > cache_read_tokens:
        raise ValidationError(
            f"cache_read_audio_tokens + cache_read_image_tokens + cache_read_video_tokens = {read!r} is more than "
            f"cache_read_tokens={cache_read_tokens!r}; cache_read_tokens must include every cached modality"
        )
    room = input_tokens - cache_read_tokens - cache_write_tokens
    if uncached > room:
        raise ValidationError(
            f"uncached audio, image and video input tokens ({uncached!r}) are more than "
            f"input_tokens - cache_read_tokens - cache_write_tokens = {room!r} (input_tokens={input_tokens!r}); "
            "input_tokens must include every modality, and cache writes are counted as text"
        )
    out = sum(counts.get(name, 0) for name in MODALITY_FIELDS[6:])
    if out > output_tokens:
        raise ValidationError(
            f"output_audio_tokens + output_image_tokens + output_video_tokens = {out!r} is more than "
            f"output_tokens={output_tokens!r}; output_tokens must include every modality"
        )
