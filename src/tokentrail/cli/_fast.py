"""Answers for the invocations that sit in shell prompts, without importing Typer (≈50 ms on its own).

- `tokentrail`, `tokentrail --help`, `tokentrail -h`: the root help, pre-rendered into `_help_text.py`
  by `scripts/gen_cli_docs.py` (a test checks it is byte-identical to what Typer prints).
- `tokentrail stats …`: parsed here from the same option table the Typer command is built from
  (`options.REPORT_OPTIONS`), then run by the same `stats.run`. Anything this parser does not fully
  understand — `--help`, an unknown or malformed option — returns None and goes to Typer, which
  gives the proper answer or usage error.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from ..errors import TokentrailError
from .options import FORMATS, REPORT_OPTIONS, ReportOptions, speak_flags

__all__ = ["parse_stats", "try_fast"]

_STATS_OWN = {"--top": "top"}


def try_fast(args: list[str]) -> int | None:
    """Run `args` here if it is a fast-path invocation and return the exit status; else None."""
    if not args or args in (["--help"], ["-h"]):
        from ._help_text import ROOT_HELP_TEXT

        sys.stdout.write(ROOT_HELP_TEXT)
        sys.stdout.flush()
        return 0
    if args[0] == "stats":
        parsed = parse_stats(args[1:])
        if parsed is None:
            return None
        opts, period, top = parsed
        return _guarded(opts, period, top)
    return None


def _guarded(opts: ReportOptions, period: str | None, top: int) -> int:
    from .render import error_line
    from .stats import run

    try:
        run(opts, period, top)
    except TokentrailError as exc:
        error_line(speak_flags(str(exc), [flag for spec in REPORT_OPTIONS for flag in spec.flags]))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        from .app import _quiet_broken_pipe

        return _quiet_broken_pipe()
    except Exception as exc:
        from .app import internal_error

        return internal_error(exc)
    return 0


def parse_stats(rest: list[str]) -> tuple[ReportOptions, str | None, int] | None:
    """Parse the arguments after `stats`, or None when Typer should handle them."""
    by_flag = {flag: spec for spec in REPORT_OPTIONS for flag in spec.flags}
    values: dict[str, Any] = {}
    positional: list[str] = []
    top = 5
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            positional.extend(rest[i + 1 :])
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            i += 1
            continue
        flag, eq, value = arg.partition("=")
        if flag not in by_flag and flag not in _STATS_OWN:
            return None
        if not eq:
            if i + 1 >= len(rest):
                return None
            i += 1
            value = rest[i]
        i += 1
        if flag == "--top":
            if not value.isdigit():
                return None
            top = int(value)
            continue
        spec = by_flag[flag]
        if spec.kind == "multi":
            values.setdefault(spec.name, []).append(value)
        elif spec.kind == "int":
            try:
                values[spec.name] = int(value)
            except ValueError:
                return None
        elif spec.kind == "format":
            if value not in FORMATS and value != "compact":  # stats' own extra format
                return None
            values[spec.name] = value
        else:
            values[spec.name] = value
    if len(positional) > 1:
        return None
    fmt = values.pop("format", None) or "table"
    opts = replace(ReportOptions.from_values(values), format=fmt)
    return opts, (positional[0] if positional else None), top
