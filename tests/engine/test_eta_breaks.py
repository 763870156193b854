"""The live ETAs hold the driver's break where the engine's evaluation of the route places
it: a re-plan's "before", a drag preview and the live ETAs give one answer for a stop."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from engine.eta import Position, PreparedRoute, TravelTimes, route_etas
from engine.model import (
    Break,
    DayInput,
    Depot,
    Driver,
    Location,
    Order,
    Plan,
    Route,
    RouteStatus,
    Stop,
    TimeWindow,
    Vehicle,
)
from engine.planning import Snapshot, VehicleState, context
from engine.travel import HaversineTravelModel
from tests.fixtures.scenarios import at

DEPOT = Location(40.7608, -111.8910)
TRAVEL = HaversineTravelModel()  # the same drives as the live ETAs' fallback
LIVE = TravelTimes()
BREAK = Break(at(10), at(10.5), timedelta(minutes=30))


def _day(orders, brk=BREAK, shift_end=17.0):
    driver = Driver("DR1", "Dana", "D1", at(7), at(shift_end), (brk,) if brk else (),
                    vehicle_id="V1")  # fmt: skip
    depot = Depot("D1", "Main depot", DEPOT, timezone="America/Denver")
    vehicle = Vehicle("V1", "D1", {"kg": 800.0})
    return DayInput(at(0).date(), (depot,), (vehicle,), (driver,), tuple(orders)), driver


def _orders(n=8, seed=1, windows=None):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        loc = Location(DEPOT.lat + rnd.uniform(-0.05, 0.05), DEPOT.lon + rnd.uniform(-0.06, 0.06))
        w = windows[i] if windows else (TimeWindow(at(8), at(16)),)
        out.append(Order(f"O{i}", "D1", loc, {"kg": 10.0}, w, service_time=timedelta(minutes=6)))
    return out


def _route(orders, start):
    stops = tuple(Stop(o.id) for o in orders)
    return Route("R1", "V1", stops, status=RouteStatus.ACTIVE, start=start, driver_id="DR1")


def _evaluated(day, route, now, state=None):
    """The engine's evaluation of the unchanged route (what a re-plan's "before" shows)."""
    plan = Plan("P", "D1", day.day, (route,))
    snapshot = Snapshot(day, plan, now=now, vehicles={"V1": state} if state else {})
    report = context(snapshot, TRAVEL).evaluate_route("V1", route.order_ids)
    return dict(zip(report.order_ids, report.etas, strict=True)), report


def _close(live, evaluated):
    assert live.keys() == evaluated.keys()
    off = {o: live[o] - evaluated[o] for o in live
           if abs(live[o] - evaluated[o]) > timedelta(seconds=1)}  # fmt: skip
    assert not off, off


def _same(a, b):
    _close({s.order_id: s.eta for s in a.stops}, {s.order_id: s.eta for s in b.stops})


def test_stops_after_the_break_arrive_when_the_evaluation_says():
    """A 30-minute break due between 10:00 and 10:30 in the middle of a morning's route:
    the live ETAs of the stops after it are the evaluation's arrivals (half an hour later
    than without the break), the ones before it unchanged."""
    orders = _orders()
    day, driver = _day(orders)
    route = _route(orders, at(9))
    now = at(9)
    etas = route_etas(route, {o.id: o for o in orders}, now, LIVE, depot=DEPOT, driver=driver)
    live = {s.order_id: s.eta for s in etas.stops}
    evaluated, report = _evaluated(day, route, now)
    _close(live, evaluated)
    without = route_etas(route, {o.id: o for o in orders}, now, LIVE, depot=DEPOT)
    later = [s.eta - without.of(s.order_id).eta for s in etas.stops]  # type: ignore[union-attr]
    assert later[0] == timedelta(0)
    assert later[-1] >= timedelta(minutes=29)  # the break, no waiting to absorb it
    assert etas.end is not None and abs(etas.end - report.end) <= timedelta(seconds=1)


def test_a_break_already_taken_is_not_added_again():
    """The driver reported the break started (and ended): the live ETAs do not place it
    again, and neither does the evaluation of a vehicle known to have taken it."""
    orders = _orders()
    day, driver = _day(orders)
    route = _route(orders, at(9))
    now = at(10.2)
    pos = Position("V1", now, DEPOT.lat + 0.01, DEPOT.lon + 0.01)
    by_id = {o.id: o for o in orders}
    taken = route_etas(route, by_id, now, LIVE, position=pos, depot=DEPOT, driver=driver,
                       breaks_taken=1)  # fmt: skip
    plain = route_etas(route, by_id, now, LIVE, position=pos, depot=DEPOT)
    _same(taken, plain)
    state = VehicleState("V1", pos.location, now, breaks_taken=1)
    evaluated, _ = _evaluated(day, route, now, state)
    _close({s.order_id: s.eta for s in taken.stops}, evaluated)
    # Not taken yet at 10:12: it is due, and the stops after it are later.
    due = route_etas(route, by_id, now, LIVE, position=pos, depot=DEPOT, driver=driver)
    assert due.stops[-1].eta - plain.stops[-1].eta >= timedelta(minutes=29)
    evaluated, _ = _evaluated(day, route, now, VehicleState("V1", pos.location, now))
    _close({s.order_id: s.eta for s in due.stops}, evaluated)


def test_a_driver_on_a_break_drives_on_when_it_ends():
    """On a break since 10:05: the first stop is reached after the break's end (10:35)."""
    orders = _orders()
    _, driver = _day(orders)
    route = _route(orders, at(9))
    now = at(10 + 10 / 60)
    pos = Position("V1", now, DEPOT.lat, DEPOT.lon)
    by_id = {o.id: o for o in orders}
    resting = route_etas(route, by_id, now, LIVE, position=pos, depot=DEPOT, driver=driver,
                         breaks_taken=1, on_break_since=at(10 + 5 / 60))  # fmt: skip
    plain = route_etas(route, by_id, now, LIVE, position=pos, depot=DEPOT)
    gap = resting.stops[0].eta - plain.stops[0].eta
    assert abs(gap - timedelta(minutes=25)) < timedelta(seconds=1)


