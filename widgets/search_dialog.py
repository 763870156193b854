"""Edit ▸ Find order… (Ctrl+F): type an order id, a customer or an address; pick a hit.

The list follows each keystroke (every word must appear, accents and case ignored); Enter
or a double-click on a hit asks the window to focus the map and the timeline on it. The
dialog stays open (not modal) so the next search is one keystroke away. Cancelled orders
are found too, and say so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.day.search import OrderHit

COLUMNS = ("Order", "Customer", "Address", "Route", "Status", "Window", "Planned")


class SearchDialog(QDialog):
    """Find an order and focus the map and the timeline on it."""

    sig_hit_chosen = Signal(str)  # order id
    sig_change_requested = Signal(str)  # order id: open Change order…
    sig_cancel_requested = Signal(str)  # order id: open Cancel order…

    def __init__(
        self,
        search: Callable[[str], list[OrderHit]],
        vehicle_label: Callable[[str], str] = str,
        clock: Callable[[datetime], str] = lambda moment: "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find order")
        self.setObjectName("search_dialog")
        self.setModal(False)
        self.search, self.vehicle_label, self.clock = search, vehicle_label, clock
        self.hits: list[OrderHit] = []
        self.query = QLineEdit(self)
        self.query.setObjectName("search_query")
        self.query.setPlaceholderText("order id, customer or address")
        self.query.setClearButtonEnabled(True)
        self.query.textChanged.connect(self.refresh)
        self.query.returnPressed.connect(self.choose_current)
        self.count = QLabel(self)
        self.count.setObjectName("search_count")
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("search_hits")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemDoubleClicked.connect(lambda _item: self.choose_current())
        self.table.itemSelectionChanged.connect(self._on_selection)
        actions = QHBoxLayout()
        self.show_button = QPushButton("&Show on map", self)
        self.change_button = QPushButton("C&hange order…", self)
        self.cancel_button = QPushButton("Ca&ncel order…", self)
        self.show_button.clicked.connect(self.choose_current)
        self.change_button.clicked.connect(lambda: self._request(self.sig_change_requested))
        self.cancel_button.clicked.connect(lambda: self._request(self.sig_cancel_requested))
        actions.addWidget(self.count, 1)
        for button in (self.show_button, self.change_button, self.cancel_button):
            button.setAutoDefault(False)
            actions.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addLayout(actions)
        layout.addWidget(self.table, 1)
        self._update_buttons()
        self.resize(980, 440)

    def open_for_search(self) -> None:
        """Show, raise, and put the cursor in the search box with its text selected."""
        self.show()
        self.raise_()
        self.activateWindow()
        self.query.setFocus()
        self.query.selectAll()

    def refresh(self) -> None:
        """Search again (after a keystroke, or when the day's orders changed), keeping the
        selected order selected."""
        chosen = self.current()
        text = self.query.text()
        self.hits = self.search(text) if text.strip() else []
        self.table.setRowCount(len(self.hits))
        for row, hit in enumerate(self.hits):
            route = self.vehicle_label(hit.vehicle_id) if hit.vehicle_id else "—"
            cells = (hit.order_id, hit.customer, hit.address, route, hit.status, hit.window,
                     self.clock(hit.planned_arrival) if hit.planned_arrival else "")  # fmt: skip
            for col, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if not hit.on_map:
                    item.setForeground(QColor("#9e9e9e"))
                self.table.setItem(row, col, item)
        if self.hits:
            ids = [h.order_id for h in self.hits]
            keep = chosen.order_id if chosen is not None and chosen.order_id in ids else None
            self.table.selectRow(ids.index(keep) if keep else 0)
        shown = len(self.hits)
        self.count.setText(
            ""
            if not text.strip()
            else f"{shown} order{'s' if shown != 1 else ''} found"
            + (" (first 50)" if shown >= 50 else "")
        )
        self._update_buttons()

    def current(self) -> OrderHit | None:
        rows = self.table.selectionModel().selectedRows()
        return self.hits[rows[0].row()] if rows and self.hits else None

    def _request(self, signal) -> None:
        hit = self.current()
        if hit is not None:
            signal.emit(hit.order_id)

    def _update_buttons(self) -> None:
        hit = self.current()
        open_order = hit is not None and hit.status not in ("cancelled", "delivered", "failed",
                                                            "skipped", "arrived")  # fmt: skip
        self.show_button.setEnabled(hit is not None and hit.on_map)
        self.change_button.setEnabled(open_order)
        self.cancel_button.setEnabled(open_order)

    def _on_selection(self) -> None:
        self._update_buttons()
        hit = self.current()
        # Arrows or a click in the list follow on the map; typing does not move it.
        if hit is not None and hit.on_map and self.table.hasFocus():
            self.sig_hit_chosen.emit(hit.order_id)

    def choose_current(self) -> None:
        hit = self.current()
        if hit is not None:
            self.sig_hit_chosen.emit(hit.order_id)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up) and self.query.hasFocus():
            self.table.setFocus()
            self.table.keyPressEvent(event)
            return
        super().keyPressEvent(event)
