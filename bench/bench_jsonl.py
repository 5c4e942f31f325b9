"""JSONL store: ingest calls/s through `JsonlStore.write`, next to the raw ceiling of appending the same bytes.

    python bench/bench_jsonl.py [--quick] [--json] [--calls N]

Figures (median of several runs, min-max in brackets; each run writes into a fresh folder):

- `write()`: `JsonlStore.write` in batches of 1,000 Calls (dedupe index, encoding, one `os.write` per
  day file, summary.json replaced per batch);
- raw ceiling: the very lines `write()` produces, encoded beforehand, appended with one `os.write` per
  1,000-line batch to one `O_APPEND` file: the least any code could do for the same bytes;
- encoding alone: `encode_calls` on the batches, and `Call.to_dict()` + `json.dumps` per call for
  comparison;
- reads: `calls()` (newest first, one day sorted at a time) and `aggregate(by=model, bucket=day)`.

The machine is shared, so ingest figures are given twice: wall-clock calls/s, and calls per CPU-second
of this process (`time.process_time`), which the neighbours disturb much less. Calls come from
`make_calls`, the shared seeded generator of `bench/_data.py` (15 models, 5,000 users, labels, cache
and reasoning tokens, errors; priced by tokentrail).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _data import calls as _generate
from _timing import Report, machine, parser, summarize

from tokentrail.model import Call
from tokentrail.store.base import Filter
from tokentrail.store.jsonl import JsonlStore, encode_calls

BATCH = 1_000
SEED = 42


def make_calls(n: int, seed: int = SEED) -> list[Call]:
    """`n` calls, the same for the same `seed`, over the three days before `_data.END`."""
    return _generate(n, seed=seed, days=3)


def runs(fn: Callable[[Path], None], count: int) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds) of `fn(fresh empty folder)`, `count` times after one warm-up."""
    wall, cpu = [], []
    for i in range(count + 1):
        folder = Path(tempfile.mkdtemp(prefix="tt-bench-jsonl-"))
        try:
            w, c = time.perf_counter(), time.process_time()
            fn(folder)
            if i:  # the first run warms caches and the page cache
                wall.append(time.perf_counter() - w)
                cpu.append(time.process_time() - c)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return wall, cpu


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--calls", type=int, help="calls per run (default 200,000; 20,000 with --quick)")
    args = p.parse_args()
    report = Report(__file__, args)
    n = args.calls or (20_000 if args.quick else 200_000)
    count = 3 if args.quick else 7
    calls = make_calls(n)
    chunks = [calls[i : i + BATCH] for i in range(0, n, BATCH)]
    lines = [encode_calls(b).encode("ascii") for b in chunks]
    m = machine()
    report.note(
        f"jsonl: {n:,} calls per run in batches of {BATCH:,}, {sum(map(len, lines)) / n:.0f} bytes a line, "
        f"{count} runs per figure; {m['cpus']} CPUs ({m['cpu']}), Python {m['python']}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    def store_write(folder: Path) -> None:
        with JsonlStore(folder / "store") as store:
            for b in chunks:
                store.write(b)

    def raw_write(folder: Path) -> None:
        fd = os.open(folder / "raw.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for data in lines:
                os.write(fd, data)
        finally:
            os.close(fd)

    ours_wall, ours_cpu = runs(store_write, count)
    raw_wall, raw_cpu = runs(raw_write, count)
    rate = lambda seconds: [n / s for s in seconds]  # noqa: E731 - a one-line helper
    ours = report.add("write", summarize(rate(ours_wall), "calls/s", "write() (JsonlStore, batches of 1,000)"))
    raw = report.add("raw", summarize(rate(raw_wall), "calls/s", "raw ceiling: os.write of the same lines"))
    report.add("write_cpu", summarize(rate(ours_cpu), "calls/CPU-s", "write(), per CPU-second"))
    report.add("raw_cpu", summarize(rate(raw_cpu), "calls/CPU-s", "raw ceiling, per CPU-second"))
    report.note(f"write() runs at {ours['median'] / raw['median']:.0%} of the raw ceiling (wall-clock medians)")

    encode_wall, _ = runs(lambda _: [encode_calls(b) for b in chunks], count)
    report.add("encode", summarize(rate(encode_wall), "calls/s", "encode_calls alone"))
    few = calls[: min(n, 20_000)]
    dumps_wall, _ = runs(lambda _: [json.dumps(c.to_dict(), separators=(",", ":")) for c in few], count)
    report.add("to_dict", summarize([len(few) / s for s in dumps_wall], "calls/s", "to_dict() + json.dumps alone"))

    folder = Path(tempfile.mkdtemp(prefix="tt-bench-jsonl-"))
    try:
        with JsonlStore(folder / "store") as store:
            for b in chunks:
                store.write(b)
            read_runs = 1 if args.quick else 3
            read = runs(lambda _: sum(1 for _ in store.calls(Filter())), read_runs)[0]
            report.add("read", summarize(rate(read), "calls/s", "calls() (all, newest first)"))
            agg = runs(lambda _: store.aggregate(Filter(), by=["model"], bucket="day"), read_runs)[0]
            report.add("aggregate", summarize(rate(agg), "calls/s", "aggregate(by=model, bucket=day)"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report.finish()


if __name__ == "__main__":
    main()
