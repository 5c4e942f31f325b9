"""Settings: one table of parameters, resolved as arguments > environment > config file > defaults.

Each parameter is declared once below with its environment variable, its config-file key, its default
and its parser; `resolve()` walks the table and remembers where every value came from, and the
docs' table of variables is generated from the same declaration (`settings_table()`).

The config file is `tokentrail.toml` (or `[tool.tokentrail]` in `pyproject.toml`) in the working
folder or the nearest parent, or the file named by `TOKENTRAIL_CONFIG`. An empty environment variable
counts as unset. `TOKENTRAIL_HOME` relocates everything tokentrail writes by default.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "PARAMS",
    "Param",
    "Settings",
    "config_file",
    "default_home",
    "resolve",
    "resolve_leniently",
    "settings_table",
]


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("is not true or false (use 1/0, true/false, yes/no, on/off)")


def _parse_positive(kind: type[int] | type[float], what: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"is not {what}")
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ValueError(f"is not {what}") from None
        if isinstance(number, float) and not math.isfinite(number) or number <= 0:
            raise ValueError(f"is not {what}")
        return number

    return parse


def _parse_optional_positive(kind: type[int] | type[float], what: str) -> Callable[[Any], Any]:
    inner = _parse_positive(kind, what)

    def parse(value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off", "0")):
            return None
        return inner(value)

    return parse


def _parse_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("is not text")
    return value


def _parse_on_full(value: Any) -> str:
    text = str(value).strip().lower() if isinstance(value, str) else value
    if text not in ("drop", "block"):
        raise ValueError("is not 'drop' or 'block'")
    return text


def _parse_tz(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str):
        raise ValueError("is not a time zone name")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not a known IANA time zone (e.g. 'UTC', 'Europe/Paris')") from None
    return value


def _parse_store(value: Any) -> str:
    # A plain path (./usage.db, ~/x.db, a folder for JSONL) is a store too; store.locate() reads both.
    if not isinstance(value, str) or not value.strip():
        raise ValueError("is not a store URL (memory://, jsonl:///dir, sqlite:///path.db, postgresql://…) or a path")
    return value


def default_home() -> Path:
    """Where tokentrail keeps its data: `TOKENTRAIL_HOME`, else the user's data folder."""
    home = os.environ.get("TOKENTRAIL_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "tokentrail"


def _default_store() -> str:
    legacy_dir = os.environ.get("LLM_TELEMETRY_DIR")
    enabled = os.environ.get("LLM_TELEMETRY_STORAGE_ENABLED")
    if enabled and not _parse_bool(enabled):
        return "memory://"
    if legacy_dir:
        return f"jsonl://{Path(legacy_dir).expanduser().resolve()}"
    return f"sqlite://{os.path.abspath(default_home() / 'usage.db')}"  # sqlite:///abs/usage.db


@dataclass(frozen=True, slots=True)
class Param:
    """One setting: its name, where it can come from, its default and how its text is read."""

    name: str
    env: str
    parse: Callable[[Any], Any]
    default: Any
    doc: str
    legacy_env: tuple[str, ...] = ()

    @property
    def file_key(self) -> str:
        return self.name


PARAMS: tuple[Param, ...] = (
    Param("store", "TOKENTRAIL_STORE", _parse_store, _default_store,
          "Store URL. Default: SQLite in the data folder; with `LLM_TELEMETRY_DIR` set, a JSONL store there; "
          "with `LLM_TELEMETRY_STORAGE_ENABLED=false`, memory only."),
    Param("store_prompts", "TOKENTRAIL_STORE_PROMPTS", _parse_bool, False, "Keep prompt text (hashes are always kept).",
          ("LLM_STORE_PROMPTS",)),
    Param("store_responses", "TOKENTRAIL_STORE_RESPONSES", _parse_bool, False, "Keep response text.",
          ("LLM_STORE_RESPONSES",)),
    Param("retention_days", "TOKENTRAIL_RETENTION_DAYS", _parse_optional_positive(int, "a whole number of days"), None,
          "Delete calls older than this many days (JSONL on write; `tokentrail prune` for any store).",
          ("LLM_RETENTION_DAYS",)),
    Param("max_size_mb", "TOKENTRAIL_MAX_SIZE_MB", _parse_optional_positive(float, "a number of megabytes"), None,
          "Size cap of a JSONL store; the oldest days go first.", ("LLM_STORAGE_MAX_SIZE_MB",)),
    Param("flush_interval", "TOKENTRAIL_FLUSH_INTERVAL", _parse_positive(float, "a number of seconds"), 1.0,
          "Longest time a recorded call waits in memory before it is written."),
    Param("batch_size", "TOKENTRAIL_BATCH_SIZE", _parse_positive(int, "a whole number of calls"), 1000,
          "Calls written per batch; a full batch is written at once."),
    Param("queue_size", "TOKENTRAIL_QUEUE_SIZE", _parse_positive(int, "a whole number of calls"), 100_000,
          "Most calls waiting to be written; past it calls are dropped, counted and reported."),
    Param("on_full", "TOKENTRAIL_ON_FULL", _parse_on_full, "drop",
          "When the queue is full: `drop` the call (counted, the app never waits) or `block` the caller until "
          "the writer makes room (nothing dropped; `kill -9` then loses at most `queue_size` plus one batch; after "
          "10 s without progress, e.g. a hanging store, calls are dropped again)."),
    Param("display", "TOKENTRAIL_DISPLAY", _parse_bool, False, "Print a panel for every call."),
    Param("project", "TOKENTRAIL_PROJECT", _parse_str, None, "Project name (default: git repository or folder)."),
    Param("environment", "TOKENTRAIL_ENVIRONMENT", _parse_str, None, "Deployment environment label."),
    Param("tz", "TOKENTRAIL_TZ", _parse_tz, None, "Time zone of reports (default: the machine's)."),
)  # fmt: skip

_BY_NAME = {p.name: p for p in PARAMS}


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved settings; `sources` says where each value came from."""

    store: str
    store_prompts: bool
    store_responses: bool
    retention_days: int | None
    max_size_mb: float | None
    flush_interval: float
    batch_size: int
    queue_size: int
    on_full: str
    display: bool
    project: str | None
    environment: str | None
    tz: str | None
    prices: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """`[prices."model"]` tables from the config file."""
    budgets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """`[budgets.NAME]` tables from the config file (see `tokentrail.budgets.load_budgets`)."""
    alerts: Mapping[str, Any] = field(default_factory=dict)
    """The `[alerts]` table from the config file (see `tokentrail.alerts.load_alerts`)."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Setting name to `argument`, `environment (NAME)`, `file (PATH)` or `default`."""
    file: Path | None = None
    """The config file that was read, if any."""


def config_file(start: Path | None = None) -> Path | None:
    """The config file in force: `TOKENTRAIL_CONFIG`, else `tokentrail.toml`/`pyproject.toml` upward."""
    named = os.environ.get("TOKENTRAIL_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigError(f"TOKENTRAIL_CONFIG={named!r} (from environment) is not a readable file")
        return path
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / "tokentrail.toml").is_file():
            return candidate / "tokentrail.toml"
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and "[tool.tokentrail" in pyproject.read_text(encoding="utf-8", errors="replace"):
            return pyproject
    return None


def _read_file(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc}") from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("tokentrail", {})
    return data


def resolve(**arguments: Any) -> Settings:
    """Resolve every setting: arguments, then environment, then config file, then defaults.

    Args:
        **arguments: setting names to values; `None` means "not given".

    Returns:
        The resolved Settings, with the source of each value.

    Raises:
        ConfigError: an unknown argument, or a bad value, named with its source.

    Example:
        >>> resolve(store="memory://").sources["store"]
        'argument'
    """
    return _resolve(arguments, _raise)


def _raise(error: ConfigError) -> None:
    raise error


def resolve_leniently(**arguments: Any) -> tuple[Settings, list[ConfigError]]:
    """Resolve like `resolve()`, but skip what is wrong instead of raising: a bad value counts as unset.

    For the default tracker, which `tokentrail.record()` creates inside the application's request: a typo
    in a setting must not break the application. An unreadable config file (or working folder) is skipped
    whole, an unknown key or a bad value alone; each problem is returned (the caller warns once) and
    `tokentrail doctor` shows them, since it resolves strictly.
    """
    problems: list[ConfigError] = []
    return _resolve(arguments, problems.append), problems


def _resolve(arguments: Mapping[str, Any], problem: Callable[[ConfigError], None]) -> Settings:
    arguments = dict(arguments)
    for name in list(arguments):
        if name not in _BY_NAME:
            problem(ConfigError(f"unknown setting {name!r}: known settings are {', '.join(_BY_NAME)}"))
            del arguments[name]
    try:
        path = config_file()
        file_data = _read_file(path) if path else {}
    except ConfigError as exc:
        problem(exc)
        path, file_data = None, {}
    except OSError as exc:  # the working folder was removed under the process
        problem(ConfigError(f"cannot look for a config file: {exc}"))
        path, file_data = None, {}
    for key in list(file_data):
        if key not in _BY_NAME and key != "prices" and key != "budgets" and key != "alerts":
            problem(ConfigError(f"unknown setting {key!r} in config file {str(path)!r}"))
            del file_data[key]
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for p in PARAMS:
        raw, source = _lookup(p, arguments, file_data, path)
        if source != "default":
            try:
                values[p.name] = p.parse(raw)
            except ValueError as exc:
                if source.startswith("environment ("):
                    label, origin = source[len("environment (") : -1], "environment"
                else:
                    label, origin = p.name, source
                problem(ConfigError(f"{label}={raw!r} (from {origin}) {exc}"))
                source = "default"
        if source == "default":
            values[p.name] = p.default() if callable(p.default) else p.default
        sources[p.name] = source
    tables: dict[str, Any] = {}
    for key in ("prices", "budgets", "alerts"):
        tables[key] = file_data.get(key, {})
        if not isinstance(tables[key], dict):
            problem(ConfigError(f"{key}={tables[key]!r} in config file {str(path)!r} is not a table"))
            tables[key] = {}
    return Settings(**values, **tables, sources=sources, file=path)


def _lookup(p: Param, arguments: Mapping[str, Any], file_data: Mapping[str, Any], path: Path | None) -> tuple[Any, str]:
    if arguments.get(p.name) is not None:
        return arguments[p.name], "argument"
    for env in (p.env, *p.legacy_env):
        value = os.environ.get(env)
        if value:
            return value, f"environment ({env})"
    if p.file_key in file_data:
        return file_data[p.file_key], f"file ({path})"
    return None, "default"


def settings_table() -> list[tuple[str, str, str, str]]:
    """(environment variable, file key, default, description) for every setting, for the docs."""
    rows = []
    for p in PARAMS:
        default = "see description" if callable(p.default) else repr(p.default)
        env = ", ".join((p.env, *p.legacy_env))
        rows.append((env, p.file_key, default, p.doc))
    return rows
