"""Alerts: every channel delivers to a local receiver, dead channels delay nothing, cooldowns are per key."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tokentrail import Call, Tracker
from tokentrail.alerts import (
    SIGNATURE_HEADER,
    Alert,
    ConsoleChannel,
    CostSpikeRule,
    EmailChannel,
    ErrorRateRule,
    LatencyRule,
    LogChannel,
    SlackChannel,
    TokenRateRule,
    WebhookChannel,
    alert_manager,
    describe_channel,
    describe_rule,
    load_alerts,
    sample_alert,
)
from tokentrail.errors import ConfigError
from tokentrail.model import new_call_id
from tokentrail.store import Store, open_store

UTC = timezone.utc
NOW = datetime(2026, 11, 22, 15, tzinfo=UTC)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# -- local receivers --------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    url: str
    requests: list[Received] = field(default_factory=list)


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    """An HTTP server on 127.0.0.1 that records every POST and answers 200."""
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(500 if self.path == "/fail" else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpReceiver(f"http://127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A URL whose server accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        sock.close()


@pytest.fixture
def closed_port() -> str:
    return f"http://127.0.0.1:{_free_port()}/hook"


@pytest.fixture
def mem() -> Store:
    return open_store("memory://")


@pytest.fixture
def tracker(mem: Store) -> Iterator[Tracker]:
    t = Tracker(mem, flush_interval=0.05)
    yield t
    t.close()


def manager(tracker: Tracker, **options: Any) -> Any:
    options.setdefault("timeout", 2.0)
    options.setdefault("retries", 1)
    options.setdefault("backoff", 0.05)
    return alert_manager(tracker, clock=options.pop("clock", lambda: NOW), **options)


ALERT = Alert(rule="cost_spike", key="agent=support", title="Cost spike for agent=support", message="details",
              at=NOW, data={"spent_usd": "12.5"})  # fmt: skip


# -- channels ---------------------------------------------------------------------------------------


def test_webhook_posts_json_signed_with_hmac_sha256(tracker: Tracker, http: HttpReceiver) -> None:
    m = manager(tracker)
    m.add_channel(WebhookChannel(f"{http.url}/hook", secret="s3cret", headers={"X-Team": "ml"}))
    assert m.emit(ALERT)
    assert m.flush(5)
    (req,) = http.requests
    assert req.path == "/hook" and req.headers["Content-Type"] == "application/json" and req.headers["X-Team"] == "ml"
    assert req.json() == {**ALERT.to_dict(), "at": "2026-11-22T15:00:00+00:00"}
    expected = "sha256=" + hmac.new(b"s3cret", req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req.headers[SIGNATURE_HEADER], expected)


def test_webhook_without_secret_sends_no_signature(tracker: Tracker, http: HttpReceiver) -> None:
    m = manager(tracker)
    m.add_channel(WebhookChannel(http.url))
    m.emit(ALERT)
    assert m.flush(5)
    assert SIGNATURE_HEADER not in http.requests[0].headers


def test_slack_posts_text(tracker: Tracker, http: HttpReceiver) -> None:
    m = manager(tracker)
    m.add_channel(SlackChannel(f"{http.url}/services/T000/B000/XXX"))
    m.emit(ALERT)
    assert m.flush(5)
    body = http.requests[0].json()
    assert list(body) == ["text"]
    assert body["text"] == ":warning: [tokentrail] Cost spike for agent=support\ndetails"


def test_http_error_status_is_retried_then_logged(tracker: Tracker, http: HttpReceiver,
                                                  caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    m = manager(tracker, retries=2)
    m.add_channel(WebhookChannel(f"{http.url}/fail", name="ops"))
    with caplog.at_level(logging.WARNING, "tokentrail.alerts"):
        m.emit(ALERT)
        assert m.flush(5)
    assert len(http.requests) == 3 and m.failures == {"ops": 1}
    assert "alert channel 'ops' failed after 3 attempt(s): HTTPError" in caplog.text


def _free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


class _Smtp:
    """aiosmtpd's Controller on 127.0.0.1 with an authenticator that accepts one user."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list[Any] = []
        self.logins: list[tuple[bytes, bytes]] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(envelope)
                return "250 OK"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
            outer.logins.append((auth_data.login, auth_data.password))
            return AuthResult(success=auth_data.login == b"alice" and auth_data.password == b"pw")

        self.port = _free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticator,
                                     auth_require_tls=False)  # fmt: skip


@pytest.fixture
def smtp() -> Iterator[tuple[_Smtp, int]]:
    server = _Smtp()
    server.controller.start()
    try:
        yield server, server.port
    finally:
        server.controller.stop()


