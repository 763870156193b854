"""Hostile trackers: each attack of the trust review, reproduced against the decoder.

Every test sends what an attacker (or a broken tracker) sent and asserts what a dispatcher
would see: the message refused under a counted reason, and the real tracker still heard.
"""

from __future__ import annotations

import json
import time

import pytest

from app.telemetry.decode import MAX_DEPTH, Decoder, DeviceMap, ServiceArea, too_deep
from app.telemetry.ingest import Ingest
from app.telemetry.messages import Fix, Reject, StopEvent
from app.telemetry.state import LiveState
from tests.fixtures.mqtt import native_event, native_fix

DEPOT = (40.76, -111.89)  # Salt Lake City


def topic(vid: str = "V1", kind: str = "telemetry", depot: str = "D1") -> str:
    return f"fleet/{depot}/vehicle/{vid}/{kind}"


def make_decoder(**kwargs) -> Decoder:
    devices = DeviceMap(vehicles=[f"V{i:02d}" for i in range(1, 30)] + ["V1", "V2"])
    decoder = Decoder(devices, depot_id="D1", **kwargs)
    decoder.service_area = ServiceArea(*DEPOT, 60_000.0)
    decoder.set_routes({"V03": ["O-1", "O-2"], "V22": ["O-3"]})
    return decoder


def decode_all(decoder: Decoder, items) -> list:
    """Through the batch decoder the ingest uses (fast path included)."""
    return decoder.decode_batch(list(items))


# -- finding 1: numbers beyond a signed 64-bit integer ---------------------------------


@pytest.mark.parametrize("seq", [10**40, 2**63, -1])
def test_a_seq_beyond_a_signed_64_bit_integer_is_refused(seq):
    """seq 10^40 (then written as breadcrumbs: OverflowError in every batch) never passes."""
    now = time.time()
    result = decode_all(make_decoder(), [(topic(), native_fix("V1", seq, ts=now))])[0]
    assert isinstance(result, Reject) and result.reason == "bad_value", result
    assert "seq" in result.detail


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("speed_kmh", 1e6),
        ("speed_kmh", -3.0),
        ("heading_deg", 725.0),
        ("accuracy_m", 1e9),
        ("odometer_km", -1.0),
        ("odometer_km", 1e300),
        ("lat", 1e308),
    ],
)
def test_every_numeric_field_is_range_checked(field, value):
    """No field carries a number a database or a map could choke on."""
    now = time.time()
    payload = native_fix("V1", 1, ts=now, **{field: value})
    result = decode_all(make_decoder(), [(topic(), payload)])[0]
    assert isinstance(result, Reject), result
    assert result.reason in ("bad_value", "lat_lon_out_of_range"), result


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "e" * 300),
        ("stop_id", "O" * 80),
        ("event_id", "ev\x00il"),
        ("reason", "x" * 999),
    ],
)
def test_event_strings_fit_the_database(field, value):
    """An id longer than its column, or with a NUL (PostgreSQL refuses it), never gets in."""
    msg = json.loads(native_event("V03", "e1", "delivered", "O-1"))
    msg[field] = value
    result = make_decoder().decode(topic("V03", "event"), json.dumps(msg).encode())
    assert isinstance(result, Reject) and result.reason == "bad_value", result


# -- finding 2: spoofing --------------------------------------------------------------


def test_a_stop_event_is_accepted_only_from_the_vehicle_whose_route_holds_the_stop():
    """V22 marking V03's stop delivered, or a stop `x` nobody serves: refused with a reason."""
    dec = make_decoder()
    other = dec.decode(topic("V22", "event"), native_event("V22", "e1", "delivered", "O-1"))
    unknown = dec.decode(topic("V22", "event"), native_event("V22", "e2", "delivered", "x"))
    missing = dec.decode(topic("V03", "event"), native_event("V03", "e3", "delivered", ""))
    own = dec.decode(topic("V03", "event"), native_event("V03", "e4", "delivered", "O-1"))
    breakdown = dec.decode(topic("V22", "event"), native_event("V22", "e5", "breakdown", ""))
    assert other.reason == "stop_not_on_route" and "V03's route" in other.detail
    assert unknown.reason == "stop_not_on_route" and "no route" in unknown.detail
    assert missing.reason == "missing_field"
    assert isinstance(own, StopEvent) and isinstance(breakdown, StopEvent)
    # the refused ids are not remembered: the real event with that id still counts
    real = dec.decode(topic("V03", "event"), native_event("V03", "e1", "delivered", "O-2"))
    assert isinstance(real, StopEvent)


