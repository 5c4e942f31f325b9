"""How right are tokentrail's spend forecasts, and how long do forecasts and anomaly scans take.

Run from the repository root:

    python bench/bench_forecast.py           # about ten seconds
    python bench/bench_forecast.py --quick   # a couple of seconds

Accuracy is a backtest on synthetic daily spend whose truth is known: fit on all but the last 30 days,
forecast those 30, and report the MAPE of the daily forecasts (median over seeds, min-max), the error
of the 30-day total, and how often the actual total fell inside the 80 % interval. Three cases:

- linear: $50/day growing $1.50/day, ±5 % noise, 90 days;
- seasonal: $80/day growing $0.80/day, weekdays up to 1.2x and weekends 0.7x, ±3 % noise, 90 days;
- short: 3 days of history at $10/day (±5 %), then 30 days at the same rate.

Speed: `forecast(by="agent")` and `anomalies()` over a memory store of generated realistic calls.
"""

from __future__ import annotations

import random
import statistics
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

try:
    import tokentrail.analysis.forecast  # noqa: F401 - just checking it is importable
except ImportError:  # running from a checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _timing import Report, parser, summarize, timed_runs

from tokentrail.analysis.anomalies import anomalies
from tokentrail.analysis.forecast import Backtest, backtest, forecast
from tokentrail.store import open_store

FIRST = date(2026, 1, 5)  # a Monday
WEEKLY = (1.15, 1.2, 1.1, 1.1, 1.05, 0.7, 0.7)


def linear(rng: random.Random) -> list[float]:
    return [(50 + 1.5 * i) * (1 + rng.uniform(-0.05, 0.05)) for i in range(90)]


def seasonal(rng: random.Random) -> list[float]:
    return [(80 + 0.8 * i) * WEEKLY[(FIRST + timedelta(days=i)).weekday()] * (1 + rng.gauss(0, 0.03))
            for i in range(90)]  # fmt: skip


def short(rng: random.Random) -> list[float]:
    return [10 * (1 + rng.uniform(-0.05, 0.05)) for _ in range(33)]


CASES: dict[str, Callable[[random.Random], list[float]]] = {"linear": linear, "seasonal": seasonal, "short": short}


def main() -> None:
    args = parser(__doc__).parse_args()
    report = Report(__file__, args)
    seeds = range(10 if args.quick else 500)
    report.note(f"backtest: fit on all but the last 30 days, forecast 30; {len(seeds)} seeds per case")
    for name, make in CASES.items():
        results: list[Backtest] = [backtest(make(random.Random(seed)), FIRST, horizon=30) for seed in seeds]
        methods = sorted({r.method for r in results})
        report.add(
            f"{name}_mape", summarize([r.mape for r in results], "%", f"{name}: daily MAPE ({', '.join(methods)})")
        )
        report.add(
            f"{name}_total_error",
            summarize([abs(r.total_error) for r in results], "%", f"{name}: |error| of the 30-day total"),
        )
        coverage = 100 * statistics.mean(r.covered for r in results)
        report.add(f"{name}_coverage", {"median": coverage, "min": coverage, "max": coverage, "runs": 1, "unit": "%",
                                        "label": f"{name}: actual total inside the 80 % interval"})  # fmt: skip

    from _data import END, calls

    n = 5_000 if args.quick else 100_000
    store = open_store("memory://")
    store.write(calls(n, days=60))
    report.note(f"speed: {n:,} generated calls over 60 days in a memory store")
    runs = 3 if args.quick else 5
    report.add("forecast_s", summarize(timed_runs(lambda: forecast(by="agent", store=store, tz="UTC", now=END), runs),
                                       "s", "forecast(by='agent')"))  # fmt: skip
    report.add("anomalies_s", summarize(timed_runs(lambda: anomalies(days=14, store=store, tz="UTC", now=END), runs),
                                        "s", "anomalies(days=14), 4 dimensions"))  # fmt: skip
    report.finish()


if __name__ == "__main__":
    main()
