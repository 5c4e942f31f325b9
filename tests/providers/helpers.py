"""Fixtures and helpers shared by the capture tests (imported by each `tests/test_capture_*.py`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest

from tokentrail import Call, Tracker
from tokentrail.capture import uninstrument
from tokentrail.store.base import Filter

from .server import FakeProvider, Reply, Request, fixture, split_events

M = Decimal(1_000_000)


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture
def server(_server: FakeProvider) -> Iterator[FakeProvider]:
    """The fake provider, with an empty queue and request log for each test."""
    _server.reset()
    yield _server
    _server.reset()


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    """A memory-store tracker; the test fails if capture hit an internal error on it."""
    t = Tracker("memory://")
    try:
        yield t
        t.flush()
        assert t.health.internal_errors == 0, t.health.last_error
    finally:
        t.close()


@pytest.fixture(autouse=True)
def _no_patches_left() -> Iterator[None]:
    yield
    uninstrument()


def calls(tracker: Tracker) -> list[Call]:
    """Every stored call, oldest first."""
    assert tracker.flush()
    return sorted(tracker.store.calls(Filter()), key=lambda c: c.started_at)


def one_call(tracker: Tracker) -> Call:
    stored = calls(tracker)
    assert len(stored) == 1, stored
    return stored[0]


def cost(
    rates: dict[str, str],
    *,
    uncached: int = 0,
    cache_read: int = 0,
    write_5m: int = 0,
    write_1h: int = 0,
    output: int = 0,
) -> Decimal:
    """The published price of a usage, from literal $/MTok rates."""
    total = (
        uncached * Decimal(rates["in"])
        + cache_read * Decimal(rates.get("read", "0"))
        + write_5m * Decimal(rates.get("write", "0"))
        + write_1h * Decimal(rates.get("write_1h", "0"))
        + output * Decimal(rates["out"])
    )
    return total / M


def openai_stream(name: str, *, cut_after: int | None = None) -> Any:
    """An OpenAI Chat Completions stream that, like OpenAI, carries usage only when the request asked."""

    def answer(request: Request) -> Reply:
        options = (request.body or {}).get("stream_options") or {}
        events = split_events(fixture(name))
        if not options.get("include_usage"):
            kept = []
            for event in events:
                if not event.startswith(b"data: {"):
                    kept.append(event)
                    continue
                data = json.loads(event[len(b"data: ") :])
                if not data["choices"] and data.get("usage"):
                    continue
                data.pop("usage", None)
                kept.append(b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n")
            events = kept
        return Reply.sse(events, cut_after=cut_after)

    return answer


def labels_of(call: Call) -> dict[str, str]:
    return dict(call.labels)


def user_messages(text: str = "What is the capital of France?") -> Sequence[dict[str, str]]:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": text}]
