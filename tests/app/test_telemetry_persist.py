"""Telemetry persistence: breadcrumbs, positions and events written once, off the consumer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.store import open_store
from app.store.models_live import BreadcrumbRow
from app.store.repository import upsert_depots, upsert_vehicles
from app.telemetry.messages import Fix, StopEvent
from app.telemetry.persist import (
    TelemetryWriter,
    load_device_map,
    load_positions,
    load_stop_events,
    save_device,
    write_telemetry,
)
from app.telemetry.state import Applied
from engine.model import Depot, Location, Vehicle


def _store(url):
    store = open_store(url)
    with store.session() as s:
        upsert_depots(s, [Depot("D1", "Depot", Location(40.76, -111.89))], actor="test")
        upsert_vehicles(s, [Vehicle("V1", "D1", {"kg": 500})], actor="test")
    return store


def test_writer_persists_idempotently_and_positions_never_go_back(store_url):
    """Duplicates write once; an older fix never overwrites the stored latest position."""
    store = _store(store_url)
    writer = TelemetryWriter(store, interval_s=0.05).start()
    now = time.time()
    f1 = Fix("V1", 1, now - 10, 40.70, -111.90)
    f2 = Fix("V1", 2, now - 5, 40.71, -111.90)
    old = Fix("V1", 0, now - 60, 40.60, -111.90, live=False)
    ev = StopEvent("ev-1", "V1", now - 4, "delivered", "O1")
    try:
        writer.submit(Applied({"V1": f2}, [f1, f2], [ev]))
        writer.submit(Applied({}, [f1, f2, old], [ev]))  # a replay after a reconnect
        writer.submit(Applied({"V1": old}, [], []))
        writer.submit(Applied({"GHOST": Fix("GHOST", 1, now, 1.0, 1.0)}, [], []))
        assert writer.flush()
        with store.read_session() as s:
            positions = load_positions(s)
            events = load_stop_events(s, datetime.now(UTC) - timedelta(hours=1))
            crumbs = s.execute(select(func.count()).select_from(BreadcrumbRow)).scalar()
        assert crumbs == 3
        assert [(p.vehicle_id, p.seq) for p in positions] == [("V1", 2)]
        assert [e.event_id for e in events] == ["ev-1"]
        assert writer.last_error == ""
    finally:
        writer.stop()
        store.close()


def test_a_big_batch_is_written_whole_in_statements_of_a_bounded_size(tmp_path):
    """On SQLite a batch of breadcrumbs goes in statements of at most SQLITE_INSERT_ROWS rows
    (each statement of its own row count stays prepared in the connection: at 1,000 rows a
    statement, a live day kept some 20 MB of them), and every fix is stored."""
    from sqlalchemy import event

    from app.store.database import SQLITE_INSERT_ROWS

    store = _store(f"sqlite:///{tmp_path / 'd.sqlite3'}")
    rows_per_statement: list[int] = []

    def count(_conn, _cursor, statement, parameters, _context, _many):  # noqa: PLR0913
        if statement.startswith("INSERT INTO breadcrumb "):
            rows_per_statement.append(statement.count("(?"))

    event.listen(store.engine, "before_cursor_execute", count)
    now = time.time()
    fixes = [Fix("V1", i, now - 2000 + i, 40.7 + i * 1e-5, -111.9) for i in range(1234)]
    try:
        with store.session() as s:
            write_telemetry(s, fixes, [], [])
        with store.read_session() as s:
            stored = s.execute(select(func.count()).select_from(BreadcrumbRow)).scalar()
        assert stored == 1234
        assert sum(rows_per_statement) == 1234
        assert max(rows_per_statement) == SQLITE_INSERT_ROWS == 100
    finally:
        store.close()


def test_device_map_is_editable_and_checked(tmp_path):
    """Mapping a device to a vehicle is stored; an unknown vehicle is refused with a reason."""
    store = _store(f"sqlite:///{tmp_path / 'd.sqlite3'}")
    with store.session() as s:
        save_device(s, "alice/phone", "V1")
    with store.read_session() as s:
        assert load_device_map(s) == {"alice/phone": "V1"}
    with store.session() as s:
        try:
            save_device(s, "bob/phone", "V99")
        except ValueError as exc:
            assert "V99" in str(exc)
        else:
            raise AssertionError("unknown vehicle accepted")
    store.close()


def test_exception_lifecycle_is_stored(tmp_path):
    """An exception raised and later cleared is stored with detected and resolved times."""
    from app.store.models_live import ExceptionRow
    from app.telemetry.persist import save_exception_changes
    from engine.rules import Condition, ExceptionTracker, ExceptionType, Severity

    store = _store(f"sqlite:///{tmp_path / 'e.sqlite3'}")
    tracker = ExceptionTracker()
    t0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    late = Condition(ExceptionType.LATE_RISK, Severity.WARNING, "V1", "O1", "5 min late", "Call")
    with store.session() as s:
        save_exception_changes(s, tracker.update([late], t0))
    with store.session() as s:
        save_exception_changes(s, tracker.update([], t0 + timedelta(minutes=7)))
    with store.read_session() as s:
        row = s.execute(select(ExceptionRow)).scalar_one()
        assert row.type == "late_risk" and row.detected_at == t0
        assert row.resolved_at == t0 + timedelta(minutes=7) and row.version == 2
    store.close()


def _crumbs(vid: str, seqs, t0: float) -> list[Fix]:
    return [Fix(vid, s, t0 + i, 40.70 + i * 1e-5, -111.90) for i, s in enumerate(seqs)]


def _stored(store) -> list[tuple[str, int]]:
    with store.read_session() as s:
        rows = s.execute(select(BreadcrumbRow.vehicle_id, BreadcrumbRow.seq)).all()
    return sorted((v, q) for v, q in rows)


def test_a_row_the_database_refuses_is_set_aside_and_the_others_are_written(store_url):
    """The attack of finding 1 behind the decoder's back: a breadcrumb with seq 10^40 in
    a batch. It is refused and counted; every other row is written, now and afterwards."""
    store = _store(store_url)
    writer = TelemetryWriter(store, interval_s=0.05).start()
    now = time.time() - 600
    try:
        good = _crumbs("V1", range(1, 41), now)
        bad = Fix("V1", 10**40, now + 50, 40.71, -111.90)
        writer.submit(Applied({"V1": good[-1]}, good[:20] + [bad] + good[20:], []))
        assert writer.flush(20)
        later = _crumbs("V1", range(41, 51), now + 60)
        writer.submit(Applied({"V1": later[-1]}, later, []))
        assert writer.flush(20)
        assert _stored(store) == [("V1", s) for s in range(1, 51)]
        assert sum(writer.refused.values()) == 1 and writer.stalls == 0
        assert writer.pending() == 0
        refused = writer.last_refused[-1]
        assert refused.kind == "breadcrumb" and "V1 seq 1000" in refused.key
    finally:
        writer.stop()
        store.close()


def test_a_tracker_that_restarted_its_counter_has_every_fix_stored(store_url):
    """seq 1..5 in the morning and again after a reboot: ten breadcrumbs, not five."""
    store = _store(store_url)
    writer = TelemetryWriter(store, interval_s=0.05).start()
    now = time.time() - 3600
    try:
        morning, afternoon = _crumbs("V1", range(1, 6), now), _crumbs("V1", range(1, 6), now + 900)
        writer.submit(Applied({}, morning + afternoon + morning, []))  # + a replay
        assert writer.flush(20)
        assert len(_stored(store)) == 10
    finally:
        writer.stop()
        store.close()


@pytest.mark.postgres
def test_an_unreachable_database_keeps_the_newest_rows_within_the_bound(postgres_url):
    """While the database refuses connections the writer keeps the batch (bounded, oldest
    let go first, counted) and writes it once the database is back."""
    import psycopg
    from sqlalchemy.engine import make_url

    store = _store(postgres_url)
    name = make_url(postgres_url).database
    admin = make_url(postgres_url).set(drivername="postgresql", database="postgres")
    writer = TelemetryWriter(store, interval_s=0.05, retry_s=0.2, max_pending=100)
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        writer.start()
        now = time.time() - 600
        try:
            crumbs = _crumbs("V1", range(1, 301), now)
            for i in range(0, 300, 50):
                writer.submit(Applied({}, crumbs[i : i + 50], []))
            deadline = time.monotonic() + 20
            while writer.stalls < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert writer.stalls >= 2 and writer.pending() <= 100
            assert writer.dropped == 200 and not writer.refused
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            assert writer.flush(30)
            assert _stored(store) == [("V1", s) for s in range(201, 301)]
        finally:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            writer.stop()
            store.close()


def test_a_backlog_is_written_in_parts_of_whole_vehicles_and_a_window_write_goes_between(tmp_path):
    """A backlog of 2,400 breadcrumbs of 60 vans is written in transactions of at most
    ``rows_per_write`` rows, each holding whole vans (their breadcrumbs and position, so a
    van's trail totals are worked out once), and a write the window asks for meanwhile goes
    after the part being written, not after the whole backlog (on SQLite one transaction
    writes at a time: one of everything held the window's writes for 5-10 s at 2,000
    vans). Every fix and the event are stored."""
    import threading

    import app.telemetry.persist as persist
    from app.store.models_day import VehicleRow

    store = open_store(f"sqlite:///{tmp_path / 'd.sqlite3'}")
    vans = [f"V{k:02d}" for k in range(60)]
    with store.session() as s:
        upsert_depots(s, [Depot("D1", "Depot", Location(40.76, -111.89))], actor="test")
        upsert_vehicles(s, [Vehicle(v, "D1", {"kg": 500}) for v in vans], actor="test")
    done: list[object] = []  # each part's vans, and "window" when the window's write ended
    writing, window_waits = threading.Event(), threading.Event()
    real = persist.write_telemetry

    def write_part(session, crumbs, events, positions, **kw):
        crumbs = list(crumbs)
        if not done:  # the first part: the window asks for its write meanwhile
            writing.set()
            window_waits.wait(10)
            time.sleep(0.2)
        out = real(session, crumbs, events, positions, **kw)
        done.append(frozenset(f.vehicle_id for f in crumbs) | {f.vehicle_id for f in positions})
        return out

    persist.write_telemetry = write_part
    writer = TelemetryWriter(store, interval_s=0.05, rows_per_write=300)
    now = time.time()
    crumbs = [Fix(v, i, now - 100 + i, 40.7 + i * 1e-5, -111.9) for v in vans for i in range(40)]
    latest = {v: crumbs[k * 40 + 39] for k, v in enumerate(vans)}
    try:
        writer.submit(Applied(latest, crumbs, [StopEvent("ev-1", "V01", now, "delivered", "O1")]))
        writer.start()
        assert writing.wait(10)
        window_waits.set()
        with store.session() as s:  # the window's write (this test runs on the main thread)
            s.get(VehicleRow, "V05").name = "renamed by a dispatcher"
        done.append("window")
        assert writer.flush(30)
    finally:
        writer.stop()
        persist.write_telemetry = real
    parts = [p for p in done if p != "window"]
    assert done.index("window") == 1  # right after the part being written
    assert len(parts) == 9  # 60 vans x (40 breadcrumbs + 1 position) / 300 rows: 7 vans a part
    assert all(len(p) <= 7 for p in parts)
    assert sorted(v for p in parts for v in p) == vans  # each van in exactly one part
    with store.read_session() as s:
        assert s.execute(select(func.count()).select_from(BreadcrumbRow)).scalar() == 2400
        assert [
            e.event_id for e in load_stop_events(s, datetime.now(UTC) - timedelta(hours=1))
        ] == ["ev-1"]
        assert sorted((p.vehicle_id, p.seq) for p in load_positions(s)) == [(v, 39) for v in vans]
        assert s.get(VehicleRow, "V05").name == "renamed by a dispatcher"
    store.close()


def test_what_the_consumer_hands_over_between_two_writes_is_written_together(tmp_path):
    """The consumer hands over what it applied every drain (some ten times a second); the
    writer writes what is pending once per ``interval_s``, not once per hand-over: each
    write costs per vehicle (its trail totals, its index pages), and writing a few hundred
    vans at a time at 2,000 vans, the writer fell behind. A flush still writes at once."""
    from sqlalchemy import event

    store = open_store(f"sqlite:///{tmp_path / 'd.sqlite3'}")
    with store.session() as s:
        upsert_depots(s, [Depot("D1", "Depot", Location(40.76, -111.89))], actor="test")
        upsert_vehicles(s, [Vehicle(f"V{k}", "D1", {"kg": 500}) for k in range(10)], actor="test")
    writes: list[float] = []
    event.listen(store.engine, "commit", lambda _conn: writes.append(time.monotonic()))
    writer = TelemetryWriter(store, interval_s=1.0).start()
    now = time.time()
    try:
        time.sleep(0.2)  # the writer's first look found nothing
        for k in range(10):  # ten hand-overs, 30 ms apart
            fix = Fix(f"V{k}", 1, now - 5, 40.7, -111.9)
            writer.submit(Applied({fix.vehicle_id: fix}, [fix], []))
            time.sleep(0.03)
        time.sleep(1.5)
        assert len(writes) == 1  # all ten in one write
        late = Fix("V0", 2, now - 1, 40.71, -111.9)
        writer.submit(Applied({"V0": late}, [late], []))
        started = time.monotonic()
        assert writer.flush(5)
        assert time.monotonic() - started < 0.5  # not a second's wait for the next write
        with store.read_session() as s:
            assert s.execute(select(func.count()).select_from(BreadcrumbRow)).scalar() == 11
    finally:
        writer.stop()
        store.close()
