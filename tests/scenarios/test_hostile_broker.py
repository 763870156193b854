"""A dispatcher's day on a depot broker with TLS and passwords, under hostile traffic.

The real window over the demo day, a real Mosquitto (TLS with a CA made here, users from
``mosquitto_passwd``) and a real SQLite database. A wrong password reads as refused in the
status bar; with the password from the keyring the broker is online; a van marking another
van's stop delivered is refused and shown in Telemetry ▸ rejected messages while the stop
stays planned, and the real van's delivery still lands.
"""

from __future__ import annotations

import time
import uuid

import pytest

from app import secrets
from app.context import AppContext
from app.settings import Settings
from tests.fixtures.keyring import DictKeyring
from tests.fixtures.mqtt import SECURE_USERS, native_event, simulator_publisher
from widgets.main_window import MainWindow

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


def open_window(qtbot, tmp_path, monkeypatch, broker, **overrides) -> MainWindow:
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DISPATCH_MQTT_PASSWORD", raising=False)
    settings = Settings.from_env(
        demo=True,
        database_url="",
        first_plan_seconds=2.0,
        simulate=False,
        mqtt_url=broker.url,
        mqtt_username="desk1",
        mqtt_ca_file=broker.ca_file,
        depot_id="",
        workstation_id=f"desk-{uuid.uuid4().hex[:6]}",
        **overrides,
    )
    context = AppContext(settings, headless=True)
    window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    context.start()
    qtbot.waitUntil(lambda: context.live.service is not None, timeout=120_000)
    return window


def broker_label(window: MainWindow) -> str:
    return window._broker_label.text()


def status_of(context, order_id: str) -> str:
    route = context.state.plan.route_of(order_id)
    return next(s.status for s in route.stops if s.order_id == order_id)


def test_a_wrong_broker_password_reads_refused_in_the_status_bar(
    qtbot, tmp_path, monkeypatch, secure_mosquitto
):
    window = open_window(qtbot, tmp_path, monkeypatch, secure_mosquitto, mqtt_password="wrong")
    try:
        qtbot.waitUntil(lambda: "refused" in broker_label(window), timeout=30_000)
        assert broker_label(window) == "Broker: refused: bad user name or password"
        qtbot.wait(300)  # the status bar lays itself out again
        label = window._broker_label
        assert label.width() >= label.sizeHint().width(), "the refusal is cut off"
        window.grab().save(str(tmp_path / "broker-refused.png"))
    finally:
        window.close()
        qtbot.wait(50)


def test_a_van_cannot_deliver_another_vans_stop(
    qtbot, tmp_path, monkeypatch, secure_mosquitto, ring: DictKeyring
):
    secrets.set_secret("mqtt_password", SECURE_USERS["desk1"])
    window = open_window(qtbot, tmp_path, monkeypatch, secure_mosquitto)
    context = window.context
    pub = simulator_publisher(secure_mosquitto)
    try:
        qtbot.waitUntil(lambda: broker_label(window) == "Broker: online", timeout=30_000)
        time.sleep(0.3)  # subscriptions acknowledged
        routes = [r for r in context.state.plan.routes if r.stops]
        victim, spoofer = routes[0], routes[1]
        stop = victim.stops[0].order_id
        depot = context.state.index.depot.id
        now = context.now().timestamp()
        spoof = native_event(spoofer.vehicle_id, "spoof-1", "delivered", stop, ts=now)
        pub.publish(f"fleet/{depot}/vehicle/{spoofer.vehicle_id}/event", spoof)
        qtbot.waitUntil(
            lambda: context.live.reject_counts().get("stop_not_on_route") == 1, timeout=15_000
        )
        dialog = window.open_telemetry_dialog()
        dialog.tabs.setCurrentIndex(1)
        dialog.refresh()
        assert "stop not on route 1" in dialog.reject_summary.text()
        assert f"on {victim.vehicle_id}'s route" in dialog.rejects.item(0, 3).text()
        dialog.grab().save(str(tmp_path / "spoofed-stop-refused.png"))
        qtbot.wait(1500)  # a stop result would have been laid over the plan by now
        assert status_of(context, stop) == "planned"

        real = native_event(victim.vehicle_id, "real-1", "delivered", stop, ts=now + 1)
        pub.publish(f"fleet/{depot}/vehicle/{victim.vehicle_id}/event", real)
        qtbot.waitUntil(
            lambda: status_of(context, stop) == "delivered",
            timeout=15_000,
        )
        window.grab().save(str(tmp_path / "real-delivery.png"))
    finally:
        pub.close()
        window.close()
        qtbot.wait(50)
