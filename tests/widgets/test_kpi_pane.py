"""The KPI pane: a live refresh rewrites only changed cells; on time by hour, in the pane and
the day report, shows clock times."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.kpis import report as day_report
from app.kpis.service import compute_day
from app.kpis.tables import hour_ticks
from app.store import open_store
from engine.travel import HaversineTravelModel
from tests.app.test_kpis_facts import DAY, record
from widgets.kpi_pane import KpiPane, _fill, _table


def test_a_refresh_rewrites_changed_cells_and_keeps_the_selected_row(qtbot):
    """A refresh with the same columns and rows updates only what changed: the row the
    person selected stays selected, the changed numbers show, the rest is as it was; new
    columns or another number of rows fill the table anew."""
    from PySide6.QtWidgets import QWidget

    host = QWidget()
    qtbot.addWidget(host)
    table = _table(host)
    header = ["route", "stops", "late"]
    rows = [[f"R{i}", 2, 0] for i in range(50)]
    _fill(table, header, rows, [f"R{i}" for i in range(50)])
    table.selectRow(7)
    kept = table.item(3, 1)
    rows[12][2] = 1  # one stop of R12 turned late
    _fill(table, header, rows, [f"R{i}" for i in range(50)])
    assert [i.row() for i in table.selectionModel().selectedRows()] == [7]
    assert table.item(12, 2).text() == "1" and table.item(11, 2).text() == "0"
    assert table.item(3, 1) is kept  # not made again
    assert table.item(12, 0).data(Qt.ItemDataRole.UserRole) == "R12"
    assert not table.item(12, 2).flags() & Qt.ItemFlag.ItemIsEditable

    _fill(table, ["route", "stops"], [["R1", 2]], ["R1"])  # another shape: filled anew
    assert table.rowCount() == 1 and table.columnCount() == 2
    assert table.horizontalHeaderItem(1).text() == "stops"
    assert table.item(0, 0).text() == "R1"


@pytest.fixture
def result(tmp_path):
    """The small recorded day's KPIs: arrivals at 08:20, 08:25, 08:50 and 09:35."""
    store = open_store(f"sqlite:///{tmp_path / 'desk.sqlite3'}", workstation="desk")
    try:
        record(store)
        yield compute_day(store, "D1", DAY, save=False, travel=HaversineTravelModel())
    finally:
        store.close()


def test_on_time_by_hour_is_labelled_with_clock_hours(qtbot, result):
    pane = KpiPane()
    qtbot.addWidget(pane)
    pane.show_result(result, None)
    ticks = pane.hour_plot.getAxis("bottom")._tickLevels
    assert ticks == [[(8, "08:00"), (9, "09:00")]]
    fig = day_report._charts_page(result, None, 2)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["08:00", "09:00"]


def test_a_long_day_labels_every_second_hour_on_the_hour():
    assert hour_ticks([6, 7, 8]) == [(6, "06:00"), (7, "07:00"), (8, "08:00")]
    long_day = hour_ticks(range(5, 22))  # 17 hours: every second one, on even hours
    assert [label for _, label in long_day][:3] == ["06:00", "08:00", "10:00"]
    assert long_day[-1] == (20, "20:00") and len(long_day) == 8
    assert hour_ticks([]) == []


def test_the_heading_counts_routed_stops_and_unassigned_orders_as_the_routes_pane(qtbot, tmp_path):
    """A day of five orders, four on the two routes and one on none: the KPI pane's heading
    says "2 routes · 4 routed stops · 1 unassigned", the routes pane says the same of the
    same day, and the stop KPIs count the five (the unassigned order as never reached)."""
    from dataclasses import replace

    from app.day.routes_model import RoutesTableModel
    from app.day.state import DayState
    from app.store import repository
    from engine.model import Unassigned, UnassignedReason
    from tests.app.test_kpis_facts import small_day
    from widgets.routes_pane import RoutesPane

    day, plan = small_day()
    extra = replace(day.orders[0], id="E", customer="Cust E")
    day = replace(day, orders=(*day.orders, extra))
    plan = replace(plan, unassigned=(Unassigned("E", UnassignedReason.NO_FEASIBLE_ROUTE),))
    store = open_store(f"sqlite:///{tmp_path / 'desk.sqlite3'}", workstation="desk")
    try:
        record(store)
        with store.session() as s:
            repository.upsert_day(s, day, actor="test")
        with store.session() as s:
            repository.save_plan(s, plan, actor="test")
        result = compute_day(store, "D1", DAY, save=False, travel=HaversineTravelModel())
    finally:
        store.close()
    pane = KpiPane()
    qtbot.addWidget(pane)
    pane.show_result(result, None)
    heading = pane.heading.text()
    assert "2 routes · 4 routed stops · 1 unassigned (counted as never reached)" in heading
    assert "5 stops" not in heading  # the routed and the unassigned, not lumped together
    state = DayState()
    state.set_day(day, "D1", plan)
    routes = RoutesPane(RoutesTableModel(state))
    qtbot.addWidget(routes)
    assert routes._summary.text() == "2 routes · 4 routed stops · 1 unassigned"
    on_time = result.report.value("on_time_delivery_pct")
    assert (on_time.numerator, on_time.denominator) == (2, 5)  # A, C of 4 routed + 1 unassigned
    assert result.report.value("late_stops").value == 3  # B late, D never reached, E on no route
