"""Batched decoding: same verdicts as one by one, nothing stuck in the buffer, seqs exact."""

from __future__ import annotations

import random
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from app.telemetry.decode import Decoder, DeviceMap
from app.telemetry.ingest import Ingest
from app.telemetry.messages import Fix, Reject
from app.telemetry.seq import DUPLICATE, SEQ_WINDOW, SeqWindow
from app.telemetry.state import LiveState
from tests.fixtures.mqtt import native_event, native_fix, owntracks, traccar

NOW = time.time()


def make_decoder() -> Decoder:
    devices = DeviceMap({"alice/phone": "V2", "352094080000001": "V3"}, vehicles=["V1", "V2", "V3"])
    return Decoder(devices, depot_id="D1", clock=lambda: NOW)


def topic(vid="V1", kind="telemetry", depot="D1"):
    return f"fleet/{depot}/vehicle/{vid}/{kind}"


def mixed_stream() -> list[tuple[str, bytes]]:
    """A day's worth of trouble in 400 messages: valid, back-filled, duplicated, bad."""
    rng = random.Random(7)
    out: list[tuple[str, bytes]] = []
    t = NOW - 3000
    for i in range(1, 301):
        seq = 2 * i  # the odd ones are left for back-fill
        t += 1.0
        lat = 40.76 + seq * 1e-4
        out.append((topic(), native_fix("V1", seq, ts=t, lat=lat)))
        r = rng.random()
        if r < 0.05:
            out.append((topic(), native_fix("V1", seq, ts=t, lat=lat)))  # QoS 1 duplicate
        elif r < 0.10:
            back = max(1, seq - 1 - 2 * rng.randint(0, 10))
            out.append((topic(), native_fix("V1", back, ts=t - 100, lat=lat)))  # back-fill
        elif r < 0.13:
            out.append((topic(), native_fix("V1", seq + 1000, ts=t + 1, lat=lat + 1)))  # jump
        elif r < 0.16:
            out.append((topic(), native_fix("V1", seq, ts=t, lat=0.0, lon=0.0)))
        elif r < 0.19:
            out.append((topic(), b'{"v":1,"vehicle_id":"V1","seq":'))  # cut off
        elif r < 0.22:
            out.append((topic("V2"), native_fix("V1", seq, ts=t)))  # mismatch
        elif r < 0.25:
            out.append((topic(), native_fix("V1", seq + 5000, ts=NOW + 900)))  # future
        elif r < 0.28:
            out.append((topic(), native_fix("V1", seq, ts=t, speed_kmh=-5.0)))
        elif r < 0.31:
            out.append((topic(depot="D9"), native_fix("V1", seq, ts=t)))
        elif r < 0.34:
            out.append((topic(kind="event"), native_event("V1", f"e{seq % 7}", ts=t)))
        elif r < 0.37:
            out.append(("owntracks/alice/phone", owntracks(tst=int(t), lat=lat)))
        elif r < 0.40:
            out.append(("traccar/x", traccar(ts=t, lat=lat)))
        elif r < 0.43:
            iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + 0.5)) + ".500Z"
            out.append((topic(), native_fix("V1", seq + 20_000, ts=iso, lat=lat)))
    return out


def test_a_batch_gets_the_same_verdicts_as_one_message_at_a_time():
    """Every fix, back-fill flag and reject reason is identical decoded in batches or singly."""
    stream = mixed_stream()
    single = make_decoder()
    expected = [single.decode(t, p) for t, p in stream]
    batched = make_decoder()
    got: list = []
    for i in range(0, len(stream), 37):
        got.extend(batched.decode_batch(stream[i : i + 37]))
    assert got == expected
    reasons = {r.reason for r in expected if isinstance(r, Reject)}
    assert {"duplicate_or_replayed_seq", "impossible_jump", "null_island", "not_json"} <= reasons
    assert any(isinstance(r, Fix) and not r.live for r in expected), "no back-fill exercised"


def test_messages_below_a_batch_reach_the_next_drain():
    """A quiet fleet's few messages are not held back by batching: the next drain has them."""
    ingest = Ingest(make_decoder(), batch_size=256)
    ingest.on_message(topic(), native_fix("V1", 1, ts=NOW - 5))
    ingest.on_message(topic(), native_fix("V1", 2, ts=NOW - 4))
    batch = ingest.drain()
    assert [f.seq for f in batch.fixes] == [1, 2]
    state = LiveState()
    state.apply(batch)
    assert state.positions["V1"].seq == 2


def test_one_bad_message_in_a_batch_is_counted_and_the_rest_accepted():
    """A broken payload amid good ones: counted under its reason, its neighbours accepted."""
    ingest = Ingest(make_decoder(), batch_size=8)
    for seq in range(1, 9):
        payload = b"\xff garbage" if seq == 4 else native_fix("V1", seq, ts=NOW - 100 + seq)
        ingest.on_message(topic(), payload)
    assert ingest.accepted == 7 and ingest.received == 8
    assert ingest.reject_counts()["not_json"] == 1
    assert ingest.last_rejects()[-1].topic == topic()
    assert [f.seq for f in ingest.drain().fixes] == [1, 2, 3, 5, 6, 7, 8]


def test_network_thread_decodes_when_the_buffer_is_full():
    """Reaching the batch size decodes right away in the calling thread, not later."""
    ingest = Ingest(make_decoder(), batch_size=4)
    for seq in range(1, 5):
        ingest.on_message(topic(), native_fix("V1", seq, ts=NOW - 10 + seq))
    assert ingest._accepted == 4 and not ingest._buffer  # decoded without any reader


def _model_add(model: dict, seq: int) -> bool:
    """The window's contract: seen seqs within SEQ_WINDOW of the newest are refused."""
    top, seen = model["top"], model["seen"]
    if seq > top:
        if top < 0 or seq - top >= SEQ_WINDOW:
            seen.clear()
        seen.add(seq)
        model["top"] = seq
        for old in [s for s in seen if seq - s >= SEQ_WINDOW]:
            seen.discard(old)
        return True
    if top - seq >= SEQ_WINDOW or seq in seen:
        return False
    seen.add(seq)
    return True


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 1, 1, 2, 7, 300, SEQ_WINDOW - 1, SEQ_WINDOW]),
            st.integers(-SEQ_WINDOW - 50, 0),
        ),
        max_size=120,
    )
)
def test_seq_window_refuses_exactly_the_seen_sequence_numbers(steps):
    """Duplicates and replays are refused, back-fill within the window accepted once
    (a tracker whose fix times rise with its seqs: no restart, no jump)."""
    window, model, cur = SeqWindow(), {"top": -1, "seen": set()}, 10_000
    for advance, back in steps:
        cur += advance
        seq = cur + back if back > -SEQ_WINDOW - 40 else cur
        assert (window.accept(seq, float(seq)) != DUPLICATE) == _model_add(model, seq), seq


def test_raw_topic_bytes_from_the_wire_decode_and_a_broken_topic_is_counted():
    """Topics straight from paho (bytes) work; a non-UTF-8 topic is an unknown_topic reject."""
    ingest = Ingest(make_decoder())
    ingest.on_message(topic().encode(), native_fix("V1", 1, ts=NOW - 5))
    ingest.on_message(b"fleet/D1/vehicle/\xff/telemetry", native_fix("V1", 2, ts=NOW - 4))
    assert ingest.accepted == 1
    assert ingest.reject_counts()["unknown_topic"] == 1
    assert "\ufffd" in ingest.last_rejects()[-1].topic
