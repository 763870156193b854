"""Two desks on one shared PostgreSQL, one machine: one simulated demo fleet, not two."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.context import AppContext
from app.day import live_start
from app.settings import Settings
from app.store import open_store
from app.store.models import DeskRow
from app.store.roles import add_user
from app.telemetry.broker import public_url

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt, pytest.mark.slow]

WAIT_MS = 240_000
SPEEDUP = 20.0
FAST = 120.0  # the take-over: stops served within a minute


def _desk(
    qtbot, tmp_path: Path, monkeypatch, url: str, user: str, speedup: float = SPEEDUP
) -> tuple[AppContext, list]:
    """A desk as ``user`` (a database user) on the one workstation both people share."""
    data = tmp_path / user
    data.mkdir()
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(data))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # one system user
    as_user = make_url(url).set(username=user, password="pw-demo")
    settings = Settings.from_env(
        database_url=as_user.render_as_string(hide_password=False), workstation_id="one-host",
        demo=True, simulate=True, mqtt_url="", demo_speedup=speedup, first_plan_seconds=3.0,
    )  # fmt: skip
    context = AppContext(settings, headless=True)
    said: list[str] = []
    context.sig_status.connect(said.append)
    context.start()
    qtbot.waitUntil(lambda: context.state.plan is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: context.live.connection == "connected", timeout=60_000)
    return context, said


def test_the_second_desk_follows_the_first_desks_demo_fleet(
    qtbot, tmp_path, monkeypatch, postgres_url
) -> None:
    """A supervisor's desk seeds, plans and simulates the demo day; a dispatcher's desk
    started after it on the same database and machine connects to the supervisor's demo
    broker, runs on the same simulated clock, starts no broker and no simulator of its
    own, and its board shows the vans the supervisor's simulator drives."""
    admin = open_store(postgres_url)  # the administrator's db upgrade
    add_user(admin.engine, "sam_demo", "supervisor", "pw-demo")
    add_user(admin.engine, "dana_demo", "dispatcher", "pw-demo")
    admin.close()
    sam, _ = _desk(qtbot, tmp_path, monkeypatch, postgres_url, "sam_demo")
    dana = None
    try:
        assert sam.live_start.fleet is not None and sam.live.service is not None
        assert sam.live.service.broker is not None  # the embedded demo broker
        dana, dana_said = _desk(qtbot, tmp_path, monkeypatch, postgres_url, "dana_demo")
        service = dana.live.service
        assert service is not None
        assert dana.live_start.fleet is None  # no second simulated fleet
        assert service.broker is None and service.url == sam.live.service.url
        assert dana.live_start.follows == "sam_demo@one-host"
        assert any("following sam_demo@one-host" in s for s in dana_said), dana_said
        # One simulated clock: both read the same moment (give or take a second of real time).
        assert dana.clock.simulated and dana.clock.speedup == SPEEDUP
        assert abs(dana.clock() - sam.clock()) < 2 * SPEEDUP
        # The supervisor's vans reach the dispatcher's board, on the same broker.
        qtbot.waitUntil(lambda: len(dana.live.positions()) >= 3, timeout=60_000)
        assert set(dana.live.positions()) <= set(sam.state.index.vehicles)
        # Each person keeps a heartbeat of their own on the shared workstation name.
        with open_store(postgres_url, migrate=False).read_session() as s:
            rows = {r.user: r for r in s.scalars(select(DeskRow))}
        assert set(rows) == {"sam_demo", "dana_demo"}
        advertised = rows["sam_demo"].demo_broker_url  # the address, never the password
        assert advertised == public_url(sam.live.service.url) != sam.live.service.url
        assert urlparse(advertised).password is None and sam.live.service.broker is not None
        assert sam.live.service.broker.password not in advertised
        assert rows["dana_demo"].demo_broker_url is None
        # Closed, the dispatcher's desk leaves no session on the supervisor's broker (it
        # would queue the whole fleet's fixes for a desk that never comes back to it).
        client_id = service.client.config.client_id
        sessions = sam.live.service.broker._broker._sessions  # amqtt's own table
        assert client_id in sessions
        dana.shutdown()
        dana = None
        qtbot.waitUntil(lambda: client_id not in sessions, timeout=15_000)
    finally:
        if dana is not None:
            dana.shutdown()
        sam.shutdown()


