"""The benchmark command: instances, plain baselines, re-plan rows, generated days, exit codes."""

from __future__ import annotations

import json

import pytest

import engine.solver
import engine.solver.pyvrp_backend
from bench.engine import main
from bench.vrptw import (
    disrupt,
    generate_solomon,
    midday,
    plain_ortools,
    plain_pyvrp,
    plain_pyvrp_problem,
    read_points,
    read_solomon,
)
from engine.check import check
from engine.problem import total_distance
from engine.solver import continuing, solve
from engine.solver.diagnose import diagnose
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
    """--json: the engine row with its gap, plain PyVRP and OR-Tools rows, a re-plan row with
    the figures a reader compares (re-plan, continuing, fresh PyVRP, moved, first feasible)."""
    path, bks = _small_instance(tmp_path)
    argv = [str(tmp_path), "--seconds", "0.3", "--json", "--bks", str(bks), "--replan", "0.4"]
    assert main([*argv, "--vs", "pyvrp,ortools"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    rows = [x for x in lines if "summary" not in x]
    assert [r["solver"] for r in rows] == ["engine", "pyvrp", "ortools", "replan"]
    cold, plain, ortools, re = rows
    assert cold["instance"] == "C101" and cold["feasible"] and cold["gap_pct"] is not None
    assert plain["feasible"] and ortools["feasible"] and plain["backend"] == "pyvrp"
    assert all(r["first_feasible_ms"] is not None and r["load"] >= 0 for r in rows)
    for key in ("replan_distance", "continue_distance", "fresh_distance", "stops_moved"):
        assert re[key] is not None, key
    assert re["feasible"] and re["disruption"] == "urgent,breakdown"
    assert re["replan_distance"] <= re["continue_distance"] + 1e-6
    assert re["churn_paid"] == 0.0 and re["backend"] in ("continue", "repair", "fresh")
    # Where a re-plan ends longer than the plain solve, these say which searched less.
    assert re["fresh_iterations"] > 0 and re["replan_fresh_iterations"] > 0
    assert re["fresh_search_s"] >= 0.3 and re["replan_fresh_search_s"] >= 0.3
    summaries = [x["summary"] for x in lines if "summary" in x]
    assert any(s.startswith("summary engine vs pyvrp") for s in summaries)
    assert any(s.startswith("summary replan: 1 re-plans") for s in summaries)


def test_plain_pyvrp_runs_no_engine_code(tmp_path, monkeypatch):
    """The plain baselines never reach the engine's solver: with it broken they still solve,
    and their routes pass the independent check."""
    path, _ = _small_instance(tmp_path)

    def broken(*args, **kwargs):
        raise AssertionError("engine code on the plain solver's path")

    monkeypatch.setattr(engine.solver, "solve", broken)
    monkeypatch.setattr(engine.solver.pyvrp_backend, "solve_pyvrp", broken)
    problem = read_solomon(path)
    for result in (plain_pyvrp(path, 0.2), plain_ortools(path, 0.3)):
        routes = result.routes + [[]] * (problem.num_vehicles - len(result.routes))
        assert check(problem, routes, require_all=True) == []
        assert result.first_feasible_s is not None


def test_generated_instance_is_reproducible_and_servable(tmp_path):
    """--generate's instance is the same text for the same size and seed, another for another
    seed, and every customer can be served on its own."""
    text = generate_solomon(60, seed=1)
    assert text == generate_solomon(60, seed=1) and text != generate_solomon(60, seed=2)
    path = tmp_path / "GEN60_1.txt"
    path.write_text(text)
    problem = read_solomon(path)
    assert len(problem.clients) == 60 and problem.num_vehicles == 15
    assert diagnose(problem) == {}


def _mid(path, kinds):
    problem = read_solomon(path)
    sol = solve(problem, 60, iterations=200)
    mid = midday(problem, [list(r) for r in sol.routes], 0.4)
    return mid, disrupt(mid, read_points(path), kinds, seed=1)


def test_disruptions_change_the_mid_day_problem(tmp_path):
    """An urgent order is a new open stop; a breakdown takes the busiest vehicle and leaves
    its stops to the others; a closed window makes its route late; continuing fixes each."""
    path, _ = _small_instance(tmp_path, n=25)
    mid, urgent = _mid(path, ["urgent"])
    assert len(urgent.clients) == len(mid.clients) + 1
    new = urgent.clients[-1]
    assert urgent.nodes[new].name == "urgent" and diagnose(urgent, [new]) == {}
    _, broken = _mid(path, ["breakdown"])
    assert broken.num_vehicles == mid.num_vehicles - 1
    gone = set(mid.clients) - {n for r in broken.initial_routes for n in r}
    assert gone and gone <= set(broken.clients)
    _, closed = _mid(path, ["window"])
    assert check(closed, closed.initial_routes)  # the current routes are late now
    for p in (urgent, broken, closed):
        routes = continuing(p)
        assert check(p, routes) == []


def test_plain_pyvrp_on_a_mid_day_problem(tmp_path):
    """Plain PyVRP solves the mid-day problem (vehicles where they are, loads on board) to
    routes the independent check accepts, serving every open stop."""
    path, _ = _small_instance(tmp_path, n=25)
    _, mid = _mid(path, ["urgent", "breakdown"])
    fresh = plain_pyvrp_problem(mid, 0.3)
    assert check(mid, fresh.routes, require_all=True) == []
    assert total_distance(mid, fresh.routes) > 0


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


def test_bench_bad_options_are_refused(capsys):
    """Unknown solvers or disruptions, and no instance at all, are usage errors (exit 2)."""
    for argv in (["x.txt", "--vs", "gurobi"], ["x.txt", "--disrupt", "flood"], []):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "gurobi" in capsys.readouterr().err


def test_generate_writes_and_solves_an_instance(tmp_path, capsys):
    """--generate N writes the N-customer instance beside the other outputs and solves it,
    with the peak memory of the process that solved it."""
    argv = ["--generate", "40", "--seconds", "0.5", "--out", str(tmp_path), "--no-street"]
    assert main([*argv, "--json", "--vs", "pyvrp"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (tmp_path / "GEN40_1.txt").exists()
    engine_row, plain = rows[0], rows[1]
    assert engine_row["instance"] == "GEN40_1" and engine_row["feasible"]
    assert engine_row["rss_mb"] > 50 and plain["rss_mb"] > 50


def test_street_day_figures(tmp_path):
    """A small street-network day: planned within its limit, every order served, the kept
    context answering insertions, suggestions, evaluations and command updates."""
    from bench.streetday import measure_day

    m = measure_day(60, 2.0, str(tmp_path), 0)
    assert (tmp_path / "street60" / "orders.csv").exists()
    assert m["feasible"] and m["served"] + m["unassigned"] == 60
    assert m["insert_placed"] > 0 and m["first"] is not None
    for key in ("insert_median_ms", "suggest_median_ms", "evaluate_median_us", "apply_median_ms"):
        assert m[key] > 0, key
    # The peak after each phase, in order, tells which phase raised the day's peak memory.
    peaks = m["rss_phases_mb"]
    assert list(peaks) == ["start", "matrix", "plan", "kept", "replan"]
    assert list(peaks.values()) == sorted(peaks.values()) and peaks["replan"] == m["rss_mb"]


def test_a_solve_in_a_fresh_process_reports_its_own_peak_memory(tmp_path):
    """The bench's peak memory of a solve is the fresh process's own: a bench that held
    500 MB before (and let it go) does not report 500 MB for every solve after it."""
    import numpy as np

    from bench.engine import _measured, run_engine

    path = tmp_path / "r101_20.txt"
    lines = solomon_path("R101").read_text().splitlines()
    path.write_text("\n".join(lines[:30]) + "\n")
    ballast = np.ones(500 * 2**20 // 8)  # resident: this process's peak is now >= 500 MB
    del ballast
    out, rss = _measured(run_engine, (str(path), 0.2, "auto", 0), True)
    assert out["routes"] and rss is not None
    assert 20 < rss < 300
