"""The commands that read or remove the calls themselves: calls (and --follow), watch, export, prune."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from test_cli_helpers import KNOWN, MARCH, run, seed, store_url
from tokentrail.analysis.export import EXPORT_FIELDS
from tokentrail.model import Call
from tokentrail.store import open_store


@pytest.fixture
def url(tmp_path: Path) -> str:
    return seed(store_url(tmp_path))


def test_calls_lists_the_most_recent_oldest_first(url: str) -> None:
    result = run("calls", "--store", url, "--tz", "UTC", "--limit", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["time", "model", "agent"]
    assert [line.split()[2] for line in lines[1:]] == ["claude-sonnet-4", "local-llama", "gpt-4o-mini"]
    assert "~500" in lines[2] and "unpriced" in lines[2]  # estimated and unpriced are marked
    assert "error: RateLimitError" in lines[3]


def test_calls_json_lines_and_filters(url: str) -> None:
    out = run("calls", "--store", url, "--agent", "router", "--format", "json").stdout
    calls = [Call.from_dict(json.loads(line)) for line in out.splitlines()]
    assert [c.id for c in calls] == ["c1", "c4", "c5"]
    rows = list(csv.DictReader(io.StringIO(run("calls", "--store", url, *MARCH, "-f", "csv").stdout)))
    assert [r["id"] for r in rows] == ["c1", "c2", "c3", "c4", "c5"] and list(rows[0]) == list(EXPORT_FIELDS)


def test_calls_follow_prints_new_calls_once(url: str) -> None:
    def write_later() -> None:
        time.sleep(1.5)  # after the listing, even on a busy machine
        now = datetime.now(timezone.utc)
        store = open_store(url)
        try:
            store.write(
                [
                    Call(
                        id="new-1",
                        started_at=now - timedelta(seconds=1),
                        model="gpt-4o",
                        agent="late",
                        input_tokens=7,
                        output_tokens=3,
                        cost_usd=Decimal("0.0001"),
                    )
                ]
            )
            # a long call stored after it ended: started before the newest call already shown
            store.write(
                [
                    Call(
                        id="new-2",
                        started_at=now - timedelta(minutes=5),
                        model="gpt-4o",
                        agent="slow",
                        input_tokens=7,
                        output_tokens=3,
                        cost_usd=Decimal("0.0001"),
                    )
                ]
            )
        finally:
            store.close()

    writer = threading.Thread(target=write_later)
    writer.start()
    try:
        result = run(
            "calls", "--store", url, "--follow", "--interval", "0.1", "--max-polls", "35", "-n", "2", "--format", "json"
        )
    finally:
        writer.join()
    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert ids[:2] == ["c4", "c5"] and sorted(ids[2:]) == ["new-1", "new-2"]  # each new call once


def test_calls_follow_does_not_reprint_calls_stored_before_it_started(url: str) -> None:
    # Calls of the last minutes that the listing (-n 2) did not show were printed by the first poll as new.
    now = datetime.now(timezone.utc)
    earlier = [
        Call(id=f"old-{i}", started_at=now - timedelta(minutes=14, seconds=-i), model="gpt-4o", agent="before")
        for i in range(5)
    ]
    seed(url, earlier)

    def write_later() -> None:
        time.sleep(1.5)  # after the listing, even on a busy machine
        seed(url, [Call(id="after-1", started_at=datetime.now(timezone.utc) - timedelta(minutes=3), model="m")])

    writer = threading.Thread(target=write_later)
    writer.start()
    try:
        result = run("calls", "--store", url, "--follow", "--interval", "0.1", "--max-polls", "35", "-n", "2",
                     "--format", "json")  # fmt: skip
    finally:
        writer.join()
    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert ids == ["old-3", "old-4", "after-1"]  # the listing, then only the call written after the start


def test_watch_renders_frames(url: str) -> None:
    now = datetime.now(timezone.utc)
    seed(
        url,
        [
            Call(
                id="w1",
                started_at=now - timedelta(seconds=10),
                model="gpt-4o",
                agent="live",
                input_tokens=600,
                output_tokens=60,
                cost_usd=Decimal("0.12"),
                duration_ms=900.0,
            )
        ],
    )
    result = run("watch", "--store", url, "--interval", "0", "--iterations", "2", "--tz", "UTC")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "tokentrail watch — today (UTC)" in out
    assert "$0.12" in out and "660" in out and "gpt-4o" in out and "live" in out
    assert "11.0" in out  # 660 tokens over the last 60 s
    assert "\x1b[" not in out


def test_export_csv_has_every_field(url: str, tmp_path: Path) -> None:
    result = run("export", "--store", url, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == list(EXPORT_FIELDS)
    assert [r["id"] for r in rows] == ["c1", "c2", "c3", "c4", "c5"]  # oldest first
    assert rows[0]["labels"] == '{"team": "search"}' and rows[3]["cost_usd"] == "" and rows[4]["success"] == "false"


def test_export_jsonl_round_trips(url: str, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    result = run("export", "--store", url, "-f", "jsonl", "--output", str(target), "--agent", "writer")
    assert result.exit_code == 0 and "exported 2 call(s)" in result.stderr
    back = [Call.from_dict(json.loads(line)) for line in target.read_text().splitlines()]
    assert back == [c for c in KNOWN if c.agent == "writer"]


def test_export_parquet(url: str, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    target = tmp_path / "out.parquet"
    assert run("export", "--store", url, "--format", "parquet", "-o", str(target)).exit_code == 0
    table = pq.read_table(target)
    assert table.num_rows == 5 and table.column_names == list(EXPORT_FIELDS)
    assert table.column("cost_usd").to_pylist()[0] == Decimal("0.0045")
    assert table.column("labels").to_pylist()[0] == [("team", "search")]


def test_export_parquet_without_pyarrow_is_a_clear_error(url: str, tmp_path: Path) -> None:
    try:
        import pyarrow  # noqa: F401 - only probing whether it is installed
    except ImportError:
        pass
    else:
        pytest.skip("pyarrow is installed")
    result = run("export", "--store", url, "--format", "parquet", "-o", str(tmp_path / "x.parquet"))
    assert result.exit_code == 1 and "pip install 'tokentrail[parquet]'" in result.stderr


def test_prune_dry_run_confirm_and_yes(url: str) -> None:
    dry = run("prune", "--older-than", "2025-03-12", "--tz", "UTC", "--dry-run", "--store", url)
    assert dry.exit_code == 0 and dry.stdout.startswith("would delete 3 call(s) older than 2025-03-12 00:00 UTC")
    declined = run("prune", "--older-than", "2025-03-12", "--tz", "UTC", "--store", url, input="n\n")
    assert declined.exit_code == 1 and "aborted" in declined.stderr
    assert len(run("calls", "--store", url, "-f", "json").stdout.splitlines()) == 5
    done = run("prune", "--older-than", "2025-03-12", "--tz", "UTC", "--yes", "--store", url)
    assert done.exit_code == 0 and done.stdout.startswith("deleted 3 call(s)")
    left = [json.loads(line)["id"] for line in run("calls", "--store", url, "-f", "json").stdout.splitlines()]
    assert left == ["c4", "c5"]
    again = run("prune", "--older-than", "30d", "--yes", "--store", url)
    assert again.exit_code == 0 and "deleted 2 call(s)" in again.stdout
    assert "nothing to delete" in run("prune", "--older-than", "30d", "--store", url).stdout


def test_prune_rejects_a_future_or_bad_age(url: str) -> None:
    assert run("prune", "--older-than", "2999-01-01", "--store", url).exit_code == 1
    bad = run("prune", "--older-than", "soon", "--store", url)
    assert bad.exit_code == 1 and "--older-than 'soon' is not a date" in bad.stderr


def test_watch_frame_renders_with_rich() -> None:
    from rich.console import Console

    from tokentrail.analysis import summary
    from tokentrail.cli.watch import render_frame

    now = datetime(2025, 3, 12, 10, 0, 30, tzinfo=timezone.utc)
    store = open_store("memory://")
    store.write(KNOWN)
    window = summary(store=store, since="2025-03-01", until="2025-03-31", tz="UTC", now=now)
    rate = summary(store=store, since=now - timedelta(seconds=60), tz="UTC", now=now)
    frame = render_frame(window, rate, list(reversed(KNOWN[-2:])), store_url="memory://", now=now)
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(frame)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    lines = text.splitlines()
    assert lines[0].startswith("╭─ tokentrail watch — custom (UTC) · memory://")
    assert "10:00:30 · rates over the last 60 s · Ctrl-C to stop" in lines[-1]
    assert "~7,450" in text and "$0.025 (+1 unpriced)" in text  # totals, estimate and unpriced marked
    assert "1.7" in text  # 100 tokens in the last 60 s (the failed call at 10:00)
    assert "error: RateLimitError" in text and "unpriced" in text
    bars = [line for line in lines if "█" in line]
    assert bars[0].split()[1] == "gpt-4o" and len(bars) == 4


def test_export_rows_are_exactly_call_to_dict() -> None:
    from decimal import Decimal

    from tokentrail.analysis.export import plain
    from tokentrail.formatting import money_text

    for call in KNOWN:
        expected = {k: money_text(Decimal(v)) if k.endswith("cost_usd") and v is not None else v
                    for k, v in call.to_dict().items()}  # fmt: skip  # money as canonical text, the same value
        assert plain(call) == expected
        assert list(plain(call)) == list(EXPORT_FIELDS)


def _cli(*args: str) -> list[str]:
    """A real `tokentrail` process (pipes and exit statuses as a shell sees them), this tree's sources first."""
    import sys

    return [sys.executable, "-c", "import sys; from tokentrail.cli import main; sys.exit(main())", *args]


