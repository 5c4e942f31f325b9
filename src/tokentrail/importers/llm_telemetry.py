"""Import the earlier telemetry tool's folders: `DIR/YYYY-MM-DD/telemetry.jsonl`, one record per line.

A record of that tool looks like::

    {"timestamp": "2024-05-01T12:00:00", "agent_name": "router", "operation": "classify",
     "tokens": {"input": 1200, "output": 300, "total": 1500}, "cost_usd": 0.0075, "success": true,
     "prompt_hash": "ab12…", "metadata": {"project": "shop", "git_branch": "main", "error": null}}

How each field becomes part of a `Call`:

- `timestamp` → `started_at` (ISO text or seconds since the epoch; a time without a zone is UTC, as
  the tool wrote it). `agent_name` → `agent`; `operation` → `operation` (default `chat`).
- `tokens.input`/`tokens.output` → `input_tokens`/`output_tokens`; a `tokens.total` that is not their
  sum makes the record bad (totals are never stored inconsistently).
- `cost_usd` is kept as recorded (`price_source` `reported`). When the record has none, the call is
  priced from the price tables at its own date; an unknown model stays unpriced.
- The tool did not always record the model: `model` or `model_name`, in the record or its metadata,
  is used when present; otherwise the model is `unknown` (and such a call is unpriced unless it
  carries its cost).
- `success: false` with `metadata.error` → `success`, `error_type`, `error_message`; `prompt_hash`
  is kept. `metadata.project`/`git_branch`/`provider`/`user`/`session` fill those fields; any other
  text or number in `metadata` becomes a label; every call gets the label `source=llm-telemetry`.
- A line already in tokentrail's own format (a `jsonl://` store writes the same file name) is taken
  as it is.

The id of an imported call is a UUIDv7 made from the record's time and a SHA-256 of its content
(keys sorted), so the same record always gets the same id: a second import, or one after lines were
appended, stores only what is new. Two byte-for-byte identical records are one call.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..errors import UnknownModelError, ValidationError
from ..model import Call, validate_call
from ..store.base import Filter, Store

__all__ = ["ImportResult", "call_from_record", "import_llm_telemetry"]

SOURCE = "llm-telemetry"
DATA_FILE = "telemetry.jsonl"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ERROR_NAME = re.compile(r"([A-Za-z_][\w.]*(?:Error|Exception|Timeout)):\s*(.*)", re.S)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_OWN_FIELDS = ("project", "git_branch", "provider", "user", "session", "error", "model", "model_name")
_MAX_PROBLEMS = 100


class BadRecord(ValueError):
    """A record that cannot become a Call (the message names the field and value)."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did (or, with `dry_run`, would do)."""

    files: int
    """`telemetry.jsonl` files read."""
    read: int
    """Non-blank lines read."""
    imported: int
    """Calls newly stored (with `dry_run`: that would be stored)."""
    already_present: int
    """Records the store already held (imported before), or repeated in the files."""
    skipped: int
    """Bad lines, skipped."""
    problems: list[str] = field(default_factory=list)
    """`file:line: reason` of the first skipped lines (at most 100)."""
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _where(data: dict[str, Any], meta: dict[str, Any], *names: str) -> Any:
    for name in names:
        for source in (data, meta):
            value = source.get(name)
            if value is not None:
                return value
    return None


