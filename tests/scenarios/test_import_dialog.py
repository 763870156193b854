"""A supervisor imports tomorrow's orders from File ▸ Import… and reads the refused row."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.scenarios.conftest import shot


def test_import_a_folder_with_a_bad_row_and_read_the_report(qtbot, desk, tmp_path):
    """A European spreadsheet's orders (';', Windows-1252, decimal commas, dd/mm/yyyy) with
    one bad latitude: the report names the file, row, field and reason, says which encoding
    it assumed, and the good rows are stored for that day."""
    window = desk("supervisor", "sam")
    ctx = window.context
    depot = ctx.state.index.depot
    folder = tmp_path / "wave3"
    folder.mkdir()
    day = ctx.day
    stamp = f"{day.day:02d}/{day.month:02d}/{day.year}"
    lines = ["id;depot_id;lat;lon;demand_kg;window_start;window_end;customer"]
    for i in range(5):
        lat = f"{depot.location.lat + 0.01 * (i - 2):.4f}".replace(".", ",")
        lon = f"{depot.location.lon + 0.01:.4f}".replace(".", ",")
        lines.append(f"W3-{i};{depot.id};{lat};{lon};12,5;{stamp} 14:00;{stamp} 18:00;"
                     f"Bäckerei Nr. {i}")  # fmt: skip
    lines.append(f"W3-bad;{depot.id};95,5;-111,9;3;{stamp} 14:00;{stamp} 18:00;Café")
    (folder / "orders_wave3.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))

    window.activateWindow()
    QTest.keySequence(window, "Ctrl+I")
    dialog = window.orders.last_dialog
    assert dialog.objectName() == "import_dialog"
    dialog.paths.setText(str(folder))
    dialog.date_format.setCurrentIndex(dialog.date_format.findData("dd/mm/yyyy"))
    with qtbot.waitSignal(dialog.sig_report_ready, timeout=120_000):
        QTest.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    report = dialog.report
    assert report.imported == 5 and report.rejected == 1 and report.exit_code == 1
    assert dialog.tabs.currentIndex() == 1 and dialog.tabs.tabText(1) == "Refused rows (1)"
    where, field, reason = (dialog.refused.item(0, c).text() for c in range(3))
    assert where.endswith("orders_wave3.csv:7") and field == "lat" and "95.5" in reason
    files = dialog.files
    assert files.item(0, 2).text() == "Windows-1252, ';'-separated, decimal commas"
    assert "5 imported, 1 rejected" in dialog.summary.text()
    shot(dialog, tmp_path, "import_report")
    # The day on screen takes the new orders (not yet on a route: the status says so).
    assert {f"W3-{i}" for i in range(5)} <= set(ctx.state.index.orders)
    assert "on no route yet" in window.status.text
    assert ctx.state.index.orders["W3-0"].customer == "Bäckerei Nr. 0"
