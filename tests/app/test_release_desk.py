"""Release control on a real store: the gate of a planned day, loading, releases refused
and done, overrides, recalls, the messages due to drivers, departures, on-time dispatch."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlalchemy import select

from app.release.commands import RELEASE, ReleaseCommand, apply_release_command
from app.release.desk import NotAllowed
from app.store import StaleVersionError, repository
from app.store import repository_release as rel
from app.store.models import ChangeLogRow
from engine.model import RouteStatus
from tests.app.test_release_support import at, desk_on, seed_release_day, sqlite_store


@pytest.fixture
def planned(tmp_path):
    """A store with the release day planned for release, and a dispatcher's desk."""
    store = sqlite_store(tmp_path)
    day, plan = seed_release_day(store)
    yield store, day, plan, desk_on(store)
    store.close()


def _routes(plan):
    return [r for r in plan.routes if r.stops]


def test_a_fresh_plan_waits_only_for_loading(planned):
    """Every route of a plan made for release has its dock slot, wave and departure; before
    anything is scanned the gate stops each route on loading alone, and says why."""
    _store, _day, plan, desk = planned
    gate = desk.gate(now=at(6, 30))
    assert set(gate.routes) == {r.id for r in _routes(plan)}
    for g in gate.routes.values():
        assert [c.name for c in g.red] == ["loading"], [(c.name, c.what) for c in g.red]
        assert "0 of" in g.check("loading").what and g.check("loading").fix
    assert set(gate.waves) >= {"W1", "W2"}
    assert gate.waves["W1"].status.value == "loading" and not gate.waves["W1"].go


def test_marking_loaded_makes_a_route_ready_and_green(planned):
    """A person marks a route loaded: it is ready, its gate green, the mark in history."""
    store, _day, plan, desk = planned
    route = _routes(plan)[0]
    desk.mark_loaded(route.id, now=at(6, 50))
    gate = desk.gate(now=at(6, 55))
    g = gate.routes[route.id]
    assert g.status is RouteStatus.READY and g.go
    assert "marked loaded by ann@desk-1" in g.check("loading").what
    with store.read_session() as s:
        (t,) = rel.transitions(s, "D1", plan.day)
    assert (t.to_status, t.source, t.actor) == (RouteStatus.READY, "manual", "ann@desk-1")


def test_release_sends_green_routes_and_refuses_red_ones_with_why(planned):
    """Releasing two routes, one loaded and one not: the loaded one is released (version
    up, command in the change log), the other refused naming its red check."""
    store, _day, plan, desk = planned
    green, red = _routes(plan)[:2]
    desk.mark_loaded(green.id, now=at(6, 50))
    with store.read_session() as s:
        before = repository.route_versions(s, "D1", plan.day)[green.id]
    outcome = desk.release([green.id, red.id], now=at(7, 0))
    assert list(outcome.released) == [green.id] and outcome.released[green.id] == before + 1
    assert "loading" in outcome.refused[red.id]
    with store.read_session() as s:
        stored = {r.id: r.status for r in repository.load_plan(s, "D1", plan.day).routes}
        audit = s.scalars(select(ChangeLogRow).where(ChangeLogRow.entity == "command")
                          .order_by(ChangeLogRow.id)).all()  # fmt: skip
    assert stored[green.id] is RouteStatus.RELEASED and stored[red.id] is RouteStatus.PLANNED
    assert audit[-1].after["command"] == "release" and audit[-1].actor == "ann@desk-1"
    again = desk.release([green.id], now=at(7, 1))
    assert "already released" in again.refused[green.id]


def test_the_same_route_released_from_two_desks_is_refused_the_second_time(planned):
    """Two desks decide on the same route version: the first release lands, the second is a
    stale write (a conflict to show), not a second release."""
    store, _day, plan, desk = planned
    route = _routes(plan)[0]
    desk.mark_loaded(route.id, now=at(6, 50))
    with store.read_session() as s:
        base = repository.route_versions(s, "D1", plan.day)[route.id]
    mine = ReleaseCommand(RELEASE, "D1", plan.day.isoformat(), "ann@desk-1", "dispatcher",
                          at(7), {route.id: base})  # fmt: skip
    theirs = replace(mine, actor="bob@desk-2", key="other")
    with store.session() as s:
        apply_release_command(s, mine)
    with pytest.raises(StaleVersionError), store.session() as s:
        apply_release_command(s, theirs)
    with store.read_session() as s:
        assert [t.actor for t in rel.transitions(s, "D1", plan.day)
                if t.to_status is RouteStatus.RELEASED] == ["ann@desk-1"]  # fmt: skip


