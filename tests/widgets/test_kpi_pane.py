"""The KPI pane's tables on a live refresh: changed cells change, the rest stay put."""

from __future__ import annotations

from PySide6.QtCore import Qt

from widgets.kpi_pane import _fill, _table


def test_a_refresh_rewrites_changed_cells_and_keeps_the_selected_row(qtbot):
    """A refresh with the same columns and rows updates only what changed: the row the
    person selected stays selected, the changed numbers show, the rest is as it was; new
    columns or another number of rows fill the table anew."""
    from PySide6.QtWidgets import QWidget

    host = QWidget()
    qtbot.addWidget(host)
    table = _table(host)
    header = ["route", "stops", "late"]
    rows = [[f"R{i}", 2, 0] for i in range(50)]
    _fill(table, header, rows, [f"R{i}" for i in range(50)])
    table.selectRow(7)
    kept = table.item(3, 1)
    rows[12][2] = 1  # one stop of R12 turned late
    _fill(table, header, rows, [f"R{i}" for i in range(50)])
    assert [i.row() for i in table.selectionModel().selectedRows()] == [7]
    assert table.item(12, 2).text() == "1" and table.item(11, 2).text() == "0"
    assert table.item(3, 1) is kept  # not made again
    assert table.item(12, 0).data(Qt.ItemDataRole.UserRole) == "R12"
    assert not table.item(12, 2).flags() & Qt.ItemFlag.ItemIsEditable

    _fill(table, ["route", "stops"], [["R1", 2]], ["R1"])  # another shape: filled anew
    assert table.rowCount() == 1 and table.columnCount() == 2
    assert table.horizontalHeaderItem(1).text() == "stops"
    assert table.item(0, 0).text() == "R1"
