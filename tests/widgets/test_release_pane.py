"""The Release board on a real store and a real Mosquitto: the docks, waves and gate as a
dispatcher reads them; mark loaded, release, a supervisor's override; what a driver's device
receives on release, after a move and after its undo, and its acknowledgement shown."""

from __future__ import annotations

import json
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from PySide6.QtCore import QPointF
from sqlalchemy import select

from app.day.clock import DayClock
from app.day.state import DayState
from app.dispatch.service import DispatchService
from app.exceptions.board import ExceptionBoard
from app.release.service import ReleaseService
from app.settings import Settings
from app.store import repository
from app.store.models import ChangeLogRow
from app.telemetry.session import LiveSession
from engine.model import RouteStatus
from tests.app.test_release_support import TRAVEL, at, seed_release_day, sqlite_store
from widgets.release_pane import ReleasePane

pytestmark = pytest.mark.mqtt


class Device:
    """A driver's device: subscribes to its vehicle's route topic, keeps every message."""

    def __init__(self, url: str, vehicle_id: str) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"dev-{uuid.uuid4().hex[:8]}")  # fmt: skip
        self.client.on_message = self._on_message
        self.client.connect(host, int(port))
        self.client.subscribe(f"fleet/D1/vehicle/{vehicle_id}/route", qos=1)
        self.client.loop_start()

    def _on_message(self, _client, _userdata, msg) -> None:
        with self.lock:
            self.messages.append(json.loads(msg.payload))

    def versions(self) -> list[int]:
        with self.lock:
            return [m["version"] for m in self.messages]

    def newest(self) -> dict:
        with self.lock:
            return max(self.messages, key=lambda m: m["version"])

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def desk(tmp_path, qtbot, mqtt_url):
    """The release day planned for release, shown in a day state, with release control on
    a real broker (the day's clock at 06:50) and the board pane."""
    store = sqlite_store(tmp_path)
    day, _plan = seed_release_day(store)
    with store.read_session() as s:
        day = repository.load_day(s, "D1", day.day)
    settings = Settings.from_env(role="supervisor", user="sam", workstation_id="desk-1",
                                 depot_id="D1")  # fmt: skip
    state = DayState()
    clock = DayClock(at(6, 50).timestamp(), 1.0)
    live = LiveSession(settings, store, state, ExceptionBoard(), clock)
    dispatch = DispatchService(store, TRAVEL, actor="sam@desk-1", role="supervisor",
                               state=state)  # fmt: skip
    service = ReleaseService(settings, store, state, clock, live)
    service.open_day("D1", day.day, dispatch, TRAVEL, "sam@desk-1", "supervisor")
    dispatch.open_day(day, "D1")
    service.refresh()
    service.connect_broker(mqtt_url, "5")
    pane = ReleasePane(service, lambda: state.plan)
    qtbot.addWidget(pane)
    pane.sig_release_requested.connect(service.release)  # as the window's board does
    qtbot.waitUntil(lambda: service.channel_state == "connected", timeout=10_000)
    yield store, state, dispatch, service, pane, day
    service.stop()
    store.close()


def _cell(table, row: int, column: str) -> str:
    return table.cell(row, column)


