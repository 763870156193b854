"""The KPI pane: a live refresh rewrites only changed rows; KPIs are coloured by their
target; on time by hour, in the pane and the day report, shows clock times."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.kpis import report as day_report
from app.kpis.service import compute_day
from app.kpis.tables import hour_ticks, kpi_lines
from app.store import open_store
from engine.travel import HaversineTravelModel
from tests.app.test_kpis_facts import DAY, record
from widgets.kpi_pane import BAD, GOOD, KpiPane
from widgets.text_table import TextTable, fill_rows


def test_a_refresh_rewrites_changed_rows_and_keeps_the_selected_row(qtbot):
    """A refresh with the same columns and rows updates only what changed: the row the
    person selected stays selected, the changed numbers show, only their row is repainted
    and the table is not laid anew; new columns or another number of rows fill it anew."""
    from PySide6.QtWidgets import QWidget

    host = QWidget()
    qtbot.addWidget(host)
    table = TextTable(host)
    header = ["route", "stops", "late"]
    rows = [[f"R{i}", 2, 0] for i in range(50)]
    fill_rows(table, header, rows, [f"R{i}" for i in range(50)])
    table.selectRow(7)
    changed: list[tuple[int, int]] = []
    resets: list[bool] = []
    table.rows.dataChanged.connect(lambda a, b, _roles: changed.append((a.row(), b.row())))
    table.rows.modelReset.connect(lambda: resets.append(True))
    rows[12][2] = 1  # one stop of R12 turned late
    fill_rows(table, header, rows, [f"R{i}" for i in range(50)])
    assert [i.row() for i in table.selectionModel().selectedRows()] == [7]
    assert table.text(12, 2) == "1" and table.text(11, 2) == "0"
    assert changed == [(12, 12)] and not resets
    model = table.model()
    assert model.data(model.index(12, 0), Qt.ItemDataRole.UserRole) == "R12"
    assert model.data(model.index(12, 1), Qt.ItemDataRole.UserRole) is None
    assert model.data(model.index(12, 2)) == "1"
    assert not model.flags(model.index(12, 2)) & Qt.ItemFlag.ItemIsEditable
    assert model.flags(model.index(12, 2)) & Qt.ItemFlag.ItemIsSelectable

    fill_rows(table, ["route", "stops"], [["R1", 2]], ["R1"])  # another shape: filled anew
    assert resets and table.row_count() == 1 and model.columnCount() == 2
    assert model.headerData(1, Qt.Orientation.Horizontal) == "stops"
    assert table.text(0, 0) == "R1" and table.row_data(0) == "R1"
    assert table.selected_row() is None


def test_a_kpi_table_shows_its_numbers_coloured_by_target_and_a_route_row_narrows_it(qtbot, result):
    """The KPI table colours a value meeting its target green and one missing it red;
    choosing a route in the per-route table shows that route's KPIs and drills down."""
    pane = KpiPane()
    qtbot.addWidget(pane)
    pane.show_result(result, None)
    table, model = pane.kpi_table, pane.kpi_table.model()
    names = [table.row_data(i) for i in range(table.row_count())]
    assert "on_time_delivery_pct" in names and "late_stops" in names
    i = names.index("on_time_delivery_pct")
    line = next(ln for ln in kpi_lines(result) if ln.name == "on_time_delivery_pct")
    assert table.text(i, 1) == line.shown
    color = model.data(model.index(i, 1), Qt.ItemDataRole.ForegroundRole)
    if line.met is None:
        assert color is None
    else:
        assert color.name() == (GOOD if line.met else BAD)
    assert pane.route_table.row_count() == len(result.report.facts.routes)
    route_id = pane.route_table.text(0, 0)
    pane.route_table.selectRow(0)
    assert (pane.scope, pane.key) == ("route", route_id)
    assert table.rows.header[0] == f"KPI of route {route_id}"
    assert all(s.route_id == route_id for s in pane.drill_rows)


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
