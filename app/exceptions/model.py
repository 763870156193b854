"""A table model over the exception board: what is wrong, how late, whose, where, when.

Rows are updated in place as the rules re-evaluate (about once a second): a changed
exception repaints its row, a new one is inserted, so a view keeps its selection, its
current row and its scroll position while the dispatcher reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt

from app.day.labels import DayLabels
from app.day.table_model import RowsTableModel
from app.exceptions.board import SEVERITY_RANK, BoardEntry, ExceptionBoard

_Index = QModelIndex | QPersistentModelIndex

COLUMNS = (
    "Severity", "Type", "Min late", "Vehicle", "Customer", "Window", "ETA", "Age", "State",
    "Detail", "Suggested action",
)  # fmt: skip
SEVERITY, TYPE, LATE, VEHICLE, CUSTOMER, WINDOW, ETA, AGE, STATE, DETAIL, ACTION = range(
    len(COLUMNS)
)
SEVERITY_COLOURS = {"critical": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}
_NO_LABELS = DayLabels({}, {}, {}, None)


def _age_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}" if minutes >= 60 else f"{minutes} min"


def _late_text(minutes: float | None) -> str:
    """Minutes after the window ends (``+12``); before it, the minutes to spare (``-5``)."""
    if minutes is None:
        return ""
    whole = round(minutes)
    return f"{whole:+d}" if whole else "0"


class ExceptionsTableModel(RowsTableModel):
    """Adapter over ExceptionBoard; sorting keys come back under SortRole.

    ``labels`` gives the day's names (vehicles, customers, windows); ``set_etas`` the live
    ETAs by order id (the ETA column and the tooltips read them when shown).
    """

    columns = COLUMNS

    ExceptionIdRole = Qt.ItemDataRole.UserRole + 1
    SortRole = Qt.ItemDataRole.UserRole + 2
    ColourRole = Qt.ItemDataRole.UserRole + 3  # the severity's colour, as "#rrggbb"
    SearchRole = Qt.ItemDataRole.UserRole + 4  # vehicle and customer text, for the filter

    def __init__(
        self,
        board: ExceptionBoard,
        clock: Callable[[], datetime] | None = None,
        parent: QObject | None = None,
        labels: Callable[[], DayLabels] | None = None,
    ):
        super().__init__(parent)
        self._board = board
        self._clock = clock or (lambda: datetime.now(UTC))
        self._labels = labels or (lambda: _NO_LABELS)
        self._etas: Mapping[str, datetime] = {}
        self._rows: list[BoardEntry] = []
        self._row_of: dict[str, int] = {}
        board.sig_entries_changed.connect(self._on_board_entries_changed)
        self._reload()

    def rows(self):
        return self._rows

    def entry_at(self, row: int) -> BoardEntry:
        return self._rows[row]

    def row_of(self, exception_id: str) -> int:
        return self._row_of.get(exception_id, -1)

    def eta_of(self, order_id: str | None) -> datetime | None:
        return self._etas.get(order_id) if order_id else None

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if (
            role == Qt.ItemDataRole.ToolTipRole
            and orientation == Qt.Orientation.Horizontal
            and section == LATE
        ):
            return "Minutes after the delivery window ends (negative: minutes to spare)"
        return super().headerData(section, orientation, role)

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
        if role == self.SearchRole:
            labels = self._labels()
            return f"{labels.vehicle(exc.vehicle_id)} {labels.customer(exc.order_id)}".lower()
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(entry)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == LATE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        return self._text(entry, column)

    def tooltip(self, entry: BoardEntry) -> str:
        """What the row is about, in full: the stop (customer, address, window, ETA), the
        vehicle, the detail, the suggested action and who acknowledged it."""
        exc, labels = entry.exception, self._labels()
        lines = []
        if exc.order_id:
            lines.append(labels.stop_tooltip(exc.order_id, self.eta_of(exc.order_id)))
        elif exc.vehicle_id:
            lines.append(labels.vehicle(exc.vehicle_id))
        lines += [exc.detail, f"Suggested: {exc.suggested_action}"]
        if entry.acknowledged_at is not None:
            who = f" by {entry.acknowledged_by}" if entry.acknowledged_by else ""
            lines.append(f"Acknowledged {labels.clock(entry.acknowledged_at)}{who}")
        return "\n".join(lines)

    def _text(self, entry: BoardEntry, column: int) -> str:
        exc = entry.exception
        if column == SEVERITY:
            return exc.severity.value
        if column == TYPE:
            return exc.type.value.replace("_", " ")
        if column == LATE:
            return _late_text(exc.minutes_late)
        if column == VEHICLE:
            return self._labels().vehicle(exc.vehicle_id)
        if column == CUSTOMER:
            return self._labels().customer(exc.order_id)
        if column == WINDOW:
            return self._labels().window(exc.order_id)
        if column == ETA:
            eta = self.eta_of(exc.order_id) if entry.is_open else None
            return self._labels().clock(eta) if eta is not None else ""
        if column == AGE:
            end = exc.resolved_at or self._clock()
            return _age_text(max(0.0, (end - exc.detected_at).total_seconds()))
        if column == DETAIL:
            return exc.detail
        if column == ACTION:
            return exc.suggested_action
        if not entry.is_open:
            return "resolved"
        return "acknowledged" if entry.acknowledged_at else "new"

    def _sort_key(self, entry: BoardEntry, column: int):
        exc = entry.exception
        if column == SEVERITY:
            return (
                0 if entry.is_open else 1,
                SEVERITY_RANK[exc.severity],
                -(exc.minutes_late if exc.minutes_late is not None else 0.0),
                exc.detected_at.timestamp(),
            )
        if column == LATE:
            return -1e9 if exc.minutes_late is None else exc.minutes_late
        if column == AGE:
            return exc.detected_at.timestamp()
        if column == ETA:
            eta = self.eta_of(exc.order_id)
            return eta.timestamp() if eta is not None else float("inf")
        return self._text(entry, column)

    # -- updates ---------------------------------------------------------------------------
    def set_etas(self, etas: Mapping[str, datetime]) -> None:
        """The live ETAs by order id (replaces the last set; repaints the ETA column)."""
        self._etas = etas
        if self._rows:
            self.dataChanged.emit(self.index(0, ETA), self.index(len(self._rows) - 1, ETA))

    def refresh_ages(self) -> None:
        """Ages move with the clock: repaint that column only."""
        if self._rows:
            self.dataChanged.emit(self.index(0, AGE), self.index(len(self._rows) - 1, AGE))

    def refresh_labels(self) -> None:
        """The day's names changed (a new plan): repaint the name columns."""
        if self._rows:
            self.dataChanged.emit(self.index(0, VEHICLE), self.index(len(self._rows) - 1, WINDOW))

    def _on_board_entries_changed(self, ids: frozenset[str] | None) -> None:
        if ids is None:
            self._reload()
            return
        new = []
        for exception_id in ids:
            entry = self._board.get(exception_id)
            row = self._row_of.get(exception_id)
            if entry is None:
                continue  # gone from the board: only a clear does that (a reload)
            if row is None:
                new.append(entry)
                continue
            if self._rows[row] != entry:
                self._rows[row] = entry
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for entry in new:
                self._row_of[entry.id] = len(self._rows)
                self._rows.append(entry)
            self.endInsertRows()

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
        self._row_of = {e.id: i for i, e in enumerate(self._rows)}
        self.endResetModel()
