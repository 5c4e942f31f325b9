"""Build tiktoken encodings from the BPE files shipped in this package, verified, lazily, once.

The files in ``encodings/`` are OpenAI's published ``*.tiktoken`` files, byte for byte. Their SHA-256 digests are
hardcoded below (they equal the ``expected_hash`` values in ``tiktoken_ext/openai_public.py``) and checked every time
a file is read. The regex split pattern and special tokens are copied from the same module; a test compares them
with what tiktoken itself builds.

We read, verify and parse the file ourselves rather than calling ``tiktoken.load.load_tiktoken_bpe(path, ...)``:
for a local path that function goes through tiktoken's download cache, so it writes a copy of the file into
``$TIKTOKEN_CACHE_DIR`` (or ``/tmp/data-gym-cache``), raises if that folder is not writable, and on later loads
serves the cached copy instead of the file, so a corrupted file at a previously loaded path goes unnoticed.
The parsing below is the same as tiktoken's: one ``base64(token) rank`` pair per line.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from tokentrail.errors import TokentrailError, ValidationError

if TYPE_CHECKING:
    import tiktoken

__all__ = ["ENCODING_NAMES", "EncodingFileError", "get_encoding"]

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"

_O200K_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT_STR = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|"""
    r"""\s+(?!\S)|\s"""
)

# name -> (SHA-256 of the file, split pattern, special tokens); from tiktoken_ext/openai_public.py (tiktoken 0.14).
_SPECS: dict[str, tuple[str, str, dict[str, int]]] = {
    "o200k_base": (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT_STR,
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
    "cl100k_base": (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT_STR,
        {_ENDOFTEXT: 100257, _FIM_PREFIX: 100258, _FIM_MIDDLE: 100259, _FIM_SUFFIX: 100260, _ENDOFPROMPT: 100276},
    ),
}

ENCODING_NAMES: tuple[str, ...] = tuple(sorted(_SPECS))
"""The encodings shipped with tokentrail, usable offline."""

_ENCODINGS_DIR = Path(__file__).parent / "encodings"
_cache: dict[str, tiktoken.Encoding] = {}
_lock = threading.Lock()


class EncodingFileError(TokentrailError, ValueError):
    """A shipped BPE encoding file is missing, corrupted or unreadable."""


def get_encoding(name: str, *, path: str | Path | None = None) -> tiktoken.Encoding:
    """Return the tiktoken encoding ``name`` built from the file shipped in tokentrail, with no network access.

    The first call per encoding reads the file, checks its SHA-256 and builds the encoding (about 0.1-0.3 s);
    later calls return the same object. Loading is thread-safe and happens once per process.

    Args:
        name: ``"o200k_base"`` or ``"cl100k_base"``.
        path: read the BPE file from here instead of the copy shipped in the package. It must still have the
            expected SHA-256. An encoding loaded from an explicit path is built fresh and not cached.

    Returns:
        A ``tiktoken.Encoding``.

    Raises:
        ValidationError: ``name`` is not a shipped encoding.
        EncodingFileError: the file cannot be read or its SHA-256 is not the expected one.

    Example:
        >>> get_encoding("o200k_base").encode_ordinary("hello world")
        [24912, 2375]
    """
    if path is None:
        enc = _cache.get(name) if isinstance(name, str) else None
        if enc is not None:
            return enc
    if not isinstance(name, str) or name not in _SPECS:
        raise ValidationError(f"name={name!r} is not a shipped encoding; use one of {', '.join(ENCODING_NAMES)}")
    if path is not None:
        return _build(name, Path(path))
    with _lock:
        enc = _cache.get(name)
        if enc is None:
            enc = _cache[name] = _build(name, _ENCODINGS_DIR / f"{name}.tiktoken")
        return enc


def _build(name: str, path: Path) -> tiktoken.Encoding:
    import tiktoken  # imported here so that importing tokentrail stays cheap

    expected_hash, pat_str, special_tokens = _SPECS[name]
    return tiktoken.Encoding(
        name,
        pat_str=pat_str,
        mergeable_ranks=_read_ranks(path, expected_hash),
        special_tokens=dict(special_tokens),
    )


def _read_ranks(path: Path, expected_hash: str) -> dict[bytes, int]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EncodingFileError(
            f"cannot read encoding file {str(path)!r} ({exc.strerror or exc}); reinstall tokentrail"
        ) from exc
    actual_hash = hashlib.sha256(data).hexdigest()
    if actual_hash != expected_hash:
        raise EncodingFileError(
            f"encoding file {str(path)!r} has sha256={actual_hash!r}, expected {expected_hash!r}; "
            "the file is corrupted or was replaced, reinstall tokentrail"
        )
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks
