"""Locks and whole-plan saves made on the local copy go through the outbox like moves:
queued with their base versions, replayed in order, a moved base becomes a conflict."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.dispatch.service import DispatchService, ReplanScope
from app.store import repository as repo
from app.store.models import OutboxRow
from app.sync import outbox
from app.sync.offline import OfflineDesk
from app.sync.session import command_of
from bench.drills.day import DAY, DEPOT
from engine.model import Plan, Unassigned, UnassignedReason
from engine.planning import Proposal
from tests.app.test_sync_support import (
    bob_edits_first_then_ann_syncs,
    desk,
    orders,
    rotated,
    shared_store,
    versions,
)

pytestmark = pytest.mark.postgres


def service(d: OfflineDesk, actor: str, role: str = "supervisor") -> DispatchService:
    """The dispatch service of a workstation on its local copy, queueing every command."""
    return DispatchService(
        d.local, None, actor=actor, role=role,
        on_write=lambda session, record: outbox.enqueue(session, command_of(record)),
    )  # fmt: skip


def stored(store) -> Plan:
    with store.read_session() as s:
        return repo.load_plan(s, DEPOT, DAY)


def locked(store) -> set[str]:
    return {st.order_id for r in stored(store).routes for st in r.stops if st.locked}


def queued(d: OfflineDesk) -> list[OutboxRow]:
    with d.local.read_session() as s:
        return list(s.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def test_a_lock_made_offline_replays_with_its_base_version(
    postgres_url: str, tmp_path: Path
) -> None:
    """Locking O1 offline waits as a lock command on R0's version; on reconnect the shared
    day has O1 locked (nothing else moved) and undoing it unlocks it there too."""
    shared = shared_store(postgres_url)
    a = desk(tmp_path, "desk-a", postgres_url)
    a.work_offline = True
    ann = service(a, "ann@desk-a")
    result = ann.set_locked(ann.load_plan(DEPOT, DAY), ["O1"], True)
    (row,) = queued(a)
    assert row.command["kind"] == "set_locks" and row.command["locks"] == {"O1": True}
    assert row.base_versions == {"R0": versions(shared)["R0"]}
    assert locked(a.local) == {"O1"} and locked(shared) == set()
    a.work_offline = False
    report = a.sync()
    assert (report.applied, report.conflicts, report.pending) == (1, 0, 0)
    assert locked(shared) == {"O1"}
    assert orders(shared) == orders(a.local) and versions(shared) == versions(a.local)
    a.work_offline = True
    ann.apply_undo(ann.load_plan(DEPOT, DAY), result.undo)  # unlock by undo, offline too
    assert queued(a)[-1].command["locks"] == {"O1": False}
    a.work_offline = False
    assert a.sync().applied == 1
    assert locked(shared) == set() and versions(shared) == versions(a.local)


@pytest.mark.parametrize("keep", ["theirs", "mine"])
def test_a_lock_on_a_route_someone_else_changed_is_a_conflict(
    postgres_url: str, tmp_path: Path, keep: str
) -> None:
    """Ann locks O1 offline while Bob reorders its route R0 and syncs first: Ann's lock is
    a conflict with both versions (never laid over Bob's route); keeping hers locks O1 on
    Bob's order of stops, keeping theirs leaves it unlocked."""
    shared = shared_store(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    a.work_offline = True
    ann = service(a, "ann@desk-a")
    ann.set_locked(ann.load_plan(DEPOT, DAY), ["O1"], True)
    bobs = bob_edits_first_then_ann_syncs(a, b, "R0")
    assert orders(shared)["R0"] == bobs and locked(shared) == set()
    (conflict,) = a.conflicts()
    assert '"locks": {"O1": true}' in conflict.detail and "Compare the locks" in (
        conflict.suggested_action
    )
    assert orders(a.local)["R0"] == bobs and locked(a.local) == set()  # caught up: theirs
    a.resolve_conflict(conflict.id, keep=keep, actor="ann")
    assert a.sync().conflicts == 0 and not a.conflicts()
    assert orders(shared)["R0"] == bobs
    assert locked(shared) == ({"O1"} if keep == "mine" else set())
    assert versions(shared) == versions(a.local) and locked(a.local) == locked(shared)


def replanned(plan: Plan) -> Proposal:
    """A fleet re-plan of the drill day: O0 moves from R0 to R1 (with planned times), R7 is
    dropped and its stops are left unassigned."""
    at = datetime(DAY.year, DAY.month, DAY.day, 15, 0).astimezone()
    routes = {r.id: r for r in plan.routes}
    r0, r1 = routes["R0"], routes["R1"]
    moved = next(s for s in r0.stops if s.order_id == "O0")
    new_r1 = replace(r1, stops=tuple(
        replace(s, planned_arrival=at + timedelta(minutes=10 * i))
        for i, s in enumerate((*r1.stops, moved))
    ))  # fmt: skip
    new_r0 = replace(r0, stops=tuple(s for s in r0.stops if s.order_id != "O0"))
    kept = [{"R0": new_r0, "R1": new_r1}.get(r.id, r) for r in plan.routes if r.id != "R7"]
    left = tuple(
        Unassigned(o, UnassignedReason.CAPACITY, "re-plan") for o in routes["R7"].order_ids
    )
    new = replace(plan, routes=tuple(kept), unassigned=left)
    return Proposal(new, (), (), 0.0, 0.0, 0.0, 0.0, True, 0.1)


def test_a_fleet_replan_accepted_offline_lands_as_one_plan_save(
    postgres_url: str, tmp_path: Path
) -> None:
    """A re-plan accepted offline (new routes, a dropped route, unassigned orders, planned
    times) is queued as one plan save on every route's version; on reconnect the shared
    day's plan is exactly the local one."""
    shared = shared_store(postgres_url)
    a = desk(tmp_path, "desk-a", postgres_url)
    a.work_offline = True
    ann = service(a, "ann@desk-a")
    plan = ann.load_plan(DEPOT, DAY)
    ann.accept_proposal(plan, replanned(plan))
    (row,) = queued(a)
    assert row.command["kind"] == "save_plan" and row.command["check_all"]
    assert row.base_versions == versions(shared)  # every route of the day
    assert "R7" in orders(shared)
    a.work_offline = False
    report = a.sync()
    assert (report.applied, report.conflicts, report.pending) == (1, 0, 0)
    mine, theirs = stored(a.local), stored(shared)
    assert theirs == mine and "R7" not in orders(shared)
    assert [u.order_id for u in theirs.unassigned] == ["O28", "O29", "O30", "O31"]
    r1 = next(r for r in theirs.routes if r.id == "R1")
    assert r1.order_ids[-1] == "O0" and all(s.planned_arrival for s in r1.stops)
    assert versions(shared) == versions(a.local)


@pytest.mark.parametrize("keep", ["theirs", "mine"])
def test_a_fleet_replan_over_someone_elses_edit_is_a_conflict(
    postgres_url: str, tmp_path: Path, keep: str
) -> None:
    """Bob edits R5 (a route the re-plan leaves alone) while Ann accepts a fleet re-plan
    offline: a fleet re-plan needs every route as it was, so hers is a conflict showing
    the whole plan; keeping hers applies the re-plan on top of Bob's R5."""
    shared = shared_store(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    a.work_offline = True
    ann = service(a, "ann@desk-a")
    plan = ann.load_plan(DEPOT, DAY)
    ann.accept_proposal(plan, replanned(plan))
    bobs = bob_edits_first_then_ann_syncs(a, b, "R5")
    assert "R7" in orders(shared) and orders(shared)["R5"] == bobs  # nothing overwritten
    (conflict,) = a.conflicts()
    assert "Compare both plans" in conflict.suggested_action and '"R5"' in conflict.detail
    a.resolve_conflict(conflict.id, keep=keep, actor="ann")
    assert a.sync().conflicts == 0
    got = orders(shared)
    assert got["R5"] == bobs
    assert ("R7" not in got and got["R1"][-1] == "O0") if keep == "mine" else "R7" in got
    assert stored(shared) == stored(a.local) and versions(shared) == versions(a.local)


def test_an_exception_replan_ignores_edits_elsewhere(postgres_url: str, tmp_path: Path) -> None:
    """A re-plan limited to R0 and R1 (one exception's, a dispatcher may accept it) only
    needs those routes as they were: Bob's edit of R5 meanwhile does not block it."""
    shared = shared_store(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    a.work_offline = True
    dana = service(a, "dana@desk-a", role="dispatcher")
    plan = dana.load_plan(DEPOT, DAY)
    full = replanned(plan).plan
    only = replace(full, routes=tuple(
        next(n for n in full.routes if n.id == r.id) if r.id in ("R0", "R1") else r
        for r in plan.routes
    ), unassigned=())  # fmt: skip
    proposal = Proposal(only, (), (), 0.0, 0.0, 0.0, 0.0, True, 0.1)
    dana.accept_proposal(plan, proposal, scope=ReplanScope({"R0", "R1"}, "EX-1"))
    (row,) = queued(a)
    assert row.command["kind"] == "save_plan" and set(row.base_versions) == {"R0", "R1"}
    b.execute({"R5": rotated(orders(b.local)["R5"])}, actor="bob")
    assert b.sync().applied == 1
    a.work_offline = False
    assert (a.sync().applied, len(a.conflicts())) == (1, 0)
    assert orders(shared)["R1"][-1] == "O0" and stored(shared) == stored(a.local)


def test_an_offline_move_stores_the_times_the_desk_showed(
    postgres_url: str, tmp_path: Path
) -> None:
    """A move made offline re-times both routes on the desk; on reconnect the shared day
    has exactly those planned times, as a move made online does: the desk never shows
    times it will not store."""
    from engine.travel import HaversineTravelModel

    shared = shared_store(postgres_url)
    a = desk(tmp_path, "desk-a", postgres_url)
    a.work_offline = True
    ann = DispatchService(
        a.local, HaversineTravelModel(), actor="ann@desk-a", role="supervisor",
        on_write=lambda session, record: outbox.enqueue(session, command_of(record)),
    )  # fmt: skip
    with a.local.read_session() as s:
        day = repo.load_day(s, DEPOT, DAY)
    ann.reassign(ann.load_plan(DEPOT, DAY), day, ["O0"], "R1")
    shown = {st.order_id: (st.planned_arrival, st.planned_departure)
             for r in stored(a.local).routes if r.id in ("R0", "R1") for st in r.stops}  # fmt: skip
    assert shown["O0"][0] is not None
    a.work_offline = False
    assert a.sync().applied == 1
    kept = {st.order_id: (st.planned_arrival, st.planned_departure)
            for r in stored(shared).routes if r.id in ("R0", "R1") for st in r.stops}  # fmt: skip
    assert kept == shown and orders(shared) == orders(a.local)
