"""A supervisor and a dispatcher live through a demo morning in the real window: what a person
sees, and what is stored."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from sqlalchemy import select

from app.store.models import ChangeLogRow, ExceptionRow
from tests.scenarios.conftest import shot


def _worst_row(window):
    """Select the top row of the exceptions table (sorted worst first) and return its id."""
    pane = window.exceptions_pane
    pane.table.selectRow(0)
    return pane.current_exception_id()


def test_the_worst_exception_acknowledged_stays_acknowledged_after_a_restart(qtbot, desk, tmp_path):
    """Select the worst exception and press Acknowledge: the row says so and keeps its
    selection through the rules' passes; it is stored (who, when, in the change log); after a
    restart it is on the board again, still acknowledged, under the same id, once."""
    window = desk("supervisor", "sam")
    ctx = window.context
    pane = window.exceptions_pane
    qtbot.waitUntil(lambda: pane.visible_count() > 0, timeout=120_000)
    exception_id = _worst_row(window)
    assert exception_id
    QTest.mouseClick(pane.button("ack"), Qt.MouseButton.LeftButton)
    entry = ctx.board.get(exception_id)
    assert entry is not None and entry.acknowledged_by == ctx.actor
    qtbot.wait(3000)  # a few passes of the rules
    assert pane.current_exception_id() == exception_id  # the selection stayed
    row = window.exceptions_model.row_of(exception_id)
    state = window.exceptions_model.index(row, 8).data()
    assert state == "acknowledged"
    shot(window, tmp_path, "acknowledged")
    with ctx.store.read_session() as s:
        stored = s.get(ExceptionRow, exception_id)
        assert stored.acknowledged_by == ctx.actor and stored.acknowledged_at is not None
        logged = s.scalars(
            select(ChangeLogRow).where(
                ChangeLogRow.entity == "exception", ChangeLogRow.entity_id == exception_id
            )
        )
        assert [r.after["action"] for r in logged] == ["acknowledge"]
    open_before = {e.id for e in ctx.board.open_entries()}
    window.close()
    ctx.shutdown()

    again = desk("supervisor", "sam")
    board = again.context.board
    qtbot.waitUntil(lambda: board.get(exception_id) is not None, timeout=30_000)
    entry = board.get(exception_id)
    assert entry.acknowledged_by == ctx.actor
    restored = {e.id for e in board.entries()} & open_before
    assert restored  # the open ones came back under their ids
    keys = [(e.exception.type, e.exception.vehicle_id, e.exception.order_id)
            for e in board.open_entries()]  # fmt: skip
    assert len(keys) == len(set(keys))  # one open exception per condition
    again.exceptions_pane.select_exception(exception_id)
    shot(again, tmp_path, "acknowledged_after_restart")
    with again.context.store.read_session() as s:
        rows = s.scalars(select(ExceptionRow).where(ExceptionRow.resolved_at.is_(None))).all()
        conditions = [(r.type, r.vehicle_id, r.order_id) for r in rows]
        assert len(conditions) == len(set(conditions))
