"""Release control in the store (SQLite and PostgreSQL): waves, dock slots, status
transitions with their history, scans, overrides, route messages and acknowledgements."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from app.store import StaleVersionError, repository
from app.store import repository_release as rel
from app.store.models import ChangeLogRow, RouteTransitionRow
from engine.model import Dock, RouteStatus, Wave
from tests.app.test_store_support import ACTOR, DAY, at, sample_day, sample_plan, seed

W1 = Wave("W1", "SLC", at(6), at(7), at(8), ("D1",), "early")
W2 = Wave("W2", "SLC", at(9), at(10), at(11))


def _planned(store, **route_changes):
    seed(store)
    plan = sample_plan()
    r1 = dataclasses.replace(plan.routes[0], status=RouteStatus.PLANNED, **route_changes)
    plan = dataclasses.replace(plan, routes=(r1, *plan.routes[1:]))
    with store.session() as s:
        repository.save_plan(s, plan, actor=ACTOR)
    return plan, r1.id


def test_waves_docks_and_arrival_round_trip(store):
    """Waves come back with the day (idempotent upsert), docks keep their loading rates,
    an order keeps when it came in."""
    day = sample_day()
    depot = dataclasses.replace(day.depots[0], docks=(Dock("D1", "north", 12, 4, 2.5), Dock("D2")))
    late = dataclasses.replace(day.orders[1], received_at=at(6, 40))
    day = dataclasses.replace(day, depots=(depot,), orders=(day.orders[0], late, day.orders[2]))
    seed(store, day)
    with store.session() as s:
        assert repository.upsert_waves(s, [W1, W2], actor=ACTOR).inserted == 2
    with store.session() as s:
        assert repository.upsert_waves(s, [W1, W2], actor=ACTOR).unchanged == 2
        moved = dataclasses.replace(W2, cutoff=at(9, 30))
        assert repository.upsert_waves(s, [moved], actor=ACTOR).updated == 1
    with store.read_session() as s:
        loaded = repository.load_day(s, "SLC", DAY)
    assert loaded.waves == (W1, dataclasses.replace(W2, cutoff=at(9, 30)))
    assert loaded.depots[0].docks[0] == Dock("D1", "north", 12, 4, 2.5)
    assert next(o for o in loaded.orders if o.id == late.id).received_at == at(6, 40)


def test_a_route_keeps_its_dock_slot(store):
    """A route's dock and slot are stored with the plan and come back equal."""
    plan, rid = _planned(store, dock_id="D1", slot_start=at(6, 20), slot_end=at(6, 55))
    with store.read_session() as s:
        loaded = repository.load_plan(s, "SLC", DAY)
    route = next(r for r in loaded.routes if r.id == rid)
    assert (route.dock_id, route.slot_start, route.slot_end) == ("D1", at(6, 20), at(6, 55))


def test_a_status_change_is_versioned_and_recorded(store):
    """Releasing writes the status, raises the version, and records when, who and why in
    the transition history and the change log."""
    _plan, rid = _planned(store)
    with store.session() as s:
        base = repository.route_versions(s, "SLC", DAY)[rid]
        t = rel.set_route_status(s, rid, RouteStatus.RELEASED, actor=ACTOR, at=at(7, 40),
                                 reason="wave W1", base_version=base)  # fmt: skip
    assert t.from_status is RouteStatus.PLANNED and t.route_version == base + 1
    with store.read_session() as s:
        assert repository.load_plan(s, "SLC", DAY).routes[0].status is RouteStatus.RELEASED
        (row,) = s.scalars(select(RouteTransitionRow)).all()
        assert (row.to_status, row.actor, row.at, row.reason) == (
            "released",
            ACTOR,
            at(7, 40),
            "wave W1",
        )
        log = s.scalars(select(ChangeLogRow).where(ChangeLogRow.entity == "route_status")).one()
        assert log.before["status"] == "planned" and log.after["status"] == "released"
        assert [t.to_status for t in rel.transitions(s, "SLC", DAY)] == [RouteStatus.RELEASED]


def test_a_stale_or_misplaced_status_change_is_refused(store):
    """A change based on an old version raises StaleVersionError; a commanded change from a
    status it may not come from is refused with why; a dock-driven one is a quiet no-op."""
    _plan, rid = _planned(store)
    with store.session() as s:
        base = repository.route_versions(s, "SLC", DAY)[rid]
        rel.set_route_status(s, rid, RouteStatus.LOADING, actor="dock", at=at(6, 30),
                             source="dock")  # fmt: skip
    with store.session() as s, pytest.raises(StaleVersionError):
        rel.set_route_status(s, rid, RouteStatus.RELEASED, actor=ACTOR, at=at(7), base_version=base)
    with store.session() as s, pytest.raises(rel.TransitionRefused, match="loading"):
        rel.set_route_status(s, rid, RouteStatus.COMPLETED, actor=ACTOR, at=at(7),
                             allowed_from={RouteStatus.ACTIVE})  # fmt: skip
    with store.session() as s:
        assert rel.set_route_status(s, rid, RouteStatus.LOADING, actor="dock", at=at(6, 31)) is None
        assert (
            rel.set_route_status(
                s,
                rid,
                RouteStatus.READY,
                actor="dock",
                at=at(6, 31),
                allowed_from={RouteStatus.PLANNED},
                strict=False,
            )
            is None
        )


