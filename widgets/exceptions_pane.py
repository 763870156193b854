"""The exceptions pane: a sortable, filterable table of trouble, with actions.

Actions: acknowledge, re-plan the affected routes, reassign the stop (to the engine's
suggested route), resolve. Double-click asks the window to focus map and timeline on it.
The pane only emits requests (``sig_*``); the main window carries them out.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.exceptions.model import ExceptionsTableModel

ALL = "All"


class _SeverityDelegate(QStyledItemDelegate):
    """Colours the severity cell from the model's colour role."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802 (Qt name)
        super().initStyleOption(option, index)
        colour = index.data(ExceptionsTableModel.ColourRole)
        if colour:
            option.palette.setColor(option.palette.ColorRole.Text, QColor(colour))
            option.font.setBold(True)


class _Filter(QSortFilterProxyModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.severity = ALL
        self.type = ALL
        self.vehicle = ""
        self.open_only = True
        self.setSortRole(ExceptionsTableModel.SortRole)

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:  # noqa: N802
        model: ExceptionsTableModel = self.sourceModel()
        entry = model.entry_at(row)
        exc = entry.exception
        if self.open_only and not entry.is_open:
            return False
        if self.severity != ALL and exc.severity.value != self.severity:
            return False
        if self.type != ALL and exc.type.value.replace("_", " ") != self.type:
            return False
        return not self.vehicle or self.vehicle.lower() in (exc.vehicle_id or "").lower()


class ExceptionsPane(QWidget):
    """Table + filters + action buttons over the exception board."""

    sig_acknowledge_requested = Signal(str)
    sig_resolve_requested = Signal(str)
    sig_replan_requested = Signal(str)
    sig_reassign_requested = Signal(str)
    sig_focus_requested = Signal(str)  # exception id

    TYPES = ("late risk", "failed attempt", "stopped", "off route", "telemetry silent",
             "capacity", "breakdown", "sync conflict")  # fmt: skip

    def __init__(self, model: ExceptionsTableModel, parent: QWidget | None = None):
        super().__init__(parent)
        self._model = model
        self._proxy = _Filter(self)
        self._proxy.setSourceModel(model)

        self._severity = QComboBox(self)
        self._severity.addItems([ALL, "critical", "warning", "info"])
        self._type = QComboBox(self)
        self._type.addItems([ALL, *self.TYPES])
        self._vehicle = QLineEdit(self)
        self._vehicle.setPlaceholderText("Vehicle…")
        self._vehicle.setClearButtonEnabled(True)
        self._open_only = QCheckBox("Open only", self)
        self._open_only.setChecked(True)
        for signal in (self._severity.currentTextChanged, self._type.currentTextChanged,
                       self._vehicle.textChanged, self._open_only.toggled):  # fmt: skip
            signal.connect(self._on_filter_changed)

        self.table = QTableView(self)
        self.table.setObjectName("exceptions_table")
        self.table.setModel(self._proxy)
        self.table.setItemDelegateForColumn(0, _SeverityDelegate(self.table))
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((70, 110, 70, 130, 60, 260)):
            header.resizeSection(column, width)
        self.table.doubleClicked.connect(self._on_table_double_clicked)

        self._buttons: dict[str, QPushButton] = {}
        actions = QHBoxLayout()
        for key, label, signal in (
            ("ack", "Acknowledge", self.sig_acknowledge_requested),
            ("replan", "Re-plan routes", self.sig_replan_requested),
            ("reassign", "Reassign…", self.sig_reassign_requested),
            ("resolve", "Resolve", self.sig_resolve_requested),
        ):
            button = QPushButton(label, self)
            button.clicked.connect(lambda _=False, s=signal: self._emit_for_current(s))
            actions.addWidget(button)
            self._buttons[key] = button
        actions.addStretch(1)

        filters = QHBoxLayout()
        for widget in (self._severity, self._type, self._vehicle, self._open_only):
            filters.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(filters)
        layout.addWidget(self.table)
        layout.addLayout(actions)

    def current_exception_id(self) -> str | None:
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        return self._proxy.data(index, ExceptionsTableModel.ExceptionIdRole)

    def select_exception(self, exception_id: str) -> None:
        row = self._model.row_of(exception_id)
        if row >= 0:
            index = self._proxy.mapFromSource(self._model.index(row, 0))
            self.table.setCurrentIndex(index)

    def visible_count(self) -> int:
        return self._proxy.rowCount()

    def set_filter(self, *, severity: str = ALL, type_: str = ALL, vehicle: str = "") -> None:
        self._severity.setCurrentText(severity)
        self._type.setCurrentText(type_)
        self._vehicle.setText(vehicle)

    def _emit_for_current(self, signal) -> None:
        exception_id = self.current_exception_id()
        if exception_id:
            signal.emit(exception_id)

    def _on_filter_changed(self, *_args) -> None:
        self._proxy.severity = self._severity.currentText()
        self._proxy.type = self._type.currentText()
        self._proxy.vehicle = self._vehicle.text().strip()
        self._proxy.open_only = self._open_only.isChecked()
        self._proxy.invalidate()

    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        exception_id = self._proxy.data(index, ExceptionsTableModel.ExceptionIdRole)
        if exception_id:
            self.sig_focus_requested.emit(exception_id)
