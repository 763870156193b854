"""Telemetry persistence: breadcrumbs, positions and events written once, off the consumer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

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
