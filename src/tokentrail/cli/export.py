"""`tokentrail export`: every stored field of every matching call, streamed to a file or stdout."""

from __future__ import annotations

import contextlib
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
    """Export into a temporary file beside `path`, renamed over it only when the export succeeded.

    A failed export (pyarrow missing, a store error, Ctrl-C) leaves no empty or partial file, and an existing
    `path` untouched.
    """
    import os
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise ValidationError(f"--output={str(path)!r} cannot be written: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") if fmt == "parquet" else open(fd, "w", encoding="utf-8", newline="") as handle:
            n = export_calls(handle, fmt, store=store, **kwargs)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; give it the mode a plain open() would
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return n


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
