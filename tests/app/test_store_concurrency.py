"""Optimistic concurrency: a stale write fails loudly, naming both versions; never overwrites."""

from __future__ import annotations

import threading
import time

import pytest

from app.store import StaleVersionError, open_store, repository
from app.store.models import VehicleRow
from engine.model import Stop
from tests.app.test_store_support import ACTOR, DAY, sample_plan, seed


def _read_vehicle(store, vehicle_id: str) -> VehicleRow:
    with store.read_session() as s:
        return s.get(VehicleRow, vehicle_id)


def test_second_of_two_stale_updates_is_rejected(store):
    """Two workstations read the same vehicle and both edit it: the second edit raises
    StaleVersionError with both versions, and the first edit stays in the database."""
    other = open_store(store.url, workstation="desk-2")
    try:
        seed(store)
        mine, theirs = _read_vehicle(store, "V01"), _read_vehicle(other, "V01")
        assert mine.version == theirs.version == 1
        with store.session() as s:
            s.add(mine)
            mine.name = "Van 1 (mine)"
        with pytest.raises(StaleVersionError) as err, other.session() as s:
            s.add(theirs)
            theirs.name = "Van 1 (theirs)"
        assert (err.value.entity, err.value.id) == ("vehicle", "V01")
        assert (err.value.expected_version, err.value.actual_version) == (1, 2)
        assert "based on version 1" in str(err.value) and "now at version 2" in str(err.value)
        stored = _read_vehicle(other, "V01")
        assert (stored.name, stored.version) == ("Van 1 (mine)", 2)
    finally:
        other.close()


def test_stale_delete_is_rejected(store):
    """Deleting a row someone else changed since it was read also fails loudly."""
    seed(store)
    stale = _read_vehicle(store, "V02")
    with store.session() as s:
        s.get(VehicleRow, "V02").name = "renamed"
    stale_message = "vehicle 'V02'.*version 1.*version 2"
    with pytest.raises(StaleVersionError, match=stale_message), store.session() as s:
        s.delete(s.merge(stale, load=False))


@pytest.mark.postgres
def test_overlapping_transactions_on_postgres(postgres_url):
    """Two open transactions load the same row, both update: the later commit is refused."""
    a, b = open_store(postgres_url), open_store(postgres_url)
    try:
        seed(a)
        with b.session() as sb:
            vb = sb.get(VehicleRow, "V01")
            with a.session() as sa:
                sa.get(VehicleRow, "V01").cost_per_km = 0.5
            vb.cost_per_km = 0.9
            with pytest.raises(StaleVersionError, match="vehicle 'V01'.*version 1.*version 2"):
                sb.flush()
        assert _read_vehicle(a, "V01").cost_per_km == 0.5
    finally:
        a.close()
        b.close()


def test_sqlite_writers_wait_for_each_other(tmp_path):
    """On SQLite a second writer waits for the first (BEGIN IMMEDIATE) and then sees its
    change, instead of failing with 'database is locked' half-way."""
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    a, b = open_store(url), open_store(url)
    seed(a)
    seen: list[int] = []

    def second_writer() -> None:
        with b.session() as s:
            row = s.get(VehicleRow, "V01")
            seen.append(row.version)
            row.name = "second"

    try:
        with a.session() as s:
            s.get(VehicleRow, "V01").name = "first"
            s.flush()
            worker = threading.Thread(target=second_writer)
            worker.start()
            time.sleep(0.3)
            assert worker.is_alive(), "the second writer must wait for the first"
        worker.join(10)
        assert seen == [2]
        assert _read_vehicle(a, "V01").version == 3
    finally:
        a.close()
        b.close()


def test_a_writer_is_not_starved_by_one_that_writes_again_at_once(tmp_path, monkeypatch):
    """A thread that commits and begins again at once (the telemetry writer at 2,000
    vehicles) does not keep SQLite's lock from another thread's write (an exception's
    acknowledgement, a departure): that write waits its turn instead of failing with
    "database is locked" after the busy timeout (1 s here)."""
    from sqlalchemy import text

    from app.store import database

    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 1000)
    monkeypatch.setattr(database, "SQLITE_PRAGMAS", tuple(
        "PRAGMA busy_timeout=1000" if "busy_timeout" in p else p for p in database.SQLITE_PRAGMAS
    ))  # fmt: skip
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    hammer_store, other = open_store(url), open_store(url)
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            with hammer_store.engine.begin() as c:
                c.execute(text("UPDATE vehicle SET name = 'busy' WHERE id = 'V01'"))
                time.sleep(0.004)  # a batch of fixes being written

    try:
        seed(hammer_store)
        worker = threading.Thread(target=hammer)
        worker.start()
        time.sleep(0.1)
        waits = []
        try:
            for n in range(5):
                started = time.perf_counter()
                with other.session() as s:
                    s.get(VehicleRow, "V02").name = f"written {n}"
                waits.append(time.perf_counter() - started)
        finally:
            stop.set()
            worker.join(10)
        assert _read_vehicle(other, "V02").name == "written 4"
        assert max(waits) < 0.9  # its turn came well before the busy timeout
    finally:
        hammer_store.close()
        other.close()


