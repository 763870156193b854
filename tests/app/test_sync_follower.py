"""The change follower: others' changes arrive within a second and none is ever missed."""

from __future__ import annotations

import os
import threading
import time

import pytest

from app.store import open_store
from app.sync.follower import ChangeFollower
from bench.drills.day import seed_drill_day
from bench.drills.faults import drill_listener_kills, rotate_route, wait_for

pytestmark = pytest.mark.postgres

# DISPATCH_DRILL_SCALE=0.2 runs the drill at a fifth of its count (CI on a slow machine).
KILLS = max(2, round(50 * float(os.environ.get("DISPATCH_DRILL_SCALE", "1"))))


def test_other_workstation_change_arrives_within_a_second(postgres_url: str) -> None:
    """An edit on one workstation reaches the other's follower in well under 1 s."""
    writer = open_store(postgres_url, workstation="desk-2")
    reader = open_store(postgres_url, workstation="desk-1", migrate=False)
    seed_drill_day(writer)
    got: list = []
    arrived = threading.Event()

    def on_changes(events) -> None:
        got.extend(events)
        arrived.set()

    # A long timer: only the NOTIFY doorbell can make it fast.
    follower = ChangeFollower(reader, on_changes, poll_s=30.0).start(catch_up_first=False)
    try:
        wait_for(lambda: follower.cursor is not None, 30, "the follower's first catch-up")
        started = time.monotonic()
        rotate_route(writer, "R3", actor="desk-2")
        assert arrived.wait(5)
        lag = time.monotonic() - started
    finally:
        follower.stop()
        reader.close()
        writer.close()
    assert lag < 1.0
    assert [(e.entity, e.entity_id, e.operation, e.origin) for e in got] == [
        ("route", "R3", "update", "desk-2")
    ]


@pytest.mark.slow
def test_killed_listening_connection_misses_no_change(postgres_url: str) -> None:
    """The LISTEN connection killed 50 times while another desk commits: nothing missed."""
    result = drill_listener_kills(postgres_url, kills=KILLS)
    assert result.missed == 0
    assert result.duplicated == 0
