"""A tracker with budgets (and alert rules) closes its store only after the background work that reads it ends.

`tokentrail demo` with a budget in the config file used to print `tokentrail-budgets failed (ignored):
StoreError: ... is closed` about one run in sixteen (and could crash SQLite outright): the threshold check
started by the last batch was still reading when `close()` closed the store. Each test repeats the whole
shutdown many times on real threads and asserts that nothing at all is logged or printed.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from conftest import make_store_url
from tokentrail import Tracker
from tokentrail.budgets import budget_status
from tokentrail.demo import fill_demo_store

RUNS = {"memory": 50, "jsonl": 50, "sqlite": 50, "postgres": 20}


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str = "") -> None:
    config = tmp_path / "tokentrail.toml"
    # Limits far above a demo day's spend: no threshold fires, so any line logged is an error.
    config.write_text(f'[budgets.monthly]\nlimit_usd = 1000000\nperiod = "month"\n{extra}')
    monkeypatch.setenv("TOKENTRAIL_CONFIG", str(config))


def _background_threads(before: set[threading.Thread]) -> list[str]:
    """Budget and alert-rule workers started since `before` that are still running."""
    names = ("tokentrail-budgets", "tokentrail-alert-rules")
    return sorted(t.name for t in set(threading.enumerate()) - before if t.name in names)


@pytest.mark.parametrize("kind", list(RUNS))
def test_demo_with_budgets_shuts_down_silently_every_time(
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    _config(tmp_path, monkeypatch)
    caplog.set_level(logging.DEBUG, logger="tokentrail")
    recorded = 0
    before = set(threading.enumerate())
    for i in range(RUNS[kind]):
        url = make_store_url(kind, tmp_path / f"run-{i}", request)
        recorded_last = fill_demo_store(url, seed=i, days=1).calls
        recorded += recorded_last
        assert caplog.records == [], f"run {i}: {caplog.text}"
        assert _background_threads(before) == [], f"run {i}: a worker outlived its tracker"
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    if kind != "memory":  # the budget was live: the demo's tracker saved it in the store and counted every call
        (status,) = budget_status("monthly", store=url)
        assert status.calls == (recorded if kind == "postgres" else recorded_last)


def test_alert_rules_and_budgets_finish_before_the_store_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Alert rules run on their own thread after writes too; an interval of 0 makes every write start one.
    _config(tmp_path, monkeypatch, '[alerts]\ninterval = "0s"\n[[alerts.rules]]\ntype = "error_rate"\n')
    caplog.set_level(logging.DEBUG, logger="tokentrail")
    before = set(threading.enumerate())
    for i in range(50):
        tracker = Tracker(f"sqlite:///{tmp_path / f'{i}.db'}", display=False)
        for n in range(20):
            tracker.record("gpt-4o-mini", 1000 + n, 100, agent="a")
        tracker.close()
        assert caplog.records == [], f"run {i}: {caplog.text}"
        assert _background_threads(before) == [], f"run {i}: a worker outlived its tracker"
