"""Release control on the shared PostgreSQL, as a dispatcher's own database user: the
changes a dock's scans and a vehicle's tracker report are stored in the desk person's name,
so the database's actor check accepts them (a device is not a database user)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from app.store import open_store, repository
from app.store import repository_release as rel
from app.store.roles import add_user
from engine.model import RouteStatus
from tests.app.test_release_support import at, desk_on, seed_release_day

pytestmark = pytest.mark.postgres


def test_dock_scans_and_departures_are_stored_on_a_shared_database(postgres_url: str) -> None:
    admin = open_store(postgres_url)
    try:
        _day, plan = seed_release_day(admin, seconds=5.0)
        add_user(admin.engine, "dora_disp", "dispatcher", "pw")
        url = make_url(postgres_url).set(username="dora_disp", password="pw")
        store = open_store(url.render_as_string(hide_password=False), migrate=False)
        try:
            desk = desk_on(store, actor="dora_disp@desk-2")
            route = next(r for r in plan.routes if r.stops)
            scans = [rel.Scan(f"s{i}", "D1", "D1-1", route.id, "loaded", at(6, 30 + i), oid)
                     for i, oid in enumerate(route.order_ids)]  # fmt: skip
            assert desk.take_scans(scans) == [route.id]
            with store.read_session() as s:
                stored = {r.id: r.status for r in repository.load_plan(s, "D1", plan.day).routes}
                (t,) = rel.transitions(s, "D1", plan.day)
            assert stored[route.id] is RouteStatus.READY
            assert t.actor == "dock:dora_disp@desk-2" and t.source == "dock"
            assert t.reason.startswith("dock D1-1: ") and "scanned" in t.reason

            desk.release([route.id], now=at(7))
            with store.read_session() as s:
                depot = repository.load_depot(s, "D1").location
            seen = {route.vehicle_id: (depot.lat + 0.05, depot.lon, at(7, 20).timestamp())}
            assert desk.follow_fleet(desk.load()[1], seen, {}) == [route.id]
            with store.read_session() as s:
                last = rel.transitions(s, "D1", plan.day)[-1]
            assert last.to_status is RouteStatus.ACTIVE
            assert last.actor == "tracker:dora_disp@desk-2"
            assert last.reason == f"{route.vehicle_id} tracker: left the depot"
        finally:
            store.close()
    finally:
        admin.close()
