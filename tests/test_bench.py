"""Every benchmark script still runs: `--quick`, in a subprocess, exit 0, figures printed.

Benchmarks print figures; nothing here asserts how fast anything is. `bench/run_all.py` is run on one
small script (running everything again would double this test's time); the peer scripts need
`.bench-venv` (bench/setup_peers.sh), which CI never builds, so they are not run here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))
TIMEOUT = 180

pytestmark = pytest.mark.slow


def run(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(BENCH)}
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_bench_script_runs_quick(script: Path) -> None:
    if script.stem == "run_all":
        proc = run(script, "--quick", "--only", "bench_tokens", cwd=BENCH.parent)
        assert proc.returncode == 0, proc.stderr[-2000:]
        table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
        assert table and table[0] == "| figure | ours | peers | raw ceiling | ratio | target | met? |", proc.stdout
        assert any(line.startswith("| count_tokens, 1 KB text | ") for line in table), proc.stdout
        return
    proc = run(script, "--quick", "--json", cwd=BENCH.parent)
    if proc.returncode == 2 and "unrecognized arguments: --json" in proc.stderr:
        proc = run(script, "--quick", cwd=BENCH.parent)  # a script that prints only text
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.strip(), f"{script.name} printed nothing"
        return
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"{script.name} --json printed no JSON object:\n{proc.stdout[-2000:]}"
    assert json.loads(lines[-1])["figures"], lines[-1]
