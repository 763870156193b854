"""Dispatcher commands on a real store: reassign, undo, version checks, roles, locks, audit."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from app.dispatch.service import CommandRefused, DispatchService, NotAllowed
from app.store import StaleVersionError, open_store, repository
from app.store.models import StopRow
from engine.model import Stop, StopStatus, Unassigned, UnassignedReason
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


@pytest.fixture
def day():
    """The small hand-made day: 3 vans, 12 orders."""
    return small_day()


@pytest.fixture
def seeded(store, day):
    """A store holding the small day and its plan; returns (store, plan as loaded)."""
    seed(store, day, small_plan())
    return store


def _service(store, role="supervisor", actor=SUPERVISOR) -> DispatchService:
    return DispatchService(store, TRAVEL, actor=actor, role=role)


def test_reassign_moves_the_stop_and_the_store_reflects_it(seeded, day):
    """Dropping O5 on V3's route puts it on V3 at the previewed position, takes it off V2,
    and the stored plan says the same."""
    service = _service(seeded)
    plan = service.load_plan("SLC", DAY)
    preview = service.preview_reassign(plan, day, ["O5"], "R-V3")
    result = service.reassign(plan, day, ["O5"], "R-V3")
    assert "O5" in result.plan.route_of("O5").order_ids
    assert result.plan.route_of("O5").id == "R-V3"
    assert result.plan.routes[2].order_ids.index("O5") == preview.positions["O5"]
    assert "O5" not in dict(sequences(result.plan))["R-V2"]
    assert stored_plan(seeded) == result.plan
    assert result.changes.routes == {"R-V2", "R-V3"}
    assert "O5" in result.changes.orders


def test_undo_restores_exact_sequences_and_redo_reapplies(seeded, day):
    """Undo puts every stop back where it was (and its planned times); redo moves it again."""
    service = _service(seeded)
    plan = service.load_plan("SLC", DAY)
    moved = service.reassign(plan, day, ["O5", "O6"], "R-V1")
    undone = service.apply_undo(moved.plan, moved.undo)
    assert undone.plan.routes == plan.routes
    assert stored_plan(seeded).routes == plan.routes
    assert moved.undo.text.startswith("Undo Move O5, O6")
    redone = service.apply_undo(undone.plan, undone.undo)
    assert undone.undo.text.startswith("Redo Move")
    assert sequences(redone.plan) == sequences(moved.plan)


def test_concurrent_edit_makes_reassign_stale_and_changes_nothing(seeded, day):
    """Another workstation edits V3's route first: the reassign raises StaleVersionError
    naming the route and both versions, and nothing of it is stored."""
    service = _service(seeded)
    plan = service.load_plan("SLC", DAY)
    other = open_store(seeded.url, workstation="desk-9")
    try:
        with other.session() as s:
            version = repository.route_versions(s, "SLC", DAY)["R-V3"]
            stops = (Stop("O12"), Stop("O11"), Stop("O10"), Stop("O9"))
            repository.update_route_stops(s, "R-V3", stops, base_version=version, actor="x@desk-9")
    finally:
        other.close()
    before = stored_plan(seeded)
    with pytest.raises(StaleVersionError) as caught:
        service.reassign(plan, day, ["O5"], "R-V3")
    assert caught.value.id == "R-V3"
    assert caught.value.expected_version == version
    assert caught.value.actual_version == version + 1
    assert caught.value.theirs == before
    assert "O5" in next(r for r in caught.value.ours if r.id == "R-V3").order_ids
    assert stored_plan(seeded) == before
    assert service.audit() == []


def test_undo_after_someone_else_edited_the_route_is_refused(seeded, day):
    """Undo is version-checked too: after another edit of an affected route it refuses."""
    service = _service(seeded)
    moved = service.reassign(service.load_plan("SLC", DAY), day, ["O5"], "R-V3")
    with seeded.session() as s:
        version = repository.route_versions(s, "SLC", DAY)["R-V2"]
        repository.update_route_stops(
            s, "R-V2", (Stop("O8"), Stop("O7"), Stop("O6")), base_version=version, actor="x"
        )
    with pytest.raises(StaleVersionError):
        service.apply_undo(moved.plan, moved.undo)
    assert stored_plan(seeded).route_of("O5").id == "R-V3"


def test_a_plan_loaded_elsewhere_is_checked_by_content(seeded, day):
    """A plan the service did not load still may not overwrite a route changed since."""
    service = _service(seeded)
    plan = stored_plan(seeded)
    with seeded.session() as s:
        version = repository.route_versions(s, "SLC", DAY)["R-V1"]
        repository.update_route_stops(
            s, "R-V1", (Stop("O2"), Stop("O1"), Stop("O3"), Stop("O4")), base_version=version,
            actor="x",
        )  # fmt: skip
    with pytest.raises(StaleVersionError, match="R-V1"):
        service.reassign(plan, day, ["O5"], "R-V1")
    fresh = stored_plan(seeded)
    assert service.reassign(fresh, day, ["O5"], "R-V1").plan.route_of("O5").id == "R-V1"


def test_dispatcher_may_propose_but_not_move(seeded, day):
    """A dispatcher's reassign is refused naming the supervisor; a proposal writes nothing."""
    service = _service(seeded, "dispatcher", DISPATCHER)
    plan = service.load_plan("SLC", DAY)
    with pytest.raises(NotAllowed, match="supervisor"):
        service.reassign(plan, day, ["O5"], "R-V3")
    proposal = service.propose(plan, day, ["O5"], "R-V3")
    assert proposal.allowed and proposal.target.route_id == "R-V3"
    assert stored_plan(seeded) == plan
    assert service.audit() == []


