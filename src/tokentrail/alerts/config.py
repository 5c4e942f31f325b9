"""The `[alerts]` table of `tokentrail.toml`: channels and rules, read into an AlertManager.

```toml
[alerts]
timeout = "5s"           # per delivery attempt
retries = 2

[[alerts.channels]]
type = "slack"
url_env = "SLACK_WEBHOOK_URL"          # secrets come from the environment, not the file

[[alerts.channels]]
type = "webhook"
url = "https://ops.example.com/hooks/llm"
secret_env = "TOKENTRAIL_WEBHOOK_SECRET"

[[alerts.channels]]
type = "email"
host = "smtp.example.com"
port = 587
from = "tokentrail@example.com"
to = ["oncall@example.com"]            # user/password: TOKENTRAIL_SMTP_USER / TOKENTRAIL_SMTP_PASSWORD

[[alerts.rules]]
type = "cost_spike"
by = "agent"
window = "1h"
factor = 3
```

Every mistake raises `ConfigError` naming the entry, the key and the value.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypedDict

from ..errors import ConfigError, TokentrailError
from .channels import CallableChannel, Channel, ConsoleChannel, EmailChannel, LogChannel, SlackChannel, WebhookChannel
from .rules import CostSpikeRule, ErrorRateRule, LatencyRule, Rule, TokenRateRule, parse_duration

__all__ = ["build_channel", "build_rule", "load_alerts"]

_RULES: dict[str, type] = {
    "cost_spike": CostSpikeRule,
    "error_rate": ErrorRateRule,
    "latency": LatencyRule,
    "latency_p95": LatencyRule,
    "token_rate": TokenRateRule,
}
_DURATIONS = ("window", "baseline", "cooldown")


def _secret(table: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    env = table.get(f"{key}_env")
    if env is not None:
        # Named but unset is a mistake even for an optional secret: a webhook meant to be signed must not go
        # out unsigned without a word. An empty variable counts as unset.
        value = os.environ.get(str(env)) or None
        if value is None:
            raise ConfigError(f"{key}_env={env!r} names an environment variable that is not set; set it, or remove "
                              f"{key}_env")  # fmt: skip
        return value
    value = table.get(key)
    if value is None and required:
        raise ConfigError(f"give {key}= or {key}_env=")
    return value if value is None else str(value)


def _import(target: object) -> Callable[..., Any]:
    if type(target) is not str or ":" not in target:
        raise ConfigError(f"target={target!r} is not valid: expected 'package.module:function'")
    module, _, attr = target.partition(":")
    try:
        fn: object = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"target={target!r} cannot be imported: {exc}") from None
    if not callable(fn):
        raise ConfigError(f"target={target!r} is not callable")
    return fn


class _Name(TypedDict, total=False):
    """A channel's `name=`, given only when the table sets one (else each channel's own default)."""

    name: str


def build_channel(table: Mapping[str, Any], where: str = "[[alerts.channels]]") -> Channel:
    """One channel from its config table (`type` = log, console, webhook, slack, email, callable)."""
    kind = table.get("type")
    name = table.get("name")
    extra: _Name = {"name": str(name)} if name else {}
    try:
        if kind == "log":
            return LogChannel(**extra)
        if kind == "console":
            return ConsoleChannel(**extra)
        if kind == "webhook":
            headers = table.get("headers") or {}
            return WebhookChannel(_secret(table, "url", required=True) or "",
                                  secret=_secret(table, "secret", required=False), headers=headers,
                                  **extra)  # fmt: skip
        if kind == "slack":
            return SlackChannel(_secret(table, "url", required=True) or "", **extra)
        if kind == "email":
            return EmailChannel(str(table.get("host", "")), sender=table.get("from", table.get("sender", "")),
                                to=table.get("to", ()), port=int(table.get("port", 587)),
                                starttls=bool(table.get("starttls", True)),
                                user_env=str(table.get("user_env", "TOKENTRAIL_SMTP_USER")),
                                password_env=str(table.get("password_env", "TOKENTRAIL_SMTP_PASSWORD")),
                                **extra)  # fmt: skip
        if kind == "callable":
            return CallableChannel(_import(table.get("target")), **extra)
    except TokentrailError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    raise ConfigError(f"{where}: type={kind!r} is not valid: use log, console, webhook, slack, email or callable")


def build_rule(table: Mapping[str, Any], where: str = "[[alerts.rules]]") -> Rule:
    """One rule from its config table (`type` = cost_spike, error_rate, latency, token_rate)."""
    kind = table.get("type")
    cls = _RULES.get(kind) if type(kind) is str else None
    if cls is None:
        raise ConfigError(f"{where}: type={kind!r} is not valid: use {', '.join(sorted(_RULES))}")
    kwargs: dict[str, Any] = {}
    fields = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
    for key, value in table.items():
        if key == "type":
            continue
        if key not in fields:
            raise ConfigError(f"{where}: unknown key {key!r} for type={kind!r}: use {', '.join(sorted(fields))}")
        try:
            if key in _DURATIONS:
                value = parse_duration(value, key)
            elif key == "min_cost":
                value = Decimal(str(value))
            elif key == "by" and value in ("", "all", "none"):
                value = None
        except (TokentrailError, ArithmeticError) as exc:
            raise ConfigError(f"{where}: {exc}") from None
        kwargs[key] = value
    try:
        rule: Rule = cls(**kwargs)
    except (TokentrailError, TypeError, ArithmeticError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return rule


def load_alerts(mapping: Mapping[str, Any], *, tracker: Any = None) -> Any:
    """Configure the tracker's AlertManager from an `[alerts]` table; returns the manager.

    Raises:
        ConfigError: an unknown key, a bad value, or a secret's environment variable that is not set.
    """
    from .manager import alert_manager

    if not isinstance(mapping, Mapping):
        raise ConfigError(f"[alerts]={mapping!r} is not a table")
    unknown = set(mapping) - {"channels", "rules", "timeout", "retries", "interval"}
    if unknown:
        raise ConfigError(f"[alerts]: unknown key(s) {', '.join(sorted(unknown))}: use channels, rules, timeout, "
                          "retries, interval")  # fmt: skip
    options: dict[str, Any] = {}
    try:
        if "timeout" in mapping:
            options["timeout"] = parse_duration(mapping["timeout"], "timeout").total_seconds()
        if "interval" in mapping:
            options["interval"] = parse_duration(mapping["interval"], "interval")
    except TokentrailError as exc:
        raise ConfigError(f"[alerts]: {exc}") from None
    if "retries" in mapping:
        if type(mapping["retries"]) is not int or not 0 <= mapping["retries"] <= 10:
            raise ConfigError(f"[alerts]: retries={mapping['retries']!r} is not a whole number from 0 to 10")
        options["retries"] = mapping["retries"]
    channels = [build_channel(t, f"[[alerts.channels]] #{i + 1}") for i, t in enumerate(mapping.get("channels", []))]
    rules = [build_rule(t, f"[[alerts.rules]] #{i + 1}") for i, t in enumerate(mapping.get("rules", []))]
    manager = alert_manager(tracker, **options)
    for channel in channels:
        manager.add_channel(channel)
    for rule in rules:
        manager.add_rule(rule)
    return manager
