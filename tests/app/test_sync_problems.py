"""A command the shared database refuses for a reason other than a conflict is a visible
sync problem: held back with its error (status "sync problem", an exception to retry or
discard), never a retry loop, and later edits of other routes still go through."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from app.store.models import OutboxRow
from app.sync.session import SyncSession
from tests.app.test_sync_support import desk, orders, rotated, shared_store

pytestmark = pytest.mark.postgres

REFUSE_R1 = """
CREATE FUNCTION refuse_r1() RETURNS trigger AS $$
BEGIN
  IF NEW.route_id = 'R1' THEN RAISE EXCEPTION 'route R1 is being archived'; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER refuse_r1 BEFORE INSERT OR UPDATE ON stop FOR EACH ROW EXECUTE FUNCTION refuse_r1();
"""


def attempts(d) -> dict[str, int]:
    with d.local.read_session() as s:
        return {r.idempotency_key: r.attempts for r in s.scalars(select(OutboxRow))}


def test_a_refused_command_is_held_and_later_ones_go_through(
    postgres_url: str, tmp_path: Path
) -> None:
    shared = shared_store(postgres_url)
    with shared.engine.begin() as conn:
        conn.exec_driver_sql(REFUSE_R1)
    a = desk(tmp_path, "desk-a", postgres_url)
    r1, r3 = rotated(orders(a.local)["R1"]), rotated(orders(a.local)["R3"])
    held = a.execute({"R1": r1}, actor="ann", label="Reorder R1")
    a.execute({"R3": r3}, actor="ann", label="Reorder R3")
    report = a.sync()
    assert (report.applied, report.pending) == (1, 0)  # R3 went; nothing left to retry now
    assert orders(shared)["R3"] == r3 and orders(shared)["R1"] != r1
    status = a.status()
    assert status.online and not status.healthy and status.failed == 1
    assert status.text == "sync problem - 1 edit not sent (see Exceptions)"
    (problem,) = a.problems()
    assert "route R1 is being archived" in problem.detail and "Reorder R1" in problem.detail
    tries = attempts(a)[held.key]
    a.sync()
    a.sync()
    assert attempts(a)[held.key] == tries  # held: no retry loop
    with shared.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_r1 ON stop"))
    a.settle_problem(problem.id, action="retry", actor="ann")
    assert a.sync().applied == 1
    assert orders(shared)["R1"] == r1 and a.status().healthy and a.problems() == []


def test_a_discarded_command_leaves_the_shared_version(postgres_url: str, tmp_path: Path) -> None:
    shared = shared_store(postgres_url)
    with shared.engine.begin() as conn:
        conn.exec_driver_sql(REFUSE_R1)
    a = desk(tmp_path, "desk-a", postgres_url)
    before = orders(shared)
    a.execute({"R1": rotated(before["R1"])}, actor="ann")
    a.sync()
    (problem,) = a.problems()
    a.settle_problem(problem.id, action="discard", actor="ann")
    report = a.sync()
    assert report.refreshed and a.status().healthy and a.pending_count() == 0
    assert orders(a.local) == orders(shared) == before


def test_the_status_bar_text_says_sync_problem(postgres_url: str, tmp_path: Path) -> None:
    """What the workstation's status bar reads while an edit is held."""
    shared = shared_store(postgres_url)
    with shared.engine.begin() as conn:
        conn.exec_driver_sql(REFUSE_R1)
    local = desk(tmp_path, "desk-a", postgres_url, seed=False).local
    session = SyncSession(local, postgres_url, workstation="desk-a", user="ann")
    try:
        from bench.drills.day import DAY, DEPOT

        session.attach(DEPOT, DAY)
        session.service.stop()  # drive the sync by hand
        d = session.desk
        d.execute({"R1": rotated(orders(d.local)["R1"])}, actor="ann")
        d.sync()
        assert session.status.failed == 1 and not session.status.healthy
        (exc,) = session.conflict_exceptions({"R1": "V1"})
        assert exc.vehicle_id == "V1" and "route R1 is being archived" in exc.detail
    finally:
        session.stop()
