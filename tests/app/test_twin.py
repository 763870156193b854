"""The digital twin: streets, true traffic and service, seeded trouble, and a fleet that
follows the route it was last sent."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from app.simulator import Simulator, sweep_plan
from app.simulator.demo_day import generate_demo_day
from app.simulator.trouble import TroubleSpec
from app.simulator.world import Traffic, customer_traits, stop_outcome
from engine.roads import DEMO_CITY_NETWORK, StreetNetwork

DAY = date(2026, 12, 7)

pytestmark = pytest.mark.skipif(
    not DEMO_CITY_NETWORK.exists(), reason="the demo city's street network is not shipped"
)


@pytest.fixture(scope="module")
def demo():
    """The demo day (seed 7) with a quick sweep plan: 25 vehicles on the city's streets."""
    day = generate_demo_day(7, DAY)
    return day, sweep_plan(day)


def _run(sim, until, every=30.0):
    """Every message from the start to ``until``, decoded: (fixes, events)."""
    fixes, events = [], []
    t = sim.start_time
    while t < until:
        t = min(until, t + every)
        for topic, payload in sim.step(t):
            (events if topic.endswith("/event") else fixes).append(json.loads(payload))
    return fixes, events


def _events_of(events, vehicle_id, type_=None):
    return [
        e for e in events if e["vehicle_id"] == vehicle_id and (type_ is None or e["type"] == type_)
    ]


def test_vehicles_drive_along_the_streets(demo):
    """Fixes between stops lie on the street network (GPS noise aside), not on straight
    lines across blocks."""
    day, plan = demo
    sim = Simulator(plan, day, seed=7, rate_hz=0.2, incidents=False)
    fixes, _ = _run(sim, sim.start_time + 2 * 3600)
    moving = [f for f in fixes if f["speed_kmh"] > 5]
    assert len(moving) > 1000
    net = StreetNetwork.load(DEMO_CITY_NETWORK)
    dist = net.distance_to_street_m([f["lat"] for f in moving], [f["lon"] for f in moving])
    assert np.percentile(dist, 95) < 15.0
    assert sim.roads.legs_built > 25


def test_one_seed_is_one_day_and_another_seed_another(demo):
    """Same seed, same messages (also with a route handed over mid-day); another seed
    differs."""
    day, plan = demo

    def run(seed):
        sim = Simulator(plan, day, seed=seed, rate_hz=0.1)
        out = sim.step(sim.start_time + 3600)
        route = plan.routes[0]
        sim.set_route(route.vehicle_id, route.order_ids[::-1], 1)
        return out + sim.step(sim.start_time + 3 * 3600)

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_a_new_route_is_followed_from_where_the_vehicle_is(demo):
    """Mid-day a van is sent a route without the stop it was driving to and with a stop
    taken from another van: it never arrives at the dropped stop, serves the new one, and
    the other van no longer goes there."""
    day, plan = demo
    sim = Simulator(plan, day, seed=7, rate_hz=0.1, incidents=False)
    a, b = [r for r in plan.routes if len(r.stops) >= 6][:2]
    t = sim.start_time + 5400
    _, before = _run(sim, t)
    done_a = {e.get("stop_id") for e in _events_of(before, a.vehicle_id, "departed")}
    heading_to = next(oid for oid in a.order_ids if oid not in done_a)
    taken = b.order_ids[-1]
    new_a = [oid for oid in a.order_ids if oid != heading_to] + [taken]
    assert sim.end_time > t  # the whole day built ahead must not count as visited
    assert sim.set_route(a.vehicle_id, new_a, 1, at=t)
    assert sim.set_route(b.vehicle_id, b.order_ids[:-1], 1, at=t)
    _, after = _run_from(sim, t, sim.end_time + 120)
    arrived_a = {e["stop_id"] for e in _events_of(after, a.vehicle_id, "arrived")}
    arrived_b = {e["stop_id"] for e in _events_of(after, b.vehicle_id, "arrived")}
    assert heading_to not in arrived_a
    assert taken in arrived_a and taken not in arrived_b
    assert set(new_a) - done_a <= arrived_a


def _run_from(sim, t, until, every=30.0):
    fixes, events = [], []
    while t < until:
        t = min(until, t + every)
        for topic, payload in sim.step(t):
            (events if topic.endswith("/event") else fixes).append(json.loads(payload))
    return fixes, events


