"""The release room's MQTT connection against a real Mosquitto: routes out retained (and to
OwnTracks phones), dock events and acknowledgements in, a broker away reported."""

from __future__ import annotations

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from app.release.channel import NotConnected, Outgoing, ReleaseChannel
from app.release.dock_events import Known, ReleaseDecoder, ReleaseInbox
from app.store.repository_release import Ack, Scan
from app.telemetry.mqtt_client import MqttConfig

pytestmark = pytest.mark.mqtt


def _client(url: str) -> mqtt.Client:
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    client.connect(host, int(port))
    client.loop_start()
    return client


def _channel(url: str, on_message=None) -> ReleaseChannel:
    config = MqttConfig(url=url, client_id=f"desk-{uuid.uuid4().hex[:8]}", protocol="5")
    channel = ReleaseChannel(config, "D1", on_message).start()
    assert channel.wait_connected(10)
    return channel


def test_routes_are_retained_for_devices_that_subscribe_later(mqtt_url):
    """Published and acknowledged by the broker; a device connecting afterwards gets the
    newest route of its vehicle, and its OwnTracks phone the waypoints command."""
    channel = _channel(mqtt_url)
    vid = f"V{uuid.uuid4().hex[:5]}"
    topic = f"fleet/D1/vehicle/{vid}/route"
    try:
        assert (
            channel.publish(
                [
                    Outgoing(topic, b'{"version": 1}'),
                    Outgoing(topic, b'{"version": 2}'),
                    Outgoing(f"owntracks/ann/{vid}/cmd", b'{"_type": "cmd"}'),
                ]
            )
            == 3
        )
    finally:
        channel.stop()
    got: dict[str, bytes] = {}
    done = threading.Event()
    device = _client(mqtt_url)

    def on_message(_c, _u, msg):
        got[msg.topic] = msg.payload
        if len(got) == 2:
            done.set()

    device.on_message = on_message
    device.subscribe([(topic, 1), (f"owntracks/ann/{vid}/cmd", 1)])
    assert done.wait(10)
    device.loop_stop()
    assert json.loads(got[topic]) == {"version": 2}


def test_dock_events_and_acks_come_in_validated(mqtt_url):
    """A scanner's event and a driver's acknowledgement arrive through the broker and are
    decoded; a forged one is refused and counted."""
    known = Known("D1", frozenset({"K1"}), {"R1": frozenset({"O1"})}, {"R1": "V1"}, {"R1": 3})
    inbox = ReleaseInbox(ReleaseDecoder(known))
    channel = _channel(mqtt_url, inbox.on_message)
    sender = _client(mqtt_url)
    try:
        now = time.time()
        scan = {"v": 1, "event_id": f"s-{uuid.uuid4().hex}", "dock_id": "K1", "ts": now,
                "type": "loaded", "route_id": "R1", "order_id": "O1"}  # fmt: skip
        ack = {"v": 1, "event_id": f"a-{uuid.uuid4().hex}", "vehicle_id": "V1", "ts": now,
               "type": "route_ack", "route_id": "R1", "version": 3}  # fmt: skip
        sender.publish("fleet/D1/dock/K1/event", json.dumps(scan), qos=1).wait_for_publish(5)
        sender.publish("fleet/D1/vehicle/V1/route_ack", json.dumps(ack), qos=1).wait_for_publish(5)
        forged = dict(ack, event_id="forged", vehicle_id="V2")
        sender.publish("fleet/D1/vehicle/V2/route_ack", json.dumps(forged), qos=1).wait_for_publish(
            5
        )
        deadline = time.monotonic() + 10
        items: list = []
        while time.monotonic() < deadline and (len(items) < 2 or not inbox.rejected):
            items += inbox.drain()
            time.sleep(0.05)
    finally:
        sender.loop_stop()
        channel.stop()
    assert {type(i) for i in items} == {Scan, Ack}
    assert inbox.reject_counts()["unknown_vehicle"] == 1


def test_publishing_without_a_broker_says_so():
    """A broker that is not there: nothing is sent and the error says which broker."""
    config = MqttConfig(url="mqtt://127.0.0.1:9", client_id="desk-x", protocol="5")
    channel = ReleaseChannel(config, "D1").start()
    try:
        with pytest.raises(NotConnected, match="127.0.0.1:9"):
            channel.publish([Outgoing("fleet/D1/vehicle/V1/route", b"{}")])
    finally:
        channel.stop()
