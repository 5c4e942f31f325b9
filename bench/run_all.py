"""Run every benchmark and print ONE table: our figures next to the peers' and the raw ceiling, same run, same machine.

    python bench/run_all.py            # full sizes: long (the 10 M report tier is built once, then cached)
    python bench/run_all.py --quick    # small sizes: a couple of minutes
    bash bench/setup_peers.sh          # once, for the peer columns (Langfuse, token-calculator, LiteLLM, ...)

Every `bench/bench_*.py` runs with this Python (the project's environment) and `--json`; every
`bench/peers/*.py` runs with `.bench-venv/bin/python` when that exists. Scripts run one after the other,
never together, so they do not slow each other down. Each figure is the median of several runs with the
min-max range, as the script measured it; the table adds ratios and checks the targets of the issues.
The table is Markdown, so it can be pasted into the README as printed; `--json` prints everything
collected instead, `--only NAME[,NAME]` runs some scripts.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import BENCH, NOT_INSTALLED, OUT, PEER_PYTHON, ROOT, fmt_figure, fmt_value, machine, parser, python_env
from _timing import run_json as run_script

Results = dict[str, dict[str, Any]]
"""Script name (`bench_record`, `peers/record`) -> its JSON (`figures`, `notes`) or `{"error": ...}`."""


@dataclass(frozen=True)
class Ref:
    script: str
    key: str


@dataclass(frozen=True)
class Target:
    """A goal from the issues: `kind` says what is compared with `limit`."""

    text: str
    kind: (
        str  # "max" (ours <=), "min" (ours >=), "overhead" (% slower than the ceiling <=), "above" (ours - ceiling <=)
    )
    limit: float


@dataclass(frozen=True)
class Row:
    figure: str
    ours: Ref | None
    peers: tuple[tuple[str, Ref], ...] = ()
    ceiling: Ref | None = None
    target: Target | None = None
    higher_is_better: bool = False
    ratio_of: str = "ceiling"
    """What the ratio column compares ours with: the raw `ceiling`, or the first `peer`."""
    accuracy: bool = False
    judge: Ref | None = None
    """Judge the target on this figure instead of on ours (e.g. the paired-batch overhead of count_tokens)."""


def _rows() -> list[Row]:
    rec, prec, price, ppr = "bench_record", "peers/record", "bench_pricing", "peers/pricing"
    rows = [
        Row("record(): caller cost p50 (README call)", Ref(rec, "record_p50_us"),
            (("Langfuse", Ref(prec, "langfuse_p50_us")), ("token-calculator", Ref(prec, "token_calculator_p50_us"))),
            Ref(rec, "simplequeue_p50_us"), Target("≤ 4 µs", "max", 4)),
        Row("record(): caller cost p99 (README call)", Ref(rec, "record_p99_us"),
            (("Langfuse", Ref(prec, "langfuse_p99_us")), ("token-calculator", Ref(prec, "token_calculator_p99_us"))),
            Ref(rec, "simplequeue_p99_us"), Target("≤ 20 µs", "max", 20)),
        Row("record(): caller cost p50 (capture call, ~18 fields)", Ref(rec, "record_capture_p50_us"),
            ceiling=Ref(rec, "simplequeue_p50_us"), target=Target("≤ 4 µs", "max", 4)),
        Row("record(): caller cost p99 (capture call, ~18 fields)", Ref(rec, "record_capture_p99_us"),
            ceiling=Ref(rec, "simplequeue_p99_us"), target=Target("≤ 20 µs", "max", 20)),
        Row("calculate_cost, model seen before", Ref(price, "calculate_cost_us"),
            (("genai-prices", Ref(ppr, "genai_prices_us")), ("LiteLLM", Ref(ppr, "litellm_us")),
             ("tokencost", Ref(ppr, "tokencost_us"))),
            target=Target("≤ 2 µs", "max", 2), ratio_of="peer"),
        Row("cost right of 1,000 random calls (vs genai-prices)", Ref(price, "calculate_cost_right"),
            (("LiteLLM", Ref(ppr, "litellm_right")), ("tokencost", Ref(ppr, "tokencost_right"))),
            higher_is_better=True, accuracy=True),
    ]  # fmt: skip
    for kb in (1, 10):
        rows.append(Row(f"count_tokens, {kb} KB text", Ref("bench_tokens", f"count_tokens_mbps_{kb}k"),
                        ceiling=Ref("bench_tokens", f"tiktoken_mbps_{kb}k"),
                        target=Target("≤ 5 % overhead", "max", 5), higher_is_better=True,
                        judge=Ref("bench_tokens", f"count_tokens_overhead_{kb}k")))  # fmt: skip
    for kind, name, goal in (("sqlite", "SQLite", 100_000), ("jsonl", "JSONL", 300_000), ("postgres", "PostgreSQL", 0)):
        target = Target(f"≥ {goal // 1000}k/s", "min", goal) if goal else None
        rows.append(
            Row(
                f"ingest {name}: record() → writer → flush",
                Ref("bench_ingest", f"ingest_{kind}_writer"),
                ceiling=Ref("bench_ingest", f"ingest_{kind}_raw"),
                target=target,
                higher_is_better=True,
            )
        )
        rows.append(Row(f"ingest {name}: store.write alone", Ref("bench_ingest", f"ingest_{kind}_store"),
                        ceiling=Ref("bench_ingest", f"ingest_{kind}_raw"), higher_is_better=True))  # fmt: skip
    for kind, name in (("sqlite", "SQLite"), ("postgres", "PostgreSQL")):
        for n, size in ((20_000, "20k"), (1_000_000, "1 M"), (10_000_000, "10 M")):
            big = n >= 10_000_000
            goals = {
                "summary": Target("≤ 25 ms" if big else "≤ 20 ms", "max", 25 if big else 20),
                "breakdown": Target("≤ 25 ms" if big else "≤ 20 ms", "max", 25 if big else 20),
                "p95": Target("≤ 50 ms", "max", 50) if not big else None,
            }
            for what, label in (("summary", "30-day summary"), ("breakdown", "breakdown model × agent"),
                                ("p95", "performance (p50/p95/p99) by model")):  # fmt: skip
                rows.append(Row(f"{name} {size}: {label}", Ref("bench_reports", f"report_{what}_{kind}_{n}"),
                                ceiling=Ref("bench_reports", f"plain_{what}_{kind}_{n}"),
                                target=goals[what] if n >= 1_000_000 else None))  # fmt: skip
    cli = "bench_cli"
    rows += [
        Row("import tokentrail (process)", Ref(cli, "import_ms"), ceiling=Ref(cli, "python_ms"),
            target=Target("≤ 50 ms above python", "above", 50)),
        Row("tokentrail --help (process)", Ref(cli, "help_ms"), ceiling=Ref(cli, "python_ms"),
            target=Target("≤ 100 ms", "max", 100)),
        Row("tokentrail stats today, empty store (process)", Ref(cli, "stats_today_empty_ms"),
            ceiling=Ref(cli, "python_ms"), target=Target("≤ 150 ms", "max", 150)),
        Row("tokentrail stats today, large store (process)", Ref(cli, "stats_today_big_ms"),
            ceiling=Ref(cli, "python_ms"), target=Target("≤ 200 ms at 1 M", "max", 200)),
        Row("instrumented OpenAI call: overhead over bare", Ref("bench_capture", "instrumented_overhead_us"),
            target=Target("< 50 µs", "max", 50)),
        Row("instrumented stream: overhead per chunk", Ref("bench_capture", "stream_chunk_overhead_us"),
            target=Target("< 1 µs", "max", 1)),
    ]  # fmt: skip
    return rows


ROWS = _rows()


# --- running ---------------------------------------------------------------------------------------------------


def scripts(only: set[str] | None) -> list[Path]:
    found = sorted(BENCH.glob("bench_*.py"))
    return [p for p in found if only is None or p.stem in only or p.stem.removeprefix("bench_") in only]


def peer_scripts(only: set[str] | None) -> list[Path]:
    found = sorted((BENCH / "peers").glob("*.py"))
    return [p for p in found if not p.name.startswith("_") and (only is None or f"peers/{p.stem}" in only)]


def write_peer_inputs(quick: bool) -> Path:
    """The calls and the priced cases the peers get, so they measure exactly what we measure."""
    import bench_pricing
    from _data import record_args
    from genai_prices import Usage, calc_price

    cases = bench_pricing.cases(1_000)
    expected = [
        str(
            calc_price(Usage(input_tokens=i, output_tokens=o, cache_read_tokens=r, cache_write_tokens=w), m).total_price
        )
        for m, i, o, r, w in cases
    ]
    n = 5_000 if quick else 60_000
    keep = ("agent", "user", "cache_read_tokens")
    record = [[m, i, o, {k: f[k] for k in keep if k in f}] for m, i, o, f in record_args(n, seed=7, names=keep)]
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "peer_inputs.json"
    pricing = {"cases": cases, "expected": expected, "litellm_names": bench_pricing.LITELLM_NAMES}
    path.write_text(json.dumps({"record": record, "pricing": pricing}))
    return path


def run_all(quick: bool, only: set[str] | None, log: Callable[[str], None],
            extra: dict[str, list[str]] | None = None) -> Results:  # fmt: skip
    results: Results = {}
    timeout = 600.0 if quick else 4 * 3600.0
    flags = ["--json", *(["--quick"] if quick else [])]
    for path in scripts(only):
        log(f"running {path.relative_to(ROOT)} ...")
        start = time.perf_counter()
        more = (extra or {}).get(path.stem, [])
        result = run_script([sys.executable, str(path), *flags, *more], timeout=timeout, env=python_env())
        if "unrecognized arguments: --json" in result.get("error", ""):
            result = {"error": "prints text only (no --json): run it directly for its figures", "missing": True}
        results[path.stem] = result
        error = results[path.stem].get("error")
        log(f"  {time.perf_counter() - start:.0f} s" + (f"  ERROR: {error}" if error else ""))
    peers = peer_scripts(only)
    if not peers:
        return results
    if not PEER_PYTHON.exists():
        for path in peers:
            results[f"peers/{path.stem}"] = {"error": NOT_INSTALLED, "missing": True}
        return results
    inputs = write_peer_inputs(quick)
    for path in peers:
        log(f"running {path.relative_to(ROOT)} with .bench-venv ...")
        start = time.perf_counter()
        cmd = [str(PEER_PYTHON), str(path), *flags, "--inputs", str(inputs)]
        results[f"peers/{path.stem}"] = run_script(cmd, timeout=timeout, env=python_env())
        log(f"  {time.perf_counter() - start:.0f} s")
    return results


# --- the table -------------------------------------------------------------------------------------------------


ABSENT = object()
"""A figure this run did not measure (a script left out by --only, a size not asked for): its row is left out."""


def lookup(results: Results, ref: Ref | None) -> dict[str, Any] | str | None | object:
    """The figure; or why there is none (text); `ABSENT`; None when the row has no such column."""
    if ref is None:
        return None
    data = results.get(ref.script)
    if data is None:
        exists = (BENCH / f"{ref.script}.py").exists()
        return ABSENT if exists else f"n/a ({ref.script}.py not in this checkout)"
    if "error" in data:
        return data["error"] if data.get("missing") else f"error: {data['error']}"
    return data.get("figures", {}).get(ref.key, ABSENT)


def cell(fig: Any, accuracy: bool = False) -> str:
    if fig is None or fig is ABSENT:
        return "—"
    if isinstance(fig, str):
        return fig
    if "median" not in fig:
        return str(fig.get("text", "—"))
    if accuracy:
        return f"{fig['median']:.0f}/{fig.get('of', 1000)}"
    return fmt_figure(fig)


def _num(fig: Any) -> float | None:
    return fig["median"] if isinstance(fig, dict) and "median" in fig else None


def times(x: float) -> str:
    return f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×"


def ratio(row: Row, ours: float | None, ceiling: float | None, peer: float | None) -> str:
    if ours is None or not ours:
        return "—"
    if row.ratio_of == "peer":
        return f"{times(peer / ours)} faster than {row.peers[0][0]}" if peer else "—"
    if not ceiling:
        return "—"
    if row.higher_is_better:
        return f"{ours / ceiling:.0%} of ceiling"
    if ours < ceiling:  # a store with rollups beats plain SQL over every row: say by how much
        return f"{times(ceiling / ours)} faster than plain"
    return f"{times(ours / ceiling)} ceiling"


def verdict(target: Target | None, ours: Any, ceiling: Any) -> str:
    """`met`, or `missed (...)` with by how much, or why it could not be judged."""
    if target is None:
        return ""
    value, base = _num(ours), _num(ceiling)
    if value is None or (target.kind in ("overhead", "above") and base is None):
        return "not measured"
    unit = ours.get("unit", "")
    if target.kind == "max":
        ok, shown = value <= target.limit, f"{fmt_value(value, unit)}, {value / target.limit:.1f}× the limit"
    elif target.kind == "min":
        ok, shown = value >= target.limit, f"{fmt_value(value, unit)}, {value / target.limit:.0%} of the goal"
    elif target.kind == "overhead":  # rates: how much slower than the ceiling, in %
        over = (base / value - 1) * 100  # type: ignore[operator]
        ok, shown = over <= target.limit, f"{over:+.1f} %"
    elif target.kind == "above":
        over = value - base  # type: ignore[operator]
        ok, shown = over <= target.limit, f"+{fmt_value(over, unit)}"
    else:  # pragma: no cover - a typo in ROWS
        raise ValueError(target.kind)
    return "met" if ok else f"missed ({shown})"


def table(results: Results) -> list[list[str]]:
    out = [["figure", "ours", "peers", "raw ceiling", "ratio", "target", "met?"]]
    used: set[tuple[str, str]] = set()
    for row in ROWS:
        refs = [r for r in (row.ours, row.ceiling, row.judge, *(ref for _, ref in row.peers)) if r is not None]
        used.update((r.script, r.key) for r in refs)
        ours, ceiling = lookup(results, row.ours), lookup(results, row.ceiling)
        if ours is ABSENT:
            continue
        peers, first_peer = [], None
        for label, ref in row.peers:
            fig = lookup(results, ref)
            text = cell(fig, row.accuracy)
            if _num(fig) is not None and _num(ours) and not row.accuracy:
                first_peer = first_peer if first_peer is not None else _num(fig)
                text += f" ({times(_num(fig) / _num(ours))} ours)"  # type: ignore[operator]
            peers.append(f"{label} {text}")
        out.append([
            row.figure, cell(ours, row.accuracy), "; ".join(peers) or "—", cell(ceiling),
            ratio(row, _num(ours), _num(ceiling), first_peer), row.target.text if row.target else "—",
            verdict(row.target, lookup(results, row.judge) if row.judge else ours, ceiling),
        ])  # fmt: skip
    for script, data in results.items():  # every other figure a script measured, ours only
        if script.startswith("peers/"):
            continue
        for key, fig in data.get("figures", {}).items():
            if (script, key) not in used:
                out.append([f"{fig.get('label') or key} ({script})", cell(fig), "—", "—", "—", "—", ""])
    return out


def markdown(rows: list[list[str]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(" --- " for _ in rows[0]) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def header(quick: bool, load_before: str) -> str:
    m = machine()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                                check=False).stdout.strip() or "unknown"  # fmt: skip
    except OSError:
        commit = "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "bench"], capture_output=True, text=True,
                           cwd=ROOT, check=False).stdout.strip()  # fmt: skip
    if dirty:
        commit += " + uncommitted changes in src/ or bench/"
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"tokentrail benchmarks{' (--quick: small sizes)' if quick else ''} — {when}, commit {commit}\n"
            f"{m['cpus']} CPUs ({m['cpu']}), {m['memory']} RAM, Python {m['python']}, {m['platform']}\n"
            f"Load average (1/5/15 min) {load_before} at the start, {load()} at the end: the machine is shared.\n"
            "Each figure: median of several runs (min–max in brackets), all measured in this one run.")  # fmt: skip


def notes(results: Results) -> list[str]:
    out = []
    for script, data in results.items():
        for note in data.get("notes", []):
            out.append(f"{script}: {note.strip()}")
        if "error" in data:
            out.append(f"{script}: {data['error']}")
    return out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--only", help="comma-separated scripts to run (bench_record or record, peers/record)")
    p.add_argument(
        "--with",
        dest="extra",
        action="append",
        default=[],
        metavar='SCRIPT="ARGS"',
        help='more arguments for one script, e.g. --with bench_reports="--sizes 1000000" (repeatable)',
    )
    args = p.parse_args()
    extra = {}
    for item in args.extra:
        name, _, more = item.partition("=")
        extra[name.strip()] = shlex.split(more)
    only = {s.strip() for s in args.only.split(",")} if args.only else None
    load_before = load()
    results = run_all(args.quick, only, log=lambda text: print(text, file=sys.stderr, flush=True), extra=extra)
    if args.json:
        print(json.dumps({"machine": machine(), "quick": args.quick, "results": results}))
        return
    print(header(args.quick, load_before))
    print()
    print(markdown(table(results)))
    extra = notes(results)
    if extra:
        print("\nNotes:")
        for line in extra:
            print(f"- {line}")


if __name__ == "__main__":
    main()