def test_email_is_sent_over_smtp_with_credentials_from_the_environment(
    tracker: Tracker, smtp: tuple[_Smtp, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, port = smtp
    monkeypatch.setenv("TOKENTRAIL_SMTP_USER", "alice")
    monkeypatch.setenv("TOKENTRAIL_SMTP_PASSWORD", "pw")
    m = manager(tracker)
    m.add_channel(EmailChannel("127.0.0.1", port=port, sender="tt@example.com", to=["oncall@example.com"],
                               starttls=False))  # fmt: skip
    m.emit(ALERT)
    assert m.flush(5) and m.failures == {}
    assert server.logins == [(b"alice", b"pw")]
    (envelope,) = server.messages
    assert envelope.mail_from == "tt@example.com" and envelope.rcpt_tos == ["oncall@example.com"]
    text = envelope.content.decode()
    assert "Subject: [tokentrail] Cost spike for agent=support" in text and '"spent_usd": "12.5"' in text


def test_email_refuses_to_send_in_clear_when_starttls_is_unavailable(
    tracker: Tracker, smtp: tuple[_Smtp, int], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server, port = smtp
    monkeypatch.setenv("TOKENTRAIL_SMTP_USER", "alice")
    monkeypatch.setenv("TOKENTRAIL_SMTP_PASSWORD", "pw")
    m = manager(tracker, retries=0)
    m.add_channel(EmailChannel("127.0.0.1", port=port, sender="tt@example.com", to="oncall@example.com"))
    with caplog.at_level(logging.WARNING, "tokentrail.alerts"):
        m.emit(ALERT)
        assert m.flush(5)
    assert m.failures == {"email": 1} and server.logins == [] and server.messages == []
    assert "STARTTLS" in caplog.text


def test_callable_and_console_channels(tracker: Tracker) -> None:
    got: list[Alert] = []
    out = io.StringIO()
    m = manager(tracker)
    m.add_channel(got.append)
    m.add_channel(ConsoleChannel(out))
    m.emit(ALERT)
    assert m.flush(5)
    assert got == [ALERT]
    assert out.getvalue() == "WARNING: [tokentrail] Cost spike for agent=support\ndetails\n"


def test_without_channels_alerts_go_to_the_log(tracker: Tracker, caplog: pytest.LogCaptureFixture) -> None:
    m = manager(tracker)
    with caplog.at_level(logging.WARNING, "tokentrail.alerts"):
        m.emit(sample_alert(NOW))
        assert m.flush(5)
    assert "[tokentrail] Test alert" in caplog.text


def test_dead_channels_delay_nothing_else(tracker: Tracker, blackhole: str, closed_port: str) -> None:
    m = manager(tracker, timeout=3.0, retries=2, backoff=0.5)
    m.add_channel(WebhookChannel(blackhole, name="blackhole"))
    m.add_channel(WebhookChannel(closed_port, name="refused"))

    def broken(alert: Alert) -> None:
        raise RuntimeError("this channel is broken")

    m.add_channel(broken)
    got: list[tuple[float, Alert]] = []
    m.add_channel(lambda a: got.append((time.monotonic(), a)))
    t0 = time.monotonic()
    assert m.emit(ALERT)
    emitted = time.monotonic() - t0
    tracker.record("gpt-4o", 10, 10, agent="app", cost_usd="0.01")  # priced here: no first price-table load
    assert tracker.flush(2)
    recorded = time.monotonic() - t0
    assert wait_for(lambda: bool(got), 2)
    # the dead channels take 3 s per attempt; everything else finishes well before one attempt would
    assert emitted < 0.5 and recorded < 2.0 and got[0][0] - t0 < 1.5
    assert tracker.store.aggregate(tracker_filter()) and tracker.health.internal_errors == 0
    assert wait_for(lambda: m.failures.get("refused") == 1 and m.failures.get("broken") == 1, 5)


def tracker_filter() -> Any:
    from tokentrail.store import Filter

    return Filter()


# -- rules and cooldowns ----------------------------------------------------------------------------


def hourly(store: Store, start: datetime, hours: int, per_hour: dict[str, str], **extra: Any) -> None:
    calls = []
    for h in range(hours):
        for agent, usd in per_hour.items():
            at = start + timedelta(hours=h, minutes=5)
            calls.append(Call(id=new_call_id(), started_at=at, model="gpt-4o", input_tokens=1000, output_tokens=100,
                              cost_usd=Decimal(usd), agent=agent, **extra))  # fmt: skip
    store.write(calls)


def test_cost_spike_cooldown_is_per_rule_and_key(tracker: Tracker, mem: Store) -> None:
    class Clock:
        now = NOW

        def __call__(self) -> datetime:
            return self.now

    clock = Clock()
    hourly(mem, NOW - timedelta(days=7, hours=1), 7 * 24, {"a": "0.10", "b": "0.10"})
    m = manager(tracker, clock=clock)
    got: list[Alert] = []
    m.add_channel(got.append)
    m.add_rule(CostSpikeRule(by="agent", window=timedelta(hours=1), factor=3, min_cost=Decimal("0.5")))
    hourly(mem, NOW - timedelta(hours=1), 1, {"a": "1.00"})  # agent a: $1.00 in the last hour, 10x
    assert [a.key for a in m.evaluate()] == ["agent=a"]
    assert m.evaluate() == []  # cooling down
    hourly(mem, NOW - timedelta(hours=1), 1, {"b": "2.00"})  # agent b spikes too: not silenced by a's cooldown
    fired = m.evaluate()
    assert [a.key for a in fired] == ["agent=b"]
    assert fired[0].data["ratio"] == pytest.approx(20.0, rel=1e-3) and fired[0].severity == "critical"
    clock.now = NOW + timedelta(minutes=30)  # the spike is still in the window, still cooling down
    assert m.evaluate() == []
    clock.now = NOW + timedelta(minutes=61)  # cooldown over but the spike hour is no longer in the window
    assert m.evaluate() == []
    hourly(mem, clock.now - timedelta(minutes=30), 1, {"a": "3.00"})
    assert [a.key for a in m.evaluate()] == ["agent=a"]
    assert m.flush(5) and [a.key for a in got] == ["agent=a", "agent=b", "agent=a"]


def test_cooldown_holds_across_processes(mem: Store) -> None:
    trackers = [Tracker(mem) for _ in range(3)]
    managers = [manager(t) for t in trackers]
    results = [m.emit(ALERT, cooldown=timedelta(hours=1)) for m in managers]
    assert results == [True, False, False]
    for t in trackers:
        t.close()


def test_spike_needs_history_and_a_minimum(tracker: Tracker, mem: Store) -> None:
    m = manager(tracker)
    rule = CostSpikeRule(by=None, window=timedelta(hours=1), factor=3, min_cost=Decimal(1))
    hourly(mem, NOW - timedelta(minutes=50), 1, {"new": "5"})  # no baseline yet
    assert rule.evaluate(mem, NOW) == []
    hourly(mem, NOW - timedelta(days=2), 24, {"x": "0.01"})
    (alert,) = rule.evaluate(mem, NOW)
    assert alert.key == "all" and alert.rule == "cost_spike"
    assert CostSpikeRule(by=None, min_cost=Decimal(100)).evaluate(mem, NOW) == []
    assert m.evaluate(rules=[]) == []


def test_error_rate_latency_and_token_rate_rules(mem: Store) -> None:
    calls = []
    for i in range(40):
        calls.append(Call(id=new_call_id(), started_at=NOW - timedelta(minutes=5), model="slow" if i % 2 else "fast",
                          input_tokens=50_000, output_tokens=1000, success=i % 4 != 0,
                          duration_ms=20_000.0 if i % 2 else 500.0))  # fmt: skip
    mem.write(calls)
    (err,) = ErrorRateRule(max_rate=0.2, min_calls=20).evaluate(mem, NOW)
    assert err.key == "all" and err.data["error_rate"] == 0.25 and "25% of 40 calls" in err.title
    assert ErrorRateRule(max_rate=0.3).evaluate(mem, NOW) == []
    (lat,) = LatencyRule(p95_ms=5000, min_calls=10, by="model").evaluate(mem, NOW)
    assert lat.key == "model=slow" and lat.data["p95_ms"] == 20_000.0
    (tok,) = TokenRateRule(max_tokens_per_minute=100_000, window=timedelta(minutes=10)).evaluate(mem, NOW)
    assert tok.data["tokens_per_minute"] == 40 * 51_000 / 10


def test_rules_run_by_themselves_after_calls_are_written(tracker: Tracker, mem: Store) -> None:
    m = manager(tracker, clock=lambda: datetime.now(UTC), interval=timedelta(0))
    got: list[Alert] = []
    m.add_channel(got.append)
    m.add_rule(ErrorRateRule(max_rate=0.5, min_calls=5))
    for _ in range(6):
        tracker.record("gpt-4o", 10, 10, success=False, error_type="RateLimitError")
    assert tracker.flush(5)
    assert wait_for(lambda: m.flush(5) and len(got) == 1)
    assert got[0].rule == "error_rate"


# -- config -----------------------------------------------------------------------------------------


def test_load_alerts_builds_channels_and_rules(tracker: Tracker, http: HttpReceiver,
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("HOOK_SECRET", "abc")
    monkeypatch.setenv("SLACK_URL", f"{http.url}/slack")
    m = load_alerts({
        "timeout": "2s", "retries": 0,
        "channels": [
            {"type": "webhook", "url": f"{http.url}/hook", "secret_env": "HOOK_SECRET"},
            {"type": "slack", "url_env": "SLACK_URL"},
            {"type": "email", "host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"]},
            {"type": "callable", "target": "logging:getLogger", "name": "fn"},
            {"type": "console"},
        ],
        "rules": [{"type": "cost_spike", "by": "agent", "window": "30m", "factor": 4, "min_cost": "2"},
                  {"type": "latency", "p95_ms": 8000, "cooldown": "1h"}],
    }, tracker=tracker)  # fmt: skip
    assert [c.name for c in m.channels] == ["webhook", "slack", "email", "fn", "console"]
    assert m.rules[0] == CostSpikeRule(by="agent", window=timedelta(minutes=30), factor=4, min_cost=Decimal(2))
    assert m.timeout == 2.0 and m.retries == 0
    m.remove_channel(m.channels[2])
    m.emit(ALERT)
    assert m.flush(5)
    assert sorted(r.path for r in http.requests) == ["/hook", "/slack"]
    assert SIGNATURE_HEADER in next(r for r in http.requests if r.path == "/hook").headers


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"channels": [{"type": "pager"}]}, "type='pager' is not valid"),
        ({"channels": [{"type": "slack", "url_env": "NOT_SET_ANYWHERE"}]}, "NOT_SET_ANYWHERE"),
        (
            {"channels": [{"type": "webhook", "url": "https://x.example", "secret_env": "NOT_SET_ANYWHERE"}]},
            r"channels\]\] #1: secret_env='NOT_SET_ANYWHERE' names an environment variable that is not set",
        ),
        ({"channels": [{"type": "webhook", "url": "ftp://x"}]}, "url='ftp://x'"),
        ({"channels": [{"type": "email", "host": "h", "from": "nobody", "to": "x@y"}]}, "sender='nobody'"),
        ({"rules": [{"type": "cost_spike", "windw": "1h"}]}, "unknown key 'windw'"),
        ({"rules": [{"type": "error_rate", "window": "soon"}]}, "window='soon'"),
        ({"rules": [{"type": "latency", "by": "colour"}]}, r"rules\]\] #1: dimension='colour'"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_load_alerts_errors_name_the_entry_and_value(tracker: Tracker, mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_alerts(mapping, tracker=tracker)


def test_rules_and_channels_describe_themselves_in_words_without_secrets() -> None:
    assert describe_rule(CostSpikeRule(by="agent", window="30m", factor=4, min_cost="2.5")) == (
        "per agent: spend in the last 30m at least 4x its average per 30m over the previous 7d, and at least $2.50; "
        "at most one alert per agent every 1h"
    )
    assert describe_rule(ErrorRateRule(max_rate=0.25, min_calls=10)) == (
        "all calls: at least 25% of at least 10 calls failed in the last 15m; at most one alert every 30m"
    )
    assert describe_rule(LatencyRule(p95_ms=8000, cooldown="2h")) == (
        "per model: p95 duration above 8,000 ms over at least 20 calls in the last 15m; "
        "at most one alert per model every 2h"
    )
    assert describe_rule(TokenRateRule(max_tokens_per_minute=50_000, window="90s", by="user")) == (
        "per user: more than 50,000 tokens a minute (input + output) over the last 90s; "
        "at most one alert per user every 30m"
    )
    slack = SlackChannel("https://hooks.slack.com/services/T0/B0/sEcReTkEy")
    hook = WebhookChannel("https://ops.example.com:8443/hooks/llm?token=abc", secret="s3cret")
    described = [describe_channel(c) for c in (slack, hook, LogChannel(), ConsoleChannel())]
    assert described == [
        ("slack", "Slack incoming webhook at https://hooks.slack.com/..."),
        ("webhook", "JSON POST to https://ops.example.com:8443/... (signed with HMAC-SHA256)"),
        ("log", "the 'tokentrail.alerts' logger (warning, critical for critical alerts)"),
        ("console", "printed to stderr"),
    ]
    assert not any("sEcReT" in text or "token=" in text for _, text in described)
