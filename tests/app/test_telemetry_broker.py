"""The embedded broker: local only, authenticated, and it keeps the workstation's session."""

from __future__ import annotations

import time

import pytest

from app.simulator.publisher import Publisher
from app.telemetry.broker import EmbeddedBroker
from app.telemetry.decode import Decoder, DeviceMap
from app.telemetry.ingest import Ingest
from app.telemetry.mqtt_client import MqttConfig, TelemetryClient
from tests.fixtures.mqtt import native_fix


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def broker(tmp_path):
    """An embedded amqtt broker on a free 127.0.0.1 port."""
    with EmbeddedBroker(state_dir=tmp_path) as b:
        yield b


def connect(url: str, cid: str):
    ingest = Ingest(Decoder(DeviceMap(), depot_id="D1"))
    client = TelemetryClient(
        MqttConfig(url=url, client_id=cid, depot_id="D1", protocol="3.1.1"), ingest
    )
    client.start()
    assert wait_for(lambda: client.state == "connected"), client.state
    time.sleep(0.2)
    return client, ingest


def test_embedded_broker_keeps_the_session_across_a_workstation_restart(broker):
    """Fixes published while the workstation was closed arrive when it reconnects."""
    assert broker.port != 1883 and broker.host == "127.0.0.1"
    client, _ = connect(broker.url, "ws-embedded")
    client.stop()
    pub = Publisher(broker.url).connect()
    now = time.time()
    for seq in range(1, 21):
        pub.publish("fleet/D1/vehicle/V1/telemetry", native_fix("V1", seq, ts=now + seq / 100))
    pub.close()
    client, ingest = connect(broker.url, "ws-embedded")
    try:
        assert wait_for(lambda: ingest.accepted == 20), ingest.accepted
    finally:
        client.stop()


def test_embedded_broker_refuses_a_wrong_password(broker):
    """A client without the local user's password is not let in."""
    url = f"mqtt://dispatch:wrong@127.0.0.1:{broker.port}"
    ingest = Ingest(Decoder())
    client = TelemetryClient(MqttConfig(url=url, client_id="intruder", protocol="3.1.1"), ingest)
    client.start()
    try:
        assert wait_for(lambda: "refused" in str(ingest.drain().connection), timeout=5)
        assert client.state != "connected"
    finally:
        client.stop()
