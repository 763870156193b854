"""Re-plan jobs and accepting their proposals: scope, roles, version checks, undo."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from app.dispatch.replan import unlocked, whole_day_loss
from app.dispatch.service import (
    CommandRefused,
    DispatchService,
    NotAllowed,
    ReplanScope,
    StaleVersionError,
    replan_job,
)
from app.store import repository
from engine.model import Stop
from engine.travel import HaversineTravelModel
from tests.app.test_dispatch_support import (
    DAY,
    DISPATCHER,
    SUPERVISOR,
    at,
    seed,
    sequences,
    small_day,
    small_plan,
    stored_plan,
)

TRAVEL = HaversineTravelModel()
SCOPE = ReplanScope(frozenset({"R-V1", "R-V2"}), exception_id="late_risk:V2")


@pytest.fixture
def day():
    """The small hand-made day: 3 vans, 12 orders."""
    return small_day()


@pytest.fixture
def store(tmp_path):
    """A fresh SQLite store holding the small day and its plan."""
    from app.store import open_store

    opened = open_store(f"sqlite:///{tmp_path / 'store.sqlite3'}", workstation="test-desk")
    seed(opened, small_day(), small_plan())
    yield opened
    opened.close()


def _scoped_proposal(service, day):
    plan = service.load_plan("SLC", DAY)
    return plan, replan_job(
        plan, day, TRAVEL, now=at(8), route_ids=SCOPE.route_ids, time_limit_s=0.5
    )


def test_scoped_replan_leaves_other_routes_exactly_as_they_are(store, day):
    """Re-planning V1 and V2 only shuffles their stops between them; V3 is untouched."""
    service = DispatchService(store, TRAVEL, actor=DISPATCHER, role="dispatcher")
    plan, proposal = _scoped_proposal(service, day)
    assert proposal.plan.routes[2] == plan.routes[2]
    kept = {o for r in plan.routes[:2] for o in r.order_ids}
    assert {o for r in proposal.plan.routes[:2] for o in r.order_ids} == kept
    assert proposal.lateness_after_s <= proposal.lateness_before_s + 1e-6


def test_dispatcher_accepts_one_exceptions_replan_and_undoes_it(store, day):
    """A dispatcher may accept a re-plan limited to one exception's routes; it is stored,
    audited in their name, and undo puts the routes back."""
    service = DispatchService(store, TRAVEL, actor=DISPATCHER, role="dispatcher")
    plan, proposal = _scoped_proposal(service, day)
    result = service.accept_proposal(plan, proposal, scope=SCOPE)
    assert sequences(stored_plan(store)) == sequences(proposal.plan)
    entry = service.audit()[0]
    assert (entry.actor, entry.role, entry.command) == (DISPATCHER, "dispatcher", "accept")
    assert entry.after["exception_id"] == "late_risk:V2"
    undone = service.apply_undo(result.plan, result.undo)
    assert sequences(undone.plan) == sequences(plan)
    assert sequences(stored_plan(store)) == sequences(plan)


def test_fleet_wide_replan_needs_a_supervisor(store, day):
    """A dispatcher may not accept a fleet-wide re-plan (nor one without an exception);
    a supervisor may."""
    service = DispatchService(store, TRAVEL, actor=DISPATCHER, role="dispatcher")
    plan = service.load_plan("SLC", DAY)
    proposal = replan_job(plan, day, TRAVEL, now=at(8), time_limit_s=0.5)
    with pytest.raises(NotAllowed, match="supervisor"):
        service.accept_proposal(plan, proposal)
    with pytest.raises(NotAllowed):
        service.accept_proposal(plan, proposal, scope=ReplanScope(SCOPE.route_ids))
    boss = DispatchService(store, TRAVEL, actor=SUPERVISOR, role="supervisor")
    accepted = boss.accept_proposal(boss.load_plan("SLC", DAY), proposal)
    assert sequences(stored_plan(store)) == sequences(accepted.plan)
    assert sequences(accepted.plan) == sequences(proposal.plan)


def test_a_scoped_proposal_may_not_change_other_routes(store, day):
    """A proposal that claims a scope but changes the stops of a route outside it is
    refused (the same stops with other statuses or times are the plan, not its change)."""
    service = DispatchService(store, TRAVEL, actor=SUPERVISOR, role="supervisor")
    plan = service.load_plan("SLC", DAY)
    proposal = replan_job(plan, day, TRAVEL, now=at(8), time_limit_s=0.5)
    if proposal.plan.routes[2].order_ids == plan.routes[2].order_ids:
        v3 = proposal.plan.routes[2]
        moved = replace(v3, stops=(*v3.stops[1:], v3.stops[0]))
        proposal = replace(proposal, plan=replace(proposal.plan, routes=(
            *proposal.plan.routes[:2], moved)))  # fmt: skip
    with pytest.raises(CommandRefused, match="outside its scope"):
        service.accept_proposal(plan, proposal, scope=SCOPE)


def test_fleet_wide_accept_is_stale_after_any_route_changed(store, day):
    """A fleet-wide re-plan was computed from every route: after someone edits any of them,
    accepting it raises StaleVersionError and stores nothing."""
    service = DispatchService(store, TRAVEL, actor=SUPERVISOR, role="supervisor")
    plan = service.load_plan("SLC", DAY)
    proposal = replan_job(plan, day, TRAVEL, now=at(8), time_limit_s=0.5)
    with store.session() as s:
        version = repository.route_versions(s, "SLC", DAY)["R-V3"]
        stops = (Stop("O10"), Stop("O9"), Stop("O11"), Stop("O12"))
        repository.update_route_stops(s, "R-V3", stops, base_version=version, actor="x@desk-9")
    before = stored_plan(store)
    with pytest.raises(StaleVersionError, match="R-V3"):
        service.accept_proposal(plan, proposal)
    assert stored_plan(store) == before


def test_a_cancelled_replan_stops_early_and_reports_progress(day):
    """With its stop event set the job returns long before its time limit, every order still
    on a route or listed, and progress lines went to the reporter."""
    plan, lines = small_plan(), []
    cancel = threading.Event()
    cancel.set()
    started = time.perf_counter()
    proposal = replan_job(
        plan, day, TRAVEL, now=at(8), time_limit_s=30, stop_event=cancel, progress=lines.append
    )
    assert time.perf_counter() - started < 10
    placed = {o for r in proposal.plan.routes for o in r.order_ids}
    placed |= {u.order_id for u in proposal.plan.unassigned}
    assert placed == {o.id for o in day.orders}
    assert lines and all(isinstance(line, str) for line in lines)


def test_a_delivery_outside_the_scope_meanwhile_does_not_refuse_the_replan(store, day):
    """A stop on V3 is delivered while V1 and V2 are re-planned: accepting the re-plan is
    not refused as changing V3, and V3 is not written by it."""

    from engine.model import StopStatus

    service = DispatchService(store, TRAVEL, actor=DISPATCHER, role="dispatcher")
    plan, proposal = _scoped_proposal(service, day)
    v3 = plan.routes[2]
    delivered = replace(v3, stops=(replace(v3.stops[0], status=StopStatus.DELIVERED),
                                   *v3.stops[1:]))  # fmt: skip
    now = replace(plan, routes=(*plan.routes[:2], delivered))
    with store.read_session() as s:
        v3_version = repository.route_versions(s, "SLC", DAY)["R-V3"]
    service.accept_proposal(now, proposal, scope=SCOPE)
    stored, proposed = sequences(stored_plan(store)), sequences(proposal.plan)
    assert all(stored[rid] == proposed[rid] for rid in SCOPE.route_ids)
    with store.read_session() as s:
        assert repository.route_versions(s, "SLC", DAY)["R-V3"] == v3_version


def test_planning_the_live_day_again_names_what_it_loses():
    """Locks and released routes are counted for the confirmation; served stops stay."""

    from app.dispatch.replan import unlocked, whole_day_loss
    from engine.model import RouteStatus, StopStatus

    plan = small_plan()
    first = plan.routes[0]
    stops = (replace(first.stops[0], status=StopStatus.DELIVERED),
             replace(first.stops[1], locked=True), *first.stops[2:])  # fmt: skip
    live = replace(plan, routes=(replace(first, stops=stops, status=RouteStatus.ACTIVE),
                                 *plan.routes[1:]))  # fmt: skip
    loss = whole_day_loss(live)
    assert (loss.served, loss.locked, loss.released, loss.live) == (1, 1, (first.vehicle_id,),
                                                                      True)  # fmt: skip
    text = "\n".join(loss.lines(edits=2))
    assert "1 locked stop unlocked" in text and "(2 made at this desk)" in text
    assert f"1 released route ({first.vehicle_id})" in text
    assert loss.kept.startswith("Kept: 1 stop already served")
    assert not any(s.locked for r in unlocked(live).routes for s in r.stops)
    assert not whole_day_loss(plan).live


def test_a_broken_down_vans_open_stops_go_to_the_others_and_it_keeps_its_history(store, day):
    """V1 broke down after serving its first stop: the re-plan of its route and V2's gives
    V1 nothing more, hands every other stop of it to V2 (shown as moved from V1) or names
    it unassigned, keeps the served stop on V1 as history, and a dispatcher may accept it."""

    from engine.model import StopStatus

    service = DispatchService(store, TRAVEL, actor=DISPATCHER, role="dispatcher")
    plan = service.load_plan("SLC", DAY)
    v1 = plan.routes[0]
    served, *rest = v1.order_ids
    proposal = replan_job(
        plan, day, TRAVEL, now=at(9), route_ids=SCOPE.route_ids, time_limit_s=0.5,
        statuses={served: StopStatus.DELIVERED}, unavailable={v1.vehicle_id},
    )  # fmt: skip
    after = {r.vehicle_id: r for r in proposal.plan.routes}
    assert after[v1.vehicle_id].order_ids == (served,)
    left_out = {u.order_id for u in proposal.plan.unassigned}
    assert set(rest) <= set(after["V2"].order_ids) | left_out
    assert set(rest) - left_out, "V2 takes some of the broken van's stops"
    moved = {c.order_id: c for c in proposal.moved}
    for oid in set(rest) - left_out:
        assert (moved[oid].vehicle_before, moved[oid].vehicle_after) == (v1.vehicle_id, "V2")
    assert after["V3"] == plan.routes[2]
    result = service.accept_proposal(plan, proposal, scope=SCOPE)
    stored = {r.vehicle_id: r.order_ids for r in stored_plan(store).routes}
    assert stored[v1.vehicle_id] == (served,) and set(rest) - left_out <= set(stored["V2"])
    assert result.undo is not None


def _loaded_day(tmp_path):
    """The small day with V1's route mixed up (two east stops, O9 and O10, that V3 passes
    by) and fully scanned at the dock (ready, not left): a store and its plan."""
    from app.store import open_store
    from app.store import repository_release as rel
    from engine.model import Route, RouteStatus

    plan = small_plan()
    v1 = Route("R-V1", "V1", (Stop("O1"), Stop("O9"), Stop("O2"), Stop("O10")),
               driver_id="DR1", status=RouteStatus.READY)  # fmt: skip
    v3 = replace(plan.routes[2], stops=(Stop("O3"), Stop("O4"), Stop("O11"), Stop("O12")))
    plan = replace(plan, routes=(v1, plan.routes[1], v3))
    store = open_store(f"sqlite:///{tmp_path / 'loaded.sqlite3'}", workstation="test-desk")
    seed(store, small_day(), plan)
    scans = [rel.Scan(f"e{o}", "SLC", "D1", "R-V1", "loaded", at(6.5), order_id=o)
             for o in v1.order_ids]  # fmt: skip
    with store.session() as s:
        rel.add_scans(s, scans)
    return store, stored_plan(store)


def test_a_replan_keeps_a_fully_scanned_route_s_stops_on_its_van(tmp_path, day):
    """Goods scanned onto a van at the dock stay on it: a fleet re-plan that would hand
    V1's east stops to V3 (it does, without the loading records) keeps every loaded stop
    on V1, re-sequenced at most, and says so; a route not fully scanned keeps nothing."""
    from app.release.loaded import loaded_orders

    store, plan = _loaded_day(tmp_path)
    try:
        loaded = loaded_orders(store, plan)
        assert loaded == {"O1", "O2", "O9", "O10"}
        free = replan_job(plan, day, TRAVEL, now=at(7.5), time_limit_s=0.5)
        assert free.plan.route_of("O9").vehicle_id != "V1"  # the case a loaded van prevents
        kept = replan_job(plan, day, TRAVEL, now=at(7.5), time_limit_s=0.5, loaded=loaded)
        assert set(kept.plan.route_of("O1").order_ids) >= loaded
        assert all(kept.plan.route_of(o).vehicle_id == "V1" for o in loaded)
        assert "Kept on their van: 4 loaded stops (V1)" in kept.notes
        whole = replan_job(unlocked(plan), day, TRAVEL, now=at(7.5), time_limit_s=0.5,
                           loaded=loaded)  # fmt: skip
        assert all(whole.plan.route_of(o).vehicle_id == "V1" for o in loaded)
        assert whole_day_loss(plan, loaded).loaded == 4
        assert "Kept on their van: 4 loaded stops" in whole_day_loss(plan, loaded).kept
        assert loaded_orders(store, plan, route_ids={"R-V2"}) == frozenset()
        from app.store import repository_release as rel

        with store.session() as s:  # one unloaded again: the van is not fully loaded
            rel.add_scans(s, [rel.Scan("u1", "SLC", "D1", "R-V1", "unloaded", at(6.6),
                                       order_id="O9")])  # fmt: skip
        assert loaded_orders(store, plan) == frozenset()
    finally:
        store.close()


def test_dragging_a_loaded_stop_to_another_van_warns_that_its_goods_are_on_the_first(tmp_path, day):
    """A drag preview of a stop the dock loaded onto V1 says first that its goods are on
    V1; a supervisor may still move it (a deliberate choice). A stop of a van not loaded
    previews as before."""
    store, plan = _loaded_day(tmp_path)
    try:
        service = DispatchService(store, TRAVEL, actor=SUPERVISOR, role="supervisor")
        preview = service.preview_reassign(plan, day, ["O9"], "R-V3", at(7.5))
        assert preview.allowed
        assert preview.summary.startswith("Goods on the van: O9 already loaded on V1")
        assert preview.warnings == (preview.summary.split(" · ")[0],)
        two = service.preview_reassign(plan, day, ["O9", "O10"], "R-V3", at(7.5))
        assert "2 stops already loaded on V1" in two.summary
        plain = service.preview_reassign(plan, day, ["O5"], "R-V3", at(7.5))
        assert plain.allowed and not plain.warnings and "Goods" not in plain.summary
        result = service.reassign(plan, day, ["O9"], "R-V3", at(7.5))
        assert result.plan.route_of("O9").vehicle_id == "V3"
    finally:
        store.close()


def test_a_replan_names_the_vans_that_drive_slower_than_the_model(day):
    """The live ETAs stretch a slow van's drives by what its legs took so far; the re-plan
    times stops at the street model's speed. Its proposal names the slow vans of its
    scope (slowest first), so an "after" that the live ETAs will not keep is no surprise;
    vans out of scope, or at the model's pace, are not named."""
    from app.dispatch.replan import slow_vans

    plan = small_plan()
    factors = {"V1": 1.8, "V2": 1.1, "V3": 2.4}
    proposal = replan_job(plan, day, TRAVEL, now=at(8), route_ids={"R-V1", "R-V2"},
                          time_limit_s=0.5, drive_factors=factors)  # fmt: skip
    note = [n for n in proposal.notes if n.startswith("Driving slower")]
    assert note and "V1 1.8×" in note[0] and "V3" not in note[0] and "V2" not in note[0]
    assert slow_vans(plan, factors).startswith(
        "Driving slower than planned today: V3 2.4×, V1 1.8×."
    )
    assert slow_vans(plan, {"V1": 1.2}) == ""
    plain = replan_job(plan, day, TRAVEL, now=at(8), route_ids={"R-V1"}, time_limit_s=0.5)
    assert not [n for n in plain.notes if n.startswith("Driving slower")]
