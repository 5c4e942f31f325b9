"""A realistic week of multi-agent LLM traffic, recorded through the public API into a separate store.

`fill_demo_store()` is what `tokentrail demo` runs: several providers and models, agents with their own
habits (a cheap router, a researcher that streams long answers, a coder that hits the prompt cache, a
reviewer that reasons), users and sessions, office-hours rhythm, a few rate-limit errors and timeouts,
a local model with no known price, and one afternoon when the researcher loops on an expensive model
(the cost spike). The same `seed` gives the same calls, placed relative to `now`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .model import new_call_id

__all__ = ["DEMO_DAYS", "DemoResult", "fill_demo_store"]

DEMO_DAYS = 7

# agent: (project, weight, [(provider, model, weight)], (input range), (output range), streamed share, operation)
_AGENTS: dict[str, tuple[str, float, list[tuple[str, str, float]], tuple[int, int], tuple[int, int], float, str]] = {
    "router": ("support-bot", 5.0, [("openai", "gpt-4o-mini", 1.0)], (300, 1_500), (5, 40), 0.0, "chat"),
    "support": (
        "support-bot",
        3.0,
        [("openai", "gpt-4o", 0.7), ("anthropic", "claude-3-5-haiku-latest", 0.3)],
        (1_500, 6_000),
        (150, 700),
        0.8,
        "chat",
    ),
    "researcher": (
        "research-assistant",
        1.5,
        [("anthropic", "claude-sonnet-4", 0.8), ("google", "gemini-2.5-flash", 0.2)],
        (8_000, 40_000),
        (800, 3_000),
        0.9,
        "chat",
    ),
    "coder": (
        "research-assistant",
        1.5,
        [("anthropic", "claude-sonnet-4", 1.0)],
        (12_000, 60_000),
        (400, 2_500),
        0.7,
        "chat",
    ),
    "reviewer": ("research-assistant", 0.8, [("openai", "o3-mini", 1.0)], (3_000, 12_000), (800, 4_000), 0.0, "chat"),
    "summarizer": (
        "support-bot",
        1.2,
        [("google", "gemini-2.0-flash", 0.8), ("ollama", "llama-3.1-8b-local", 0.2)],
        (2_000, 10_000),
        (100, 400),
        0.3,
        "completion",
    ),
    "embedder": (
        "research-assistant",
        2.0,
        [("openai", "text-embedding-3-small", 1.0)],
        (200, 2_000),
        (0, 0),
        0.0,
        "embedding",
    ),
}
_USERS = ("u-ada", "u-grace", "u-linus", "u-margaret", "u-alan", "u-barbara", "u-ken", "u-radia")
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 6, 10, 14, 15, 14, 10, 12, 15, 14, 12, 9, 6, 4, 3, 2, 2, 1)


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo recorded."""

    store_url: str
    calls: int
    since: datetime
    until: datetime


def _pick(rng: random.Random, options: list[tuple[str, str, float]]) -> tuple[str, str]:
    provider, model, _ = rng.choices(options, weights=[w for *_, w in options])[0]
    return provider, model


def _calls_for_day(rng: random.Random, day: datetime, spike: bool) -> list[dict[str, Any]]:
    weekend = day.weekday() >= 5
    n = rng.randint(60, 90) if weekend else rng.randint(220, 300)
    agents = list(_AGENTS)
    weights = [_AGENTS[a][1] for a in agents]
    out = []
    for _ in range(n):
        hour = rng.choices(range(24), weights=_HOUR_WEIGHTS)[0]
        at = day + timedelta(hours=hour, seconds=rng.randrange(3600), microseconds=rng.randrange(1_000_000))
        out.append(_one_call(rng, rng.choices(agents, weights=weights)[0], at))
    if spike:  # the researcher loops on an expensive model for an hour after lunch
        start = day + timedelta(hours=14, minutes=5)
        for i in range(40):
            call = _one_call(rng, "researcher", start + timedelta(seconds=i * 80 + rng.randrange(60)))
            call.update(
                model="claude-opus-4",
                provider="anthropic",
                input_tokens=rng.randint(20_000, 40_000),
                output_tokens=rng.randint(1_500, 4_500),
                user="u-linus",
                session="s-loop-1",
                cache_read_tokens=0,
                labels={"team": "research", "feature": "deep-dive"},
            )
            out.append(call)
    return out


