"""A table model over the day's routes: one row per route, for the routes pane.

A route reads by its vehicle's one name (``V18 · Truck 01 · Yara Kowal``); "Locked" counts
the stops locked to it; "Editing" says who else is editing it right now (other workstations
on a shared database, fed by ``set_editors``)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt

from app.day.counts import DayCounts
from app.day.state import DayChanges, DayState
from app.day.table_model import RowsTableModel
from engine.model import Route

_Index = QModelIndex | QPersistentModelIndex

COLUMNS = (
    "Vehicle", "Stops", "Locked", "Status", "Editing", "Start", "End", "Load kg", "Load m³",
    "Route",
)  # fmt: skip
VEHICLE, STOPS, LOCKED, STATUS, EDITING, START, END, LOAD_KG, LOAD_M3, ROUTE = range(len(COLUMNS))
EDITING_COLUMN = EDITING
_NUMBERS = (STOPS, LOCKED, LOAD_KG, LOAD_M3)


#: Changed rows are signalled run by run up to this many runs, else as one span.
MAX_RUNS = 16


class RoutesTableModel(RowsTableModel):
    """Adapter over DayState.routes; the list itself lives in DayState."""

    columns = COLUMNS

    RouteIdRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self, state: DayState, parent: QObject | None = None):
        super().__init__(parent)
        self._state = state
        self._routes: tuple[Route, ...] = ()
        self._editors: dict[str, str] = {}
        self._counted: tuple[object, object, DayCounts] | None = None
        state.sig_changed.connect(self._on_state_changed)
        self._reload()

    def rows(self):
        return self._routes

    def data(self, index: _Index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        route = self._routes[index.row()]
        if role == self.RouteIdRole:
            return route.id
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() in _NUMBERS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == LOCKED:
            locked = [s.order_id for s in route.stops if s.locked]
            labels = self._state.labels
            return "\n".join(f"Locked: {labels.customer(o)} ({o})" for o in locked) or None
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return self._cell(route, index.column())

    def counts(self) -> DayCounts:
        """The day's routes, stops on them and orders on none, as the plan is now (the
        KPI pane's heading counts the same)."""
        state = self._state
        kept = self._counted
        if kept is not None and kept[0] is state.plan and kept[1] is state.index:
            return kept[2]  # the same plan and day objects (a plan is never changed in place)
        orders = state.index.orders if state.index is not None else {}
        counts = DayCounts.of((r.order_ids for r in state.routes), orders)
        self._counted = (state.plan, state.index, counts)
        return counts

    def set_editors(self, editors: dict[str, str]) -> None:
        """route id -> who else edits it now (e.g. ``bob@desk-2``); shown in "Editing"."""
        if editors == self._editors:
            return
        self._editors = dict(editors)
        if self._routes:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._routes) - 1, EDITING_COLUMN)
            )

    def editors_of(self, route_id: str) -> str:
        return self._editors.get(route_id, "")

    def route_id_at(self, row: int) -> str:
        return self._routes[row].id

    def row_of(self, route_id: str) -> int:
        for row, route in enumerate(self._routes):
            if route.id == route_id:
                return row
        return -1

    def _cell(self, route: Route, column: int):
        index = self._state.index
        if column == VEHICLE:
            name = self._state.labels.vehicle(route.vehicle_id)
            who = self._editors.get(route.id)
            return f"{name}  ✎ {who}" if who else name  # seen without scrolling to Editing
        if column == STOPS:
            return len(route.stops)
        if column == LOCKED:
            locked = sum(1 for s in route.stops if s.locked)
            return f"🔒 {locked}" if locked else ""
        if column in (LOAD_KG, LOAD_M3):
            dim = "kg" if column == LOAD_KG else "m3"
            orders = index.orders if index else {}
            total = sum(
                orders[s.order_id].demand.get(dim, 0.0) for s in route.stops if s.order_id in orders
            )
            return f"{total:,.0f}" if dim == "kg" else f"{total:,.1f}"
        if column in (START, END):
            return self._clock(route.start if column == START else route.end)
        if column == EDITING:
            return self._editors.get(route.id, "")
        if column == ROUTE:
            return route.id
        return route.status.value

    def _clock(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        index = self._state.index
        zone = ZoneInfo(index.depot.timezone) if index else None
        return moment.astimezone(zone).strftime("%H:%M")

    def _on_state_changed(self, changes: DayChanges) -> None:
        if not (changes.everything or changes.routes):
            return
        new = tuple(self._state.routes)
        if changes.everything or [r.id for r in new] != [r.id for r in self._routes]:
            self._reload()
            return
        # Same routes, new contents: repaint just those rows (a reset would make every view
        # re-measure every row, which at fleet scale stalls the window).
        old, self._routes = self._routes, new
        rows, columns = [], set()
        for row, route in enumerate(new):
            if route.id in changes.routes:
                moved = _changed_columns(old[row], route)
                if moved:  # stop results alone (a replay jump: most routes) show in no cell
                    rows.append(row)
                    columns |= moved
        if not rows:
            return
        # A few changed rows (stop results: a route or two a second): a signal per run of
        # rows, so a sorted view re-reads those rows only, not every row between the first
        # and the last (the whole fleet when they are far apart). Many (a replay jump moves
        # most routes at once): one signal from the first to the last, as a signal per row
        # would cost the views a re-sort each.
        runs = [[rows[0], rows[0]]]
        for row in rows[1:]:
            if row == runs[-1][1] + 1:
                runs[-1][1] = row
            else:
                runs.append([row, row])
        if len(runs) > MAX_RUNS:
            runs = [[rows[0], rows[-1]]]
        # Only the columns whose values moved: a sorted view re-sorts when its sort
        # column is among those signalled, not when a route's other cells changed.
        spans = _spans(sorted(columns))
        for first, last in runs:
            for left, right in spans:
                self.dataChanged.emit(self.index(first, left), self.index(last, right))

    def _reload(self) -> None:
        self.beginResetModel()
        self._routes = tuple(r for r in self._state.routes)
        self.endResetModel()


def _cell_inputs(route: Route) -> tuple:
    """What each column's cell of a route reads (by column; "Editing" reads no route)."""
    return (
        route.vehicle_id, len(route.stops), tuple(s.locked for s in route.stops),
        route.status, None, route.start, route.end, route.order_ids, route.order_ids, route.id,
    )  # fmt: skip


def _changed_columns(old: Route, new: Route) -> set[int]:
    """The columns whose cells differ between two versions of a route."""
    if old is new:
        return set()
    return {c for c, (a, b) in enumerate(zip(_cell_inputs(old), _cell_inputs(new), strict=True))
            if a != b}  # fmt: skip


def _spans(columns: list[int]) -> list[tuple[int, int]]:
    """Sorted column numbers as runs of neighbours: [1, 2, 5] -> [(1, 2), (5, 5)]."""
    spans: list[tuple[int, int]] = []
    for c in columns:
        if spans and spans[-1][1] == c - 1:
            spans[-1] = (spans[-1][0], c)
        else:
            spans.append((c, c))
    return spans
