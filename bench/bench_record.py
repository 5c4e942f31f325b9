"""What one `record()` costs the caller: p50 and p99 microseconds per call, with the writer running.

    python bench/bench_record.py [--quick] [--json] [--store sqlite|jsonl|memory]

A `Tracker` on a SQLite store in a temporary folder records calls from `bench/_data.py`; each call is
timed on its own (`time.perf_counter_ns` around it), while the writer thread prices and writes the
earlier ones to the store (it drains every 20 ms here, so it is busy during the timed loop: the
caller pays for sharing the GIL with it, the worst case). Per run: p50 and p99 of every call; per figure: the
median of the runs with the min-max range.

- "README call": `record(model=..., input_tokens=..., output_tokens=..., agent=..., user=...)`;
- "capture call": every field an instrumented SDK call hands over (provider, timings, cache and
  reasoning tokens, finish reason, response id, agent, user, session, labels, outcome, start time);
- raw ceiling: the least any queued recorder can do on the caller's thread — put a tuple of the same
  arguments and a timestamp on a `queue.SimpleQueue`.

The peers (Langfuse, token-calculator) are measured by `bench/peers/record.py` in `.bench-venv`; run
`bench/run_all.py` to see them side by side. The timer itself costs ~0.05-0.1 µs per call, included in
every figure alike.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import queue
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import record_args
from _timing import Report, parser, percentile, summarize

README_FIELDS = ("agent", "user")
WRITER_INTERVAL = 0.02
"""Seconds between the writer's drains: short, so it works *while* the caller records (GIL contention included)."""

Args = list[tuple[str, int, int, dict[str, Any]]]


def latencies_us(record: Any, args: Args) -> list[float]:
    """Microseconds of each `record(model, input, output, **fields)` call, timed one by one, sorted."""
    clock = time.perf_counter_ns
    out = [0] * len(args)
    for k, (model, i, o, fields) in enumerate(args):
        t0 = clock()
        record(model, i, o, **fields)
        out[k] = clock() - t0
    out.sort()
    return [ns / 1000 for ns in out]


def ceiling_us(args: Args) -> list[float]:
    """The same loop, putting `(model, input, output, fields, time_ns())` on a SimpleQueue instead."""
    clock, now, q = time.perf_counter_ns, time.time_ns, queue.SimpleQueue()
    put = q.put
    out = [0] * len(args)
    for k, (model, i, o, fields) in enumerate(args):
        t0 = clock()
        put((model, i, o, fields, now()))
        out[k] = clock() - t0
    out.sort()
    return [ns / 1000 for ns in out]


def timer_floor_us(n: int) -> float:
    clock = time.perf_counter_ns
    out = []
    for _ in range(n):
        t0 = clock()
        out.append(clock() - t0)
    out.sort()
    return out[len(out) // 2] / 1000


def store_url(kind: str, folder: Path) -> str:
    return {"sqlite": f"sqlite:///{folder}/usage.db", "jsonl": f"jsonl:///{folder}/calls", "memory": "memory://"}[kind]


def measure(report: Report, key: str, label: str, args: Args, *, kind: str, runs: int) -> None:
    from tokentrail import Tracker
    from tokentrail.store import open_store

    p50s, p99s, dropped = [], [], 0
    for _ in range(runs):
        folder = Path(tempfile.mkdtemp(prefix="tt-bench-record-"))
        os.environ["TOKENTRAIL_HOME"] = str(folder / "home")  # the spool, if any, goes here too
        try:
            store = open_store(store_url(kind, folder))
            tracker = Tracker(store, display=False, flush_interval=WRITER_INTERVAL)
            for model, i, o, fields in args[:1_000]:  # warm: writer thread up, store open, prices compiled
                tracker.record(model, i, o, **fields)
            tracker.flush()
            gc.collect()
            lat = latencies_us(tracker.record, args)
            tracker.flush()
            dropped += tracker.health.dropped
            tracker.close()
            store.close()
            p50s.append(percentile(lat, 0.50))
            p99s.append(percentile(lat, 0.99))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    report.add(f"{key}_p50_us", summarize(p50s, "µs", f"{label} p50"))
    report.add(f"{key}_p99_us", summarize(p99s, "µs", f"{label} p99"))
    if dropped:
        report.note(f"  warning: {dropped} call(s) dropped by a full queue during '{label}' (cheap path, skews low)")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--store", choices=("sqlite", "jsonl", "memory"), help="the tracker's store (default: sqlite)")
    p.add_argument("--calls", type=int, help="calls per run (default 60,000; 5,000 with --quick)")
    args = p.parse_args()
    report = Report(__file__, args)
    kind = args.store or ("sqlite" if importlib.util.find_spec("tokentrail.store.sqlite") else "jsonl")
    n = args.calls or (5_000 if args.quick else 60_000)
    runs = 3 if args.quick else 7
    full = record_args(n, seed=7)
    readme = [(m, i, o, {k: f[k] for k in README_FIELDS if k in f}) for m, i, o, f in full]
    report.note(f"record(): {n:,} calls per run, {runs} runs, store {kind}, writer running; "
                f"timer floor {timer_floor_us(10_000):.3f} µs")  # fmt: skip
    on = "" if kind == "sqlite" else f" [{kind} store: no SQLite store here]"
    measure(report, "record", f"tt.record, README call (model, tokens, agent, user){on}", readme, kind=kind, runs=runs)
    measure(report, "record_capture", f"tt.record, capture call (~18 fields){on}", full, kind=kind, runs=runs)
    p50s, p99s = [], []
    for _ in range(runs):
        lat = ceiling_us(readme)
        p50s.append(percentile(lat, 0.50))
        p99s.append(percentile(lat, 0.99))
    report.add("simplequeue_p50_us", summarize(p50s, "µs", "raw ceiling: tuple + SimpleQueue.put p50"))
    report.add("simplequeue_p99_us", summarize(p99s, "µs", "raw ceiling: tuple + SimpleQueue.put p99"))
    report.finish()


if __name__ == "__main__":
    main()
