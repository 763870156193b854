"""The demo's dock scanners: a route's loads scanned across its slot, slower at the slow
dock, late on one route; the desk takes the scans as the dock's and the routes become
loading, then ready."""

from __future__ import annotations

import json

from app.release.dock_events import Known, ReleaseDecoder
from app.simulator.dock_scans import DockScanner
from app.store.repository_release import Scan
from engine.model import RouteStatus
from tests.app.test_release_support import desk_on, seed_release_day, sqlite_store


def _times(scanner: DockScanner, until: float) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for _topic, payload in scanner.step(until):
        body = json.loads(payload)
        out.setdefault(body["route_id"], []).append(body["ts"])
    return out


def test_scans_fill_the_slots_and_make_routes_ready(tmp_path):
    """Half-way through a slot about half the orders are scanned (the route is loading);
    after the slot every order is (ready); every scan passes the desk's decoder, once."""
    store = sqlite_store(tmp_path)
    try:
        _day, plan = seed_release_day(store)
        routes = [r for r in plan.routes if r.stops and r.slot_start and r.slot_end]
        scanner = DockScanner("D1", late_minutes=0)
        scanner.set_plan(plan)
        known = Known("D1", frozenset(r.dock_id for r in routes if r.dock_id),
                      {r.id: frozenset(r.order_ids) for r in routes},
                      {r.id: r.vehicle_id for r in routes})  # fmt: skip
        last_end = max(r.slot_end.timestamp() for r in routes)
        decoder = ReleaseDecoder(known, clock=lambda: last_end + 3600)
        desk = desk_on(store)
        route = routes[0]
        mid = (route.slot_start.timestamp() + route.slot_end.timestamp()) / 2
        first = [decoder.decode(t, p) for t, p in scanner.step(mid)]
        assert first and all(isinstance(s, Scan) for s in first), first
        desk.take_scans(first)
        state = desk.records(plan)[0][route.id]
        assert 0 < state.scanned < state.expected
        rest = [decoder.decode(t, p) for t, p in scanner.step(last_end)]
        assert all(isinstance(s, Scan) for s in rest), rest
        desk.take_scans(rest)
        gate = desk.gate(now=route.slot_start)
        assert all(gate.routes[r.id].status is RouteStatus.READY for r in routes)
        assert scanner.step(last_end + 4 * 3600) == []  # each scan once
    finally:
        store.close()


def test_the_slow_dock_and_the_late_loader_overrun_their_slots(tmp_path):
    """At the slow dock the last scans come after the slot's end; the late loader's route
    starts scanning late and overruns too; other routes finish within their slots."""
    store = sqlite_store(tmp_path)
    try:
        _day, plan = seed_release_day(store)
        routes = [r for r in plan.routes if r.stops and r.slot_start and r.slot_end]
        far = max(r.slot_end.timestamp() for r in routes) + 3 * 3600
        ends = {r.id: r.slot_end.timestamp() for r in routes}
        plain = DockScanner("D1", late_minutes=0)
        plain.set_plan(plan)
        normal = _times(plain, far)
        assert all(max(ts) <= ends[rid] for rid, ts in normal.items())
        slow = DockScanner("D1", slow_dock=routes[0].dock_id, late_minutes=0)
        slow.set_plan(plan)
        assert max(_times(slow, far)[routes[0].id]) > ends[routes[0].id]
        late = DockScanner("D1")
        late.late_route = routes[-1].id
        late.set_plan(plan)
        times = _times(late, far)[routes[-1].id]
        assert min(times) > routes[-1].slot_start.timestamp() + 20 * 60
    finally:
        store.close()
