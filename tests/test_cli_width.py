"""Tables fit the width they are printed in by abbreviating names and hiding the less important columns; money
is never cut. `watch` fits its frame the same way, and prints one plain frame per interval when stdout is not a
terminal."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from test_cli_helpers import run, seed, store_url
from tokentrail import Call
from tokentrail.cli.render import Column, fit_widths, fmt_cost, table

UTC = timezone.utc
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
CUT_MONEY = re.compile(r"\$[\d,.]*…|\$…")

LONG = [
    Call(id="a", started_at=NOW - timedelta(minutes=50), model="claude-3-5-haiku-latest-preview-edition",
         agent="research-assistant-with-a-long-name", input_tokens=1_200_000, output_tokens=90_000,
         cost_usd=Decimal("25.9312"), duration_ms=9479.0),
    Call(id="b", started_at=NOW - timedelta(minutes=40), model="text-embedding-3-small", agent="embedder",
         input_tokens=940, cost_usd=Decimal("0.000068"), duration_ms=88.0, operation="embedding"),
    Call(id="c", started_at=NOW - timedelta(minutes=30), model="llama-3.1-8b-local-quantized-q4",
         agent="summarizer", input_tokens=2500, output_tokens=284, cost_usd=None, tokens_estimated=True,
         duration_ms=3461.0),
    Call(id="d", started_at=NOW - timedelta(minutes=20), model="gpt-4o-mini", agent="router", input_tokens=400,
         output_tokens=38, cost_usd=Decimal("0.004234"), duration_ms=160.0, success=False,
         error_type="RateLimitError"),
]  # fmt: skip
MONEY = {
    "models": ["$25.93", "$0.000068", "$0.004234", "unpriced"],
    "total": fmt_cost(Decimal("25.935502"), 4, 1),  # `$25.94 (+1 unpriced)`
}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return seed(store_url(tmp_path), LONG)


def _table_lines(text: str) -> list[str]:
    """The lines of a report's table (after its title, up to its footnotes)."""
    return [line for line in text.splitlines()[1:] if not line.startswith(("~", "1 call(s)", "("))]


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize(("command", "extra"), [("costs", ["--by", "model,agent"]), ("models", []), ("agents", [])])
def test_report_tables_fit_and_never_cut_money(url: str, width: int, command: str, extra: list[str]) -> None:
    result = run(command, "--store", url, "--period", "all", "--tz", "UTC", *extra, env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    lines = _table_lines(result.stdout)
    assert max(len(line) for line in lines) <= width, result.stdout
    assert not CUT_MONEY.search(result.stdout), result.stdout
    for money in MONEY["models"]:
        assert money in result.stdout, (money, result.stdout)
    if command == "costs":
        assert MONEY["total"] in result.stdout  # the footer's total, with its unpriced mark, whole


def test_narrow_tables_say_what_they_hid(url: str) -> None:
    wide = run("models", "--store", url, "--period", "all", env={"COLUMNS": "200"}).stdout
    narrow = run("models", "--store", url, "--period", "all", env={"COLUMNS": "60"}).stdout
    assert "claude-3-5-haiku-latest-preview-edition" in wide and "hidden at this width" not in wide
    assert "preview-edition" not in narrow and re.search(r"^claude-3-5-haiku-\S*…  ", narrow, re.M)  # not wrapped
    header = narrow.splitlines()[1].split()
    assert "input" not in header and "cost" in header and "avg/call" in header
    assert "(hidden at this width: input, output" in narrow


def test_without_a_terminal_or_columns_nothing_is_fitted(url: str) -> None:
    out = run("costs", "--store", url, "--period", "all", "--by", "model,agent").stdout
    assert "research-assistant-with-a-long-name" in out and "hidden" not in out


def test_fit_widths_abbreviates_then_hides_then_abbreviates_further() -> None:
    cols = [Column("name", shrink=6), Column("calls", True, drop=1), Column("tokens", True, drop=2),
            Column("cost", True)]  # fmt: skip
    natural = [30, 5, 10, 21]
    assert fit_widths(cols, natural, None) == natural
    assert fit_widths(cols, natural, 80) == natural  # 66 + 6 of gaps fits
    assert fit_widths(cols, natural, 60) == [18, 5, 10, 21]  # the name gives way, just enough
    assert fit_widths(cols, natural, 50) == [20, 5, None, 21]  # 16 would not do: tokens goes, the name keeps 20
    assert fit_widths(cols, natural, 40) == [17, None, None, 21]  # then calls
    assert fit_widths(cols, natural, 36) == [13, None, None, 21]  # then the name again, below 16
    assert fit_widths(cols, natural, 20) == [6, None, None, 21]  # money keeps its width: it overflows instead


def test_table_abbreviates_only_text_columns() -> None:
    cols = [Column("model", shrink=8), Column("cost", True)]
    out = table(cols, [["a-very-long-model-name-indeed", "$1,204.33 (+3 unpriced)"]], color=False, width=36)
    assert out.splitlines()[2] == "a-very-lon…  $1,204.33 (+3 unpriced)"


# -- watch -----------------------------------------------------------------------------------------


def _frame_text(width: int) -> str:
    from rich.console import Console

    from tokentrail.analysis import summary
    from tokentrail.cli.watch import render_frame
    from tokentrail.store import open_store

    store = open_store("memory://")
    store.write(LONG)
    window = summary(store=store, since="2026-11-20", until="2026-11-21", tz="UTC", now=NOW)
    rate = summary(store=store, since=NOW - timedelta(seconds=60), tz="UTC", now=NOW)
    frame = render_frame(window, rate, list(reversed(LONG)), store_url="memory://", now=NOW)
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(frame)
    return console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_watch_frame_fits_and_never_cuts_money(width: int) -> None:
    text = _frame_text(width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert not CUT_MONEY.search(text), text
    for money in (*MONEY["models"], MONEY["total"]):
        assert money in text, (money, text)
    assert "error: RateLimi" in text and "$0.00" in text  # the failed call marked; $/min whole


def test_watch_frame_hides_latency_and_agent_first() -> None:
    wide, narrow = _frame_text(120), _frame_text(60)
    assert "latency" in wide and "research-assistant" in wide and "9,479 ms" in wide
    assert "latency" not in narrow and "9,479 ms" not in narrow
    assert "claude-3-5-haiku-latest-preview-edition" not in narrow and "claude-3-5-haik" in narrow


def test_watch_without_a_terminal_prints_one_plain_frame_per_interval(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    url = seed(store_url(tmp_path), [Call(id="w", started_at=now - timedelta(seconds=5), model="gpt-4o",
                                          cost_usd=Decimal("0.12"), input_tokens=10)])  # fmt: skip
    result = run("watch", "--store", url, "--interval", "0", "--iterations", "3", "--tz", "UTC",
                 env={"COLUMNS": "60"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.count("tokentrail watch — today (UTC)") == 3  # Live printed only the last frame
    assert "\x1b[" not in result.stdout  # no colour, no cursor movement
    assert max(len(line) for line in result.stdout.splitlines()) <= 60
