"""Who drives a depot's demo fleet on a shared database: this desk, or one it follows."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from app.day.live_start import check_leader, choose_demo
from app.store import open_store
from app.store.tower import DemoClock, DemoDesk, beat, other_desks

NOW = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)


def _clock(url: str) -> DemoClock:
    return DemoClock(url, NOW - timedelta(hours=1), NOW - timedelta(minutes=6), 10.0)


def test_other_desks_are_the_depots_fresh_heartbeats_the_simulating_one_first(tmp_path) -> None:
    """Only desks of the depot heard from within 30 s count, never this desk itself (same
    workstation, other user does count); the desk driving a demo comes first, with its
    broker and a clock that reads its simulated time at any wall-clock moment."""
    store = open_store(f"sqlite:///{tmp_path / 'desks.sqlite3'}", workstation="t")
    rows = [  # workstation, user, depot, seconds ago, demo
        ("host", "me", "W", 1, None),
        ("host", "sam", "W", 9, _clock("mqtt://u:p@127.0.0.1:5000")),
        ("host", "dana", "W", 2, None),
        ("old", "olga", "W", 45, _clock("mqtt://u:p@127.0.0.1:5001")),
        ("far", "nina", "N", 1, _clock("mqtt://u:p@127.0.0.1:5002")),
    ]
    try:
        with store.session() as s:
            for ws, user, depot, ago, demo in rows:
                beat(s, workstation=ws, user=user, role="dispatcher", depot_id=depot,
                     now=NOW - timedelta(seconds=ago), outbox_pending=0, demo=demo)  # fmt: skip
        with store.read_session() as s:
            found = other_desks(s, "W", NOW, workstation="host", user="me")
    finally:
        store.close()
    assert [d.name for d in found] == ["sam@host", "dana@host"]
    demo = found[0].demo
    assert demo is not None and demo.broker_url == "mqtt://u:p@127.0.0.1:5000"
    assert demo.now(NOW) == NOW - timedelta(hours=1) + timedelta(minutes=60)  # 6 min x 10


@dataclass
class Peers:
    desks: list[DemoDesk]
    advertised: list = field(default_factory=list)
    shared: bool = True

    def other_desks(self) -> list[DemoDesk]:
        return self.desks

    def advertise(self, demo) -> None:
        self.advertised.append(demo)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_reachable_demo_broker_is_followed() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        sam = DemoDesk("host", "sam", _clock(f"mqtt://u:p@127.0.0.1:{port}"))
        choice = choose_demo(Peers([sam]))
    assert not choice.simulate and choice.follow == sam and choice.reachable
    assert "following sam@host" in choice.note


def test_an_unreachable_demo_broker_is_said_and_never_doubled_while_its_desk_is_online() -> None:
    """The advertising desk is online, so its fleet runs: this desk says the broker cannot
    be reached and starts no second simulated fleet."""
    sam = DemoDesk("other-host", "sam", _clock(f"mqtt://u:p@127.0.0.1:{_closed_port()}"))
    choice = choose_demo(Peers([sam]))
    assert not choice.simulate and choice.follow == sam and not choice.reachable
    assert "cannot be reached" in choice.note and "sam@other-host" in choice.note


def test_no_desk_driving_the_demo_means_this_desk_simulates() -> None:
    assert choose_demo(Peers([DemoDesk("host", "dana", None)])).simulate
    assert choose_demo(Peers([])).simulate


def test_the_heartbeat_carries_the_demo_brokers_address_and_its_password_stays_here(
    tmp_path, monkeypatch
) -> None:
    """The desk driving the demo advertises its broker without the password; the password
    is in a file only its system user reads (0600) on its machine, where a desk of that
    user following the demo finds it and connects with it. A desk that cannot read it
    (another system user) says why and starts no fleet of its own; once the broker stops,
    the file goes."""
    import stat
    from urllib.parse import urlparse

    from app.telemetry.broker import _secret_path, forget_secret, keep_secret

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        whole = f"mqtt://dispatch:s3cret-Pw@127.0.0.1:{port}"
        advertised = keep_secret(whole)
        assert advertised == f"mqtt://127.0.0.1:{port}" and "s3cret" not in advertised
        assert urlparse(advertised).password is None
        mode = stat.S_IMODE(_secret_path("127.0.0.1", port).stat().st_mode)
        assert mode == 0o600
        sam = DemoDesk("host", "sam", _clock(advertised))
        choice = choose_demo(Peers([sam]))
        assert choice.reachable and not choice.simulate and choice.broker_url == whole

        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "another-user"))
        other = choose_demo(Peers([sam]))
        assert not other.simulate and not other.reachable and other.follow == sam
        assert "password" in other.note and "sam@host" in other.note

        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        forget_secret(whole)
        assert not _secret_path("127.0.0.1", port).exists()
        assert not choose_demo(Peers([sam])).reachable


def test_a_followed_desk_still_advertising_its_fleet_is_waited_for_never_taken_over() -> None:
    """The broker of the followed desk is lost but its heartbeat is fresh and advertises
    its fleet: however many checks in a row, nothing is taken over."""
    sam = DemoDesk("host", "sam", _clock("mqtt://127.0.0.1:5000"))
    for missed in (1, 5, 50):
        check = check_leader([sam, DemoDesk("host", "ann", None)], "sam@host", "dana@host", missed)
        assert check.action == "wait" and "online" in check.why


def test_a_closed_or_silent_leader_is_taken_over_by_the_earliest_desk_the_others_follow() -> None:
    """The followed desk closed (no advert) or went silent (its heartbeat stale, so not
    among the desks online): the earliest desk by name takes over at the first check; a
    later one waits two checks per desk before it (then takes over only if none did); once
    a desk advertises the fleet again, it is followed."""
    ann, dana = DemoDesk("host", "ann", None), DemoDesk("host", "dana", None)
    sam_closed = DemoDesk("host", "sam", None)
    assert check_leader([dana, sam_closed], "sam@host", "ann@host", 1).action == "take_over"
    assert check_leader([dana], "sam@host", "ann@host", 1).action == "take_over"  # silent
    waits = check_leader([ann, sam_closed], "sam@host", "dana@host", 1)
    assert waits.action == "wait" and "ann@host" in waits.why
    assert check_leader([ann], "sam@host", "dana@host", 2).action == "wait"
    assert check_leader([ann], "sam@host", "dana@host", 3).action == "take_over"
    ann_leads = DemoDesk("host", "ann", _clock("mqtt://127.0.0.1:5001"))
    follow = check_leader([ann_leads, sam_closed], "sam@host", "dana@host", 0)
    assert follow.action == "follow" and follow.desk == ann_leads
