"""The workstation's MQTT receive path (chunked socket reads, PUBLISH straight to the
ingest) against a real Mosquitto: every message intact, in order, acknowledged."""

from __future__ import annotations

import random
import threading
import uuid

import pytest

from app.telemetry.mqtt_client import LeanClient, MqttConfig, paho_client
from tests.app.test_telemetry_mqtt import publisher, wait_for

pytestmark = pytest.mark.mqtt


def _payloads(count: int) -> list[bytes]:
    """Mostly small messages, some large ones that span many 64 KiB reads."""
    rng = random.Random(7)
    sizes = [rng.choice((1, 90, 150, 300, 4000, 70_000, 200_000)) for _ in range(count)]
    return [
        (f"{i:06d}:".encode() + bytes(rng.getrandbits(8) for _ in range(8)) * s)[: s + 7]
        for i, s in enumerate(sizes)
    ]


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_every_message_arrives_intact_and_in_order_at_each_qos(mqtt_url, protocol):
    got: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    lock = threading.Lock()

    def sink(topic: bytes, payload: bytes) -> None:
        with lock:
            got[int(topic.decode().rsplit("/", 1)[1])].append(payload)

    def on_message(client, userdata, message) -> None:  # QoS 2 goes through paho
        sink(message._topic, message.payload)

    base = f"recv/{uuid.uuid4().hex[:8]}"
    cfg = MqttConfig(url=mqtt_url, client_id=f"lean-{uuid.uuid4().hex[:6]}", protocol=protocol)
    client = paho_client(cfg, sink=sink)
    assert isinstance(client, LeanClient)
    client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_connect = lambda c, *a: c.subscribe(f"{base}/+", 2)
    client.connect(cfg.host, cfg.port)
    client.loop_start()
    pub = publisher(mqtt_url)
    try:
        assert subscribed.wait(10), "no SUBACK"
        sent = {qos: _payloads(300) for qos in (0, 1, 2)}
        for k in range(300):
            for qos in (0, 1, 2):
                pub.publish(f"{base}/{qos}", sent[qos][k], qos=qos)
        assert wait_for(lambda: sum(map(len, got.values())) == 900, timeout=60), {
            q: len(v) for q, v in got.items()
        }
        for qos in (0, 1, 2):
            assert got[qos] == sent[qos], f"QoS {qos}: payloads differ or out of order"
        # QoS 1 and 2 were acknowledged: nothing is left in flight with the broker.
        assert wait_for(lambda: not client._in_messages)
    finally:
        pub.loop_stop()
        client.disconnect()
        client.loop_stop()
