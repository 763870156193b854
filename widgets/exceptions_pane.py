"""The exceptions pane: a sortable, filterable table of trouble, with actions.

Actions: acknowledge, re-plan the affected routes, reassign the stop (to the engine's
suggested route), resolve. Double-click asks the window to focus map and timeline on it.
The pane only emits requests (``sig_*``); the main window carries them out, and says which
actions the user's role may do (``set_action_allowed``). The rows update in place, so the
selection and the scroll position stay while the rules re-evaluate; the selected
exception is spelled out under the table; when it leaves the table, nothing is chosen
(the buttons never act on a row the dispatcher did not pick).
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.exceptions import model as columns
from app.exceptions.model import ALL, ExceptionsTableModel


class _SeverityDelegate(QStyledItemDelegate):
    """Colours the severity cell from the model's colour role."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802 (Qt name)
        super().initStyleOption(option, index)
        colour = index.data(ExceptionsTableModel.ColourRole)
        if colour:
            option.palette.setColor(option.palette.ColorRole.Text, QColor(colour))
            option.font.setBold(True)


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
        self._model = model  # it filters and sorts itself (see app.exceptions.model)
        self._kept: tuple[str | None, int] = (None, 0)  # chosen id and scroll, over a reset

        self._severity = QComboBox(self)
        self._severity.addItems([ALL, "critical", "warning", "info"])
        self._type = QComboBox(self)
        self._type.addItems([ALL, *self.TYPES])
        self._vehicle = QLineEdit(self)
        self._vehicle.setPlaceholderText("Vehicle, driver or customer…")
        self._vehicle.setClearButtonEnabled(True)
        self._open_only = QCheckBox("Open only", self)
        self._open_only.setChecked(True)
        for signal in (self._severity.currentTextChanged, self._type.currentTextChanged,
                       self._vehicle.textChanged, self._open_only.toggled):  # fmt: skip
            signal.connect(self._on_filter_changed)

        self.table = QTableView(self)
        self.table.setObjectName("exceptions_table")
        # Before the view's selection model connects (it moves the current row away first).
        self._chosen_leaving = False
        model.rowsAboutToBeRemoved.connect(self._before_rows_removed)
        self.table.setModel(model)
        self.table.setItemDelegateForColumn(0, _SeverityDelegate(self.table))
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        widths = {columns.SEVERITY: 62, columns.TYPE: 84, columns.LATE: 58, columns.VEHICLE: 168,
                  columns.CUSTOMER: 176, columns.WINDOW: 84, columns.ETA: 46, columns.AGE: 56,
                  columns.STATE: 96, columns.DETAIL: 320}  # fmt: skip
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        for column, width in widths.items():
            header.resizeSection(column, width)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.details = QLabel(self)
        self.details.setObjectName("exception_details")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setMinimumHeight(4 * self.fontMetrics().lineSpacing())
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.table.selectionModel().currentRowChanged.connect(self._show_details)
        model.dataChanged.connect(self._on_model_data_changed)
        model.modelAboutToBeReset.connect(self._before_reset)
        model.modelReset.connect(self._after_reset)
        model.rowsRemoved.connect(self._after_rows_removed)

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
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addLayout(actions)
        self._show_details()

    def current_exception_id(self) -> str | None:
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        return self._model.data(index, ExceptionsTableModel.ExceptionIdRole)

    def select_exception(self, exception_id: str) -> None:
        row = self._model.row_of(exception_id)
        if row >= 0:
            self.table.setCurrentIndex(self._model.index(row, 0))

    def set_action_allowed(self, key: str, allowed: bool, why: str = "") -> None:
        """Enable an action button (``ack``, ``replan``, ``reassign``, ``resolve``) or
        disable it with a tooltip saying why (e.g. the user's role may not)."""
        button = self._buttons[key]
        button.setEnabled(allowed)
        button.setToolTip("" if allowed else why)

    def button(self, key: str) -> QPushButton:
        return self._buttons[key]

    def visible_count(self) -> int:
        return self._model.rowCount()

    def set_filter(self, *, severity: str = ALL, type_: str = ALL, vehicle: str = "") -> None:
        self._severity.setCurrentText(severity)
        self._type.setCurrentText(type_)
        self._vehicle.setText(vehicle)

    def _emit_for_current(self, signal) -> None:
        exception_id = self.current_exception_id()
        if exception_id:
            signal.emit(exception_id)

    def _on_filter_changed(self, *_args) -> None:
        self._model.set_filter(
            severity=self._severity.currentText(), type_=self._type.currentText(),
            vehicle=self._vehicle.text(), open_only=self._open_only.isChecked(),
        )  # fmt: skip

    def _before_reset(self) -> None:
        self._kept = (self.current_exception_id(), self.table.verticalScrollBar().value())

    def _after_reset(self) -> None:
        """The rows were laid anew (many at once): the chosen exception stays chosen if
        still shown, and the table stays scrolled where it was."""
        chosen, scrolled = self._kept
        if chosen is not None:
            self.select_exception(chosen)
        self.table.verticalScrollBar().setValue(scrolled)
        self._show_details()

    def _before_rows_removed(self, _parent: QModelIndex, first: int, last: int) -> None:
        current = self.table.currentIndex()
        self._chosen_leaving = current.isValid() and first <= current.row() <= last

    def _after_rows_removed(self, *_args) -> None:
        """The chosen exception left the table (resolved, filtered out, handled on another
        desk): nothing is chosen then. Qt would make a neighbouring row current, and the
        next Acknowledge or Resolve would act on an exception the dispatcher never picked."""
        if self._chosen_leaving:
            self._chosen_leaving = False
            self.table.selectionModel().clear()
            self._show_details()

    def _show_details(self, *_args) -> None:
        index = self.table.currentIndex()
        if not index.isValid():
            self.details.setText("Select an exception to see what it is about.")
            return
        self.details.setText(self._model.data(index, Qt.ItemDataRole.ToolTipRole) or "")

    def _on_model_data_changed(self, top: QModelIndex, bottom: QModelIndex, *_roles) -> None:
        current = self.table.currentIndex()
        if current.isValid() and top.row() <= current.row() <= bottom.row():
            self._show_details()

    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        exception_id = self._model.data(index, ExceptionsTableModel.ExceptionIdRole)
        if exception_id:
            self.sig_focus_requested.emit(exception_id)