def _env() -> dict[str, str]:
    import os

    import tokentrail

    src = str(Path(tokentrail.__file__).parent.parent)
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.mark.parametrize("args", [["export"], ["export", "-f", "csv"], ["calls", "-n", "3000"]])
def test_a_reader_that_leaves_early_is_not_an_error(tmp_path: Path, args: list[str]) -> None:
    # `tokentrail export | head -1`: more output than a pipe holds, and the reader closes after one line.
    import subprocess

    at = datetime(2025, 3, 1, tzinfo=timezone.utc)
    url = seed(store_url(tmp_path), [Call(id=f"p{i:05d}", started_at=at + timedelta(seconds=i), model="m" * 200)
                                     for i in range(3000)])  # fmt: skip
    proc = subprocess.Popen([*_cli(*args, "--store", url)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    assert proc.stdout is not None and proc.stderr is not None
    with proc.stdout, proc.stderr:
        first = proc.stdout.readline()
        proc.stdout.close()  # what head does after its line
        err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and err == b"" and first


def test_a_failed_parquet_export_leaves_no_file(url: str, tmp_path: Path) -> None:
    # pyarrow made unimportable in a real process: the export fails, and neither an empty file nor a partial
    # one is left; a file already there is untouched.
    import subprocess
    import sys

    code = "import sys; sys.modules['pyarrow'] = None; from tokentrail.cli import main; sys.exit(main())"
    target, kept = tmp_path / "new.parquet", tmp_path / "kept.parquet"
    kept.write_bytes(b"an earlier export")
    for path in (target, kept):
        done = subprocess.run([sys.executable, "-c", code, "export", "--store", url, "-f", "parquet", "-o", str(path)],
                              capture_output=True, text=True, env=_env(), timeout=60)  # fmt: skip
        assert done.returncode == 1 and "pip install 'tokentrail[parquet]'" in done.stderr, done.stderr
    assert not target.exists() and kept.read_bytes() == b"an earlier export"
    assert sorted(p.name for p in tmp_path.iterdir() if "parquet" in p.name) == ["kept.parquet"]


def test_export_to_a_file_replaces_it_whole(url: str, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("stale\n" * 100)
    result = run("export", "--store", url, "-o", str(target))
    assert result.exit_code == 0 and result.stderr == f"exported 5 call(s) to {target}\n"
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == ["c1", "c2", "c3", "c4", "c5"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
