"""A dispatcher proposes, a supervisor decides: stored, audited, applied as one command."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import select

from app.dispatch.proposals import ProposalDesk
from app.dispatch.replan import replan_job
from app.dispatch.service import DispatchService, NotAllowed
from app.store import StaleVersionError, repository
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
def desks(store):
    """The small day stored; a dispatcher's and a supervisor's desk on the same store."""
    seed(store, small_day(), small_plan())
    dana = DispatchService(store, TRAVEL, actor=DISPATCHER, role="dispatcher")
    sam = DispatchService(store, TRAVEL, actor=SUPERVISOR, role="supervisor")
    return ProposalDesk(dana), ProposalDesk(sam)


def test_a_proposed_move_is_stored_and_accepted_by_a_supervisor(desks, store):
    """The dispatcher's move waits (who, what, effect); the supervisor's accept moves the
    stop, marks it accepted in the same transaction, and the audit names both."""
    dana, sam = desks
    day = small_day()
    plan = dana.service.load_plan("SLC", DAY)
    sent = dana.propose_move(plan, day, ["O5"], "R-V3", at(7))
    assert (sent.status, sent.author, sent.kind, sent.label) == (
        "pending", DISPATCHER, "move", "Move O5 to V3",
    )  # fmt: skip
    assert "O5 → V3" in sent.effect["summary"] and sent.base_versions.keys() == {"R-V2", "R-V3"}
    assert stored_plan(store).route_of("O5").id == "R-V2"  # nothing moved yet
    with pytest.raises(NotAllowed):
        dana.accept(plan, day, sent.id, at(7))
    [pending] = sam.list("SLC", DAY, ["pending"])
    assert pending.id == sent.id
    result = sam.accept(sam.service.load_plan("SLC", DAY), day, sent.id, at(7))
    assert stored_plan(store).route_of("O5").id == "R-V3"
    assert result.label == f"Move O5 to V3 (proposed by {DISPATCHER})"
    decided = dana.get(sent.id)
    assert (decided.status, decided.decided_by) == ("accepted", SUPERVISOR)
    entry = sam.service.audit()[0]
    assert (entry.actor, entry.command) == (SUPERVISOR, "reassign")
    undone = sam.service.apply_undo(result.plan, result.undo)
    assert stored_plan(store).route_of("O5").id == "R-V2" and undone.plan is not None


def test_a_rejection_is_kept_with_its_note_and_moves_nothing(desks, store):
    """Rejected with a note: the author reads it; the plan is unchanged; no second decision."""
    dana, sam = desks
    plan = dana.service.load_plan("SLC", DAY)
    sent = dana.propose_move(plan, small_day(), ["O1"], "R-V2", at(7))
    sam.reject(sent.id, note="V2 is full this afternoon")
    seen = dana.list("SLC", DAY)[0]
    assert (seen.status, seen.note, seen.decided_by) == (
        "rejected", "V2 is full this afternoon", SUPERVISOR,
    )  # fmt: skip
    assert sequences(stored_plan(store)) == sequences(small_plan())
    with pytest.raises(StaleVersionError):
        sam.reject(sent.id)
    with store.read_session() as s:
        from app.store.changelog import read_changes

        rows, _ = read_changes(s)
    logged = [(r.operation, (r.after or {}).get("status")) for r in rows if r.entity == "proposal"]
    assert logged == [("insert", "pending"), ("update", "rejected")]


def test_a_proposal_whose_routes_changed_since_is_refused_and_stays_pending(desks, store):
    """Someone moved a route the proposal was made on: accepting it is refused, nothing is
    written, and it stays pending for a rejection or a new proposal."""
    dana, sam = desks
    plan = dana.service.load_plan("SLC", DAY)
    sent = dana.propose_move(plan, small_day(), ["O5"], "R-V3", at(7))
    with store.session() as s:
        stored = repository.load_plan(s, "SLC", DAY)
        v3 = stored.routes[2]
        version = repository.route_versions(s, "SLC", DAY)["R-V3"]
        repository.update_route_stops(s, "R-V3", tuple(reversed(v3.stops)), base_version=version,
                                      actor="someone")  # fmt: skip
    with pytest.raises(StaleVersionError):
        sam.accept(sam.service.load_plan("SLC", DAY), small_day(), sent.id, at(7))
    assert dana.get(sent.id).status == "pending"
    assert stored_plan(store).route_of("O5").id == "R-V2"


def test_a_fleet_replan_proposal_is_applied_as_sent(desks, store):
    """A dispatcher's fleet re-plan becomes a proposal; accepted, the stored routes are
    those the dispatcher saw."""
    dana, sam = desks
    day = small_day()
    plan = dana.service.load_plan("SLC", DAY)
    proposal = replan_job(plan, day, TRAVEL, now=at(8), time_limit_s=0.5, loaded=["O1", "O2"])
    assert proposal.notes == ("Kept on their van: 2 loaded stops (V1)",)
    sent = dana.propose_replan(plan, proposal)
    assert sent.kind == "replan" and "Lateness" in sent.effect["summary"]
    assert "Kept on their van: 2 loaded stops (V1)" in sent.effect["summary"]
    assert sam._replan_of(plan, sam.get(sent.id))[0].notes == proposal.notes
    hours = (proposal.duration_before_s / 3600, proposal.duration_after_s / 3600)
    assert f"driver time {hours[0]:.1f} → {hours[1]:.1f} h" in sent.effect["summary"]
    assert sent.payload["cost"] == [proposal.cost_before, proposal.cost_after]
    sam.accept(sam.service.load_plan("SLC", DAY), day, sent.id, at(8))
    assert sequences(stored_plan(store)) == sequences(proposal.plan)
    assert sam.get(sent.id).status == "accepted"


def test_only_the_author_withdraws(desks):
    """Another user may not withdraw a proposal; its author may."""
    dana, sam = desks
    plan = dana.service.load_plan("SLC", DAY)
    sent = dana.propose_move(plan, small_day(), ["O1"], "R-V2", at(7))
    with pytest.raises(NotAllowed):
        sam.withdraw(sent.id)
    assert dana.withdraw(sent.id).status == "withdrawn"


def test_a_proposal_and_its_decision_are_timed_on_the_desks_day_clock(store):
    """In the demo the desk's clock is simulated (here 09:30 on the test day while the wall
    clock says otherwise): a proposal's sending, its decision and their change-log rows are
    stored at the day clock's time, the time the status bar shows, not the wall clock's."""
    from app.day.clock import DayClock
    from app.store.models import ChangeLogRow

    seed(store, small_day(), small_plan())
    clock = DayClock(at(9.5).timestamp(), speedup=1.0)
    store.clock = clock.now
    dana = ProposalDesk(DispatchService(store, TRAVEL, actor=DISPATCHER, role="dispatcher"))
    sam = ProposalDesk(DispatchService(store, TRAVEL, actor=SUPERVISOR, role="supervisor"))
    sent = dana.propose_move(dana.service.load_plan("SLC", DAY), small_day(), ["O1"], "R-V2",
                             at(9.5))  # fmt: skip
    sam.reject(sent.id, note="not now")
    decided = dana.get(sent.id)
    for moment in (decided.created_at, decided.decided_at):
        assert moment is not None and abs((moment - at(9.5)).total_seconds()) < 60
    with store.read_session() as s:
        logged = list(s.scalars(select(ChangeLogRow).where(ChangeLogRow.entity == "proposal")))
    assert len(logged) == 2
    for row in logged:
        stamp = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
        assert abs((stamp - at(9.5)).total_seconds()) < 60, row.at
