"""The options every report shares, declared once as plain data.

The Typer commands (`app.py`) and the fast path (`_fast.py`) are both built from `REPORT_OPTIONS`, so
they cannot disagree about a flag's name, meaning or default. Nothing here imports Typer or Rich.

The window flags mean the same in every report: `--days N` is the last N days (ending now, or at
`--until`), `--since`/`--until` a start and an exclusive end, `--period` a named span that stands alone.
Errors the library raises name its keywords (`since='x'`); `speak_flags` turns them into the flags the
user typed (`--since 'x'`) at the one CLI boundary, and `check_by` gives unknown `--by` dimensions a
did-you-mean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError

if TYPE_CHECKING:
    from ..store.base import Store

__all__ = ["FORMATS", "REPORT_OPTIONS", "WINDOW_OPTIONS", "OptionSpec", "ReportOptions", "check_by", "speak_flags"]

FORMATS = ("table", "json", "csv")


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One shared option: its parameter name, flags, help, kind (`str`, `int`, `multi`, `format`)."""

    name: str
    flags: tuple[str, ...]
    help: str
    kind: str = "str"
    metavar: str = "TEXT"


REPORT_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "since",
        ("--since",),
        "Start: a date (2026-11-01), a datetime, or a span back from now (7d, 12h).",
        metavar="WHEN",
    ),
    OptionSpec("until", ("--until",), "End (exclusive; a date includes that whole day).", metavar="WHEN"),
    OptionSpec("days", ("--days",), "The last N days, ending now (or at --until).", "int", "N"),
    OptionSpec(
        "period", ("--period",), "today, yesterday, week, month, all, or a span (24h); used alone.", metavar="PERIOD"
    ),
    OptionSpec("model", ("--model",), "Only this model (repeatable).", "multi", "MODEL"),
    OptionSpec("provider", ("--provider",), "Only this provider (repeatable).", "multi", "PROVIDER"),
    OptionSpec("agent", ("--agent",), "Only this agent (repeatable).", "multi", "AGENT"),
    OptionSpec("user", ("--user",), "Only this user (repeatable).", "multi", "USER"),
    OptionSpec("project", ("--project",), "Only this project (repeatable).", "multi", "PROJECT"),
    OptionSpec("session", ("--session",), "Only this session (repeatable).", "multi", "SESSION"),
    OptionSpec("label", ("--label",), "Only calls with this label, KEY=VALUE (repeatable).", "multi", "KEY=VALUE"),
    OptionSpec(
        "store",
        ("--store",),
        "Store URL (default: TOKENTRAIL_STORE, the config file, or the SQLite store).",
        metavar="URL",
    ),
    OptionSpec(
        "tz",
        ("--tz",),
        "Time zone for days and hours, e.g. Europe/Paris (default: TOKENTRAIL_TZ or the machine's).",
        metavar="ZONE",
    ),
    OptionSpec("format", ("--format", "-f"), "Output: table, json or csv.", "format", "FORMAT"),
)

WINDOW_OPTIONS = ("since", "until", "days", "period")
"""The shared options that choose the span of time a report covers."""