def test_a_missed_break_is_not_placed():
    """Its latest start passed before the van left: neither places it (as the evaluation)."""
    orders = _orders()
    day, driver = _day(orders)
    route = _route(orders, at(11))
    now = at(11)
    by_id = {o.id: o for o in orders}
    etas = route_etas(route, by_id, now, LIVE, depot=DEPOT, driver=driver)
    plain = route_etas(route, by_id, now, LIVE, depot=DEPOT)
    _same(etas, plain)
    evaluated, _ = _evaluated(day, route, now)
    _close({s.order_id: s.eta for s in etas.stops}, evaluated)


def _tight_day(seed, spread=(8, 14), spans=(0.5, 1, 2, 4), starts=(9, 12), slack=(0, 0.5, 1),
               lengths=(15, 30, 45), shift_ends=(13.5, 15, 17)):  # fmt: skip
    rnd = random.Random(seed)
    windows = []
    for _ in range(10):
        h = rnd.uniform(*spread)
        windows.append((TimeWindow(at(h), at(h + rnd.choice(spans))),))
    orders = _orders(10, seed, windows)
    orders.sort(key=lambda o: o.windows[0].start)
    h = rnd.uniform(*starts)
    brk = Break(at(h), at(h + rnd.choice(slack)), timedelta(minutes=rnd.choice(lengths)))
    day, driver = _day(orders, brk, shift_end=rnd.choice(shift_ends))
    return day, driver, orders


def _agree(day, driver, orders):
    route = _route(orders, at(8))
    by_id = {o.id: o for o in orders}
    for now, pos in ((at(8), None), (at(9), Position("V1", at(9), DEPOT.lat + 0.02, DEPOT.lon))):
        etas = route_etas(route, by_id, now, LIVE, position=pos, depot=DEPOT, driver=driver)
        state = VehicleState("V1", pos.location, now) if pos else None
        evaluated, report = _evaluated(day, route, now, state)
        _close({s.order_id: s.eta for s in etas.stops}, evaluated)
        assert etas.end is not None and abs(etas.end - report.end) <= timedelta(seconds=1)
        prepared = PreparedRoute(route, by_id, LIVE).etas(
            now, position=pos, depot=DEPOT, driver=driver
        )
        assert prepared == etas


