"""The map's street traces: a newer trace takes over what a superseded one owed."""

from __future__ import annotations

from app.day.state import DayState
from app.jobs.day import DayJobs
from app.jobs.runner import JobRunner
from engine.model import DayInput
from tests.widgets.test_map_data import sample_day


def _jobs(qtbot) -> tuple[DayJobs, list[str]]:
    day = sample_day(routes=4)
    state = DayState()
    state.set_day(
        DayInput(day.plan.day, (day.depot,), tuple(day.vehicles.values()),
                 tuple(day.drivers.values()), tuple(day.orders.values())),
        day.depot.id, day.plan,
    )  # fmt: skip
    runner = JobRunner()
    jobs = DayJobs(state, runner, None, None, None)  # type: ignore[arg-type]
    return jobs, [r.id for r in day.plan.routes]


def test_a_trace_of_one_route_does_not_drop_the_whole_days_trace(qtbot):
    """The day's first trace (every route) is superseded at once by one route's (a stop
    moved, a sync from another desk): the map still gets every route's streets — on a
    shared database most routes stayed straight lines for the whole session."""
    jobs, routes = _jobs(qtbot)
    traced: list[dict] = []
    jobs.sig_route_geometry.connect(traced.append)
    jobs.trace_routes(None)
    jobs.trace_routes({routes[1]})
    qtbot.waitUntil(lambda: bool(traced), timeout=10_000)
    qtbot.wait(200)
    assert len(traced) == 1 and set(traced[0]) == set(routes)
    # Once delivered, a later trace of one route owes that route alone.
    jobs.trace_routes({routes[2]})
    qtbot.waitUntil(lambda: len(traced) == 2, timeout=10_000)
    assert set(traced[1]) == {routes[2]}