def test_the_board_shows_docks_waves_and_why_a_route_may_not_go(desk):
    """One lane per dock with a bar per route slot; both waves with their cut-offs; every
    route NO-GO on loading before a scan, the check saying what, why and how to fix."""
    _store, state, _dispatch, service, pane, day = desk
    routes = [r for r in state.plan.routes if r.stops]
    ticks = [label for _value, label in pane.plot.getAxis("left")._tickLevels[0]]
    assert ticks == [k.id for k in day.depots[0].docks]
    assert len(pane._slots.opts["x0"]) == len(routes)
    # each slot named by its vehicle: one item paints them all (drawn: the plot differs
    # without them)
    assert sorted(pane._slot_labels.texts) == sorted(r.vehicle_id for r in routes)
    pane.plot.resize(900, 300)
    x0 = pane._slots.opts["x0"]
    pane.plot.setXRange(min(x0) - 20_000, min(x0) - 10_000, padding=0)
    pane.plot.grab()  # shown once elsewhere, then the view moves (a refresh, a pan)
    pane._slot_labels.boundingRect()
    pane.plot.setXRange(min(x0) - 900, max(x0) + 3600, padding=0)
    named = pane.plot.grab().toImage()
    texts = pane._slot_labels.texts
    pane._slot_labels.set_labels([], [], [])
    assert pane.plot.grab().toImage() != named
    pane._slot_labels.set_labels(pane._slots.opts["x0"], pane._slots.opts["y"], texts)
    assert [pane.waves_table.item(r, 0).text() for r in range(2)] == ["W1", "W2"]
    assert pane.waves_table.item(0, 1).text() == "06:00"
    table = pane.routes_table
    assert table.row_count() == len(routes)
    assert all(_cell(table, r, "Gate") == "NO-GO: loading" for r in range(table.row_count()))
    pane.select_route(routes[0].id)
    rows = {pane.checks_table.item(r, 0).text(): r for r in range(pane.checks_table.rowCount())}
    loading = rows["loading"]
    assert pane.checks_table.item(loading, 1).text() == "✗"
    assert "0 of" in pane.checks_table.item(loading, 2).text()
    assert pane.checks_table.item(loading, 4).text()  # how to fix
    assert pane.checks_table.item(rows["vehicle"], 1).text() == "✓"


def test_release_move_and_undo_reach_the_drivers_device(desk, mqtt_url, qtbot):
    """Marked loaded, then released from the board: the driver's device gets the route
    (retained, version, stops in order); a move onto it and the move's undo each send an
    update with a higher version; the device's route_ack is shown on the board."""
    _store, state, dispatch, service, pane, day = desk
    routes = [r for r in state.plan.routes if r.stops]
    route, other = routes[0], next(r for r in routes[1:] if r.wave == routes[0].wave)
    service.mark_loaded(route.id)
    assert state.route(route.id).status is RouteStatus.READY
    row = pane._route_ids.index(route.id)
    assert _cell(pane.routes_table, row, "Gate") == "GO"
    pane.select_route(route.id)
    said: list[str] = []
    service.sig_status.connect(said.append)
    service.sig_error.connect(lambda title, text: said.append(f"{title}: {text}"))
    assert pane.selected_routes() == [route.id]
    with qtbot.waitSignal(service.sig_changed):
        pane.release_button.click()
    assert said and said[0].startswith(f"Released 1 route(s): {route.id}"), said
    assert state.route(route.id).status is RouteStatus.RELEASED
    device = Device(mqtt_url, route.vehicle_id)
    try:
        qtbot.waitUntil(lambda: len(device.versions()) >= 1, timeout=10_000)
        first = device.messages[0]
        assert first["route_id"] == route.id
        assert [s["order_id"] for s in first["stops"]] == list(route.order_ids)
        v1 = first["version"]
        qtbot.waitUntil(lambda: _cell(pane.routes_table, row, "Sent") == f"v{v1}", timeout=5000)
        assert "last sent" in pane.summary.text()

        moved = other.order_ids[0]
        result = dispatch.reassign(state.plan, state.index.day, [moved], route.id, at(6, 55))
        qtbot.waitUntil(lambda: max(device.versions()) > v1, timeout=10_000)
        second = device.newest()
        assert second["version"] > v1 and moved in [s["order_id"] for s in second["stops"]]

        dispatch.apply_undo(state.plan, result.undo)
        qtbot.waitUntil(lambda: max(device.versions()) > second["version"], timeout=10_000)
        third = device.newest()
        assert third["version"] > second["version"]
        assert [s["order_id"] for s in third["stops"]] == list(route.order_ids)
        # not confirmed yet: the cell says so in red, its tooltip why; the route stays chosen
        now = pane._route_ids.index(route.id)
        assert pane.routes_table.color(now, 9) is not None
        assert pane.routes_table.tip(now, 9).startswith("the driver has not confirmed")
        assert pane.selected_routes() == [route.id]

        ack = {"v": 1, "event_id": uuid.uuid4().hex, "vehicle_id": route.vehicle_id,
               "ts": service.clock(), "type": "route_ack", "route_id": route.id,
               "version": third["version"]}  # fmt: skip
        device.client.publish(f"fleet/D1/vehicle/{route.vehicle_id}/route_ack",
                              json.dumps(ack), qos=1)  # fmt: skip
        forged = dict(ack, event_id=uuid.uuid4().hex, version=third["version"] + 5)
        device.client.publish(f"fleet/D1/vehicle/{route.vehicle_id}/route_ack",
                              json.dumps(forged), qos=1)  # fmt: skip
        qtbot.waitUntil(
            lambda: _cell(pane.routes_table, pane._route_ids.index(route.id), "Confirmed")
            .startswith(f"v{third['version']}"),
            timeout=10_000,
        )  # fmt: skip
        qtbot.waitUntil(
            lambda: "1 refused (most: unknown_version)" in pane.summary.text(), timeout=10_000
        )  # a version never sent: counted, not shown as confirmed
        assert _cell(pane.routes_table, pane._route_ids.index(route.id), "Confirmed").startswith(
            f"v{third['version']}"
        )
    finally:
        device.stop()