def test_the_stop_it_drives_to_stays_when_it_stays_first(demo):
    """A re-sequenced route that keeps the current target first changes nothing on the way
    there: the arrival time is the same as without the new route."""
    day, plan = demo
    route = next(r for r in plan.routes if len(r.stops) >= 6)
    t = None

    def arrival(resend):
        nonlocal t
        sim = Simulator(plan, day, seed=7, rate_hz=0.1, incidents=False)
        t = sim.start_time + 60
        _, early = _run(sim, t)
        if resend:
            order = list(route.order_ids)
            order[1:] = order[1:][::-1]
            sim.set_route(route.vehicle_id, order, 1, at=t)
        _, events = _run_from(sim, t, t + 4 * 3600)
        return next(
            e["ts"] for e in _events_of(early + events, route.vehicle_id, "arrived")
            if e["stop_id"] == route.order_ids[0]
        )  # fmt: skip

    assert arrival(False) == arrival(True)


def test_served_stops_stay_served_and_old_versions_are_ignored(demo):
    """A route that still lists delivered stops does not deliver them again; a version not
    newer than the last one is ignored."""
    day, plan = demo
    route = next(r for r in plan.routes if len(r.stops) >= 6)
    sim = Simulator(plan, day, seed=7, rate_hz=0.1, incidents=False)
    t = sim.start_time + 3 * 3600
    _, before = _run(sim, t)
    assert sim.set_route(route.vehicle_id, route.order_ids, 2, at=t)
    assert not sim.set_route(route.vehicle_id, route.order_ids[:1], 1, at=t)
    _, after = _run_from(sim, t, sim.end_time + 120)
    served = [e["stop_id"] for e in (*before, *after)
              if e["vehicle_id"] == route.vehicle_id and e["type"] in ("delivered", "failed")]  # fmt: skip
    assert sorted(served) == sorted(route.order_ids)


def test_customers_and_zones_are_the_same_every_day():
    """A customer's service factor and a zone's usual congestion are the city's (the same
    for every seed); the day's noise differs by seed."""
    assert customer_traits("Hale Bakery") == customer_traits("Hale Bakery")
    factors = {customer_traits(f"Customer {i}").service_factor for i in range(200)}
    assert min(factors) < 0.8 and max(factors) > 1.4
    a, b = Traffic(1), Traffic(2)
    assert a.city_speed(3, 4, 8) == b.city_speed(3, 4, 8)
    assert a.speed(3, 4, 8) != b.speed(3, 4, 8)
    assert a.speed(3, 4, 8) != a.speed(3, 4, 12) or a.speed(5, 5, 8) != a.speed(3, 4, 8)
    slow = stop_outcome(1, "O1", "slow one", 300.0)
    assert slow == stop_outcome(1, "O1", "slow one", 300.0)


def test_trouble_comes_from_the_spec(demo):
    """Two breakdowns give two breakdown events; no trouble gives none and no late orders."""
    day, plan = demo
    sim = Simulator(plan, day, seed=9, rate_hz=0.05, trouble=TroubleSpec.parse("breakdown=2"))
    _, events = _run(sim, sim.end_time + 120, every=120)
    assert len([e for e in events if e["type"] == "breakdown"]) == 2
    assert len(sim.late_orders) == TroubleSpec().late_orders
    calm = Simulator(plan, day, seed=9, rate_hz=0.05, trouble=TroubleSpec.none())
    _, events = _run(calm, calm.end_time + 120, every=120)
    assert not [e for e in events if e["type"] == "breakdown"] and not calm.late_orders
    with pytest.raises(ValueError, match="KIND=N"):
        TroubleSpec.parse("meteor=1")


def test_late_orders_become_known_and_can_be_served(demo):
    """Late orders are given out when they become known; a van sent one serves it."""
    day, plan = demo
    sim = Simulator(plan, day, seed=7, rate_hz=0.05, trouble=TroubleSpec.parse("late_orders=3"))
    first = sim.late_orders[0]
    assert sim.orders_due(first.known_at - 1) == []
    due = sim.orders_due(first.known_at)
    assert [o.id for o in due] == [first.order.id]
    route = next(r for r in plan.routes if r.vehicle_id != sim.incidents.breakdown)
    _run(sim, first.known_at)
    sim.set_route(route.vehicle_id, [*route.order_ids, first.order.id], 1, at=first.known_at)
    _, events = _run_from(sim, first.known_at, sim.end_time + 120, every=120)
    assert first.order.id in {e.get("stop_id") for e in _events_of(events, route.vehicle_id)}
