"""The kept day context: every update gives what a full rebuild gives, on random days."""

from __future__ import annotations

import random
from dataclasses import fields, replace
from datetime import timedelta

import numpy as np
import pytest

from engine.incremental import IncrementalContext
from engine.model import Location, Order, Plan, StopStatus, TimeWindow
from engine.planning import DayContext, Snapshot, VehicleState, insert, plan, suggest
from engine.roads import DEMO_CITY_NETWORK, StreetNetwork
from engine.travel import HaversineTravelModel, StreetNetworkTravelModel
from tests.fixtures.scenarios import at, small_day


@pytest.fixture(scope="module")
def street():
    """The shipped Salt Lake City street network as a travel model."""
    return StreetNetworkTravelModel(
        StreetNetwork.load(DEMO_CITY_NETWORK), timezone="America/Denver"
    )


def _points(rnd: random.Random, n: int) -> list[Location]:
    return [
        Location(40.7608 + rnd.uniform(-0.05, 0.05), -111.8910 + rnd.uniform(-0.06, 0.06))
        for _ in range(n)
    ]


@pytest.mark.parametrize("model", ["haversine", "street"])
def test_matrices_between_are_the_square_matrices_entries(model, street):
    """A rectangular travel call gives, entry for entry, what the square call over all the
    points gives (bit for bit), so a new point costs one row and one column."""
    travel = street if model == "street" else HaversineTravelModel()
    rnd = random.Random(3)
    points = _points(rnd, 40)
    points[7] = points[3]  # two orders at one address
    depart = at(8.5)
    full = travel.matrices(points, depart)
    rows, cols = [3, 7, 12, 39], list(range(40))
    dist, dur = travel.matrices_between([points[i] for i in rows], points, depart)
    for a, i in enumerate(rows):
        for j in cols:
            if i != j:
                assert dist[a, j] == full.distance_m[i, j] and dur[a, j] == full.duration_s[i, j]
    dist, dur = travel.matrices_between(points, [points[i] for i in rows], depart)
    for b, j in enumerate(rows):
        for i in cols:
            if i != j:
                assert dist[i, b] == full.distance_m[i, j] and dur[i, b] == full.duration_s[i, j]


def _same_problem(a, b) -> None:
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


def _same_proposal(a, b) -> None:
    for f in fields(a):
        if f.name not in ("seconds", "matrix_seconds"):
            assert getattr(a, f.name) == getattr(b, f.name), f.name


def _running(day, planned: Plan, rnd: random.Random) -> Snapshot:
    """The day a little after 10:00: each route's first stops served, vans where they left
    their last stop."""
    locs = {o.id: o.location for o in day.orders}
    routes, states = [], {}
    for r in planned.routes:
        done = rnd.randint(0, min(3, len(r.stops)))
        stops = [replace(s, status=StopStatus.DELIVERED) if i < done else s
                 for i, s in enumerate(r.stops)]  # fmt: skip
        routes.append(replace(r, stops=tuple(stops)))
        if done:
            last = stops[done - 1]
            states[r.vehicle_id] = VehicleState(r.vehicle_id, locs[last.order_id],
                                                last.planned_departure)  # fmt: skip
    return Snapshot(day, replace(planned, routes=tuple(routes)), at(10.1), states)


def _command(plan: Plan, rnd: random.Random) -> Plan:
    """A random dispatcher command: move an open stop elsewhere, re-sequence, or lock."""
    routes = list(plan.routes)
    open_ = [(i, j) for i, r in enumerate(routes) for j, s in enumerate(r.stops)
             if s.status == StopStatus.PLANNED]  # fmt: skip
    i, j = rnd.choice(open_)
    kind = rnd.choice(["move", "move", "reverse", "lock"])
    stops = list(routes[i].stops)
    if kind == "lock":
        stops[j] = replace(stops[j], locked=not stops[j].locked)
        routes[i] = replace(routes[i], stops=tuple(stops))
    elif kind == "reverse":
        served = [s for s in stops if s.status != StopStatus.PLANNED]
        rest = [s for s in stops if s.status == StopStatus.PLANNED]
        routes[i] = replace(routes[i], stops=tuple(served + rest[::-1]))
    else:
        moving = stops.pop(j)
        routes[i] = replace(routes[i], stops=tuple(stops))
        t = rnd.randrange(len(routes))
        target = list(routes[t].stops)
        target.insert(rnd.randint(len([s for s in target if s.status != StopStatus.PLANNED]),
                                  len(target)), replace(moving, locked=False))  # fmt: skip
        routes[t] = replace(routes[t], stops=tuple(target))
    return replace(plan, routes=tuple(routes))


def _urgent(rnd: random.Random, n: int) -> Order:
    start = rnd.choice([10.5, 11, 12, 13])
    return Order(
        f"URGENT{n}", "D1", _points(rnd, 1)[0], {"kg": rnd.uniform(10, 60), "m3": 0.2},
        (TimeWindow(at(start), at(start + 2.5)),), timedelta(minutes=5),
    )  # fmt: skip


