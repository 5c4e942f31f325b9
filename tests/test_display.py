"""The per-call panel: switched on per client or per context, counts in distinct colours, NO_COLOR respected."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from io import StringIO

import pytest
from openai import OpenAI
from rich.console import Console

import tokentrail as tt
from providers.helpers import _no_patches_left, _server, calls, server
from providers.server import FakeProvider, Reply, fixture_json
from tokentrail import Call, Tracker, ValidationError
from tokentrail.display import print_call
from tokentrail.store.base import Filter

__all__ = ["_no_patches_left", "_server", "server"]  # pytest fixtures, imported

CALL = Call(
    id="c1", started_at=datetime(2025, 1, 1, tzinfo=timezone.utc), model="gpt-4o", provider="openai",
    input_tokens=1200, output_tokens=345, cost_usd=Decimal("0.00645"), duration_ms=1500.0,
)  # fmt: skip
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|9[0-7]|38;[25];[0-9;]+)m")


def render(call: Call) -> str:
    out = StringIO()
    print_call(call, Console(file=out, force_terminal=True, width=100))
    return out.getvalue()


def test_input_output_and_total_have_distinct_colours() -> None:
    text = render(CALL)
    # cyan (36) input, magenta (35) output, bold green (1;32) total, each right before its number
    assert "\x1b[36m1,200\x1b[0m in" in text
    assert "\x1b[35m345\x1b[0m out" in text
    assert "\x1b[1;32m1,545\x1b[0m total" in text


def test_no_color_gives_the_same_panel_without_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    coloured = render(CALL)
    monkeypatch.setenv("NO_COLOR", "1")
    plain = render(CALL)
    assert COLOUR.search(coloured) and not COLOUR.search(plain)
    assert "1,200 in · 345 out · \x1b[1m1,545\x1b[0m total" in plain  # bold is not a colour
    assert re.sub(r"\x1b\[[0-9;]*m", "", plain) == re.sub(r"\x1b\[[0-9;]*m", "", coloured)


@pytest.fixture
def quiet_tracker() -> Iterator[Tracker]:
    t = Tracker("memory://", display=False)
    yield t
    t.close()


def panels(capsys: pytest.CaptureFixture[str]) -> int:
    return capsys.readouterr().err.count("LLM call")


def test_context_wins_over_the_call_which_wins_over_the_tracker(
    quiet_tracker: Tracker, capsys: pytest.CaptureFixture[str]
) -> None:
    t = quiet_tracker
    t.record("gpt-4o", 10, 5)
    assert panels(capsys) == 0
    t.record("gpt-4o", 10, 5, display=True)  # the call's (a client's) own flag beats the tracker's
    assert panels(capsys) == 1
    with tt.context(display=True):
        t.record("gpt-4o", 10, 5)
        with tt.context(agent="inner"):  # None: inherits
            t.record("gpt-4o", 10, 5)
        with tt.context(display=False):
            t.record("gpt-4o", 10, 5, display=True)  # the context beats the call
    assert panels(capsys) == 2
    loud = Tracker("memory://", display=True)
    try:
        with tt.context(display=False):
            loud.record("gpt-4o", 10, 5)
        assert panels(capsys) == 0
        loud.record("gpt-4o", 10, 5, display=False)
        assert panels(capsys) == 0
        loud.record("gpt-4o", 10, 5)
        assert panels(capsys) == 1
    finally:
        loud.close()
    assert t.flush() and len(list(t.store.calls(Filter()))) == 5  # displayed or not, all stored


def chat(client: OpenAI, server: FakeProvider) -> None:
    body = fixture_json("openai_chat.json")
    body["id"] = f"chatcmpl-{len(server.requests)}-{id(client)}"
    server.queue(Reply.json(body))
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def test_one_client_shows_its_calls_and_a_context_silences_them(
    quiet_tracker: Tracker, server: FakeProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = tt.instrument(OpenAI(api_key="sk-test", base_url=server.url + "/v1", max_retries=0),
                          tracker=quiet_tracker, display=True)  # fmt: skip
    plain = tt.instrument(OpenAI(api_key="sk-test", base_url=server.url + "/v1", max_retries=0),
                          tracker=quiet_tracker)  # fmt: skip
    chat(shown, server)
    err = capsys.readouterr().err
    assert err.count("LLM call") == 1 and "gpt-4o" in err
    chat(plain, server)
    assert panels(capsys) == 0
    with tt.context(display=False):
        chat(shown, server)
    assert panels(capsys) == 0
    with tt.context(display=True):
        chat(plain, server)
    assert panels(capsys) == 1
    assert len(calls(quiet_tracker)) == 4


@pytest.mark.parametrize("bad", ["yes", 1])
def test_a_display_flag_that_is_not_a_bool_is_refused(bad: object, server: FakeProvider) -> None:
    with pytest.raises(ValidationError, match=f"display={bad!r} is not valid"):
        tt.context(display=bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=f"display={bad!r} is not valid"):
        tt.instrument(OpenAI(api_key="sk-test", base_url=server.url + "/v1"), display=bad)  # type: ignore[arg-type]
