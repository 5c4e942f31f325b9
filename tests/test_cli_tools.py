"""count, price, prices, config and demo through the CLI."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from test_cli_helpers import run, run_json, store_url
from tokentrail.pricing import calculate_cost, model_info
from tokentrail.tokens import count_tokens

TEXT = "The quick brown fox jumps over the lazy dog. " * 20


def test_count_text_exact_for_openai() -> None:
    data = run_json("count", TEXT, "--model", "gpt-4o")
    expected = count_tokens(TEXT, "gpt-4o")
    assert data["tokens"] == expected.tokens and data["exact"] is True and data["method"] == expected.method
    assert Decimal(data["input_cost_usd"]) == calculate_cost("gpt-4o", expected.tokens, 0).total
    assert data["context_window"] == model_info("gpt-4o").context_window
    assert data["context_share"] == pytest.approx(expected.tokens / data["context_window"], abs=1e-6)
    out = run("count", TEXT, "--model", "gpt-4o").stdout
    assert f"{expected.tokens:,} (exact" in out and "of 128,000 tokens" in out


def test_count_file_estimate_is_marked(tmp_path: Path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_text(TEXT)
    result = run("count", str(path), "-m", "claude-sonnet-4")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{path} for claude-sonnet-4")
    assert "~" in result.stdout and "estimate" in result.stdout
    data = run_json("count", str(path), "-m", "claude-sonnet-4")
    assert data["exact"] is False and data["source"] == str(path) and data["characters"] == len(TEXT)


def test_count_stdin_and_unknown_model() -> None:
    result = run("count", "-", "--model", "my-private-model", input="hello there")
    assert result.exit_code == 0 and "unknown: no price for 'my-private-model'" in result.stdout
    data = json.loads(run("count", "-", "-m", "my-private-model", "-f", "json", input="hello").stdout)
    assert data["input_cost_usd"] is None and data["context_window"] is None
    header = next(csv.reader(io.StringIO(run("count", "hi", "-f", "csv").stdout)))
    assert header[:3] == ["model", "source", "characters"]


def test_price_of_one_model() -> None:
    data = run_json("price", "claude-sonnet-4")
    assert (data["provider_id"], data["input_per_mtok"], data["output_per_mtok"]) == ("anthropic", "3", "15")
    assert data["cache_read_per_mtok"] == "0.3" and data["cache_write_per_mtok"] == "3.75"
    out = run("price", "claude-sonnet-4").stdout
    assert "$3 / M tokens" in out and "$0.3 / M tokens" in out and "200,000 tokens" in out


def test_price_of_an_unknown_model_is_one_line() -> None:
    result = run("price", "no-such-model-xyz")
    assert result.exit_code == 1 and "no price for model='no-such-model-xyz'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_prices_filter_by_provider_and_search() -> None:
    data = run_json("prices", "--provider", "openai", "--search", "gpt-4o-mini")
    assert data and all(m["provider_id"] == "openai" and "gpt-4o-mini" in m["id"] for m in data)
    out = run("prices", "--provider", "openai", "--search", "gpt-4o-mini").stdout
    assert "cache read/M" in out and "gpt-4o-mini" in out and "$0.15" in out
    rows = list(csv.reader(io.StringIO(run("prices", "-s", "gpt-4o-mini", "-f", "csv").stdout)))
    assert rows[0][:3] == ["provider_id", "id", "name"] and len(rows) > 1
    assert run("prices", "--search", "zzz-nothing").stdout.strip() == "no models match"


def test_config_shows_where_each_value_came_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENTRAIL_BATCH_SIZE", "250")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tokentrail.toml").write_text('project = "from-file"\n')
    data = run_json("config", "--store", "memory://")
    settings = {s["name"]: s for s in data["settings"]}
    assert settings["store"]["source"] == "argument" and settings["store"]["value"] == "memory://"
    assert settings["batch_size"] == {
        "name": "batch_size",
        "value": 250,
        "source": "environment (TOKENTRAIL_BATCH_SIZE)",
        "env": "TOKENTRAIL_BATCH_SIZE",
    }
    assert settings["project"]["source"].startswith("file (") and settings["project"]["value"] == "from-file"
    assert settings["flush_interval"]["source"] == "default"
    assert data["file"] == str(tmp_path / "tokentrail.toml")
    out = run("config").stdout
    assert "environment (TOKENTRAIL_BATCH_SIZE)" in out and "setting" in out


def test_config_masks_passwords_and_reports_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    data = run_json("config", "--store", "postgresql://me:secret@db.example/x")
    assert {s["name"]: s["value"] for s in data["settings"]}["store"] == "postgresql://me:***@db.example/x"
    monkeypatch.setenv("TOKENTRAIL_FLUSH_INTERVAL", "abc")
    result = run("config")
    assert result.exit_code == 1 and "TOKENTRAIL_FLUSH_INTERVAL='abc' (from environment)" in result.stderr


def test_demo_fills_a_separate_store_and_tours_it(tmp_path: Path) -> None:
    url = store_url(tmp_path, "demo")
    result = run("demo", "--store", url, "--seed", "3", "--tz", "UTC")
    assert result.exit_code == 0, result.output
    assert "demo calls over the last 7 days" in result.stderr
    out = result.stdout
    assert out.startswith("tokentrail stats — last 7 days (UTC)")
    assert "cost by agent" in out and "models — last 7 days" in out and "unpriced" in out
    stats = run_json("stats", "week", "--store", url, "--tz", "UTC")
    t = stats["totals"]
    assert t["calls"] > 300 and t["errors"] > 0 and t["unpriced_calls"] > 0 and t["estimated_calls"] > 0
    assert t["cache_read_tokens"] > 0 and t["reasoning_tokens"] > 0 and t["avg_ttft_ms"] is not None
    providers = {r["provider"] for r in run_json("costs", "--by", "provider", "--store", url, "--days", "8")["rows"]}
    assert {"openai", "anthropic", "google"} <= providers
    agents = {r["agent"] for r in run_json("agents", "--store", url, "--days", "8")["rows"]}
    assert len(agents) >= 5
    days = run_json("patterns", "--store", url, "--days", "8", "--tz", "UTC")
    assert days["costliest_day"]["cost_usd"] != days["days"][0]["cost_usd"]  # the spike stands out
    # a non-default store that already has calls needs --reset; the same seed gives the same week again
    assert run("demo", "--store", url, "--no-tour").exit_code == 1
    assert run("demo", "--store", url, "--seed", "3", "--reset", "--no-tour").exit_code == 0
    again = run_json("stats", "week", "--store", url, "--tz", "UTC")["totals"]
    assert (again["calls"], again["cost_usd"]) == (t["calls"], t["cost_usd"])


def test_demo_never_writes_to_the_configured_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = store_url(tmp_path, "real")
    monkeypatch.setenv("TOKENTRAIL_STORE", url)
    result = run("demo", "--store", url)
    assert result.exit_code == 1 and "is your configured store" in result.stderr


def test_count_of_a_missing_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("count", "missing.txt")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"Error: file 'missing.txt' does not exist (looked for '{tmp_path}/missing.txt')")
    assert "--text" in result.stderr and result.stderr.count("\n") == 1
    assert run("count", "docs/").exit_code == 1  # a folder separator: meant as a path too
    literal = run_json("count", "missing.txt", "--text")
    assert (literal["source"], literal["characters"]) == ("text", len("missing.txt"))
    assert literal["tokens"] == count_tokens("missing.txt", "gpt-4o").tokens
    (tmp_path / "missing.txt").write_text(TEXT)  # once it exists it is read
    assert run_json("count", "missing.txt")["characters"] == len(TEXT)
    assert run_json("count", "two words.txt")["source"] == "text"  # not one word: text, as before
