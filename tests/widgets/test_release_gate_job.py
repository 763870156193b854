"""A large day's release gate is checked off the main thread: the board keeps the last gate
meanwhile; one check runs at a time, and a change made while it runs is checked after it
(the newest check is the one left on the board)."""

from __future__ import annotations

import pytest

from app.day.clock import DayClock
from app.day.state import DayState
from app.dispatch.service import DispatchService
from app.exceptions.board import ExceptionBoard
from app.jobs.runner import JobKind, JobRunner
from app.release.service import ReleaseService
from app.settings import Settings
from app.store import repository
from app.telemetry.session import LiveSession
from engine.model import RouteStatus
from tests.app.test_release_support import TRAVEL, at, seed_release_day, sqlite_store


@pytest.fixture
def large(tmp_path, qtbot):
    """The release day with release control treating it as large (per-route legs)."""
    store = sqlite_store(tmp_path)
    day, _plan = seed_release_day(store)
    with store.read_session() as s:
        day = repository.load_day(s, "D1", day.day)
    settings = Settings.from_env(role="supervisor", user="sam", workstation_id="desk-1",
                                 depot_id="D1")  # fmt: skip
    state = DayState()
    clock = DayClock(at(6, 50).timestamp(), 1.0)
    live = LiveSession(settings, store, state, ExceptionBoard(), clock)
    dispatch = DispatchService(store, TRAVEL, actor="sam@desk-1", role="supervisor",
                               state=state)  # fmt: skip
    jobs = JobRunner()
    service = ReleaseService(settings, store, state, clock, live)
    service.use_jobs(jobs)
    service.open_day("D1", day.day, dispatch, TRAVEL, "sam@desk-1", "supervisor")
    assert service.desk is not None
    service.desk.max_points = 0  # every day counts as large
    dispatch.open_day(day, "D1")
    yield store, state, service, jobs
    jobs.wait(10_000)
    service.stop()
    store.close()


def test_a_large_days_gate_arrives_from_a_job_and_the_newest_check_wins(large, qtbot):
    _store, state, service, jobs = large
    routes = [r for r in state.plan.routes if r.stops]
    service.gate = None
    service.refresh()
    assert jobs.is_running(JobKind.RELEASE_GATE)
    assert service.gate is None  # not checked on the caller's thread
    qtbot.waitUntil(lambda: service.gate is not None, timeout=20_000)
    first = service.gate
    assert set(first.routes) == {r.id for r in routes}
    assert all(g.status is RouteStatus.PLANNED and not g.go for g in first.routes.values())
    assert not first.routes[routes[0].id].check("loading").ok
    # A route is marked loaded while a check runs: it is checked once that check is done.
    submitted: list = []
    jobs.sig_job_started.connect(submitted.append)
    service.refresh(urgent=True)
    service.desk.mark_loaded(routes[0].id, now=at(6, 52))
    service.refresh(urgent=True)
    service.refresh(urgent=True)
    assert submitted.count(JobKind.RELEASE_GATE) == 1  # one check at a time
    assert service.gate is first  # the board shows the last gate meanwhile
    qtbot.waitUntil(lambda: not jobs.is_running(JobKind.RELEASE_GATE), timeout=20_000)
    qtbot.wait(50)
    g = service.gate.routes[routes[0].id]
    assert g.check("loading").ok and "marked loaded by sam@desk-1" in g.check("loading").what


def test_what_the_live_day_changes_is_checked_at_most_every_so_often_a_person_at_once(
    large, qtbot, monkeypatch
):
    """On a large day what the live day changes by itself (stop results, departures) is
    checked again at most every LARGE_GATE_EVERY_S, once, with everything changed
    meanwhile: checked at every change, 2,000 vans kept a thread checking 2,000 routes
    back to back. A person's command is checked as soon as no check runs."""
    import app.release.service as service_module

    _store, state, service, jobs = large
    monkeypatch.setattr(service_module, "LARGE_GATE_EVERY_S", 1.5)
    routes = [r for r in state.plan.routes if r.stops]
    submitted: list = []
    jobs.sig_job_started.connect(
        lambda kind: submitted.append(kind) if kind is JobKind.RELEASE_GATE else None
    )
    service.refresh()
    qtbot.waitUntil(lambda: not jobs.is_running(JobKind.RELEASE_GATE), timeout=20_000)
    assert len(submitted) == 1
    service.desk.mark_loaded(routes[0].id, now=at(6, 52))  # as a dock's count would
    for _ in range(5):  # the live day's changes, one after the other
        service.refresh()
    assert len(submitted) == 1  # not yet: the last check started less than 1.5 s ago
    qtbot.waitUntil(lambda: len(submitted) == 2, timeout=5_000)  # once, when due
    qtbot.waitUntil(lambda: not jobs.is_running(JobKind.RELEASE_GATE), timeout=20_000)
    qtbot.wait(50)
    assert service.gate.routes[routes[0].id].check("loading").ok
    assert len(submitted) == 2
    service.mark_loaded(routes[1].id)  # a person's command: checked at once
    assert len(submitted) == 3
    qtbot.waitUntil(lambda: not jobs.is_running(JobKind.RELEASE_GATE), timeout=20_000)
    qtbot.wait(50)
    assert service.gate.routes[routes[1].id].check("loading").ok
