"""The exceptions pane: sorted by severity, filtered, acknowledged and resolved by a person."""

from datetime import UTC, datetime, timedelta

import pytest

from app.exceptions.board import ExceptionBoard
from app.exceptions.model import ExceptionsTableModel
from engine.rules import ExceptionChanges, ExceptionType, LiveException, Severity
from widgets.exceptions_pane import ExceptionsPane

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def _exc(n, type_, severity, vehicle, order=None, minutes_ago=5):
    return LiveException(
        f"E{n}", type_, severity, vehicle, order, T0 - timedelta(minutes=minutes_ago),
        f"detail {n}", "Re-plan", None,
    )  # fmt: skip


@pytest.fixture
def pane(qtbot):
    """A pane over a board with a late risk, a silent tracker and an idle vehicle."""
    board = ExceptionBoard()
    model = ExceptionsTableModel(board, clock=lambda: T0)
    pane = ExceptionsPane(model)
    qtbot.addWidget(pane)
    board.apply(
        ExceptionChanges(
            opened=[
                _exc(1, ExceptionType.STOPPED, Severity.INFO, "V03", minutes_ago=30),
                _exc(2, ExceptionType.LATE_RISK, Severity.CRITICAL, "V07", "O12", minutes_ago=2),
                _exc(3, ExceptionType.TELEMETRY_SILENT, Severity.WARNING, "V11", minutes_ago=12),
            ]
        )
    )
    return pane, board, model


def _column(pane, column):
    table = pane.table
    return [table.model().index(r, column).data() for r in range(table.model().rowCount())]


def test_open_exceptions_are_listed_worst_first(pane):
    """Critical before warning before info; ages read in minutes."""
    view, _, _ = pane
    assert _column(view, 0) == ["critical", "warning", "info"]
    assert _column(view, 4) == ["2 min", "12 min", "30 min"]


def test_filters_narrow_by_severity_type_and_vehicle(pane):
    """Each filter hides what does not match and showing all again brings it back."""
    view, _, _ = pane
    view.set_filter(severity="warning")
    assert _column(view, 2) == ["V11"]
    view.set_filter(type_="late risk")
    assert _column(view, 3) == ["O12"]
    view.set_filter(vehicle="v03")
    assert _column(view, 2) == ["V03"]
    view.set_filter()
    assert view.visible_count() == 3


def test_acknowledge_and_resolve_keep_the_times(qtbot, pane):
    """Acknowledging marks it; resolving hides it from the open list and keeps all times."""
    view, board, _ = pane
    view.select_exception("E2")
    with qtbot.waitSignal(view.sig_acknowledge_requested) as blocker:
        view._buttons["ack"].click()
    assert blocker.args == ["E2"]
    assert board.acknowledge("E2", T0, "ana")
    assert "acknowledged" in _column(view, 7)
    assert board.resolve("E2", T0 + timedelta(minutes=4), "ana")
    assert view.visible_count() == 2
    entry = board.get("E2")
    assert entry.acknowledged_at == T0
    assert entry.exception.resolved_at == T0 + timedelta(minutes=4)


def test_double_click_requests_focus(qtbot, pane):
    """Double-clicking a row asks the window to focus on that exception."""
    view, _, _ = pane
    index = view.table.model().index(0, 1)
    with qtbot.waitSignal(view.sig_focus_requested) as blocker:
        view.table.doubleClicked.emit(index)
    assert blocker.args == ["E2"]