def test_only_a_supervisor_overrides_and_the_reason_holds_while_the_route_stays(planned):
    """A dispatcher may not override; a supervisor's override of the loading check with a
    reason makes the route go and is in the change log; changing the route's orders ends it."""
    store, _day, plan, desk = planned
    route = _routes(plan)[0]
    with pytest.raises(NotAllowed, match="supervisor"):
        desk.override(route.id, "loading", "checked on paper", now=at(7))
    boss = desk_on(store, role="supervisor", actor="sam@desk-1")
    with pytest.raises(ValueError, match="reason"):
        boss.override(route.id, "loading", "   ", now=at(7))
    boss.override(route.id, "loading", "checked on paper", now=at(7))
    g = boss.gate(now=at(7, 1)).routes[route.id]
    assert g.go and g.overridden[0].override.reason == "checked on paper"
    with store.read_session() as s:
        log = s.scalars(select(ChangeLogRow).where(ChangeLogRow.entity == "gate_override")).one()
    assert log.actor == "sam@desk-1" and log.after["reason"] == "checked on paper"
    with store.session() as s:
        versions = repository.route_versions(s, "D1", plan.day)
        repository.update_route_stops(s, route.id, route.stops[:-1],
                                      base_version=versions[route.id], actor="t")  # fmt: skip
    assert not boss.gate(now=at(7, 2)).routes[route.id].go


def test_scans_move_a_route_through_loading_to_ready_and_back(planned):
    """The dock's scans: the first makes the route loading, the last ready; an order taken
    off again puts it back to loading."""
    store, _day, plan, desk = planned
    route = _routes(plan)[0]
    orders = route.order_ids
    scan = lambda i, oid, kind="loaded": rel.Scan(f"s{i}-{kind}", "D1", "D1-1", route.id, kind,  # noqa: E731
                                                 at(6, 30 + i % 20), oid)  # fmt: skip
    assert desk.take_scans([scan(0, orders[0])]) == [route.id]
    assert desk.gate(now=at(6, 40)).routes[route.id].status is RouteStatus.LOADING
    desk.take_scans([scan(i, oid) for i, oid in enumerate(orders)])
    assert desk.gate(now=at(6, 55)).routes[route.id].status is RouteStatus.READY
    desk.take_scans([scan(99, orders[0], "unloaded")])
    g = desk.gate(now=at(6, 58)).routes[route.id]
    assert g.status is RouteStatus.LOADING and not g.check("loading").ok


def test_messages_due_follow_release_changes_and_recall(planned):
    """A released route is due once; sent, nothing is due; a change of its stops makes it
    due again with a higher version; going on the road does not; a recall sends a
    withdrawal."""
    store, _day, plan, desk = planned
    route = _routes(plan)[0]
    desk.mark_loaded(route.id, now=at(6, 50))
    assert desk.due_messages(now=at(6, 55)) == []
    desk.release([route.id], now=at(7))
    (due,) = desk.due_messages(now=at(7))
    body = json.loads(due.message.payload)
    assert due.message.topic == f"fleet/D1/vehicle/{route.vehicle_id}/route"
    assert body["route_id"] == route.id and body["status"] == "released"
    assert [s["order_id"] for s in body["stops"]] == list(route.order_ids)
    assert body["stops"][0]["windows"] and body["stops"][0]["eta"] and body["dock"]["id"]
    desk.record_sent([due])
    assert desk.due_messages(now=at(7, 1)) == []
    desk.transition(route.id, RouteStatus.ACTIVE, at=at(7, 20), source="telemetry", actor="V")
    assert desk.due_messages(now=at(7, 21)) == []
    with store.session() as s:
        versions = repository.route_versions(s, "D1", plan.day)
        repository.update_route_stops(s, route.id, tuple(reversed(route.stops)),
                                      base_version=versions[route.id], actor="t")  # fmt: skip
    (again,) = desk.due_messages(now=at(7, 30))
    assert again.message.version > due.message.version
    assert [s["order_id"] for s in again.message.body["stops"]] == list(reversed(route.order_ids))


def test_a_recalled_release_sends_a_withdrawal(planned):
    store, _day, plan, desk = planned
    route = _routes(plan)[0]
    desk.mark_loaded(route.id, now=at(6, 50))
    desk.release([route.id], now=at(7))
    desk.record_sent(desk.due_messages(now=at(7)))
    desk.recall([route.id], now=at(7, 5), reason="wrong van")
    (due,) = desk.due_messages(now=at(7, 6))
    assert due.message.kind == "withdrawn" and due.message.body["stops"] == []
    assert desk.gate(now=at(7, 6)).routes[route.id].status is RouteStatus.READY


