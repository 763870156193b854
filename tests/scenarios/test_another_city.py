"""A day in another city, in the real window: streets imported from an OpenStreetMap
extract, a demo day made there and imported, planned on those streets and driven live by
the built-in simulated fleet."""

from __future__ import annotations

from app.context import AppContext
from app.settings import Settings
from main import main
from tests.app.test_roads_import import LAT0, LON0, STEP, _write_osm
from widgets.main_window import MainWindow


def test_plan_and_run_a_day_in_liege(qtbot, tmp_path, monkeypatch, capsys, request):
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DISPATCH_DATABASE_URL", raising=False)
    extract = tmp_path / "liege.osm.pbf"
    _write_osm(extract)
    assert main(["roads", "import", str(extract), "--name", "liege"]) == 0
    day = tmp_path / "day"
    assert main(["demo", "--roads", "liege", "--depot", f"{LAT0 + STEP},{LON0 + STEP}",
                 "--timezone", "Europe/Brussels", "--out", str(day)]) == 0  # fmt: skip
    assert main(["import", str(day)]) == 0
    capsys.readouterr()
    settings = Settings.from_env(
        demo=False, database_url="", first_plan_seconds=3.0, simulate=True, mqtt_url="",
        demo_speedup=20.0, depot_id="LIEGE-1", simulate_depots="LIEGE-1", user="lea",
        workstation_id="desk-lea",
    )  # fmt: skip
    context = AppContext(settings, headless=True)
    request.addfinalizer(lambda: _close_if_alive(window))
    window = MainWindow(context)  # closed by hand: reopening the depot deletes it
    window.resize(1600, 1000)
    window.show()
    context.start()
    qtbot.waitUntil(lambda: context.state.plan is not None, timeout=180_000)
    assert context.state.index.depot.name == "Liege Depot"
    assert context.travel is not None and context.travel.label == "streets of liege"
    assert not context.travel.warning
    window._refresh_status()
    assert window.status.fields["travel"].text() == "Travel: streets of liege"
    # The simulated vans drive the day: fixes arrive, on Liège's streets.
    qtbot.waitUntil(lambda: context.live.connection == "connected", timeout=60_000)
    qtbot.waitUntil(lambda: len(context.live.positions()) > 0, timeout=120_000)
    fix = next(iter(context.live.positions().values()))
    lat, lon = getattr(fix, "lat", None), getattr(fix, "lon", None)
    assert lat is not None and abs(lat - LAT0) < 0.02 and abs(lon - LON0) < 0.02

    # File ▸ Depot travel source…: straight lines on purpose; the window reopens with it.
    from PySide6.QtWidgets import QApplication

    from widgets.app_main import _follow_depot_choice

    app = QApplication.instance()
    _follow_depot_choice(app, window, settings)
    assert not window.depots_desk.set_travel("teleport")
    assert "Travel source not changed" in window.status.text
    assert window.depots_desk.set_travel("straight:1.4")
    qtbot.waitUntil(lambda: app.property("dispatch_window") is not window, timeout=60_000)
    reopened = app.property("dispatch_window")
    qtbot.addWidget(reopened)
    qtbot.waitUntil(lambda: reopened.context.travel is not None, timeout=60_000)
    assert reopened.context.travel.label == "straight lines ×1.4 (chosen)"
    assert reopened.context.state.index.depot.travel == "straight:1.4"
    reopened.close()
    qtbot.wait(50)


def _close_if_alive(window) -> None:
    import shiboken6

    if shiboken6.isValid(window):
        window.close()