def test_locked_stops_do_not_move_until_unlocked(seeded, day):
    """A locked stop refuses to move with a message naming it; after unlocking it moves."""
    service = _service(seeded, "dispatcher", DISPATCHER)
    locked = service.set_locked(service.load_plan("SLC", DAY), ["O5"], True)
    assert next(s for s in stored_plan(seeded).routes[1].stops if s.order_id == "O5").locked
    boss = _service(seeded)
    plan = boss.load_plan("SLC", DAY)
    assert plan == locked.plan
    preview = boss.preview_reassign(plan, day, ["O5", "O6"], "R-V1")
    assert not preview.allowed and "O5" in preview.summary and "locked" in preview.summary
    with pytest.raises(CommandRefused, match="O5 is locked"):
        boss.reassign(plan, day, ["O5", "O6"], "R-V1")
    assert stored_plan(seeded) == plan
    unlocked = boss.set_locked(plan, ["O5"], False)
    assert boss.reassign(unlocked.plan, day, ["O5"], "R-V1").plan.route_of("O5").id == "R-V1"


def test_served_stops_stay_put(seeded, day):
    """A delivered stop cannot be dragged elsewhere."""
    service = _service(seeded)
    plan = service.load_plan("SLC", DAY)
    r2 = plan.routes[1]
    served = replace(r2, stops=(replace(r2.stops[0], status=StopStatus.DELIVERED), *r2.stops[1:]))
    result = service.apply_routes(plan, [served], reason="O5 delivered")
    preview = service.preview_reassign(result.plan, day, ["O5"], "R-V1", at(10))
    assert "already delivered" in preview.summary


def test_preview_reports_capacity_excess_and_late_stops(seeded, day):
    """V3 (300 kg, 240 kg planned) cannot take two more 60 kg stops: 60 kg over; from 10:30
    the 10:00 order is late by at least half an hour wherever it goes."""
    service = _service(seeded)
    plan = service.load_plan("SLC", DAY)
    over = service.preview_reassign(plan, day, ["O1", "O2"], "R-V3")
    assert over.allowed and not over.feasible
    assert over.target.capacity_excess == {"kg": 60.0}
    assert "over capacity kg +60" in over.summary
    assert over.sources[0].route_id == "R-V1" and over.sources[0].duration_delta_s <= 0
    late = service.preview_reassign(plan, day, ["O12"], "R-V1", at(10.5))
    stop = next(s for s in late.target.late_stops if s.order_id == "O12")
    assert stop.minutes >= 30 and not late.feasible
    assert late.target.lateness_after_s > late.target.lateness_before_s
    assert "1 late (O12 +" in late.summary


def test_audit_rows_carry_actor_role_before_and_after(seeded, day):
    """Each command lands in the audit log: who, role, what, routes before and after."""
    service = _service(seeded)
    moved = service.reassign(service.load_plan("SLC", DAY), day, ["O5"], "R-V3")
    service.apply_undo(moved.plan, moved.undo)
    undo_entry, move_entry = service.audit()
    assert (move_entry.actor, move_entry.role, move_entry.command) == (
        SUPERVISOR, "supervisor", "reassign",
    )  # fmt: skip
    assert move_entry.before["routes"]["R-V2"]["orders"] == ["O5", "O6", "O7", "O8"]
    assert "O5" in move_entry.after["routes"]["R-V3"]["orders"]
    assert move_entry.after["orders"] == ["O5"]
    assert move_entry.at is not None and move_entry.origin == "test-desk"
    assert undo_entry.command == "undo"
    assert undo_entry.after["routes"]["R-V2"]["orders"] == ["O5", "O6", "O7", "O8"]
    assert (
        undo_entry.after["routes"]["R-V2"]["version"]
        > move_entry.after["routes"]["R-V2"]["version"]
    )


def test_an_unassigned_order_can_be_put_on_a_route_and_undone(store, day):
    """An order the plan left out, dropped on a route, is served by it and no longer listed
    as unassigned; undo lists it again."""
    plan = small_plan()
    r3 = plan.routes[2]
    left_out = Unassigned("O12", UnassignedReason.WINDOW_UNREACHABLE, "closes at 10:00")
    seed(store, day, replace(plan, routes=(*plan.routes[:2], replace(r3, stops=r3.stops[:3])),
                             unassigned=(left_out,)))  # fmt: skip
    service = _service(store)
    shown = service.load_plan("SLC", DAY)
    moved = service.reassign(shown, day, ["O12"], "R-V3")
    assert stored_plan(store).route_of("O12").id == "R-V3"
    assert stored_plan(store).unassigned == ()
    assert "O12" in moved.changes.orders
    service.apply_undo(moved.plan, moved.undo)
    assert stored_plan(store) == shown


def test_locking_what_is_locked_writes_nothing(seeded, day):
    """A lock that changes nothing is no command: no audit row, same plan."""
    service = _service(seeded)
    locked = service.set_locked(service.load_plan("SLC", DAY), ["O1"], True)
    again = service.set_locked(locked.plan, ["O1"], True)
    assert again.plan is locked.plan and not again.changes.routes
    assert [e.command for e in service.audit()] == ["lock"]


def test_live_statuses_on_screen_are_not_taken_for_someone_elses_edit(seeded, day):
    """A plan shown with telemetry's stop statuses laid over it (not loaded through the
    service) is still accepted: statuses are merged, only real route edits are stale."""
    service = _service(seeded)
    plan = stored_plan(seeded)
    r1 = plan.routes[0]
    delivered = replace(r1.stops[0], status=StopStatus.DELIVERED, actual_departure=at(8.5))
    shown = replace(plan, routes=(replace(r1, stops=(delivered, *r1.stops[1:])), *plan.routes[1:]))
    result = service.reassign(shown, day, ["O5"], "R-V1", at(9))
    stored = stored_plan(seeded)
    assert stored.route_of("O5").id == "R-V1"
    assert stored.routes[0].stops[0].status == StopStatus.DELIVERED
    assert result.plan == stored


def test_undo_twice_in_a_row_over_the_same_route(seeded, day):
    """Two moves onto V1, undone last-first, leave every route exactly as it was; redoing
    both gets the second move back."""
    service = _service(seeded)
    plan = service.load_plan("SLC", DAY)
    first = service.reassign(plan, day, ["O5"], "R-V1")
    second = service.reassign(first.plan, day, ["O9"], "R-V1")
    undo2 = service.apply_undo(second.plan, second.undo)
    undo1 = service.apply_undo(undo2.plan, first.undo)
    assert stored_plan(seeded).routes == plan.routes
    redo1 = service.apply_undo(undo1.plan, undo1.undo)
    redo2 = service.apply_undo(redo1.plan, undo2.undo)
    assert sequences(redo2.plan) == sequences(second.plan) == sequences(stored_plan(seeded))


def test_the_write_hook_runs_in_the_commands_transaction(seeded, day):
    """The hook (an outbox) sees the routes' new orders and base versions under the audit
    key; when it fails, nothing of the command is stored."""
    seen = []
    service = DispatchService(
        seeded, TRAVEL, actor=SUPERVISOR, role="supervisor",
        on_write=lambda session, record: seen.append(record),
    )  # fmt: skip
    plan = service.load_plan("SLC", DAY)
    versions = {"R-V2": 1, "R-V3": 1}
    result = service.reassign(plan, day, ["O5"], "R-V3")
    (record,) = seen
    assert record.key == result.command_id == service.audit()[0].command_id
    assert record.base_versions == versions and not record.whole
    assert record.routes["R-V2"] == ("O6", "O7", "O8") and "O5" in record.routes["R-V3"]

    def broken(session, record):
        raise RuntimeError("outbox full")

    failing = DispatchService(seeded, TRAVEL, actor=SUPERVISOR, role="supervisor",
                              on_write=broken)  # fmt: skip
    before = stored_plan(seeded)
    with pytest.raises(RuntimeError, match="outbox full"):
        failing.reassign(failing.load_plan("SLC", DAY), day, ["O6"], "R-V1")
    assert stored_plan(seeded) == before
    assert len(service.audit()) == 1


