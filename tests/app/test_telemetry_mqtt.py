"""Telemetry over a real Mosquitto: every format end to end, and no loss across a crash."""

from __future__ import annotations

import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from app.telemetry.decode import Decoder, DeviceMap
from app.telemetry.ingest import Ingest
from app.telemetry.mqtt_client import MqttConfig, TelemetryClient
from app.telemetry.state import LiveState
from tests.fixtures.mqtt import native_event, native_fix, owntracks, traccar

pytestmark = pytest.mark.mqtt


def wait_for(predicate, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def publisher(url: str, client_id: str | None = None) -> mqtt.Client:
    cfg = MqttConfig(url=url, client_id=client_id or f"pub-{uuid.uuid4().hex[:8]}")
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=cfg.client_id,
        protocol=mqtt.MQTTv311,
        clean_session=client_id is None,
    )
    client.reconnect_delay_set(1, 2)
    client.max_queued_messages_set(0)
    client.connect_async(cfg.host, cfg.port)
    client.loop_start()
    assert wait_for(client.is_connected), "publisher could not connect"
    return client


def workstation(url: str, client_id: str, devices: DeviceMap | None = None):
    ingest = Ingest(Decoder(devices or DeviceMap(), depot_id="D1"))
    client = TelemetryClient(MqttConfig(url=url, client_id=client_id, depot_id="D1"), ingest)
    client.start()
    assert wait_for(lambda: client.state == "connected"), "workstation could not connect"
    time.sleep(0.2)  # subscriptions acknowledged
    return client, ingest


def test_each_format_round_trips_through_the_broker(mqtt_url):
    """Native fix + event, OwnTracks and Traccar published to Mosquitto reach the live state."""
    devices = DeviceMap({"alice/phone": "V2", "352094080000001": "V3"})
    client, ingest = workstation(mqtt_url, f"ws-{uuid.uuid4().hex[:6]}", devices)
    pub = publisher(mqtt_url)
    try:
        pub.publish("fleet/D1/vehicle/V1/telemetry", native_fix("V1", seq=1), qos=1)
        pub.publish(
            "fleet/D1/vehicle/V1/event", native_event("V1", "ev-rt-1", "arrived", "O1"), qos=1
        )
        pub.publish("owntracks/alice/phone", owntracks(lat=40.70, vel=50), qos=1)
        pub.publish("traccar/352094080000001", traccar(lat=40.71, knots=20), qos=1)
        state = LiveState()
        assert wait_for(lambda: ingest.accepted == 4), ingest.last_rejects()
        applied = state.apply(ingest.drain())
        assert set(applied.moved) == {"V1", "V2", "V3"}
        assert state.positions["V2"].speed_kmh == 50
        assert state.positions["V3"].speed_kmh == pytest.approx(37.04)
        assert state.stops["O1"].status == "arrived"
    finally:
        pub.loop_stop()
        client.stop()


def test_messages_sent_while_the_workstation_was_away_arrive(mqtt_url):
    """With the persistent session, fixes published during a disconnect arrive afterwards."""
    cid = f"ws-{uuid.uuid4().hex[:6]}"
    client, _ = workstation(mqtt_url, cid)
    client.stop()
    pub = publisher(mqtt_url)
    now = time.time()
    for seq in range(1, 51):
        pub.publish(
            "fleet/D1/vehicle/V5/telemetry", native_fix("V5", seq, ts=now + seq * 0.01), qos=1
        )
    pub.loop_stop()
    client, ingest = workstation(mqtt_url, cid)
    try:
        assert wait_for(lambda: ingest.accepted == 50), ingest.accepted
    finally:
        client.stop()


@pytest.mark.slow
def test_broker_killed_mid_stream_loses_nothing_and_applies_no_duplicate(private_mosquitto):
    """SIGKILL the broker during a QoS 1 stream: after restart every fix arrives exactly once."""
    url = private_mosquitto.url
    client, ingest = workstation(url, "ws-crash")
    pub = publisher(url, client_id="pub-crash")
    state = LiveState()
    applied = []
    total = 600
    now = time.time()
    try:
        for seq in range(1, total + 1):
            vid = f"V{seq % 3}"
            pub.publish(
                f"fleet/D1/vehicle/{vid}/telemetry",
                native_fix(vid, seq, ts=now + seq * 0.001, lat=40.76 + seq * 1e-6),
                qos=1,
            )
            if seq == total // 2:
                private_mosquitto.kill()
                time.sleep(0.5)
                private_mosquitto.start()
            time.sleep(0.002)

        states = []

        def all_in():
            batch = ingest.drain()
            states.extend(s for s, _ in batch.connection)
            applied.extend(state.apply(batch).breadcrumbs)
            return len(applied) >= total

        assert wait_for(all_in, timeout=20), f"{len(applied)} of {total} arrived"
        time.sleep(0.5)
        applied.extend(state.apply(ingest.drain()).breadcrumbs)
        seqs = sorted(f.seq for f in applied)
        assert seqs == list(range(1, total + 1)), "lost or duplicated fixes"
        assert "connecting" in states and states[-1] == "connected", states
        print("duplicates refused:", ingest.reject_counts()["duplicate_or_replayed_seq"])
    finally:
        pub.loop_stop()
        client.stop()
