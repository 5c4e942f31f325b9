"""Time windows for reports, always explicit: a start (inclusive), an end (exclusive) and a time zone.

- `period="today"` is local midnight to the next local midnight; `"yesterday"` the day before;
  `"week"` the last 7 days (local midnight 6 days ago to the next midnight); `"month"` this calendar
  month; `"all"` everything. `"24h"`, `"7d"`, `"30d"` are that long a span ending now.
- `since`/`until` take a datetime, an ISO date or datetime text, or a relative span (`"7d"`, `"12h"`).
  A date means local midnight; `until` given as a date includes that whole day. Text without an
  offset is local time in the report's zone.
- `days=N` is the last N days ending now, or the N days ending at `until` when that is given.
- A `period` stands alone: it cannot be combined with `since`, `until` or `days`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ValidationError

__all__ = ["PERIODS", "Window", "local_zone", "parse_when", "resolve_tz", "resolve_window"]

PERIODS = ("today", "yesterday", "week", "month", "all")
_SPAN = re.compile(r"^(\d+)\s*([mhdw])$")
_SPAN_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True, slots=True)
class Window:
    """The span a report covers."""

    since: datetime | None
    """Start, inclusive (None: from the first call)."""
    until: datetime | None
    """End, exclusive (None: up to now and beyond)."""
    tz: tzinfo
    """The zone in which days and hours are counted and shown."""
    label: str
    """How the window was asked for (`today`, `last 30 days`, …)."""

    @property
    def tz_name(self) -> str:
        return getattr(self.tz, "key", None) or str(self.tz)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "tz": self.tz_name,
            "label": self.label,
        }


def local_zone() -> tzinfo:
    """The machine's IANA zone (from `TZ` or /etc/localtime), else UTC."""
    name = os.environ.get("TZ")
    if name:
        try:
            return ZoneInfo(name.lstrip(":"))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = str(Path("/etc/localtime").resolve())
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return timezone.utc


def resolve_tz(tz: str | tzinfo | None) -> tzinfo:
    """A tzinfo from a zone name (or a tzinfo); None means the configured zone, else the machine's."""
    if isinstance(tz, tzinfo):
        return tz
    if tz is None:
        tz = os.environ.get("TOKENTRAIL_TZ") or None
        if tz is None:
            return local_zone()
    if type(tz) is not str:
        raise ValidationError(f"tz={tz!r} is not valid: expected an IANA time zone name such as 'Europe/Paris'")
    if tz.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"tz={tz!r} is not a known time zone: use an IANA name such as 'Europe/Paris'") from None


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def parse_when(name: str, value: object, tz: tzinfo, now: datetime, *, end: bool = False) -> datetime:
    """A point in time from a datetime, ISO text or a relative span before `now`."""
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValidationError(f"{name}={value!r} is not valid: expected a timezone-aware datetime")
        return value
    if isinstance(value, date):
        return _midnight(value + timedelta(days=1) if end else value, tz)
    if type(value) is not str or not value.strip():
        raise ValidationError(f"{name}={value!r} is not valid: expected a datetime, an ISO date or a span like '7d'")
    text = value.strip()
    span = _SPAN.match(text)
    if span:
        return now - timedelta(**{_SPAN_UNITS[span[2]]: int(span[1])})
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return _midnight(day + timedelta(days=1) if end else day, tz)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{name}={value!r} is not a date: use ISO text (2026-11-01 or 2026-11-01T09:30) or a span like '7d'"
        ) from None
    return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=tz)


def _period_span(period: object, zone: tzinfo, now: datetime) -> tuple[datetime | None, datetime | None, str]:
    """Start, end and label of a named period (`today`, `week`, …) or a span ending now (`24h`)."""
    if type(period) is not str:
        raise ValidationError(f"period={period!r} is not valid: use one of {', '.join(PERIODS)} or a span like '7d'")
    key = period.strip().lower()
    today = now.astimezone(zone).date()
    if key == "today":
        return _midnight(today, zone), _midnight(today + timedelta(days=1), zone), "today"
    if key == "yesterday":
        return _midnight(today - timedelta(days=1), zone), _midnight(today, zone), "yesterday"
    if key == "week":
        return _midnight(today - timedelta(days=6), zone), _midnight(today + timedelta(days=1), zone), "last 7 days"
    if key == "month":
        first = today.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        return _midnight(first, zone), _midnight(nxt, zone), today.strftime("%B %Y")
    if key == "all":
        return None, None, "all"
    if _SPAN.match(key):
        return parse_when("period", key, zone, now), None, f"last {key}"
    raise ValidationError(f"period={period!r} is not valid: use one of {', '.join(PERIODS)} or a span like '7d'")


def resolve_window(
    period: str | None = None,
    *,
    since: object = None,
    until: object = None,
    days: int | None = None,
    tz: str | tzinfo | None = None,
    now: datetime | None = None,
) -> Window:
    """Turn the ways a user can ask for a span of time into one explicit `Window`.

    Raises:
        ValidationError: an unknown period, a bad date, a bad zone, or a period mixed with since/until/days.

    Example:
        >>> w = resolve_window("today", tz="UTC", now=datetime(2026, 11, 22, 15, tzinfo=timezone.utc))
        >>> (w.since.isoformat(), w.until.isoformat())
        ('2026-11-22T00:00:00+00:00', '2026-11-23T00:00:00+00:00')
    """
    zone = resolve_tz(tz)
    now = now or datetime.now(timezone.utc)
    if now.utcoffset() is None:
        raise ValidationError(f"now={now!r} is not valid: expected a timezone-aware datetime")
    if period is not None and (since is not None or until is not None or days is not None):
        raise ValidationError(f"period={period!r} cannot be combined with since=, until= or days=; use one of them")
    if days is not None:
        if type(days) is not int or days <= 0:
            raise ValidationError(f"days={days!r} is not valid: expected a whole number of days > 0")
        if since is not None:
            raise ValidationError("days= cannot be combined with since=; use one of them")
        if until is None:
            since = now - timedelta(days=days)
            label = f"last {days} days"
        else:  # the N days that end at `until`
            since = parse_when("until", until, zone, now, end=True) - timedelta(days=days)
            label = f"{days} days to {until}"
    else:
        label = "custom" if since is not None or until is not None else "all"
    if period is not None:
        since, until, label = _period_span(period, zone, now)
    s = parse_when("since", since, zone, now) if since is not None else None
    u = parse_when("until", until, zone, now, end=True) if until is not None else None
    if s is not None and u is not None and u < s:
        raise ValidationError(f"until={until!r} is before since={since!r}")
    return Window(since=s, until=u, tz=zone, label=label)
