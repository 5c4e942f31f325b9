"""`Alert`: one notification, the same shape whichever rule raised it and whichever channel carries it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Literal

__all__ = ["SEVERITIES", "Alert", "Severity", "sample_alert"]

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a rule or a budget wants a human to know."""

    rule: str
    """The rule that fired (`cost_spike`, `error_rate`, `budget:monthly`, …)."""
    key: str
    """The scope value it fired for (`agent=support`, `all`, `month:2026-11|80%`); cooldowns are per rule and key."""
    title: str
    """One line, e.g. `Budget 'monthly' reached 80% ($402.10 of $500.00)`."""
    message: str = ""
    """A few more lines of detail."""
    severity: Severity = "warning"
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    """The numbers behind it, JSON-ready (amounts as text)."""

    def text(self) -> str:
        """Plain text for chat and email: the title, then the message."""
        return f"[tokentrail] {self.title}" + (f"\n{self.message}" if self.message else "")

    def to_dict(self) -> dict[str, Any]:
        """The JSON body webhooks receive."""
        return {
            "source": "tokentrail",
            "rule": self.rule,
            "key": self.key,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "at": self.at.isoformat(),
            "data": dict(self.data),
        }


def sample_alert(now: datetime | None = None) -> Alert:
    """The alert `tokentrail alerts test` sends through every channel."""
    return Alert(
        rule="test",
        key="all",
        title="Test alert: this channel is configured correctly",
        message="Sent by 'tokentrail alerts test'. No action is needed.",
        severity="info",
        at=now or datetime.now(timezone.utc),
        data={"test": True},
    )
