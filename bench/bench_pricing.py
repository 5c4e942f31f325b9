"""How fast and how right is tokentrail's calculate_cost, next to genai-prices, LiteLLM and tokencost.

Run from the repository root:

    python bench/bench_pricing.py           # about a minute
    python bench/bench_pricing.py --quick   # a few seconds

Speed: microseconds per call for a model already seen, median of several runs (min-max). Accuracy: of
1,000 seeded random calls (popular models, cached tokens included), how many each library prices the
same as genai-prices, which is the reference. LiteLLM and tokencost are measured only if installed.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM: use its bundled price map, no network

try:
    import tokentrail.pricing  # noqa: F401 - just checking it is importable
except ImportError:  # running from a checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _timing import json_figures, summarize

from tokentrail.pricing import calculate_cost, clear_prices

FIGURES: dict[str, dict] = {}  # what --json prints: key -> median/min/max of the runs

SEED = 1_000
# Names every library is likely to know, as their users write them.
POPULAR = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "o3-mini",
    "o1",
    "claude-3-5-haiku-20241022",
    "claude-3-7-sonnet-20250219",
    "claude-sonnet-4-20250514",
    "claude-opus-4-20250514",
    "gemini-2.0-flash",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "deepseek-chat",
    "mistral-large-latest",
    "grok-3",
]
# LiteLLM wants its provider prefix on models outside OpenAI/Anthropic/Vertex, as its users write them.
LITELLM_NAMES = {
    "gemini-2.0-flash": "gemini/gemini-2.0-flash",
    "gemini-2.5-flash": "gemini/gemini-2.5-flash",
    "gemini-2.5-pro": "gemini/gemini-2.5-pro",
    "deepseek-chat": "deepseek/deepseek-chat",
    "mistral-large-latest": "mistral/mistral-large-latest",
    "grok-3": "xai/grok-3",
}
Case = tuple[str, int, int, int, int]  # model, input (all prompt tokens), output, cache read, cache write


def cases(n: int) -> list[Case]:
    rng = random.Random(SEED)
    out = []
    for _ in range(n):
        model = rng.choice(POPULAR)
        input_tokens = rng.randint(1, rng.choice((2_000, 50_000, 300_000)))
        read = rng.randint(0, input_tokens // 2) if rng.random() < 0.4 else 0
        write = rng.randint(0, input_tokens // 4) if model.startswith("claude") and rng.random() < 0.3 else 0
        out.append((model, input_tokens, rng.randint(0, 4_000), read, write))
    return out


def per_call_us(fn: Callable[[], object], number: int, repeats: int) -> list[float]:
    """Microseconds per call of each of `repeats` runs of `number` calls, garbage collector off as in timeit."""
    fn()  # warm: resolve and compile the model first
    runs = []
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            runs.append((time.perf_counter() - start) / number * 1e6)
    finally:
        gc.enable()
    return runs


def show(name: str, runs: list[float], reference: float | None = None, key: str | None = None) -> float:
    if key:
        FIGURES[key] = summarize(runs, "µs", name.strip())
    median = statistics.median(runs)
    ratio = f"  ({reference / median:,.0f}x faster than genai-prices)" if reference and median < reference else ""
    print(f"  {name:<52} {median:9.2f} us  (min {min(runs):.2f} - max {max(runs):.2f}){ratio}")
    return median


def close(value: Decimal | float, expected: Decimal) -> bool:
    """Right to a millionth of the price (floats cannot do better), and to a billionth of a dollar."""
    return abs(Decimal(str(value)) - expected) <= Decimal("1e-9") + expected * Decimal("1e-6")


def speed(quick: bool) -> None:
    from genai_prices import Usage, calc_price

    ours_n, theirs_n, repeats = (5_000, 100, 9) if quick else (100_000, 2_000, 9)
    print(f"Speed: microseconds per call, median of {repeats} runs (min - max)")
    theirs = show(
        "genai-prices calc_price('gpt-4o')",
        per_call_us(lambda: calc_price(Usage(input_tokens=1_200, output_tokens=300), "gpt-4o"), theirs_n, repeats),
        key="genai_prices_us",
    )
    show(
        "tokentrail calculate_cost('gpt-4o')",
        per_call_us(lambda: calculate_cost("gpt-4o", 1_200, 300), ours_n, repeats),
        theirs,
        key="calculate_cost_us",
    )
    show(
        "  ... with cache read and write ('claude-sonnet-4')",
        per_call_us(
            lambda: calculate_cost("claude-sonnet-4", 9_000, 300, cache_read_tokens=6_000, cache_write_tokens=2_000),
            ours_n,
            repeats,
        ),
        theirs,
    )
    show(
        "  ... price by time of day ('deepseek-chat')",
        per_call_us(lambda: calculate_cost("deepseek-chat", 1_200, 300), ours_n, repeats),
        theirs,
    )
    show(
        "  ... provider prefix ('openai/gpt-4o-mini')",
        per_call_us(lambda: calculate_cost("openai/gpt-4o-mini", 1_200, 300), ours_n, repeats),
        theirs,
    )
    firsts = []
    for _ in range(3 if quick else 10):
        clear_prices()  # drops the caches: every model below is seen for the first time
        start = time.perf_counter()
        for model in POPULAR:
            calculate_cost(model, 1_000, 100)
        firsts.append((time.perf_counter() - start) / len(POPULAR) * 1e6)
    show("tokentrail first call for a model (resolve, compile)", firsts)
    peers_speed(ours_n // 10, repeats)


def peers_speed(number: int, repeats: int) -> None:
    try:
        import litellm
    except ImportError:
        print(f"  {'litellm cost_per_token':<52} not installed")
    else:
        litellm.suppress_debug_info = True
        show(
            "litellm cost_per_token('gpt-4o')",
            per_call_us(
                lambda: litellm.cost_per_token(model="gpt-4o", prompt_tokens=1_200, completion_tokens=300),
                number,
                repeats,
            ),
        )
    try:
        import tokencost
    except ImportError:
        print(f"  {'tokencost calculate_cost_by_tokens':<52} not installed")
    else:

        def tokencost_call() -> object:
            return tokencost.calculate_cost_by_tokens(1_200, "gpt-4o", "input") + tokencost.calculate_cost_by_tokens(
                300, "gpt-4o", "output"
            )

        show("tokencost calculate_cost_by_tokens('gpt-4o') in + out", per_call_us(tokencost_call, number, repeats))


def _litellm_price(litellm: object, case: Case) -> float:
    model, input_tokens, output_tokens, read, write = case
    prompt, completion = litellm.cost_per_token(  # type: ignore[attr-defined]
        model=LITELLM_NAMES.get(model, model),
        prompt_tokens=input_tokens,
        completion_tokens=output_tokens,
        cache_read_input_tokens=read,
        cache_creation_input_tokens=write,
    )
    return prompt + completion


def _tokencost_price(tokencost: object, case: Case) -> Decimal:
    model, input_tokens, output_tokens, _, _ = case  # tokencost has no notion of cached tokens
    calc = tokencost.calculate_cost_by_tokens  # type: ignore[attr-defined]
    return calc(input_tokens, model, "input") + calc(output_tokens, model, "output")


def accuracy(n: int) -> None:
    from genai_prices import Usage, calc_price

    sample = cases(n)
    expected = [
        calc_price(Usage(input_tokens=i, output_tokens=o, cache_read_tokens=r, cache_write_tokens=w), model).total_price
        for model, i, o, r, w in sample
    ]
    print(f"\nAccuracy: of {n} random calls over {len(POPULAR)} popular models, how many cost what genai-prices says")
    print("  (right = within a millionth of the price; 'error' = the library raised, e.g. unknown model)")

    def tally(name: str, price: Callable[[Case], Decimal | float], key: str | None = None) -> None:
        right = wrong = errors = 0
        for case, truth in zip(sample, expected, strict=True):
            try:
                value = price(case)
            except Exception:
                errors += 1
                continue
            if close(value, truth):
                right += 1
            else:
                wrong += 1
        print(f"  {name:<52} {right:5} right {wrong:5} wrong {errors:5} error")
        if key:
            FIGURES[key] = {
                **summarize([right], "", f"{name}: right of {n}"),
                "of": n,
                "wrong": wrong,
                "errors": errors,
            }

    def ours(case: Case) -> Decimal:
        model, i, o, r, w = case
        return calculate_cost(model, i, o, cache_read_tokens=r, cache_write_tokens=w).total

    tally("tokentrail calculate_cost", ours, key="calculate_cost_right")
    exact = sum(ours(case) == truth for case, truth in zip(sample, expected, strict=True))
    print(f"  {'  ... of which exactly equal':<52} {exact:5}")
    try:
        import litellm
    except ImportError:
        print(f"  {'litellm cost_per_token':<52} not installed")
    else:
        litellm.suppress_debug_info = True  # else every unknown model prints a provider list
        tally("litellm cost_per_token", lambda case: _litellm_price(litellm, case))
    try:
        import tokencost
    except ImportError:
        print(f"  {'tokencost calculate_cost_by_tokens':<52} not installed")
    else:
        tally("tokencost calculate_cost_by_tokens", lambda case: _tokencost_price(tokencost, case))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations: finishes in seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the figures (for run_all.py)")
    args = parser.parse_args()
    with json_figures(__file__, args.json, FIGURES, quick=args.quick):
        print(f"Python {sys.version.split()[0]} on {sys.platform}")
        speed(args.quick)
        accuracy(1_000)


if __name__ == "__main__":
    main()