def test_departures_and_on_time_dispatch(planned):
    """A vehicle's first fix away from the depot puts its route on the road (noting a
    departure before release); all stops done completes it; punctuality per route and wave."""
    store, day, plan, desk = planned
    a, b = _routes(plan)[:2]
    desk.mark_loaded(a.id, now=at(6, 50))
    desk.release([a.id], now=at(7, 10))
    depot = day.depots[0].location
    away = (depot.lat + 0.02, depot.lon, at(7, 20).timestamp())
    home = (depot.lat, depot.lon, at(7, 20).timestamp())
    _day, stored, _v = desk.load()
    assert desk.follow_fleet(stored, {a.vehicle_id: away, b.vehicle_id: home}, {}) == [a.id]
    assert desk.follow_fleet(stored, {b.vehicle_id: away}, {}) == [b.id]
    with store.read_session() as s:
        why = {t.route_id: t.reason for t in rel.transitions(s, "D1", plan.day)
               if t.to_status is RouteStatus.ACTIVE}  # fmt: skip
    assert why == {a.id: f"{a.vehicle_id} tracker: left the depot",
                   b.id: f"{b.vehicle_id} tracker: left the depot before release"}  # fmt: skip
    _day, stored, _v = desk.load()
    done = {oid: at(12).timestamp() for oid in a.order_ids}
    assert desk.follow_fleet(stored, {}, done) == [a.id]
    routes, waves = desk.punctuality()
    mine = next(r for r in routes if r.route_id == a.id)
    assert mine.released_at == at(7, 10) and mine.departed_at == at(7, 20)
    assert waves[a.wave].departed >= 1


def test_the_gate_on_per_route_legs_says_what_the_whole_day_matrix_says(planned):
    """Above its size threshold the gate evaluates each route on its own legs (a 2,000-van
    day would need an all-pairs matrix of 24,000 points); on the demo-size day both ways
    give every route the same checks, wording, windows and departures."""
    _store, day, plan, desk = planned
    desk.mark_loaded(_routes(plan)[0].id, now=at(6, 50))
    for now in (at(6, 55), at(9, 30), at(15, 0)):
        whole = desk.gate(now=now)
        desk.max_points = 0  # every day is "large": per-route legs
        legs = desk.gate(now=now)
        desk.max_points = 10**9
        assert type(desk.gate_context(*desk.load()[:2])).__name__ == "DayContext"
        desk.max_points = 0
        assert type(desk.gate_context(*desk.load()[:2])).__name__ == "RouteLegs"
        desk.max_points = 10**9
        assert set(legs.routes) == set(whole.routes) and legs.departures == whole.departures
        for rid, g in whole.routes.items():
            mine = legs.routes[rid]
            assert [(c.name, c.ok, c.what) for c in mine.checks] == [
                (c.name, c.ok, c.what) for c in g.checks
            ], rid
        assert {w: g.go for w, g in legs.waves.items()} == {w: g.go for w, g in whole.waves.items()}


def test_the_slot_plan_reuses_the_day_context_the_desk_built(planned):
    """The slot plan reads the day from the store each time it opens: the same day, so the
    whole-day context built before (a warm-up, the dock dialog) answers it, not a new
    build of the day's matrices; a day that changed (an order moved elsewhere) is a new
    context."""
    _store, day, plan, desk = planned
    ctx = desk.context(day, plan)
    again, _plan, _versions = desk.load()
    assert again is not day and desk.context(again, plan) is ctx
    desk.slot_plan(now=at(6, 30))
    assert desk.context(day, plan) is ctx
    moved = replace(day.orders[0], location=replace(day.orders[0].location, lat=40.7))
    other = replace(day, orders=(moved, *day.orders[1:]))
    assert desk.context(other, plan) is not ctx


def test_the_release_loop_reads_sent_messages_again_only_after_one_is_recorded(
    planned, monkeypatch
):
    """The loop asks what is due every few seconds: the routes' last messages are decoded
    from the store again only when one was recorded since, by this desk or another
    workstation's on the same database (which this desk then sees at once)."""
    store, _day, plan, desk = planned
    reads = []
    real = rel.last_publications
    monkeypatch.setattr(rel, "last_publications", lambda s, ids: reads.append(1) or real(s, ids))
    route = _routes(plan)[0]
    desk.mark_loaded(route.id, now=at(6, 50))
    desk.release([route.id], now=at(7))
    (due,) = desk.due_messages(now=at(7))
    other = desk_on(store)
    other.record_sent([due])  # sent from another workstation
    assert desk.due_messages(now=at(7, 1)) == []
    assert reads == [1, 1]
    for minute in range(2, 6):
        assert desk.due_messages(now=at(7, minute)) == []
    assert reads == [1, 1]
    desk.recall([route.id], now=at(7, 6), reason="wrong van")
    (withdrawal,) = desk.due_messages(now=at(7, 7))
    assert withdrawal.message.kind == "withdrawn"
    desk.record_sent([withdrawal])
    assert desk.due_messages(now=at(7, 8)) == [] and len(reads) == 3