def test_a_supervisor_overrides_a_red_check_with_a_reason(desk):
    """The loading check overridden with a written reason: the route is green, the check
    reads as overridden with who and why, and the change log keeps the reason."""
    store, state, _dispatch, service, pane, _day = desk
    route = next(r for r in state.plan.routes if r.stops)
    pane.set_supervisor(True)
    assert pane.override_button.isEnabled()
    service.override(route.id, "loading", "counted by the shift lead, scanner down")
    assert service.gate.routes[route.id].go
    pane.select_route(route.id)
    rows = {pane.checks_table.item(r, 0).text(): r for r in range(pane.checks_table.rowCount())}
    assert pane.checks_table.item(rows["loading"], 1).text() == "overridden"
    assert "scanner down" in pane.checks_table.item(rows["loading"], 3).text()
    with store.read_session() as s:
        log = s.scalars(select(ChangeLogRow).where(ChangeLogRow.entity == "gate_override")).one()
    assert log.actor == "sam@desk-1" and "scanner down" in log.after["reason"]
    pane.set_supervisor(False, "a supervisor action")
    assert not pane.override_button.isEnabled()


def test_dock_scarcity_says_what_fewer_docks_cost(desk, qtbot):
    """From every dock down to one, the day's slots are planned again: fewer docks never
    make the routes leave earlier, and the dialog lists one row per number of docks."""
    from widgets.release_board import ScarcityDialog

    _store, _state, _dispatch, service, pane, day = desk
    rows = service.scarcity()
    docks = len(day.depots[0].docks)
    assert [r.docks for r in rows] == list(range(docks, 0, -1))
    assert rows[-1].total_delay_s >= rows[0].total_delay_s
    with qtbot.waitSignal(pane.sig_scarcity_requested):
        pane.scarcity_button.click()
    dialog = ScarcityDialog(rows)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == docks
    assert dialog.table.item(0, 0).text() == str(docks)


def test_slot_labels_follow_the_view(qtbot):
    """The labels' item covers the view it is shown in after the view moves (it kept the
    first view's rectangle: moved away from it, no label was drawn)."""
    import pyqtgraph as pg

    from widgets.timeline_items import PointLabels

    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.resize(800, 200)
    labels = PointLabels()
    plot.addItem(labels, ignoreBounds=True)
    plot.setXRange(0, 100)
    plot.show()
    qtbot.wait(50)
    labels.set_labels([1000, 1500], [0, 1], ["V01", "V02"])
    assert not labels.boundingRect().contains(QPointF(1000, 0))  # not in this view
    plot.setXRange(900, 1600)
    qtbot.wait(50)
    assert labels.boundingRect().contains(QPointF(1000, 0))
    assert labels.boundingRect().contains(QPointF(1500, 1))
