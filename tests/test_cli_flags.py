"""The command line behaves the same everywhere: the window flags mean the same in every report, `forecast`
takes `--horizon` for days ahead, and errors speak in flags (with a did-you-mean for an unknown `--by`)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import typer.main

from test_cli_helpers import run, seed, store_url
from tokentrail import Call
from tokentrail.analysis.windows import resolve_window
from tokentrail.cli import build_app
from tokentrail.cli.options import check_by, speak_flags
from tokentrail.errors import ValidationError

UTC = timezone.utc
WINDOW_FLAGS = {"--since", "--until", "--days", "--period"}
REPORTS = ["stats", "costs", "models", "agents", "users", "projects", "sessions", "performance", "patterns",
           "forecast", "anomalies", "calls", "watch", "export"]  # fmt: skip


def _midnight(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def _daily(url: str, days: int, usd: str = "10", spike: tuple[int, str] | None = None) -> str:
    """One $`usd` call at 10:00 UTC on each of the last `days` full days (and `spike`: (days ago, usd))."""
    calls = [
        Call(
            id=f"d{d}",
            started_at=_midnight(d) + timedelta(hours=10),
            model="gpt-4o",
            agent="coder" if spike and spike[0] == d else "router",
            cost_usd=Decimal(spike[1] if spike and spike[0] == d else usd),
        )
        for d in range(days, 0, -1)
    ]
    return seed(url, calls)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return seed(store_url(tmp_path), [])  # an empty store that exists: a missing one is an error of its own


# -- every report takes the same window flags ------------------------------------------------------


@pytest.mark.parametrize("name", REPORTS)
def test_every_report_takes_the_window_flags(name: str) -> None:
    group = typer.main.get_command(build_app())
    ctx = group.make_context("tokentrail", [], resilient_parsing=True)
    command = group.get_command(ctx, name)  # type: ignore[attr-defined]
    flags = {flag for p in command.params for flag in p.opts}
    assert flags >= WINDOW_FLAGS, f"{name} lacks {WINDOW_FLAGS - flags}"
    days_help = next(p.help for p in command.params if "--days" in p.opts)
    assert days_help.startswith("The last N days"), (name, days_help)


@pytest.mark.parametrize("name", ["stats", "costs", "models", "performance", "patterns", "anomalies"])
def test_days_is_the_last_n_days_in_every_report(url: str, name: str) -> None:
    _daily(url, 10)
    window = json.loads(run(name, "--store", url, "--tz", "UTC", "--days", "3", "-f", "json").stdout)["window"]
    since = datetime.fromisoformat(window["since"])
    assert window["label"] == "last 3 days"
    assert abs((datetime.now(UTC) - since) - timedelta(days=3)) < timedelta(minutes=1)


def test_days_with_until_is_the_n_days_ending_there() -> None:
    w = resolve_window(days=3, until="2026-11-20", tz="UTC", now=datetime(2026, 12, 1, tzinfo=UTC))
    assert (w.since, w.until) == (datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))


def test_a_period_stands_alone() -> None:
    with pytest.raises(ValidationError, match="cannot be combined with since=, until= or days="):
        resolve_window("week", until="2026-11-20", tz="UTC")  # until used to be dropped without a word


# -- forecast: --horizon ahead, --days of history --------------------------------------------------


def test_forecast_horizon_is_days_ahead_and_days_is_history(url: str) -> None:
    _daily(url, 20)
    r = run("forecast", "--store", url, "--tz", "UTC", "--horizon", "7", "--days", "5", "-f", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["horizon_days"] == 7 and out["total"]["history_days"] == 5
    assert Decimal(out["total"]["next"]["total"]) == 70  # $10 a day, 7 days ahead
    assert r.stderr == ""  # both given: nothing ambiguous, no note
    default = json.loads(run("forecast", "--store", url, "--tz", "UTC", "-f", "json").stdout)
    assert default["horizon_days"] == 30 and default["total"]["history_days"] == 20  # all 20 days, under 56


def test_forecast_days_alone_is_history_with_a_note(url: str) -> None:
    _daily(url, 20)
    r = run("forecast", "--store", url, "--tz", "UTC", "--days", "7", "-f", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)  # stdout stays clean JSON
    assert out["horizon_days"] == 30 and out["total"]["history_days"] == 7
    assert "note: forecast --days 7 is the history to learn from" in r.stderr and "--horizon" in r.stderr
    old = run("forecast", "--store", url, "--tz", "UTC", "--history", "4", "-f", "json")  # the old name
    assert json.loads(old.stdout)["total"]["history_days"] == 4 and "--history is now --days" in old.stderr


def test_forecast_since_and_until(url: str) -> None:
    _daily(url, 20)
    since = (_midnight(8)).date().isoformat()
    out = json.loads(run("forecast", "--store", url, "--tz", "UTC", "--since", since, "-f", "json").stdout)
    assert out["total"]["history_days"] == 8
    until = _midnight(10).date()  # forecast as of the end of that day: 10 full days of history before it
    r = run("forecast", "--store", url, "--tz", "UTC", "--until", until.isoformat(), "--horizon", "3", "-f", "json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert datetime.fromisoformat(out["at"]) == _midnight(9)
    assert out["total"]["history_days"] == 11 and out["total"]["daily"][0]["day"] == (until + timedelta(2)).isoformat()


def test_forecast_window_without_a_full_day_says_what_to_do(url: str) -> None:
    r = run("forecast", "--store", url, "--tz", "UTC", "--period", "today")
    assert r.exit_code == 1
    assert "no full day before" in r.stderr and "--days N or --since DATE" in r.stderr


# -- anomalies: every window flag --------------------------------------------------------------------


def test_anomalies_take_period_since_and_until(url: str) -> None:
    _daily(url, 20, spike=(12, "90"))
    spike = _midnight(12).date().isoformat()
    found = json.loads(run("anomalies", "--store", url, "--tz", "UTC", "--period", "all", "-f", "json").stdout)
    assert {(a["at"][:10], a["dimension"]) for a in found["anomalies"]} == {(spike, "total")}
    assert found["window"]["label"] == "all" and datetime.fromisoformat(found["window"]["since"]) == _midnight(
        20
    ) + timedelta(hours=10)
    week = run("anomalies", "--store", url, "--tz", "UTC", "--period", "week", "-f", "json")
    assert week.exit_code == 0 and json.loads(week.stdout)["anomalies"] == []  # the spike is older
    since, until = _midnight(15).date().isoformat(), _midnight(5).date().isoformat()
    span = json.loads(run("anomalies", "--store", url, "--tz", "UTC", "--since", since, "--until", until,
                          "-f", "json").stdout)  # fmt: skip
    assert datetime.fromisoformat(span["window"]["since"]) == _midnight(15)
    assert datetime.fromisoformat(span["window"]["until"]) == _midnight(4)
    assert [a["at"][:10] for a in span["anomalies"]] == [spike]


# -- errors in flags -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stats", "--period", "month", "--since", "2026-11-01"],
         "--period 'month' cannot be combined with --since, --until or --days; use one of them"),
        (["costs", "--period", "week", "--until", "2026-11-01"], "--period 'week' cannot be combined"),
        (["costs", "--days", "0"], "--days 0 is not valid"),
        (["costs", "--since", "2026-11-20", "--until", "2026-11-01"], "--until '2026-11-01' is before --since"),
        (["anomalies", "--factor", "0.5"], "--factor 0.5 is not valid"),
        (["forecast", "--what-if", "double"], "--what-if 'double' is not valid"),
        (["forecast", "--what-if", "move:modle=a->b"], "--what-if move: 'modle' is not a dimension. Did you mean"),
        (["budget", "set", "b", "--limit-usd", "-5"], "--limit-usd '-5' is not valid"),
        (["stats", "week", "--period", "month"], "PERIOD 'week' and --period 'month' disagree"),
        (["costs", "--by", "modle"], "--by 'modle' is not a dimension. Did you mean 'model'?"),
        (["costs", "--by", "model,agnet"], "--by 'agnet' is not a dimension. Did you mean 'agent'?"),
        (["anomalies", "--by", "models"], "--by 'models' is not a dimension. Did you mean 'model'?"),
        (["forecast", "--by", "lable:team"], "--by 'lable:team' is not a dimension. Did you mean 'label:team'?"),
        (["costs", "--by", "team"], "Did you mean the label 'label:team'?"),
    ],
)  # fmt: skip
def test_errors_speak_in_flags(url: str, args: list[str], message: str) -> None:
    result = run(*args, "--store", url)
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert "=" not in lines[0].split(":")[1].split("'")[0]  # no `name=` before the first quoted value


def test_fast_path_errors_speak_in_flags_too(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tokentrail.cli import main

    assert main(["stats", "--period", "month", "--days", "3", "--store", url]) == 1
    assert capsys.readouterr().err == (
        "Error: --period 'month' cannot be combined with --since, --until or --days; use one of them\n"
    )


def test_speak_flags_leaves_values_and_call_fields_alone() -> None:
    flags = ["--since", "--scope", "--model", "--tz"]
    assert speak_flags("scope='agent=x since=3' is bad", flags) == "--scope 'agent=x since=3' is bad"
    assert speak_flags("no price for model='gpt-x' (since=)", flags) == "no price for model='gpt-x' (--since)"
    assert speak_flags("until='x' is bad", flags) == "until='x' is bad"  # no such flag: unchanged
    assert speak_flags("--label='team' is not valid", ["--label"]) == "--label='team' is not valid"


def test_check_by_accepts_dimensions_and_labels() -> None:
    assert check_by(["model", "label:team", "git_branch"]) == ["model", "label:team", "git_branch"]
    with pytest.raises(ValidationError, match=r"--by 'x y' is not a dimension\. Use one of model"):
        check_by(["x y"])


def test_window_flags_in_a_zone(url: str) -> None:
    seed(url, [Call(id="ny", started_at=datetime(2026, 11, 20, 3, 30, tzinfo=UTC), model="m", cost_usd=Decimal(1))])
    out = json.loads(run("costs", "--store", url, "--tz", "America/New_York", "--since", "2026-11-19",
                         "--until", "2026-11-19", "-f", "json").stdout)  # fmt: skip
    assert out["totals"]["calls"] == 1  # 03:30 UTC on the 20th is the evening of the 19th in New York
    assert date.fromisoformat(out["window"]["since"][:10]) == date(2026, 11, 19)
