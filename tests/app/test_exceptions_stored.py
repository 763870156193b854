"""Exceptions with the day: acknowledged and resolved as stored, audited commands (through the
outbox while offline), read back after a restart under the same ids, one open row per condition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.store import open_store
from app.store.models import ChangeLogRow, ExceptionRow, OutboxRow
from app.store.repository_exceptions import (
    ACKNOWLEDGE,
    RESOLVE,
    exception_snapshot,
    open_exceptions,
    resolved_exceptions,
    set_exception_state,
)
from app.sync.commands import apply_command, exception_command
from app.telemetry.persist import save_exception_changes
from engine.rules import (
    Condition,
    ExceptionChanges,
    ExceptionTracker,
    ExceptionType,
    LiveException,
    Severity,
)
from tests.app.test_sync_support import desk, shared_store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def late(order: str, minutes: float, vehicle: str = "V1") -> Condition:
    return Condition(ExceptionType.LATE_RISK, Severity.WARNING, vehicle, order,
                     f"{minutes:.0f} min late", "Re-plan", minutes)  # fmt: skip


def test_a_condition_keeps_its_id_across_a_restart() -> None:
    """Ids come from the condition and when it was seen; a restarted tracker that adopts
    the stored open exceptions goes on with them instead of opening second ones."""
    first = ExceptionTracker()
    opened = first.update([late("O1", 5), late("O2", 8)], T0).opened
    assert [e.id for e in opened] == ["late_risk:V1:O1:20260302T090000",
                                      "late_risk:V1:O2:20260302T090000"]  # fmt: skip
    restarted = ExceptionTracker()
    stored = [LiveException(e.id, e.type, e.severity, e.vehicle_id, e.order_id, e.detected_at,
                            e.detail, e.suggested_action) for e in opened]  # fmt: skip
    restarted.adopt(stored)
    changes = restarted.update([late("O1", 5)], T0 + timedelta(minutes=30))
    assert changes.opened == []
    assert [e.id for e in changes.updated] == [opened[0].id]  # minutes late known again
    assert changes.updated[0].minutes_late == 5
    assert [e.id for e in changes.resolved] == [opened[1].id]  # no longer holds


def test_a_condition_reopened_within_the_second_gets_its_own_id() -> None:
    tracker = ExceptionTracker()
    a = tracker.update([late("O1", 5)], T0).opened[0]
    tracker.update([], T0)
    b = tracker.update([late("O1", 6)], T0).opened[0]
    assert a.id != b.id


def _store(tmp_path: Path, name: str = "desk"):
    return open_store(f"sqlite:///{tmp_path / (name + '.sqlite3')}", workstation=name)


def test_acknowledge_and_resolve_are_stored_and_in_the_change_log(tmp_path: Path) -> None:
    store = _store(tmp_path)
    exc = ExceptionTracker().update([late("O1", 12)], T0).opened[0]
    with store.session() as s:
        save_exception_changes(s, ExceptionChanges(opened=[exc]))
    ack = exception_command("D1", T0.date(), exc.id, ACKNOWLEDGE, at=T0 + timedelta(minutes=2),
                            actor="ann@desk-1", snapshot=exception_snapshot(exc))  # fmt: skip
    with store.session() as s:
        apply_command(s, ack)
    with store.session() as s:  # a repeat (a replay) changes nothing
        apply_command(s, ack)
    with store.session() as s:
        resolve = exception_command(
            "D1", T0.date(), exc.id, RESOLVE, at=T0 + timedelta(minutes=9), actor="bob@desk-2"
        )
        apply_command(s, resolve)
    with store.read_session() as s:
        row = s.get(ExceptionRow, exc.id)
        assert (row.acknowledged_at, row.acknowledged_by) == (T0 + timedelta(minutes=2),
                                                              "ann@desk-1")  # fmt: skip
        assert (row.resolved_at, row.resolved_by) == (T0 + timedelta(minutes=9), "bob@desk-2")
        log = s.scalars(select(ChangeLogRow).where(ChangeLogRow.entity == "exception")
                        .order_by(ChangeLogRow.id)).all()  # fmt: skip
        assert [(r.actor, r.after["action"]) for r in log] == [
            ("ann@desk-1", "acknowledge"), ("bob@desk-2", "resolve")]  # fmt: skip
        audit = s.scalars(select(ChangeLogRow).where(ChangeLogRow.entity == "command")).all()
        assert {r.entity_id for r in audit} == {ack.key, resolve.key}


def test_open_exceptions_of_the_day_come_back_once_per_condition(tmp_path: Path) -> None:
    """After a restart: the day's open rows (acknowledged ones say by whom); a condition an
    older version stored open twice keeps its oldest row, the other is closed as a duplicate."""
    store = _store(tmp_path)
    old = ExceptionTracker().update([late("O1", 5), late("O2", 3)], T0).opened
    dup = ExceptionTracker().update([late("O1", 7)], T0 + timedelta(minutes=40)).opened
    yesterday = ExceptionTracker().update([late("O3", 1)], T0 - timedelta(days=1)).opened
    with store.session() as s:
        save_exception_changes(s, ExceptionChanges(opened=[*old, *dup, *yesterday]))
        set_exception_state(s, old[1].id, ACKNOWLEDGE, at=T0, by="ann@desk-1")
    day = datetime(2026, 3, 2, tzinfo=UTC)
    with store.session() as s:
        found = open_exceptions(s, day, day + timedelta(days=1), actor="rule")
    assert [f.exception.id for f in found] == [old[0].id, old[1].id]
    assert found[1].acknowledged_by == "ann@desk-1"
    assert found[0].exception.type is ExceptionType.LATE_RISK
    with store.read_session() as s:
        assert s.get(ExceptionRow, dup[0].id).resolved_by == f"duplicate of {old[0].id}"


def test_the_days_resolved_exceptions_come_back_as_history(tmp_path: Path) -> None:
    """After a restart the board shows the day's resolved exceptions too (behind "Open
    only"), with who acknowledged and resolved them; not yesterday's, not duplicates."""
    store = _store(tmp_path)
    tracker = ExceptionTracker()
    first = tracker.update([late("O1", 5), late("O2", 3)], T0).opened
    cleared = tracker.update([late("O2", 4)], T0 + timedelta(minutes=5)).resolved
    yesterday = ExceptionTracker().update([late("O3", 1)], T0 - timedelta(days=1)).opened
    dup = ExceptionTracker().update([late("O2", 7)], T0 + timedelta(minutes=40)).opened
    with store.session() as s:
        save_exception_changes(s, ExceptionChanges(opened=[*first, *yesterday, *dup]))
        set_exception_state(s, first[0].id, ACKNOWLEDGE, at=T0, by="ann@desk-1")
        save_exception_changes(s, ExceptionChanges(resolved=cleared))
        set_exception_state(s, yesterday[0].id, RESOLVE, at=T0, by="bob@desk-2")
    day = datetime(2026, 3, 2, tzinfo=UTC)
    with store.session() as s:
        open_exceptions(s, day, day + timedelta(days=1), actor="rule")  # closes the duplicate
    with store.session() as s:
        history = resolved_exceptions(s, day, day + timedelta(days=1))
    assert [h.exception.id for h in history] == [first[0].id]
    assert history[0].acknowledged_by == "ann@desk-1"
    assert history[0].exception.resolved_at == T0 + timedelta(minutes=5)


