"""The root Typer app, its error handling, and `report_command`, which gives a command the shared options.

Errors never show a traceback: a `TokentrailError` is one red line on stderr and exit status 1, worded in
the flags of the command that was run (`--since 'x'`, not the library's `since='x'`); a usage error
(unknown option, bad number) is one red line and exit status 2.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ..errors import TokentrailError
from .options import REPORT_OPTIONS, ReportOptions, speak_flags
from .render import error_line

__all__ = ["HELP_WIDTH", "OutputFormat", "make_app", "report_command"]

HELP_WIDTH = 78
"""Help is always laid out for 78 columns, so the pre-rendered root help is byte-identical to Typer's."""

ROOT_HELP = """Record every LLM call, then see what it cost, where, on what, and how fast.

Reports read the store named by --store, TOKENTRAIL_STORE, the config file, or the default SQLite store in
TOKENTRAIL_HOME. Every report takes --since/--until/--days/--period, --model, --provider, --agent,
--user, --project, --label KEY=VALUE, --tz and --format table|json|csv.
"""


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class TokentrailGroup(TyperGroup):
    """The root group: turns every error into one red line and an exit status, never a traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        code = self._run(args, complete_var, windows_expand_args=windows_expand_args, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # here, before Click turns it into a silent exit status 1
            return _quiet_broken_pipe()

    def _run(self, args: Sequence[str] | None, complete_var: str | None, **extra: Any) -> int:
        try:
            rv = super().main(args, "tokentrail", complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # Click's usage and parameter errors (exit status 2)
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            error_line(_message(exc) + hint)
            return int(getattr(exc, "exit_code", 2))
        except typer.Abort:
            error_line("aborted")
            return 1
        except KeyboardInterrupt:
            sys.stderr.write("\n")
            return 130
        except TokentrailError as exc:
            error_line(speak_flags(str(exc), _flags_of(self, sys.argv[1:] if args is None else args)))
            return 1
        except BrokenPipeError:
            return _quiet_broken_pipe()
        except Exception as exc:
            return internal_error(exc)
        return rv if isinstance(rv, int) else 0


def _flags_of(group: Any, args: Sequence[str]) -> set[str]:
    """The long flags of the (sub)command that `args` invoke, e.g. `budget set` -> {"--limit-usd", ...}."""
    command = group
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("-"):
            continue
        sub = (getattr(command, "commands", None) or {}).get(arg)
        if sub is None:
            break
        command = sub
    return {flag for p in command.params for flag in p.opts if flag.startswith("--")}


def internal_error(exc: Exception) -> int:
    """A bug or an unexpected failure: one line naming it (re-raised under pytest so tests see it)."""
    import os

    if "PYTEST_CURRENT_TEST" in os.environ:
        raise exc
    error_line(f"unexpected {type(exc).__name__}: {exc} (a bug in tokentrail? please report it)")
    return 1


def _message(exc: BaseException) -> str:
    format_message = getattr(exc, "format_message", None)
    return str(format_message() if callable(format_message) else exc)


def _quiet_broken_pipe() -> int:
    # `tokentrail export | head -1`: the reader took what it wanted and left. That is not a failure (exit 0,
    # so `set -o pipefail` scripts pass); say nothing, and keep Python from complaining at exit.
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 0


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"tokentrail {version('tokentrail')}")
        raise typer.Exit()


def make_app() -> typer.Typer:
    """The root app with no commands yet (`tokentrail.cli.COMMANDS` registers them)."""
    app = typer.Typer(
        name="tokentrail",
        cls=TokentrailGroup,
        help=ROOT_HELP,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={
            "help_option_names": ["-h", "--help"],
            "terminal_width": HELP_WIDTH,
            "max_content_width": HELP_WIDTH,
        },
        invoke_without_command=True,
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        version: Annotated[
            bool, typer.Option("--version", help="Show the version and exit.", callback=_version, is_eager=True)
        ] = False,
    ) -> None:
        if ctx.invoked_subcommand is None:
            typer.echo(ctx.get_help())

    return app


def _typer_param(spec: Any) -> inspect.Parameter:
    if spec.kind == "multi":
        annotation: Any = list[str] | None
    elif spec.kind == "int":
        annotation = int | None
    elif spec.kind == "format":
        annotation = OutputFormat
    else:
        annotation = str | None
    default: Any = OutputFormat.table if spec.kind == "format" else None
    option = typer.Option(
        *spec.flags, help=spec.help, metavar=spec.metavar if spec.kind != "format" else None, show_default=False
    )
    return inspect.Parameter(
        spec.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[annotation, option]
    )


def report_command(app: typer.Typer, name: str, *, exclude: Sequence[str] = (), **command: Any) -> Callable[..., Any]:
    """Register `fn(opts: ReportOptions, **own)` as command `name`, adding the shared report options.

    Args:
        app: the root app.
        name: the command's name.
        exclude: shared options this command does not take (e.g. `("format",)` when it has its own).
        **command: passed to `app.command` (`help=`, `hidden=`, …).
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "opts"]
        specs = [s for s in REPORT_OPTIONS if s.name not in exclude]
        params = own + [_typer_param(s) for s in specs]

        def command_body(**kwargs: Any) -> Any:
            values = {s.name: kwargs.pop(s.name) for s in specs}
            return fn(ReportOptions.from_values(values), **kwargs)

        command_body.__signature__ = sig.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
        command_body.__annotations__ = {p.name: p.annotation for p in params}
        command_body.__doc__ = fn.__doc__
        command_body.__name__ = name.replace("-", "_")
        app.command(name, **command)(command_body)
        return fn

    return decorate
