"""``python main.py release``: the gate for scripts, and releases sent to a real broker."""

from __future__ import annotations

import json
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest

from main import main
from tests.app.test_release_support import desk_on, seed_release_day, sqlite_store


@pytest.fixture
def day_db(tmp_path, monkeypatch):
    """A SQLite database holding the release day, planned; the CLI's settings point at it."""
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DISPATCH_MQTT_URL", raising=False)
    store = sqlite_store(tmp_path)
    day, plan = seed_release_day(store)
    store.close()
    return f"sqlite:///{tmp_path / 'release.sqlite3'}", day, plan


def _run(capsys, *args):
    code = main(["release", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_json_lists_every_route_with_its_checks(day_db, capsys):
    """--json: per route at least route_id, wave, go and checks (name, ok, why)."""
    url, _day, plan = day_db
    code, out, _err = _run(capsys, "check", "--json", "--database", url, "--day",
                           plan.day.isoformat(), "--at", "06:45")  # fmt: skip
    assert code == 0
    items = json.loads(out)
    assert {i["route_id"] for i in items} == {r.id for r in plan.routes if r.stops}
    for item in items:
        assert {"route_id", "wave", "go", "checks"} <= item.keys()
        assert item["go"] is False  # nothing loaded yet
        loading = next(c for c in item["checks"] if c["name"] == "loading")
        assert loading["ok"] is False and loading["why"]
        assert all({"name", "ok", "why"} <= c.keys() for c in item["checks"])
    code, out, _err = _run(capsys, "check", "--json", "--wave", "W1", "--database", url,
                           "--day", plan.day.isoformat())  # fmt: skip
    assert code == 0 and {i["wave"] for i in json.loads(out)} == {"W1"}


def test_check_as_text_says_why_and_how_to_fix(day_db, capsys):
    url, _day, plan = day_db
    code, out, _err = _run(capsys, "check", "--database", url, "--day", plan.day.isoformat(),
                           "--at", "06:45")  # fmt: skip
    assert code == 0
    assert "Wave W1" in out and "NO-GO" in out
    assert "why: a route must not leave with goods still on the dock" in out and "fix:" in out


def test_release_without_a_broker_stores_but_says_nothing_was_sent(day_db, capsys):
    """Loaded W1 routes are released (stored), the CLI says they were not sent, exit 2."""
    url, _day, plan = day_db
    store = sqlite_store(_dir(url))
    desk = desk_on(store)
    w1 = [r for r in plan.routes if r.stops and r.wave == "W1"]
    for r in w1:
        desk.mark_loaded(r.id, now=_at(plan, 6, 50))
    store.close()
    code, out, err = _run(capsys, "--wave", "W1", "--database", url, "--day",
                          plan.day.isoformat(), "--at", "07:00")  # fmt: skip
    assert code == 2
    assert out.count("released ") == len(w1)
    assert "not sent" in err and "DISPATCH_MQTT_URL" in err


def test_unknown_wave_and_nothing_to_release(day_db, capsys):
    url, _day, plan = day_db
    code, out, _err = _run(capsys, "--wave", "W9", "--database", url, "--day",
                           plan.day.isoformat())  # fmt: skip
    assert code == 1 and "no route of wave W9" in out
    code, _out, err = _run(capsys, "--database", url)
    assert code == 2 and "--wave" in err


@pytest.mark.mqtt
def test_release_sends_each_route_retained_to_its_vehicle(day_db, capsys, mqtt_url, monkeypatch):
    """With a broker, the released routes go out retained: a driver's device subscribing
    afterwards gets its route, with the stops in order and the version."""
    url, _day, plan = day_db
    monkeypatch.setenv("DISPATCH_MQTT_URL", mqtt_url)
    monkeypatch.setenv("DISPATCH_WORKSTATION_ID", f"cli-{uuid.uuid4().hex[:6]}")
    store = sqlite_store(_dir(url))
    desk = desk_on(store)
    w1 = [r for r in plan.routes if r.stops and r.wave == "W1"]
    for r in w1:
        desk.mark_loaded(r.id, now=_at(plan, 6, 50))
    store.close()
    code, out, err = _run(capsys, "--wave", "W1", "--database", url, "--day",
                          plan.day.isoformat(), "--at", "07:00")  # fmt: skip
    assert code == 0, err
    assert out.count("sent ") == len(w1)
    got = _retained(mqtt_url, [f"fleet/D1/vehicle/{r.vehicle_id}/route" for r in w1])
    for r in w1:
        body = got[f"fleet/D1/vehicle/{r.vehicle_id}/route"]
        assert body["route_id"] == r.id and body["status"] == "released"
        assert [s["order_id"] for s in body["stops"]] == list(r.order_ids)
        assert body["version"] >= 1


def _retained(url: str, topics: list[str], timeout: float = 10.0) -> dict[str, dict]:
    """What a device subscribing now gets on ``topics`` (retained messages)."""
    host, port = url.removeprefix("mqtt://").split(":")
    got: dict[str, dict] = {}
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"drv-{uuid.uuid4().hex[:6]}")

    def on_message(_c, _u, msg):
        got[msg.topic] = json.loads(msg.payload)
        if len(got) == len(topics):
            done.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_a: c.subscribe([(t, 1) for t in topics])
    client.connect(host, int(port))
    client.loop_start()
    done.wait(timeout)
    client.loop_stop()
    client.disconnect()
    return got


def _dir(url: str):
    from pathlib import Path

    return Path(url.removeprefix("sqlite:///")).parent


def _at(plan, hour, minute):
    from tests.app.test_release_support import at

    return at(hour, minute, plan.day)
