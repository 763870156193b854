"""Plans are stored and read back exactly; saving again is idempotent; a new plan replaces."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from app.store import StaleVersionError, repository
from app.store.models import ChangeLogRow, RouteRow, StopRow
from engine.model import Route, Stop
from tests.app.test_store_support import ACTOR, DAY, sample_plan, seed


def _count(s, model) -> int:
    return s.scalar(select(func.count()).select_from(model))


def test_plan_round_trips_exactly(store):
    """Routes, stops (status, lock, planned and actual times) and unassigned orders with
    their reasons come back equal to the saved plan."""
    seed(store)
    plan = sample_plan()
    with store.session() as s:
        assert repository.load_plan(s, "SLC", DAY) is None
        repository.save_plan(s, plan, actor=ACTOR)
    with store.read_session() as s:
        loaded = repository.load_plan(s, "SLC", DAY)
    assert loaded == plan
    stop = loaded.routes[0].stops[0]
    assert stop.locked and stop.actual_arrival == plan.routes[0].stops[0].actual_arrival
    assert stop.actual_arrival.tzinfo is not None


def test_saving_the_same_plan_again_changes_nothing(store):
    """A second save of an identical plan writes no change-log row and bumps no version."""
    seed(store)
    plan = sample_plan()
    with store.session() as s:
        repository.save_plan(s, plan, actor=ACTOR)
    with store.session() as s:
        logged, versions = _count(s, ChangeLogRow), repository.route_versions(s, "SLC", DAY)
        repository.save_plan(s, plan, actor=ACTOR)
    with store.session() as s:
        assert _count(s, ChangeLogRow) == logged
        assert repository.route_versions(s, "SLC", DAY) == versions


def test_resaving_a_changed_plan_bumps_only_changed_routes(store):
    """Moving an order between routes bumps both routes' versions, logs one plan update,
    and leaves unchanged stops at their version."""
    seed(store)
    plan = sample_plan()
    with store.session() as s:
        repository.save_plan(s, plan, actor=ACTOR)
    r1, r2 = plan.routes
    moved = dataclasses.replace(
        plan,
        routes=(
            dataclasses.replace(r1, stops=r1.stops[:1]),
            dataclasses.replace(r2, stops=(Stop("O2"),)),
        ),
    )
    with store.session() as s:
        before = repository.route_versions(s, "SLC", DAY)
        repository.save_plan(s, moved, actor=ACTOR)
    with store.session() as s:
        after = repository.route_versions(s, "SLC", DAY)
        assert repository.load_plan(s, "SLC", DAY) == moved
        kept = s.scalar(select(StopRow).where(StopRow.order_id == "O1"))
        entry = s.scalars(select(ChangeLogRow).order_by(ChangeLogRow.id.desc())).first()
    assert after == {k: v + 1 for k, v in before.items()}
    assert kept.version == 1
    assert (entry.entity, entry.operation) == ("plan", "update")
    assert entry.before["routes"][0]["orders"] == ["O1", "O2"]
    assert entry.after["routes"][1]["orders"] == ["O2"]


def test_new_plan_for_the_day_replaces_the_old_one(store):
    """Saving a plan with another id for the same depot and day replaces the stored plan."""
    seed(store)
    with store.session() as s:
        repository.save_plan(s, sample_plan("P-a"), actor=ACTOR)
    with store.session() as s:
        repository.save_plan(s, sample_plan("P-b"), actor=ACTOR)
    with store.session() as s:
        assert repository.load_plan(s, "SLC", DAY) == sample_plan("P-b")
        assert set(s.scalars(select(RouteRow.id))) == {"P-b-R1", "P-b-R2"}
        ops = s.execute(
            select(ChangeLogRow.entity_id, ChangeLogRow.operation)
            .where(ChangeLogRow.entity == "plan")
            .order_by(ChangeLogRow.id)
        ).all()
    assert ops == [("P-a", "insert"), ("P-a", "delete"), ("P-b", "insert")]


def test_route_id_of_another_days_plan_is_refused(store):
    """Route ids are global: reusing one from another day's plan is a clear error."""
    seed(store)
    plan = sample_plan()
    with store.session() as s:
        repository.save_plan(s, plan, actor=ACTOR)
    other_day = dataclasses.replace(
        plan, id="P-next", day=DAY.replace(day=25), routes=(Route(plan.routes[1].id, "V02"),)
    )
    clash = "already belongs to plan 'P-2026-11-24'"
    with pytest.raises(ValueError, match=clash), store.session() as s:
        repository.save_plan(s, other_day, actor=ACTOR)


def test_replan_from_stale_versions_is_refused(store):
    """A re-plan computed before a dispatcher's route edit is refused, naming the route and
    both versions, and the edit stays."""
    seed(store)
    plan = sample_plan()
    with store.session() as s:
        repository.save_plan(s, plan, actor=ACTOR)
        base = repository.route_versions(s, "SLC", DAY)
    r1 = plan.routes[0]
    edited = tuple(reversed(r1.stops))
    with store.session() as s:
        repository.update_route_stops(s, r1.id, edited, base_version=base[r1.id], actor="kim")
    replan = dataclasses.replace(plan, routes=(dataclasses.replace(r1, stops=r1.stops[:1]),))
    stale = f"route '{r1.id}'.*version 1.*version 2"
    with pytest.raises(StaleVersionError, match=stale), store.session() as s:
        repository.save_plan(s, replan, actor=ACTOR, base_versions=base)
    with store.session() as s:
        assert repository.load_plan(s, "SLC", DAY).routes[0].stops == edited
        fresh = repository.route_versions(s, "SLC", DAY)
        repository.save_plan(s, replan, actor=ACTOR, base_versions=fresh)
        assert repository.load_plan(s, "SLC", DAY) == replan
