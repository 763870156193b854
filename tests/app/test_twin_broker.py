"""``python -m app.simulator`` against a real broker follows the routes sent to the vehicles."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import date

import paho.mqtt.client as mqtt
import pytest

from app.simulator import sweep_plan, synthetic_day
from app.simulator.routes_in import RouteMessageError, parse_route_message

DAY = date(2026, 12, 7)


def test_route_messages_parse_and_hostile_ones_are_refused():
    """Stops as objects or ids, a version; bad topics, versions, stops and JSON say why."""
    topic = "fleet/SIM/vehicle/V1/route"
    sent = parse_route_message(
        topic, b'{"v":1,"vehicle_id":"V1","route_id":"R-V1","version":3,'
        b'"stops":[{"order_id":"A","eta":"x"},{"stop_id":"B"},"C"]}'
    )  # fmt: skip
    assert (sent.vehicle_id, sent.route_id, sent.version, sent.order_ids) == (
        "V1", "R-V1", 3, ("A", "B", "C"),
    )  # fmt: skip
    for bad, why in (
        (b"{", "not JSON"),
        (b'{"version":"3","stops":[]}', "version"),
        (b'{"version":1,"stops":[{"x":1}]}', "stops\\[0\\]"),
        (b'{"version":1,"stops":["A","A"]}', "twice"),
        (b'{"vehicle_id":"V2","version":1,"stops":[]}', "topic"),
    ):
        with pytest.raises(RouteMessageError, match=why):
            parse_route_message(topic, bad)
    with pytest.raises(RouteMessageError, match="not fleet"):
        parse_route_message("fleet/SIM/vehicle/V1/telemetry", b"{}")


def test_the_simulator_process_follows_a_retained_route(mqtt_url):
    """A route sent (retained) before the simulator starts is the one its van drives: the
    van's first arrival is the first stop of the sent route, not of the first plan."""
    day = synthetic_day(4, seed=3, day=DAY)
    plan = sweep_plan(day)
    route = next(r for r in plan.routes if len(r.stops) >= 4)
    sent = list(route.order_ids[::-1])
    host, port = mqtt_url.removeprefix("mqtt://").split(":")
    events: list[dict] = []
    got = threading.Event()

    def on_message(_c, _u, message):
        body = json.loads(message.payload)
        if body["vehicle_id"] == route.vehicle_id and body["type"] == "arrived":
            events.append(body)
            got.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="twin-test")
    client.on_message = on_message
    client.connect(host, int(port))
    client.loop_start()
    try:
        client.subscribe("fleet/SIM/vehicle/+/event", qos=1)
        body = {"v": 1, "vehicle_id": route.vehicle_id, "route_id": route.id, "version": 1,
                "stops": [{"order_id": oid} for oid in sent]}  # fmt: skip
        topic = f"fleet/SIM/vehicle/{route.vehicle_id}/route"
        client.publish(topic, json.dumps(body), qos=1, retain=True).wait_for_publish(5)
        time.sleep(0.2)
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.simulator", "--broker", mqtt_url, "--vehicles", "4",
             "--seed", "3", "--day", DAY.isoformat(), "--speedup", "900", "--rate", "0.05",
             "--streets", "no", "--trouble", "none", "--duration", "40"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            assert got.wait(40), proc.stdout.read().decode() if proc.poll() is not None else ""
        finally:
            proc.terminate()
            out = proc.communicate(timeout=20)[0].decode()
        assert events[0]["stop_id"] == sent[0], out
        assert f"{route.vehicle_id} follows route {route.id} v1" in out
    finally:
        client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)  # clear it
        client.loop_stop()
        client.disconnect()
