"""The control tower's "read HH:MM:SS": the wall-clock moment of the last read, in the open
depot's time zone (named), never the demo's simulated day clock nor the machine's zone;
offline, the last read's time stays, with how long ago it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.simulator.demo_day import generate_demo_day
from app.store import open_store, repository
from app.tower.feed import TowerFeed
from widgets.control_tower import ControlTowerWindow, header_text

WALL = datetime(2026, 12, 6, 15, 20, 5, tzinfo=UTC)  # 08:20:05 in Denver (MST)
DAY_CLOCK = datetime(2026, 11, 24, 17, 42, tzinfo=UTC)  # the demo day's 10:42 MST


def test_the_read_time_is_the_wall_clock_in_the_open_depots_zone(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # the machine's zone must not matter
    store = open_store(f"sqlite:///{tmp_path / 'tower.sqlite3'}")
    try:
        day = generate_demo_day(7)
        with store.session() as session:
            repository.upsert_day(session, day, actor="test")
        depot = day.depots[0]
        assert depot.timezone == "America/Denver"
        wall = [WALL]
        stores = [lambda: store]
        feed = TowerFeed(lambda: stores[0](), clock=lambda: DAY_CLOCK, wall=lambda: wall[0])
        tower = ControlTowerWindow(feed, depot.id)
        qtbot.addWidget(tower)
        state = feed.read_now()
        assert (state.read_at, state.as_of) == (WALL, DAY_CLOCK)
        assert state.figures[0].day == DAY_CLOCK.date()  # the figures are the demo day's
        tower.show_state(state)
        text = tower.header.text()
        assert text.startswith("1 depot · read 08:20:05 MST in "), text
        assert text.endswith(" · day clock 10:42 MST"), text

        # The shared database goes away three minutes later: the figures stay, with the
        # time they were read (not the failed attempt's) and how long ago that was.
        def unreachable():
            raise ConnectionError("connection refused")

        stores[0] = unreachable
        feed._store = None
        wall[0] = WALL + timedelta(minutes=3)
        offline = feed.read_now()
        assert not offline.online and offline.read_at == WALL and offline.figures
        assert header_text(offline, depot.timezone, now=wall[0]).startswith(
            "Offline — the last known state, read 08:20:05 MST, 3 min ago · day clock 10:42 MST"
        )
    finally:
        store.close()


def test_a_depot_on_the_wall_clock_shows_no_second_time():
    """Without a simulated day the day clock is the read time: one time, in the zone."""
    from app.tower.feed import TowerState

    state = TowerState((), WALL, True, "", 0.012, as_of=WALL)
    assert header_text(state, "Europe/Brussels") == "0 depots · read 16:20:05 CET in 12 ms"
