"""When the store fails, calls wait in a local spool and are replayed once, in order, when it answers."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from tokentrail import Call, Tracker
from tokentrail.config import default_home
from tokentrail.spool import Spool, spool_status
from tokentrail.store import Filter
from tokentrail.store.memory import MemoryStore


class FlakyStore(MemoryStore):
    """A store that refuses writes while `down` is set, or after `fail_after` more successful calls."""

    def __init__(self) -> None:
        super().__init__("sqlite:///flaky.db")
        self.down = False
        self.fail_after: int | None = None

    def write(self, calls: Sequence[Call]) -> int:
        if self.down:
            raise ConnectionError("server closed the connection unexpectedly")
        if self.fail_after is not None:
            if self.fail_after < len(calls):
                raise ConnectionError("lost mid-replay")
            self.fail_after -= len(calls)
        return super().write(calls)


def test_outage_spools_then_replays_exactly(caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore()
    with caplog.at_level(logging.WARNING, logger="tokentrail"), Tracker(store, batch_size=100) as t:
        for i in range(50):
            t.record("gpt-4o", i, 1)
        t.flush()
        store.down = True
        for i in range(50, 2050):
            t.record("gpt-4o", i, 1)  # never raises
        t.flush()
        assert t.health.spooled == 2000 and t.health.lost == 0
        assert spool_status(default_home() / "spool").calls == 2000
        store.down = False
        store.fail_after = 1000  # the first replay is cut off half-way: its first 1,000 calls are stored
        assert t.replay_spool() == 1000
        store.fail_after = None
        assert t.replay_spool() == 1000  # the rest; the first 1,000 are skipped, being stored already
        assert t.health.replayed == 2000 == t.health.spooled  # every spooled call counted once as replayed
    stored = sorted(c.input_tokens for c in store.calls(Filter()))
    assert stored == list(range(2050))  # exact: none lost, none duplicated
    assert spool_status(default_home() / "spool").calls == 0
    assert sum("calls are kept in the local spool" in r.getMessage() for r in caplog.records) == 1


def test_new_calls_queue_behind_the_spool_to_keep_order() -> None:
    store = FlakyStore()
    seen: list[int] = []
    original = store.write

    def write(calls: Sequence[Call]) -> int:
        n = original(calls)
        seen.extend(c.input_tokens for c in calls)
        return n

    store.write = write  # type: ignore[method-assign]
    with Tracker(store, batch_size=10) as t:
        store.down = True
        for i in range(30):
            t.record("gpt-4o", i, 1)
        t.flush()
        store.down = False
        t.replay_spool()
        for i in range(30, 40):
            t.record("gpt-4o", i, 1)
        t.flush()
    assert seen == list(range(40))


def test_unwritable_spool_counts_the_loss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "spool").write_text("a file where the spool folder should be")
    monkeypatch.setenv("TOKENTRAIL_HOME", str(home))
    store = FlakyStore()
    store.down = True
    with Tracker(store) as t:
        t.record("gpt-4o", 1, 1)
        t.flush()
        assert (t.health.lost, t.health.spooled) == (1, 0)


def test_a_dead_process_spool_is_replayed_by_another(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from tokentrail.model import new_call_id

    call = Call(id=new_call_id(), started_at=datetime.now(timezone.utc), model="gpt-4o", input_tokens=5)
    spool = Spool(tmp_path, "sqlite:///x.db")
    spool.append([call])
    dead = tmp_path / spool.path.name.replace(f"-{os.getpid()}.", "-999999999.")
    spool.path.rename(dead)
    with dead.open("a") as fh:
        fh.write('{"id": "torn')  # a crash mid-line leaves a torn last line
    store = MemoryStore()
    assert Spool(tmp_path, "sqlite:///x.db").replay(store.write) == 1
    assert [c.id for c in store.calls(Filter())] == [call.id]
    assert not dead.exists()
