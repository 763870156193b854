"""The KPIs of a recorded day in the window: the KPI pane shows the day's tiles and charts,
a tile drills down to the stops behind it (the same stops a hand count of the file finds),
a route narrows every KPI to it, and File ▸ Export day report writes the PDF and CSV."""

from __future__ import annotations

import csv
import sqlite3
from dataclasses import replace

from PySide6.QtCore import Qt

from app.context import AppContext
from app.settings import Settings
from tests.scenarios.conftest import shot
from tests.scenarios.test_replay_a_day import recorded_day  # noqa: F401  (the fixture)
from widgets.main_window import MainWindow
from widgets.replay_bar import open_replay


def _late_by_hand(path) -> set[str]:
    """Stops whose first arrival came after their last window closed, or never came."""
    import json

    conn = sqlite3.connect(path)
    day = json.loads(conn.execute("SELECT json FROM day_input").fetchone()[0])
    plan = json.loads(conn.execute("SELECT plan FROM plan_versions ORDER BY version DESC "
                                   "LIMIT 1").fetchone()[0])  # fmt: skip
    arrived = dict(conn.execute("SELECT stop_id, min(ts) FROM events WHERE type = 'arrived' "
                                "GROUP BY stop_id"))  # fmt: skip
    conn.close()
    from app.store.dayjson import day_from_json, plan_from_json

    orders = {o.id: o for o in day_from_json(day).orders}
    late = set()
    planned = {s.order_id for r in plan_from_json(plan).routes for s in r.stops}
    for oid, order in orders.items():
        t = arrived.get(oid) if oid in planned else None
        if t is None or t > order.latest.timestamp():
            late.add(oid)
    return late


def test_kpi_pane_drills_down_and_exports_the_day_report(qtbot, tmp_path, recorded_day):  # noqa: F811
    settings = replace(Settings.from_env(), simulate=False, demo=False, mqtt_url="",
                       database_url=f"sqlite:///{tmp_path}/scratch.sqlite3")  # fmt: skip
    window = MainWindow(AppContext(settings, headless=True))
    qtbot.addWidget(window)
    window.resize(1920, 1080)
    window.show()
    open_replay(window, recorded_day)
    desk, pane = window.kpi_desk, window.kpi_desk.pane
    window._docks["kpis"].raise_()
    qtbot.waitUntil(lambda: desk.result is not None, timeout=120_000)
    result = desk.result
    assert result.final and pane.day_box.currentData() == str(recorded_day)
    # The tiles: late stops as a hand count of the file's rows finds them.
    late = _late_by_hand(recorded_day)
    assert pane.tiles["late_stops"].value.text() == str(len(late))
    assert pane.tiles["on_time_delivery_pct"].value.text().endswith("%")
    # Drilling down: the late-stops tile lists exactly those stops.
    qtbot.mouseClick(pane.tiles["late_stops"], Qt.MouseButton.LeftButton)
    shown = {pane.drill_table.text(i, 0) for i in range(pane.drill_table.row_count())}
    assert shown == late
    assert "Late stops of the day" in pane.drill_label.text()
    # A route narrows the KPIs to it; its late stops are its own.
    route_id = pane.route_table.text(0, 0)
    pane.route_table.selectRow(0)
    assert pane.scope == "route" and pane.key == route_id
    rows = pane.drill("late_stops", "route", route_id)
    assert all(s.route_id == route_id for s in rows)
    # The charts have what they need: arrivals by hour, routes planned against actual.
    assert pane.hour_plot.getPlotItem().listDataItems() or pane.hour_plot.items()
    assert len(pane.route_points.points()) > 0
    shot(window, tmp_path, "kpi-pane")
    # File ▸ Export day report: the PDF and a CSV of every KPI row.
    assert desk.export_action in window.file_menu.actions()
    out = tmp_path / "day-report.pdf"
    with qtbot.waitSignal(desk.sig_report_written, timeout=60_000):
        desk.export(str(out))
    assert out.read_bytes().startswith(b"%PDF")
    with open(out.with_suffix(".csv"), encoding="utf-8") as f:
        rows_csv = list(csv.DictReader(f))
    day_late = next(r for r in rows_csv if r["scope"] == "day" and r["name"] == "late_stops")
    assert float(day_late["value"]) == len(late)
    # Learn from history: a replay's scratch database has no stored day to learn from.
    with qtbot.waitSignal(desk.sig_learned, timeout=60_000) as learned:
        qtbot.mouseClick(pane.learn_button, Qt.MouseButton.LeftButton)
    assert learned.args == [""] and pane.learn_button.isEnabled()
    assert window.context.day_jobs.learned is None
    window.close()