def _text(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise BadRecord(f"{name}={value!r} is not text")
    return value


def _count(name: str, value: Any) -> int:
    if value is None:
        return 0
    if type(value) is not int or value < 0:
        raise BadRecord(f"{name}={value!r} is not a whole number >= 0")
    return value


def _started_at(value: Any) -> datetime:
    try:
        if type(value) is str:
            at = datetime.fromisoformat(value)
            return (at if at.tzinfo is not None else at.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        if type(value) in (int, float):
            return _EPOCH + timedelta(seconds=value)
    except (ValueError, OverflowError):
        pass
    raise BadRecord(f"timestamp={value!r} is not an ISO date-time or seconds since the epoch")


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value if type(value) is str else str(value)) if type(value) is not bool else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise BadRecord(f"cost_usd={value!r} is not an amount of USD >= 0")
    return amount


def _error(value: Any) -> tuple[str, str]:
    if isinstance(value, dict):
        kind = value.get("type") or value.get("error_type") or "error"
        return str(kind), str(value.get("message") or value.get("error_message") or kind)
    text = str(value) if value is not None else "failed"
    named = _ERROR_NAME.fullmatch(text)
    return (named.group(1), named.group(2) or named.group(1)) if named else ("error", text)


def _call_id(at: datetime, data: dict[str, Any]) -> str:
    """A UUIDv7: the record's millisecond time, then 74 bits of the SHA-256 of its canonical JSON."""
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).digest()
    ms = (at - _EPOCH) // timedelta(milliseconds=1)
    rand = int.from_bytes(digest[:10], "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62 | rand & (2**62 - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _price(fields: dict[str, Any], at: datetime) -> None:
    from ..pricing import calculate_cost

    try:
        cost = calculate_cost(fields["model"], fields["input_tokens"], fields["output_tokens"],
                              provider=fields.get("provider"), at=at)  # fmt: skip
    except UnknownModelError:
        return
    fields.update(cost_usd=cost.total, input_cost_usd=cost.input, output_cost_usd=cost.output,
                  cache_read_cost_usd=cost.cache_read, cache_write_cost_usd=cost.cache_write,
                  price_source=cost.price_source)  # fmt: skip


def call_from_record(data: Any) -> Call:
    """The Call of one decoded line of an llm-telemetry file (see the module docstring for the mapping).

    Args:
        data: the decoded JSON of one line.

    Returns:
        A validated Call with a deterministic id.

    Raises:
        ValueError: the record cannot be imported; the message names the field and its value.

    Example:
        >>> c = call_from_record({"timestamp": "2024-05-01T12:00:00", "tokens": {"input": 10, "output": 5},
        ...                       "cost_usd": 0.25, "agent_name": "router"})
        >>> (c.model, c.agent, c.total_tokens, str(c.cost_usd), c.price_source)
        ('unknown', 'router', 15, '0.25', 'reported')
    """
    if not isinstance(data, dict):
        raise BadRecord(f"expected a JSON object, got {type(data).__name__}")
    if "timestamp" not in data and {"id", "started_at", "model"} <= data.keys():
        return Call.from_dict({k: v for k, v in data.items() if k not in ("prompt", "response")})
    if "timestamp" not in data:
        raise BadRecord("no 'timestamp': not a record of the llm-telemetry tool")
    meta = data.get("metadata") or {}
    if not isinstance(meta, dict):
        raise BadRecord(f"metadata={meta!r} is not an object")
    tokens = data.get("tokens") or {}
    if not isinstance(tokens, dict):
        raise BadRecord(f"tokens={tokens!r} is not an object")
    at = _started_at(data["timestamp"])
    fields: dict[str, Any] = {
        "model": _text("model", _where(data, meta, "model", "model_name")) or "unknown",
        "provider": _text("provider", _where(data, meta, "provider")),
        "operation": _text("operation", data.get("operation")) or "chat",
        "input_tokens": _count("tokens.input", tokens.get("input")),
        "output_tokens": _count("tokens.output", tokens.get("output")),
        "agent": _text("agent_name", data.get("agent_name")),
        "project": _text("metadata.project", meta.get("project")),
        "git_branch": _text("metadata.git_branch", meta.get("git_branch")),
        "user": _text("metadata.user", meta.get("user")),
        "session": _text("metadata.session", meta.get("session")),
        "prompt_hash": _text("prompt_hash", data.get("prompt_hash")),
    }
    total = tokens.get("total")
    if total is not None and total != fields["input_tokens"] + fields["output_tokens"]:
        raise BadRecord(f"tokens.total={total!r} is not tokens.input + tokens.output "
                        f"({fields['input_tokens']} + {fields['output_tokens']})")  # fmt: skip
    duration = _where(data, meta, "duration_ms", "latency_ms")
    if type(duration) in (int, float) and duration >= 0:
        fields["duration_ms"] = float(duration)
    success = data.get("success", True)
    if type(success) is not bool:
        raise BadRecord(f"success={success!r} is not true or false")
    if not success:
        fields["success"] = False
        fields["error_type"], fields["error_message"] = _error(meta.get("error"))
    labels = {k: str(v) for k, v in meta.items() if k not in _OWN_FIELDS and type(v) in (str, int, float, bool) and k}
    fields["labels"] = {**labels, "source": SOURCE}
    cost = _money(data.get("cost_usd"))
    if cost is not None:
        fields.update(cost_usd=cost, price_source="reported")
    else:
        _price(fields, at)
    try:
        return validate_call(Call(id=_call_id(at, data), started_at=at, **fields))
    except ValidationError as exc:
        raise BadRecord(str(exc)) from None


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ValidationError(f"DIR={str(folder)!r} is not a folder: give the llm-telemetry folder (.llm-telemetry)")
    files = sorted(p / DATA_FILE for p in folder.iterdir() if _DAY.fullmatch(p.name) and (p / DATA_FILE).is_file())
    if not files:
        raise ValidationError(f"no YYYY-MM-DD/{DATA_FILE} under {str(folder)!r}: is it an llm-telemetry folder?")
    return files


def _records(files: list[Path], on_bad: Callable[[str], None]) -> Iterator[Call]:
    for path in files:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size  # lines appended while we read (a store in this folder) wait
            offset = 0
            for lineno, raw in enumerate(f, 1):
                offset += len(raw)
                if offset > size:
                    break
                if raw.isspace():
                    continue
                try:
                    data = json.loads(raw)
                except ValueError as exc:
                    on_bad(f"{path}:{lineno}: not JSON ({exc})")
                    continue
                try:
                    yield call_from_record(data)
                except (ValueError, TypeError, ArithmeticError) as exc:
                    on_bad(f"{path}:{lineno}: {exc}")


def _present(store: Store, calls: list[Call]) -> int:
    """How many of `calls` the store holds already (by id), reading only their span of time."""
    if not calls:
        return 0
    ids = {c.id for c in calls}
    since = min(c.started_at for c in calls)
    until = max(c.started_at for c in calls) + timedelta(microseconds=1)
    return sum(1 for c in store.calls(Filter(since=since, until=until), newest_first=False) if c.id in ids)


def import_llm_telemetry(
    folder: str | Path, store: Store, *, dry_run: bool = False, batch_size: int = 1000
) -> ImportResult:
    """Import every `YYYY-MM-DD/telemetry.jsonl` under `folder` into `store`; idempotent.

    Args:
        folder: the llm-telemetry folder (usually `.llm-telemetry`).
        store: the Store to write to (left open).
        dry_run: read and check everything, count what is already there, write nothing.
        batch_size: calls per write.

    Returns:
        Counts of files, lines read, calls imported, already present and lines skipped, with the
        first skipped lines named `file:line: reason`.

    Raises:
        ValidationError: `folder` is not a folder or holds no daily `telemetry.jsonl`.
        StoreError: the store cannot be written. Batches written before stay; importing again adds the rest.

    Example:
        >>> from tokentrail.store import open_store
        >>> import_llm_telemetry("/nonexistent", open_store("memory://"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        tokentrail.errors.ValidationError: DIR='/nonexistent' is not a folder: ...
    """
    if type(batch_size) is not int or batch_size < 1:
        raise ValidationError(f"batch_size={batch_size!r} is not valid: expected a whole number >= 1")
    files = _files(Path(folder).expanduser())
    problems: list[str] = []
    skipped = good = imported = present = 0
    seen: set[str] = set()

    def on_bad(problem: str) -> None:
        nonlocal skipped
        skipped += 1
        if len(problems) < _MAX_PROBLEMS:
            problems.append(problem)

    batch: list[Call] = []

    def write() -> None:
        nonlocal imported, present
        new = _present(store, batch) if dry_run else 0
        written = len(batch) - new if dry_run else store.write(batch)
        imported += written
        present += len(batch) - written
        batch.clear()

    for call in _records(files, on_bad):
        good += 1
        if call.id in seen:
            present += 1
            continue
        seen.add(call.id)
        batch.append(call)
        if len(batch) >= batch_size:
            write()
    write()
    return ImportResult(files=len(files), read=good + skipped, imported=imported, already_present=present,
                        skipped=skipped, problems=problems, dry_run=dry_run)  # fmt: skip
