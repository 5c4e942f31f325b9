"""Alerts: tell a human when spend spikes, errors pile up, calls slow down or a budget crosses a threshold.

Rules (`CostSpikeRule`, `ErrorRateRule`, `LatencyRule`, `TokenRateRule`) are evaluated against the store
after calls are written; budgets add their threshold alerts. Each alert goes to every channel — log,
console, webhook (JSON, optionally HMAC-SHA256 signed), Slack, email (SMTP with STARTTLS) or any callable.

What this concern guarantees:

- Delivery never happens on the application's thread and never raises into it: each channel has its own
  queue and thread, a timeout per attempt and retries; a dead channel is logged and delays nothing else.
- A cooldown silences a repeat of the same rule *for the same scope value* only (one agent's spike does
  not silence another's), and holds across processes sharing a store.
- Nothing is sent anywhere until a channel is configured; until then alerts go to the `tokentrail.alerts`
  logger.

Example:
    >>> import tokentrail as tt
    >>> from tokentrail.alerts import CostSpikeRule, alert_manager
    >>> alerts = alert_manager(tt.Tracker("memory://"))
    >>> _ = alerts.add_channel(lambda alert: print(alert.title))
    >>> _ = alerts.add_rule(CostSpikeRule(by="agent", factor=3))
"""

from __future__ import annotations

from .channels import (
    SIGNATURE_HEADER,
    CallableChannel,
    Channel,
    ConsoleChannel,
    EmailChannel,
    LogChannel,
    SlackChannel,
    WebhookChannel,
    describe_channel,
    sign,
)
from .config import build_channel, build_rule, load_alerts
from .manager import AlertManager, alert_manager
from .model import Alert, sample_alert
from .rules import CostSpikeRule, ErrorRateRule, LatencyRule, Rule, TokenRateRule, describe_rule, parse_duration

__all__ = [
    "SIGNATURE_HEADER",
    "Alert",
    "AlertManager",
    "CallableChannel",
    "Channel",
    "ConsoleChannel",
    "CostSpikeRule",
    "EmailChannel",
    "ErrorRateRule",
    "LatencyRule",
    "LogChannel",
    "Rule",
    "SlackChannel",
    "TokenRateRule",
    "WebhookChannel",
    "alert_manager",
    "build_channel",
    "build_rule",
    "describe_channel",
    "describe_rule",
    "load_alerts",
    "parse_duration",
    "sample_alert",
    "sign",
]
