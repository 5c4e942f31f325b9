"""Speed and accuracy of the peers' cost functions: genai-prices, LiteLLM, tokencost.

Run with the peers' environment (made by `bench/setup_peers.sh`), usually by `bench/run_all.py`:

    .bench-venv/bin/python bench/peers/pricing.py [--quick] --inputs bench/out/peer_inputs.json

Speed: microseconds per call for a model already seen ('gpt-4o', 1,200 in / 300 out), garbage
collector off as in timeit; median (min-max) of runs. Accuracy: of the cases in `--inputs` (1,000
seeded random calls over popular models, cached tokens included; written by run_all.py from
`bench/bench_pricing.py`'s generator), how many each library prices the same as genai-prices'
published prices (the `expected` totals, computed with the genai-prices version tokentrail uses):
within a millionth of the price and a billionth of a dollar. A library that raises counts as wrong.
LiteLLM runs on its bundled price map (`LITELLM_LOCAL_MODEL_COST_MAP=True`), no network.
"""

from __future__ import annotations

import gc
import importlib.metadata
import json
import os
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import Report, parser, summarize  # stdlib only: no tokentrail here

Case = tuple[str, int, int, int, int]  # model, input (all prompt tokens), output, cache read, cache write


def per_call_us(fn: Callable[[], object], number: int, runs: int) -> list[float]:
    fn()
    out = []
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            out.append((time.perf_counter() - start) / number * 1e6)
    finally:
        gc.enable()
    return out


def close(value: Decimal | float, expected: Decimal) -> bool:
    return abs(Decimal(str(value)) - expected) <= Decimal("1e-9") + expected * Decimal("1e-6")


def tally(price: Callable[[Case], Decimal | float], cases: list[Case], expected: list[Decimal]) -> dict[str, int]:
    right = wrong = errors = 0
    for case, truth in zip(cases, expected, strict=True):
        try:
            value = price(case)
        except Exception:
            errors += 1
            continue
        if close(value, truth):
            right += 1
        else:
            wrong += 1
    return {"right": right, "wrong": wrong, "errors": errors}


def accuracy(report: Report, key: str, label: str, price: Callable[[Case], Any], inputs: dict[str, Any]) -> None:
    if not inputs:
        return
    cases = [tuple(c) for c in inputs["cases"]]
    expected = [Decimal(e) for e in inputs["expected"]]
    counts = tally(price, cases, expected)  # type: ignore[arg-type]
    report.add(
        f"{key}_right",
        {"median": counts["right"], "min": counts["right"], "max": counts["right"], "runs": 1, "unit": "",
         "label": f"{label}: right of {len(cases)}", "of": len(cases), **counts},
    )  # fmt: skip


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--inputs", help="JSON file with the accuracy cases (written by run_all.py)")
    args = p.parse_args()
    report = Report("peers_pricing", args)
    inputs = json.loads(Path(args.inputs).read_text())["pricing"] if args.inputs else {}
    number, runs = (200, 5) if args.quick else (2_000, 9)

    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        report.text("genai_prices_us", "genai-prices calc_price", "not installed")
    else:
        label = f"genai-prices {_version('genai-prices')} calc_price('gpt-4o')"
        usage = Usage(input_tokens=1_200, output_tokens=300)
        report.add("genai_prices_us", summarize(per_call_us(lambda: calc_price(usage, "gpt-4o"), number, runs), "µs",
                                                label))  # fmt: skip

    try:
        import litellm
    except ImportError:
        report.text("litellm_us", "LiteLLM cost_per_token", "not installed")
    else:
        litellm.suppress_debug_info = True
        names = inputs.get("litellm_names", {})

        def litellm_price(case: Case) -> float:
            model, i, o, read, write = case
            prompt, completion = litellm.cost_per_token(
                model=names.get(model, model), prompt_tokens=i, completion_tokens=o,
                cache_read_input_tokens=read, cache_creation_input_tokens=write,
            )  # fmt: skip
            return float(prompt + completion)

        label = f"LiteLLM {_version('litellm')} cost_per_token('gpt-4o')"
        speed = per_call_us(
            lambda: litellm.cost_per_token(model="gpt-4o", prompt_tokens=1_200, completion_tokens=300), number, runs
        )
        report.add("litellm_us", summarize(speed, "µs", label))
        accuracy(report, "litellm", f"LiteLLM {_version('litellm')}", litellm_price, inputs)

    try:
        import tokencost
    except ImportError:
        report.text("tokencost_us", "tokencost calculate_cost_by_tokens", "not installed")
    else:
        calc = tokencost.calculate_cost_by_tokens

        def tokencost_price(case: Case) -> Decimal:
            model, i, o, _, _ = case  # tokencost has no notion of cached tokens
            return calc(i, model, "input") + calc(o, model, "output")

        label = f"tokencost {_version('tokencost')} calculate_cost_by_tokens (in + out)"
        speed = per_call_us(lambda: calc(1_200, "gpt-4o", "input") + calc(300, "gpt-4o", "output"), number, runs)
        report.add("tokencost_us", summarize(speed, "µs", label))
        accuracy(report, "tokencost", f"tokencost {_version('tokencost')}", tokencost_price, inputs)
    report.finish()


if __name__ == "__main__":
    main()
