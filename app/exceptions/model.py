"""A table model over the exception board: severity, type, vehicle, stop, age, action."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt

from app.day.table_model import RowsTableModel
from app.exceptions.board import SEVERITY_RANK, BoardEntry, ExceptionBoard

_Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("Severity", "Type", "Vehicle", "Stop", "Age", "Detail", "Suggested action", "State")
SEVERITY_COLOURS = {"critical": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}


def _age_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}" if minutes >= 60 else f"{minutes} min"


class ExceptionsTableModel(RowsTableModel):
    """Adapter over ExceptionBoard; sorting keys come back under SortRole."""

    columns = COLUMNS

    ExceptionIdRole = Qt.ItemDataRole.UserRole + 1
    SortRole = Qt.ItemDataRole.UserRole + 2
    ColourRole = Qt.ItemDataRole.UserRole + 3  # the severity's colour, as "#rrggbb"

    def __init__(
        self,
        board: ExceptionBoard,
        clock: Callable[[], datetime] | None = None,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._board = board
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rows: list[BoardEntry] = []
        board.sig_changed.connect(self._reload)
        self._reload()

    def rows(self):
        return self._rows

    def entry_at(self, row: int) -> BoardEntry:
        return self._rows[row]

    def row_of(self, exception_id: str) -> int:
        return next((i for i, e in enumerate(self._rows) if e.id == exception_id), -1)

    def data(self, index: _Index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        entry = self._rows[index.row()]
        exc, column = entry.exception, index.column()
        if role == self.ExceptionIdRole:
            return entry.id
        if role == self.SortRole:
            return self._sort_key(entry, column)
        if role == self.ColourRole:
            return SEVERITY_COLOURS[exc.severity.value]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{exc.detail}\nSuggested: {exc.suggested_action}"
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column == 0:
            return exc.severity.value
        if column == 1:
            return exc.type.value.replace("_", " ")
        if column == 2:
            return exc.vehicle_id or ""
        if column == 3:
            return exc.order_id or ""
        if column == 4:
            end = exc.resolved_at or self._clock()
            return _age_text(max(0.0, (end - exc.detected_at).total_seconds()))
        if column == 5:
            return exc.detail
        if column == 6:
            return exc.suggested_action
        if not entry.is_open:
            return "resolved"
        return "acknowledged" if entry.acknowledged_at else "new"

    def _sort_key(self, entry: BoardEntry, column: int):
        exc = entry.exception
        if column == 0:
            return (
                0 if entry.is_open else 1,
                SEVERITY_RANK[exc.severity],
                exc.detected_at.timestamp(),
            )
        if column == 4:
            return exc.detected_at.timestamp()
        return str(self.data(self.index(self.row_of(entry.id), column)) or "")

    def _reload(self) -> None:
        self.beginResetModel()
        self._rows = sorted(
            self._board.entries(),
            key=lambda e: (
                0 if e.is_open else 1,
                SEVERITY_RANK[e.exception.severity],
                e.exception.detected_at,
            ),
        )
        self.endResetModel()

    def refresh_ages(self) -> None:
        """Ages move with the clock: repaint that column only."""
        if self._rows:
            self.dataChanged.emit(self.index(0, 4), self.index(len(self._rows) - 1, 4))
