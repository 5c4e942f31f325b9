"""heuristic-v1: a cheap token estimate for models whose tokenizer is not available offline.

The text is split the way OpenAI's o200k pre-tokenizer splits it (a word takes one leading space or punctuation
mark; digits go in groups of three; punctuation runs; whitespace runs), using only the standard library, and each
piece is charged a cost:

- an ASCII word: 1 token, plus a little per letter beyond 10 (lower-case word after a space, the common English
  case) or beyond 4 (identifiers, capitalised or glued words), plus 1 per camelCase hump;
- a word in another script (accented Latin, Cyrillic, Greek, ...): 0.36 token per letter, at least 1;
- Chinese, Japanese and Korean characters: 0.95 token each;
- a digit run: 1 token per group of three digits;
- a punctuation run: 1 token up to 3 characters, then 0.5 per character;
- a whitespace run (newlines, indentation): 1 token.

The costs come from the per-piece token rates of o200k_base and cl100k_base on an English, code, multilingual and
CJK corpus; where those two tokenizers disagree (CJK, non-English words) the rate sits between them. Measured on
held-out text: English prose, code, markdown and JSON within about 5% of both in total (12% on a single sample);
other languages and CJK off by up to about ±50%.
"""

from __future__ import annotations

import re

__all__ = ["heuristic_tokens", "truncate_estimate"]

_CJK = (
    "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f"
)
_LEAD = r"(?:[^\w\r\n]|_)?"  # the one space or punctuation mark a word absorbs, as in o200k
_PIECES = re.compile(
    rf"(?P<cjk>{_LEAD}[{_CJK}]+)"
    rf"|(?P<word>{_LEAD}[^\W\d_{_CJK}]+)"
    r"|(?P<digits>\d+)"
    r"|(?P<punct> ?(?:[^\w\s]|_)+[\r\n/]*)"
    r"|(?P<space>\s*[\r\n]+|\s+(?!\S)|\s+)"
)
_CAMEL_HUMP = re.compile(r"[a-z][A-Z]")

CJK_PER_CHAR = 0.95
OTHER_SCRIPT_PER_LETTER = 0.36


def _cost(kind: str | None, piece: str) -> float:
    if kind == "word":
        letters = piece if piece[0].isalpha() else piece[1:]
        n = len(letters)
        if not letters.isascii():
            return max(1.0, n * OTHER_SCRIPT_PER_LETTER)
        if piece[0] == " " and letters.islower():
            cost = 1.0 if n <= 10 else 1.0 + (n - 10) / 4
        else:
            cost = 1.0 if n <= 4 else 1.0 + (n - 4) / 7
            cost += len(_CAMEL_HUMP.findall(letters))
        return cost
    if kind == "cjk":
        return CJK_PER_CHAR * (len(piece) if piece[0].isalpha() else len(piece) - 1)
    if kind == "digits":
        return float(-(-len(piece) // 3))
    if kind == "punct":
        n = len(piece.strip(" \r\n/")) or 1
        return 1.0 if n <= 3 else 1.0 + (n - 3) / 2
    return 1.0


def _round(cost: float) -> int:
    return int(cost + 0.5)


def heuristic_tokens(text: str) -> int:
    """Estimated token count of ``text`` (heuristic-v1); 0 for ``""``, at least 1 otherwise."""
    total = 0.0
    for m in _PIECES.finditer(text):
        total += _cost(m.lastgroup, m.group())
    return _round(total)


def truncate_estimate(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` found whose estimate is at most ``max_tokens``."""
    total = 0.0
    end = len(text)
    for m in _PIECES.finditer(text):
        kind, piece = m.lastgroup, m.group()
        cost = _cost(kind, piece)
        if _round(total + cost) > max_tokens:
            lo, hi = 0, len(piece) - 1  # the longest part of this piece that still fits
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if _round(total + _cost(kind, piece[:mid])) <= max_tokens:
                    lo = mid
                else:
                    hi = mid - 1
            end = m.start() + lo
            break
        total += cost
    prefix = text[:end]
    # Split on its own, the prefix can end in a different piece than it did inside the text; step back if needed.
    while heuristic_tokens(prefix) > max_tokens:
        starts = [m.start() for m in _PIECES.finditer(prefix)]
        prefix = prefix[: starts[-1]]
    return prefix
