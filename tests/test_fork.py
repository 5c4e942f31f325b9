"""fork and multiprocessing, done for real: what gunicorn `--preload`, Celery prefork and `multiprocessing` do.

A fork while the writer is starting (importing genai-prices, opening the store, holding a pricing lock)
must leave a child that prices, stores and flushes its own calls; multiprocessing workers, which end
with `os._exit`, must not take their unwritten calls with them. Under `with Pool()` workers end by SIGTERM,
which nothing survives: there each task flushes, as the README says (a SIGTERM handler was tried and could
hang the pool when a worker blocked on its task queue missed the signal).
Each check runs in a fresh interpreter, on every store another process can read (not memory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import make_store_url

from tokentrail.store import Filter, open_store

SRC = str(Path(__file__).resolve().parents[1] / "src")
KINDS = ("jsonl", "sqlite", "postgres")


def _run(args: list[str], *, cwd: Path, timeout: float = 60) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((SRC, str(cwd)))}
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def _stored(url: str) -> list:
    store = open_store(url)
    try:
        return list(store.calls(Filter(), newest_first=False))
    finally:
        store.close()


@pytest.fixture(params=KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return make_store_url(request.param, tmp_path, request)


# Forks six children while the default tracker's writer is starting: the first fork comes with the very
# first record (the writer thread has just been started), the last 0.3 s later. Each child records 100
# calls, flushes and reports its counts; a child that hangs is killed and reported as stuck.
_FORKING = """
import json, os, signal, sys, time
import tokentrail
tracker = tokentrail.configure(sys.argv[1], flush_interval=0.2)
children = {}
for k, delay in enumerate((0, 0.001, 0.005, 0.02, 0.06, 0.2)):
    time.sleep(delay)
    tracker.record("gpt-4o", 1000 + k, 1, agent="parent")
    pid = os.fork()
    if pid == 0:
        for i in range(100):
            tracker.record("gpt-4o", 100 * k + i, 1, agent=f"child-{k}")
        flushed = tracker.flush(timeout=20)
        h = tracker.health
        line = json.dumps({"child": k, "flushed": flushed, "written": h.written, "spooled": h.spooled,
                           "lost": h.lost, "dropped": h.dropped, "internal_errors": h.internal_errors})
        os.write(1, (line + "\\n").encode())  # one write under PIPE_BUF: children's lines never interleave
        os._exit(0)
    children[pid] = k
deadline = time.monotonic() + 30
while children and time.monotonic() < deadline:
    for pid in list(children):
        if os.waitpid(pid, os.WNOHANG)[0]:
            del children[pid]
    time.sleep(0.01)
for pid, k in children.items():
    os.kill(pid, signal.SIGKILL)
    print(json.dumps({"child": k, "stuck": True}), flush=True)
print(json.dumps({"parent_flushed": tracker.flush(timeout=20), "written": tracker.health.written}), flush=True)
"""


def test_a_fork_while_the_writer_starts_leaves_children_that_price_and_store_everything(
    url: str, tmp_path: Path
) -> None:
    lines = [json.loads(line) for line in _run(["-c", _FORKING, url], cwd=tmp_path)]
    children = [r for r in lines if "child" in r]
    assert len(children) == 6
    for report in children:
        assert "stuck" not in report, f"child {report['child']} deadlocked"
        assert report["flushed"], report
        assert (report["written"], report["spooled"], report["lost"], report["dropped"]) == (100, 0, 0, 0), report
        assert report["internal_errors"] == 0, report
    assert lines[-1] == {"parent_flushed": True, "written": 6}
    calls = _stored(url)
    by_agent: dict[str, list[int]] = {}
    for call in calls:
        by_agent.setdefault(call.agent, []).append(call.input_tokens)
    assert sorted(by_agent["parent"]) == list(range(1000, 1006))
    for k in range(6):
        assert sorted(by_agent[f"child-{k}"]) == list(range(100 * k, 100 * k + 100))
    assert len(calls) == 606 and len({c.id for c in calls}) == 606
    unpriced = [c for c in calls if c.cost_usd is None]
    assert not unpriced, f"{len(unpriced)} call(s) stored unpriced (a half-imported genai-prices in a child)"


_WORKERS = """
import tokentrail


def task(i):
    for n in range(100):
        tokentrail.record("gpt-4o", 100 * i + n, 1, agent="worker")
    return 100


def task_then_flush(i):
    # `with Pool()` ends its workers with SIGTERM (terminate()), which no flush survives: a task flushes itself
    task(i)
    tokentrail.flush()
    return 100


def tasks(first):
    for i in range(first, first + 10):
        task(i)
"""

# The parent records a few calls, then runs 40 tasks of 100 calls in 4 workers the way the mode says
# (4 Process objects of 10 tasks each, or a Pool of 4 ended by `with` — whose tasks flush, as the README says —
# or by close() and join()).
_MAIN = """
import multiprocessing, os, sys
url, method, mode = sys.argv[1:4]
os.environ["TOKENTRAIL_STORE"] = url
import tokentrail
import workers

if __name__ == "__main__":
    for n in range(8):
        tokentrail.record("gpt-4o", n, 1, agent="parent")
    ctx = multiprocessing.get_context(method)
    if mode == "process":
        processes = [ctx.Process(target=workers.tasks, args=(first,)) for first in range(0, 40, 10)]
        for p in processes:
            p.start()
        for p in processes:
            p.join()
        assert all(p.exitcode == 0 for p in processes)
    elif mode == "pool-with":
        with ctx.Pool(4) as pool:
            assert sum(pool.map(workers.task_then_flush, range(40))) == 4000
    else:
        pool = ctx.Pool(4)
        assert sum(pool.map(workers.task, range(40))) == 4000
        pool.close()
        pool.join()
    print("done", flush=True)
"""


@pytest.mark.parametrize(
    ("method", "mode"),
    [("fork", "process"), ("spawn", "process"), ("fork", "pool-with"), ("spawn", "pool-with"),
     ("fork", "pool-close"), ("spawn", "pool-close")],
)  # fmt: skip
def test_multiprocessing_workers_store_every_call(url: str, tmp_path: Path, method: str, mode: str) -> None:
    (tmp_path / "workers.py").write_text(_WORKERS, encoding="utf-8")
    (tmp_path / "main.py").write_text(_MAIN, encoding="utf-8")
    assert _run(["main.py", url, method, mode], cwd=tmp_path) == ["done"]
    calls = _stored(url)
    workers = sorted(c.input_tokens for c in calls if c.agent == "worker")
    lost = 4000 - len(set(workers))
    assert workers == list(range(4000)), f"{lost} of 4,000 worker calls lost (or duplicated)"
    assert sorted(c.input_tokens for c in calls if c.agent == "parent") == list(range(8))
