"""Release commands on a shared database: made on the local copy, carried by the outbox
(they wait while the shared database is away), and the same route released from two desks
surfaced as a conflict instead of released twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app.release.commands import MARK_LOADED, RELEASE, ReleaseCommand
from app.release.desk import applier_writer
from app.store import Store
from app.store import repository_release as rel
from app.store.models import OutboxRow, RouteTransitionRow
from engine.model import RouteStatus
from tests.app.test_sync_support import DAY, DEPOT, desk, orders, shared_store, versions

pytestmark = pytest.mark.postgres
AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _status(store: Store, route_id: str) -> RouteStatus:
    with store.read_session() as s:
        return rel.route_state(s, route_id).status


def _release(actor: str, route_id: str, base: int) -> ReleaseCommand:
    return ReleaseCommand(RELEASE, DEPOT, DAY.isoformat(), actor, "dispatcher", AT,
                          {route_id: base}, wave="W1")  # fmt: skip


def test_a_release_made_offline_waits_then_lands_once(postgres_url: str, tmp_path: Path):
    """Released while the shared database is away: the local copy shows it released at
    once, the command waits in the outbox, and lands once on reconnect with the same
    version on both; a loading mark goes the same way."""
    shared = shared_store(postgres_url)
    a = desk(tmp_path, "desk-a", postgres_url)
    a.work_offline = True
    write = applier_writer(a.local, a.submit)
    base = versions(a.local)["R1"]
    after = write(_release("ann@desk-a", "R1", base))
    assert after["R1"] > base
    assert _status(a.local, "R1") is RouteStatus.RELEASED
    assert _status(shared, "R1") is RouteStatus.PLANNED
    write(ReleaseCommand(MARK_LOADED, DEPOT, DAY.isoformat(), "ann@desk-a", "dispatcher", AT,
                         {"R2": versions(a.local)["R2"]}, orders=tuple(orders(a.local)["R2"])))  # fmt: skip
    report = a.sync()
    assert (report.online, report.pending) == (False, 2)
    a.work_offline = False
    report = a.sync()
    assert (report.applied, report.pending, report.conflicts) == (2, 0, 0)
    assert _status(shared, "R1") is RouteStatus.RELEASED
    assert _status(shared, "R2") is RouteStatus.READY
    assert versions(shared)["R1"] == after["R1"]
    with shared.read_session() as s:
        rows = s.scalars(select(RouteTransitionRow).where(RouteTransitionRow.route_id == "R1"))
        assert [(r.to_status, r.actor) for r in rows] == [("released", "ann@desk-a")]
    assert a.sync().applied == 0  # nothing twice


def test_the_same_route_released_from_two_desks_is_a_conflict(postgres_url: str, tmp_path):
    """Two desks release the same route offline: the first to sync releases it, the
    second gets a sync conflict naming the route (never a second release)."""
    shared = shared_store(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    a.work_offline = b.work_offline = True
    base = versions(a.local)["R3"]
    applier_writer(a.local, a.submit)(_release("ann@desk-a", "R3", base))
    applier_writer(b.local, b.submit)(_release("bob@desk-b", "R3", base))
    a.work_offline = b.work_offline = False
    assert a.sync().applied == 1
    report = b.sync()
    assert (report.applied, report.conflicts) == (0, 1)
    (conflict,) = b.conflicts()
    detail = json.loads(conflict.detail)
    assert detail["kind"] == "release_control" and "R3" in detail["theirs"]
    with shared.read_session() as s:
        rows = s.scalars(select(RouteTransitionRow).where(RouteTransitionRow.route_id == "R3"))
        assert [r.actor for r in rows] == ["ann@desk-a"]
        assert len(s.scalars(select(OutboxRow)).all()) == 2


def test_another_desks_releases_and_overrides_reach_this_desks_copy(
    postgres_url: str, tmp_path: Path
):
    """Desk A releases a route and a supervisor there overrides a check of another; once
    desk B catches up, its copy holds the release (status and history) and the override,
    so B's gate reads the same."""
    from app.release.commands import OVERRIDE

    shared_store(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    write = applier_writer(a.local, a.submit)
    write(_release("ann@desk-a", "R1", versions(a.local)["R1"]))
    r2 = tuple(orders(a.local)["R2"])
    write(ReleaseCommand(OVERRIDE, DEPOT, DAY.isoformat(), "sam@desk-a", "supervisor", AT,
                         {"R2": versions(a.local)["R2"]}, check="loading",
                         reason="counted on paper", orders=r2))  # fmt: skip
    assert a.sync().applied == 2
    assert b.sync().refreshed
    assert _status(b.local, "R1") is RouteStatus.RELEASED
    with b.local.read_session() as s:
        (t,) = [t for t in rel.transitions(s, DEPOT, DAY) if t.route_id == "R1"]
        assert (t.to_status, t.actor) == (RouteStatus.RELEASED, "ann@desk-a")
        held = rel.load_overrides(s, {"R2": r2})
    assert held["R2"]["loading"].reason == "counted on paper"
    assert b.sync().refreshed  # a second catch-up adds nothing twice
    with b.local.read_session() as s:
        assert len([t for t in rel.transitions(s, DEPOT, DAY) if t.route_id == "R1"]) == 1