def test_scans_are_idempotent_and_make_the_loading_state(store):
    """Loaded and unloaded scans per order, a count, and a mark by hand give the loading
    state; a scan sent twice counts once."""
    _plan, rid = _planned(store)
    orders = {rid: ["O1", "O2"]}
    scan = lambda eid, kind, **kw: rel.Scan(eid, "SLC", "D1", rid, kind, at(6, 40), **kw)  # noqa: E731
    with store.session() as s:
        assert len(rel.add_scans(s, [scan("e1", "loaded", order_id="O1")])) == 1
        assert rel.add_scans(s, [scan("e1", "loaded", order_id="O1")]) == []
        assert rel.loading_states(s, orders)[rid] == rel.Loading(1, 2, "", "D1")
        rel.add_scans(s, [scan("e2", "loaded", order_id="O2"),
                          scan("e3", "unloaded", order_id="O1")])  # fmt: skip
    with store.session() as s:
        assert rel.loading_states(s, orders)[rid].scanned == 1
        rel.add_scans(s, [scan("e4", "count", scanned=2, expected=2)])
        assert rel.loading_states(s, orders)[rid].complete
        rel.add_scans(s, [scan("e5", "complete", source="manual", actor="ann")])
        assert rel.loading_states(s, orders)[rid].marked_by == "ann"


def test_an_override_holds_only_for_the_orders_it_was_given_on(store):
    """A supervisor's override applies while the route serves the same orders, and is in
    the change log with its reason."""
    _plan, rid = _planned(store)
    with store.session() as s:
        assert rel.add_override(s, key="k1", route_id=rid, plan_id="P-2026-11-24",
                                check="cutoff", reason="goods on the dock", actor="sam",
                                role="supervisor", at=at(7), orders=["O1", "O2"])  # fmt: skip
        assert not rel.add_override(s, key="k1", route_id=rid, plan_id="P-2026-11-24",
                                    check="cutoff", reason="again", actor="sam",
                                    role="supervisor", at=at(7), orders=["O1", "O2"])  # fmt: skip
        with pytest.raises(ValueError, match="reason"):
            rel.add_override(s, key="k2", route_id=rid, plan_id="P", check="cutoff",
                             reason="  ", actor="sam", role="supervisor", at=at(7),
                             orders=[])  # fmt: skip
    with store.read_session() as s:
        held = rel.load_overrides(s, {rid: ["O1", "O2"]})
        assert held[rid]["cutoff"].reason == "goods on the dock"
        assert rel.load_overrides(s, {rid: ["O2", "O1"]}) == {}
        log = s.scalars(select(ChangeLogRow).where(ChangeLogRow.entity == "gate_override")).one()
        assert log.after["reason"] == "goods on the dock"


def test_publications_acks_and_dispatch_records(store):
    """The newest message and acknowledgement per route; on-time dispatch records come
    from the release and departure transitions."""
    _plan, rid = _planned(store)
    with store.session() as s:
        for version in (3, 5):
            rel.record_publication(s, rel.Publication(rid, "V01", version, "route", at(7, version),
                                                      2, {"version": version}), "t")  # fmt: skip
        rel.add_acks(
            s, [rel.Ack("a1", rid, "V01", 5, at(7, 6)), rel.Ack("a0", rid, "V01", 3, at(7, 4))]
        )
        rel.set_route_status(s, rid, RouteStatus.RELEASED, actor=ACTOR, at=at(7, 50))
        rel.set_route_status(s, rid, RouteStatus.ACTIVE, actor="V01", at=at(8, 3),
                             source="telemetry")  # fmt: skip
    with store.read_session() as s:
        assert rel.last_publications(s, [rid])[rid].version == 5
        assert rel.last_acks(s, [rid])[rid].version == 5
        (rec,) = [r for r in rel.dispatch_records(s, "SLC", DAY) if r.route_id == rid]
    assert (rec.planned_departure, rec.released_at, rec.departed_at) == (at(8), at(7, 50), at(8, 3))


def test_a_routes_status_change_reads_that_route_only(store):
    """A status change (a departure or completion the desk follows from the trackers, one
    per route on the window's thread) reads its route and the plan's depot and day, never
    the plan's other routes and their stops: loading the plan whole made each change take
    some 0.2 s at 2,000 routes, while it held the database's write turn."""
    from sqlalchemy import event

    plan, rid = _planned(store)
    assert len(plan.routes) >= 2
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_a: statements.append(statement))  # fmt: skip
    with store.session() as s:
        t = rel.set_route_status(s, rid, RouteStatus.LOADING, actor="dock", at=at(6, 30))
    assert t is not None and t.to_status is RouteStatus.LOADING
    reads = [q for q in statements if q.lstrip().upper().startswith("SELECT")]
    assert any("FROM route" in q for q in reads)
    assert not [q for q in reads if "FROM route " in q and "route.id = " not in q]  # no others
    assert not [q for q in reads if "route.plan_id IN" in q]  # the plan's routes not loaded
    with store.read_session() as s:
        (stored,) = rel.transitions(s, "SLC", DAY)
    assert (stored.route_id, stored.to_status) == (rid, RouteStatus.LOADING)