def test_the_release_loop_holds_what_drivers_were_sent_compactly(planned):
    """What the loop keeps of each route's last message between its passes is what a driver
    would notice of it, encoded, not the decoded message (2,000 routes' messages as dicts
    were some 11 MB of the window all day): a message sent is not due again, and the
    held publications carry their version but no payload."""
    _store, _day, plan, desk = planned
    route, due = _released_and_sent(desk, plan)
    with desk.store.read_session() as s:
        held = desk.last_sent(s, [route.id])
    assert held[route.id].version == due.message.version
    assert held[route.id].payload == {}
    desk.recall([route.id], now=at(7, 2), reason="wrong van")
    (withdrawal,) = desk.due_messages(now=at(7, 3))
    assert withdrawal.message.kind == "withdrawn"


def _released_and_sent(desk, plan):
    """The first route loaded, released at 07:00 and its message sent: nothing due after."""
    route = _routes(plan)[0]
    desk.mark_loaded(route.id, now=at(6, 50))
    desk.release([route.id], now=at(7))
    (due,) = desk.due_messages(now=at(7))
    desk.record_sent([due])
    assert desk.due_messages(now=at(7, 1)) == []
    return route, due


def _count_loads(desk, monkeypatch) -> list[int]:
    """A list that grows by one each time the desk reads the day and plan."""
    loads: list[int] = []
    real = desk.load
    monkeypatch.setattr(desk, "load", lambda: loads.append(1) or real())
    return loads


def test_nothing_due_is_not_read_again_until_the_store_changes(planned, monkeypatch):
    """The release loop asks every 5 s: while nothing is due and nothing was stored since,
    the day and plan are not read again; a change stored by another workstation (a stop
    order changed) is seen at the next ask."""
    store, _day, plan, desk = planned
    loads = _count_loads(desk, monkeypatch)
    route, _due = _released_and_sent(desk, plan)
    read = len(loads)
    for minute in range(2, 6):
        assert desk.due_messages(now=at(7, minute)) == []
    assert len(loads) == read  # nothing stored since: the day was not read again
    with store.session() as s:  # another workstation reverses the route's stops
        versions = repository.route_versions(s, "D1", plan.day)
        repository.update_route_stops(s, route.id, tuple(reversed(route.stops)),
                                      base_version=versions[route.id], actor="other")  # fmt: skip
    (again,) = desk.due_messages(now=at(7, 6))
    assert [s["order_id"] for s in again.message.body["stops"]] == list(reversed(route.order_ids))
    desk.record_sent([again])
    assert desk.due_messages(now=at(7, 7)) == [] and len(loads) == read + 2
    assert desk.due_messages(now=at(7, 8)) == [] and len(loads) == read + 2


def test_routes_going_on_the_road_do_not_make_the_day_read_again(planned, monkeypatch):
    """At 2,000 vans a route goes on the road or completes every second or so: a released
    route's status moving on changes no driver's message, and the day is not read again
    for it; a route on the road before its release is read and sent at once."""
    _store, _day, plan, desk = planned
    loads = _count_loads(desk, monkeypatch)
    route, _due = _released_and_sent(desk, plan)
    read = len(loads)
    assert desk.transition(route.id, RouteStatus.ACTIVE, at=at(7, 20), source="telemetry",
                           actor="V")  # fmt: skip
    assert desk.due_messages(now=at(7, 21)) == [] and len(loads) == read
    assert desk.transition(route.id, RouteStatus.COMPLETED, at=at(9), source="telemetry",
                           actor="V")  # fmt: skip
    assert desk.due_messages(now=at(9, 1)) == [] and len(loads) == read
    early = _routes(plan)[1]  # never released: its driver has nothing yet
    assert desk.transition(early.id, RouteStatus.ACTIVE, at=at(9, 2), source="telemetry",
                           actor="V")  # fmt: skip
    (due,) = desk.due_messages(now=at(9, 3))
    assert due.message.route_id == early.id and len(loads) == read + 1


def test_the_messages_sent_are_recorded_a_part_at_a_time(planned, monkeypatch):
    """What reached the broker is recorded in transactions of RECORD_PER_WRITE messages
    (on SQLite one transaction writes at a time: a large day's first release recorded
    2,000 routes in one and held the window's writes some 11 s), and all of it is recorded:
    nothing is due afterwards."""
    from sqlalchemy import event

    import app.release.desk as desk_module

    store, _day, plan, desk = planned
    routes = _routes(plan)
    assert len(routes) == 2
    for r in routes:
        desk.mark_loaded(r.id, now=at(6, 50))
    desk.release([r.id for r in routes], now=at(7))
    due = desk.due_messages(now=at(7))
    assert len(due) == len(routes)
    monkeypatch.setattr(desk_module, "RECORD_PER_WRITE", 1)
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _conn: commits.append(1))
    desk.record_sent(due)
    assert len(commits) == 2
    assert desk.due_messages(now=at(7, 1)) == []
