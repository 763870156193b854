"""The live feed: bursts become one update, markers never go back in time, nothing is dropped."""

from __future__ import annotations

import threading
import time

from app.telemetry.decode import Decoder, DeviceMap
from app.telemetry.ingest import Ingest
from app.telemetry.live import LiveFeed
from app.telemetry.state import LiveState
from tests.fixtures.mqtt import native_event, native_fix


def topic(vid, kind="telemetry"):
    return f"fleet/D1/vehicle/{vid}/{kind}"


def test_a_burst_is_one_coalesced_update(qtbot):
    """1,000 fixes of two vans arrive as one signal carrying each van's newest fix."""
    ingest = Ingest(Decoder(DeviceMap()))
    written = []
    feed = LiveFeed(ingest, writer=written.append, interval_ms=50)
    now = time.time() - 600
    for seq in range(1, 501):
        for vid in ("V1", "V2"):
            ingest.on_message(topic(vid), native_fix(vid, seq, ts=now + seq, lat=40.7 + seq * 1e-5))
    ingest.on_message(topic("V1", "event"), native_event("V1", "e1", "delivered", "O1"))
    ingest.on_connection("connected", "test")
    updates = []
    feed.sig_fixes_applied.connect(updates.append)
    with qtbot.waitSignals(
        [feed.sig_fixes_applied, feed.sig_events_applied, feed.sig_connection_changed],
        timeout=3000,
    ):
        feed.start()
    feed.stop()
    assert len(updates) == 1
    moved = updates[0]
    assert set(moved) == {"V1", "V2"} and moved["V1"].seq == 500
    assert feed.state.stops["O1"].status == "delivered"
    assert feed.connection_state == "connected"
    assert sum(len(a.breadcrumbs) for a in written) == 1000


def test_backfill_extends_the_trail_but_never_moves_the_marker_back():
    """A tracker emptying its buffer: old fixes join the trail in order, the marker stays."""
    ingest = Ingest(Decoder(DeviceMap()))
    state = LiveState()
    now = time.time() - 600
    ingest.on_message(topic("V1"), native_fix("V1", 100, ts=now, lat=40.75))
    state.apply(ingest.drain())
    for seq in range(90, 100):
        ingest.on_message(topic("V1"), native_fix("V1", seq, ts=now - (100 - seq), lat=40.75))
    applied = state.apply(ingest.drain())
    assert not applied.moved and len(applied.breadcrumbs) == 10
    assert state.positions["V1"].seq == 100
    trail = state.trails["V1"]
    assert [f.seq for f in trail] == list(range(90, 101))


def test_a_long_day_keeps_only_the_last_fixes_of_each_trail_in_memory():
    """An hour of fixes each second: the in-memory trail holds only the newest
    TRAIL_POINTS, in time order (the whole track is the stored breadcrumbs), so memory
    stays flat over a live day; the marker is on the newest fix."""
    from app.telemetry.state import TRAIL_POINTS

    ingest = Ingest(Decoder(DeviceMap()))
    state = LiveState()
    now = time.time() - 4000
    for seq in range(1, 3601):
        ingest.on_message(topic("V1"), native_fix("V1", seq, ts=now + seq, lat=40.75))
        if seq % 500 == 0:
            state.apply(ingest.drain())
    state.apply(ingest.drain())
    trail = state.trails["V1"]
    assert len(trail) == TRAIL_POINTS <= 120
    assert [f.seq for f in trail] == list(range(3601 - TRAIL_POINTS, 3601))
    assert state.positions["V1"].seq == 3600


def test_a_full_queue_makes_the_network_thread_wait_not_drop():
    """With a tiny queue, 300 messages still all arrive once the consumer drains."""
    ingest = Ingest(Decoder(DeviceMap()), maxsize=10)
    now = time.time() - 600
    sender = threading.Thread(
        target=lambda: [
            ingest.on_message(topic("V1"), native_fix("V1", s, ts=now + s)) for s in range(1, 301)
        ]
    )
    sender.start()
    got = 0
    deadline = time.monotonic() + 10
    while got < 300 and time.monotonic() < deadline:
        got += len(ingest.drain().fixes)
        time.sleep(0.001)
    sender.join(5)
    assert got == 300 and ingest.waits > 0
