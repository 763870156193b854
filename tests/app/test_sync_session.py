"""Two workstations on one PostgreSQL: edits travel, offline work waits and lands once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.context import AppContext
from app.exceptions.kinds import DeskExceptionType
from app.settings import Settings
from app.store import open_store
from app.store import repository as repo
from app.store.models import OutboxRow
from app.sync.pgserver import ThrowawayPostgres, create_database, postgres_bindir
from engine.model import (
    DayInput,
    Depot,
    Driver,
    Location,
    Order,
    Plan,
    Route,
    Stop,
    TimeWindow,
    Vehicle,
)

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt, pytest.mark.slow]

DEPOT = "SYNC"
ZONE = ZoneInfo("America/Boise")
WAIT_MS = 30_000


def seed_day(url: str, routes: int = 3, stops: int = 4) -> None:
    """Today's small depot day (outside any shipped street network) with a stored plan."""
    today = datetime.now(ZONE).date()
    start = datetime(today.year, today.month, today.day, 6, tzinfo=ZONE)
    window = TimeWindow(start, start + timedelta(hours=14))
    depot = Depot(DEPOT, "Sync depot", Location(43.61, -116.20), "America/Boise")
    vehicles = tuple(Vehicle(f"V{i}", DEPOT, {"kg": 1000.0}) for i in range(routes))
    drivers = tuple(
        Driver(
            f"D{i}", f"Driver {i}", DEPOT, start, start + timedelta(hours=14), vehicle_id=f"V{i}"
        )
        for i in range(routes)
    )
    orders = tuple(
        Order(f"O{i}", DEPOT, Location(43.60 + i * 0.002, -116.21), {"kg": 10.0}, (window,))
        for i in range(routes * stops)
    )
    plan = Plan(
        "PLAN-SYNC",
        DEPOT,
        today,
        tuple(
            Route(f"R{r}", f"V{r}", tuple(Stop(f"O{r * stops + k}") for k in range(stops)), f"D{r}")
            for r in range(routes)
        ),
    )
    day = DayInput(today, (depot,), vehicles, drivers, orders)
    store = open_store(url, workstation="setup")
    try:
        with store.session() as s:
            repo.upsert_depots(s, day.depots, actor="setup")
            repo.upsert_vehicles(s, day.vehicles, actor="setup")
            repo.upsert_drivers(s, day.drivers, actor="setup")
            repo.upsert_orders(s, day.orders, actor="setup")
        with store.session() as s:
            repo.save_plan(s, plan, actor="setup")
    finally:
        store.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL server these tests may kill and restart."""
    if postgres_bindir() is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl): install the postgresql package")
    pg = ThrowawayPostgres()
    pg.start()
    try:
        yield pg
    finally:
        pg.remove()


@pytest.fixture
def shared_url(server: ThrowawayPostgres) -> Iterator[str]:
    """A fresh database holding today's small day; the server is up again afterwards."""
    name = f"sync_{uuid.uuid4().hex[:10]}"
    create_database(server.url, name)
    url = server.database_url(name)
    seed_day(url)
    yield url
    if server.postmaster_pid() is None:
        server.restart()


def workstation(qtbot, tmp_path: Path, monkeypatch, url: str, mqtt: str, name: str, **kw):
    """One workstation's context on the shared database, with its own data directory."""
    data = tmp_path / name
    data.mkdir()
    monkeypatch.setenv("DISPATCH_DATA_DIR", str(data))
    settings = Settings.from_env(
        database_url=url, workstation_id=name, user=name.split("-")[-1], depot_id=DEPOT,
        demo=False, simulate=False, mqtt_url=mqtt, **kw,
    )  # fmt: skip
    context = AppContext(settings, headless=True)
    context.start()
    qtbot.waitUntil(lambda: context.state.plan is not None, timeout=WAIT_MS)
    return context


