"""The command as a whole: help for every command, the pre-rendered help and the fast stats path match
Typer exactly, errors are one line with the right exit status, colour only where it belongs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from test_cli_helpers import MARCH, run, seed, store_url
from tokentrail.cli import COMMANDS, build_app, main
from tokentrail.cli._fast import parse_stats
from tokentrail.cli._help_text import ROOT_HELP_TEXT
from tokentrail.cli.options import REPORT_OPTIONS

ROOT = Path(__file__).resolve().parent.parent


def _command_names() -> list[str]:
    group = typer.main.get_command(build_app())
    ctx = group.make_context("tokentrail", [], resilient_parsing=True)
    return list(group.list_commands(ctx))  # type: ignore[attr-defined]


def test_every_command_module_registers_something() -> None:
    names = _command_names()
    assert len(names) >= len(COMMANDS)
    assert {
        "stats",
        "costs",
        "models",
        "agents",
        "users",
        "projects",
        "sessions",
        "performance",
        "patterns",
        "calls",
        "watch",
        "count",
        "price",
        "prices",
        "export",
        "prune",
        "config",
        "demo",
    } <= set(names)


@pytest.mark.parametrize("name", _command_names())
def test_every_command_has_help(name: str) -> None:
    result = run(name, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: tokentrail {name} ")
    body = result.stdout.split("\n\n")[1].strip()
    assert len(body) > 20, f"{name} has no help text"
    for line in result.stdout.splitlines():
        if line.startswith("  -") and "--help" not in line:
            assert len(line.split("  ")) > 1  # every option is described


def test_pre_rendered_root_help_is_typers_help(capsys: pytest.CaptureFixture[str]) -> None:
    typer_help = run("--help")
    assert typer_help.exit_code == 0
    assert typer_help.stdout == ROOT_HELP_TEXT
    assert run().stdout == ROOT_HELP_TEXT  # no arguments: the same help, exit 0
    for argv in ([], ["--help"], ["-h"]):
        assert main(argv) == 0
        assert capsys.readouterr().out == ROOT_HELP_TEXT


def test_generated_docs_are_up_to_date() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_fast_stats_parser_knows_exactly_the_typer_options() -> None:
    group = typer.main.get_command(build_app())
    ctx = group.make_context("tokentrail", [], resilient_parsing=True)
    stats = group.get_command(ctx, "stats")  # type: ignore[attr-defined]
    typer_flags = {flag for p in stats.params for flag in p.opts if flag.startswith("-")} - {"-h", "--help"}
    fast_flags = {flag for spec in REPORT_OPTIONS for flag in spec.flags} | {"--top"}
    assert typer_flags == fast_flags


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "all"],
        ["stats", "--period", "all", "-f", "json"],
        ["stats", *MARCH, "--tz", "America/New_York", "--format", "csv"],
        ["stats", "all", "--agent", "router", "--label", "team=search", "--top", "1"],
        ["stats", "all", "--model=gpt-4o", "--format=json"],
        ["stats", "week", "--days", "3"],  # an error, the same way
        ["stats", "all", "--tz", "Nowhere/Land"],
    ],
)
def test_fast_stats_path_prints_what_typer_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    url = seed(store_url(tmp_path))
    argv = [*args, "--store", url]
    assert parse_stats(argv[1:]) is not None  # really the fast path
    fast_code = main(argv)
    fast = capsys.readouterr()
    slow_code = typer.main.get_command(build_app()).main(argv, standalone_mode=False)
    slow = capsys.readouterr()
    assert (fast_code, fast.out, fast.err) == (slow_code, slow.out, slow.err)


def test_fast_stats_parser_leaves_the_unusual_to_typer() -> None:
    for rest in (["--help"], ["--bogus"], ["--days", "x"], ["--top", "-1"], ["a", "b"], ["--since"], ["-f", "xml"]):
        assert parse_stats(rest) is None, rest


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["costs", "--by", "colour"], 1, "--by 'colour' is not a dimension. Did you mean the label 'label:colour'?"),
        (["stats", "--since", "2025-13-45"], 1, "--since '2025-13-45' is not a date"),
        (["costs", "--since", "yesterday-ish"], 1, "--since 'yesterday-ish' is not a date"),
        (["stats", "--tz", "Mars/Olympus"], 1, "--tz 'Mars/Olympus'"),
        (["costs", "--tz", "Mars/Olympus"], 1, "--tz 'Mars/Olympus'"),
        (["stats", "--label", "team"], 1, "--label='team' is not valid: expected KEY=VALUE"),
        (["stats", "--store", "ftp://x"], 1, "has unknown scheme 'ftp'"),
        (["stats", "--store", "nothing"], 1, "store URL"),
        (["stats", "week", "--since", "2025-01-01"], 1, "--period 'week' cannot be combined with --since"),
        (["stats", "--bogus"], 2, "No such option: --bogus"),
        (["costs", "--days", "many"], 2, "Invalid value for '--days'"),
        (["nope"], 2, "No such command 'nope'"),
        (["price"], 2, "Missing argument 'MODEL'"),
    ],
)
def test_errors_are_one_line_with_exit_status(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    url = seed(store_url(tmp_path))  # an existing store: a missing one is an error of its own
    if "--store" not in args and args[0] not in ("nope", "price"):
        args = [*args, "--store", url]
    result = run(*args)
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_fast_path_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--since", "2025-13-45", "--store", seed(store_url(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("Error: --since '2025-13-45' is not a date")


def test_unreadable_store_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    url = f"sqlite:///{blocker}/x.db" if "sqlite" in store_url(tmp_path) else f"jsonl://{blocker}/store"
    result = run("stats", "all", "--store", url)
    assert result.exit_code == 1 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_sqlite_store_of_a_newer_schema_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")
    conn.close()
    for argv in (["stats", "--store", f"sqlite:///{path}"], ["costs", "--store", f"sqlite:///{path}"]):
        assert main(argv) == 1  # the fast path and Typer alike
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("Error: ") and "999" in err, err


@pytest.mark.postgres
def test_store_of_a_newer_schema_is_one_line(pg_url: str) -> None:
    import psycopg

    from tokentrail.store import open_store

    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tokentrail.schema_version (version, name) VALUES (999, 'm999_from_the_future')")
    result = run("stats", "--store", pg_url)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "newer than this tokentrail knows" in result.stderr


def test_colour_only_when_asked_and_never_with_no_color(tmp_path: Path) -> None:
    url = seed(store_url(tmp_path))
    plain = run("costs", "--store", url, *MARCH)
    forced = run("costs", "--store", url, *MARCH, env={"FORCE_COLOR": "1"})
    assert "\x1b[" not in plain.stdout and "\x1b[" in forced.stdout
    no_color = run("costs", "--store", url, *MARCH, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert no_color.stdout == plain.stdout
    err = run("costs", "--by", "colour", "--store", url, env={"FORCE_COLOR": "1"})
    assert err.stderr.startswith("\x1b[31mError:")
    assert "\x1b[" not in run("costs", "--by", "colour", "--store", url, env={"NO_COLOR": "1"}).stderr


def test_json_output_is_parseable_for_every_report(tmp_path: Path) -> None:
    url = seed(store_url(tmp_path))
    for command in ("stats", "costs", "models", "agents", "users", "projects", "sessions", "performance", "patterns"):
        result = run(command, "--store", url, *MARCH, "--format", "json")
        assert result.exit_code == 0, (command, result.output)
        assert "window" in json.loads(result.stdout), command


def test_python_dash_m_and_console_script(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tokentrail", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == ROOT_HELP_TEXT
    done = subprocess.run([sys.executable, "-m", "tokentrail", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("tokentrail ")


@pytest.mark.parametrize("args", [["--help"], [], ["stats"], ["stats", "week", "--format", "json"]])
def test_prompt_paths_import_no_heavy_module(tmp_path: Path, args: list[str]) -> None:
    url = seed(store_url(tmp_path))
    argv = args + (["--store", url] if args[:1] == ["stats"] else [])
    code = (
        "import sys; from tokentrail.cli import main; main(sys.argv[1:]);"
        "heavy = [m for m in ('typer', 'rich', 'genai_prices', 'tiktoken') if m in sys.modules];"
        "print(heavy, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