def _users(postgres_url: str) -> None:
    admin = open_store(postgres_url)  # the administrator's db upgrade
    add_user(admin.engine, "sam_demo", "supervisor", "pw-demo")
    add_user(admin.engine, "dana_demo", "dispatcher", "pw-demo")
    admin.close()


def test_a_following_desk_takes_the_demo_fleet_over_when_its_desk_closes(
    qtbot, tmp_path, monkeypatch, postgres_url, caplog
) -> None:
    """The dispatcher's desk follows the supervisor's demo fleet. While the supervisor's
    desk is online (a fresh heartbeat advertising its fleet) the dispatcher's desk never
    starts a second fleet, even with the broker lost; once the supervisor closes their
    desk, the dispatcher's desk starts the depot's demo itself within the take-over time,
    says so, advertises it, and its vans carry on from where they were (new fixes stored
    after the take-over, served stops still served)."""
    monkeypatch.setattr(live_start, "WATCH_LEADER_MS", 300)  # checks every 0.3 s, not 10 s
    _users(postgres_url)
    sam, _ = _desk(qtbot, tmp_path, monkeypatch, postgres_url, "sam_demo", FAST)
    dana = None
    try:
        dana, dana_said = _desk(qtbot, tmp_path, monkeypatch, postgres_url, "dana_demo", FAST)
        assert dana.live_start.follows == "sam_demo@one-host" and dana.live_start.fleet is None
        # Some stops served first: they stay served across the take-over.
        qtbot.waitUntil(lambda: any(s.status.is_done for s in dana.live.stop_states().values()),
                        timeout=120_000)  # fmt: skip

        # The broker connection drops while the supervisor's desk is online (a fresh
        # heartbeat advertising its fleet): it is waited for, never taken over.
        paho = dana.live.service.client.client
        paho.reconnect_delay_set(6, 6)  # unreachable for 6 s: a score of checks
        with caplog.at_level(logging.INFO, logger="app.day.live_start"):
            paho.socket().shutdown(socket.SHUT_RDWR)
            qtbot.waitUntil(lambda: dana.live.connection != "connected", timeout=20_000)
            qtbot.waitUntil(lambda: "desk is online" in caplog.text, timeout=20_000)
            qtbot.waitUntil(lambda: dana.live.connection == "connected", timeout=30_000)
        assert dana.live_start.fleet is None and dana.live.service.broker is None
        assert dana.live_start.follows == "sam_demo@one-host"
        assert not any("taken over" in s for s in dana_said)

        served = {o for o, s in dana.live.stop_states().items() if s.status.is_done}
        seen = max(f.ts for f in dana.live.positions().values())  # where the vans were
        sam.shutdown()  # the supervisor closes their desk
        closed = time.monotonic()
        qtbot.waitUntil(lambda: dana.live_start.fleet is not None, timeout=45_000)
        took = time.monotonic() - closed
        assert took < 45, took
        assert dana.live.service.broker is not None  # its own embedded broker now
        # Routes released from now on go to the vans on that broker.
        assert dana.release.channel.config.url == dana.live.service.url
        assert dana.live_start.follows == "" and dana.live_start.taken_over_from
        assert "Demo fleet: taken over from sam_demo@one-host (it closed)" in dana_said
        # It carries on from the stored day (where it last saw the vans), not its start.
        resumed = dana.clock()
        assert resumed >= seen - 1
        with open_store(postgres_url, migrate=False).read_session() as s:
            row = s.get(DeskRow, ("one-host", "dana_demo"))
            assert row is not None
            assert row.demo_broker_url == public_url(dana.live.service.url)
        # Its vans move on: new fixes after the take-over; served stops stay served.
        qtbot.waitUntil(lambda: (dana.live.stored_until() or 0) > resumed, timeout=60_000)
        assert max(f.ts for f in dana.live.positions().values()) > resumed
        states = dana.live.stop_states()
        assert all(states[o].status.is_done for o in served)
        assert len(dana.live.positions()) >= 3
    finally:
        if dana is not None:
            dana.shutdown()
        sam.shutdown()
