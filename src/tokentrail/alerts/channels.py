"""Where alerts go: the log, the console, a webhook, Slack, email, or any Python callable.

Every channel has one method, `send(alert, timeout)`, which either delivers or raises. Channels are never
called on the application's thread: `AlertManager` gives each channel its own delivery queue and thread,
retries with back-off, and logs a channel that keeps failing — so a dead endpoint delays nothing else and
never raises into the app. HTTP uses `urllib.request` and email `smtplib`, from the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import smtplib
import ssl
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from typing import IO, Any, Protocol, runtime_checkable

from ..errors import ConfigError
from .model import Alert

__all__ = [
    "SIGNATURE_HEADER",
    "CallableChannel",
    "Channel",
    "ConsoleChannel",
    "EmailChannel",
    "LogChannel",
    "SlackChannel",
    "WebhookChannel",
    "describe_channel",
    "sign",
]

SIGNATURE_HEADER = "X-Tokentrail-Signature"
"""Header carrying `sha256=<hex HMAC-SHA256 of the raw body>` when a webhook has a secret."""
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


@runtime_checkable
class Channel(Protocol):
    """Something that delivers an alert or raises."""

    name: str

    def send(self, alert: Alert, timeout: float) -> None: ...


def sign(body: bytes, secret: str) -> str:
    """The signature header value for `body`: `sha256=` and the hex HMAC-SHA256 keyed by `secret`.

    Example:
        >>> sign(b"{}", "s3cret")
        'sha256=adbde1ce40c89c14215687d5d762a47df6dfaefcfad61e2e86718ffc8498571b'

    A receiver verifies with `hmac.compare_digest(sign(raw_body, secret), request.headers[SIGNATURE_HEADER])`.
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def describe_channel(channel: object) -> tuple[str, str]:
    """A channel's config `type` and where it delivers, in words (`tokentrail alerts list`).

    Secrets stay out: a webhook shows its host only (a Slack webhook's path is its key).
    """
    describe = getattr(channel, "describe", None)
    if callable(describe):
        return getattr(channel, "kind", type(channel).__name__), str(describe())
    return "custom", f"{type(channel).__module__}.{type(channel).__qualname__}"


