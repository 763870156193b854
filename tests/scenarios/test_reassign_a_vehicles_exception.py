"""Reassign… on an exception about a vehicle (a breakdown, idle, off route, a silent
tracker) moves the vehicle's next open stop to the route the engine suggests for it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.rules import ExceptionType, LiveException, Severity
from tests.scenarios.conftest import shot


def _a_van_stopped(ctx, exception_id: str):
    """A "stopped" exception on the first route with three stops or more, on the board;
    returns that route and its first stop's order."""
    route = next(r for r in ctx.state.plan.routes if len(r.stops) >= 3)
    ctx.board.add(LiveException(
        id=exception_id, type=ExceptionType.STOPPED, severity=Severity.WARNING,
        vehicle_id=route.vehicle_id, order_id=None, detected_at=ctx.now(),
        detail=f"{route.vehicle_id} has not moved for 12 min", suggested_action="Call the driver",
    ))  # fmt: skip
    return route, route.stops[0].order_id


def test_reassign_on_a_stopped_vehicle_moves_its_next_open_stop(qtbot, desk, tmp_path):
    """A vehicle stopped with stops to go: select its exception (no stop of its own) and
    press Reassign…: its next stop is on another route, the move is on the undo stack, the
    exception acknowledged. It used to say "No route to suggest for this exception"."""
    window = desk("supervisor", "sam", simulate=False)
    ctx = window.context
    route, first = _a_van_stopped(ctx, "stopped-test")
    pane = window.exceptions_pane
    pane.select_exception("stopped-test")
    assert pane.current_exception_id() == "stopped-test"
    QTest.mouseClick(pane.button("reassign"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ctx.state.plan.route_of(first).id != route.id, timeout=60_000)
    moved_to = ctx.state.plan.route_of(first)
    assert moved_to.vehicle_id != route.vehicle_id
    assert window.dispatcher.undo_stack.canUndo()
    assert ctx.board.get("stopped-test").acknowledged_by == ctx.actor
    assert "No route to suggest" not in window.status.text
    shot(window, tmp_path, "reassigned_next_stop")


def test_reassign_on_a_vehicle_with_nothing_left_says_so(qtbot, desk):
    """A vehicle exception on a vehicle without a route today: the status bar says there
    is nothing to reassign, naming the vehicle, and nothing changes."""
    window = desk("supervisor", "sam", simulate=False)
    ctx = window.context
    on_routes = {r.vehicle_id for r in ctx.state.plan.routes if r.stops}
    idle = next(v for v in ctx.state.index.vehicles if v not in on_routes)
    ctx.board.add(LiveException(
        id="silent-test", type=ExceptionType.TELEMETRY_SILENT, severity=Severity.WARNING,
        vehicle_id=idle, order_id=None, detected_at=ctx.now(),
        detail=f"no fix from {idle} for 6 min", suggested_action="Call the driver",
    ))  # fmt: skip
    plan = ctx.state.plan
    pane = window.exceptions_pane
    pane.select_exception("silent-test")
    QTest.mouseClick(pane.button("reassign"), Qt.MouseButton.LeftButton)
    assert window.status.text.startswith(f"Nothing to reassign: {idle}")
    assert ctx.state.plan is plan


def test_the_first_reassign_of_the_day_answers_from_the_context_built_ahead(qtbot, desk):
    """Once the plan is shown the window builds the whole day's engine context on a worker:
    the day's first Reassign… (the engine's suggestions) answers from it instead of
    building the day's travel matrices while the dispatcher waits."""
    from app.jobs.runner import JobKind

    window = desk("supervisor", "sam", simulate=False)
    ctx = window.context
    qtbot.waitUntil(lambda: ctx.dispatch.context_builds == 1
                    and not ctx.jobs.is_running(JobKind.PREPARE), timeout=60_000)  # fmt: skip
    route, first = _a_van_stopped(ctx, "stopped-first")
    pane = window.exceptions_pane
    pane.select_exception("stopped-first")
    QTest.mouseClick(pane.button("reassign"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: ctx.state.plan.route_of(first).id != route.id, timeout=60_000)
    assert ctx.dispatch.context_builds == 1  # the click built no context of its own
