"""`tokentrail stats --format compact`: the window's headline numbers on one line."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tokentrail import Call
from tokentrail.cli import build_app, main
from tokentrail.store import open_store

T0 = datetime(2025, 6, 1, 9, tzinfo=timezone.utc)
CALLS = [
    Call(id="c1", started_at=T0, model="gpt-4o", input_tokens=1_500_000, output_tokens=150_000,
         cost_usd=Decimal("5.25")),
    Call(id="c2", started_at=T0 + timedelta(hours=1), model="gpt-4o", input_tokens=400_000, output_tokens=50_000,
         cost_usd=Decimal("7.09"), success=False, error_type="RateLimitError"),
    Call(id="c3", started_at=T0 + timedelta(hours=2), model="mystery", input_tokens=1_000, output_tokens=234),
]  # fmt: skip


def seed(url: str) -> None:
    store = open_store(url)
    try:
        assert store.write(CALLS) == 3
    finally:
        store.close()


def test_compact_is_one_line_of_exact_sums_on_every_store(store_url: str) -> None:
    if store_url == "memory://":
        pytest.skip("a memory store is not shared with the command")
    seed(store_url)
    out = CliRunner().invoke(build_app(), ["stats", "all", "--store", store_url, "--format", "compact"])
    assert out.exit_code == 0, out.output
    # 2,101,234 tokens: 1,901,000 in, 200,234 out; $5.25 + $7.09; the third call has no price
    assert out.stdout == ("all: 3 calls · 2.1M tokens (1.9M in / 200.2k out) · $12.34 (+1 unpriced) · 1 failed\n")


def test_compact_through_the_console_script_and_marks_estimates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    store = open_store(url)
    store.write([CALLS[2].replace(tokens_estimated=True)])
    store.close()
    assert main(["stats", "--store", url, "--since", "2025-06-01", "--tz", "UTC", "-f", "compact"]) == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1
    assert line.endswith(": 1 call · ~1.2k tokens (~1k in / ~234 out) · unpriced · 0 failed\n")


def test_an_unknown_format_is_still_refused() -> None:
    out = CliRunner().invoke(build_app(), ["stats", "--format", "oneline"])
    assert out.exit_code == 2
    assert "'oneline' is not one of 'table', 'json', 'csv', 'compact'" in out.stderr


def test_compact_takes_the_fast_path_for_shell_prompts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    seed(url)
    code = (
        "import sys; from tokentrail.cli import main;"
        f"status = main(['stats', 'all', '--store', {url!r}, '-f', 'compact']);"
        "print(status, 'typer' in sys.modules, 'rich' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "all: 3 calls · 2.1M tokens (1.9M in / 200.2k out) · $12.34 (+1 unpriced) · 1 failed\n0 False False\n"
