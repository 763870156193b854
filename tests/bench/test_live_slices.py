"""bench.live_slices runs at a tiny size and names every update it times."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("DISPATCH_DATA_DIR", None)
    return subprocess.run([sys.executable, "-m", "bench.live_slices", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240)  # fmt: skip


def test_a_tiny_fleet_prints_each_update_with_its_cpu_and_the_load():
    done = _run("--vehicles", "5", "--repeat", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "5 routes (10 stops)" in out
    for update in ("timeline: stop results merged", "map: stop results merged",
                   "timeline: an evaluation's ETAs", "KPI pane: a live refresh"):  # fmt: skip
        line = next(ln for ln in out.splitlines() if ln.startswith(update))
        median, most = (float(x) for x in line[len(update) :].split())
        assert 0 <= median <= most
    assert "load average" in out


def test_bad_arguments_get_a_clear_message():
    done = _run("--repeat", "0")
    assert done.returncode == 2 and "--repeat" in done.stderr
