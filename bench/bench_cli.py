"""How fast is the `tokentrail` command where it matters (shell prompts), and how much memory does an export take?

    python bench/bench_cli.py            # 1,000,000-call store, 20 runs each
    python bench/bench_cli.py --quick    # 20,000-call store, 10 runs each

Prints the median (min–max) wall time, and the median CPU time (user + system, steadier on a busy machine), of
whole processes: `python -c pass` for reference,
`tokentrail --help`, `tokentrail stats today` on an empty store and on a large store (built with the
store's `write()` in batches from a seeded generator, spread over the last 90 days), and the peak memory
(ru_maxrss of the child) of `tokentrail export --format jsonl` of the large store to /dev/null.
Exporting a tenth of the large store is measured too: equal peaks show that memory does not grow with the
number of calls (SQLite's page cache, capped by the store at 64 MiB, is most of it).
Targets: --help <= 100 ms, stats today <= 150 ms empty and <= 200 ms on 1,000,000 calls.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from _timing import json_figures, summarize

FIGURES: dict[str, dict] = {}  # what --json prints: key -> median/min/max of the runs

MODELS = [
    ("openai", "gpt-4o", "2.5", "10"),
    ("openai", "gpt-4o-mini", "0.15", "0.6"),
    ("anthropic", "claude-sonnet-4", "3", "15"),
    ("google", "gemini-2.0-flash", "0.1", "0.4"),
]
AGENTS = ("router", "researcher", "writer", "coder", "reviewer")


CPU: dict[int, float] = {}  # id(times) -> median CPU ms of the same runs


def _timed(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    """Wall milliseconds of `runs` runs (after one warm-up); their median CPU time is kept in CPU."""
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)  # warm up
    times, cpu = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        times.append((time.perf_counter() - start) * 1000)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"{' '.join(cmd)} failed")
        cpu.append((usage.ru_utime + usage.ru_stime) * 1000)
    CPU[id(times)] = statistics.median(cpu)
    return times


def _line(label: str, times: list[float], key: str | None = None) -> None:
    if key:
        FIGURES[key] = summarize(times, "ms", label)
    cpu = CPU.get(id(times))
    tail = f"  cpu {cpu:6.1f} ms" if cpu is not None else ""
    print(f"  {label:<44} {statistics.median(times):7.1f} ms  ({min(times):.1f}–{max(times):.1f}){tail}", flush=True)


def _peak_rss(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(peak resident memory in MiB, wall seconds) of one run of `cmd`, output to /dev/null."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(cmd, env=env, stdout=devnull, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed with status {proc.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def build_store(url: str, n: int, *, seed: int = 42, days: int = 90, batch: int = 10_000) -> float:
    """Write `n` calls spread over the last `days` days into the store at `url`; returns seconds taken."""
    from tokentrail.model import Call, new_call_id
    from tokentrail.store import open_store

    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    span = days * 86400
    store = open_store(url)
    start = time.perf_counter()
    try:
        done = 0
        while done < n:
            calls = []
            for _ in range(min(batch, n - done)):
                provider, model, pin, pout = rng.choice(MODELS)
                at = now - timedelta(seconds=rng.random() * span)
                tin, tout = rng.randint(100, 20_000), rng.randint(10, 2_000)
                cost = (Decimal(pin) * tin + Decimal(pout) * tout) / 1_000_000
                calls.append(
                    Call(
                        id=new_call_id(int(at.timestamp() * 1e9)),
                        started_at=at,
                        model=model,
                        provider=provider,
                        agent=rng.choice(AGENTS),
                        user=f"u-{rng.randrange(50)}",
                        session=f"s-{rng.randrange(5000)}",
                        project="bench",
                        input_tokens=tin,
                        output_tokens=tout,
                        cost_usd=cost,
                        duration_ms=round(rng.uniform(100, 30_000), 1),
                        success=rng.random() > 0.02,
                    )
                )
            store.write(calls)
            done += len(calls)
    finally:
        store.close()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 calls and 10 runs instead of 1,000,000 and 20")
    parser.add_argument("--runs", type=int, default=None, help="runs per timing")
    parser.add_argument("--calls", type=int, default=None, help="calls in the large store")
    parser.add_argument("--kind", choices=("sqlite", "jsonl"), default=None, help="store backend (default: sqlite)")
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="keep the stores in this folder and reuse a large store built there before",
    )
    parser.add_argument("--build", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print one JSON object with the figures (for run_all.py)")
    args = parser.parse_args()
    if args.build:  # in a child process, so the parent stays small (ru_maxrss of a child starts at its parent's)
        print(f"{build_store(args.build[0], int(args.build[1])):.3f}")
        return 0
    with json_figures(__file__, args.json, FIGURES, quick=args.quick):
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    runs = args.runs or (10 if args.quick else 20)
    n = args.calls or (20_000 if args.quick else 1_000_000)
    kind = args.kind
    if kind is None:
        import importlib.util

        kind = "sqlite" if importlib.util.find_spec("tokentrail.store.sqlite") else "jsonl"
    exe = shutil.which("tokentrail", path=str(Path(sys.executable).parent)) or shutil.which("tokentrail")
    if exe is None:
        raise SystemExit("the tokentrail console script is not installed: pip install -e .")
    with tempfile.TemporaryDirectory(prefix="tokentrail-bench-") as tmp:
        home = args.dir or Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKENTRAIL_", "LLM_"))}
        env.update(TOKENTRAIL_HOME=str(home), TOKENTRAIL_TZ="UTC", NO_COLOR="1")

        def url(name: str) -> str:
            return f"sqlite:///{home / (name + '.db')}" if kind == "sqlite" else f"jsonl://{home / name}"

        print(f"tokentrail CLI benchmark — {runs} runs each, {kind} store, Python {sys.version.split()[0]}")
        _line("python -c pass", _timed([sys.executable, "-c", "pass"], env, runs), "python_ms")
        importing = [sys.executable, "-c", "import tokentrail"]
        _line("python -c 'import tokentrail'", _timed(importing, env, runs), "import_ms")
        _line("tokentrail --help", _timed([exe, "--help"], env, runs), "help_ms")
        from tokentrail.store import open_store

        open_store(url("empty")).close()  # reports never create a store: make the empty one they read
        _line(
            "tokentrail stats today (empty store)",
            _timed([exe, "stats", "today", "--store", url("empty")], env, runs),
            "stats_today_empty_ms",
        )
        big = url(f"big-{n}")
        built = home / f"big-{n}.{kind}.done"  # written once the large store is complete
        if args.dir and built.exists():
            print(f"  (reusing the store of {n:,} calls in {home})")
        else:
            for stale in home.glob(f"big-{n}*"):  # an interrupted build: start again
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
            built_by = subprocess.run(
                [sys.executable, __file__, "--build", big, str(n)], env=env, check=True, capture_output=True, text=True
            )
            seconds = float(built_by.stdout.strip())
            built.touch()
            print(f"  (built a store of {n:,} calls in {seconds:.1f} s)")
        _line(
            f"tokentrail stats today ({n:,} calls)",
            _timed([exe, "stats", "today", "--store", big], env, runs),
            "stats_today_big_ms",
        )
        FIGURES["stats_today_big_ms"]["calls"] = n
        bare, _ = _peak_rss([sys.executable, "-c", "pass"], env)
        base, _ = _peak_rss([exe, "stats", "today", "--store", big], env)
        tenth, _ = _peak_rss([exe, "export", "--format", "jsonl", "--days", "9", "--store", big], env)
        peak, wall = _peak_rss([exe, "export", "--format", "jsonl", "--store", big], env)
        print(f"  peak memory, python -c pass                   {bare:7.1f} MiB")
        print(f"  peak memory, stats today                      {base:7.1f} MiB")
        print(f"  peak memory, export --format jsonl --days 9 (~{n // 10:,})  {tenth:7.1f} MiB")
        print(f"  peak memory, export --format jsonl ({n:,})  {peak:7.1f} MiB  ({wall:.1f} s, {n / wall:,.0f} calls/s)")
        FIGURES["export_peak_mib"] = summarize([peak], "MiB", f"peak memory, export --format jsonl ({n:,} calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