@pytest.fixture
def desks(qtbot, tmp_path, monkeypatch, shared_url, mqtt_url):
    """Workstations ``desk-ann`` and ``desk-bob`` (supervisors) on the same shared day."""
    a = workstation(qtbot, tmp_path, monkeypatch, shared_url, mqtt_url, "desk-ann")
    b = workstation(qtbot, tmp_path, monkeypatch, shared_url, mqtt_url, "desk-bob")
    yield a, b
    for context in (a, b):
        context.shutdown()


def move(context: AppContext, order_id: str, route_id: str) -> None:
    """Drag ``order_id`` onto ``route_id`` as the window does (the dispatch service writes
    it and shows it in the day state)."""
    state = context.state
    context.dispatch.reassign(state.plan, state.index.day, [order_id], route_id, context.now())


def route_of(context: AppContext, order_id: str) -> str | None:
    route = context.state.plan.route_of(order_id)
    return route.id if route else None


def outbox_keys(url: str) -> list[str]:
    store = open_store(url, migrate=False)
    try:
        with store.read_session() as s:
            return list(s.scalars(select(OutboxRow.idempotency_key)))
    finally:
        store.close()


def conflicts_on_board(context: AppContext) -> list:
    return [
        e
        for e in context.board.open_entries()
        if e.exception.type == DeskExceptionType.SYNC_CONFLICT
    ]


def test_a_move_on_one_workstation_shows_on_the_other(qtbot, desks) -> None:
    """A reassign on desk A appears in desk B's plan by itself, within seconds."""
    a, b = desks
    assert a.link.database_label() == "PostgreSQL online"
    move(a, "O0", "R1")
    qtbot.waitUntil(lambda: route_of(b, "O0") == "R1", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: a.link.outbox_pending() == 0, timeout=WAIT_MS)
    assert route_of(a, "O0") == "R1"


def test_offline_edit_waits_then_lands_once(qtbot, desks, server, shared_url) -> None:
    """With the database down, A's move applies locally and waits (offline, 1 pending);
    after the restart it lands exactly once and B sees it."""
    a, b = desks
    server.stop_immediate()  # every connection dies at once, as when the server goes
    qtbot.waitUntil(lambda: "offline" in a.link.database_label(), timeout=WAIT_MS)
    move(a, "O1", "R2")
    assert route_of(a, "O1") == "R2"
    qtbot.waitUntil(lambda: a.link.outbox_pending() == 1, timeout=WAIT_MS)
    assert a.link.database_label() == "PostgreSQL offline"
    server.restart()
    qtbot.waitUntil(lambda: a.link.outbox_pending() == 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: route_of(b, "O1") == "R2", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "online" in a.link.database_label(), timeout=WAIT_MS)
    keys = outbox_keys(shared_url)
    assert len(keys) == len(set(keys)) == 1  # 0 lost, 0 applied twice
    assert not conflicts_on_board(a) and not conflicts_on_board(b)


