"""A supervisor's control tower in the real window: the demo's three depots as tiles with
their day, the desk's own heartbeat, the last known state when the database is gone, and
a tile that opens its depot on this desk."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QPushButton

from app.store import open_store
from tests.scenarios.conftest import shot
from widgets.app_main import _follow_depot_choice


def _tile_text(tower, depot_id: str, key: str) -> str:
    return tower.tiles[depot_id].labels[key].text()


def test_control_tower_over_the_demo_depots(desk, qtbot, tmp_path):
    window = desk("supervisor", "sam")
    assert window.depots_desk.tower_action.isEnabled()
    tower = window.depots_desk.open_tower()
    qtbot.addWidget(tower)
    qtbot.waitUntil(lambda: len(tower.tiles) == 3, timeout=20_000)
    assert set(tower.tiles) == {"SLC-W", "SLC-N", "SLC-S"}
    # The desk's own depot: planned, its routes counted, this desk online on it.
    qtbot.waitUntil(lambda: "sam (online" in _tile_text(tower, "SLC-W", "desks"), timeout=30_000)
    routes = _tile_text(tower, "SLC-W", "routes")
    assert "routes" in routes and "not planned" not in routes
    assert "400 orders · 25 vehicles" in _tile_text(tower, "SLC-W", "day")
    assert _tile_text(tower, "SLC-W", "exceptions").startswith("Open exceptions: ")
    assert "W1 0/" in _tile_text(tower, "SLC-W", "waves"), routes  # before release
    # The neighbours: their own days, not planned by any desk yet.
    assert "160 orders · 10 vehicles" in _tile_text(tower, "SLC-N", "day")
    assert _tile_text(tower, "SLC-N", "routes") == "Routes: not planned yet"
    assert _tile_text(tower, "SLC-S", "desks").startswith("Desks: 0 online")
    assert tower.header.text().startswith("3 depots · read ")
    shot(tower, tmp_path, "control_tower")

    # The database gone: the tower keeps the last known state and says so.
    feed = tower.feed
    feed._store = None
    feed._store_factory = lambda: open_store(
        "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2", migrate=False
    )
    feed.refresh()
    qtbot.waitUntil(lambda: tower.header.text().startswith("Offline"), timeout=20_000)
    assert "the last known state" in tower.header.text()
    assert "160 orders" in _tile_text(tower, "SLC-N", "day")

    # A tile opens its depot on this desk: the window reopens on the north depot.
    app = QApplication.instance()
    _follow_depot_choice(app, window, window.context.settings)
    button = tower.tiles["SLC-N"].findChild(QPushButton, "tower_open")
    assert button.isEnabled()
    button.click()
    qtbot.waitUntil(
        lambda: (
            app.property("dispatch_window") is not window
            and app.property("dispatch_window").context.depot_id == "SLC-N"
        ),
        timeout=60_000,
    )
    reopened = app.property("dispatch_window")
    qtbot.addWidget(reopened)
    qtbot.waitUntil(lambda: reopened.context.state.index is not None, timeout=60_000)
    assert reopened.context.state.index.depot.name == "Salt Lake North Depot"
    assert (tmp_path / "data" / "desk.json").read_text() == '{"depot_id": "SLC-N"}'
    reopened.close()
