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
    service.refresh()
    service.desk.mark_loaded(routes[0].id, now=at(6, 52))
    service.refresh()
    service.refresh()
    assert submitted.count(JobKind.RELEASE_GATE) == 1  # one check at a time
    assert service.gate is first  # the board shows the last gate meanwhile
    qtbot.waitUntil(lambda: not jobs.is_running(JobKind.RELEASE_GATE), timeout=20_000)
    qtbot.wait(50)
    g = service.gate.routes[routes[0].id]
    assert g.check("loading").ok and "marked loaded by sam@desk-1" in g.check("loading").what