@pytest.mark.parametrize("seed", range(12))
def test_live_etas_agree_with_the_evaluation_on_tight_days(seed):
    """Narrow windows, late shifts and breaks that waiting may or may not absorb: the same
    ETAs, stop for stop, from the depot and from a live position, and the prepared route
    gives them too."""
    _agree(*_tight_day(seed))


@pytest.mark.parametrize("seed", [105, 122, 177, 187])
def test_live_etas_agree_where_the_lazy_break_makes_a_stop_late(seed):
    """Days where the lazy break makes a stop late and the evaluation takes it on another
    leg instead (these seeds do): the live ETAs take it there too."""
    _agree(*_tight_day(seed, spread=(8, 12), spans=(0.25, 0.5, 1), starts=(9, 11),
                       slack=(0, 0.5), lengths=(15, 30), shift_ends=(17,)))  # fmt: skip


def test_without_the_driver_nothing_changes():
    """No driver given (or no breaks): the ETAs are the break-less ones, as before."""
    orders = _orders()
    _, driver = _day(orders, brk=None)
    route = _route(orders, at(9))
    by_id = {o.id: o for o in orders}
    plain = route_etas(route, by_id, at(9), LIVE, depot=DEPOT)
    assert route_etas(route, by_id, at(9), LIVE, depot=DEPOT, driver=driver) == plain
    assert replace(plain) == plain


def test_a_driver_on_a_break_is_timed_alike_by_both():
    """On the break since 10:05 (reported): the evaluation of the vehicle's state, as the
    live ETAs, sets off at its end and places no second break."""
    orders = _orders()
    day, driver = _day(orders)
    route = _route(orders, at(9))
    now = at(10 + 10 / 60)
    pos = Position("V1", now, DEPOT.lat + 0.01, DEPOT.lon)
    since = at(10 + 5 / 60)
    live = route_etas(route, {o.id: o for o in orders}, now, LIVE, position=pos, depot=DEPOT,
                      driver=driver, breaks_taken=1, on_break_since=since)  # fmt: skip
    state = VehicleState("V1", pos.location, now, breaks_taken=1, on_break_since=since)
    evaluated, _ = _evaluated(day, route, now, state)
    _close({s.order_id: s.eta for s in live.stops}, evaluated)


def test_a_recorded_days_etas_hold_the_break_as_the_desk_did():
    """The ETA accuracy KPIs of a recorded day replay the desk's ETAs: with the driver's
    break, and the break the recording shows taken (and under way) not placed again."""
    from engine.eta_replay import eta_at

    orders = _orders()
    _, driver = _day(orders)
    route = _route(orders, at(9))
    by_id = {o.id: o for o in orders}
    prepared = PreparedRoute(route, by_id, LIVE)
    last = orders[-1].id
    none = [None] * len(orders)

    def replayed(t, breaks=()):
        got = eta_at(prepared, route.stops, none, None, t.timestamp(), DEPOT, last, driver,
                     breaks)  # fmt: skip
        return _utc(got)

    due = route_etas(route, by_id, at(9), LIVE, depot=DEPOT, driver=driver).of(last)
    assert due is not None and abs(replayed(at(9)) - due.eta) < timedelta(seconds=1)
    taken = [
        (at(10 + 2 / 60).timestamp(), "break_start"),
        (at(10 + 32 / 60).timestamp(), "break_end"),
    ]
    resting = route_etas(route, by_id, at(10.2), LIVE, depot=DEPOT, driver=driver, breaks_taken=1,
                         on_break_since=at(10 + 2 / 60)).of(last)  # fmt: skip
    assert resting is not None and abs(replayed(at(10.2), taken) - resting.eta) < timedelta(
        seconds=1
    )
    plain = route_etas(route, by_id, at(10.6), LIVE, depot=DEPOT).of(last)
    assert plain is not None and abs(replayed(at(10.6), taken) - plain.eta) < timedelta(seconds=1)


def _utc(ts):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)
