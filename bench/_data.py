"""One seeded generator of realistic LLM calls, shared by every bench/ script.

    from _data import calls, batches, record_args

    calls(10_000)                    # list[tokentrail.Call], priced, over the 30 days before END
    for batch in batches(10_000_000, size=50_000): store.write(batch)   # constant memory
    record_args(10_000)              # [(model, input_tokens, output_tokens, fields)] for Tracker.record

What makes it realistic (and the same on every machine for the same seed):

- 6 providers and 15 models, picked with a Zipf-like skew (a few models carry most calls), each with its
  own latency, token sizes, caching and reasoning behaviour; one in-house model has no price (`cost_usd=None`);
- 12 agents (and calls with no agent), 5,000 users and the teams/features in `labels`, all Zipf-skewed;
  projects follow agents; 85 % production traffic;
- cache reads on 35 % of calls of models that cache, cache writes on Anthropic models, reasoning tokens on
  reasoning models; log-normal token counts and latencies; 45 % streamed (with time to first token);
- 2.5 % errors (rate limits, time-outs, server errors) that carry no tokens;
- timestamps increasing over `days` days ending at `end`, except ~5 % that arrive late (up to 2 hours
  out of order), as several processes writing to one store would produce;
- costs are tokentrail's own exact `calculate_cost` for the call's usage and time.

Generation runs at roughly 100-150k calls/s, so even 10 M calls is a couple of minutes.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from tokentrail.model import Call, build_call

__all__ = ["END", "MODELS", "batches", "calls", "record_args", "record_fields"]

END = datetime(2025, 6, 30, 12, 0, tzinfo=timezone.utc)
"""Where generated data ends by default: fixed, so data and report windows are the same on every run."""

# model: (provider, median latency s, median input tokens, median output tokens, caches, reasoning share)
MODELS: dict[str, tuple[str, float, int, int, bool, float]] = {
    "gpt-4o-mini": ("openai", 0.9, 900, 180, True, 0.0),
    "gpt-4o": ("openai", 1.8, 1_600, 300, True, 0.0),
    "claude-sonnet-4-20250514": ("anthropic", 2.6, 3_000, 420, True, 0.0),
    "gemini-2.5-flash": ("google", 0.8, 1_200, 260, True, 0.2),
    "gpt-4.1-mini": ("openai", 1.0, 1_100, 200, True, 0.0),
    "claude-3-5-haiku-20241022": ("anthropic", 1.1, 1_400, 220, True, 0.0),
    "text-embedding-3-small": ("openai", 0.12, 400, 0, False, 0.0),
    "o3-mini": ("openai", 6.0, 1_800, 900, True, 0.6),
    "gemini-2.5-pro": ("google", 3.5, 4_000, 600, True, 0.4),
    "deepseek-chat": ("deepseek", 2.2, 1_500, 350, True, 0.0),
    "mistral-large-latest": ("mistral", 1.9, 1_300, 300, False, 0.0),
    "claude-opus-4-20250514": ("anthropic", 5.0, 5_000, 700, True, 0.0),
    "gpt-4.1": ("openai", 2.1, 2_000, 400, True, 0.0),
    "grok-3": ("xai", 2.4, 1_500, 350, False, 0.0),
    "acme-internal-7b": ("acme", 0.6, 800, 150, False, 0.0),
}
# agent: project
AGENTS: dict[str | None, str] = {
    "router": "assistant", "support-bot": "support", "summarizer": "assistant", "coder": "devtools",
    "rag-answerer": "search", "planner": "assistant", "indexer": "search", "reviewer": "devtools",
    "triage": "support", "translator": "assistant", "sql-writer": "analytics", "eval-judge": "evals",
    None: "scratch",
}  # fmt: skip
TEAMS = ("platform", "growth", "billing", "search", "support", "research")
FEATURES = ("chat", "search", "summary", "triage", "autocomplete", "report", "translate", "extract")
ERRORS = (("RateLimitError", "Rate limit reached; retry after 2s"), ("APITimeoutError", "Request timed out"),
          ("InternalServerError", "The server had an error while processing your request"))  # fmt: skip
FINISH = ("stop", "tool_calls", "length")
_FINISH_CUM = (0.82, 0.97)  # stop, tool_calls, length
_ERROR_CUM = (0.6, 0.85)  # rate limit, time-out, server error
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
USERS = 5_000
LATE_SHARE = 0.05
ERROR_SHARE = 0.025


def _zipf(count: int, s: float = 1.1) -> list[float]:
    """Cumulative Zipf(s) weights for ranks 1..count."""
    return list(itertools.accumulate(1 / k**s for k in range(1, count + 1)))


def _uuid7(ms: int, bits: int) -> str:
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (bits >> 68 & 0xFFF) << 64 | 0b10 << 62 | bits & (2**62 - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _priced(model: str, provider: str, i: int, o: int, read: int, write: int, at: datetime) -> dict[str, Any]:
    from tokentrail.errors import UnknownModelError
    from tokentrail.pricing import calculate_cost

    try:
        c = calculate_cost(model, i, o, cache_read_tokens=read, cache_write_tokens=write, provider=provider, at=at)
    except UnknownModelError:
        return {}
    return {
        "cost_usd": c.total,
        "input_cost_usd": c.input,
        "output_cost_usd": c.output,
        "cache_read_cost_usd": c.cache_read,
        "cache_write_cost_usd": c.cache_write,
        "price_source": c.price_source,
    }


def _fields(n: int, seed: int, days: float, end: datetime) -> Iterator[dict[str, Any]]:
    """Every generated call as a dict of `Call` fields (ids and prices included)."""
    rng = random.Random(seed)
    models = list(MODELS)
    model_cum = _zipf(len(models), 1.0)
    agents = list(AGENTS)
    agent_cum = _zipf(len(agents), 0.9)
    user_cum = _zipf(USERS, 1.05)
    feature_cum = _zipf(len(FEATURES), 1.0)
    agent_team = {a: i % len(TEAMS) for i, a in enumerate(agents)}
    span_us = days * 86_400e6
    start = end - timedelta(microseconds=span_us)
    start_us = int(start.timestamp() * 1e6)
    step_us = span_us / max(n, 1)
    t_us = 0.0
    rand, lognorm, bits, pick = rng.random, rng.lognormvariate, rng.getrandbits, bisect.bisect
    model_total, agent_total, user_total, feature_total = model_cum[-1], agent_cum[-1], user_cum[-1], feature_cum[-1]
    for i in range(n):
        t_us += rng.expovariate(1.0) * step_us
        at_us = start_us + min(int(t_us), int(span_us) - 1)
        if rand() < LATE_SHARE:  # recorded late: up to two hours before its neighbours
            at_us -= int(rand() * 7_200e6)
        model = models[pick(model_cum, rand() * model_total)]
        provider, latency_s, in_median, out_median, caches, reasoning = MODELS[model]
        agent = agents[pick(agent_cum, rand() * agent_total)]
        embedding = out_median == 0
        success = rand() >= ERROR_SHARE
        streamed = not embedding and rand() < 0.45
        if success:
            input_tokens = max(1, int(in_median * lognorm(0.0, 1.0)))
            output_tokens = 0 if embedding else max(1, int(out_median * lognorm(0.0, 0.8)))
            read = int(input_tokens * (0.3 + 0.6 * rand())) if caches and rand() < 0.35 else 0
            write = int((input_tokens - read) * rand()) if provider == "anthropic" and rand() < 0.15 else 0
            think = int(output_tokens * reasoning * rand()) if reasoning else 0
            duration = latency_s * 1000 * lognorm(0.0, 0.5) * (0.5 + output_tokens / (2 * out_median or 1))
            error_type = error_message = None
            finish = None if embedding else FINISH[pick(_FINISH_CUM, rand())]
        else:
            input_tokens = output_tokens = read = write = think = 0
            duration = latency_s * 1000 * rand() * 3
            error_type, error_message = ERRORS[pick(_ERROR_CUM, rand())]
            finish = None
        at = _EPOCH + timedelta(microseconds=at_us)
        user = f"u-{pick(user_cum, rand() * user_total):04d}"
        labels = {"team": TEAMS[agent_team[agent]], "feature": FEATURES[pick(feature_cum, rand() * feature_total)]}
        env_roll = rand()
        fields: dict[str, Any] = {
            "id": _uuid7(at_us // 1000, bits(80)),
            "started_at": at,
            "model": model,
            "provider": provider,
            "response_model": (f"{model}-2025-04-14" if provider == "openai" else model) if success else None,
            "operation": "embedding" if embedding else "chat",
            "duration_ms": round(duration, 3),
            "ttft_ms": round(duration * (0.05 + 0.25 * rand()), 3) if streamed and success else None,
            "finish_reason": finish,
            "streamed": streamed,
            "response_id": f"resp_{seed:x}_{i:x}" if success and provider != "google" else None,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_read_tokens": read,
            "cache_write_tokens": write,
            "reasoning_tokens": think,
            "agent": agent,
            "user": user,
            "session": f"s-{bits(40):010x}" if rand() < 0.2 else f"s-{user}-{at_us // 3_600_000_000}",
            "project": AGENTS[agent],
            "environment": "prod" if env_roll < 0.85 else ("staging" if env_roll < 0.95 else "dev"),
            "labels": labels,
            "success": success,
            "error_type": error_type,
            "error_message": error_message,
            "retries": 0 if success or rand() < 0.5 else 1 + int(rand() * 3),
            "prompt_hash": f"{bits(256):064x}",
            "response_hash": f"{bits(256):064x}" if success else None,
        }
        fields.update(_priced(model, provider, input_tokens, output_tokens, read, write, at))
        yield fields


def batches(
    n: int, *, seed: int = 42, days: float = 30, end: datetime = END, size: int = 10_000
) -> Iterator[list[Call]]:
    """`n` calls in batches of `size` (the last may be shorter), in constant memory."""
    batch: list[Call] = []
    for fields in _fields(n, seed, days, end):
        batch.append(build_call(**fields))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def calls(n: int, *, seed: int = 42, days: float = 30, end: datetime = END) -> list[Call]:
    """`n` calls as one list (see `batches` for large `n`)."""
    return [build_call(**fields) for fields in _fields(n, seed, days, end)]


# What an instrumented SDK call hands to `record()` (the writer adds id, project, hashes and price).
RECORD_FIELDS = (
    "provider", "response_model", "operation", "duration_ms", "ttft_ms", "finish_reason", "streamed", "response_id",
    "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "agent", "user", "session", "labels", "success",
    "error_type", "error_message", "started_at",
)  # fmt: skip


_DEFAULTS = {
    "operation": "chat",
    "streamed": False,
    "success": True,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "reasoning_tokens": 0,
}


def record_fields(call: Call, names: tuple[str, ...] = RECORD_FIELDS) -> dict[str, Any]:
    """The `record()` keyword arguments for `call`: only the named fields, and only where they are set."""
    out = {}
    for name in names:
        value = getattr(call, name)
        if value is None or (name == "labels" and not value):
            continue
        if value == _DEFAULTS.get(name, ...):
            continue
        out[name] = value
    return out


def record_args(
    n: int, *, seed: int = 42, names: tuple[str, ...] = RECORD_FIELDS, days: float = 30, end: datetime = END
) -> list[tuple[str, int, int, dict[str, Any]]]:
    """`(model, input_tokens, output_tokens, fields)` for `n` `Tracker.record` calls."""
    sample = calls(n, seed=seed, days=days, end=end)
    return [(c.model, c.input_tokens, c.output_tokens, record_fields(c, names)) for c in sample]


if __name__ == "__main__":  # pragma: no cover
    import collections
    import time

    t = time.perf_counter()
    sample = calls(100_000)
    dt = time.perf_counter() - t
    print(f"{len(sample):,} calls in {dt:.2f}s ({len(sample) / dt:,.0f}/s)")
    late = sum(b.started_at < a.started_at for a, b in itertools.pairwise(sample))
    print(
        f"out of order: {late / len(sample):.1%}; errors: {sum(not c.success for c in sample) / len(sample):.1%}; "
        f"unpriced: {sum(c.cost_usd is None for c in sample) / len(sample):.1%}"
    )
    by_model = collections.Counter(c.model for c in sample)
    print({m: f"{k / len(sample):.1%}" for m, k in by_model.most_common()})
