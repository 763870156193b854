"""A desk's heartbeat: nothing is written after the desk closed."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from app.settings import Settings
from app.sync.identity import Identity
from app.tower.desk import DeskHeartbeat


def test_a_beat_under_way_when_the_desk_closes_does_not_advertise_its_fleet_again(
    qtbot, monkeypatch
):
    """A heartbeat still being written when the simulating desk closes must not re-write
    its demo advert after the close cleared it: the desks following it would wait 30 s
    for the stale advert to age before taking the fleet over."""
    import app.tower.feed as feed

    written: list = []
    entered, release = threading.Event(), threading.Event()

    def desk_beat(store, **beat) -> None:
        if not written:  # the beat under way: slow to reach the database
            entered.set()
            release.wait(5)
        written.append(beat.get("demo"))

    monkeypatch.setattr(feed, "desk_beat", desk_beat)
    link = SimpleNamespace(store=None, session=SimpleNamespace(shared_url="postgresql://db/x"),
                           outbox_pending=lambda: 0)  # fmt: skip
    beat = DeskHeartbeat(Settings(workstation_id="ws-a"), link,  # type: ignore[arg-type]
                         Identity("sam", "supervisor", "profile"))  # fmt: skip
    beat._store = SimpleNamespace(close=lambda: None)  # type: ignore[assignment]
    beat.depot_id, beat.demo = "D1", "the demo fleet"  # type: ignore[assignment]
    beat.beat()
    assert entered.wait(5)
    threading.Timer(0.3, release.set).start()
    beat.stop()  # the desk closes while that beat is still being written
    assert written == ["the demo fleet", None]  # the advert cleared last
    beat.beat()  # a beat after the close writes nothing
    qtbot.wait(200)
    assert written == ["the demo fleet", None]