@pytest.mark.parametrize(("model", "seed"), [("haversine", 1), ("haversine", 2), ("street", 3)])
def test_kept_context_matches_a_full_rebuild_on_random_days(model, seed, street):
    """Through random commands, new orders and a moving clock, the kept context's problem,
    insertions and suggestions are exactly those of a context built from scratch."""
    travel = street if model == "street" else HaversineTravelModel()
    rnd = random.Random(seed)
    day = small_day(n_orders=36, n_vehicles=4, seed=seed)
    day = replace(day, orders=tuple(replace(o, location=p)
                                    for o, p in zip(day.orders, _points(rnd, 36), strict=True)))  # fmt: skip
    planned = plan(day, travel, depot_id="D1", time_limit_s=60, iterations=150)
    snapshot = _running(day, planned, rnd)
    kept = IncrementalContext(travel)
    kept.context(snapshot)
    for step in range(10):
        if step == 3:  # the clock moves on and vans with it
            states = {vid: replace(s, location=_points(rnd, 1)[0], available_at=at(10.4))
                      for vid, s in snapshot.vehicles.items()}  # fmt: skip
            snapshot = replace(snapshot, now=at(10.4), vehicles=states)
            ctx = kept.advance(snapshot.now, states)
        elif step == 5:  # an urgent order joined the day
            order = _urgent(rnd, step)
            snapshot = replace(snapshot, day=replace(snapshot.day,
                                                     orders=snapshot.day.orders + (order,)))  # fmt: skip
            ctx = kept.add_orders([order])
        elif step in (6, 8):  # a stop served: its van is there now (first fix, or moved)
            snapshot = _one_more_served(snapshot, rnd)
            ctx = kept.context(snapshot)
        else:
            snapshot = replace(snapshot, plan=_command(snapshot.plan, rnd))
            ctx = kept.apply(snapshot.plan)
        full = DayContext(snapshot, travel, "D1")
        _same_problem(ctx.problem, full.problem)
        assert ctx.node_of == full.node_of and ctx.points == full.points
        order = _urgent(rnd, 100 + step)
        _same_proposal(kept.insert(order), insert(snapshot, order, travel))
        oid = rnd.choice([o for o in full.client_ids if o in full.node_of])
        assert kept.suggest(oid) == suggest(snapshot, oid, travel)
    assert kept.builds == 1 and kept.updates == 10


def _one_more_served(snapshot: Snapshot, rnd: random.Random) -> Snapshot:
    """The next open stop of a random route delivered, its van where that stop is."""
    locs = {o.id: o.location for o in snapshot.day.orders}
    routes = list(snapshot.plan.routes)
    i = rnd.choice([k for k, r in enumerate(routes)
                    if any(s.status == StopStatus.PLANNED for s in r.stops)])  # fmt: skip
    stops = list(routes[i].stops)
    j = next(k for k, s in enumerate(stops) if s.status == StopStatus.PLANNED)
    stops[j] = replace(stops[j], status=StopStatus.DELIVERED, locked=False)
    routes[i] = replace(routes[i], stops=tuple(stops))
    vid = routes[i].vehicle_id
    states = {**snapshot.vehicles,
              vid: VehicleState(vid, locs[stops[j].order_id], snapshot.now)}  # fmt: skip
    return replace(snapshot, plan=replace(snapshot.plan, routes=tuple(routes)), vehicles=states)


def test_what_changes_the_context_rebuilds_it():
    """Another day or another travel-time period rebuild the context; a plan change does
    not, and a stop served or a vehicle's first position build it from the matrices it had
    (exactly the context a full build gives)."""
    travel = HaversineTravelModel()
    day = small_day(n_orders=20, n_vehicles=3, seed=4)
    planned = plan(day, travel, depot_id="D1", time_limit_s=60, iterations=100)
    kept = IncrementalContext(travel)
    snapshot = Snapshot(day, planned, at(9))
    kept.context(snapshot)
    route = planned.routes[0]
    served = replace(route, stops=(replace(route.stops[0], status=StopStatus.DELIVERED),
                                   *route.stops[1:]))  # fmt: skip
    ctx = kept.apply(replace(planned, routes=(served, *planned.routes[1:])))
    assert kept.builds == 1 and kept.updates == 1
    _same_problem(ctx.problem, DayContext(ctx.snapshot, travel, "D1").problem)
    here = VehicleState(route.vehicle_id, route and day.orders[0].location, at(9))
    ctx = kept.advance(at(9), {route.vehicle_id: here})
    assert kept.builds == 1 and kept.updates == 2
    _same_problem(ctx.problem, DayContext(ctx.snapshot, travel, "D1").problem)
    kept.apply(_command(kept.current.snapshot.plan, random.Random(1)))
    assert kept.builds == 1 and kept.updates == 3
    kept.context(replace(kept.current.snapshot, day=replace(day, vehicles=day.vehicles[:2])))
    assert kept.builds == 2


def test_insert_of_a_served_order_is_refused():
    """Inserting an order the day already served says so instead of planning it twice."""
    travel = HaversineTravelModel()
    day = small_day(n_orders=12, n_vehicles=2, seed=5)
    planned = plan(day, travel, depot_id="D1", time_limit_s=60, iterations=50)
    route = planned.routes[0]
    done = replace(route, stops=(replace(route.stops[0], status=StopStatus.DELIVERED),
                                 *route.stops[1:]))  # fmt: skip
    kept = IncrementalContext(travel)
    kept.context(Snapshot(day, replace(planned, routes=(done, *planned.routes[1:]))))
    order = next(o for o in day.orders if o.id == route.stops[0].order_id)
    with pytest.raises(ValueError, match="already served"):
        kept.insert(order)
    with pytest.raises(RuntimeError, match="no day context"):
        IncrementalContext(travel).insert(order)
