"""The live monitor's ETAs hold the route's driver's break, and the break the driver
reported taking (``break_start``/``break_end`` events) is not placed again."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from app.telemetry.messages import Fix, StopEvent
from app.telemetry.monitor import LiveMonitor
from app.telemetry.state import LiveState
from engine.model import (
    Break,
    Driver,
    Location,
    Order,
    Plan,
    Route,
    RouteStatus,
    Stop,
    TimeWindow,
)

DAY = date(2026, 11, 24)
DEPOT = Location(40.7608, -111.8910)


def at(h: float) -> datetime:
    return datetime.combine(DAY, time(0), tzinfo=UTC) + timedelta(hours=h)


ORDERS = [
    Order(f"O{i}", "D1", Location(DEPOT.lat + 0.01 * i, DEPOT.lon + 0.012 * i), {"kg": 5.0},
          (TimeWindow(at(8), at(16)),), service_time=timedelta(minutes=5))
    for i in range(1, 7)
]  # fmt: skip
DRIVER = Driver(
    "DR1", "Dana", "D1", at(7), at(17), (Break(at(10), at(10.25), timedelta(minutes=30)),)
)
PLAN = Plan("P1", "D1", DAY, (Route("R1", "V1", tuple(Stop(o.id) for o in ORDERS),
                                   status=RouteStatus.ACTIVE, start=at(9), driver_id="DR1"),))  # fmt: skip


def _last_eta(monitor: LiveMonitor, state: LiveState, now: datetime) -> datetime:
    return monitor.evaluate(state, now).etas["R1"].stops[-1].eta


def test_the_drivers_break_is_in_the_live_etas_until_they_report_it():
    """At 10:00 the van is on the road, break due by 10:15: the last stop's ETA is half an
    hour later than without the driver's break; once the tracker reports the break started
    (and ended) the ETAs stop placing it again."""
    now = at(10)
    state = LiveState()
    state.move_to(Fix("V1", 1, now.timestamp(), DEPOT.lat + 0.005, DEPOT.lon))
    with_driver = LiveMonitor(PLAN, ORDERS, depot=DEPOT, drivers={"DR1": DRIVER})
    without = LiveMonitor(PLAN, ORDERS, depot=DEPOT)
    due = _last_eta(with_driver, state, now)
    plain = _last_eta(without, state, now)
    assert abs(due - plain - timedelta(minutes=30)) < timedelta(seconds=1)

    start = now + timedelta(minutes=2)
    state.apply_events([StopEvent("b1", "V1", start.timestamp(), "break_start")])
    assert state.flags["V1"].breaks_started == 1 and state.flags["V1"].on_break
    resting = _last_eta(with_driver, state, start + timedelta(minutes=10))
    # On the break: drives on at its end (10:32), the break not placed a second time.
    assert abs(resting - plain - timedelta(minutes=32)) < timedelta(seconds=1)

    end = start + timedelta(minutes=30)
    state.apply_events([StopEvent("b2", "V1", end.timestamp(), "break_end")])
    state.move_to(Fix("V1", 2, end.timestamp(), DEPOT.lat + 0.005, DEPOT.lon))
    after = _last_eta(with_driver, state, end)
    assert abs(after - _last_eta(without, state, end)) < timedelta(seconds=1)
    # A duplicate of the start (a QoS 1 resend) does not count a second break.
    state.apply_events([StopEvent("b1", "V1", start.timestamp(), "break_start")])
    assert state.flags["V1"].breaks_started == 1


def test_the_engine_is_told_of_the_break_taken():
    """The vehicle states the desk hands the engine (re-plans, previews, suggestions) carry
    the breaks telemetry saw started, and the one under way."""
    from app.dispatch.preview import states_from_fixes

    state = LiveState()
    state.move_to(Fix("V1", 1, at(10).timestamp(), DEPOT.lat, DEPOT.lon))
    state.apply_events([StopEvent("b1", "V1", at(10).timestamp(), "break_start")])
    got = states_from_fixes(state.positions, state.flags)["V1"]
    assert got.breaks_taken == 1 and got.on_break_since == at(10)
    state.apply_events([StopEvent("b2", "V1", at(10.5).timestamp(), "break_end")])
    got = states_from_fixes(state.positions, state.flags)["V1"]
    assert got.breaks_taken == 1 and got.on_break_since is None
    assert states_from_fixes({"V1": got}) == {"V1": got}


def test_a_break_does_not_widen_the_eta_band():
    """The band to the 90th percentile spreads the drives and services before a stop; the
    break on the way is no drive: a stop after it has the band it has without it."""
    from app.telemetry.session import eta_bands

    now = at(10)
    state = LiveState()
    state.move_to(Fix("V1", 1, now.timestamp(), DEPOT.lat + 0.005, DEPOT.lon))
    with_break = LiveMonitor(PLAN, ORDERS, depot=DEPOT, drivers={"DR1": DRIVER}).evaluate(
        state, now
    )
    without = LiveMonitor(PLAN, ORDERS, depot=DEPOT).evaluate(state, now)
    last = ORDERS[-1].id
    widths = [eta_bands(r, 0.2, 0.3)[last] - r.etas["R1"].of(last).eta  # type: ignore[union-attr]
              for r in (with_break, without)]  # fmt: skip
    assert widths[0] > timedelta(minutes=1)
    assert abs(widths[0] - widths[1]) < timedelta(seconds=1)
