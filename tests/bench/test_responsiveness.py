"""The responsiveness benchmark runs end to end at a tiny size and prints its figures."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("DISPATCH_DATA_DIR", None)
    env.pop("DISPATCH_MQTT_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "bench.responsiveness", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow
def test_tiny_fleet_reports_stalls_paint_latency_and_vehicles_on_the_map(capsys):
    """10 vehicles for 2 s: stall and paint figures, message rates, every vehicle on the map,
    and the table names both targets."""
    from bench.responsiveness import print_table, summary_line

    done = _run("--vehicles", "10", "--seconds", "2", "--warmup", "1", "--trace-stalls", "--json")
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1 = a target not met, not an error
    result = json.loads(done.stdout)
    # A 5 ms timer over 2 s: some 400 firings on an idle machine, far fewer on a loaded one.
    assert result["stall_ms"]["n"] > 10
    assert result["stall_ms"]["p99"] is not None
    assert result["paint_ms"]["n"] >= 1 and result["paint_ms"]["p50"] is not None
    assert result["accepted_per_s"] > 0
    assert result["vehicles_on_map"] == 10
    # The main thread's own CPU per gap, beside the wall-clock stalls, and the longest
    # stalls with what ran in them.
    assert result["stall_cpu_ms"]["n"] == result["stall_ms"]["n"]
    assert 0 < result["main_cpu_pct"] <= result["process_cpu_pct"]
    longest = result["longest_stalls"]
    assert longest and longest[0]["wall_ms"] == result["stall_ms"]["max"]
    assert len(result["load_avg_before"]) == 3
    print_table(result)
    table = capsys.readouterr().out
    assert "main-thread stall (ms)" in table and "p99 < 50" in table
    assert "map paint after batch (ms)" in table and "p99 < 200" in table
    assert "vehicles on the map at the end: 10 of 10" in table
    assert "publisher:" in table and "its rate of 10/s" in table
    assert "main-thread CPU per gap (ms)" in table and "% of a core" in table
    assert f"ETA and rules evaluation: {result['eval_passes']} passes" in table
    line = summary_line(result)
    assert "stall p99" in line and "fix -> painted p50" in line and "load average" in line
    assert ("kept its rate" in line) == result["publisher_kept_rate"]


def test_bad_arguments_get_a_clear_message():
    """A fleet of zero vehicles is refused with a message naming the options."""
    done = _run("--vehicles", "0")
    assert done.returncode == 2
    assert "--vehicles" in done.stderr
