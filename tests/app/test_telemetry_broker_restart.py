"""The workstation's telemetry service across a depot broker crash: the QoS 1 fixes a
tracker buffered while the broker was down arrive after its restart, join the trail (and
the store) in time order, and never pull the live marker back."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from app.settings import Settings
from app.store import open_store
from app.store.models import BreadcrumbRow
from app.telemetry.service import TelemetryService
from tests.app.test_telemetry_mqtt import publisher, wait_for
from tests.fixtures.mqtt import native_fix

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

TOPIC = "fleet/D1/vehicle/V1/telemetry"
WAIT_MS = 30_000


def test_fixes_buffered_while_the_broker_was_down_are_back_filled(
    qtbot, tmp_path, monkeypatch, private_mosquitto
) -> None:
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    store = open_store(f"sqlite:///{tmp_path / 'desk.sqlite3'}", workstation="ws-restart")
    settings = Settings(mqtt_url=private_mosquitto.url, depot_id="D1", workstation_id="ws-b")
    service = TelemetryService(settings, store, vehicles=["V1"])
    markers: list[int] = []  # the live marker's seq at every update the window gets
    service.feed.sig_fixes_applied.connect(
        lambda moved: markers.append(moved["V1"].seq) if "V1" in moved else None
    )
    t0 = time.time() - 120

    def fix(seq: int) -> bytes:
        return native_fix("V1", seq, ts=t0 + seq, lat=40.76 + seq * 1e-5)

    service.start()
    tracker = publisher(private_mosquitto.url, client_id="tracker-V1")  # persistent, QoS 1
    try:
        qtbot.waitUntil(lambda: service.feed.connection_state == "connected", timeout=WAIT_MS)
        time.sleep(0.3)  # the subscription acknowledged
        for seq in range(1, 11):
            tracker.publish(TOPIC, fix(seq), qos=1)
        qtbot.waitUntil(lambda: markers[-1:] == [10], timeout=WAIT_MS)

        private_mosquitto.kill()  # the depot broker crashes
        qtbot.waitUntil(lambda: service.feed.connection_state != "connected", timeout=WAIT_MS)
        tracker.loop_stop()  # the tracker stores and forwards: fixes 11..30 wait in it
        for seq in range(11, 31):
            tracker.publish(TOPIC, fix(seq), qos=1)

        private_mosquitto.start()  # same port and data: the workstation's session survived
        qtbot.waitUntil(lambda: service.feed.connection_state == "connected", timeout=WAIT_MS)
        time.sleep(0.3)
        live = publisher(private_mosquitto.url)  # the tracker's live fix goes first
        live.publish(TOPIC, fix(31), qos=1)
        qtbot.waitUntil(lambda: markers[-1:] == [31], timeout=WAIT_MS)
        live.loop_stop()

        tracker.loop_start()  # reconnects and empties its buffer: older fixes, after 31
        trail = lambda: [f.seq for f in service.feed.state.trails.get("V1", ())]  # noqa: E731
        qtbot.waitUntil(lambda: trail() == list(range(1, 32)), timeout=WAIT_MS)
        qtbot.wait(500)  # any late update would show below

        assert service.feed.state.positions["V1"].seq == 31  # the marker stayed on 31
        assert markers == sorted(markers) and markers[-1] == 31, markers
        assert service.ingest.rejected == 0, service.ingest.last_rejects()

        def stored() -> int:
            with store.read_session() as s:
                return s.scalar(select(func.count()).select_from(BreadcrumbRow)) or 0

        assert wait_for(lambda: stored() == 31, timeout=10), stored()
    finally:
        tracker.loop_stop()
        service.stop()
        store.close()
