"""Regenerate the CLI's pre-rendered root help and docs/cli.md from the Typer app's own --help.

    python scripts/gen_cli_docs.py          # rewrite both files
    python scripts/gen_cli_docs.py --check  # exit 1 if either is out of date (CI)

`tests/test_cli_help.py` runs the same check, so a new command or a changed option cannot drift from
the pre-rendered help that `tokentrail --help` prints without importing Typer.
"""

# ruff: noqa: E501 - the JSON shapes table below is Markdown, one row per line

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELP_MODULE = ROOT / "src" / "tokentrail" / "cli" / "_help_text.py"
DOCS = ROOT / "docs" / "cli.md"

JSON_SHAPES = """\
## Output formats

Every report takes `--format table|json|csv` (`-f`). Tables are for people: money with sensible
precision (`$0.000412`, `$1,204.33`), tokens with thousands separators, a leading `~` on token counts
that are estimates, `unpriced` (or `+N unpriced`) where a model has no known price. Colour appears only
on a terminal, never with `NO_COLOR` set or `TERM=dumb`, always with `FORCE_COLOR` set.

JSON is one document (`json.loads` parses it) whose shape is stable:

- Money is a **string** holding the exact decimal in plain notation with at least six places
  (`"cost_usd": "12.041735"`, `"0.00000036"`), the same digits on every store, never a float and never an
  exponent; a group none of whose calls was priced has `"cost_usd": null` (its cost is unknown, not 0).
  Other numbers are JSON numbers in fixed notation (`"cost_share": 0.000079`). In CSV, money is the same text,
  an unknown cost an empty cell, and text that starts with `=`, `+`, `-`, `@`, tab or CR gets a leading `'` so
  a spreadsheet does not run it (plain numbers such as `-5` stay numbers). Tables and CSV show control
  characters in stored values (`user=`, labels, …) as escapes such as `\\x1b`; what is stored is unchanged.
- Times are ISO 8601 with offset; `window` is `{"since", "until", "tz", "label"}` (`null` = open).
- A *totals object* has `calls, errors, error_rate, input_tokens, output_tokens, total_tokens,
  cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated_calls, unpriced_calls, cost_usd,
  avg_duration_ms, avg_ttft_ms, tokens_per_second, first_at, last_at`.

| command | JSON shape |
| --- | --- |
| `stats` | `{"window", "totals": totals, "by_model": [{"model", ...totals, "cost_share"}], "session": {"first_at", "last_at", "duration_s"}}` (`by_model` is complete; `--top` only limits the table) |
| `costs` | `{"window", "by": [dims], "bucket": null or "day", "totals": totals, "rows": [{<dim>: value, ..., "bucket"?, ...totals, "cost_share"}]}` |
| `models`, `agents`, `users`, `projects`, `sessions` | as `costs` with one dimension, each row also has `"avg_cost_usd"` (cost of the priced calls / their number); `--top` limits the rows |
| `performance` | `{"window", "overall": row or null, "by_model": [row], "by_operation": [row]}`, row = `{<dim>?, "calls", "avg_ms", "p50_ms", "p95_ms", "p99_ms", "avg_ttft_ms", "tokens_per_second", "max_relative_error"}` |
| `patterns` | `{"window", "totals", "weekdays": ["Mon", ...], "hours": [0..23], "calls": [[24 ints] x 7], "tokens": [[...]], "cost_usd": [[strings]], "peak": {"weekday", "hour", "calls"} or null, "busiest_day": {"date", ...totals} or null, "costliest_day", "days": [{"date", ...totals}], "operations": [{"operation", ...totals, "call_share"}]}` |
| `calls` | one JSON object per line (JSON lines), each a stored call with every field (as `export --format jsonl`) |
| `count` | `{"model", "source", "characters", "tokens", "exact", "method", "input_cost_usd", "provider", "context_window", "context_share"}` |
| `price` / `prices` | a model object / a list of them: `{"id", "name", "provider_id", "context_window", "input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok", "cache_write_1h_per_mtok", "tiered", "price_source"}` (prices per million tokens, as strings) |
| `config` | `{"file", "settings": [{"name", "value", "source", "env"}]}` |

CSV always starts with a header row; money is the exact decimal text. `stats` gives one row (window,
totals, session duration); `costs` and the dimension commands one row per group; `performance` one row
per scope (`overall`, `model`, `operation`); `patterns` one row per weekday and hour (168 rows);
`calls` and `export` every stored field (labels as JSON text).

## Exit status

`0` success; `1` an error (bad date, unknown dimension, unknown time zone, unreadable store, a store
written by a newer tokentrail, …) shown as one line on stderr; `2` a usage error (unknown option,
missing argument, a value of the wrong type); `130` interrupted.
"""


def _help(command: object, path: list[str]) -> str:
    from typer import _click as click  # noqa: F401 - the vendored click types the contexts below

    ctx = command.make_context("tokentrail", list(path), resilient_parsing=True)  # type: ignore[attr-defined]
    for name in path:
        sub = ctx.command.get_command(ctx, name)  # type: ignore[attr-defined]
        ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
    return str(ctx.get_help())


def render() -> tuple[str, str]:
    """(the `_help_text.py` module source, the docs/cli.md text)."""
    import typer.main

    from tokentrail.cli import build_app

    command = typer.main.get_command(build_app())
    root = _help(command, []) + "\n"
    lines = "".join(f"    {json.dumps(line, ensure_ascii=False)}\n" for line in root.splitlines(keepends=True))
    module = (
        '"""The root help, pre-rendered by scripts/gen_cli_docs.py (do not edit; a test checks it)."""\n\n'
        f"ROOT_HELP_TEXT = (\n{lines})\n"
    )
    ctx = command.make_context("tokentrail", [], resilient_parsing=True)
    names = [n for n in command.list_commands(ctx) if not command.get_command(ctx, n).hidden]  # type: ignore[attr-defined]
    parts = [
        "# The `tokentrail` command\n",
        "Generated from `--help` by `scripts/gen_cli_docs.py`; do not edit by hand.\n",
        "```text\n$ tokentrail --help\n" + root + "```\n",
        JSON_SHAPES,
        "## Commands\n",
    ]
    for name in names:
        parts.append(f"### `tokentrail {name}`\n\n```text\n$ tokentrail {name} --help\n{_help(command, [name])}\n```\n")
    return module, "\n".join(parts)


def _help_value(source: str) -> str:
    namespace: dict[str, str] = {}
    exec(compile(source, "_help_text.py", "exec"), namespace)
    return namespace["ROOT_HELP_TEXT"]


def main(argv: list[str]) -> int:
    module, docs = render()
    if "--check" in argv:
        stale = [str(DOCS)] if not DOCS.exists() or DOCS.read_text(encoding="utf-8") != docs else []
        if _help_value(HELP_MODULE.read_text(encoding="utf-8")) != _help_value(module):
            stale.append(str(HELP_MODULE))
        if stale:
            print(f"out of date: {', '.join(stale)}; run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    HELP_MODULE.write_text(module, encoding="utf-8")
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(docs, encoding="utf-8")
    print(f"wrote {HELP_MODULE.relative_to(ROOT)} and {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
