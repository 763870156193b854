"""A dispatcher releases the late wave of the demo morning from the Release board of the
real window: what they see before and after, what the drivers' devices receive, and what
is stored."""

from __future__ import annotations

import json
import threading
import uuid
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from sqlalchemy import select

from app.store.models import ChangeLogRow, RouteTransitionRow
from engine.model import RouteStatus
from tests.scenarios.conftest import shot


def _cell(table, row: int, column: str) -> str:
    return table.cell(row, column)


def _devices(url: str) -> tuple[mqtt.Client, dict[str, dict], threading.Lock]:
    """Every driver's device at once: the retained route message of each vehicle."""
    parsed = urlparse(url)
    got: dict[str, dict] = {}
    lock = threading.Lock()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex[:6]}",
                         protocol=mqtt.MQTTv311)  # fmt: skip

    def on_message(_c, _u, msg) -> None:
        body = json.loads(msg.payload)
        with lock:
            got[body["vehicle_id"]] = body

    client.on_message = on_message
    if parsed.username:  # the embedded broker's local user
        client.username_pw_set(unquote(parsed.username), unquote(parsed.password or ""))
    client.connect(parsed.hostname or "127.0.0.1", parsed.port or 1883)
    client.subscribe("fleet/+/vehicle/+/route", qos=1)
    client.loop_start()
    return client, got, lock


def test_a_dispatcher_releases_the_second_wave(qtbot, desk, tmp_path):
    """The supervisor planned the day. At 07:30 the board shows both waves and every W2 route NO-GO on loading, with why
    and how to fix. The dispatcher marks W2's loads checked on the board and releases the
    wave: the green routes are released (the status bar says so), each driver's device gets
    its route (retained, version, stops in order), the twin confirms it and the board shows
    the confirmation; each release is stored with who and when, in the change log."""
    first = desk("supervisor", "sam")  # the day's first plan is a supervisor's
    first.close()
    first.context.shutdown()
    window = desk("dispatcher", "dana")
    ctx = window.context
    pane = window.release_board.pane
    window._docks["release"].raise_()
    qtbot.waitUntil(lambda: ctx.release.gate is not None and pane.routes_table.row_count() > 0,
                    timeout=60_000)  # fmt: skip
    gate = ctx.release.gate
    assert list(gate.waves) == ["W1", "W2"]
    assert [pane.waves_table.item(r, 0).text() for r in range(2)] == ["W1", "W2"]
    assert pane.waves_table.item(1, 1).text() == "09:00"  # W2's cut-off
    w2 = [g.route_id for g in gate.wave_routes("W2")]
    assert w2
    for rid in w2:
        row = pane._route_ids.index(rid)
        assert _cell(pane.routes_table, row, "Gate").startswith("NO-GO"), rid
        assert "loading" in _cell(pane.routes_table, row, "Gate")
    pane.select_route(w2[0])
    checks = pane.checks_table
    rows = {checks.item(r, 0).text(): r for r in range(checks.rowCount())}
    assert checks.item(rows["loading"], 1).text() == "✗"
    assert checks.item(rows["loading"], 4).text()  # how to fix it
    assert not pane.override_button.isEnabled()  # a supervisor's
    shot(window, tmp_path, "before")

    for rid in w2:  # the dispatcher checks each load and marks it on the board
        pane.select_route(rid)
        QTest.mouseClick(pane.loaded_button, Qt.MouseButton.LeftButton)
    assert all(ctx.state.route(rid).status is RouteStatus.READY for rid in w2)
    green = [rid for rid in w2 if ctx.release.gate.routes[rid].go]
    assert green

    client, got, lock = _devices(ctx.live.service.url)
    try:
        pane.wave_combo.setCurrentText("W2")
        QTest.mouseClick(pane.wave_button, Qt.MouseButton.LeftButton)
        assert all(ctx.state.route(rid).status is RouteStatus.RELEASED for rid in green)
        assert window.status.text.startswith(f"Released {len(green)} route(s)")
        vehicles = {ctx.state.route(rid).vehicle_id: rid for rid in green}

        def all_sent() -> bool:
            with lock:
                return all(v in got and got[v]["route_id"] == r for v, r in vehicles.items())

        qtbot.waitUntil(all_sent, timeout=30_000)
        for vid, rid in vehicles.items():
            body = got[vid]
            assert body["status"] == "released" and body["version"] >= 1 and body["wave"] == "W2"
            assert [s["order_id"] for s in body["stops"]] == list(ctx.state.route(rid).order_ids)

        def confirmed() -> bool:
            return all(
                _cell(pane.routes_table, pane._route_ids.index(rid), "Confirmed").startswith("v")
                for rid in green
            )

        qtbot.waitUntil(confirmed, timeout=60_000)  # the twin's route_ack
    finally:
        client.loop_stop()
        client.disconnect()
    shot(window, tmp_path, "released")
    with ctx.store.read_session() as s:
        released = s.scalars(select(RouteTransitionRow).where(
            RouteTransitionRow.to_status == "released")).all()  # fmt: skip
        assert {r.route_id for r in released} == set(green)
        assert {r.actor for r in released} == {ctx.actor}
        log = s.scalars(select(ChangeLogRow).where(ChangeLogRow.entity == "command")).all()
        assert any(r.after.get("command") == "release" and r.after.get("wave") == "W2"
                   for r in log)  # fmt: skip
