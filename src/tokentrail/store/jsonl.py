"""`jsonl:///dir`: Calls as JSON lines in daily folders, the layout of the earlier telemetry tool.

Layout (dates are the UTC date of `started_at`)::

    DIR/
      2024-05-01/
        telemetry.jsonl   one Call per line: the fields of Call.to_dict(), without prompt/response text
        prompts.jsonl     {"id": ..., "prompt": ...} for calls that kept their prompt (opt-in)
        responses.jsonl   {"id": ..., "response": ...} for calls that kept their response (opt-in)
      summary.json        rolling totals (calls, tokens, cost, unpriced, by model) and, per day, the calls
                          and the bytes of telemetry.jsonl they count
      meta.json           shared metadata (budgets, alert state), see `meta_*`
      .lock, .meta.lock   lock files for `fcntl.flock` (POSIX only)

Guarantees, and their limits:

- A `write()` batch goes to each day file in one `os.write` (split at line ends past `MAX_WRITE_BYTES`) on
  a descriptor opened `O_APPEND`, under an exclusive `flock` on `DIR/.lock`: lines of concurrent writers
  never interleave. After a crash mid-line the next append starts on a fresh line, so only that line is
  lost (and reads skip it with a warning).
- Dedupe (`id`, `response_id`) uses an in-memory index, loaded by the first write and refreshed under the
  lock from the files that grew since (by inode and size). Across processes it is exact for calls of the
  same UTC day, because every batch first re-reads its own days' new lines. A duplicate on *another* day
  written by another process (one `response_id` recorded twice with different `started_at` dates) is
  seen only after the next full refresh, at most `RESCAN_SECONDS` later. Tools that append without the
  lock never break lines (`O_APPEND`), but can race dedupe. The index costs ~200 bytes a stored call.
- Reads take no lock: appends are whole lines and rewrites are atomic renames. `calls()` holds one day
  in memory (to sort it); `aggregate()`/`percentiles()` stream. A corrupt line is skipped with one
  warning naming `file:line`, and counted in `corrupt_lines`. A read that races an append may see its
  last line as truncated, for that read only.
- `summary.json` is replaced atomically (temp file + `os.replace`) after each batch. It records the
  bytes of each day file it counts, so lines it missed (a crash between data and summary, another tool)
  are counted from the data on the next write; removing a day subtracts what its file holds.
- Durability is the page cache's: a killed process loses nothing it wrote; a power cut may lose the last
  seconds. Rewrites by `delete()` are `fsync`ed before they replace a file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from json.encoder import encode_basestring_ascii as _encode_str  # the C string escaper when _json is there
from operator import attrgetter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from ..errors import ConfigError, StoreError, StoreUnavailableError, ValidationError
from ..model import MODALITY_FIELDS, TOKEN_FIELDS, Call, validate_call
from ._py import aggregate_calls, percentiles_of
from .base import Bucket, Filter, Group, Metric, PercentileRow

try:  # POSIX only; the store refuses to open without it (see JsonlStore.__init__).
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["MAX_WRITE_BYTES", "RESCAN_SECONDS", "JsonlStore", "encode_calls"]

logger = logging.getLogger("tokentrail")

UTC = timezone.utc
DATA_FILE = "telemetry.jsonl"
PROMPTS_FILE = "prompts.jsonl"
RESPONSES_FILE = "responses.jsonl"
SUMMARY_FILE = "summary.json"
META_FILE = "meta.json"
SUMMARY_FORMAT = 1

RESCAN_SECONDS = 2.0
"""How often a write also re-checks *every* day file for lines other processes appended."""
RETENTION_EVERY = timedelta(hours=1)
SIZE_CHECK_SECONDS = 60.0
MAX_WRITE_BYTES = 4 << 20
"""Bytes per `os.write`; a bigger batch is split at line ends (still under the lock)."""

_DAY_NAME = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FIELDS = tuple(f.name for f in fields(Call))
_FIELD_SET = frozenset(_FIELDS)
_TEXT_FIELDS = ("prompt", "response")
_ROW_FIELDS = tuple(f for f in _FIELDS if f not in _TEXT_FIELDS)
_COST_FIELDS = ("cost_usd", "input_cost_usd", "output_cost_usd", "cache_read_cost_usd", "cache_write_cost_usd")

# --- encoding --------------------------------------------------------------------------------------
#
# `Call.to_dict()` + `json.dumps` costs ~15 µs a call here, and the C encoder alone ~9 µs (it builds one
# object per value and re-encodes the 41 key names every time). The line is instead built by one
# f-string per call, generated once below, so the keys are constants and the values cost what their
# text costs. Fields whose values repeat from call to call (model, agent, labels, ...) are encoded with
# `json.dumps` once per distinct combination and the fragment is cached; the values that change on
# every call are written directly: strings through the C string escaper, numbers by `repr`/`format`,
# UTC times from small lookup tables. A value of an unexpected type raises inside the fast path and the
# batch is redone by `_encode_one`, whose text is the same for values of the right types.

_CTX_FIELDS: tuple[str, ...] = (
    "model", "provider", "response_model", "operation", "finish_reason", "streamed", "tokens_estimated",
    "currency", "price_source", "agent", "project", "environment", "git_branch", "success", "error_type",
    "error_message", "retries",
)  # fmt: skip
_STR_FIELDS = (
    "user", "session", "response_id", "trace_id", "span_id", "parent_span_id", "prompt_hash", "response_hash",
)  # fmt: skip
_FLOAT_FIELDS = ("duration_ms", "ttft_ms")
_INT_FIELDS = tuple(f for f in TOKEN_FIELDS if f not in MODALITY_FIELDS)
_SPARSE_FIELDS = MODALITY_FIELDS
"""Written only when not 0 (last on the line): text-only lines stay as they were, and lines without them read as 0."""
_KNOWN = {"id", "started_at", "labels", *_CTX_FIELDS, *_STR_FIELDS, *_FLOAT_FIELDS, *_INT_FIELDS, *_COST_FIELDS,
          *_SPARSE_FIELDS}  # fmt: skip
_CTX_FIELDS += tuple(f for f in _ROW_FIELDS if f not in _KNOWN)  # a field added to Call later: cached by value
_LINE_FIELDS = ("id", "started_at", *_CTX_FIELDS, "labels", *_STR_FIELDS, *_FLOAT_FIELDS, *_INT_FIELDS, *_COST_FIELDS,
                *_SPARSE_FIELDS)  # fmt: skip
"""Key order of a line: identity, the cached context fragment, then the values that change every call."""

_ROW_GET = attrgetter(*_LINE_FIELDS)
_PROMPT_GET = attrgetter("prompt")
_RESPONSE_GET = attrgetter("response")
_TEXT_FILES = ((_PROMPT_GET, "prompt", PROMPTS_FILE), (_RESPONSE_GET, "response", RESPONSES_FILE))
_CTX_CACHE_MAX = 4096


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"value {value!r} of type {type(value).__name__} cannot be stored as JSON")


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=_default)


def _ctx_fragment(key: tuple[Any, ...]) -> str:
    data = dict(zip(_CTX_FIELDS, key, strict=False))
    data["labels"] = dict(key[-1])
    fragment: str = _json(data)[1:-1]
    _CTX_CACHE[key] = fragment
    return fragment


def _number(value: object) -> str:
    if type(value) is not int:
        raise TypeError(f"{value!r} is not a number")
    return str(value)


def _not_decimal(value: object) -> str:
    raise TypeError(f"{value!r} is not a Decimal")


class _Days(dict):  # type: ignore[type-arg]
    """Ordinal day -> 'YYYY-MM-DDT'."""

    def __missing__(self, ordinal: int) -> str:
        text = self[ordinal] = date.fromordinal(ordinal).isoformat() + "T"
        return text


_CTX_CACHE: dict[tuple[Any, ...], str] = {}


def _make_encoder(utc_only: bool) -> Callable[[Sequence[Call]], list[str]]:
    ctx_key = ", ".join(f"c.{f}" for f in _CTX_FIELDS)
    if utc_only:  # what the tracker records: isoformat() of a timezone.utc datetime, from lookup tables
        started = (
            "{DAYS[(st := c.started_at).toordinal()]}{HM[st.hour * 60 + st.minute]}{SS[st.second]}"
            "{EMPTY if not (u := st.microsecond) else DOT + P3[u // 1000] + P3[u % 1000]}+00:00"
        )
    else:
        started = "{c.started_at.isoformat()}"
    parts = [
        '{{"id":{E(c.id)},"started_at":"',
        started,
        '",{CTX_GET(k := (' + ctx_key + ", tuple(c.labels.items()) if c.labels else ())) or CTX_MISS(k)}",
    ]
    parts += [f',"{f}":{{NULL if (x := c.{f}) is None else E(x)}}' for f in _STR_FIELDS]
    parts += [
        f',"{f}":{{NULL if (x := c.{f}) is None else repr(x) if x.__class__ is FLOAT else NUM(x)}}'
        for f in _FLOAT_FIELDS
    ]
    parts += [f',"{f}":{{c.{f} if c.{f}.__class__ is INT else NUM(c.{f})}}' for f in _INT_FIELDS]
    parts += [
        f',"{f}":{{NULL if (x := c.{f}) is None else Q + str(x) + Q if x.__class__ is DEC else NOT_DEC(x)}}'
        for f in _COST_FIELDS
    ]
    parts += [f"{{EMPTY if (x := c.{f}) == 0 and x.__class__ is INT else K_{f} + NUM(x)}}" for f in _SPARSE_FIELDS]
    source = "def encode(calls):\n    return [f'" + "".join(parts) + "}}\\n' for c in calls]\n"
    namespace: dict[str, Any] = {
        "E": _encode_str, "NULL": "null", "Q": '"', "EMPTY": "", "DOT": ".", "FLOAT": float, "INT": int,
        "DEC": Decimal, "NUM": _number, "NOT_DEC": _not_decimal, "CTX_GET": _CTX_CACHE.get, "CTX_MISS": _ctx_fragment,
        "DAYS": _Days(), "HM": [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)],
        "SS": [f"{s:02d}" for s in range(60)], "P3": [f"{n:03d}" for n in range(1000)],
        **{f"K_{f}": f',"{f}":' for f in _SPARSE_FIELDS},
    }  # fmt: skip
    exec(source, namespace)
    encode: Callable[[Sequence[Call]], list[str]] = namespace["encode"]
    return encode


_ENCODE_UTC = _make_encoder(utc_only=True)
_ENCODE_ANY = _make_encoder(utc_only=False)


def _encode_one(call: Call) -> str:
    row = dict(zip(_LINE_FIELDS, _ROW_GET(call), strict=True))
    for name in _SPARSE_FIELDS:
        if row[name] == 0 and type(row[name]) is int:
            del row[name]
    try:
        return _json(row) + "\n"
    except (TypeError, ValueError) as e:
        raise ValidationError(f"call id={call.id!r} cannot be stored: {e}") from None


def encode_calls(calls: Sequence[Call], *, all_utc: bool | None = None) -> str:
    """The `telemetry.jsonl` lines of `calls`: `Call.to_dict()` minus prompt/response, one per line.

    Per-modality counts (`input_audio_tokens`, …) are written only when not 0, so a text-only call's line
    is what it was before they existed.

    Args:
        calls: The calls to encode.
        all_utc: Whether every `started_at` is in `timezone.utc` (checked when not given).

    Returns:
        One compact, ASCII-only JSON object per call, each ending with a newline.

    Raises:
        ValidationError: a call holds a value JSON cannot represent.

    Example:
        >>> from tokentrail.model import Call
        >>> encode_calls([Call(id="a", started_at=datetime(2024, 5, 1, tzinfo=UTC), model="m")])[:51]
        '{"id":"a","started_at":"2024-05-01T00:00:00+00:00",'
    """
    if len(_CTX_CACHE) > _CTX_CACHE_MAX:
        _CTX_CACHE.clear()
    if all_utc is None:
        all_utc = all(c.started_at.tzinfo is UTC for c in calls)
    try:
        return "".join((_ENCODE_UTC if all_utc else _ENCODE_ANY)(calls))
    except (TypeError, ValueError, AttributeError):
        pass  # a value of an unexpected type: the per-call path gives the same text, or a clear error
    return "".join([_encode_one(c) for c in calls])


# --- decoding --------------------------------------------------------------------------------------


def _call_from_record(data: object, texts: Mapping[str, tuple[str | None, str | None]] | None = None) -> Call:
    """A validated Call from one decoded line (unknown keys are ignored, naive times are taken as UTC)."""
    if type(data) is not dict:
        raise ValueError("not a JSON object")
    kwargs: dict[str, Any] = data if _FIELD_SET.issuperset(data) else {k: v for k, v in data.items() if k in _FIELD_SET}
    started = kwargs.get("started_at")
    if type(started) is str:
        started = datetime.fromisoformat(started)
        kwargs["started_at"] = started if started.tzinfo is not None else started.replace(tzinfo=UTC)
    for name in _COST_FIELDS:
        value = kwargs.get(name)
        if value is not None:
            kwargs[name] = Decimal(value if type(value) is str else str(value))
    if texts:
        prompt, response = texts.get(kwargs.get("id"), (None, None))  # type: ignore[arg-type]
        if prompt is not None:
            kwargs["prompt"] = prompt
        if response is not None:
            kwargs["response"] = response
    return validate_call(Call(**kwargs))


_CORRUPT = (ValueError, TypeError, ArithmeticError, InvalidOperation)
_ID_AT_START = re.compile(rb'\{"id":"([^"\\]*)"')
_RESPONSE_ID_KEY = b'"response_id":'
_JSON_STRING = re.compile(rb'"([^"\\]*)"')


def _ids_of_line(raw: bytes) -> tuple[str, str | None] | None:
    """The `id` and `response_id` of one line, without decoding all of it when that is unambiguous.

    The shortcut needs the line to open with the id and to hold `"response_id":` exactly once (a label
    of that name would make it ambiguous); anything else is decoded in full.
    """
    head = _ID_AT_START.match(raw)
    if head is not None and raw.count(_RESPONSE_ID_KEY) == 1:
        at = raw.index(_RESPONSE_ID_KEY) + len(_RESPONSE_ID_KEY)
        if raw.startswith(b"null", at):
            return head.group(1).decode(), None
        value = _JSON_STRING.match(raw, at)
        if value is not None:
            return head.group(1).decode(), value.group(1).decode()
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if type(data) is not dict or type(data.get("id")) is not str:
        return None
    rid = data.get("response_id")
    return data["id"], rid if type(rid) is str else None


# --- summary ---------------------------------------------------------------------------------------

_INT_KEYS = (
    "calls", "errors", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "unpriced_calls",
)  # fmt: skip
_SUM_GETTERS = tuple((key, attrgetter(key)) for key in _INT_KEYS[2:7])
_SUCCESS_GET = attrgetter("success")
_COST_GET = attrgetter("cost_usd")
_MODEL_GET = attrgetter("model")

Sums = dict[str, Any]
"""Totals: the `_INT_KEYS` as ints, `cost_usd` as a Decimal."""


def _zero() -> Sums:
    sums: Sums = dict.fromkeys(_INT_KEYS, 0)
    sums["cost_usd"] = Decimal(0)
    return sums


def _add(into: Sums, calls: Sequence[Call], sign: int) -> None:
    """Fold `calls` into `into` (all in C-level loops), or take them out with `sign=-1`."""
    n = len(calls)
    into["calls"] += sign * n
    into["errors"] += sign * (n - sum(map(_SUCCESS_GET, calls)))
    for key, getter in _SUM_GETTERS:
        into[key] += sign * sum(map(getter, calls))
    costs = [c for c in map(_COST_GET, calls) if c is not None]
    into["unpriced_calls"] += sign * (n - len(costs))
    into["cost_usd"] += sign * sum(costs, Decimal(0))


def _sums_json(sums: Sums) -> dict[str, Any]:
    out: dict[str, Any] = {key: sums[key] for key in _INT_KEYS}
    out["total_tokens"] = sums["input_tokens"] + sums["output_tokens"]
    out["cost_usd"] = str(sums["cost_usd"])
    return out


def _sums_from_json(data: Any) -> Sums:
    sums = _zero()
    for key in _INT_KEYS:
        if type(data[key]) is not int:
            raise ValueError(f"{key} is not an integer")
        sums[key] = data[key]
    sums["cost_usd"] = Decimal(data["cost_usd"])
    return sums


class _Summary:
    """What `summary.json` holds: totals, totals by model, and per day the calls and bytes counted."""

    __slots__ = ("by_model", "days", "totals")

    def __init__(self) -> None:
        self.totals: Sums = _zero()
        self.by_model: dict[str, Sums] = {}
        self.days: dict[str, dict[str, int]] = {}

    def add(self, model: str, calls: Sequence[Call], sign: int = 1) -> None:
        """Count (or, with `sign=-1`, uncount) calls all of `model`."""
        _add(self.totals, calls, sign)
        sums = self.by_model.get(model)
        if sums is None:
            sums = self.by_model[model] = _zero()
        _add(sums, calls, sign)
        if sums["calls"] == 0:
            del self.by_model[model]

    def add_calls(self, day: str, calls: Sequence[Call], sign: int = 1) -> None:
        """Count (or uncount) calls of any models, all of `day`."""
        groups: dict[str, list[Call]] = {}
        for call in calls:
            groups.setdefault(call.model, []).append(call)
        for model, group in groups.items():
            self.add(model, group, sign)
        self.count_day(day, sign * len(calls))

    def count_day(self, day: str, calls: int, size: int | None = None) -> None:
        entry = self.days.setdefault(day, {"calls": 0, "bytes": 0})
        entry["calls"] += calls
        if size is not None:
            entry["bytes"] = size

    def replace_with(self, other: _Summary) -> None:
        self.totals, self.by_model, self.days = other.totals, other.by_model, other.days

    def to_json(self, updated_at: str) -> dict[str, Any]:
        return {
            "format": SUMMARY_FORMAT,
            "updated_at": updated_at,
            "totals": _sums_json(self.totals),
            "by_model": {m: _sums_json(s) for m, s in sorted(self.by_model.items())},
            "days": dict(sorted(self.days.items())),
        }

    @classmethod
    def from_json(cls, data: Any) -> _Summary:
        if type(data) is not dict or data.get("format") != SUMMARY_FORMAT:
            raise ValueError("not a tokentrail jsonl summary")
        out = cls()
        out.totals = _sums_from_json(data["totals"])
        out.by_model = {str(m): _sums_from_json(s) for m, s in data["by_model"].items()}
        out.days = {str(d): {"calls": int(v["calls"]), "bytes": int(v["bytes"])} for d, v in data["days"].items()}
        return out


# --- files -----------------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Replace `path` by `data` through a temporary file in the same folder and `os.replace`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        try:
            _write_all(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _append(path: Path, data: bytes) -> tuple[int, int, int, int]:
    """Append whole lines to `path`, starting on a fresh line if the last one was cut short.

    All or nothing: when a write fails part-way (a full disk), the file is cut back to its size before, so no
    line of the batch — and no torn line — is left behind to be counted as stored.

    Returns:
        (inode, size before, bytes written, size after).
    """
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        st = os.fstat(fd)
        if st.st_size and os.pread(fd, 1, st.st_size - 1) != b"\n":
            data = b"\n" + data  # a crash cut the last line: leave it be, start afresh
        start = 0
        try:
            while start < len(data):
                end = len(data)
                if end - start > MAX_WRITE_BYTES:
                    end = data.rfind(b"\n", start, start + MAX_WRITE_BYTES) + 1 or start + MAX_WRITE_BYTES
                _write_all(fd, memoryview(data)[start:end])
                start = end
        except OSError:
            _cut_back(fd, path, st.st_size)
            raise
        return st.st_ino, st.st_size, len(data), os.fstat(fd).st_size
    finally:
        os.close(fd)


def _cut_back(fd: int, path: Path, size: int) -> None:
    """Truncate a file to `size` after a failed append (shrinking frees space, so it works on a full disk)."""
    try:
        os.ftruncate(fd, size)
    except OSError as e:  # pragma: no cover - a failing device: the reader skips a torn last line
        logger.warning("tokentrail: could not cut %s back to %d bytes after a failed write: %s", path, size, e)


def _truncate(path: Path, size: int) -> None:
    try:
        os.truncate(path, size)
    except OSError as e:  # pragma: no cover - a failing device: the index skips what it already holds
        logger.warning("tokentrail: could not cut %s back to %d bytes after a failed write: %s", path, size, e)


def _read_json(path: Path) -> Any:
    with open(path, "rb") as f:
        return json.loads(f.read())


def _encode_texts(pairs: Iterable[tuple[str, str]], name: str) -> bytes:
    return "".join(json.dumps({"id": cid, name: text}) + "\n" for cid, text in pairs).encode("ascii")


def _drop_texts(path: Path, gone: set[str]) -> None:
    """Rewrite a prompts/responses file without the lines of the `gone` call ids."""
    try:
        with open(path, "rb") as f:
            lines = f.readlines()
    except FileNotFoundError:
        return
    keep = []
    for raw in lines:
        try:
            data = json.loads(raw)
            cid = data.get("id") if type(data) is dict else None
        except _CORRUPT:
            cid = None
        if cid not in gone:
            keep.append(raw if raw.endswith(b"\n") else raw + b"\n")
    if len(keep) != len(lines):
        _write_atomic(path, b"".join(keep), fsync=True)


def _folder_size(folder: Path) -> int:
    total = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    total += entry.stat().st_size
                except FileNotFoundError:
                    continue
    except FileNotFoundError:
        return 0
    return total


def _day_range(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _overlaps(day: date, filter: Filter) -> bool:
    start, end = _day_range(day)
    return (filter.since is None or filter.since < end) and (filter.until is None or filter.until > start)


def _covers(filter: Filter, day: date) -> bool:
    """Whether `filter` matches every call of `day` (so its folder can simply go)."""
    start, end = _day_range(day)
    return (
        not filter.where
        and filter.success is None
        and (filter.since is None or filter.since <= start)
        and (filter.until is None or filter.until >= end)
    )


_STARTED_GET = attrgetter("started_at")
_TZINFO_GET = attrgetter("tzinfo")
_TO_ORDINAL = datetime.toordinal


def _utc_days(calls: Sequence[Call]) -> tuple[list[int], bool]:
    """The UTC day ordinal of each call's `started_at`, and whether all are in `timezone.utc`."""
    starts = list(map(_STARTED_GET, calls))
    try:
        if set(map(_TZINFO_GET, starts)) == {UTC}:
            return list(map(_TO_ORDINAL, starts)), True
    except AttributeError:
        pass
    ordinals = []
    for call, started in zip(calls, starts, strict=True):
        if not isinstance(started, datetime) or started.utcoffset() is None:
            raise ValidationError(f"started_at={started!r} of call id={call.id!r} is not a timezone-aware datetime")
        ordinals.append(started.astimezone(UTC).toordinal())
    return ordinals, False


