"""Telemetry ▸ Devices and rejects, over the real service, a real Mosquitto and a store:
an unmapped OwnTracks phone shows up, the user maps it, and its next fix moves the van."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt

from app.settings import Settings
from app.store import open_store, repository
from app.telemetry.persist import load_device_map
from app.telemetry.service import TelemetryService
from tests.app.test_telemetry_mqtt import publisher
from tests.fixtures.mqtt import owntracks
from tests.fixtures.scenarios import small_day
from widgets.telemetry_dialog import TelemetryDialog


def desk(tmp_path, mqtt_url, day):
    """A store holding the day's depot and vans, and the telemetry service over it."""
    store = open_store(f"sqlite:///{tmp_path / 'desk.db'}")
    with store.session() as session:
        repository.upsert_depots(session, day.depots, actor="test")
        repository.upsert_vehicles(session, day.vehicles, actor="test")
    settings = Settings(mqtt_url=mqtt_url, depot_id="D1", workstation_id=f"dlg-{time.time_ns()}")
    return store, TelemetryService(settings, store, vehicles=[v.id for v in day.vehicles])


def test_user_maps_an_unknown_phone_and_it_moves_the_van(qtbot, tmp_path, mqtt_url):
    day = small_day()
    store, service = desk(tmp_path, mqtt_url, day)
    service.start()
    pub = publisher(mqtt_url)
    dialog = TelemetryDialog(service, [v.id for v in day.vehicles])
    qtbot.addWidget(dialog)
    dialog.show()
    try:
        qtbot.waitUntil(lambda: service.client.state == "connected", timeout=10_000)
        time.sleep(0.3)  # subscriptions acknowledged
        pub.publish("owntracks/alice/phone", owntracks(lat=40.70), qos=1)

        # The phone is listed as heard from but not mapped; its fix was refused and shown.
        def listed() -> bool:
            dialog.refresh()
            keys = [dialog.devices.item(r, 0).text() for r in range(dialog.devices.rowCount())]
            return "alice/phone" in keys

        qtbot.waitUntil(listed, timeout=10_000)
        assert "V1" not in service.feed.state.positions
        assert "unknown vehicle 1" in dialog.reject_summary.text()
        assert dialog.rejects.item(0, 1).text() == "unknown_vehicle"
        assert dialog.rejects.item(0, 2).text() == "owntracks/alice/phone"

        # Mapping to an unknown vehicle is refused with the reason, nothing stored.
        dialog.device_edit.setText("alice/phone")
        dialog.vehicle_combo.addItem("V99")
        dialog.vehicle_combo.setCurrentText("V99")
        qtbot.mouseClick(dialog.map_button, Qt.MouseButton.LeftButton)
        assert (
            "V99" in dialog.device_message.text()
            and "does not exist" in dialog.device_message.text()
        )

        dialog.vehicle_combo.setCurrentText("V1")
        qtbot.mouseClick(dialog.map_button, Qt.MouseButton.LeftButton)
        with store.read_session() as session:
            assert load_device_map(session) == {"alice/phone": "V1"}
        pub.publish("owntracks/alice/phone", owntracks(lat=40.71, tst=time.time() + 1), qos=1)
        qtbot.waitUntil(lambda: "V1" in service.feed.state.positions, timeout=10_000)
        assert service.feed.state.positions["V1"].lat == 40.71
        assert service.feed.state.positions["V1"].source == "owntracks"

        # Removed again: the next fix is refused, the van stays where it was.
        qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
        with store.read_session() as session:
            assert load_device_map(session) == {}
        before = service.ingest.rejected
        pub.publish("owntracks/alice/phone", owntracks(lat=40.72, tst=time.time() + 2), qos=1)
        qtbot.waitUntil(lambda: service.ingest.rejected == before + 1, timeout=10_000)
        assert service.feed.state.positions["V1"].lat == 40.71
    finally:
        pub.loop_stop()
        service.stop()
        store.close()


def test_hostile_messages_are_refused_and_shown_with_their_reasons(qtbot, tmp_path, mqtt_url):
    """Over the running service watching a plan: a forged stop event, a forged first fix
    far away, a seq beyond 64 bits, a 2 MB payload and a tracker restarting its counter.
    The dialog lists each refusal under its reason, names the restarted tracker, and says
    everything else was stored."""
    from app.simulator import sweep_plan
    from tests.fixtures.mqtt import native_event, native_fix

    day = small_day()
    plan = sweep_plan(day)
    route = next(r for r in plan.routes if r.stops)
    owner = route.vehicle_id
    other = next(v.id for v in day.vehicles if v.id != owner)
    store, service = desk(tmp_path, mqtt_url, day)
    service.watch(plan, day.orders, depot=day.depots[0].location)
    service.start()
    pub = publisher(mqtt_url)
    dialog = TelemetryDialog(service, [v.id for v in day.vehicles])
    qtbot.addWidget(dialog)
    dialog.tabs.setCurrentIndex(1)
    dialog.show()
    topic = f"fleet/D1/vehicle/{other}/telemetry"
    now = time.time() - 120
    try:
        qtbot.waitUntil(lambda: service.client.state == "connected", timeout=10_000)
        time.sleep(0.3)
        stop = route.stops[0].order_id
        for payload in (
            native_fix(other, 5, ts=now, lat=48.85, lon=2.35),  # Paris, as a first fix
            native_fix(other, 10**40, ts=now + 1),
            native_fix(other, 7, ts=now + 2) + b" " * 2_000_000,
        ):
            pub.publish(topic, payload, qos=1)
        for seq in (100, 101, 102, 0, 1):  # the tracker reboots after 102
            pub.publish(topic, native_fix(other, seq, ts=now + 10 + seq / 1000 + (seq < 100) * 5))
        pub.publish(
            f"fleet/D1/vehicle/{other}/event", native_event(other, "e-spoof", "delivered", stop)
        )

        def shown() -> bool:
            dialog.refresh()
            return "stop not on route 1" in dialog.reject_summary.text()

        qtbot.waitUntil(shown, timeout=15_000)
        summary = dialog.reject_summary.text()
        for words in ("outside service area 1", "bad value 1", "too large 1"):
            assert words in summary, summary
        assert f"{other} ×1" in dialog.restarts.text()
        reasons = {dialog.rejects.item(r, 1).text() for r in range(dialog.rejects.rowCount())}
        assert {"stop_not_on_route", "too_large", "outside_service_area"} <= reasons
        assert (
            stop not in service.feed.state.stops
            or service.feed.state.stops[stop].status == "planned"
        )

        def stored() -> bool:
            dialog.refresh()
            return "Stored: 5 breadcrumbs" in dialog.storage.text()

        qtbot.waitUntil(stored, timeout=10_000)
        dialog.grab().save(str(tmp_path / "telemetry-dialog-hostile.png"))
    finally:
        pub.loop_stop()
        service.stop()
        store.close()
