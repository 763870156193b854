"""The exceptions pane: sorted by severity, filtered, acknowledged and resolved by a person."""

from dataclasses import replace as _replace
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import Qt

from app.exceptions.board import BoardEntry, ExceptionBoard
from app.exceptions.model import AGE, CUSTOMER, LATE, SEVERITY, STATE, VEHICLE, ExceptionsTableModel
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
    assert _column(view, SEVERITY) == ["critical", "warning", "info"]
    assert _column(view, AGE) == ["2 min", "12 min", "30 min"]


def test_filters_narrow_by_severity_type_and_vehicle(pane):
    """Each filter hides what does not match and showing all again brings it back."""
    view, _, _ = pane
    view.set_filter(severity="warning")
    assert _column(view, VEHICLE) == ["V11"]
    view.set_filter(type_="late risk")
    assert _column(view, CUSTOMER) == ["O12"]
    view.set_filter(vehicle="v03")
    assert _column(view, VEHICLE) == ["V03"]
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
    assert "acknowledged" in _column(view, STATE)
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


def test_rows_update_in_place_and_the_selection_stays(qtbot, pane):
    """A rules pass that changes every row (about once a second) keeps the selected row
    selected and the table scrolled where it was: the buttons act on what was chosen."""
    view, board, model = pane
    for n in range(4, 60):  # enough rows to scroll
        board.apply(
            ExceptionChanges(opened=[_exc(n, ExceptionType.OFF_ROUTE, Severity.INFO, f"V{n}")])
        )
    view.resize(500, 300)
    view.show()
    view.select_exception("E30")
    view.table.verticalScrollBar().setValue(10)
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    for step in range(3):
        changed = [
            _replace(board.get(f"E{n}").exception, detail=f"moved {step}") for n in range(1, 60)
        ]
        board.apply(ExceptionChanges(updated=changed))
    assert not resets
    assert view.current_exception_id() == "E30"
    assert view.table.verticalScrollBar().value() == 10
    assert "moved 2" in view.details.text()
    with qtbot.waitSignal(view.sig_acknowledge_requested) as blocker:
        view.button("ack").click()
    assert blocker.args == ["E30"]


def test_minutes_late_sorts_worst_first(qtbot, pane):
    """The "Min late" column reads minutes and sorts by them, not as text."""
    view, board, _ = pane
    late = [
        _replace(_exc(n, ExceptionType.LATE_RISK, Severity.CRITICAL, "V07", f"O{n}"),
                 minutes_late=m)
        for n, m in ((20, 9.0), (21, 112.0), (22, -4.0))
    ]  # fmt: skip
    board.apply(ExceptionChanges(opened=late))
    view.set_filter(type_="late risk")
    view.table.sortByColumn(LATE, Qt.SortOrder.DescendingOrder)
    assert _column(view, LATE) == ["+112", "+9", "-4", ""]


def test_a_new_exception_is_inserted_without_moving_the_selection(qtbot, pane):
    """A new row appears in its sorted place; the chosen one stays chosen."""
    view, board, _ = pane
    view.select_exception("E3")
    board.apply(
        ExceptionChanges(opened=[_exc(9, ExceptionType.BREAKDOWN, Severity.CRITICAL, "V09")])
    )
    assert view.visible_count() == 4
    assert view.current_exception_id() == "E3"
    assert _column(view, VEHICLE)[0] in ("V07", "V09")


def test_a_chosen_exception_that_leaves_the_table_leaves_nothing_chosen(qtbot, pane):
    """Resolving the chosen exception (here, or on another desk) does not hand the choice to
    the row below it: the next Acknowledge must not act on an exception nobody picked."""
    view, board, _ = pane
    view.show()
    view.select_exception("E2")
    assert board.resolve("E2", T0, "ana")
    assert view.visible_count() == 2
    assert view.current_exception_id() is None
    assert not view.table.selectionModel().hasSelection()
    assert view.details.text() == "Select an exception to see what it is about."
    with qtbot.assertNotEmitted(view.sig_acknowledge_requested):
        view.button("ack").click()
    view.select_exception("E3")  # a row that stays keeps its choice when another leaves
    assert board.resolve("E1", T0, "ana")
    assert view.current_exception_id() == "E3"


def test_a_disabled_action_says_why(qtbot, pane):
    """A dispatcher sees Reassign… greyed out, with the reason as its tooltip."""
    view, _, _ = pane
    view.set_action_allowed("reassign", False, "a supervisor action")
    assert not view.button("reassign").isEnabled()
    assert view.button("reassign").toolTip() == "a supervisor action"


def test_a_board_shown_at_another_moment_updates_only_what_changed(qtbot, pane):
    """A recorded day shown at another moment: rows raised since appear where they sort,
    rows not raised yet go, the chosen exception stays chosen; a jump that changes
    hundreds of rows at once lays the table anew but keeps the choice and the scroll."""
    view, board, model = pane
    view.resize(500, 300)
    view.show()
    base = [board.get(f"E{n}") for n in (1, 2, 3)]
    later = [BoardEntry(_exc(n, ExceptionType.OFF_ROUTE, Severity.WARNING, f"V{n}",
                             minutes_ago=n % 50)) for n in range(10, 400)]  # fmt: skip
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    view.select_exception("E3")
    board.show_entries([*base, *later[:5]])  # five raised since
    assert not resets and view.visible_count() == 8
    assert view.current_exception_id() == "E3"
    assert _column(view, SEVERITY)[:2] == ["critical", "warning"]
    board.show_entries(base[1:])  # back before E1 and the five
    assert not resets and view.visible_count() == 2
    assert _column(view, VEHICLE) == ["V07", "V11"]
    assert view.current_exception_id() == "E3"
    board.show_entries([*base, *later])  # hundreds at once: one reset
    assert len(resets) == 1 and view.visible_count() == 393
    view.table.verticalScrollBar().setValue(40)
    board.show_entries([*base, *later[:200]])
    assert len(resets) == 2 and view.visible_count() == 203
    assert view.current_exception_id() == "E3"
    assert view.table.verticalScrollBar().value() == 40
    assert _column(view, SEVERITY) == ["critical"] + ["warning"] * 201 + ["info"]
