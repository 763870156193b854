"""A read-only table of text rows for thousands of rows: plain lists behind a model, not an
item object per cell.

``QTableWidget`` keeps a ``QTableWidgetItem`` (and its Python wrapper) per cell: the
Release board's 2,000 routes of 12 columns were 24,000 of them, some 15 MB of the window
held all day and made anew at every refresh. :class:`TextTable` shows rows of strings from
:class:`TextRows`, with a datum per row, a text colour and a tooltip per cell where one is
set; :func:`fill_rows` repaints only the rows that changed, so a live refresh keeps the
selection and the scroll.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

_Index = QModelIndex | QPersistentModelIndex
_DISPLAY, _USER, _FOREGROUND, _TIP = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole,
                                      Qt.ItemDataRole.ForegroundRole,
                                      Qt.ItemDataRole.ToolTipRole)  # fmt: skip
Cell = tuple[int, int]


class TextRows(QAbstractTableModel):
    """The rows of text a table shows, one datum per row (what choosing it means), and a
    text colour and a tooltip per cell where one is set."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.header: list[str] = []
        self.texts: list[list[str]] = []
        self.data_of_rows: list[Any] = []
        self.colors: dict[Cell, QColor] = {}
        self.tips: dict[Cell, str] = {}

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 (Qt's)
        return 0 if parent.isValid() else len(self.texts)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 (Qt's)
        return 0 if parent.isValid() else len(self.header)

    def data(self, index: _Index, role: int = _DISPLAY) -> Any:
        if role == _DISPLAY:
            return self.texts[index.row()][index.column()]
        if role == _USER:
            return self.data_of_rows[index.row()] if index.column() == 0 else None
        if role == _FOREGROUND:
            return self.colors.get((index.row(), index.column()))
        if role == _TIP:
            return self.tips.get((index.row(), index.column()))
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:  # noqa: N802
        if role == _DISPLAY and orientation == Qt.Orientation.Horizontal:
            return self.header[section]
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def fill(
        self,
        header: Sequence[str],
        texts: list[list[str]],
        data: Sequence[Any],
        colors: Mapping[Cell, QColor] | None = None,
        tips: Mapping[Cell, str] | None = None,
    ) -> None:
        """See :func:`fill_rows`. ``colors`` and ``tips``: every cell's that has one (None:
        those set before stay, :meth:`set_color` changes them)."""
        if list(header) == self.header and len(texts) == len(self.texts):
            changed = {i for i, row in enumerate(texts) if row != self.texts[i]}
            for new, old in ((colors, self.colors), (tips, self.tips)):
                if new is not None:
                    changed |= {cell[0] for cell in new.keys() | old.keys()
                                if new.get(cell) != old.get(cell)}  # fmt: skip
            self.texts, self.data_of_rows = texts, list(data)
            if colors is not None:
                self.colors = dict(colors)
            if tips is not None:
                self.tips = dict(tips)
            last = len(self.header) - 1
            for i in sorted(changed):
                self.dataChanged.emit(self.index(i, 0), self.index(i, last))
            return
        self.beginResetModel()
        self.header, self.texts, self.data_of_rows = list(header), texts, list(data)
        self.colors = dict(colors or {})
        self.tips = dict(tips or {})
        self.endResetModel()

    def set_color(self, row: int, column: int, color: QColor | None) -> None:
        """A cell's text colour (None: the table's own)."""
        if color is None:
            if self.colors.pop((row, column), None) is None:
                return
        else:
            if self.colors.get((row, column)) == color:
                return
            self.colors[(row, column)] = color
        index = self.index(row, column)
        self.dataChanged.emit(index, index, [_FOREGROUND])


class TextTable(QTableView):
    """A read-only table of rows selected whole (see :class:`TextRows`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows = TextRows(self)
        self.setModel(self.rows)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        # Columns as wide as their widest text in the first rows and those in view (Qt's
        # default reads 1,000 rows per column through the model at every change).
        header.setResizeContentsPrecision(100)
        header.setStretchLastSection(True)
        self.setSortingEnabled(False)

    def row_count(self) -> int:
        return len(self.rows.texts)

    def text(self, row: int, column: int) -> str:
        return self.rows.texts[row][column]

    def cell(self, row: int, column: str) -> str:
        """A cell's text by its column's heading."""
        return self.rows.texts[row][self.rows.header.index(column)]

    def tip(self, row: int, column: int) -> str:
        return self.rows.tips.get((row, column), "")

    def color(self, row: int, column: int) -> QColor | None:
        return self.rows.colors.get((row, column))

    def row_data(self, row: int) -> Any:
        """The datum of a row (a KPI's name, a route id, what a drill-down row is)."""
        return self.rows.data_of_rows[row]

    def selected_row(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def selected_rows(self) -> list[int]:
        return sorted({i.row() for i in self.selectionModel().selectedIndexes()})


def fill_rows(
    table: TextTable,
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    data: Sequence[Any],
    colors: Mapping[Cell, QColor] | None = None,
    tips: Mapping[Cell, str] | None = None,
) -> None:
    """Show ``rows`` (``data`` the datum of each row). The same columns and as many rows
    as shown: only the rows that changed are repainted (a live refresh of 2,000 routes
    changes a few, and the selection and scroll stay); else the table is filled anew."""
    texts = [["" if cell is None else str(cell) for cell in row] for row in rows]
    selection = table.selectionModel()
    blocked = selection.blockSignals(True)  # a table filled anew is no row chosen
    try:
        table.rows.fill(header, texts, data, colors, tips)
    finally:
        selection.blockSignals(blocked)
