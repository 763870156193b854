"""Decoder: every format decodes, every kind of bad message is rejected with its reason."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.telemetry.decode import Decoder, DeviceMap
from app.telemetry.ingest import Ingest
from app.telemetry.messages import REJECT_REASONS, Fix, Reject, StopEvent
from tests.fixtures.mqtt import native_event, native_fix, owntracks, traccar

T = "fleet/D1/vehicle/V1/telemetry"
E = "fleet/D1/vehicle/V1/event"


def make_decoder(clock: Callable[[], float] = time.time) -> Decoder:
    devices = DeviceMap({"alice/phone": "V2", "352094080000001": "V3"}, vehicles=["V1", "V2", "V3"])
    return Decoder(devices, depot_id="D1", clock=clock)


def test_native_fix_decodes_with_epoch_and_iso_time():
    """A native fix with epoch seconds or ISO time becomes a live Fix of that vehicle."""
    dec = make_decoder()
    fix = dec.decode(T, native_fix(seq=1))
    assert isinstance(fix, Fix) and fix.vehicle_id == "V1" and fix.live
    iso = dec.decode(
        T,
        native_fix(
            seq=2,
            ts="2026-11-24T21:00:00.120Z".replace(
                "2026-11-24T21:00:00.120", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            ),
        ),
    )
    assert isinstance(iso, Fix) and abs(iso.ts - time.time()) < 5


def test_owntracks_and_traccar_map_devices_and_convert_speed():
    """OwnTracks vel is km/h, Traccar speed is knots; both land on the mapped vehicle."""
    dec = make_decoder()
    ot = dec.decode("owntracks/alice/phone", owntracks(vel=36))
    tc = dec.decode("traccar/352094080000001", traccar(knots=10.0))
    assert isinstance(ot, Fix) and ot.vehicle_id == "V2" and ot.speed_kmh == 36
    assert isinstance(tc, Fix) and tc.vehicle_id == "V3" and tc.speed_kmh == pytest.approx(18.52)


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (T, b"not json at all", "not_json"),
        (T, b'{"v":1,"vehicle_id":"V1","seq":"12","ts":1,"lat":1,"lon":1}', "wrong_type"),
        (T, b'{"v":1,"vehicle_id":"V1","ts":1,"lat":1,"lon":1}', "missing_field"),
        (T, b"[1,2,3]", "wrong_type"),
        ("fleet/D1/vehicle/V9/telemetry", lambda: native_fix(vid="V9"), "unknown_vehicle"),
        ("owntracks/bob/phone", lambda: owntracks(), "unknown_vehicle"),
        ("traccar/x", lambda: traccar(unique="nobody"), "unknown_vehicle"),
        (T, lambda: native_fix(lat=91.0), "lat_lon_out_of_range"),
        (T, lambda: native_fix(lon=-181.0), "lat_lon_out_of_range"),
        (T, lambda: native_fix(lat=0.0, lon=0.0), "null_island"),
        (T, lambda: native_fix(ts=time.time() + 600), "future_timestamp"),
        (T, lambda: native_fix(vid="V2"), "vehicle_mismatch"),
        ("some/other/topic", lambda: native_fix(), "unknown_topic"),
        ("fleet/D2/vehicle/V1/telemetry", lambda: native_fix(), "unknown_topic"),
        (E, lambda: native_event(type_="exploded"), "bad_value"),
    ],
)
def test_bad_messages_are_rejected_with_their_reason(topic, payload, reason):
    """Each kind of bad message is refused with the reason a dispatcher would look for."""
    if callable(payload):  # built now: a timestamp taken at collection may be long past
        payload = payload()
    result = make_decoder().decode(topic, payload)
    assert isinstance(result, Reject), result
    assert result.reason == reason, result.detail
    assert result.detail


def test_duplicate_seq_and_event_are_rejected():
    """A QoS 1 duplicate or replayed seq/event is refused, never applied twice."""
    dec = make_decoder()
    now = time.time()
    assert isinstance(dec.decode(T, native_fix(seq=5, ts=now)), Fix)
    assert dec.decode(T, native_fix(seq=5, ts=now)).reason == "duplicate_or_replayed_seq"
    assert isinstance(dec.decode(T, native_fix(seq=4, ts=now - 1)), Fix)  # back-filled
    assert dec.decode(T, native_fix(seq=4, ts=now - 1)).reason == "duplicate_or_replayed_seq"
    assert isinstance(dec.decode(E, native_event(event_id="ev-1")), StopEvent)
    assert dec.decode(E, native_event(event_id="ev-1")).reason == "duplicate_event"


def test_impossible_jump_is_rejected_and_does_not_move_the_vehicle():
    """A fix 50 km away one second later is refused; the next sane fix still counts."""
    dec = make_decoder()
    now = time.time() - 10
    assert isinstance(dec.decode(T, native_fix(seq=1, ts=now, lat=40.76)), Fix)
    jump = dec.decode(T, native_fix(seq=2, ts=now + 1, lat=41.21))
    assert jump.reason == "impossible_jump"
    ok = dec.decode(T, native_fix(seq=3, ts=now + 2, lat=40.7601))
    assert isinstance(ok, Fix) and ok.live


def test_backfilled_fix_is_accepted_for_the_trail_but_not_live():
    """A tracker emptying its buffer: older fixes are accepted, marked not live."""
    dec = make_decoder()
    now = time.time() - 100
    assert dec.decode(T, native_fix(seq=10, ts=now)).live
    old = dec.decode(T, native_fix(seq=3, ts=now - 30, lat=40.7605))
    assert isinstance(old, Fix) and not old.live


# -- fuzz: 10,000 malformed or mutated-valid payloads ------------------------------------

TOPICS = [T, E, "owntracks/alice/phone", "traccar/352094080000001", "fleet/D1/vehicle/V2/telemetry"]
FIELDS = ["v", "vehicle_id", "seq", "ts", "lat", "lon", "speed_kmh", "heading_deg", "event_id",
          "type", "stop_id", "_type", "tst", "vel", "position", "device", "latitude",
          "fixTime"]  # fmt: skip
# Fixed, so the same draws give the same bytes; the fuzzed decoder's clock stands still at
# it too, so a slow run (the module is collected long before it runs) judges the same.
NOW = float(int(time.time()))


def _valid(i: int) -> dict:
    return [
        json.loads(native_fix(seq=i, ts=NOW)),
        json.loads(native_event(event_id=f"e{i}", ts=NOW)),
        json.loads(owntracks(tst=NOW)),
        json.loads(traccar(ts=NOW)),
    ][i % 4]


NASTY = [None, True, False, 0, -1, 2**63, -(2**70), 0.0, 1e308, -1e-300, 91.0, -181.0, "",
         "2026-13-45T99:00:00Z", "\u0000", [], [1, "a"], {}, {"a": None}, "V1", 1e11, 1e13,
         NOW + 3600, NOW - 90_000, "location", "delivered", 40.76, -111.89]  # fmt: skip


def _value(rng: random.Random):
    pick = rng.random()
    if pick < 0.6:
        return rng.choice(NASTY)
    if pick < 0.8:
        return rng.uniform(-1e3, 1e3) * 10 ** rng.randint(-3, 12)
    return "".join(rng.choice("aZ9-:_. \u00e9\u4e2d") for _ in range(rng.randint(0, 8)))


def _build(parts) -> bytes:
    """A payload from drawn parts: raw bytes, text, or a valid message mutated 1-3 times."""
    kind, blob, seed = parts
    if kind == 0:
        return blob
    if kind == 1:
        return blob.decode("latin-1").encode("utf-8", "surrogatepass")
    rng = random.Random(seed)
    msg = _valid(seed % 1000)
    for _ in range(rng.randint(1, 3)):
        inner = msg.get("position")
        target = inner if isinstance(inner, dict) and rng.random() < 0.5 else msg
        keys = FIELDS + list(target)
        key = rng.choice(keys)
        if rng.random() < 0.3:
            target.pop(key, None)
        else:
            target[key] = _value(rng)
    raw = msgspec.json.encode(msg)
    if kind == 3 and raw:
        at = rng.randint(0, len(raw))
        raw = raw[:at] + rng.randbytes(rng.randint(0, 3)) + raw[at + 1 :]
    return raw


# Hypothesis picks the kind, raw bytes and a seed per payload; a seeded generator does the
# mutating (a few draws per payload keep 10,000 payloads fast, and a failure still shrinks).
payloads = st.tuples(st.integers(0, 3), st.binary(max_size=48), st.integers(0, 2**32)).map(_build)


@settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
@given(messages=st.lists(st.tuples(st.sampled_from(TOPICS), payloads), min_size=50, max_size=50))
def test_fuzzed_payloads_never_crash_and_are_counted(fuzz_ingest, messages):
    """10,000 malformed/mutated messages (200 x 50): no crash, each accepted validly or counted."""
    ingest = fuzz_ingest
    before = ingest.received
    for topic, payload in messages:
        ingest.on_message(topic, payload)
    assert ingest.received == before + len(messages)
    assert ingest.reject_counts()["decoder_error"] == 0, ingest.last_rejects()[-1]
    assert ingest.rejected + ingest.accepted == ingest.received
    batch = ingest.drain()
    for fix in batch.fixes:
        assert -90 <= fix.lat <= 90 and -180 <= fix.lon <= 180 and (fix.lat, fix.lon) != (0, 0)
        assert fix.ts <= time.time() + 300
    assert set(ingest.reject_counts()) == set(REJECT_REASONS)


@pytest.fixture(scope="module")
def fuzz_ingest():
    """One ingest shared by the whole fuzz run (it must stay alive throughout)."""
    ingest = Ingest(make_decoder(clock=lambda: NOW))
    yield ingest
    # Every message was seen: 10,000 across the run, each accepted or counted as rejected.
    assert ingest.received >= 10_000
    assert ingest.rejected + ingest.accepted == ingest.received
