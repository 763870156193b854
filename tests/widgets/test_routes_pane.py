"""The routes pane: one name per vehicle, locked stops counted, no echo of a selection."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtCore import Qt

from app.day.routes_model import LOCKED, VEHICLE, RoutesTableModel
from app.day.state import DayState
from engine.model import DayInput
from tests.widgets.test_map_data import sample_day
from widgets.routes_pane import RoutesPane


@pytest.fixture
def pane(qtbot):
    """The routes pane over the sample day, with O2-05 locked to its route."""
    day = sample_day()
    route = day.plan.routes[1]
    stops = tuple(replace(s, locked=s.order_id == "O2-05") for s in route.stops)
    plan = replace(day.plan, routes=(day.plan.routes[0], replace(route, stops=stops),
                                     day.plan.routes[2]))  # fmt: skip
    state = DayState()
    day_input = DayInput(
        plan.day, (day.depot,), tuple(day.vehicles.values()), tuple(day.drivers.values()),
        tuple(day.orders.values()),
    )  # fmt: skip
    state.set_day(day_input, day.depot.id, plan)
    model = RoutesTableModel(state)
    pane = RoutesPane(model)
    qtbot.addWidget(pane)
    pane.show()
    return pane, model


def test_routes_read_by_vehicle_name_and_count_their_locked_stops(pane):
    """``V2 · Van 2 · Driver B`` with "🔒 1" and the locked stop's customer as the tooltip."""
    _, model = pane
    assert model.index(1, VEHICLE).data() == "V2 · Van 2 · Driver B"
    assert model.index(1, LOCKED).data() == "🔒 1"
    assert model.index(0, LOCKED).data() == ""
    assert "Shop O2-05" in model.index(1, LOCKED).data(Qt.ItemDataRole.ToolTipRole)


def test_selecting_from_outside_does_not_echo(qtbot, pane):
    """The map selects a stop's route here; the pane must not answer with 'route selected'
    (the map would fly to the whole route). A person's click still does."""
    view, model = pane
    heard: list[str] = []
    view.sig_route_selected.connect(heard.append)
    view.select_route(model.route_id_at(2))
    assert heard == []
    table = view._table
    other = next(
        table.model().index(r, 0)
        for r in range(table.model().rowCount())
        if table.model().index(r, 0).data(RoutesTableModel.RouteIdRole) != model.route_id_at(2)
    )
    table.setCurrentIndex(other)
    assert heard == [other.data(RoutesTableModel.RouteIdRole)]


def test_a_cursor_moved_by_the_table_itself_selects_no_route(qtbot, pane):
    """Qt moves the table's cursor without selecting (a model reset, rows arriving, the
    first focus): no route is selected, so the map does not fly to one — it flew to the
    first row's route when a dock tab was clicked. Arrow keys from there do select."""
    from PySide6.QtCore import QItemSelectionModel

    view, _ = pane
    heard: list[str] = []
    view.sig_route_selected.connect(heard.append)
    table = view._table
    cursor = table.model().index(1, 0)
    table.selectionModel().setCurrentIndex(cursor, QItemSelectionModel.SelectionFlag.NoUpdate)
    assert heard == [] and not table.selectionModel().hasSelection()
    table.setFocus()
    qtbot.keyClick(table, Qt.Key.Key_Down)
    assert heard == [table.model().index(2, 0).data(RoutesTableModel.RouteIdRole)]