@pytest.mark.parametrize("keep", ["theirs", "mine"])
def test_overlapping_offline_edits_become_one_conflict(qtbot, desks, server, keep) -> None:
    """Both edit the same routes offline: the one that replays second gets exactly one
    sync conflict on its board (never a silent overwrite); keeping theirs or mine settles
    it and both workstations end up with the kept version."""
    a, b = desks
    server.stop_immediate()  # every connection dies at once, as when the server goes
    qtbot.waitUntil(lambda: "offline" in a.link.database_label(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "offline" in b.link.database_label(), timeout=WAIT_MS)
    b.sync.desk.work_offline = True  # B replays second
    move(a, "O4", "R0")
    move(b, "O0", "R1")  # also rewrites R0 and R1
    server.restart()
    qtbot.waitUntil(lambda: a.link.outbox_pending() == 0 and "online" in a.link.database_label(),
                    timeout=WAIT_MS)  # fmt: skip
    b.sync.desk.work_offline = False
    b.sync.poke()
    qtbot.waitUntil(lambda: len(conflicts_on_board(b)) == 1, timeout=WAIT_MS)
    assert not conflicts_on_board(a)
    entry = conflicts_on_board(b)[0]
    assert "yours" in entry.exception.detail and "stored" in entry.exception.detail
    assert "sync conflict" in b.link.database_label()
    qtbot.waitUntil(lambda: route_of(b, "O4") == "R0" and route_of(b, "O0") == "R0",
                    timeout=WAIT_MS)  # fmt: skip
    b.resolve_conflict(entry.id, keep)
    assert not conflicts_on_board(b)
    qtbot.waitUntil(lambda: b.sync.status.conflicts == 0, timeout=WAIT_MS)
    # Mine makes B's move again (O0 onto R1) and keeps A's (O4 on R0), never B's stale
    # lists of both routes; theirs keeps both on R0.
    kept = ("R1", "R0") if keep == "mine" else ("R0", "R0")
    for context in (a, b):
        qtbot.waitUntil(lambda c=context: (route_of(c, "O0"), route_of(c, "O4")) == kept,
                        timeout=WAIT_MS)  # fmt: skip
    assert b.link.outbox_pending() == 0 and not conflicts_on_board(a)


def test_outbox_rows_match_the_commands(qtbot, desks, shared_url) -> None:
    """Every command of a workstation is queued once with its route versions."""
    a, _b = desks
    move(a, "O2", "R1")
    with a.store.read_session() as s:
        rows = list(s.scalars(select(OutboxRow)))
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == 1
    assert set(rows[0].command["routes"]) == {"R0", "R1"}
    assert set(rows[0].base_versions) == {"R0", "R1"}


def test_a_workstation_restarted_offline_opens_its_local_copy(
    qtbot, tmp_path, monkeypatch, server, shared_url, mqtt_url
) -> None:
    """Restarted while the database is down, a workstation shows its local copy of the
    day (offline) and its edits wait; nothing is planned anew."""
    first = workstation(qtbot, tmp_path, monkeypatch, shared_url, mqtt_url, "desk-ann")
    shown = [r.order_ids for r in first.state.routes]
    first.shutdown()
    server.stop_immediate()
    settings = first.settings
    again = AppContext(settings, headless=True)
    try:
        again.start()
        assert again.state.plan is not None and not again.jobs.is_running("plan")
        assert [r.order_ids for r in again.state.routes] == shown
        assert again.link.database_label() == "PostgreSQL offline"
        move(again, "O3", "R2")
        qtbot.waitUntil(lambda: again.link.outbox_pending() == 1, timeout=WAIT_MS)
        server.restart()
        qtbot.waitUntil(lambda: again.link.outbox_pending() == 0, timeout=WAIT_MS)
        assert outbox_keys(shared_url) and len(outbox_keys(shared_url)) == 1
    finally:
        again.shutdown()


def locked_on(context: AppContext) -> set[str]:
    return {s.order_id for r in context.state.plan.routes for s in r.stops if s.locked}


def test_a_lock_made_offline_reaches_the_other_workstation(qtbot, desks, server) -> None:
    """Locking a stop while the database is down waits in the outbox as a lock command;
    after the restart the other workstation shows the stop locked."""
    a, b = desks
    server.stop_immediate()
    qtbot.waitUntil(lambda: "offline" in a.link.database_label(), timeout=WAIT_MS)
    a.dispatch.set_locked(a.state.plan, ["O5"], True)  # written and shown by the service
    qtbot.waitUntil(lambda: a.link.outbox_pending() == 1, timeout=WAIT_MS)
    with a.store.read_session() as s:
        (row,) = s.scalars(select(OutboxRow)).all()
    assert row.command["kind"] == "set_locks" and set(row.base_versions) == {"R1"}
    assert "O5" not in locked_on(b)
    server.restart()
    qtbot.waitUntil(lambda: a.link.outbox_pending() == 0, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "O5" in locked_on(b), timeout=WAIT_MS)
    assert locked_on(a) == locked_on(b) == {"O5"}
    assert not conflicts_on_board(a) and not conflicts_on_board(b)
