"""A table model over the exception board: what is wrong, how late, whose, where, when.

The model holds the rows a view shows: those the filter lets through (open only, a
severity, a type, a vehicle or customer), sorted by the chosen column. It filters and
sorts itself, each key worked out once per row and sorted by Python, so a board of ten
thousand exceptions (a 2,000-vehicle day) costs no Python call per comparison in a proxy.
Rows are updated in place as the rules re-evaluate (about once a second): a changed
exception repaints its row, a new one is inserted where it sorts, one that sorts elsewhere
moves, so a view keeps its selection, its current row and its scroll position while the
dispatcher reads. A batch that adds or takes off many rows at once (a recorded day shown
at another moment) resets the model once instead.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

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
ALL = "All"
#: A batch that adds or takes off more rows than this resets the model (one signal) rather
#: than inserting and removing them one run at a time.
RESET_ABOVE = 32


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
    """Adapter over ExceptionBoard: the entries the filter lets through, sorted.

    ``labels`` gives the day's names (vehicles, customers, windows); ``set_etas`` the live
    ETAs by order id (the ETA column and the tooltips read them when shown).
    A view keeps its chosen exception across a reset by its id (``ExceptionIdRole``).
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
        self._sort_column = SEVERITY
        self._descending = False
        self._keys: dict[str, tuple[BoardEntry, Any]] = {}  # id -> (entry, its sort key)
        self._ages_at: datetime | None = None  # the clock the ages were last repainted at
        self.severity = ALL
        self.type = ALL
        self.vehicle = ""
        self.open_only = True
        board.sig_entries_changed.connect(self._on_board_entries_changed)
        self._reload()

    def rows(self):
        return self._rows

    def entry_at(self, row: int) -> BoardEntry:
        return self._rows[row]

    def row_of(self, exception_id: str) -> int:
        """The row showing the exception; -1 when the filter hides it (or it is unknown)."""
        return self._row_of.get(exception_id, -1)

    def eta_of(self, order_id: str | None) -> datetime | None:
        return self._etas.get(order_id) if order_id else None

    @property
    def sort_column(self) -> int:
        return self._sort_column

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

    # -- filter and sort -------------------------------------------------------------------
    def set_filter(
        self, *, severity: str = ALL, type_: str = ALL, vehicle: str = "", open_only: bool = True
    ) -> None:
        """Show only the exceptions of this severity and type ("All": any), whose vehicle or
        customer contains ``vehicle`` (any case), and only open ones if ``open_only``."""
        wanted = (severity, type_, vehicle.strip(), open_only)
        if wanted == (self.severity, self.type, self.vehicle, self.open_only):
            return
        self.severity, self.type, self.vehicle, self.open_only = wanted
        self._reload()

    def accepts(self, entry: BoardEntry) -> bool:
        """Does the filter let the exception through?"""
        exc = entry.exception
        if self.open_only and not entry.is_open:
            return False
        if self.severity != ALL and exc.severity.value != self.severity:
            return False
        if self.type != ALL and exc.type.value.replace("_", " ") != self.type:
            return False
        if not self.vehicle:
            return True
        wanted = self.vehicle.lower()
        if wanted in (exc.vehicle_id or "").lower():
            return True
        labels = self._labels()
        return wanted in f"{labels.vehicle(exc.vehicle_id)} {labels.customer(exc.order_id)}".lower()

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        """Sort by ``column`` (a view's header click): the rows move, the chosen stay chosen."""
        descending = order == Qt.SortOrder.DescendingOrder
        if (column, descending) == (self._sort_column, self._descending):
            return
        self._sort_column, self._descending = column, descending
        self._keys.clear()
        self._reorder()

    def _key(self, entry: BoardEntry):
        known = self._keys.get(entry.id)
        if known is not None and known[0] is entry:
            return known[1]
        key = (self._sort_key(entry, self._sort_column), entry.id)
        self._keys[entry.id] = (entry, key)
        return key

    def _sorted(self, entries) -> list[BoardEntry]:
        return sorted(entries, key=self._key, reverse=self._descending)

    def _reorder(self) -> None:
        """Sort the rows again (same rows): a layout change, persistent indexes follow."""
        rows = self._sorted(self._rows)
        if [e.id for e in rows] == [e.id for e in self._rows]:
            return
        self.layoutAboutToBeChanged.emit()
        self._move_to(rows)
        self.layoutChanged.emit()

    def _move_to(self, rows: list[BoardEntry]) -> None:
        """Take ``rows`` (the same entries, in another order), moving persistent indexes."""
        old = self.persistentIndexList()
        ids = [self._rows[i.row()].id if 0 <= i.row() < len(self._rows) else None for i in old]
        self._rows = rows
        self._row_of = {e.id: i for i, e in enumerate(rows)}
        new = [
            self.index(self._row_of[eid], i.column()) if eid in self._row_of else QModelIndex()
            for i, eid in zip(old, ids, strict=True)
        ]
        if old:
            self.changePersistentIndexList(old, new)

    # -- updates ---------------------------------------------------------------------------
    def set_etas(self, etas: Mapping[str, datetime]) -> None:
        """The live ETAs by order id (replaces the last set; repaints the ETA column)."""
        self._etas = etas
        if self._sort_column == ETA:
            self._keys.clear()
            self._reorder()
        if self._rows:
            self.dataChanged.emit(self.index(0, ETA), self.index(len(self._rows) - 1, ETA))

    def refresh_ages(self) -> None:
        """Ages move with the clock: repaint that column only (not again while the clock
        stands still, as a replay's does between its moments)."""
        now = self._clock()
        if now == self._ages_at:
            return
        self._ages_at = now
        if self._rows:
            self.dataChanged.emit(self.index(0, AGE), self.index(len(self._rows) - 1, AGE))

    def refresh_labels(self) -> None:
        """The day's names changed (a new plan): repaint the name columns."""
        if self._sort_column in (VEHICLE, CUSTOMER, WINDOW):
            self._keys.clear()
            self._reorder()
        if self._rows:
            self.dataChanged.emit(self.index(0, VEHICLE), self.index(len(self._rows) - 1, WINDOW))

    def _on_board_entries_changed(self, ids: frozenset[str] | None) -> None:
        if ids is None:
            self._reload()
            return
        shown = {e.id: e for e in self._rows}
        added, gone, changed = [], [], []
        for exception_id in ids:
            entry = self._board.get(exception_id)
            was = shown.get(exception_id)
            if entry is None or not self.accepts(entry):
                if was is not None:
                    gone.append(exception_id)
                    del shown[exception_id]
            elif was is None:
                added.append(exception_id)
                shown[exception_id] = entry
            elif was is not entry and was != entry:
                changed.append(exception_id)
                shown[exception_id] = entry
        if not (added or gone or changed):
            return
        if len(added) + len(gone) > RESET_ABOVE:
            self._reset_to(self._sorted(shown.values()))
            return
        if gone:  # taken off, one run of neighbouring rows at a time (from the bottom)
            for first, last in reversed(_runs([self._row_of[eid] for eid in gone])):
                self.beginRemoveRows(QModelIndex(), first, last)
                del self._rows[first : last + 1]
                self.endRemoveRows()
            self._row_of = {e.id: i for i, e in enumerate(self._rows)}
        # The changed rows take their new contents, then move to where they sort now.
        for eid in changed:
            self._rows[self._row_of[eid]] = shown[eid]
        staying = self._sorted(self._rows) if changed else self._rows
        if staying is not self._rows and any(
            a is not b for a, b in zip(staying, self._rows, strict=True)
        ):
            self.layoutAboutToBeChanged.emit()
            self._move_to(staying)
            self.layoutChanged.emit()
        if added:  # each new row where it sorts (from the top)
            for entry in self._sorted(shown[eid] for eid in added):
                row = bisect.bisect_left(self._rows, self._row_key(entry), key=self._row_key)
                self.beginInsertRows(QModelIndex(), row, row)
                self._rows.insert(row, entry)
                self.endInsertRows()
            self._row_of = {e.id: i for i, e in enumerate(self._rows)}
        if changed:  # one signal from the first changed row to the last: a view repaints
            rows = [self._row_of[eid] for eid in changed]  # what of it is in sight
            self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), len(COLUMNS) - 1))

    def _row_key(self, entry: BoardEntry):
        """The key bisect compares a row by: reversed when the sort is descending."""
        key = self._key(entry)
        return _Reversed(key) if self._descending else key

    def _reload(self) -> None:
        self._reset_to(self._sorted(e for e in self._board.entries() if self.accepts(e)))

    def _reset_to(self, rows: list[BoardEntry]) -> None:
        self.beginResetModel()
        self._rows = rows
        self._row_of = {e.id: i for i, e in enumerate(rows)}
        live = self._row_of.keys()
        if len(self._keys) > 2 * len(rows) + 1000:  # forget keys of entries long gone
            self._keys = {k: v for k, v in self._keys.items() if k in live}
        self.endResetModel()


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Row numbers as (first, last) runs of neighbours, in order."""
    runs: list[tuple[int, int]] = []
    for row in sorted(rows):
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


class _Reversed:
    """A sort key compared the other way round (for bisecting a descending order)."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return other.key < self.key