_DIMS = ("model", "provider", "agent", "user", "project", "session")


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """The shared options of one report invocation, as given on the command line."""

    since: str | None = None
    until: str | None = None
    days: int | None = None
    period: str | None = None
    model: tuple[str, ...] = ()
    provider: tuple[str, ...] = ()
    agent: tuple[str, ...] = ()
    user: tuple[str, ...] = ()
    project: tuple[str, ...] = ()
    session: tuple[str, ...] = ()
    label: tuple[str, ...] = ()
    store: str | None = None
    tz: str | None = None
    format: str = "table"

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> ReportOptions:
        """Build from parsed option values (lists or None for repeatable options, Enums for format)."""
        kw: dict[str, Any] = {}
        for spec in REPORT_OPTIONS:
            value = values.get(spec.name)
            if spec.kind == "multi":
                value = tuple(value or ())
            elif spec.kind == "format":
                value = getattr(value, "value", value) or "table"
                if value not in FORMATS:
                    raise ValidationError(f"--format={value!r} is not valid: use one of {', '.join(FORMATS)}")
            kw[spec.name] = value
        return cls(**kw)

    def labels(self) -> dict[str, str]:
        """`--label KEY=VALUE` options as a mapping."""
        out: dict[str, str] = {}
        for item in self.label:
            key, sep, value = item.partition("=")
            if not sep or not key or not value:
                raise ValidationError(f"--label={item!r} is not valid: expected KEY=VALUE, e.g. --label team=search")
            out[key] = value
        return out

    def filters(self) -> dict[str, Any]:
        """The dimension filters for the analysis functions."""
        out: dict[str, Any] = {d: list(getattr(self, d)) for d in _DIMS if getattr(self, d)}
        labels = self.labels()
        if labels:
            out["labels"] = labels
        return out

    def settings(self) -> Any:
        """The resolved settings; `--store` and `--tz` given here win over environment and file."""
        from ..config import resolve

        return resolve(store=self.store, tz=self.tz)

    def window_kwargs(self, tz: str | None, default_period: str | None = None) -> dict[str, Any]:
        """`period`/`since`/`until`/`days`/`tz` for the analysis functions."""
        period = self.period
        if period is None and self.since is None and self.until is None and self.days is None:
            period = default_period
        return {"period": period, "since": self.since, "until": self.until, "days": self.days, "tz": tz}

    def window(self, tz: str | None, default_period: str | None = None, now: Any = None) -> Any:
        """The resolved `Window` of these options (see `tokentrail.analysis.windows.resolve_window`)."""
        from ..analysis.windows import resolve_window

        return resolve_window(**self.window_kwargs(tz, default_period), now=now)

    @contextmanager
    def report(self, default_period: str | None = None) -> Iterator[tuple[Store, dict[str, Any]]]:
        """Open the store and yield it with the keyword arguments every analysis function takes."""
        from ..store import open_store

        settings = self.settings()
        kwargs = self.window_kwargs(settings.tz, default_period)
        kwargs.update(self.filters())
        store = open_store(settings.store, create=False)  # a report only reads: a missing store is an error
        try:
            yield store, kwargs
        finally:
            store.close()


# -- errors in the user's words --------------------------------------------------------------------

_KEYWORD = re.compile(r"""(?<![\w'"])'(?:[^'\\]|\\.)*'|(?<![\w'"])"(?:[^"\\]|\\.)*"|(?<![\w\-.:/])([a-z][a-z0-9_]*)=""")


def speak_flags(message: str, flags: Iterable[str]) -> str:
    """`message` with each library keyword (`since='x'`, `days=`) that is one of `flags` written as that flag.

    Quoted values are left alone, and so is a keyword the command has no flag for, or one that names a field
    of a call (`no price for model='x'` is about the data, not about `--model`).

    Example:
        >>> speak_flags("period='month' cannot be combined with since=; use one", ["--period", "--since"])
        "--period 'month' cannot be combined with --since; use one"
    """
    known = set(flags)

    def swap(m: re.Match[str]) -> str:
        keyword = m.group(1)
        if keyword is None or keyword in _DIMS:  # a quoted value, or a field of a call
            return m.group(0)
        flag = "--" + keyword.replace("_", "-")
        if flag not in known:
            return m.group(0)
        rest = message[m.end() : m.end() + 1]
        return flag if rest == "" or rest in " ,;:)" else flag + " "

    return _KEYWORD.sub(swap, message)


def check_by(dims: Sequence[str], flag: str = "--by") -> list[str]:
    """The dimensions given to `--by`, each checked; an unknown one gets a did-you-mean.

    Raises:
        ValidationError: e.g. `--by 'modle' is not a dimension. Did you mean 'model'? Use one of ...`.
    """
    from ..store.base import DIMENSIONS, LABEL_PREFIX, check_dimension

    out = []
    for dim in dims:
        try:
            out.append(check_dimension(dim))
        except ValidationError:
            raise ValidationError(
                f"{flag} {dim!r} is not a dimension.{_suggest(dim, DIMENSIONS, LABEL_PREFIX)} Use one of "
                f"{', '.join(DIMENSIONS)}, or {LABEL_PREFIX}KEY for a label."
            ) from None
    return out


def _suggest(dim: str, known: Sequence[str], label_prefix: str) -> str:
    import difflib

    head, sep, key = dim.partition(":")
    if sep and key and difflib.get_close_matches(head.lower(), [label_prefix[:-1]], n=1, cutoff=0.6):
        return f" Did you mean {label_prefix + key!r}?"  # `labels:team`, `lable:team`
    close = difflib.get_close_matches(dim.lower(), known, n=1, cutoff=0.6)
    if close:
        return f" Did you mean {close[0]!r}?"
    if re.fullmatch(r"[A-Za-z0-9_.\-/]{1,64}", dim):
        return f" Did you mean the label {label_prefix + dim!r}?"
    return ""
