"""A store on a disk that fills (a small tmpfs, mounted here) (issue 12, item 15).

A batch that does not fit is not stored at all — no prefix of it, no torn line — so the tracker's count is
exact: recorded = stored + spooled + counted lost, and once space is freed, stored = recorded - counted lost.
SQLite names the real error ("database or disk is full"), not the failed rollback after it. The stores that
live on a local disk: JSONL and SQLite (memory has no disk; PostgreSQL's disk is the server's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tokentrail import Call, StoreError, Tracker
from tokentrail.model import new_call_id
from tokentrail.store import open_store
from tokentrail.store.base import Filter

DISK_KB = 16384
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A DISK_KB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_KB}k", "tmpfs", str(where)],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """Fill `disk` until about `leave` bytes remain free; returns the filler file (delete it to free space)."""
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def calls(n: int, *, start: int = 0, days: int = 1) -> list[Call]:
    """`n` calls with ~600-byte labels, spread over `days` days (so a batch spans several files)."""
    return [
        Call(id=new_call_id(), started_at=T0 + timedelta(days=i % days, seconds=i), model="gpt-4o",
             input_tokens=1000 + i, output_tokens=10, agent=f"agent-{i}", labels={"note": "x" * 600})
        for i in range(start, start + n)
    ]  # fmt: skip


def stored_ids(url: str) -> list[str]:
    store = open_store(url)
    try:
        return [c.id for c in store.calls(Filter())]
    finally:
        store.close()


def url_of(kind: str, disk: Path) -> str:
    return f"jsonl://{disk / 'jsonl'}" if kind == "jsonl" else f"sqlite:///{disk / 'usage.db'}"


@pytest.mark.parametrize("days", [1, 3])
def test_jsonl_batch_that_does_not_fit_leaves_nothing_behind(disk: Path, days: int) -> None:
    url = url_of("jsonl", disk)
    store = open_store(url)
    try:
        first = calls(20, days=days)
        assert store.write(first) == 20
        filler = fill(disk, leave=24 * 1024)  # room for ~30 of the next 200 lines
        batch = calls(200, start=20, days=days)
        with pytest.raises(StoreError, match="No space left on device"):
            store.write(batch)
        # Not a line of the batch is stored, and no torn line is left at the end of any file.
        assert sorted(stored_ids(url)) == sorted(c.id for c in first)
        for data in (disk / "jsonl").rglob("*.jsonl"):
            assert data.read_bytes().endswith(b"\n"), data
        filler.unlink()
        assert store.write(batch) == 200  # space freed: the same batch goes in, once
        assert store.write(batch) == 0
    finally:
        store.close()
    ids = stored_ids(url)
    assert len(ids) == len(set(ids)) == 220


def test_sqlite_full_disk_says_so(disk: Path) -> None:
    url = url_of("sqlite", disk)
    store = open_store(url)
    try:
        assert store.write(calls(20)) == 20
        filler = fill(disk, leave=8 * 1024)
        with pytest.raises(StoreError) as info:
            store.write(calls(300, start=20))
        assert "database or disk is full" in str(info.value) and "cannot rollback" not in str(info.value)
        assert len(stored_ids(url)) == 20
        filler.unlink()
        assert store.write(calls(300, start=20)) == 300
    finally:
        store.close()
    assert len(stored_ids(url)) == 320


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_tracker_accounts_for_every_call_when_the_disk_fills(disk: Path, kind: str) -> None:
    # The store's disk fills; the spool (TOKENTRAIL_HOME) is on another disk and takes what the store does not.
    url = url_of(kind, disk)
    tracker = Tracker(url, batch_size=50, flush_interval=60, display=False)
    recorded = 0
    try:
        for i in range(40):
            tracker.record("gpt-4o", 1000 + i, 10, agent=f"a{i}", labels={"note": "x" * 600})
        recorded += 40
        assert tracker.flush()
        filler = fill(disk, leave=24 * 1024)
        for i in range(40, 440):
            tracker.record("gpt-4o", 1000 + i, 10, agent=f"a{i}", labels={"note": "x" * 600})
            if i % 50 == 49:
                assert tracker.flush()
        recorded += 400
        assert tracker.flush()
        h = tracker.health
        stored = len(stored_ids(url))
        assert h.spooled > 0, "the disk never filled: the test proves nothing"
        assert stored < recorded
        assert recorded == stored + h.spooled + h.lost + h.dropped, (stored, h)

        filler.unlink()  # the fault clears
        tracker.replay_spool()
        ids = stored_ids(url)
        assert len(ids) == len(set(ids)) == recorded - h.lost - h.dropped
    finally:
        tracker.close()


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_a_batch_neither_store_nor_spool_can_take_is_counted_lost_and_not_stored(
    disk: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The spool shares the full disk: a batch the store refuses cannot be kept either. It is counted lost —
    # and then it must really be absent from the store (before, JSONL kept its first lines: lost *and* stored).
    monkeypatch.setenv("TOKENTRAIL_HOME", str(disk / "home"))
    url = url_of(kind, disk)
    tracker = Tracker(url, batch_size=200, flush_interval=60, display=False)
    try:
        for i in range(20):
            tracker.record("gpt-4o", 1000 + i, 10, agent=f"a{i}", labels={"note": "x" * 600})
        assert tracker.flush()
        (disk / "home" / "spool").mkdir(parents=True, exist_ok=True)
        # Full to the last block: the store's append may still fit a few lines in its file's last block
        # (those must be cut back); a new spool file gets no byte (a short spool write is issue 12, item 9).
        fill(disk, leave=0)
        for i in range(20, 220):
            tracker.record("gpt-4o", 1000 + i, 10, agent=f"a{i}", labels={"note": "x" * 600})
        assert tracker.flush()
        h = tracker.health
        stored = len(stored_ids(url))
        assert h.lost > 0, "the batch was not lost: the test proves nothing"
        assert 220 == stored + h.spooled + h.lost + h.dropped, (stored, h)
    finally:
        tracker.close()
