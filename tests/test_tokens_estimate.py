"""The heuristic estimate against the exact OpenAI tokenizers, on the corpus in bench/bench_tokens.py.

The figures in docs/tokens.md are the tables this corpus produces; the test below fails when the heuristic or the
corpus changes without the docs being regenerated (``python bench/bench_tokens.py --quick``).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tokentrail.tokens import count_tokens

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    # bench scripts import their shared helpers (_timing, _data) from their own folder
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        yield _load()
    finally:
        sys.path.remove(str(ROOT / "bench"))


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_tokens", ROOT / "bench" / "bench_tokens.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_show_the_measured_tables(bench: ModuleType) -> None:
    docs = (ROOT / "docs" / "tokens.md").read_text(encoding="utf-8")
    assert bench.accuracy_table(bench.corpus()) in docs
    assert bench.accuracy_table(bench.held_out()) in docs


def test_corpus_is_deterministic(bench: ModuleType) -> None:
    assert bench.corpus() == bench.corpus()
    assert bench.held_out() == bench.held_out()
    assert bench.bench_text(10_000) == bench.bench_text(10_000)
    assert len(bench.bench_text(1_000)) == 1_000


@pytest.mark.parametrize("kind", ["prose (English)", "code", "markdown", "JSON"])
@pytest.mark.parametrize("which", ["corpus", "held_out"])
def test_estimate_is_close_where_tokenizers_agree(bench: ModuleType, which: str, kind: str) -> None:
    texts = getattr(bench, which)()[kind]
    estimate = sum(count_tokens(t, "claude-sonnet-4-5").tokens for t in texts)
    for model in ("gpt-4o", "gpt-4"):
        exact = sum(count_tokens(t, model).tokens for t in texts)
        assert abs(estimate - exact) <= 0.06 * exact, (model, estimate, exact)


@pytest.mark.parametrize("kind", ["prose (other languages)", "CJK (zh/ja/ko)"])
@pytest.mark.parametrize("which", ["corpus", "held_out"])
def test_estimate_is_rough_where_tokenizers_disagree(bench: ModuleType, which: str, kind: str) -> None:
    texts = getattr(bench, which)()[kind]
    estimate = sum(count_tokens(t, "claude-sonnet-4-5").tokens for t in texts)
    o200k = sum(count_tokens(t, "gpt-4o").tokens for t in texts)
    cl100k = sum(count_tokens(t, "gpt-4").tokens for t in texts)
    assert cl100k > 1.3 * o200k  # the two real tokenizers themselves differ by a third or more here
    assert 0.5 * o200k < estimate < 1.5 * cl100k


def test_estimate_is_never_zero_for_text_and_grows_with_it() -> None:
    for text in ["a", ".", " ", "\n", "中", "é", "1", "🎉", "\u0301"]:
        assert count_tokens(text, "mistral-large-latest").tokens >= 1, repr(text)
    sizes = [count_tokens("word " * n, "mistral-large-latest").tokens for n in range(0, 200, 10)]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]
