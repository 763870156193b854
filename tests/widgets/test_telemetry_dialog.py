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


def test_user_maps_an_unknown_phone_and_it_moves_the_van(qtbot, tmp_path, mqtt_url):
    day = small_day()
    store = open_store(f"sqlite:///{tmp_path / 'desk.db'}")
    with store.session() as session:
        repository.upsert_depots(session, day.depots, actor="test")
        repository.upsert_vehicles(session, day.vehicles, actor="test")
    settings = Settings(mqtt_url=mqtt_url, depot_id="D1", workstation_id=f"dlg-{time.time_ns()}")
    service = TelemetryService(settings, store, vehicles=[v.id for v in day.vehicles])
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
