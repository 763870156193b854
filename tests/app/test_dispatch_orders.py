"""Orders at the desk on a real store: add an urgent order, change one, cancel one; undo."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.dispatch.orders import OrderDesk
from app.dispatch.service import CommandRefused, DispatchService
from app.store import repository
from app.store.repository_orders import order_status
from engine.model import Location, StopStatus, TimeWindow
from engine.travel import HaversineTravelModel
from tests.app.test_dispatch_support import (
    DAY,
    DISPATCHER,
    at,
    seed,
    small_day,
    small_plan,
    stored_plan,
)

TRAVEL = HaversineTravelModel()
URGENT = {
    "id": "U-001", "customer": "Rosa's Bakery", "address": "12 Elm St", "lat": "40.755",
    "lon": "-111.89", "window_start": "10:00", "window_end": "16:00", "demand_kg": "50",
    "service_minutes": "5", "priority": "2",
}  # fmt: skip


@pytest.fixture
def desk(store):
    """The small day stored with its plan; an OrderDesk for a dispatcher."""
    seed(store, small_day(), small_plan())
    service = DispatchService(store, TRAVEL, actor=DISPATCHER, role="dispatcher")
    return OrderDesk(service, TRAVEL)


def _audit(desk, command):
    return [e for e in desk.service.audit() if e.command == command]


def test_an_urgent_order_is_checked_like_an_import_row(desk):
    """Bad fields come back with their reasons; a used id is refused; a good one is an order."""
    day = small_day()
    order, problems = desk.check({**URGENT, "lat": "95", "window_end": "09:00"}, day)
    assert order is None
    assert {f for f, _ in problems} >= {"lat", "window_end"}
    order, problems = desk.check({**URGENT, "id": "O3"}, day)
    assert order is None and "already used" in problems[0][1]
    order, problems = desk.check(URGENT, day)
    assert problems == [] and order.customer == "Rosa's Bakery"
    assert order.earliest == at(10) and order.demand == {"kg": 50.0}
    assert desk.next_order_id() == "U-001"


def test_insertion_options_are_ranked_with_their_cost_and_feasibility(desk):
    """Every route is an option; feasible ones first; an over-full van says so."""
    plan = desk.service.load_plan("SLC", DAY)
    order, _ = desk.check({**URGENT, "demand_kg": "100"}, small_day())
    options = desk.insertion_options(plan, small_day(), order, at(7))
    assert [o.rank for o in options] == [1, 2, 3]
    assert {o.vehicle_id for o in options} == {"V1", "V2", "V3"}
    assert options[0].feasible and options[0].extra_km > 0 and options[0].extra_min > 0
    v3 = next(o for o in options if o.vehicle_id == "V3")  # 240 kg aboard, 300 kg capacity
    assert not v3.feasible and any("over capacity kg" in p for p in v3.problems)
    assert options.index(v3) == 2


def test_stops_late_already_are_not_counted_as_made_late(desk, store):
    """On a route whose O8 is late anyway, an option names only the stops the new order
    makes late (here none of the route's), and says how many were late already."""
    day = small_day()
    late = replace(next(o for o in day.orders if o.id == "O8"),
                   windows=(TimeWindow(at(6), at(6) + timedelta(minutes=5)),))  # fmt: skip
    day = replace(day, orders=tuple(late if o.id == "O8" else o for o in day.orders))
    with store.session() as s:
        repository.upsert_orders(s, [late], actor="t")
    plan = desk.service.load_plan("SLC", DAY)
    order, _ = desk.check({**URGENT, "window_start": "07:00", "window_end": "18:00"}, day)
    v2 = next(o for o in desk.insertion_options(plan, day, order, at(7)) if o.vehicle_id == "V2")
    assert "O8" in {s.order_id for s in v2.late_stops} and "O8" in v2.late_before
    assert "O8" not in {s.order_id for s in v2.newly_late}


def test_insert_stores_the_order_on_the_route_and_undo_cancels_it(desk, store):
    """The order row and its stop land in one command (audited); undo takes it off the
    route and leaves it stored as cancelled; redo puts it back."""
    day = small_day()
    plan = desk.service.load_plan("SLC", DAY)
    order, _ = desk.check(URGENT, day)
    best = desk.insertion_options(plan, day, order, at(7))[0]
    result = desk.insert(plan, day, order, best)
    stored = stored_plan(store)
    assert stored.route_of("U-001").id == best.route_id
    assert stored.route_of("U-001").stops[best.position].order_id == "U-001"
    assert "U-001" in result.changes.orders and result.orders.put == (order,)
    with store.read_session() as s:
        assert any(o.id == "U-001" for o in repository.load_day(s, "SLC", DAY).orders)
    entry = _audit(desk, "insert_order")[0]
    assert entry.actor == DISPATCHER and entry.after["order_edits"]["put"][0]["id"] == "U-001"

    undone = desk.service.apply_undo(result.plan, result.undo)
    assert stored_plan(store).route_of("U-001") is None
    with store.read_session() as s:
        assert order_status(s, "U-001") == "cancelled"
        assert all(o.id != "U-001" for o in repository.load_day(s, "SLC", DAY).orders)
    desk.service.apply_undo(undone.plan, undone.undo)
    assert stored_plan(store).route_of("U-001").id == best.route_id


def test_cancel_takes_the_order_off_its_route_and_keeps_it_stored(desk, store):
    """A cancelled order leaves the route and the day but stays stored with the reason;
    the preview shows what it does to the route's ETAs; undo brings it back."""
    day = small_day()
    plan = desk.service.load_plan("SLC", DAY)
    impact = desk.preview_cancel(plan, day, "O6", at(7))
    assert impact.route_id == "R-V2" and "O6" not in impact.routes[0].order_ids
    assert impact.distance_after_km < impact.distance_before_km
    assert any(r.order_id == "O7" and r.eta_after < r.eta_before for r in impact.stops)
    result = desk.cancel(plan, day, "O6", reason="customer called", impact=impact)
    assert stored_plan(store).route_of("O6") is None
    cancelled = desk.service.cancelled_orders("SLC", DAY)
    assert [(c.order.id, c.reason, c.by) for c in cancelled] == [
        ("O6", "customer called", DISPATCHER)
    ]
    with store.read_session() as s:
        assert all(o.id != "O6" for o in repository.load_day(s, "SLC", DAY).orders)
    assert _audit(desk, "cancel_order")[0].after["reason"] == "customer called"
    desk.service.apply_undo(result.plan, result.undo)
    assert stored_plan(store).route_of("O6").id == "R-V2"
    assert desk.service.cancelled_orders("SLC", DAY) == []


def test_cancelling_an_unassigned_order_takes_it_out_of_the_list(desk, store):
    """An order the plan left out, cancelled: no longer listed as unassigned."""
    from engine.model import Unassigned, UnassignedReason

    day = small_day()
    with store.session() as s:
        plan = repository.load_plan(s, "SLC", DAY)
        routes = tuple(replace(r, stops=r.stops[:-1]) if r.id == "R-V3" else r for r in plan.routes)
        left = Unassigned("O12", UnassignedReason.WINDOW_UNREACHABLE)
        repository.save_plan(s, replace(plan, routes=routes, unassigned=(left,)), actor="t")
    plan = desk.service.load_plan("SLC", DAY)
    desk.cancel(plan, day, "O12", reason="duplicate order")
    assert stored_plan(store).unassigned == ()


def test_change_window_previews_etas_and_undo_restores_the_order(desk, store):
    """A narrower window is stored; the preview names the lateness it causes; undo puts the
    old window back."""
    day = small_day()
    plan = desk.service.load_plan("SLC", DAY)
    old = next(o for o in day.orders if o.id == "O8")
    changed = replace(old, windows=(TimeWindow(at(8), at(8) + timedelta(minutes=1)),))
    impact = desk.preview_change(plan, day, changed, at(7))
    assert impact.route_id == "R-V2"
    assert impact.lateness_after_min > impact.lateness_before_min
    assert any("late" in p for p in impact.problems)
    result = desk.change(plan, day, changed, impact)
    assert result.label == "Change order O8 (window)"
    with store.read_session() as s:
        stored = {o.id: o for o in repository.load_day(s, "SLC", DAY).orders}
    assert stored["O8"].windows == changed.windows
    desk.service.apply_undo(result.plan, result.undo)
    with store.read_session() as s:
        stored = {o.id: o for o in repository.load_day(s, "SLC", DAY).orders}
    assert stored["O8"].windows == old.windows


def test_change_address_moves_the_point(desk):
    """A new address (point) is evaluated on the route from the new place."""
    day = small_day()
    plan = desk.service.load_plan("SLC", DAY)
    old = next(o for o in day.orders if o.id == "O2")
    far = replace(old, location=Location(40.60, -111.70), address="99 Far Rd")
    impact = desk.preview_change(plan, day, far, at(7))
    assert impact.distance_after_km > impact.distance_before_km + 10


def test_a_served_stop_cannot_be_cancelled(desk, store):
    """Delivered is history: cancelling it is refused and nothing is written."""
    with store.session() as s:
        plan = repository.load_plan(s, "SLC", DAY)
        route = plan.route_of("O1")
        stops = (replace(route.stops[0], status=StopStatus.DELIVERED), *route.stops[1:])
        repository.update_route_stops(s, route.id, stops,
                                      base_version=repository.route_versions(s, "SLC", DAY)[route.id],
                                      actor="t")  # fmt: skip
    plan = desk.service.load_plan("SLC", DAY)
    with pytest.raises(CommandRefused, match="history"):
        desk.cancel(plan, small_day(), "O1", reason="too late")
    assert desk.service.cancelled_orders("SLC", DAY) == []


def test_on_a_shared_database_order_commands_travel_through_the_outbox(store, tmp_path):
    """An order cancelled on a desk with a shared database is queued as one outbox command
    with its order edit; applied to the shared copy it cancels the order there and takes it
    off its route, through the same applier (proposals are still refused before writing)."""
    from app.dispatch.proposals import ProposalDesk
    from app.store import open_store
    from app.sync.commands import apply_command
    from app.sync.session import command_of

    seed(store, small_day(), small_plan())
    shared = open_store(f"sqlite:///{tmp_path / 'shared.sqlite3'}", workstation="shared")
    seed(shared, small_day(), small_plan())
    queued: list = []
    service = DispatchService(store, TRAVEL, actor=DISPATCHER, role="dispatcher",
                              on_write=lambda s, record: queued.append(command_of(record)))  # fmt: skip
    desk = OrderDesk(service, TRAVEL)
    day = small_day()
    plan = service.load_plan("SLC", DAY)
    desk.cancel(plan, day, "O6", reason="customer called")
    (command,) = queued
    assert command.name == "order_edit" and command.to_json()["order_edits"]["cancel"]
    with shared.session() as s:
        apply_command(s, command)
    assert stored_plan(shared).route_of("O6") is None
    assert stored_plan(shared).route_of("O5") == stored_plan(store).route_of("O5")
    plan = service.load_plan("SLC", DAY)
    with pytest.raises(CommandRefused, match="proposals are not sent"):
        ProposalDesk(service).propose_move(plan, day, ["O5"], "R-V3", at(7))
    shared.close()


def test_an_order_moved_to_another_depot_joins_its_day_and_comes_back_on_undo(store):
    """A supervisor moves O6 to depot SLC-N: it leaves V2's route, joins SLC-N's unassigned
    list (that depot's plan, same database); undo brings it back and out of that list; once
    SLC-N has put it on a route, undo is refused, saying where it is."""
    from engine.model import Stop
    from tests.app.test_dispatch_support import SUPERVISOR

    seed(store, small_day(), small_plan())
    _with_north(store)
    service = DispatchService(store, TRAVEL, actor=SUPERVISOR, role="supervisor")
    desk = OrderDesk(service, TRAVEL)
    with pytest.raises(CommandRefused, match="supervisor"):
        OrderDesk(DispatchService(store, TRAVEL, actor=DISPATCHER, role="dispatcher"),
                  TRAVEL).move_to_depot(service.load_plan("SLC", DAY), small_day(), "O6",
                                        "SLC-N", seen=_north_version(store))  # fmt: skip
    result = desk.move_to_depot(service.load_plan("SLC", DAY), small_day(), "O6", "SLC-N",
                                seen=_north_version(store))  # fmt: skip

    def north_plan():
        with store.read_session() as s:
            return repository.load_plan(s, "SLC-N", DAY)

    assert stored_plan(store).route_of("O6") is None
    assert [u.order_id for u in north_plan().unassigned] == ["O6"]
    back = service.apply_undo(result.plan, result.undo)
    assert stored_plan(store).route_of("O6").id == "R-V2"
    assert north_plan().unassigned == ()

    # Moved again, then planned at SLC-N: the undo would put it on two depots' routes.
    redone = service.apply_undo(back.plan, back.undo)  # redo: its own move again
    assert stored_plan(store).route_of("O6") is None
    assert [u.order_id for u in north_plan().unassigned] == ["O6"]
    back = service.apply_undo(redone.plan, redone.undo)
    again = desk.move_to_depot(back.plan, small_day(), "O6", "SLC-N", seen=_north_version(store))
    with store.session() as s:
        plan = repository.load_plan(s, "SLC-N", DAY)
        route = replace(plan.routes[0], stops=(Stop("O6"),))
        repository.save_plan(s, replace(plan, routes=(route,), unassigned=()), actor="north")
    with pytest.raises(CommandRefused, match="O6 is on route R-VN1 of depot SLC-N"):
        service.apply_undo(again.plan, again.undo)
    assert stored_plan(store).route_of("O6") is None


def _north_version(store) -> int | None:
    """The version of depot SLC-N's plan of the day as stored now (None: no plan)."""
    with store.read_session() as s:
        return repository.plan_versions(s, DAY).get("SLC-N")


def _with_north(store) -> None:
    """Depot SLC-N beside SLC, with one van and an empty plan for the day."""
    from engine.model import Depot, Driver, Plan, Route, Vehicle

    north = Depot("SLC-N", "Salt Lake North", Location(40.85, -111.90), "America/Denver")
    with store.session() as s:
        repository.upsert_depots(s, [north], actor="import")
        repository.upsert_vehicles(s, [Vehicle("VN1", "SLC-N", {"kg": 1000.0, "m3": 10.0})],
                                   actor="import")  # fmt: skip
        repository.upsert_drivers(s, [Driver("DRN1", "N", "SLC-N", at(7), at(17),
                                             vehicle_id="VN1")], actor="import")  # fmt: skip
        repository.save_plan(s, Plan("P-N", "SLC-N", DAY, (Route("R-VN1", "VN1", (),
                                                                 driver_id="DRN1"),)),
                             actor="planner")  # fmt: skip


def test_a_move_to_a_depot_whose_plan_changed_since_it_was_seen_is_a_conflict(store):
    """The supervisor chose SLC-N when its plan was at version v; SLC-N's desk re-planned
    before the move landed: the move is a conflict naming both versions, and nothing of
    either day changed (O6 on V2's route at SLC, SLC-N's plan as its desk left it). A move
    made on no plan seen while the depot has one now is one too; on the version stored
    now it goes through."""
    from app.store import StaleVersionError
    from app.store.models import OrderRow
    from engine.model import Route
    from tests.app.test_dispatch_support import SUPERVISOR

    seed(store, small_day(), small_plan())
    _with_north(store)
    seen = _north_version(store)
    with store.session() as s:  # SLC-N's desk adds a second (empty) route: a new version
        plan = repository.load_plan(s, "SLC-N", DAY)
        repository.save_plan(s, replace(plan, routes=(*plan.routes, Route("R-VN2", "VN1", ()))),
                             actor="north@desk-n")  # fmt: skip
    now = _north_version(store)
    assert now != seen
    service = DispatchService(store, TRAVEL, actor=SUPERVISOR, role="supervisor")
    desk = OrderDesk(service, TRAVEL)
    before = stored_plan(store)
    for stale in (seen, None):
        with pytest.raises(StaleVersionError) as caught:
            desk.move_to_depot(service.load_plan("SLC", DAY), small_day(), "O6", "SLC-N",
                               seen=stale)  # fmt: skip
        was = "no plan" if stale is None else f"version {stale}"
        assert str(caught.value).startswith(
            f"depot SLC-N's plan of {DAY} was changed by someone else since the move was "
            f"chosen: you saw {was}, it is at version {now} now"
        )
    assert stored_plan(store) == before
    assert _north_version(store) == now
    with store.read_session() as s:
        assert s.get(OrderRow, "O6").depot_id == "SLC"
    result = desk.move_to_depot(service.load_plan("SLC", DAY), small_day(), "O6", "SLC-N",
                                seen=now)  # fmt: skip
    assert result.plan.route_of("O6") is None
    assert _north_version(store) == now + 1


def _learned(customers=(), addresses=()):
    """A learned profile: service takes ``ratio`` times the planned at those customers or
    addresses (no spread, so plans budget exactly that), travel as the model says."""
    import math

    from app.kpis.learn import Learned
    from engine.learning import ServiceProfile, TravelProfile, ZoneGrid

    grid = ZoneGrid(small_day().depots[0].location)
    service = ServiceProfile(grid, 0.0, {}, {k: (20, math.log(r)) for k, r in customers},
                             {k: (20, math.log(r)) for k, r in addresses}, 0.0, 40)  # fmt: skip
    return Learned(service, TravelProfile.empty(grid, "America/Denver"), 5, DAY, DAY)


def test_an_urgent_orders_options_use_its_learned_service_time(desk):
    """History says Rosa's Bakery takes four times its planned 5 minutes: once learned,
    every option adds 15 minutes more route time than with the planned 5, as a plan would."""
    plan = desk.service.load_plan("SLC", DAY)
    order, _ = desk.check(URGENT, small_day())
    static = {o.vehicle_id: o for o in desk.insertion_options(plan, small_day(), order, at(7))}
    desk.service.use_learned(_learned(customers=[("rosa's bakery", 4.0)]))
    learned = {o.vehicle_id: o for o in desk.insertion_options(plan, small_day(), order, at(7))}
    for vid, option in learned.items():
        assert option.extra_min == pytest.approx(static[vid].extra_min + 15, abs=0.1)
    # the proposal of where it fits best is timed the same way
    placed = desk.service.insert_order(plan, small_day(), order, at(7))
    route = next(r for r in placed.plan.routes if order.id in r.order_ids)
    k = route.order_ids.index(order.id)
    if k + 1 < len(route.stops):  # the stop after it starts 20 minutes after it, plus the drive
        gap = route.stops[k + 1].planned_arrival - route.stops[k].planned_arrival
        assert gap >= timedelta(minutes=20)
    desk.service.use_learned(None)  # forgotten: the planned 5 minutes again
    again = {o.vehicle_id: o for o in desk.insertion_options(plan, small_day(), order, at(7))}
    assert again["V1"].extra_min == pytest.approx(static["V1"].extra_min, abs=0.1)


def test_a_drag_preview_times_the_moved_stop_with_its_learned_service_time(desk):
    """O5 at "1 Main St" takes three times its planned 5 minutes by history: dragging it
    onto V1's route previews 10 more minutes of route time than the planned 5 would."""
    day = small_day()
    day = replace(day, orders=tuple(replace(o, address="1 Main St") if o.id == "O5" else o
                                    for o in day.orders))  # fmt: skip
    plan = desk.service.load_plan("SLC", DAY)
    static = desk.service.preview_reassign(plan, day, ["O5"], "R-V1", at(7))
    desk.service.use_learned(_learned(addresses=[("1 main st", 3.0)]))
    learned = desk.service.preview_reassign(plan, day, ["O5"], "R-V1", at(7))
    assert learned.target.duration_delta_s == pytest.approx(
        static.target.duration_delta_s + 600, abs=5
    )
