"""A plan made on the local copy (offline, or before the shared day had one) reaches the
shared database as a versioned plan save: it replaces the plan it was made from, and a
plan someone else stored meanwhile makes it a conflict to resolve, never an overwrite."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.store import open_store
from app.store import repository as repo
from app.sync.session import conflict_text
from bench.drills.day import ACTOR, DAY, DEPOT, drill_day
from engine.model import Plan, Route
from tests.app.test_sync_support import (
    bob_edits_first_then_ann_syncs,
    desk,
    orders,
    shared_store,
    versions,
)

pytestmark = pytest.mark.postgres


def fresh_plan(plan_id: str, shift: int = 1) -> Plan:
    """Another plan of the drill day: every route's stops handed on ``shift`` routes."""
    _day, plan = drill_day()
    n = len(plan.routes)
    routes = tuple(
        Route(f"{plan_id}-R{i}", r.vehicle_id, plan.routes[(i + shift) % n].stops)
        for i, r in enumerate(plan.routes)
    )
    return replace(plan, id=plan_id, routes=routes)


def plan_of(store) -> Plan | None:
    with store.read_session() as s:
        return repo.load_plan(s, DEPOT, DAY)


def test_a_plan_made_offline_on_the_shared_plan_replaces_it(
    postgres_url: str, tmp_path: Path
) -> None:
    """Re-planned from scratch offline, on the shared plan as the local copy had it: on
    reconnect the new plan replaces it (a normal versioned command, no conflict)."""
    shared = shared_store(postgres_url)
    a = desk(tmp_path, "desk-a", postgres_url)
    a.work_offline = True
    mine = fresh_plan("PLAN-A")
    command = a.save_plan(mine, actor="ann")
    assert command.plan.base_plan == "PLAN" and command.base_versions == versions(shared)
    assert plan_of(a.local).id == "PLAN-A" and plan_of(shared).id == "PLAN"
    a.work_offline = False
    report = a.sync()
    assert (report.applied, report.conflicts, report.pending) == (1, 0, 0)
    assert plan_of(shared) == plan_of(a.local) and plan_of(shared).id == "PLAN-A"
    assert versions(shared) == versions(a.local)


@pytest.mark.parametrize("keep", ["theirs", "mine"])
def test_a_plan_made_offline_over_an_edited_plan_is_a_conflict(
    postgres_url: str, tmp_path: Path, keep: str
) -> None:
    """Bob edits a route of the shared plan while Ann re-plans the day offline: Ann's plan
    is a conflict showing both plans; the shared plan (with Bob's edit) stays until she
    keeps hers."""
    shared = shared_store(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    a.work_offline = True
    a.save_plan(fresh_plan("PLAN-A"), actor="ann")
    bobs = bob_edits_first_then_ann_syncs(a, b, "R3")
    assert plan_of(shared).id == "PLAN" and orders(shared)["R3"] == bobs
    assert plan_of(a.local).id == "PLAN"  # the local copy caught up: theirs
    (conflict,) = a.conflicts()
    assert "Compare both plans" in conflict.suggested_action
    text = conflict_text(conflict.detail)  # what the exceptions pane shows: a few routes
    assert text.startswith("plan: yours PLAN-A | stored PLAN;") and "PLAN-A-R0: yours" in text
    assert "and 10 more routes differ" in text and text.count(" | stored (v") == 6
    a.resolve_conflict(conflict.id, keep=keep, actor="ann")
    assert a.sync().conflicts == 0 and not a.conflicts()
    assert plan_of(shared).id == ("PLAN-A" if keep == "mine" else "PLAN")
    assert plan_of(shared) == plan_of(a.local) and versions(shared) == versions(a.local)


def unplanned_shared(url: str):
    """The shared database holding the drill day's input but no plan."""
    store = open_store(url, workstation="setup")
    day, _plan = drill_day()
    with store.session() as s:
        repo.upsert_depots(s, day.depots, actor=ACTOR)
        repo.upsert_vehicles(s, day.vehicles, actor=ACTOR)
        repo.upsert_orders(s, day.orders, actor=ACTOR)
    return store


@pytest.mark.parametrize("keep", ["theirs", "mine"])
def test_two_first_plans_of_an_unplanned_day_become_one_conflict(
    postgres_url: str, tmp_path: Path, keep: str
) -> None:
    """The day has no plan; Ann plans it offline, Bob plans it online and lands first. At
    Ann's catch-up her plan is not laid over Bob's nor silently dropped: it is a conflict,
    and the plan kept is the one both copies end with."""
    shared = unplanned_shared(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    assert plan_of(a.local) is None
    a.work_offline = True
    a.save_plan(fresh_plan("PLAN-A"), actor="ann")
    b.save_plan(fresh_plan("PLAN-B", shift=2), actor="bob")
    assert b.sync().applied == 1 and plan_of(shared).id == "PLAN-B"
    a.work_offline = False
    report = a.sync()
    assert (report.applied, report.conflicts) == (0, 1)
    assert plan_of(shared).id == "PLAN-B" and plan_of(a.local).id == "PLAN-B"
    (conflict,) = a.conflicts()
    assert '"mine": "PLAN-A"' in conflict.detail and '"theirs": "PLAN-B"' in conflict.detail
    a.resolve_conflict(conflict.id, keep=keep, actor="ann")
    assert a.sync().conflicts == 0
    kept = "PLAN-A" if keep == "mine" else "PLAN-B"
    assert b.sync().online
    for store in (shared, a.local, b.local):
        assert plan_of(store).id == kept
    assert versions(a.local) == versions(shared) == versions(b.local)