def test_undo_never_takes_back_a_delivery(seeded, day):
    """A moved stop delivered meanwhile (its status written by telemetry) cannot be moved
    back by undo: the undo is refused naming it, and the delivery stays stored."""
    service = _service(seeded)
    moved = service.reassign(service.load_plan("SLC", DAY), day, ["O5"], "R-V3")
    with seeded.session() as s:
        row = s.scalar(select(StopRow).where(StopRow.order_id == "O5"))
        row.status = str(StopStatus.DELIVERED)
    with pytest.raises(CommandRefused, match="O5"):
        service.apply_undo(moved.plan, moved.undo)
    stored = stored_plan(seeded)
    assert stored.route_of("O5").id == "R-V3"
    assert next(s for s in stored.routes[2].stops if s.order_id == "O5").status == "delivered"


def test_commands_keep_the_engine_context_current(seeded, day):
    """After a move, its undo and a lock, the service still holds the one whole-day context
    it built for a suggestion:
    suggestions and an urgent insertion come from it and see the routes as they now are."""
    from datetime import timedelta

    from engine.model import Location, Order, TimeWindow
    from engine.planning import Snapshot, insert, suggest

    service = _service(seeded)
    plan = service.load_plan("SLC", DAY)
    service.preview_reassign(plan, day, ["O5"], "R-V3", at(8))
    assert service.context_builds == 0  # a preview asks only for its routes' legs
    service.suggest(plan, day, "O5", at(8))  # the whole day's context, built once
    moved = service.reassign(plan, day, ["O5"], "R-V3", at(8)).plan
    locked = service.set_locked(moved, ["O1"], True).plan
    back = service.apply_undo(locked, service.set_locked(locked, ["O1"], False).undo).plan
    assert service.context_builds == 1
    ranked = service.suggest(back, day, "O5", at(8))
    assert ranked == suggest(Snapshot(day, back, at(8)), "O5", TRAVEL)
    assert all(s.vehicle_id != "V3" for s in ranked)  # O5 is on V3's route now
    urgent = Order("U1", "SLC", Location(40.76, -111.88), {"kg": 60.0},
                   (TimeWindow(at(9), at(15)),), timedelta(minutes=5))  # fmt: skip
    proposal = service.insert_order(back, day, urgent, at(8))
    expected = insert(Snapshot(day, back, at(8)), urgent, TRAVEL)
    assert proposal.plan == expected.plan and proposal.plan.route_of("U1") is not None
    assert service.context_builds == 1


def test_a_warmed_day_answers_the_first_suggestion_and_a_served_stop_builds_nothing(seeded, day):
    """After the warm-up the window runs once a plan is shown, the first suggestion and an
    urgent insertion answer from the day's context without building it; a stop served
    since gives the context from the matrices it had, the same suggestions as from
    scratch."""
    from datetime import timedelta

    from app.dispatch.preview import ContextCache
    from engine.model import Location, Order, TimeWindow
    from engine.planning import suggest_in

    service = _service(seeded)
    plan = service.load_plan("SLC", DAY)
    service.warm(plan, day, at(8))
    assert service.context_builds == 1
    service.suggest(plan, day, "O5", at(8))
    urgent = Order("U1", "SLC", Location(40.76, -111.88), {"kg": 60.0},
                   (TimeWindow(at(9), at(15)),), timedelta(minutes=5))  # fmt: skip
    assert service.insert_order(plan, day, urgent, at(8)).plan.route_of("U1") is not None
    first = plan.routes[0]
    done = replace(first, stops=(replace(first.stops[0], status=StopStatus.DELIVERED),
                                 *first.stops[1:]))  # fmt: skip
    served = replace(plan, routes=(done, *plan.routes[1:]))
    ranked = service.suggest(served, day, "O5", at(8))
    assert ranked == suggest_in(ContextCache(TRAVEL).get(served, day, at(8)), "O5")  # scratch
    assert service.context_builds == 1


def test_a_day_too_big_to_keep_whole_is_not_built_ahead(seeded, day):
    """The warm-up keeps the whole day's matrices all day: a day of more points than
    ``WARM_MAX_POINTS`` (a 2,000-van day: 6,001) is left to its first suggestion, which
    still answers."""
    from app.dispatch import service as dispatch_service

    service = _service(seeded)
    plan = service.load_plan("SLC", DAY)
    points = 1 + len(day.vehicles) + len(day.orders)
    assert points <= dispatch_service.WARM_MAX_POINTS < 6_001
    big = replace(day, vehicles=day.vehicles * (6_001 // len(day.vehicles) + 1))
    assert service.warm(plan, big, at(8)) is False
    assert service.context_builds == 0
    assert service.warm(plan, day, at(8)) is True and service.context_builds == 1
    assert service.suggest(plan, day, "O5", at(8))