def test_a_reassigned_stop_follows_its_new_vehicle():
    """After a reassignment the stop's events come from the vehicle now serving it."""
    dec = make_decoder()
    dec.set_routes({"V03": ["O-2"], "V22": ["O-3", "O-1"]})
    assert isinstance(
        dec.decode(topic("V22", "event"), native_event("V22", "e1", "arrived", "O-1")), StopEvent
    )
    late = dec.decode(topic("V03", "event"), native_event("V03", "e2", "delivered", "O-1"))
    assert late.reason == "stop_not_on_route"


def test_a_van_driving_two_routes_reports_on_the_stops_of_both():
    dec = make_decoder()
    dec.set_routes([("V03", ["O-1"]), ("V03", ["O-9"]), ("V22", ["O-3"])])
    for i, stop in enumerate(("O-1", "O-9")):
        event = native_event("V03", f"e{i}", "delivered", stop)
        assert isinstance(dec.decode(topic("V03", "event"), event), StopEvent)


def test_a_first_fix_outside_the_service_area_is_refused_and_the_real_tracker_is_heard():
    """A forged first fix in Paris does not place V20 there nor lock its real tracker out."""
    dec = make_decoder()
    now = time.time() - 60
    paris = decode_all(dec, [(topic("V20"), native_fix("V20", 7, ts=now, lat=48.85, lon=2.35))])
    assert paris[0].reason == "outside_service_area", paris[0]
    assert "8," in paris[0].detail and "km" in paris[0].detail  # 8,000-odd km away
    real = decode_all(
        dec, [(topic("V20"), native_fix("V20", s, ts=now + s, lat=40.70)) for s in (1, 2, 3)]
    )
    assert all(isinstance(r, Fix) and r.live for r in real), real


def test_one_fix_with_a_huge_seq_does_not_lock_the_real_tracker_out():
    """seq 2^62 once: refused as a jump; the real tracker's next fixes are taken at once."""
    dec = make_decoder()
    now = time.time() - 100
    stream = [
        (topic("V05"), native_fix("V05", s, ts=now + s - 1000, lat=40.70))
        for s in range(1000, 1010)
    ]
    assert all(isinstance(r, Fix) for r in decode_all(dec, stream))
    forged = decode_all(dec, [(topic("V05"), native_fix("V05", 2**62, ts=now + 10, lat=40.70))])
    assert forged[0].reason == "seq_jump", forged
    after = decode_all(
        dec,
        [
            (topic("V05"), native_fix("V05", s, ts=now + s - 999, lat=40.70))
            for s in range(1010, 1020)
        ],
    )
    assert all(isinstance(r, Fix) and r.live for r in after), after
    assert dec.seq_resets() == {}


def test_a_tracker_that_restarts_its_counter_is_heard_again_at_once(caplog):
    """A reboot (seq back to 0 with newer times), or a restart flag: logged, not locked out."""
    dec = make_decoder()
    now = time.time() - 100
    before = [
        (topic("V07"), native_fix("V07", s, ts=now - 500 + s, lat=40.70)) for s in range(400, 420)
    ]
    assert all(isinstance(r, Fix) for r in decode_all(dec, before))
    with caplog.at_level("INFO", logger="app.telemetry.decode"):
        after = decode_all(
            dec, [(topic("V07"), native_fix("V07", s, ts=now + s, lat=40.70)) for s in range(0, 20)]
        )
    assert all(isinstance(r, Fix) and r.live for r in after), after
    assert dec.seq_resets()["V07"][0] == 1
    assert "V07 restarted its sequence: 419 -> 0" in caplog.text
    # a QoS 1 duplicate of the restarted stream is still refused
    dup = decode_all(dec, [(topic("V07"), native_fix("V07", 19, ts=now + 19, lat=40.70))])
    assert dup[0].reason == "duplicate_or_replayed_seq"
    # a counter that restarts above its old value says so with the flag
    flagged = native_fix("V07", 10**9, ts=now + 30, lat=40.70, restart=True)
    assert isinstance(decode_all(dec, [(topic("V07"), flagged)])[0], Fix)
    assert dec.seq_resets()["V07"][0] == 2