def _one_call(rng: random.Random, agent: str, at: datetime) -> dict[str, Any]:
    project, _, models, (in_lo, in_hi), (out_lo, out_hi), streamed_share, operation = _AGENTS[agent]
    provider, model = _pick(rng, models)
    user = rng.choice(_USERS)
    input_tokens = rng.randint(in_lo, in_hi)
    output_tokens = rng.randint(out_lo, out_hi) if out_hi else 0
    streamed = rng.random() < streamed_share
    duration = 80 + input_tokens * rng.uniform(0.002, 0.01) + output_tokens * rng.uniform(8, 25)
    call: dict[str, Any] = {
        "model": model,
        "provider": provider,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "operation": operation,
        "agent": agent,
        "user": user,
        "session": f"s-{user[2:]}-{at:%m%d}-{at.hour // 4}",
        "project": project,
        "environment": "prod",
        "streamed": streamed,
        "duration_ms": round(duration, 1),
        "ttft_ms": round(rng.uniform(150, 900) + input_tokens * 0.004, 1) if streamed else None,
        "finish_reason": "stop" if operation != "embedding" else None,
        "labels": {"team": "support" if project == "support-bot" else "research"},
    }
    if agent == "coder" and rng.random() < 0.75:  # a long, stable system prompt served from the cache
        call["cache_read_tokens"] = int(input_tokens * rng.uniform(0.6, 0.9))
    if model == "o3-mini":
        call["reasoning_tokens"] = int(output_tokens * rng.uniform(0.4, 0.8))
    if provider == "ollama":
        call["tokens_estimated"] = True  # a local server that reports no usage: tokentrail's estimate
    roll = rng.random()
    if roll < 0.015:
        call.update(
            success=False,
            error_type="RateLimitError",
            error_message="429: rate limit reached",
            output_tokens=0,
            reasoning_tokens=0,
            duration_ms=round(rng.uniform(40, 200), 1),
            ttft_ms=None,
        )
    elif roll < 0.022:
        call.update(
            success=False,
            error_type="APITimeoutError",
            error_message="request timed out after 60 s",
            output_tokens=0,
            reasoning_tokens=0,
            duration_ms=60_000.0,
            ttft_ms=None,
        )
    if not call.get("success", True):
        call["finish_reason"] = None
    call["started_at"] = at
    return call


def fill_demo_store(store_url: str, *, seed: int = 7, now: datetime | None = None, days: int = DEMO_DAYS) -> DemoResult:
    """Record `days` days of demo traffic ending at `now` into the store at `store_url`.

    Every call goes through `tokentrail.Tracker(store_url).record(...)`, so it is priced and stored
    exactly as an application's would be. Returns how many calls were recorded.

    Example:
        >>> fill_demo_store("memory://", seed=1, days=1).calls > 0
        True
    """
    from .tracker import Tracker

    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    rng = random.Random(seed)
    first_day = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    spike_day = days - 3 if days >= 3 else -1
    planned: list[dict[str, Any]] = []
    for i in range(days):
        planned += _calls_for_day(rng, first_day + timedelta(days=i), spike=i == spike_day)
    planned = sorted((c for c in planned if c["started_at"] <= now), key=lambda c: c["started_at"])
    tracker = Tracker(store_url, display=False, batch_size=1000)
    try:
        for c in planned:
            at = c["started_at"]
            c["id"] = new_call_id(int(at.timestamp() * 1_000_000) * 1000)
            tracker.record(c.pop("model"), c.pop("input_tokens"), c.pop("output_tokens"), **c)
        tracker.flush()
    finally:
        tracker.close()
    return DemoResult(store_url=store_url, calls=len(planned), since=first_day, until=now)
