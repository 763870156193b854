"""Telemetry, exception, outbox and change-log tables keep their guarantees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.store import open_store
from app.store.changelog import change_mark, changes_between, log_change, read_changes
from app.store.models import (
    BreadcrumbRow,
    ChangeLogRow,
    DeviceMapRow,
    ExceptionRow,
    OutboxRow,
    StopEventRow,
    VehiclePositionRow,
)
from tests.app.test_store_support import seed

T0 = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)


def _crumb(seq: int) -> BreadcrumbRow:
    return BreadcrumbRow(vehicle_id="V01", seq=seq, ts=T0 + timedelta(seconds=seq),
                         lat=40.76, lon=-111.89, speed_kmh=30.0, heading_deg=90.0)  # fmt: skip


def test_breadcrumb_rejects_a_duplicate_seq(store):
    """A replayed (vehicle, seq) breadcrumb is refused by the database."""
    with store.session() as s:
        s.add_all([_crumb(1), _crumb(2)])
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(_crumb(2))
    with store.session() as s:
        assert list(s.scalars(select(BreadcrumbRow.seq).order_by(BreadcrumbRow.seq))) == [1, 2]


def test_stop_event_is_unique_by_event_id(store):
    """The same stop event delivered twice is stored once."""
    event = dict(event_id="e-1", vehicle_id="V01", stop_id="O1", type="delivered", ts=T0,
                 received_at=T0)  # fmt: skip
    with store.session() as s:
        s.add(StopEventRow(**event))
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(StopEventRow(**event))


def test_position_exception_outbox_and_device_rows_round_trip(store):
    """Latest position, an exception's lifecycle times, an outbox command and a device
    mapping are stored with aware times and versions."""
    seed(store)
    with store.session() as s:
        s.add(VehiclePositionRow(vehicle_id="V01", seq=7, ts=T0, lat=40.7, lon=-111.9,
                                 received_at=T0))  # fmt: skip
        s.add(ExceptionRow(id="late:O1", type="late_risk", severity="warning", vehicle_id="V01",
                           order_id="O1", detected_at=T0, suggested_action="re-plan"))  # fmt: skip
        s.add(OutboxRow(idempotency_key="cmd-1", command={"kind": "reassign", "order": "O1"},
                        base_versions={"route:R1": 3}, created_at=T0))  # fmt: skip
        s.add(DeviceMapRow(device_key="owntracks/alex/phone", vehicle_id="V01", updated_at=T0))
    with store.session() as s:
        exc = s.get(ExceptionRow, "late:O1")
        exc.acknowledged_at = T0 + timedelta(minutes=2)
        exc.resolved_at = T0 + timedelta(minutes=9)
    with store.read_session() as s:
        exc = s.get(ExceptionRow, "late:O1")
        assert exc.version == 2
        assert exc.resolved_at - exc.detected_at == timedelta(minutes=9)
        assert s.get(VehiclePositionRow, "V01").ts == T0
        assert s.get(OutboxRow, 1).base_versions == {"route:R1": 3}
        assert s.get(DeviceMapRow, "owntracks/alex/phone").vehicle_id == "V01"
    with pytest.raises(IntegrityError), store.session() as s:
        s.add(OutboxRow(idempotency_key="cmd-1", command={}, base_versions={}, created_at=T0))


def test_change_log_follower_reads_each_change_once(store):
    """A follower gets every change once, in order, with the writer's workstation; on
    PostgreSQL each row carries the writing transaction's xid8."""
    with store.session() as s:
        log_change(s, "exception", "x1", "insert", actor="rule", after={"a": 1})
    with store.read_session() as s:
        first, cursor = read_changes(s)
    with store.session() as s:
        log_change(s, "exception", "x1", "update", actor="dana", before={"a": 1}, after={"a": 2})
        with pytest.raises(ValueError, match="operation must be one of"):
            log_change(s, "x", "1", "upsert", actor="a")
    with store.read_session() as s:
        second, cursor = read_changes(s, cursor)
        third, _ = read_changes(s, cursor)
        txids = [r.txid for r in s.scalars(select(ChangeLogRow).order_by(ChangeLogRow.id))]
    assert [(r.operation, r.after) for r in first] == [("insert", {"a": 1})]
    assert [(r.operation, r.after) for r in second] == [("update", {"a": 2})]
    assert third == [] and second[0].origin == "test-desk"
    if store.dialect == "postgresql":
        assert all(isinstance(t, int) for t in txids) and txids[0] < txids[1]
    else:
        assert txids == [None, None]


@pytest.mark.postgres
def test_follower_misses_no_change_committed_out_of_order(postgres_url):
    """A change with a lower id that commits after one with a higher id still reaches the
    follower (a plain id cursor would skip it)."""
    slow, fast, follower = (open_store(postgres_url, workstation=w) for w in "ABF")
    try:
        with slow.session() as s_slow:
            log_change(s_slow, "route", "R1", "update", actor="slow", after={"n": 1})
            s_slow.flush()  # takes the lower id and xid, then stays open
            with fast.session() as s_fast:
                log_change(s_fast, "route", "R2", "update", actor="fast", after={"n": 2})
            with follower.read_session() as s:
                seen, cursor = read_changes(s)
        with follower.read_session() as s:
            late, cursor = read_changes(s, cursor)
            again, _ = read_changes(s, cursor)
        assert [r.entity_id for r in seen] == ["R2"]
        assert [r.entity_id for r in late] == ["R1"]
        assert late[0].id < seen[0].id  # what an id cursor would have skipped
        assert again == []
    finally:
        for store in (slow, fast, follower):
            store.close()


@pytest.mark.postgres
def test_changes_between_two_marks_admit_a_row_committed_out_of_order(postgres_url):
    """What was stored between two change marks, or None when a lower id committed after
    the first mark was read: a reader skipping work for the changes it saw must not skip
    one it did not see."""
    slow, fast, reader = (open_store(postgres_url, workstation=w) for w in "SFR")
    try:
        with reader.read_session() as s:
            start = change_mark(s)
        with slow.session() as s_slow:
            log_change(s_slow, "route", "R1", "update", actor="slow", after={"n": 1})
            s_slow.flush()  # takes the lower id, then stays open
            with fast.session() as s_fast:
                log_change(s_fast, "rule_firing", "F1", "insert", actor="fast", after={"n": 2})
            with reader.read_session() as s:
                middle = change_mark(s)
                seen = changes_between(s, start, middle)
        with reader.read_session() as s:
            end = change_mark(s)
            late = changes_between(s, middle, end)
            whole = changes_between(s, start, end)
        assert seen == [("rule_firing", None, {"n": 2})]
        assert late is None  # R1's id is below the mark read before it committed
        assert whole is not None and [c[0] for c in whole] == ["route", "rule_firing"]
    finally:
        for store in (slow, fast, reader):
            store.close()