def test_stop_results_on_two_routes_update_those_rows_in_the_sorted_table(qtbot, pane):
    """Live stop results change two routes far apart: the table, sorted by status, shows
    both routes' new status in order, and only those two rows were re-read (at 2,000
    routes, every row between them was re-read and re-sorted once a second)."""
    from app.day.routes_model import STATUS
    from app.day.state import ChangeSource, DayChanges
    from engine.model import RouteStatus

    view, model = pane
    state = model._state
    view._table.sortByColumn(STATUS, Qt.SortOrder.AscendingOrder)
    signalled: list[tuple[int, int]] = []
    model.dataChanged.connect(lambda a, b, *_: signalled.append((a.row(), b.row())))
    plan = state.plan
    first, middle, last = plan.routes
    routes = (replace(first, status=RouteStatus.ACTIVE), middle,
              replace(last, status=RouteStatus.ACTIVE))  # fmt: skip
    state.set_plan(replace(plan, routes=routes),
                   DayChanges(routes=frozenset({first.id, last.id}), source=ChangeSource.TELEMETRY))  # fmt: skip
    assert signalled == [(0, 0), (2, 2)]
    shown = view._table.model()
    by_route = {
        shown.index(r, 0).data(RoutesTableModel.RouteIdRole): shown.index(r, STATUS).data()
        for r in range(shown.rowCount())
    }
    assert by_route[first.id] == by_route[last.id] == RouteStatus.ACTIVE.value
    statuses = [shown.index(r, STATUS).data() for r in range(shown.rowCount())]
    assert statuses == sorted(statuses)


def test_stop_results_alone_leave_the_sorted_table_as_it_is(qtbot, pane):
    """Stops delivered on every route (a replay jump at 2,000 routes) change no cell of the
    routes table: nothing is signalled, so the sorted view does not re-sort; a route whose
    status moves signals its Status cell only."""
    from app.day.routes_model import STATUS
    from app.day.state import ChangeSource, DayChanges
    from engine.model import RouteStatus, StopStatus

    view, model = pane
    state = model._state
    view._table.sortByColumn(STATUS, Qt.SortOrder.AscendingOrder)
    signalled: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(
        lambda a, b, *_: signalled.append((a.row(), a.column(), b.row(), b.column()))
    )
    plan = state.plan
    delivered = tuple(
        replace(r, stops=tuple(replace(s, status=StopStatus.DELIVERED) for s in r.stops))
        for r in plan.routes
    )
    every = frozenset(r.id for r in plan.routes)
    state.set_plan(replace(plan, routes=delivered),
                   DayChanges(routes=every, source=ChangeSource.TELEMETRY))  # fmt: skip
    assert signalled == []
    assert all(s.status is StopStatus.DELIVERED for r in model.rows() for s in r.stops)
    first = replace(delivered[0], status=RouteStatus.ACTIVE)
    state.set_plan(replace(plan, routes=(first, *delivered[1:])),
                   DayChanges(routes=every, source=ChangeSource.TELEMETRY))  # fmt: skip
    assert signalled == [(0, STATUS, 0, STATUS)]
    shown = view._table.model()
    statuses = [shown.index(r, STATUS).data() for r in range(shown.rowCount())]
    assert statuses == sorted(statuses) and RouteStatus.ACTIVE.value in statuses


def test_the_summary_counts_routed_stops_and_unassigned_orders_as_the_plan_changes(qtbot):
    """The day has 25 orders, 24 of them on the three routes: the pane says so ("3 routes ·
    24 routed stops · 1 unassigned", as the KPI pane's heading counts them); a stop taken
    off its route (rows change, the table is not reset) moves one count to the other."""
    from app.day.state import ChangeSource, DayChanges
    from engine.model import Order

    day = sample_day()
    extra = replace(next(iter(day.orders.values())), id="O9-01", customer="Shop O9-01")
    orders: dict[str, Order] = {**day.orders, extra.id: extra}
    state = DayState()
    state.set_day(DayInput(day.plan.day, (day.depot,), tuple(day.vehicles.values()),
                           tuple(day.drivers.values()), tuple(orders.values())),
                  day.depot.id, day.plan)  # fmt: skip
    model = RoutesTableModel(state)
    view = RoutesPane(model)
    qtbot.addWidget(view)
    assert view._summary.text() == "3 routes · 24 routed stops · 1 unassigned"
    last = day.plan.routes[2]
    shorter = replace(last, stops=last.stops[:-1])
    state.set_plan(replace(day.plan, routes=(*day.plan.routes[:2], shorter)),
                   DayChanges(routes=frozenset({last.id}), source=ChangeSource.CANCEL_ORDER))  # fmt: skip
    assert view._summary.text() == "3 routes · 23 routed stops · 2 unassigned"