def _host(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


class LogChannel:
    """Logs each alert on the `tokentrail.alerts` logger (warning for most, critical for critical)."""

    kind = "log"

    def __init__(self, logger: str = "tokentrail.alerts", *, name: str = "log") -> None:
        self.name = name
        self._log = logging.getLogger(logger)

    def describe(self) -> str:
        return f"the {self._log.name!r} logger (warning, critical for critical alerts)"

    def send(self, alert: Alert, timeout: float) -> None:
        self._log.log(max(_LEVELS.get(alert.severity, logging.WARNING), logging.WARNING), "%s", alert.text())


class ConsoleChannel:
    """Prints each alert to a stream (stderr by default)."""

    kind = "console"

    def __init__(self, file: IO[str] | None = None, *, name: str = "console") -> None:
        self.name = name
        self._file = file

    def describe(self) -> str:
        return f"printed to {getattr(self._file, 'name', 'a stream') if self._file else 'stderr'}"

    def send(self, alert: Alert, timeout: float) -> None:
        stream = self._file or sys.stderr
        stream.write(f"{alert.severity.upper()}: {alert.text()}\n")
        stream.flush()


class CallableChannel:
    """Calls `fn(alert)`; anything it raises is treated as a failed delivery (retried, then logged)."""

    kind = "callable"

    def __init__(self, fn: Callable[[Alert], Any], *, name: str | None = None) -> None:
        self.name = name or str(getattr(fn, "__name__", "callable"))
        self._fn = fn

    def describe(self) -> str:
        fn = self._fn
        return f"calls {getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}(alert)"

    def send(self, alert: Alert, timeout: float) -> None:
        self._fn(alert)


def _post_json(
    url: str, payload: Mapping[str, Any], headers: Mapping[str, str], timeout: float, secret: str | None
) -> None:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    req = urllib.request.Request(url, data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("User-Agent", "tokentrail-alerts")
    for k, v in headers.items():
        req.add_header(k, v)
    if secret:
        req.add_header(SIGNATURE_HEADER, sign(body, secret))
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # raises HTTPError on 4xx/5xx
        resp.read(65536)


def _check_url(url: object, what: str) -> str:
    if type(url) is not str or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{what} url={url!r} is not valid: expected an http:// or https:// URL")
    return url


class WebhookChannel:
    """POSTs `Alert.to_dict()` as JSON; with a `secret`, signs the body (see `SIGNATURE_HEADER`)."""

    kind = "webhook"

    def __init__(
        self, url: str, *, secret: str | None = None, headers: Mapping[str, str] | None = None, name: str = "webhook"
    ) -> None:
        self.name = name
        self.url = _check_url(url, "webhook")
        self._secret = secret
        self._headers = dict(headers or {})

    def describe(self) -> str:
        signed = "signed with HMAC-SHA256" if self._secret else "unsigned"
        return f"JSON POST to {_host(self.url)}/... ({signed})"

    def send(self, alert: Alert, timeout: float) -> None:
        _post_json(self.url, alert.to_dict(), self._headers, timeout, self._secret)


class SlackChannel:
    """Posts `{"text": ...}` to a Slack incoming-webhook URL."""

    kind = "slack"

    def __init__(self, url: str, *, name: str = "slack") -> None:
        self.name = name
        self.url = _check_url(url, "slack")

    def describe(self) -> str:
        return f"Slack incoming webhook at {_host(self.url)}/..."

    def send(self, alert: Alert, timeout: float) -> None:
        emoji = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}
        _post_json(self.url, {"text": f"{emoji.get(alert.severity, '')} {alert.text()}".strip()}, {}, timeout, None)


class EmailChannel:
    """Sends a plain-text email over SMTP, upgrading with STARTTLS first (on by default).

    The user name and password come from the environment (`TOKENTRAIL_SMTP_USER`,
    `TOKENTRAIL_SMTP_PASSWORD`, or the variables named by `user_env`/`password_env`), never from a file.
    With `starttls=True` a server that does not offer STARTTLS is an error: credentials are never sent in clear.
    """

    kind = "email"

    def __init__(
        self,
        host: str,
        *,
        sender: str,
        to: Sequence[str] | str,
        port: int = 587,
        starttls: bool = True,
        user_env: str = "TOKENTRAIL_SMTP_USER",
        password_env: str = "TOKENTRAIL_SMTP_PASSWORD",
        ssl_context: ssl.SSLContext | None = None,
        name: str = "email",
    ) -> None:
        recipients = [to] if isinstance(to, str) else list(to)
        if not host or not recipients or not all(isinstance(r, str) and "@" in r for r in recipients):
            raise ConfigError(f"email channel needs host= and to= addresses, got host={host!r}, to={to!r}")
        if not isinstance(sender, str) or "@" not in sender:
            raise ConfigError(f"email channel sender={sender!r} is not an email address")
        self.name = name
        self.host, self.port, self.sender, self.to = host, port, sender, recipients
        self.starttls = starttls
        self._user_env, self._password_env = user_env, password_env
        self._ssl_context = ssl_context

    def describe(self) -> str:
        tls = "STARTTLS" if self.starttls else "no TLS"
        return f"email from {self.sender} to {', '.join(self.to)} via {self.host}:{self.port} ({tls})"

    def send(self, alert: Alert, timeout: float) -> None:
        msg = EmailMessage()
        msg["Subject"] = f"[tokentrail] {alert.title}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        msg.set_content(f"{alert.text()}\n\n{json.dumps(alert.to_dict(), indent=2, sort_keys=True)}\n")
        user, password = os.environ.get(self._user_env), os.environ.get(self._password_env)
        with smtplib.SMTP(self.host, self.port, timeout=timeout) as smtp:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if user and password:
                smtp.login(user, password)
            smtp.send_message(msg)
