"""A supervisor's control tower in the real window: the demo's three depots as tiles with
their day, the desk's own heartbeat, the last known state when the database is gone, and
a tile that opens its depot on this desk."""

from __future__ import annotations

import re

from PySide6.QtWidgets import QApplication, QPushButton

from app.store import open_store
from app.travel.choose import choose
from engine.model import Depot, Location
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
    assert re.search(r"W1 \d+/\d+ stops out · W2 \d+/\d+ stops out",
                     _tile_text(tower, "SLC-W", "waves")), routes  # fmt: skip
    # The neighbours: their own days, not planned by any desk yet.
    assert "160 orders · 10 vehicles" in _tile_text(tower, "SLC-N", "day")
    assert _tile_text(tower, "SLC-N", "routes") == "Routes: not planned yet"
    assert _tile_text(tower, "SLC-S", "desks").startswith("Desks: 0 online")
    assert tower.header.text().startswith("3 depots · read ")
    shot(tower, tmp_path, "control_tower")

    # The desk's travel source in its status bar: the shipped streets here; a depot outside
    # every street network is a red warning there, never a silent fall-back.
    travel = window.status.fields["travel"]
    assert travel.text() == "Travel: streets of salt_lake_city"
    window.context.travel = choose(Depot("G1", "Ghent", Location(51.05, 3.72)))
    window._refresh_status()
    assert travel.text() == "⚠ Travel: straight lines ×1.3"
    assert "#c62828" in travel.styleSheet()
    assert "outside every street network's area" in travel.toolTip()

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

    # A supervisor moves an order not yet released to the north depot's day: one undoable
    # command, audited; an order on a route already out cannot move.
    ctx = window.context
    plan = ctx.state.plan
    # the route leaving last, still planned (the simulated morning releases the early ones)
    waiting = max((r for r in plan.routes if r.status.value == "planned" and r.stops),
                  key=lambda r: r.start or r.stops[0].planned_arrival)  # fmt: skip
    order_id = waiting.stops[-1].order_id
    assert window.depots_desk.move_action.isEnabled()
    assert window.depots_desk.move_order(order_id, "SLC-N"), window.status.text
    qtbot.waitUntil(lambda: ctx.state.plan.route_of(order_id) is None, timeout=10_000)
    assert order_id not in ctx.state.index.orders
    assert _stored_depot(ctx.store, order_id) == "SLC-N"
    assert _audited(ctx.store, order_id, "'to_depot': 'SLC-N'", "'from_depot': 'SLC-W'")
    window.dispatcher.undo_stack.undo()
    qtbot.waitUntil(lambda: _stored_depot(ctx.store, order_id) == "SLC-W", timeout=10_000)
    assert order_id in ctx.state.index.orders
    out = next((r for r in ctx.state.plan.routes if r.status.value in ("released", "active")
                and r.stops), None)  # fmt: skip
    if out is not None:
        assert not window.depots_desk.move_order(out.stops[-1].order_id, "SLC-N")
        assert "only an order not yet released" in window.status.text

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


def _stored_depot(store, order_id: str) -> str:
    from app.store.models import OrderRow

    with store.read_session() as session:
        return session.get(OrderRow, order_id).depot_id


def _audited(store, *parts: str) -> bool:
    from sqlalchemy import select

    from app.store.models import ChangeLogRow

    with store.read_session() as session:
        rows = session.execute(select(ChangeLogRow.after).where(ChangeLogRow.entity == "command"))
        return any(all(p in str(after) for p in parts) for (after,) in rows)


def test_a_tower_started_offline_shows_this_desks_copy(qtbot, tmp_path):
    """The shared database unreachable from the start: the desk's own copy is shown,
    marked offline."""
    from datetime import UTC, datetime

    from app.simulator.demo_day import generate_demo_day
    from app.store import repository
    from app.tower.feed import TowerFeed
    from widgets.control_tower import ControlTowerWindow

    local = open_store(f"sqlite:///{tmp_path / 'copy.sqlite3'}")
    try:
        day = generate_demo_day(7)
        with local.session() as session:
            repository.upsert_day(session, day, actor="test")
        feed = TowerFeed(
            lambda: open_store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2",
                               migrate=False),
            local=local, clock=lambda: datetime.now(UTC),
        )  # fmt: skip
        tower = ControlTowerWindow(feed, "SLC-W")
        qtbot.addWidget(tower)
        tower.show_state(feed.read_now())
        assert set(tower.tiles) == {"SLC-W"}
        assert tower.header.text().startswith("Offline — the last known state")
        assert "this desk's copy only" in tower.header.text()
        assert "400 orders" in _tile_text(tower, "SLC-W", "day")
    finally:
        local.close()