def test_route_edit_with_stale_base_version_is_rejected(store):
    """A route edit based on an old version raises, naming both versions; the right base
    version goes through and returns the new version."""
    seed(store)
    plan = sample_plan()
    route = plan.routes[0]
    with store.session() as s:
        repository.save_plan(s, plan, actor=ACTOR)
    with store.session() as s:
        base = repository.route_versions(s, "SLC", DAY)[route.id]
    reversed_stops = tuple(reversed(route.stops))
    with store.session() as s:
        new_version = repository.update_route_stops(
            s, route.id, reversed_stops, base_version=base, actor=ACTOR
        )
    assert new_version == base + 1
    with pytest.raises(StaleVersionError) as err, store.session() as s:
        repository.update_route_stops(s, route.id, route.stops, base_version=base, actor="kim")
    assert (err.value.expected_version, err.value.actual_version) == (base, base + 1)
    with store.session() as s:
        stored = repository.load_plan(s, "SLC", DAY).routes[0]
    assert stored.stops == reversed_stops


def test_route_edit_rejects_unknown_route_and_repeated_orders(store):
    """Unknown routes and an order listed twice get clear errors."""
    seed(store)
    with store.session() as s:
        repository.save_plan(s, sample_plan(), actor=ACTOR)
    route = sample_plan().routes[0]
    with pytest.raises(KeyError, match="no route 'nope'"), store.session() as s:
        repository.update_route_stops(s, "nope", (), base_version=1, actor=ACTOR)
    with pytest.raises(ValueError, match="O2 appears twice"), store.session() as s:
        repository.update_route_stops(
            s, route.id, (Stop("O2"), Stop("O2")), base_version=1, actor=ACTOR
        )


def test_merging_a_stale_copy_is_rejected(store):
    """Merging an edited copy read before someone else's change raises instead of
    overwriting it."""
    seed(store)
    stale = _read_vehicle(store, "V01")
    with store.session() as s:
        s.get(VehicleRow, "V01").type_name = "van-xl"
    stale.type_name = "old edit"
    with pytest.raises(StaleVersionError, match="version 1.*version 2"), store.session() as s:
        s.merge(stale)
    assert _read_vehicle(store, "V01").type_name == "van-xl"


def test_a_write_ended_on_another_thread_ends_its_turn(tmp_path):
    """A write transaction begun on one thread and committed on another (a job handing its
    session over) ends its turn: the next writer does not wait for it."""
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    store = open_store(url)
    try:
        seed(store)
        conns = []
        begun, done = threading.Event(), threading.Event()

        def begin() -> None:  # a job begins the write ... (and lives on)
            conn = store.engine.connect()
            conn.exec_driver_sql("UPDATE vehicle SET name = 'begun here' WHERE id = 'V01'")
            conns.append(conn)
            begun.set()
            done.wait(30)

        job = threading.Thread(target=begin)
        job.start()
        assert begun.wait(5)
        conns[0].commit()  # ... and this thread ends it
        conns[0].close()
        took: list[float] = []

        def next_writer() -> None:
            started = time.perf_counter()
            with store.session() as s:
                s.get(VehicleRow, "V02").name = "next"
            took.append(time.perf_counter() - started)

        other = threading.Thread(target=next_writer)
        other.start()
        other.join(30)
        done.set()
        job.join(5)
        assert took and took[0] < 1.0
        assert _read_vehicle(store, "V01").name == "begun here"
    finally:
        store.close()


def test_the_windows_write_goes_before_background_writers_that_asked_earlier(tmp_path):
    """While a background writer holds SQLite's write turn and another waits, a write from
    the window's thread (the main thread: a dispatcher's command, a rule's firing) is
    served next: the window does not wait behind the telemetry writer's queue."""
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    store = open_store(url)
    order: list[str] = []
    try:
        seed(store)
        holding, let_go = threading.Event(), threading.Event()

        def holder() -> None:
            with store.session() as s:
                s.get(VehicleRow, "V01").name = "holder"
                holding.set()
                let_go.wait(10)
            order.append("holder")

        def background() -> None:
            with store.session() as s:
                s.get(VehicleRow, "V02").name = "background"
            order.append("background")

        first = threading.Thread(target=holder)
        first.start()
        assert holding.wait(5)
        second = threading.Thread(target=background)
        second.start()
        time.sleep(0.5)  # the background writer waits for its turn
        assert second.is_alive() and not order
        threading.Timer(0.3, let_go.set).start()
        with store.session() as s:  # the window's write, asked last
            s.get(VehicleRow, "V01").name = "window"
        order.append("window")
        first.join(5)
        second.join(5)
        assert order == ["holder", "window", "background"]
        assert _read_vehicle(store, "V01").name == "window"
        assert _read_vehicle(store, "V02").name == "background"
    finally:
        store.close()