def _check_option(name: str, value: object, kind: type[int] | type[float]) -> Any:
    """`value` as a positive int (any positive number for floats), parsed when it came as URL text."""
    if value is None:
        return None
    parsed = value
    if type(value) is str:
        try:
            parsed = kind(value)
        except ValueError:
            parsed = None
    if type(parsed) not in ((int,) if kind is int else (int, float)) or not parsed > 0:  # type: ignore[operator]
        expected = "a whole number of days > 0" if kind is int else "a number of megabytes > 0"
        raise ConfigError(f"jsonl store option {name}={value!r} is not valid: expected {expected}, or None")
    return parsed


def _check_meta(namespace: object, key: object, value: object = "") -> None:
    for name, v in (("namespace", namespace), ("key", key), ("value", value)):
        if type(v) is not str:
            raise ValidationError(f"meta {name}={v!r} is not valid: expected a string")


# --- the store -------------------------------------------------------------------------------------


class JsonlStore:
    """Calls kept as JSON lines in daily folders under one directory (see the module docs).

    Example:
        >>> import tempfile
        >>> with JsonlStore.from_url(f"jsonl://{tempfile.mkdtemp()}/calls") as store:
        ...     store.write([])
        0
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retention_days: int | None = None,
        max_size_mb: float | None = None,
        clock: Callable[[], datetime] | None = None,
        url: str | None = None,
    ) -> None:
        """Open (creating if needed) the store in folder `path`.

        Args:
            path: The store's folder; created with its parents if missing.
            retention_days: Delete day folders older than this many days (on open, then hourly on write).
            max_size_mb: Delete the oldest day folders while the store holds more (never the newest day).
            clock: Returns the current UTC time, for retention; `datetime.now(timezone.utc)` by default.
            url: The URL to report as `url`; `jsonl://<path>` by default.

        Raises:
            ConfigError: an option has a bad value.
            StoreError: the folder cannot be created or written.
        """
        self.path = Path(path)
        self.url = url or f"jsonl://{self.path}"
        self.retention_days: int | None = _check_option("retention_days", retention_days, int)
        self.max_size_mb: float | None = _check_option("max_size_mb", max_size_mb, float)
        self.corrupt_lines = 0
        """How many distinct corrupt or truncated lines this store has skipped (each logged once)."""
        self._clock = clock or (lambda: datetime.now(UTC))
        self._tlock = threading.RLock()
        self._warned: set[tuple[str, int]] = set()
        self._summary_errors: set[int | None] = set()
        self._ids: set[str] | None = None  # None until the first write loads the index
        self._rids: set[str] = set()
        self._seen: dict[int, tuple[int, int]] = {}  # day ordinal -> (inode, bytes indexed) of its data file
        self._last_rescan = 0.0
        self._last_retention: datetime | None = None
        self._size_checked_at = 0.0
        self._size_estimate = 0
        self._lock_fd = self._meta_fd = -1
        if fcntl is None:  # pragma: no cover - Windows
            raise StoreError(f"the jsonl store at {str(self.path)!r} needs POSIX file locks (fcntl)")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._meta_fd = os.open(self.path / ".meta.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            self._close_fds()
            raise StoreUnavailableError(
                f"cannot open the jsonl store at {str(self.path)!r}: {e.strerror or e}; "
                "use a folder you can write to (jsonl:///absolute/dir)"
            ) from None
        for trash in self.path.glob(".trash-*"):  # left by a crash in the middle of a removal
            shutil.rmtree(trash, ignore_errors=True)
        if self.retention_days is not None or self.max_size_mb is not None:
            with self._locked():
                top = self._load_top()
                try:
                    self._enforce_limits(top, force=True)
                finally:
                    self._save_top(top)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> JsonlStore:
        """Open `jsonl:///abs/dir`, `jsonl://relative/dir` or `jsonl://~/dir`; options may come as `?retention_days=30`.

        The path rule is `store.location`'s; `url` becomes the canonical `jsonl:///absolute/dir`.

        Args:
            url: The store URL.
            **options: `retention_days`, `max_size_mb`, `clock` (see `JsonlStore`).

        Returns:
            The open store.

        Raises:
            ConfigError: the URL is malformed, or an option is unknown or bad.
            StoreError: the folder cannot be created or written.

        Example:
            >>> JsonlStore.from_url("jsonl://")
            Traceback (most recent call last):
            ...
            tokentrail.errors.ConfigError: store URL 'jsonl://' names no path: ...
        """
        from .location import locate

        scheme, sep, _ = url.partition("://") if type(url) is str else ("", "", "")
        if scheme.lower() != "jsonl" or not sep:
            raise ConfigError(f"store URL {url!r} is not a jsonl URL: expected jsonl:///absolute/dir")
        location = locate(url)
        for key, value in parse_qsl(location.query, keep_blank_values=True):
            options.setdefault(key, value)
        unknown = sorted(set(options) - {"retention_days", "max_size_mb", "clock"})
        if unknown:
            raise ConfigError(
                f"store URL {url!r}: unknown jsonl option(s) {', '.join(unknown)}; use retention_days, max_size_mb"
            )
        return cls(location.path, url=location.url, **options)  # type: ignore[arg-type]  # jsonl always has one

    def __enter__(self) -> JsonlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------------

    def write(self, calls: Sequence[Call]) -> int:
        """Append a batch; calls whose `id` or `response_id` is already stored are skipped.

        Args:
            calls: The calls to store.

        Returns:
            How many were newly stored.

        Raises:
            ValidationError: a call's `started_at` has no time zone, or a value cannot be stored as JSON.
            StoreError: a file cannot be written (calls of that day and later days are not stored).
        """
        self._check_open()
        if not isinstance(calls, (list, tuple)):
            calls = list(calls)
        if not calls:
            return 0
        ordinals, all_utc = _utc_days(calls)
        with self._locked():
            self._sync_index(ordinals)
            top = self._load_top()
            groups = self._claim(calls, ordinals)
            if not groups:
                return 0
            by_day: dict[int, list[tuple[str, list[Call]]]] = {}
            for (ordinal, model), group in groups.items():
                by_day.setdefault(ordinal, []).append((model, group))
            pending = sorted(by_day, reverse=True)
            added = 0
            appended: list[tuple[Path, int]] = []
            seen, size_estimate = dict(self._seen), self._size_estimate
            try:
                while pending:
                    added += self._write_day(pending[-1], by_day[pending[-1]], top, all_utc, appended)
                    pending.pop()
            except BaseException:
                # All or nothing, like a transaction: the days already written are cut back too, so the caller
                # may spool or count the whole batch and the accounting stays exact (issue 12, item 15).
                for path, size in reversed(appended):
                    _truncate(path, size)
                self._seen, self._size_estimate = seen, size_estimate
                if appended:
                    top.replace_with(self._rebuild_top())
                for groups_of_day in by_day.values():
                    for _, group in groups_of_day:
                        self._unclaim(group)
                raise
            finally:
                self._enforce_limits_quietly(top)
                self._save_top(top)
        return added

    def _write_day(self, ordinal: int, groups: list[tuple[str, list[Call]]], top: _Summary, all_utc: bool,
                   appended: list[tuple[Path, int]]) -> int:  # fmt: skip
        day = date.fromordinal(ordinal)
        folder = self._day_dir(day)
        fresh = groups[0][1] if len(groups) == 1 else [call for _, group in groups for call in group]
        text = encode_calls(fresh, all_utc=all_utc).encode("ascii")
        try:
            folder.mkdir(exist_ok=True)
            self._catch_up(day, top)
            for getter, name, file in (
                (_PROMPT_GET, "prompt", PROMPTS_FILE),
                (_RESPONSE_GET, "response", RESPONSES_FILE),
            ):
                texts = list(map(getter, fresh))
                if texts.count(None) != len(texts):
                    pairs = [(c.id, t) for c, t in zip(fresh, texts, strict=True) if t is not None]
                    appended.append((folder / file, _append(folder / file, _encode_texts(pairs, name))[1]))
            ino, before, written, after = _append(folder / DATA_FILE, text)
            appended.append((folder / DATA_FILE, before))
        except OSError as e:
            raise StoreUnavailableError(
                f"cannot write to the jsonl store at {str(folder)!r}: {e.strerror or e}"
            ) from None
        self._size_estimate += written
        if after != before + written:  # a tool that ignores the lock appended at the same moment
            top.replace_with(self._rebuild_top())
            return len(fresh)
        if self._seen.get(ordinal) == (ino, before) or (before == 0 and ordinal not in self._seen):
            self._seen[ordinal] = (ino, after)
        for model, group in groups:
            top.add(model, group)
        top.count_day(day.isoformat(), len(fresh), after)
        return len(fresh)

    def _claim(self, calls: Sequence[Call], ordinals: list[int]) -> dict[tuple[int, str], list[Call]]:
        """The calls not stored yet, by day ordinal and model, entered in the index (first one wins)."""
        ids, rids = self._ids, self._rids
        assert ids is not None
        groups: dict[tuple[int, str], list[Call]] = {}
        for call, ordinal in zip(calls, ordinals, strict=True):
            cid = call.id
            if cid in ids:
                continue
            rid = call.response_id
            if rid is not None:
                if rid in rids:
                    continue
                rids.add(rid)
            ids.add(cid)
            key = (ordinal, call.model)
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
            group.append(call)
        return groups

    def _unclaim(self, calls: Iterable[Call]) -> None:
        if self._ids is None:
            return
        for call in calls:
            self._ids.discard(call.id)
            if call.response_id is not None:
                self._rids.discard(call.response_id)

    # --- the dedupe index ----------------------------------------------------------------------

    def _sync_index(self, ordinals: Iterable[int]) -> None:
        """Index the lines other writers added to these days' files (every day's, now and then)."""
        now = time.monotonic()
        if self._ids is None:
            self._rebuild_index()
            self._last_rescan = now
            return
        check = set(ordinals)
        if now - self._last_rescan >= RESCAN_SECONDS:
            check.update(d.toordinal() for d in self._days())
            check.update(self._seen)
            self._last_rescan = now
        for ordinal in check:
            if not self._index_file(ordinal):
                self._rebuild_index()  # a file was rewritten or removed under us: start again
                return

    def _rebuild_index(self) -> None:
        self._ids, self._rids, self._seen = set(), set(), {}
        for day in self._days():
            self._index_file(day.toordinal())

    def _index_file(self, ordinal: int) -> bool:
        """Index the lines appended to a day's file since last time; False if it shrank or was replaced."""
        assert self._ids is not None
        known = self._seen.get(ordinal)
        try:
            f = open(self._day_dir(date.fromordinal(ordinal)) / DATA_FILE, "rb")
        except FileNotFoundError:
            return known is None
        with f:
            st = os.fstat(f.fileno())
            if known is not None and (known[0] != st.st_ino or known[1] > st.st_size):
                return False
            offset = known[1] if known is not None else 0
            if offset < st.st_size:
                f.seek(offset)
                ids, rids = self._ids, self._rids
                for raw in f:
                    if not raw.endswith(b"\n"):
                        break  # a line still being written, or cut short: look again next time
                    offset += len(raw)
                    found = _ids_of_line(raw) if len(raw) > 1 else None
                    if found is not None:
                        ids.add(found[0])
                        if found[1] is not None:
                            rids.add(found[1])
            self._seen[ordinal] = (st.st_ino, offset)
        return True

    # --- summary.json --------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The store's `summary.json`: totals, totals by model, and per day the calls and bytes counted.

        Example:
            >>> import tempfile
            >>> with JsonlStore(tempfile.mkdtemp()) as store:
            ...     store.summary()["totals"]["calls"]
            0
        """
        self._check_open()
        try:
            data = _read_json(self.path / SUMMARY_FILE)
            _Summary.from_json(data)
            return data  # type: ignore[no-any-return]
        except (OSError, KeyError, *_CORRUPT):
            with self._locked():
                return self._save_top(self._load_top())

    def rebuild_summary(self) -> dict[str, Any]:
        """Count the store's `summary.json` again from the data files, and return it."""
        self._check_open()
        with self._locked():
            return self._save_top(self._rebuild_top())

    def _load_top(self) -> _Summary:
        path = self.path / SUMMARY_FILE
        try:
            return _Summary.from_json(_read_json(path))
        except FileNotFoundError:
            pass
        except (OSError, KeyError, *_CORRUPT) as e:
            logger.warning("tokentrail: %s is unreadable (%s); counting it again from the data", path, e)
        return self._rebuild_top()

    def _rebuild_top(self) -> _Summary:
        top = _Summary()
        for day in self._days():
            calls, end = self._scan(self._day_dir(day) / DATA_FILE, 0)
            top.add_calls(day.isoformat(), calls)
            top.count_day(day.isoformat(), 0, end)
        return top

    def _catch_up(self, day: date, top: _Summary) -> None:
        """Count in `top` the lines of `day` it has not counted (appended after a crash, or by another tool)."""
        name = day.isoformat()
        path = self._day_dir(day) / DATA_FILE
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = 0
        counted = top.days[name]["bytes"] if name in top.days else 0
        if size == counted:
            return
        if size < counted:  # the file was cut or replaced behind our back: count everything again
            top.replace_with(self._rebuild_top())
            return
        calls, end = self._scan(path, counted)
        top.add_calls(name, calls)
        top.count_day(name, 0, end)

    def _save_top(self, top: _Summary) -> dict[str, Any]:
        """Write `summary.json`; a failure is logged once per error until a write succeeds again."""
        data = top.to_json(self._clock().isoformat())
        path = self.path / SUMMARY_FILE
        try:
            _write_atomic(path, json.dumps(data).encode())
        except OSError as e:
            if e.errno not in self._summary_errors:
                self._summary_errors.add(e.errno)
                logger.warning("tokentrail: could not update %s: %s (the data files are unaffected)", path, e)
        else:
            self._summary_errors.clear()
        return data

    # --- reading -------------------------------------------------------------------------------

    def calls(self, filter: Filter, *, limit: int | None = None, newest_first: bool = True) -> Iterator[Call]:
        """The matching calls ordered by `started_at` (then `id`), one day in memory at a time.

        Args:
            filter: Which calls.
            limit: At most this many.
            newest_first: Newest first (the default) or oldest first.

        Returns:
            An iterator of Calls, with their prompt/response text when it was stored.
        """
        self._check_open()
        if limit is not None and limit <= 0:
            return
        left = limit
        for day in sorted(self._days(filter), reverse=newest_first):
            folder = self._day_dir(day)
            texts = self._load_texts(folder)
            matching = [c for c in self._read_file(folder / DATA_FILE, texts) if filter.matches(c)]
            matching.sort(key=_sort_key, reverse=newest_first)
            if left is not None:
                matching = matching[:left]
                left -= len(matching)
            yield from matching
            if left == 0:
                return

    def aggregate(
        self, filter: Filter, *, by: Sequence[str] = (), bucket: Bucket | None = None, tz: tzinfo = UTC
    ) -> list[Group]:
        """Totals per group and time bucket, streamed over the day folders `filter` can match."""
        self._check_open()
        return aggregate_calls(self._stream(filter), filter, by=by, bucket=bucket, tz=tz)

    def percentiles(
        self,
        filter: Filter,
        *,
        by: Sequence[str] = (),
        metric: Metric = "duration_ms",
        quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    ) -> list[PercentileRow]:
        """Exact quantiles of `metric` per group (the matching values are held in memory)."""
        self._check_open()
        return percentiles_of(self._stream(filter), filter, by=by, metric=metric, quantiles=quantiles)

    def _stream(self, filter: Filter) -> Iterator[Call]:
        for day in self._days(filter):
            yield from self._read_file(self._day_dir(day) / DATA_FILE, None)

    def _read_file(self, path: Path, texts: Mapping[str, tuple[str | None, str | None]] | None) -> Iterator[Call]:
        for call, _ in self._records(path, texts):
            if call is not None:
                yield call

    def _scan(self, path: Path, start: int) -> tuple[list[Call], int]:
        """The good calls on the complete lines from byte `start`, and the byte after the last one."""
        calls, end = [], start
        for call, end in self._records(path, None, start=start, complete_only=True):  # noqa: B007 - keeps `end`
            if call is not None:
                calls.append(call)
        return calls, end

    def _records(
        self,
        path: Path,
        texts: Mapping[str, tuple[str | None, str | None]] | None,
        *,
        start: int = 0,
        complete_only: bool = False,
    ) -> Iterator[tuple[Call | None, int]]:
        """(call, or None for a blank or bad line; the byte after the line) for each line from `start`."""
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return
        with f:
            lineno = _count_lines(f, start) + 1 if start else 1
            offset = start
            f.seek(start)
            for raw in f:
                if complete_only and not raw.endswith(b"\n"):
                    return
                offset += len(raw)
                call = None
                if not raw.isspace():  # (a blank line is the fresh start an append makes after a cut one)
                    try:
                        call = _call_from_record(json.loads(raw), texts)
                    except _CORRUPT as e:
                        self._corrupt(path, lineno, raw, e)
                yield call, offset
                lineno += 1

    def _load_texts(self, folder: Path) -> dict[str, tuple[str | None, str | None]]:
        """Prompt and response text by call id, from the day's `prompts.jsonl` and `responses.jsonl`."""
        texts: dict[str, tuple[str | None, str | None]] = {}
        for name, file in (("prompt", PROMPTS_FILE), ("response", RESPONSES_FILE)):
            path = folder / file
            try:
                f = open(path, "rb")
            except FileNotFoundError:
                continue
            with f:
                for lineno, raw in enumerate(f, 1):
                    if raw.isspace():
                        continue
                    try:
                        data = json.loads(raw)
                        cid, text = data["id"], data[name]
                        if type(cid) is not str or type(text) is not str:
                            raise ValueError(f"id and {name} must be strings")
                    except (KeyError, *_CORRUPT) as e:
                        self._corrupt(path, lineno, raw, e)
                        continue
                    prompt, response = texts.get(cid, (None, None))
                    texts[cid] = (text, response) if name == "prompt" else (prompt, text)
        return texts

    def _corrupt(self, path: Path, lineno: int, raw: bytes, error: BaseException) -> None:
        key = (str(path), lineno)
        if key in self._warned:
            return
        self._warned.add(key)
        if b'"timestamp"' in raw and b'"tokens"' in raw and not raw.startswith(b'{"id"'):  # the earlier tool's
            if ("llm-telemetry", 0) not in self._warned:
                self._warned.add(("llm-telemetry", 0))
                logger.warning("tokentrail: %s:%d looks like an llm-telemetry folder (the earlier tool's records), "
                               "not tokentrail's; its records are skipped here: run `tokentrail import llm-telemetry "
                               "%s` to bring them in", path, lineno, self.path)  # fmt: skip
            return
        self.corrupt_lines += 1
        what = "corrupt" if raw.endswith(b"\n") else "truncated"
        logger.warning("tokentrail: skipped %s line %s:%d (%s)", what, path, lineno, error)

    # --- deleting and limits -------------------------------------------------------------------

    def delete(self, filter: Filter, *, batch_size: int = 10_000) -> int:
        """Delete the matching calls; returns how many.

        A day all of whose calls match is removed as a folder; any other affected day file is rewritten
        (temp file, `fsync`, `os.replace`) under the lock. The lock is released between days, so a day
        is the unit of work whatever `batch_size` says (it is checked, for the protocol's sake).

        Raises:
            ValidationError: `batch_size` is not a positive integer.
            StoreError: a file cannot be rewritten.
        """
        self._check_open()
        if type(batch_size) is not int or batch_size < 1:
            raise ValidationError(f"batch_size={batch_size!r} is not valid: expected an integer >= 1")
        removed = 0
        for day in self._days(filter):
            with self._locked():
                top = self._load_top()
                try:
                    if _covers(filter, day):
                        removed += self._remove_day(day, top)
                    else:
                        removed += self._rewrite_day(day, filter, top)
                finally:
                    self._save_top(top)
        return removed

    def _rewrite_day(self, day: date, filter: Filter, top: _Summary) -> int:
        folder = self._day_dir(day)
        path = folder / DATA_FILE
        self._catch_up(day, top)
        keep: list[bytes] = []
        gone: list[Call] = []
        kept = 0
        try:
            with open(path, "rb") as f:
                for raw in f:
                    try:
                        call = None if raw.isspace() else _call_from_record(json.loads(raw))
                    except _CORRUPT:
                        call = None  # kept as it is: nothing but the matching calls is dropped
                    if call is not None and filter.matches(call):
                        gone.append(call)
                        continue
                    kept += call is not None
                    keep.append(raw if raw.endswith(b"\n") else raw + b"\n")
        except FileNotFoundError:
            return 0
        if not gone:
            return 0
        if not kept:
            return self._remove_day(day, top)
        try:
            _write_atomic(path, b"".join(keep), fsync=True)
            for file in (PROMPTS_FILE, RESPONSES_FILE):
                _drop_texts(folder / file, {c.id for c in gone})
            st = os.stat(path)
        except OSError as e:
            raise StoreError(f"cannot rewrite {str(path)!r}: {e.strerror or e}") from None
        top.add_calls(day.isoformat(), gone, -1)
        top.count_day(day.isoformat(), 0, st.st_size)
        self._unclaim(gone)
        if self._ids is not None:
            self._seen[day.toordinal()] = (st.st_ino, st.st_size)
        self._warned = {w for w in self._warned if w[0] != str(path)}
        return len(gone)

    def _remove_day(self, day: date, top: _Summary) -> int:
        """Remove a whole day folder (renamed aside first, so readers never see half of it)."""
        folder = self._day_dir(day)
        if not folder.is_dir():
            return 0
        self._catch_up(day, top)
        calls, _ = self._scan(folder / DATA_FILE, 0)
        trash = self.path / f".trash-{day.isoformat()}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(folder, trash)
        except OSError as e:
            raise StoreError(f"cannot remove {str(folder)!r}: {e.strerror or e}") from None
        shutil.rmtree(trash, ignore_errors=True)
        top.add_calls(day.isoformat(), calls, -1)
        top.days.pop(day.isoformat(), None)
        self._unclaim(calls)
        self._seen.pop(day.toordinal(), None)
        self._warned = {w for w in self._warned if not w[0].startswith(str(folder) + os.sep)}
        return len(calls)

    def _enforce_limits_quietly(self, top: _Summary) -> None:
        """Retention and size cap after a write: a failure is logged, never raised (the batch is stored)."""
        try:
            self._enforce_limits(top)
        except (StoreError, OSError) as e:
            logger.warning("tokentrail: retention/size cap of the jsonl store at %s failed: %s", self.path, e)

    def _enforce_limits(self, top: _Summary, *, force: bool = False) -> None:
        """Apply `retention_days` (at most hourly) and `max_size_mb` (with the lock held)."""
        if self.retention_days is not None:
            now = self._clock()
            if force or self._last_retention is None or now - self._last_retention >= RETENTION_EVERY:
                self._last_retention = now
                cutoff = now.astimezone(UTC).date() - timedelta(days=self.retention_days)
                for day in self._days():
                    if day < cutoff:
                        self._remove_day(day, top)
        if self.max_size_mb is not None:
            cap = self.max_size_mb * 1024 * 1024
            mono = time.monotonic()
            if force or self._size_estimate > cap or mono - self._size_checked_at >= SIZE_CHECK_SECONDS:
                self._size_checked_at = mono
                self._size_estimate = self._apply_size_cap(cap, top)

    def _apply_size_cap(self, cap: float, top: _Summary) -> int:
        sizes = {day: _folder_size(self._day_dir(day)) for day in self._days()}
        total = sum(sizes.values())
        for day in sorted(sizes)[:-1]:  # never the newest day: it holds what was just written
            if total <= cap:
                break
            self._remove_day(day, top)
            total -= sizes[day]
        if total > cap:
            logger.warning(
                "tokentrail: the jsonl store at %s holds %.1f MB in its newest day, over max_size_mb=%s",
                self.path,
                total / 1048576,
                self.max_size_mb,
            )
        return total

    # --- metadata ------------------------------------------------------------------------------

    def meta_get(self, namespace: str, key: str) -> str | None:
        """A shared metadata value, or None."""
        self._check_open()
        return self._meta_read().get(namespace, {}).get(key)

    def meta_put(self, namespace: str, key: str, value: str) -> None:
        """Set a shared metadata value."""
        _check_meta(namespace, key, value)

        def put(meta: dict[str, dict[str, str]]) -> bool:
            meta.setdefault(namespace, {})[key] = value
            return True

        self._meta_update(put)

    def meta_put_if_absent(self, namespace: str, key: str, value: str) -> bool:
        """Set a value only if the key is new: atomic across processes (`flock` on `.meta.lock`)."""
        _check_meta(namespace, key, value)

        def put(meta: dict[str, dict[str, str]]) -> bool:
            if key in meta.get(namespace, {}):
                return False
            meta.setdefault(namespace, {})[key] = value
            return True

        return self._meta_update(put)

    def meta_delete(self, namespace: str, key: str) -> bool:
        """Remove a key; True if it existed."""
        _check_meta(namespace, key)

        def drop(meta: dict[str, dict[str, str]]) -> bool:
            if key not in meta.get(namespace, {}):
                return False
            del meta[namespace][key]
            if not meta[namespace]:
                del meta[namespace]
            return True

        return self._meta_update(drop)

    def meta_items(self, namespace: str) -> dict[str, str]:
        """Every key and value of a namespace."""
        self._check_open()
        return dict(self._meta_read().get(namespace, {}))

    def _meta_read(self) -> dict[str, dict[str, str]]:
        path = self.path / META_FILE
        try:
            data = _read_json(path)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise StoreError(f"cannot read {str(path)!r}: {e}; fix or remove the file") from None
        if type(data) is not dict:
            raise StoreError(f"cannot read {str(path)!r}: not a JSON object; fix or remove the file")
        return data

    def _meta_update(self, change: Callable[[dict[str, dict[str, str]]], bool]) -> bool:
        self._check_open()
        with self._tlock:
            fcntl.flock(self._meta_fd, fcntl.LOCK_EX)
            try:
                meta = self._meta_read()
                changed = change(meta)
                if changed:
                    data = json.dumps(meta, separators=(",", ":")).encode()
                    try:
                        _write_atomic(self.path / META_FILE, data)
                    except OSError as e:
                        raise StoreError(f"cannot write {str(self.path / META_FILE)!r}: {e.strerror or e}") from None
                return changed
            finally:
                fcntl.flock(self._meta_fd, fcntl.LOCK_UN)

    # --- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the lock files. The store must not be used afterwards."""
        with self._tlock:
            self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self._lock_fd, self._meta_fd):
            if fd >= 0:
                os.close(fd)
        self._lock_fd = self._meta_fd = -1

    def _check_open(self) -> None:
        if self._lock_fd < 0:
            raise StoreError(f"the jsonl store at {str(self.path)!r} is closed")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._tlock:
            self._check_open()
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _day_dir(self, day: date) -> Path:
        return self.path / day.isoformat()

    def _days(self, filter: Filter | None = None) -> list[date]:
        """The day folders, oldest first (only those `filter` can match, when given)."""
        days = []
        try:
            entries = os.scandir(self.path)
        except FileNotFoundError:
            return []
        with entries:
            for entry in entries:
                if _DAY_NAME.match(entry.name) and entry.is_dir():
                    try:
                        day = date.fromisoformat(entry.name)
                    except ValueError:
                        continue
                    if filter is None or _overlaps(day, filter):
                        days.append(day)
        return sorted(days)


def _sort_key(call: Call) -> tuple[datetime, str]:
    return call.started_at, call.id


def _count_lines(f: Any, end: int) -> int:
    """How many newlines the first `end` bytes of binary file `f` hold."""
    f.seek(0)
    count, left = 0, end
    while left > 0:
        chunk = f.read(min(left, 1 << 20))
        if not chunk:
            break
        count += chunk.count(b"\n")
        left -= len(chunk)
    return count
