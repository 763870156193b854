"""Learning from the store's recorded days: ``python main.py kpis learn`` keeps the depot's
service times and travel factors, and plans and live ETAs take them up."""

from __future__ import annotations

from datetime import date

import pytest

from app.kpis.learn import load_learned
from app.store import open_store
from bench.twin_days import record_days
from main import main

FIRST = date(2026, 11, 2)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Three small demo days driven by the twin, as the live desk would have stored them."""
    path = tmp_path_factory.mktemp("learn") / "desk.sqlite3"
    store = open_store(f"sqlite:///{path}")
    record_days(store, 3, seed=5, first=FIRST, plan_seconds=2, rate_hz=0.1, orders=60, vehicles=4)
    store.close()
    return f"sqlite:///{path}"


def test_learn_keeps_a_profile_that_plans_and_etas_use(history, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DISPATCH_DEPOT_ID", "SLC-W")
    code = main(["kpis", "--database", history, "learn", "--days", "10"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Learned from 3 days" in out.out and "visits" in out.out
    store = open_store(history)
    try:
        learned = load_learned(store, "SLC-W")
        assert learned is not None and learned.days == 3
        assert learned.service.visits > 100 and learned.travel.legs > 100
        # The planner's inputs: the learned service times, the learned travel factors.
        from app.dispatch.preview import FreeFlowTravel
        from app.jobs.day import DayJobs
        from app.store import repository
        from engine.learning import LearnedTravelModel

        with store.read_session() as s:
            day = repository.load_day(s, "SLC-W", FIRST)
        jobs = DayJobs.__new__(DayJobs)
        jobs.learned = None
        plain_day, plain = DayJobs.planning_inputs(jobs, day, "base")
        assert plain_day is day and isinstance(plain, FreeFlowTravel) and plain.base == "base"
        jobs.learned = learned
        planned_day, travel = DayJobs.planning_inputs(jobs, day, object())
        # legs asked as the plan asks them (free flow), with the learned factors
        assert isinstance(travel, FreeFlowTravel)
        assert isinstance(travel.base, LearnedTravelModel)
        changed = [(a.service_time, b.service_time) for a, b in
                   zip(day.orders, planned_day.orders, strict=True) if a != b]  # fmt: skip
        assert changed, "history moved no service time"
    finally:
        store.close()


def test_learn_without_history_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    code = main(["kpis", "--database", url, "learn", "--depot", "NOPE"])
    assert code == 1 and "NOPE" in capsys.readouterr().err
