"""Shared pieces of the CLI tests (no tests here): a store with known contents and a runner."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from tokentrail.cli import build_app
from tokentrail.model import Call
from tokentrail.store import open_store

UTC = timezone.utc
HAS_SQLITE_STORE = importlib.util.find_spec("tokentrail.store.sqlite") is not None

# Five calls in March 2025. In New York (UTC-4 after the DST change of 9 March) the 03:30 UTC call of the
# 11th belongs to the 10th.
KNOWN = [
    Call(
        id="c1",
        started_at=datetime(2025, 3, 10, 12, 0, tzinfo=UTC),
        model="gpt-4o",
        provider="openai",
        agent="router",
        user="u1",
        project="p1",
        session="s1",
        input_tokens=1000,
        output_tokens=200,
        cost_usd=Decimal("0.0045"),
        duration_ms=500.0,
        labels={"team": "search"},
    ),
    Call(
        id="c2",
        started_at=datetime(2025, 3, 10, 13, 0, tzinfo=UTC),
        model="gpt-4o",
        provider="openai",
        agent="writer",
        user="u2",
        project="p1",
        session="s1",
        input_tokens=2000,
        output_tokens=500,
        cost_usd=Decimal("0.0100"),
        duration_ms=1500.0,
        ttft_ms=300.0,
        streamed=True,
        labels={"team": "search"},
    ),
    Call(
        id="c3",
        started_at=datetime(2025, 3, 11, 3, 30, tzinfo=UTC),
        model="claude-sonnet-4",
        provider="anthropic",
        agent="writer",
        user="u1",
        project="p2",
        session="s2",
        input_tokens=3000,
        cache_read_tokens=1000,
        output_tokens=100,
        cost_usd=Decimal("0.0105"),
        duration_ms=2500.0,
        labels={"team": "ads"},
    ),
    Call(
        id="c4",
        started_at=datetime(2025, 3, 12, 9, 0, tzinfo=UTC),
        model="local-llama",
        provider="ollama",
        agent="router",
        user="u3",
        project="p2",
        session="s3",
        input_tokens=500,
        output_tokens=50,
        cost_usd=None,
        tokens_estimated=True,
        duration_ms=100.0,
        operation="completion",
    ),
    Call(
        id="c5",
        started_at=datetime(2025, 3, 12, 10, 0, tzinfo=UTC),
        model="gpt-4o-mini",
        provider="openai",
        agent="router",
        user="u2",
        project="p1",
        session="s3",
        input_tokens=100,
        output_tokens=0,
        cost_usd=Decimal("0.000015"),
        duration_ms=50.0,
        success=False,
        error_type="RateLimitError",
    ),
]
MARCH = ["--since", "2025-03-01", "--until", "2025-03-31"]
TOTAL_COST = Decimal("0.025015")


def store_url(tmp_path: Path, name: str = "cli") -> str:
    """A persistent store under tmp_path (SQLite when that backend is installed, else JSONL)."""
    if HAS_SQLITE_STORE:
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    return f"jsonl://{tmp_path / f'{name}-jsonl'}"


def seed(url: str, calls: list[Call] = KNOWN) -> str:
    store = open_store(url)
    try:
        store.write(calls)
    finally:
        store.close()
    return url


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(build_app(), list(args), env=env, input=input)


def run_json(*args: str) -> Any:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
