"""Caller cost of the peers' "record one LLM call": Langfuse generation start/end, token-calculator's track_call.

Run with the peers' environment (made by `bench/setup_peers.sh`), usually by `bench/run_all.py`:

    .bench-venv/bin/python bench/peers/record.py [--quick] --inputs bench/out/peer_inputs.json

Each call is timed on its own, like `bench/bench_record.py` times `tt.record`, over the same calls
(`--inputs`, written by run_all.py from `bench/_data.py`): p50 and p99 per run, median (min-max) of runs.

- Langfuse: `start_observation(as_type="generation", model=, usage_details=, metadata=)` then `.end()`, the
  client pointed at a closed local port (http://127.0.0.1:9), so its exporter thread runs and fails as a
  dead backend would — nothing leaves the machine.
- token-calculator: `CostTracker(storage=SQLiteStorage(tmp)).track_call(model, input, output, agent_id=,
  user_id=)`; it knows few models, so models it does not know are sent as `gpt-4o-mini`.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import Report, parser, percentile, summarize  # stdlib only: no tokentrail here

Args = list[tuple[str, int, int, dict[str, Any]]]


def load_args(path: str | None, n: int) -> Args:
    if path:
        data = json.loads(Path(path).read_text())["record"]
        return [(m, i, o, f) for m, i, o, f in data][:n]
    rng = random.Random(7)  # standalone: simple calls of the same shape
    models = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku-20241022")
    return [(rng.choice(models), rng.randint(50, 5000), rng.randint(1, 900), {"agent": "router", "user": "u-1"})
            for _ in range(n)]  # fmt: skip


def timed(call: Any, args: Args) -> list[float]:
    clock = time.perf_counter_ns
    out = [0] * len(args)
    for k, item in enumerate(args):
        t0 = clock()
        call(*item)
        out[k] = clock() - t0
    out.sort()
    return [ns / 1000 for ns in out]


def add(report: Report, key: str, label: str, runs: list[list[float]]) -> None:
    report.add(f"{key}_p50_us", summarize([percentile(r, 0.5) for r in runs], "µs", f"{label} p50"))
    report.add(f"{key}_p99_us", summarize([percentile(r, 0.99) for r in runs], "µs", f"{label} p99"))


def langfuse(report: Report, args: Args, runs: int) -> None:
    try:
        from langfuse import Langfuse
    except ImportError:
        report.text("langfuse_p50_us", "Langfuse", "not installed")
        return
    for name in ("langfuse", "opentelemetry", "urllib3", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # the closed port makes every export fail, loudly
    client = Langfuse(public_key="pk-lf-bench", secret_key="sk-lf-bench", host="http://127.0.0.1:9")

    def record(model: str, i: int, o: int, fields: dict[str, Any]) -> None:
        usage = {"input": i, "output": o}
        if fields.get("cache_read_tokens"):
            usage["cache_read_input_tokens"] = fields["cache_read_tokens"]
        gen = client.start_observation(name="llm-call", as_type="generation", model=model, usage_details=usage,
                                       metadata={"agent": fields.get("agent"), "user": fields.get("user")})  # fmt: skip
        gen.end()

    timed(record, args[:500])  # warm
    add(
        report,
        "langfuse",
        f"Langfuse {_version('langfuse')} generation start+end",
        [timed(record, args) for _ in range(runs)],
    )
    report.note("  Langfuse: host http://127.0.0.1:9 (closed port); spans queue in its OpenTelemetry batch processor")


def token_calculator(report: Report, args: Args, runs: int) -> None:
    try:
        from token_calculator.cost_tracker import CostTracker
        from token_calculator.models import MODEL_DATABASE
        from token_calculator.storage import SQLiteStorage
    except ImportError:
        report.text("token_calculator_p50_us", "token-calculator", "not installed")
        return
    known = [(m if m in MODEL_DATABASE else "gpt-4o-mini", i, o, f) for m, i, o, f in args]
    results = []
    for _ in range(runs):
        folder = Path(tempfile.mkdtemp(prefix="tt-bench-tc-"))
        try:
            tracker = CostTracker(storage=SQLiteStorage(str(folder / "costs.db")))

            def record(model: str, i: int, o: int, fields: dict[str, Any], t: Any = tracker) -> None:
                t.track_call(model, i, o, agent_id=fields.get("agent"), user_id=fields.get("user"))

            timed(record, known[:20])  # warm
            results.append(timed(record, known))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    version = _version("token-calculator")
    add(report, "token_calculator", f"token-calculator {version} track_call (SQLiteStorage)", results)
    report.note("  token-calculator: writes and commits each call on the caller's thread (a new connection per call)")


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--inputs", help="JSON file with the calls to record (written by run_all.py)")
    args = p.parse_args()
    report = Report("peers_record", args)
    runs = 3 if args.quick else 7
    n = 5_000 if args.quick else 60_000
    calls = load_args(args.inputs, n)
    langfuse(report, calls, runs)
    # token-calculator commits every call (milliseconds each): fewer calls, same per-call figures.
    token_calculator(report, calls[: 50 if args.quick else 500], runs)
    report.finish()


if __name__ == "__main__":
    main()
