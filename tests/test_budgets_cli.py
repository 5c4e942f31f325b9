"""`tokentrail budget set|list|status|rm` through the real Typer app, on a store that outlives each command."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tokentrail import Call
from tokentrail.cli.app import make_app
from tokentrail.model import new_call_id
from tokentrail.store import open_store


def run(*args: str) -> Result:
    from tokentrail.cli import alerts, budgets, forecast

    app = make_app()
    for module in (budgets, alerts, forecast):
        module.register(app)
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def url(tmp_path: Path) -> str:
    try:
        import tokentrail.store.sqlite  # noqa: F401

        return f"sqlite:///{tmp_path / 'cli.db'}"
    except ImportError:
        return f"jsonl://{tmp_path / 'cli-store'}"


def test_set_list_status_rm(url: str) -> None:
    s = open_store(url)
    now = datetime.now(timezone.utc)
    s.write([Call(id=new_call_id(), started_at=now, model="gpt-4o", cost_usd=Decimal("2.5"), agent="router")])
    s.close()
    r = run("budget", "set", "router-daily", "--limit-usd", "10", "--period", "day", "--scope", "agent=router",
            "--tz", "UTC", "--thresholds", "50,90", "--enforce", "--store", url)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert r.stdout == "budget 'router-daily' set: $10.00 per day for agent=router (UTC), enforced\n"
    listed = json.loads(run("budget", "list", "--store", url, "-f", "json").stdout)
    assert listed == [{"name": "router-daily", "limit_usd": "10", "limit_tokens": None, "period": "day",
                       "scope": "agent=router", "tz": "UTC", "thresholds": [0.5, 0.9], "enforce": True}]  # fmt: skip
    (status,) = json.loads(run("budget", "status", "router-daily", "--store", url, "-f", "json").stdout)
    assert Decimal(status["spent_usd"]) == Decimal("2.5") and Decimal(status["remaining_usd"]) == Decimal("7.5")
    assert status["percent"] == 25.0
    table = run("budget", "status", "--store", url).stdout
    assert "router-daily (enforced)" in table and "$2.50" in table and "25.0%" in table
    csv = run("budget", "status", "--store", url, "-f", "csv").stdout.splitlines()
    assert csv[0].startswith("name,limit_usd,") and "0.5;0.9" in csv[1]
    assert run("budget", "rm", "router-daily", "--store", url).stdout == "budget 'router-daily' removed\n"
    assert run("budget", "list", "--store", url).stdout.startswith("no budgets")


def test_config_file_budgets_are_saved_to_the_store(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "tokentrail.toml"
    config.write_text(
        '[budgets.monthly]\nlimit_usd = 500\nperiod = "month"\ntz = "UTC"\n'
        '[budgets.team]\nlimit_tokens = 1000000\nscope = "label:team=search"\nthresholds = ["80%"]\n'
    )
    monkeypatch.setenv("TOKENTRAIL_CONFIG", str(config))
    listed = json.loads(run("budget", "list", "--store", url, "-f", "json").stdout)
    assert [(b["name"], b["scope"], b["thresholds"]) for b in listed] == [
        ("monthly", "all", [0.5, 0.8, 1.0]),
        ("team", "label:team=search", [0.8]),
    ]
    r = run("budget", "rm", "team", "--store", url)
    assert "also in the config file" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("budget", "set", "b", "--limit-usd", "10", "--period", "fortnight"), "--period 'fortnight' is not valid"),
        (("budget", "set", "b"), "has no limit"),
        (("budget", "set", "b", "--limit-usd", "5", "--scope", "team=x"), "scope dimension 'team' is not known"),
        (("budget", "status", "nope"), "no budget named 'nope'"),
        (("budget", "rm", "nope"), "no budget named 'nope'"),
    ],
)
def test_errors_are_one_line(url: str, args: tuple[str, ...], message: str) -> None:
    r = run(*args, "--store", url)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.startswith("Error: ") and message in r.stderr and r.stderr.count("\n") == 1


def test_help() -> None:
    for sub in ("set", "list", "status", "rm"):
        r = run("budget", sub, "--help")
        assert r.exit_code == 0 and r.stdout.startswith(f"Usage: tokentrail budget {sub} ")