def test_a_replay_from_before_a_restart_is_refused():
    """Old messages with high seqs, replayed after the tracker restarted, do not get in."""
    dec = make_decoder()
    now = time.time() - 1000
    old = [(topic("V08"), native_fix("V08", s, ts=now + s, lat=40.70)) for s in range(500, 510)]
    decode_all(dec, old)
    decode_all(dec, [(topic("V08"), native_fix("V08", 1, ts=now + 700, lat=40.70))])  # restart
    replay = decode_all(dec, old)
    assert {r.reason for r in replay} == {"duplicate_or_replayed_seq"}, replay


# -- finding 4: size and depth -----------------------------------------------------------


def test_a_huge_payload_is_refused_as_too_large_without_a_traceback(caplog):
    """A valid fix padded to 6 MB is not applied; it is counted as too_large."""
    ingest = Ingest(make_decoder())
    fix = json.loads(native_fix("V1", 1, ts=time.time()))
    fix["padding"] = "x" * 6_000_000
    padded = json.dumps(fix).encode()
    spaced = native_fix("V1", 2, ts=time.time())[:-1] + b" " * 6_000_000 + b"}"
    with caplog.at_level("WARNING"):
        ingest.on_message(topic(), padded)
        ingest.on_message(topic(), spaced)
    assert ingest.reject_counts()["too_large"] == 2 and ingest.accepted == 0
    assert "bytes" in ingest.last_rejects()[-1].detail
    assert "Traceback" not in caplog.text


def test_json_nested_100000_deep_is_refused_as_not_json_without_a_traceback(caplog):
    """No RecursionError counted as a decoder bug, no traceback per message."""
    ingest = Ingest(make_decoder())
    deep = b"[" * 100_000 + b"]" * 100_000
    unclosed = b'{"v":1,"x":' + b"[" * 16_000
    padded = native_fix("V1", 1, ts=time.time())[:-1] + b', "x":' + b"[" * 40 + b"]" * 40 + b"}"
    with caplog.at_level("WARNING"):
        for payload in (deep[:16_000], unclosed, padded):
            ingest.on_message(topic(), payload)
        ingest.on_message(topic(kind="event"), deep[:16_000])
    counts = ingest.reject_counts()
    assert counts["not_json"] == 4 and counts["decoder_error"] == 0, ingest.last_rejects()
    assert "nested" in ingest.last_rejects()[-1].detail
    assert not caplog.records


@pytest.mark.parametrize(
    ("payload", "deep"),
    [
        (b'{"a": [1, 2, {"b": [3]}]}', False),
        (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, False),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), True),
        (b'{"s": "' + b"[" * 500 + b'"}', False),  # brackets inside a string do not nest
        (b"[" * 5000, True),
        (b"[]" * 5000, False),
        (b"]" * 30 + b"[" * 30, True),
    ],
)
def test_the_depth_check_counts_nesting_not_brackets(payload, deep):
    assert too_deep(payload) is deep


def test_a_decoded_fix_is_new_to_the_live_state():
    """The decoder alone holds the sequence window: what it accepts, the state applies."""
    dec = make_decoder()
    state = LiveState()
    ingest = Ingest(dec)
    now = time.time() - 100
    for s in (1, 2, 2, 3, 1):
        ingest.on_message(topic(), native_fix("V1", s, ts=now + s))
    applied = state.apply(ingest.drain())
    assert [f.seq for f in applied.breadcrumbs] == [1, 2, 3]
    assert state.positions["V1"].seq == 3
