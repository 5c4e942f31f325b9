"""`tokentrail alerts test|list|check` with channels from a config file pointed at local receivers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from test_alerts import HttpReceiver, _free_port, blackhole, http
from test_budgets_cli import run, url
from tokentrail import Call
from tokentrail.model import new_call_id
from tokentrail.store import open_store

FIXTURES = (blackhole, http, url)  # shared with test_alerts and test_budgets_cli


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    config = tmp_path / "tokentrail.toml"
    config.write_text(text)
    monkeypatch.setenv("TOKENTRAIL_CONFIG", str(config))


def test_alerts_test_sends_a_sample_through_every_channel(http: HttpReceiver, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    configure(
        tmp_path,
        monkeypatch,
        f"""
[[alerts.channels]]
type = "webhook"
url = "{http.url}/hook"
secret_env = "HOOK_SECRET"

[[alerts.channels]]
type = "slack"
url = "{http.url}/slack"
""",
    )
    r = run("alerts", "test", "-f", "json")
    assert r.exit_code == 0, r.output
    assert [(x["channel"], x["result"]) for x in json.loads(r.stdout)] == [("webhook", "ok"), ("slack", "ok")]
    bodies = {req.path: req.json() for req in http.requests}
    assert bodies["/hook"]["rule"] == "test" and bodies["/slack"]["text"].startswith(
        ":information_source: [tokentrail]"
    )


def test_alerts_test_reports_a_dead_channel_without_waiting_on_it_for_the_others(
    http: HttpReceiver,
    blackhole: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(
        tmp_path,
        monkeypatch,
        f"""
[[alerts.channels]]
type = "webhook"
url = "{blackhole}"
name = "dead"

[[alerts.channels]]
type = "webhook"
url = "http://127.0.0.1:{_free_port()}/hook"
name = "refused"

[[alerts.channels]]
type = "slack"
url = "{http.url}/slack"
""",
    )
    r = run("alerts", "test", "--timeout", "1")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert any(line.startswith("dead") and "timed out" in line for line in lines)
    assert any(line.startswith("refused") and "Connection refused" in line for line in lines)
    assert any(line.startswith("slack") and " ok " in line for line in lines)
    assert len(http.requests) == 1


def test_alerts_test_without_channels_says_how_to_add_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(tmp_path, monkeypatch, "")
    r = run("alerts", "test")
    assert r.exit_code == 1 and "[[alerts.channels]]" in r.stderr and 'type = "slack"' in r.stderr
    assert "docs/" not in r.stderr and "'tokentrail config'" in r.stderr


def test_a_misconfigured_channel_is_reported_and_the_others_still_tested(
    http: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The secret's variable is not set: that webhook must not go out unsigned, and must not stop the others.
    configure(
        tmp_path,
        monkeypatch,
        f"""
[[alerts.channels]]
type = "webhook"
url = "{http.url}/hook"
secret_env = "HOOK_SECRET_NOT_SET"
name = "signed-hook"

[[alerts.channels]]
type = "callable"
target = "no_such_module_here:notify"

[[alerts.channels]]
type = "slack"
url = "{http.url}/slack"
""",
    )
    r = run("alerts", "test", "-f", "json")
    assert r.exit_code == 1
    results = {x["channel"]: x for x in json.loads(r.stdout)}
    assert list(results) == ["signed-hook", "callable", "slack"]
    assert results["signed-hook"]["result"] == (
        "not sent: [[alerts.channels]] #1: secret_env='HOOK_SECRET_NOT_SET' names an environment variable that is "
        "not set; set it, or remove secret_env"
    )
    assert results["signed-hook"]["seconds"] is None
    assert results["callable"]["result"].startswith(
        "not sent: [[alerts.channels]] #2: target='no_such_module_here:notify' cannot be imported"
    )
    assert results["slack"]["result"] == "ok"
    assert [req.path for req in http.requests] == ["/slack"]  # nothing went to the hook, signed or not
    listed = run("alerts", "list", "-f", "json")
    assert listed.exit_code == 1
    assert [(c["name"], c["delivers"].startswith("not usable: ")) for c in json.loads(listed.stdout)["channels"]] == [
        ("signed-hook", True), ("callable", True), ("slack", False)]  # fmt: skip


def test_alerts_list_and_check(http: HttpReceiver, url: str, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    configure(
        tmp_path,
        monkeypatch,
        f"""
[[alerts.channels]]
type = "webhook"
url = "{http.url}/hook"

[[alerts.rules]]
type = "error_rate"
max_rate = 0.5
min_calls = 4
by = "agent"
""",
    )
    listed = json.loads(run("alerts", "list", "-f", "json").stdout)
    assert listed["channels"] == [{"name": "webhook", "type": "webhook", "delivers": f"JSON POST to {http.url}/... "
                                   "(unsigned)"}]  # fmt: skip
    assert listed["rules"] == [{"name": "error_rate", "watches": "per agent: at least 50% of at least 4 calls failed "
                                "in the last 15m; at most one alert per agent every 30m"}]  # fmt: skip
    text = run("alerts", "list").stdout
    assert "per agent: at least 50% of at least 4 calls failed" in text and "Rule(" not in text
    s = open_store(url)
    now = datetime.now(timezone.utc)
    s.write([Call(id=new_call_id(), started_at=now - timedelta(minutes=2), model="gpt-4o", agent="flaky",
                  success=i == 0, cost_usd=Decimal("0.01")) for i in range(5)])  # fmt: skip
    s.close()
    r = run("alerts", "check", "--store", url, "-f", "json")
    assert r.exit_code == 0, r.output
    (alert,) = json.loads(r.stdout)
    assert alert["key"] == "agent=flaky" and alert["data"]["error_rate"] == 0.8
    assert [req.json()["key"] for req in http.requests] == ["agent=flaky"]
    # The cooldown is kept in the store: a second check right away sends nothing.
    assert "nothing to report" in run("alerts", "check", "--store", url).stdout
