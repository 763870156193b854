"""ETAs: from the live position, over the remaining stops, with the observed speed factor."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.eta import Position, TravelTimes, observed_speed_factor, route_etas
from engine.geo import haversine_m
from engine.model import Location, Order, Route, RouteStatus, Stop, StopStatus, TimeWindow

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
DEPOT = Location(40.760, -111.890)


def order(oid, lat, lon, start_h=8, end_h=12, service_min=5):
    return Order(
        oid,
        "D1",
        Location(lat, lon),
        {"kg": 10},
        (TimeWindow(T0.replace(hour=start_h), T0.replace(hour=end_h)),),
        service_time=timedelta(minutes=service_min),
    )


ORDERS = {
    o.id: o
    for o in [
        order("A", 40.770, -111.890),
        order("B", 40.780, -111.890),
        order("C", 40.790, -111.890, end_h=9),
    ]
}
ROUTE = Route("R1", "V1", tuple(Stop(o) for o in "ABC"), status=RouteStatus.ACTIVE, start=T0)
TRAVEL = TravelTimes(fallback_speed_kmh=36.0, detour=1.0)  # 10 m/s, straight lines


def test_etas_start_at_the_live_position_and_skip_served_stops():
    """A delivered stop drops out; the next ETA is the drive from where the van is now."""
    now = T0 + timedelta(minutes=30)
    pos = Position("V1", now, 40.775, -111.890)
    etas = route_etas(
        ROUTE, ORDERS, now, TRAVEL, position=pos, depot=DEPOT, statuses={"A": StopStatus.DELIVERED}
    )
    assert [s.order_id for s in etas.stops] == ["B", "C"]
    drive = haversine_m(40.775, -111.890, 40.780, -111.890) / 10.0
    assert (etas.stops[0].eta - now).total_seconds() == pytest.approx(drive)
    gap = (etas.stops[1].eta - etas.stops[0].departure).total_seconds()
    assert gap == pytest.approx(haversine_m(40.78, -111.89, 40.79, -111.89) / 10.0)
    assert etas.origin == "live" and etas.end is not None


def test_slower_observed_traffic_pushes_etas_later():
    """A speed factor of 2 doubles the remaining drive times."""
    now = T0
    pos = Position("V1", now, 40.760, -111.890)
    fast = route_etas(ROUTE, ORDERS, now, TRAVEL, position=pos)
    slow = route_etas(ROUTE, ORDERS, now, TRAVEL, position=pos, speed_factor=2.0)
    assert (slow.stops[0].eta - now) == 2 * (fast.stops[0].eta - now)
    assert observed_speed_factor([(600, 1200), (600, 1100), (600, 1300)]) == pytest.approx(2.0)
    assert observed_speed_factor([]) == 1.0


def test_matrix_travel_times_are_used_for_known_points():
    """Between points of the matrix its durations count, not the straight-line fallback."""
    pts = [DEPOT, ORDERS["A"].location]
    travel = TravelTimes(pts, np.array([[0.0, 900.0], [900.0, 0.0]]))
    assert travel.seconds(DEPOT, ORDERS["A"].location) == 900.0
    with pytest.raises(ValueError, match="shape"):
        TravelTimes(pts, np.zeros((3, 3)))


def test_a_stop_being_served_finishes_its_service_first():
    """An arrived stop keeps its arrival time; the next ETA follows its service."""
    now = T0 + timedelta(minutes=10)
    pos = Position("V1", now, 40.770, -111.890)
    etas = route_etas(
        ROUTE,
        ORDERS,
        now,
        TRAVEL,
        position=pos,
        statuses={"A": StopStatus.ARRIVED},
        arrived_at={"A": now},
    )
    assert etas.stops[0].eta == now
    assert etas.stops[0].departure == now + timedelta(minutes=5)


def test_prepared_route_gives_the_same_etas_as_route_etas():
    """The per-plan prepared route predicts exactly what the plain function predicts."""
    from engine.eta import PreparedRoute

    prepared = PreparedRoute(ROUTE, ORDERS, TRAVEL)
    now = T0 + timedelta(minutes=20)
    cases = [
        {"position": Position("V1", now, 40.775, -111.890), "depot": DEPOT},
        {"depot": DEPOT, "statuses": {"A": StopStatus.ARRIVED}, "arrived_at": {"A": now}},
        {"position": Position("V1", now, 40.771, -111.889), "speed_factor": 1.7},
        {"depot": DEPOT, "statuses": {"A": StopStatus.DELIVERED, "B": StopStatus.FAILED}},
        {},
    ]
    for kwargs in cases:
        for _ in range(2):  # the second time from memoised legs
            assert prepared.etas(now, **kwargs) == route_etas(ROUTE, ORDERS, now, TRAVEL, **kwargs)


def test_prepared_route_keeps_up_with_a_different_depot():
    """Legs to and from the depot are remembered per depot, not reused for another one."""
    from engine.eta import PreparedRoute

    prepared = PreparedRoute(ROUTE, ORDERS, TRAVEL)
    now = T0 + timedelta(minutes=5)
    for depot in (DEPOT, Location(40.700, -111.950), DEPOT):
        got = prepared.etas(now, depot=depot)
        assert got == route_etas(ROUTE, ORDERS, now, TRAVEL, depot=depot)


def test_prepared_route_follows_a_changing_speed_factor():
    """Drives remembered at one observed speed factor are not reused at another."""
    from engine.eta import PreparedRoute

    prepared = PreparedRoute(ROUTE, ORDERS, TRAVEL)
    now = T0 + timedelta(minutes=10)
    here = Position("V1", now, 40.765, -111.890)
    for factor in (1.0, 1.6, 1.6, 0.9, 1.0):
        kwargs = {"position": here, "depot": DEPOT, "speed_factor": factor}
        got = prepared.etas(now, **kwargs)
        assert got == route_etas(ROUTE, ORDERS, now, TRAVEL, **kwargs)
    slow = prepared.etas(now, position=here, speed_factor=2.0).of("C")
    assert slow.eta > prepared.etas(now, position=here).of("C").eta


class _Rush:
    """Learned time-of-day factors: drives setting off from 8:10 on take twice as long."""

    def factor(self, a, b, depart, *, keep=True):
        return 2.0 if depart >= T0 + timedelta(minutes=10) else 1.0


def test_time_of_day_factors_lengthen_drives_that_set_off_in_the_rush():
    """With learned factors, each drive takes its factor at the moment it sets off, the
    same in route_etas and in a prepared route."""
    from engine.eta import PreparedRoute

    plain = route_etas(ROUTE, ORDERS, T0, TRAVEL, depot=DEPOT)
    timed_travel = TRAVEL.with_factors(_Rush())
    timed = route_etas(ROUTE, ORDERS, T0, timed_travel, depot=DEPOT)
    prepared = PreparedRoute(ROUTE, ORDERS, timed_travel).etas(T0, depot=DEPOT)
    assert timed.stops[0].eta == plain.stops[0].eta  # left at 8:00: no factor
    for a, b in zip(timed.stops, prepared.stops, strict=True):
        assert a.eta == b.eta
    leg = (plain.stops[2].eta - plain.stops[1].departure).total_seconds()
    later = (timed.stops[2].eta - timed.stops[1].departure).total_seconds()
    assert timed.stops[1].departure >= T0 + timedelta(minutes=10)
    assert later == pytest.approx(2 * leg)
    assert timed.end > plain.end
    assert TRAVEL.factor(DEPOT, DEPOT, T0) == 1.0


def test_learned_factors_do_not_remember_legs_from_live_positions():
    """With a learned travel profile, a van's live ETAs take the factor of the leg from
    where it is now, every second, from a new place each time: those legs are worked out,
    not remembered (2,000 vans put 120,000 a minute into the profile's memo, some 100 MB
    before its bound), while the legs between stops are remembered and give the same ETAs."""
    from engine.eta import PreparedRoute
    from engine.learning import TravelProfile, ZoneGrid

    profile = TravelProfile(ZoneGrid(DEPOT, 2000.0), "America/Denver", math.log(1.3),
                            {8: math.log(1.5)}, {}, {}, 0.2)  # fmt: skip
    travel = TRAVEL.with_factors(profile)
    prepared = PreparedRoute(ROUTE, ORDERS, travel)
    for i in range(600):  # ten minutes of 1 Hz fixes, driving north towards A
        now = T0 + timedelta(seconds=i)
        here = Position("V1", now, 40.760 + i * 1e-5, -111.890)
        slow = route_etas(ROUTE, ORDERS, now, travel, position=here, depot=DEPOT)
        fast = prepared.etas(now, position=here, depot=DEPOT)
        assert fast == slow
    # The legs between the stops and back to the depot, at the hours they were driven.
    assert len(profile._memo) <= 3 * 4, len(profile._memo)
    # A live leg takes its learned factor all the same (the base 1.3 at 01:00 in Denver).
    plain = route_etas(ROUTE, ORDERS, T0, TRAVEL, position=here, depot=DEPOT)
    timed = route_etas(ROUTE, ORDERS, T0, travel, position=here, depot=DEPOT)
    assert timed.stops[0].eta > plain.stops[0].eta
