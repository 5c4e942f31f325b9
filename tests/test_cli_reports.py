"""The reports, driven through the CLI against a real store with known contents: the numbers, the JSON
shapes, the CSV headers, and days counted in a stated time zone."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from test_cli_helpers import MARCH, TOTAL_COST, run, run_json, seed, store_url


@pytest.fixture
def url(tmp_path: Path) -> str:
    return seed(store_url(tmp_path))


def test_stats_totals_json(url: str) -> None:
    data = run_json("stats", "--store", url, "--tz", "UTC", *MARCH)
    t = data["totals"]
    assert (t["calls"], t["errors"], t["input_tokens"], t["output_tokens"]) == (5, 1, 6600, 850)
    assert (t["cache_read_tokens"], t["unpriced_calls"], t["estimated_calls"]) == (1000, 1, 1)
    assert Decimal(t["cost_usd"]) == TOTAL_COST
    assert t["error_rate"] == 0.2
    assert [m["model"] for m in data["by_model"]] == ["gpt-4o", "claude-sonnet-4", "gpt-4o-mini", "local-llama"]
    assert data["session"] == {
        "first_at": "2025-03-10T12:00:00+00:00",
        "last_at": "2025-03-12T10:00:00+00:00",
        "duration_s": 165600.0,
    }
    assert data["window"] == {
        "since": "2025-03-01T00:00:00+00:00",
        "until": "2025-04-01T00:00:00+00:00",
        "tz": "UTC",
        "label": "custom",
    }


def test_stats_table_marks_estimates_and_unpriced_calls(url: str) -> None:
    result = run("stats", "--store", url, "--tz", "UTC", *MARCH)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "calls             5" in out
    assert "errors            1 (20.0%)" in out
    assert "~6,600" in out and "~ 1 call(s) have estimated token counts" in out
    assert "cost              $0.025" in out
    assert "unpriced calls    1 (no known price; not in the cost)" in out
    assert "2025-03-10 12:00 → 2025-03-12 10:00 (1d 22h)" in out
    assert "local-llama" in out and "unpriced" in out
    assert "\x1b[" not in out  # not a terminal: no colour


def test_stats_csv_has_header_and_one_row(url: str) -> None:
    result = run("stats", "--store", url, "--tz", "UTC", *MARCH, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 1
    assert rows[0]["calls"] == "5" and Decimal(rows[0]["cost_usd"]) == TOTAL_COST
    assert rows[0]["window_tz"] == "UTC" and rows[0]["session_duration_s"] == "165600.0"


def test_stats_period_argument_and_filters(url: str) -> None:
    assert run_json("stats", "all", "--store", url, "--agent", "writer")["totals"]["calls"] == 2
    assert run_json("stats", "all", "--store", url, "--label", "team=search")["totals"]["calls"] == 2
    assert (
        run_json("stats", "all", "--store", url, "--model", "gpt-4o", "--model", "gpt-4o-mini")["totals"]["calls"] == 3
    )
    assert run_json("stats", "all", "--store", url, "--provider", "openai", "--user", "u2")["totals"]["calls"] == 2
    assert run_json("stats", "today", "--store", url)["totals"]["calls"] == 0


def test_costs_by_agent_with_share(url: str) -> None:
    data = run_json("costs", "--by", "agent", "--store", url, "--tz", "UTC", *MARCH)
    rows = {r["agent"]: r for r in data["rows"]}
    assert list(rows) == ["writer", "router"]  # most expensive first
    assert Decimal(rows["writer"]["cost_usd"]) == Decimal("0.0205")
    assert Decimal(rows["router"]["cost_usd"]) == Decimal("0.004515")
    assert rows["router"]["unpriced_calls"] == 1
    assert rows["writer"]["cost_share"] == pytest.approx(0.0205 / 0.025015, abs=1e-6)
    assert data["by"] == ["agent"] and data["bucket"] is None


def test_costs_table_shows_share_and_total(url: str) -> None:
    out = run("costs", "--by", "agent", "--store", url, "--tz", "UTC", *MARCH).stdout
    lines = out.splitlines()
    assert lines[0] == "cost by agent — custom (UTC)"
    writer = next(line for line in lines if line.startswith("writer"))
    assert writer.split()[-2:] == ["$0.0205", "82.0%"]
    total = next(line for line in lines if line.startswith("total"))
    assert "$0.025 (+1 unpriced)" in total and total.endswith("100.0%")
    assert "1 call(s) have no known price and are not in the cost" in out


def test_costs_by_two_dimensions_and_label(url: str) -> None:
    data = run_json("costs", "--by", "model,agent", "--store", url, *MARCH)
    assert data["by"] == ["model", "agent"]
    assert {(r["model"], r["agent"]) for r in data["rows"]} == {
        ("gpt-4o", "router"),
        ("gpt-4o", "writer"),
        ("claude-sonnet-4", "writer"),
        ("local-llama", "router"),
        ("gpt-4o-mini", "router"),
    }
    by_team = {
        r["label:team"]: r["calls"] for r in run_json("costs", "--by", "label:team", "--store", url, *MARCH)["rows"]
    }
    assert by_team == {"search": 2, "ads": 1, None: 2}


def test_costs_daily_counts_days_in_the_given_zone(url: str) -> None:
    utc = run_json("costs", "--daily", "--by", "provider", "--store", url, "--tz", "UTC", *MARCH)
    ny = run_json("costs", "--daily", "--by", "provider", "--store", url, "--tz", "America/New_York", *MARCH)

    def per_day(data: dict) -> dict[str, int]:
        days: dict[str, int] = {}
        for r in data["rows"]:
            days[r["bucket"][:10]] = days.get(r["bucket"][:10], 0) + r["calls"]
        return days

    assert per_day(utc) == {"2025-03-10": 2, "2025-03-11": 1, "2025-03-12": 2}
    # 2025-03-11T03:30Z is 23:30 on the 10th in New York.
    assert per_day(ny) == {"2025-03-10": 3, "2025-03-12": 2}
    assert ny["rows"][0]["bucket"] == "2025-03-10T00:00:00-04:00"
    out = run("costs", "--daily", "--store", url, "--tz", "America/New_York", *MARCH).stdout
    assert "2025-03-10 Mon" in out and "2025-03-11" not in out


def test_costs_csv_header(url: str) -> None:
    out = run("costs", "--by", "agent", "--daily", "--store", url, *MARCH, "--format", "csv").stdout
    header = next(csv.reader(io.StringIO(out)))
    assert header[:2] == ["agent", "bucket"] and "cost_usd" in header and header[-1] == "cost_share"


def test_models_ranks_by_cost_with_average_per_call(url: str) -> None:
    data = run_json("models", "--store", url, *MARCH)
    rows = data["rows"]
    assert [r["model"] for r in rows] == ["gpt-4o", "claude-sonnet-4", "gpt-4o-mini", "local-llama"]
    assert Decimal(rows[0]["avg_cost_usd"]) == Decimal("0.00725")
    assert rows[-1]["avg_cost_usd"] is None  # nothing priced
    top = run_json("models", "--top", "2", "--sort", "calls", "--store", url, *MARCH)["rows"]
    assert [r["model"] for r in top] == ["gpt-4o", "claude-sonnet-4"]
    out = run("models", "--store", url, *MARCH).stdout
    assert "avg/call" in out and "$0.00725" in out


@pytest.mark.parametrize(
    ("command", "dim", "expected"),
    [
        ("agents", "agent", {"router": 3, "writer": 2}),
        ("users", "user", {"u1": 2, "u2": 2, "u3": 1}),
        ("projects", "project", {"p1": 3, "p2": 2}),
        ("sessions", "session", {"s1": 2, "s2": 1, "s3": 2}),
    ],
)
def test_dimension_commands(url: str, command: str, dim: str, expected: dict[str, int]) -> None:
    data = run_json(command, "--store", url, *MARCH)
    assert {r[dim]: r["calls"] for r in data["rows"]} == expected
    result = run(command, "--store", url, *MARCH)
    assert result.exit_code == 0 and all(name in result.stdout for name in expected)


def test_sessions_table_shows_start_end_and_duration(url: str) -> None:
    out = run("sessions", "--store", url, "--tz", "UTC", *MARCH).stdout
    s3 = next(line for line in out.splitlines() if line.startswith("s3"))
    assert "2025-03-12 09:00" in s3 and "10:00" in s3 and s3.endswith("1h 0m")


def test_performance_percentiles(url: str) -> None:
    data = run_json("performance", "--store", url, *MARCH)
    overall = data["overall"]
    # durations 50, 100, 500, 1500, 2500 ms; linear interpolation between ranks, within the store's stated bound
    rel = overall["max_relative_error"]
    assert 0 <= rel <= 0.02
    assert overall["calls"] == 5 and overall["avg_ms"] == pytest.approx(930.0)
    expected = (500.0, 2300.0, 2460.0)
    assert (overall["p50_ms"], overall["p95_ms"], overall["p99_ms"]) == pytest.approx(expected, rel=rel + 1e-9)
    assert overall["avg_ttft_ms"] == pytest.approx(300.0)
    assert data["by_model"][0]["model"] == "claude-sonnet-4"  # slowest p95 first
    assert {r["operation"] for r in data["by_operation"]} == {"chat", "completion"}
    out = run("performance", "--store", url, *MARCH).stdout
    assert "all calls" in out and f"{overall['p95_ms']:,.0f} ms" in out and "slowest models (by p95)" in out
    assert ("percentiles are approximate" in out) == (rel > 0)


def test_performance_csv(url: str) -> None:
    out = run("performance", "--store", url, *MARCH, "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    rel = float(rows[0]["max_relative_error"])
    assert rows[0]["scope"] == "overall" and float(rows[0]["p50_ms"]) == pytest.approx(500.0, rel=rel + 1e-9)
    assert {r["scope"] for r in rows} == {"overall", "model", "operation"}


def test_patterns_heat_map_in_local_time(url: str) -> None:
    data = run_json("patterns", "--store", url, "--tz", "America/New_York", *MARCH)
    calls = data["calls"]
    assert len(calls) == 7 and all(len(row) == 24 for row in calls)
    assert sum(map(sum, calls)) == 5
    assert calls[0][8] == 1 and calls[0][9] == 1 and calls[0][23] == 1  # Monday 10 March, New York hours
    assert calls[2][5] == 1 and calls[2][6] == 1  # Wednesday 12 March
    assert data["busiest_day"]["date"] == "2025-03-10" and data["busiest_day"]["calls"] == 3
    assert data["peak"] == {"weekday": "Mon", "hour": 8, "calls": 1}
    assert [(o["operation"], o["calls"]) for o in data["operations"]] == [("chat", 4), ("completion", 1)]
    out = run("patterns", "--store", url, "--tz", "America/New_York", *MARCH).stdout
    assert "Mon" in out and "busiest day    2025-03-10 Mon (3 calls" in out and "most common operations" in out
    rows = list(csv.reader(io.StringIO(run("patterns", "--store", url, *MARCH, "-f", "csv").stdout)))
    assert rows[0] == ["weekday", "hour", "calls", "tokens", "cost_usd"] and len(rows) == 1 + 7 * 24


def test_empty_window_says_so(url: str) -> None:
    for command in ("costs", "models", "agents", "patterns", "performance"):
        result = run(command, "--store", url, "--since", "2020-01-01", "--until", "2020-01-02")
        assert result.exit_code == 0 and "no " in result.stdout, command
