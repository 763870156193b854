"""The routes pane: the day's routes in a sortable table; selecting one shares the selection.
While the day is being planned its summary line says how far the plan is (the best plan so
far: stops served, minutes late, kilometres), over the routes it is about to fill."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.day.routes_model import RoutesTableModel


class RoutesPane(QWidget):
    """Lists every route with vehicle, driver, stop count, load and times."""

    sig_route_selected = Signal(str)

    def __init__(self, model: RoutesTableModel, parent: QWidget | None = None):
        super().__init__(parent)
        self._model = model
        self._quiet = False
        self._proxy = QSortFilterProxyModel(self)
        self._proxy.setSourceModel(model)
        self._summary = QLabel(self)
        self._summary.setObjectName("routes_summary")
        self._summary.setWordWrap(True)
        self._planning = ""  # the progress of the plan being made, while it runs
        self._table = QTableView(self)
        self._table.setObjectName("routes_table")
        self._table.setModel(self._proxy)
        self._table.setSortingEnabled(True)
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._table.verticalHeader().setVisible(False)
        # Sized to the contents once per day loaded, not on every repaint (at fleet scale a
        # live ResizeToContents re-measures every row on each change).
        self._table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # A selected row (a click, the arrow keys), not a moved cursor: the table's first
        # focus sets its current row to the first one without selecting it, and the map
        # flew to that route when a dock tab was clicked.
        self._table.selectionModel().selectionChanged.connect(self._on_table_selection)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self._summary)
        layout.addWidget(self._table)
        model.modelReset.connect(self._update_summary)
        # A stop moved on or off a route changes rows, not the table: the counts follow.
        model.dataChanged.connect(self._update_summary)
        model.modelReset.connect(self._table.resizeColumnsToContents)
        self._update_summary()

    def select_route(self, route_id: str) -> None:
        """Select a route from outside (another pane), without echoing the signal back."""
        row = self._model.row_of(route_id)
        if row < 0:
            return
        proxy_index = self._proxy.mapFromSource(self._model.index(row, 0))
        # The selection model (not the table) is what would echo it back: the map then
        # flew to the whole route whenever one of its stops was clicked.
        self._quiet = True
        try:
            self._table.selectRow(proxy_index.row())
            self._table.scrollTo(proxy_index)
        finally:
            self._quiet = False

    def show_planning(self, progress: str) -> None:
        """The day is being planned: its progress stands in for the summary until it ends."""
        self._planning = progress
        self._update_summary()

    def planning_ended(self) -> None:
        self._planning = ""
        self._update_summary()

    def _update_summary(self, *_changed) -> None:
        if self._planning:
            self._summary.setText(f"Planning: {self._planning}")
            return
        if not self._model.rowCount():
            self._summary.setText("No routes planned yet")
            return
        self._summary.setText(self._model.counts().text)

    def _on_table_selection(self, selected, _deselected) -> None:
        rows = selected.indexes()
        if rows and not self._quiet:
            source = self._proxy.mapToSource(rows[0])
            self.sig_route_selected.emit(self._model.route_id_at(source.row()))
