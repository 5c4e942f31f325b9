"""Helpers for error messages at the public boundary of the tokens concern."""

from __future__ import annotations

import reprlib

__all__ = ["short_repr"]

_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80
_repr.maxlist = _repr.maxtuple = 5
_repr.maxdict = 4
_repr.maxlevel = 3


def short_repr(value: object) -> str:
    """``repr(value)``, shortened for long strings and containers so an error message stays one readable line."""
    return _repr.repr(value)
