"""The benchmark command: Solomon parsing, per-instance rows, re-plan rows, exit codes."""

from __future__ import annotations

import json

import pytest

from bench.engine import main, read_solomon
from engine.check import check
from tests.fixtures.scenarios import SOLOMON_DIR, solomon_path


def test_every_solomon_file_parses():
    """All 56 Solomon instances read as 100 customers with a depot horizon and capacity."""
    files = sorted(SOLOMON_DIR.glob("*.txt")) if SOLOMON_DIR.exists() else []
    if not files:
        pytest.skip("Solomon data not available")
    assert len(files) == 56
    for f in files:
        p = read_solomon(f)
        assert len(p.clients) == 100, f.name
        assert p.vehicles[0].latest > 0 and p.vehicles[0].capacity[0] > 0
        assert all(len(p.nodes[c].windows) == 1 for c in p.clients)


def _small_instance(tmp_path, n=15):
    lines = solomon_path("C101").read_text().splitlines()
    head = lines[:9]
    rows = [ln for ln in lines[9:] if ln.strip()][: n + 1]
    path = tmp_path / "C101.txt"
    path.write_text("\n".join(head + rows) + "\n")
    bks = tmp_path / "bks.csv"
    bks.write_text("instance,vehicles,distance,source\nC101,3,100.0,test\n")
    return path, bks


def test_bench_json_rows_and_replan(tmp_path, capsys):
    """--json prints a feasible row with gap, a re-plan row with first-feasible time, a summary."""
    path, bks = _small_instance(tmp_path)
    assert (
        main([str(tmp_path), "--seconds", "0.2", "--json", "--bks", str(bks), "--replan", "0.4"])
        == 0
    )
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    cold, re, summary = rows
    assert cold["instance"] == "C101" and cold["feasible"] and cold["gap_pct"] is not None
    assert re["solver"] == "replan" and re["feasible"] and re["first_feasible_ms"] is not None
    assert re["distance"] <= re["continue_distance"] + 1e-6
    assert "solved 1/1" in summary["summary"]
    problem = read_solomon(path)
    assert problem.clients == tuple(range(1, 16)) and check(problem, [[]]) == []


def test_bench_vs_pyvrp_table(tmp_path, capsys):
    """--vs pyvrp adds a PyVRP row for the same instance and a summary per solver."""
    path, _ = _small_instance(tmp_path)
    assert main([str(path), "--seconds", "0.2", "--vs", "pyvrp"]) == 0
    out = capsys.readouterr().out
    assert out.count("C101") == 2 and "summary pyvrp" in out


def test_bench_bad_path_is_reported(tmp_path, capsys):
    """A missing path gives exit code 2 and names the path."""
    assert main([str(tmp_path / "nope.txt"), "--seconds", "0.1"]) == 2
    assert "nope.txt" in capsys.readouterr().err


def test_bench_bad_file_is_reported(tmp_path, capsys):
    """A file that is not a Solomon instance gives exit code 2 and says which file and why."""
    bad = tmp_path / "broken.txt"
    bad.write_text("hello\nthis is not an instance\n")
    assert main([str(bad), "--seconds", "0.1"]) == 2
    err = capsys.readouterr().err
    assert "broken.txt" in err and "not a Solomon file" in err
