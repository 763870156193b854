"""The workstation's MQTT receive path (chunked socket reads, PUBLISH straight to the
ingest) against a real Mosquitto: every message intact, in order, acknowledged."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
import time
import uuid

import pytest

from app.telemetry.mqtt_client import LeanClient, MqttConfig, paho_client
from tests.app.test_telemetry_mqtt import publisher, wait_for

pytestmark = pytest.mark.mqtt
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"


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


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_huge_messages_are_counted_too_large_and_never_held_in_memory(mqtt_url, protocol, tmp_path):
    """Twelve 1-10 MB payloads (one a valid fix plus padding) published at the workstation:
    each is counted as too_large, none applied, the memory they passed through given back
    (they left 58 MB behind), and the fixes after them still arrive."""
    from app.telemetry.decode import Decoder, DeviceMap
    from app.telemetry.ingest import Ingest
    from app.telemetry.mqtt_client import TelemetryClient
    from tests.fixtures.mqtt import native_fix

    ingest = Ingest(Decoder(DeviceMap(), depot_id="D1"))
    cfg = MqttConfig(
        url=mqtt_url, client_id=f"big-{uuid.uuid4().hex[:6]}", depot_id="D1", protocol=protocol
    )
    client = TelemetryClient(cfg, ingest)
    client.start()
    pub = publisher(mqtt_url)
    topic = "fleet/D1/vehicle/V1/telemetry"
    try:
        assert wait_for(lambda: client.state == "connected")
        time.sleep(0.3)
        now = time.time() - 60
        pub.publish(topic, native_fix("V1", 1, ts=now), qos=1)
        assert wait_for(lambda: ingest.accepted == 1)
        chunk = b"x" * 65536
        before = _rss_mb()
        for i, size in enumerate(range(1, 13)):
            # A valid fix padded to `size` MB, written and published by another process in
            # chunks: no buffer of that size in this one.
            path = tmp_path / "big.json"
            with path.open("wb") as fh:
                fh.write(native_fix("V1", 2 + i, ts=now + 1 + i)[:-1] + b' ,"pad":"')
                for _ in range(size * 16):
                    fh.write(chunk)
                fh.write(b'"}')
            subprocess.run(
                [
                    MOSQUITTO_PUB,
                    "-h",
                    cfg.host,
                    "-p",
                    str(cfg.port),
                    "-q",
                    "1",
                    "-t",
                    topic,
                    "-f",
                    str(path),
                ],  # fmt: skip
                check=True,
                timeout=60,
            )
        assert wait_for(lambda: ingest.reject_counts()["too_large"] == 12, 60), ingest.received
        pub.publish(topic, native_fix("V1", 50, ts=now + 50), qos=1)
        assert wait_for(lambda: ingest.accepted == 2), ingest.last_rejects()[-1]
        grown = _rss_mb() - before
        assert grown < 8, f"{grown:.1f} MB kept after twelve 1-10 MB messages"
        assert "not kept" in ingest.last_rejects()[-1].detail
        assert [f.seq for f in ingest.drain().fixes] == [1, 50]
    finally:
        pub.loop_stop()
        client.stop()
