"""Shared helpers of the bench/ scripts: `--quick` and `--json`, medians with min-max, and one output shape.

Every script builds a `Report`, adds figures to it, and calls `finish()`:

- without `--json` each figure is printed as it is measured, one readable line each;
- with `--json` nothing else is printed on stdout, and `finish()` prints ONE JSON object:
  `{"script": ..., "quick": ..., "figures": {key: {"median", "min", "max", "runs", "unit", "label"}}, "notes": [...]}`
  which `bench/run_all.py` collects.

A figure is always several runs summarised as the median with the min-max range, because the machine is
shared: a single run says little.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
"""Git-ignored: cached generated databases and scratch files."""
PEER_PYTHON = ROOT / ".bench-venv" / "bin" / "python"
"""The peers' own environment, made by `bench/setup_peers.sh`."""
NOT_INSTALLED = "not installed — run bench/setup_peers.sh"


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the two flags every bench script takes."""
    p = argparse.ArgumentParser(
        description=(description or "").strip().split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="small sizes and few runs: finishes in seconds")
    p.add_argument("--json", action="store_true", help="print one JSON object with the figures, nothing else")
    return p


def summarize(samples: Sequence[float], unit: str, label: str = "", **extra: Any) -> dict[str, Any]:
    """Median and min-max of `samples` (one value per run) as a figure."""
    if not samples:
        raise ValueError(f"no samples for {label or unit}")
    values = [float(v) for v in samples]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
        "unit": unit,
        "label": label,
        **extra,
    }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The `q` quantile (0..1) of already sorted values, nearest rank."""
    if not sorted_values:
        raise ValueError("no values")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


def timed_runs(fn: Callable[[], Any], runs: int, *, warmup: int = 1) -> list[float]:
    """Seconds of each of `runs` calls of `fn`, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def fmt_value(value: float | None, unit: str = "") -> str:
    """A number with a sensible number of digits for its size."""
    if value is None:
        return "—"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def fmt_figure(fig: dict[str, Any]) -> str:
    """`median unit (min–max)` of a figure; a figure without runs is its `text`."""
    if "median" not in fig:
        return str(fig.get("text", "—"))
    unit = fig.get("unit", "")
    if fig.get("runs", 1) <= 1 or fig["min"] == fig["max"]:
        return fmt_value(fig["median"], unit)
    return f"{fmt_value(fig['median'], unit)} ({fmt_value(fig['min'])}–{fmt_value(fig['max'])})"


class Report:
    """The figures of one script run; printed as they come, or as one JSON object at the end."""

    def __init__(self, script: str, args: argparse.Namespace) -> None:
        self.script = Path(script).stem
        self.quick = bool(getattr(args, "quick", False))
        self.as_json = bool(getattr(args, "json", False))
        self.figures: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []

    def add(self, key: str, figure: dict[str, Any]) -> dict[str, Any]:
        """Keep `figure` under `key` (and print it, unless `--json`)."""
        self.figures[key] = figure
        if not self.as_json:
            print(f"  {figure.get('label') or key:<58} {fmt_figure(figure)}", flush=True)
        return figure

    def text(self, key: str, label: str, text: str) -> None:
        """A figure that is not a number (`n/a (not on PyPI)`, `skipped: ...`)."""
        self.add(key, {"text": text, "label": label})

    def note(self, text: str) -> None:
        """A line of context: sizes, versions, caveats."""
        self.notes.append(text)
        if not self.as_json:
            print(text, flush=True)

    def finish(self) -> None:
        if self.as_json:
            print(
                json.dumps({"script": self.script, "quick": self.quick, "figures": self.figures, "notes": self.notes})
            )


@contextlib.contextmanager
def json_figures(script: str, enabled: bool, figures: dict[str, dict[str, Any]], *, quick: bool) -> Iterator[None]:
    """For scripts that print as they go: with `--json`, send their prints to stderr and end with the JSON object.

    The script fills `figures` (key -> `summarize(...)`) while it runs; its readable output is unchanged.
    """
    if not enabled:
        yield
        return
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        yield
    out.write(json.dumps({"script": Path(script).stem, "quick": quick, "figures": figures, "notes": []}) + "\n")
    out.flush()


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def run_json(cmd: Sequence[str], *, timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a bench or peer script that prints one JSON object; on failure an object with `error`."""
    try:
        proc = subprocess.run(
            list(cmd), capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {"error": f"exit {proc.returncode}: {tail[0][:200]}"}
    try:
        data: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        return {"error": f"bad JSON: {exc}"}
    return data


def python_env() -> dict[str, str]:
    """This environment with the bench folder importable and no user tokentrail settings leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENTRAIL_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH), env.get("PYTHONPATH", "")) if p)
    return env


if __name__ == "__main__":  # pragma: no cover - a helper module, not a benchmark
    sys.exit("bench/_timing.py is a helper; run bench/run_all.py or a bench/bench_*.py script")
