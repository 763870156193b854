"""Dock events and route acknowledgements are hostile until validated: each bad message is
refused with a counted reason, never applied; good ones become scans and acks."""

from __future__ import annotations

import json

import pytest

from app.release.dock_events import Known, ReleaseDecoder, ReleaseInbox
from app.store.repository_release import Ack, Scan

NOW = 1_800_000_000.0
KNOWN = Known(
    "SLC-W",
    docks=frozenset({"SLC-W-1", "SLC-W-2"}),
    route_orders={"R1": frozenset({"O1", "O2", "O3"})},
    route_vehicle={"R1": "V07"},
    sent_version={"R1": 5},
)
DOCK = "fleet/SLC-W/dock/SLC-W-1/event"
ACK = "fleet/SLC-W/vehicle/V07/route_ack"


def _scan(**over) -> bytes:
    body = {"v": 1, "event_id": "e1", "dock_id": "SLC-W-1", "ts": NOW, "type": "loaded",
            "route_id": "R1", "order_id": "O1"}  # fmt: skip
    body.update(over)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def _ack(**over) -> bytes:
    body = {"v": 1, "event_id": "a1", "vehicle_id": "V07", "ts": NOW, "type": "route_ack",
            "route_id": "R1", "version": 5}  # fmt: skip
    body.update(over)
    return json.dumps(body).encode()


@pytest.fixture
def decoder():
    return ReleaseDecoder(KNOWN, clock=lambda: NOW)


def test_good_scans_and_acks_are_accepted(decoder):
    """A loaded scan, a count and an acknowledgement of a sent version come through."""
    scan = decoder.decode(DOCK, _scan())
    assert isinstance(scan, Scan) and (scan.route_id, scan.order_id, scan.kind) == ("R1", "O1",
                                                                                 "loaded")  # fmt: skip
    count = decoder.decode(DOCK, _scan(event_id="e2", type="count", order_id=..., scanned=2,
                                       expected=3))  # fmt: skip
    assert isinstance(count, Scan) and count.scanned == 2
    ack = decoder.decode(ACK, _ack())
    assert isinstance(ack, Ack) and ack.version == 5


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (DOCK, b"not json", "not_json"),
        (DOCK, b"[" * 40 + b"]" * 40, "not_json"),
        (DOCK, b'{"v":1,' + b'"x":"' + b"a" * 20_000 + b'"}', "too_large"),
        (DOCK, _scan(ts="yesterday"), "wrong_type"),
        (DOCK, _scan(route_id=...), "missing_field"),
        (DOCK, _scan(type="teleported"), "bad_value"),
        (DOCK, _scan(v=2), "bad_value"),
        (DOCK, _scan(event_id="x" * 500), "bad_value"),
        (DOCK, _scan(order_id="O\x00"), "bad_value"),
        (DOCK, _scan(ts=NOW + 3600), "future_timestamp"),
        (DOCK, _scan(ts=NOW - 3 * 86400), "stale_timestamp"),
        ("fleet/SLC-W/dock/SLC-W-9/event", _scan(dock_id="SLC-W-9"), "unknown_dock"),
        ("fleet/SLC-W/dock/SLC-W-2/event", _scan(), "dock_mismatch"),
        ("fleet/OTHER/dock/SLC-W-1/event", _scan(), "unknown_topic"),
        ("fleet/SLC-W/dock/SLC-W-1/other", _scan(), "unknown_topic"),
        (DOCK, _scan(route_id="R9"), "unknown_route"),
        (DOCK, _scan(order_id="O9"), "order_not_on_route"),
        (DOCK, _scan(order_id=...), "missing_field"),
        (DOCK, _scan(type="count", order_id=..., scanned=4), "bad_value"),
        (DOCK, _scan(type="count", order_id=..., scanned=-1), "bad_value"),
        (DOCK, _scan(type="count", order_id=...), "missing_field"),
        ("fleet/SLC-W/vehicle/V08/route_ack", _ack(), "vehicle_mismatch"),
        ("fleet/SLC-W/vehicle/V08/route_ack", _ack(vehicle_id="V08"), "unknown_vehicle"),
        (ACK, _ack(route_id="R9"), "unknown_route"),
        (ACK, _ack(version=6), "unknown_version"),
        (ACK, _ack(version=True), "wrong_type"),
    ],
)
def test_bad_messages_are_refused_with_their_reason(decoder, topic, payload, reason):
    """Every way a message can be wrong gives its own counted reason and nothing applied."""
    result = decoder.decode(topic, payload)
    assert not isinstance(result, (Scan, Ack)), result
    assert result.reason == reason, result


def test_a_replayed_event_counts_once(decoder):
    """The same event id twice: the second is a duplicate, refused."""
    assert isinstance(decoder.decode(DOCK, _scan()), Scan)
    assert decoder.decode(DOCK, _scan()).reason == "duplicate_event"


def test_the_inbox_counts_rejects_and_hands_over_the_good(decoder):
    """The inbox keeps what was accepted for the main thread, counts rejects by reason and
    keeps the last ones for a person to read."""
    inbox = ReleaseInbox(decoder)
    inbox.on_message(DOCK, _scan())
    inbox.on_message(DOCK, b"\xff\xfe")
    inbox.on_message(DOCK, _scan(event_id="e2", order_id="O9"))
    assert inbox.received == 3 and inbox.accepted == 1
    counts = inbox.reject_counts()
    assert counts["not_json"] == 1 and counts["order_not_on_route"] == 1
    assert [r.reason for r in inbox.last_rejects()] == ["not_json", "order_not_on_route"]
    (item,) = inbox.drain()
    assert isinstance(item, Scan) and inbox.drain() == []


def test_decoding_survives_anything(decoder):
    """Random bytes on both topics never raise."""
    import random

    rnd = random.Random(1)
    for _ in range(2000):
        payload = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 60)))
        result = decoder.decode(DOCK if rnd.random() < 0.5 else ACK, payload)
        assert result.reason != "decoder_error", result
