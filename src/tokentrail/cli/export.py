"""`tokentrail export`: every stored field of every matching call, streamed to a file or stdout."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..analysis.export import export_calls
from ..errors import ValidationError
from .app import report_command
from .options import ReportOptions

__all__ = ["register"]


class ExportFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


def register(app: typer.Typer) -> None:
    @report_command(
        app,
        "export",
        exclude=("format",),
        short_help="Every stored field as CSV, JSON lines or Parquet.",
        help="Every stored field of every matching call, oldest "
        "first, as CSV, JSON lines or Parquet (needs pyarrow: pip install 'tokentrail[parquet]'). "
        "Streams in constant memory. Default window: everything.",
    )
    def export(
        opts: ReportOptions,
        fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="Output format.")] = ExportFormat.jsonl,
        output: Annotated[
            Path | None,
            typer.Option(
                "--output", "-o", metavar="PATH", show_default=False, help="Write to this file (default: stdout)."
            ),
        ] = None,
    ) -> None:
        with opts.report(default_period=None) as (store, kwargs):
            if output is not None:
                n = _to_file(output, fmt.value, store, kwargs)
                sys.stderr.write(f"exported {n:,} call(s) to {output}\n")
            elif fmt is ExportFormat.parquet:
                if sys.stdout.isatty():
                    raise ValidationError("parquet is binary: write it to a file with --output FILE.parquet")
                export_calls(sys.stdout.buffer, "parquet", store=store, **kwargs)
                sys.stdout.buffer.flush()
            else:
                export_calls(sys.stdout, fmt.value, store=store, **kwargs)
                sys.stdout.flush()


def _to_file(path: Path, fmt: str, store: Any, kwargs: dict[str, Any]) -> int:
    try:
        handle = path.open("wb") if fmt == "parquet" else path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise ValidationError(f"--output={str(path)!r} cannot be written: {exc.strerror}") from None
    with handle:
        return export_calls(handle, fmt, store=store, **kwargs)