@pytest.mark.postgres
def test_an_acknowledgement_made_offline_reaches_the_shared_database(
    postgres_url: str, tmp_path: Path
) -> None:
    """Offline, an acknowledgement is stored locally and waits in the outbox; online, it
    lands once on the shared database, which records the exception it never saw."""
    shared = shared_store(postgres_url)
    a = desk(tmp_path, "desk-a", postgres_url)
    exc = ExceptionTracker().update([late("O1", 12)], T0).opened[0]
    with a.local.session() as s:
        save_exception_changes(s, ExceptionChanges(opened=[exc]))
    a.work_offline = True
    a.submit(exception_command(a.depot_id, a.day, exc.id, ACKNOWLEDGE, at=T0,
                               actor="ann@desk-a", snapshot=exception_snapshot(exc)))  # fmt: skip
    with a.local.read_session() as s:
        assert s.get(ExceptionRow, exc.id).acknowledged_by == "ann@desk-a"
    assert a.sync().pending == 1
    a.work_offline = False
    report = a.sync()
    assert (report.applied, report.conflicts, report.pending) == (1, 0, 0)
    assert a.sync().applied == 0
    with shared.read_session() as s:
        row = s.get(ExceptionRow, exc.id)
        assert (row.acknowledged_at, row.acknowledged_by, row.detail) == (
            T0, "ann@desk-a", exc.detail)  # fmt: skip
        assert s.scalar(select(OutboxRow).where(OutboxRow.idempotency_key != "")) is not None


def test_an_acknowledgement_on_one_desk_shows_on_the_other_desks_board(qtbot, store_url: str):
    """Two desks on one database each run the rules, so each has the late stop on its board
    under an id of its own. A person acknowledges it on desk A, then resolves it: desk B's
    board shows it acknowledged by that person, then resolved, without a restart; B's other
    exceptions are untouched."""
    from app.exceptions.board import ExceptionBoard
    from app.exceptions.follow import OthersOnTheBoard

    a_store = open_store(store_url, workstation="desk-a")  # one SQLite file, or PostgreSQL
    b_store = open_store(store_url, workstation="desk-b")
    on_a = ExceptionTracker().update([late("O1", 12)], T0).opened[0]
    on_b = ExceptionTracker().update([late("O1", 12), late("O2", 9)], T0 + timedelta(seconds=3))
    with a_store.session() as s:
        save_exception_changes(s, ExceptionChanges(opened=[on_a]))
    with b_store.session() as s:
        save_exception_changes(s, on_b)
    b_late, b_other = on_b.opened
    assert b_late.id != on_a.id  # the same condition, seen at another second
    board = ExceptionBoard()
    for exc in on_b.opened:
        board.add(exc)
    others = OthersOnTheBoard(board, b_store, "desk-b", poll_s=0.1).start()
    try:
        qtbot.wait(500)  # following from now on

        def handle(action: str, minutes: int) -> None:
            command = exception_command(
                "D1", T0.date(), on_a.id, action, at=T0 + timedelta(minutes=minutes),
                actor="ann@desk-a", snapshot=exception_snapshot(on_a),
            )  # fmt: skip
            with a_store.session() as s:
                apply_command(s, command)

        handle(ACKNOWLEDGE, 2)
        qtbot.waitUntil(lambda: board.get(b_late.id).acknowledged_at is not None, timeout=10_000)
        entry = board.get(b_late.id)
        assert entry.acknowledged_by == "ann@desk-a" and entry.is_open
        assert entry.acknowledged_at == T0 + timedelta(minutes=2)
        assert board.get(b_other.id).acknowledged_at is None
        handle(RESOLVE, 5)
        qtbot.waitUntil(lambda: not board.get(b_late.id).is_open, timeout=10_000)
        assert board.get(b_late.id).resolved_by == "ann@desk-a"
        assert board.get(b_other.id).is_open and board.get(b_other.id).acknowledged_at is None
    finally:
        others.stop()
        a_store.close()
        b_store.close()
