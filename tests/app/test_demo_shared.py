"""Two desks on one shared PostgreSQL, one machine: one simulated demo fleet, not two."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app.context import AppContext
from app.settings import Settings
from app.store import open_store
from app.store.models import DeskRow
from app.store.roles import add_user
from app.telemetry.broker import public_url

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt, pytest.mark.slow]

WAIT_MS = 240_000
SPEEDUP = 20.0


def _desk(qtbot, tmp_path: Path, monkeypatch, url: str, user: str) -> tuple[AppContext, list]:
    """A desk as ``user`` (a database user) on the one workstation both people share."""
    data = tmp_path / user
    data.mkdir()
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(data))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # one system user
    as_user = make_url(url).set(username=user, password="pw-demo")
    settings = Settings.from_env(
        database_url=as_user.render_as_string(hide_password=False), workstation_id="one-host",
        demo=True, simulate=True, mqtt_url="", demo_speedup=SPEEDUP, first_plan_seconds=3.0,
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
