"""`tokentrail forecast` and `tokentrail anomalies` through the real Typer app."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from test_budgets_cli import run, url
from tokentrail import Call
from tokentrail.model import new_call_id
from tokentrail.store import open_store

FIXTURES = (url,)  # shared with test_budgets_cli


def seed(store_url: str, days: int, per_day: dict[str, float], spike: tuple[int, str, float] | None = None) -> None:
    s = open_store(store_url)
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    calls = []
    for d in range(days, 0, -1):
        for agent, usd in per_day.items():
            if spike and spike[0] == d and spike[1] == agent:
                usd *= spike[2]
            calls.append(Call(id=new_call_id(), started_at=today - timedelta(days=d) + timedelta(hours=10),
                              model="gpt-4o", agent=agent, cost_usd=Decimal(str(usd))))  # fmt: skip
    s.write(calls)
    s.close()


def test_forecast_short_history_and_what_if(url: str) -> None:
    seed(url, 3, {"router": 10.0})
    r = run("forecast", "--store", url, "--tz", "UTC", "-f", "json")
    assert r.exit_code == 0, r.output
    total = json.loads(r.stdout)["total"]
    assert total["method"] == "mean_rate" and Decimal(total["next"]["total"]) == 300
    text = run("forecast", "--store", url, "--tz", "UTC", "--what-if", "growth=20%").stdout
    assert "mean_rate (3 full day(s) of history)" in text and "$300.00" in text
    assert "what if growth=20%" in text and "+$60.00" in text
    csv = run("forecast", "--store", url, "--tz", "UTC", "--by", "agent", "-f", "csv").stdout.splitlines()
    assert csv[0].startswith("series,key,method") and csv[1].startswith("total,,mean_rate")
    assert csv[2].startswith("agent,router,mean_rate")


def test_anomalies_names_the_agent(url: str) -> None:
    seed(url, 14, {"router": 10.0, "coder": 5.0}, spike=(5, "coder", 3.0))
    r = run("anomalies", "--store", url, "--tz", "UTC", "--days", "15", "-f", "json")
    assert r.exit_code == 0, r.output
    found = [(a["dimension"], a["value"], a["ratio"]) for a in json.loads(r.stdout)["anomalies"]]
    assert found == [("agent", "coder", 3.0)]
    assert "agent=coder" in run("anomalies", "--store", url, "--tz", "UTC", "--days", "15").stdout


def test_bad_what_if_is_one_line(url: str) -> None:
    seed(url, 1, {"router": 1.0})  # an existing store: a missing one is an error of its own
    r = run("forecast", "--store", url, "--what-if", "double")
    assert r.exit_code == 1 and r.stderr.startswith("Error: --what-if 'double' is not valid")
