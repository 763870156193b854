"""A supervisor and a dispatcher live through a demo morning in the real window: what a person
sees, and what is stored."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from sqlalchemy import select

from app.jobs.runner import JobKind
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


def _served(plan) -> dict[str, str]:
    """order id -> vehicle of every stop already served or arrived at."""
    return {s.order_id: r.vehicle_id for r in plan.routes for s in r.stops
            if s.status.value != "planned"}  # fmt: skip


def test_a_supervisor_cancels_a_fleet_replan_then_plans_the_live_day_again(qtbot, desk, tmp_path):
    """Ctrl+R then Esc: no proposal ever comes. Ctrl+P mid-day: a confirmation names the
    locks that will go and the released routes; the day planned again is a proposal; accepted,
    served stops stay on their vehicles; Undo puts the plan back."""
    window = desk("supervisor", "sam", demo_speedup=60.0)
    ctx = window.context
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    proposals: list = []
    ctx.sig_proposal_ready.connect(lambda p, s: proposals.append(p))
    QTest.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(window.cancel_action.isEnabled, timeout=5_000)
    QTest.keyClick(window, Qt.Key.Key_Escape)
    assert "cancelled" in window.status.text
    qtbot.wait(12_000)
    assert proposals == [] and window.last_proposal_dialog is None

    qtbot.waitUntil(lambda: len(_served(ctx.state.plan)) >= 3, timeout=180_000)
    plan = ctx.state.plan
    lock = next(s.order_id for r in plan.routes for s in r.stops if s.status.value == "planned")
    assert window.dispatcher.set_locked([lock], True)
    QTest.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    box = window.last_plan_day_confirm
    assert box.isVisible()
    words = box.text() + box.informativeText()
    assert "The day has started" in words and "1 locked stop unlocked" in words
    assert "as history" in words and "undone" in words
    shot(box, tmp_path, "plan_day_confirm")
    go = next(b for b in box.buttons() if b.text().startswith("Plan again"))
    days: list = []
    ctx.sig_day_proposal_ready.connect(days.append)
    served_before = _served(ctx.state.plan)
    QTest.mouseClick(go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(days), timeout=120_000)
    dialog = window.last_proposal_dialog
    assert dialog.windowTitle() == "Plan the day again (from now)"
    shot(dialog, tmp_path, "plan_day_proposal")
    before = ctx.state.plan
    QTest.mouseClick(dialog.accept_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ctx.state.plan is not before, timeout=20_000)
    after = ctx.state.plan
    served_after = {s.order_id: r.vehicle_id for r in after.routes for s in r.stops}
    assert all(served_after.get(o) == v for o, v in served_before.items())  # history stays
    assert not any(s.locked for r in after.routes for s in r.stops)
    stored = ctx.dispatch.load_plan(ctx.state.index.depot.id, ctx.day)
    assert not any(s.locked for r in stored.routes for s in r.stops)
    shot(window, tmp_path, "plan_day_accepted")
    window.dispatcher.undo_stack.undo()
    qtbot.waitUntil(lambda: any(s.locked for r in ctx.state.plan.routes for s in r.stops),
                    timeout=20_000)  # fmt: skip
    back = ctx.dispatch.load_plan(ctx.state.index.depot.id, ctx.day)
    assert {r.vehicle_id: r.order_ids for r in back.routes} == {
        r.vehicle_id: r.order_ids for r in before.routes}  # fmt: skip


def test_a_dispatcher_is_not_offered_plan_the_day_on_a_live_day(qtbot, desk):
    window = desk("dispatcher", "dana")
    assert not window.plan_action.isEnabled()
    assert "supervisor" in window.plan_action.toolTip()
    window._on_plan_day_triggered()  # even if reached somehow: refused with the reason
    assert "supervisor" in window.status.text
    jobs = window.context.jobs
    assert not jobs.is_running(JobKind.PLAN) and not jobs.is_running(JobKind.REPLAN)
