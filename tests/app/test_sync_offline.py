"""Offline work: edits land locally with an outbox row, replay once, conflicts surface."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.store import StaleVersionError
from app.store.models import OutboxRow
from app.sync.status import SyncStatus
from tests.app.test_sync_support import desk, orders, rotated, shared_store, versions

pytestmark = pytest.mark.postgres


def test_offline_edit_waits_then_lands_once(postgres_url: str, tmp_path: Path) -> None:
    """An edit made offline shows locally at once, waits in the outbox, lands on reconnect."""
    shared = shared_store(postgres_url)
    seen: list[SyncStatus] = []
    a = desk(tmp_path, "desk-a", postgres_url, on_status=seen.append)
    a.work_offline = True
    new = rotated(orders(a.local)["R1"])
    a.execute({"R1": new}, actor="ann")
    assert orders(a.local)["R1"] == new
    assert orders(shared)["R1"] != new
    report = a.sync()
    assert (report.online, report.pending) == (False, 1)
    assert seen[-1].text == "offline - 1 edit waiting"
    a.work_offline = False
    report = a.sync()
    assert (report.applied, report.pending, report.refreshed) == (1, 0, True)
    assert orders(shared)["R1"] == new
    assert versions(a.local) == versions(shared)
    assert seen[-1] == SyncStatus(True, 0, 0, "", seen[-1].last_sync)
    assert a.sync().applied == 0  # nothing twice


def test_overlapping_offline_edits_become_one_conflict_each(
    postgres_url: str, tmp_path: Path
) -> None:
    """Two desks edit the same route offline: the second to sync gets conflicts, not a
    silent overwrite, with both versions to choose from; then both copies agree."""
    shared = shared_store(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    a.work_offline = b.work_offline = True
    start = orders(a.local)["R2"]
    a.execute({"R2": rotated(start)}, actor="ann")
    b.execute({"R2": start[::-1]}, actor="bob")
    b.execute({"R2": rotated(start[::-1])}, actor="bob")  # built on bob's own first edit
    b.execute({"R5": rotated(orders(b.local)["R5"])}, actor="bob")  # a route only bob edits
    a.work_offline = b.work_offline = False
    assert a.sync().applied == 1
    report = b.sync()
    assert (report.applied, report.conflicts) == (1, 2)
    assert orders(shared)["R2"] == rotated(start)  # ann's edit stands
    conflicts = b.conflicts()
    assert len(conflicts) == 2
    detail = json.loads(conflicts[-1].detail)
    assert detail["mine"]["R2"]["orders"] == start[::-1]
    assert detail["theirs"]["R2"]["orders"] == rotated(start)
    a.sync()
    assert orders(a.local) == orders(b.local) == orders(shared)
    assert b.status().conflicts == 2


def test_stale_local_edit_is_refused(postgres_url: str, tmp_path: Path) -> None:
    """An edit based on an older version than the local copy holds is refused at once."""
    shared_store(postgres_url)
    a = desk(tmp_path, "desk-a", postgres_url)
    old = versions(a.local)["R0"]
    a.execute({"R0": rotated(orders(a.local)["R0"])}, actor="ann")
    with pytest.raises(StaleVersionError):
        a.execute({"R0": orders(a.local)["R0"]}, actor="ann", base_versions={"R0": old})
    with a.local.read_session() as s:
        assert len(s.scalars(select(OutboxRow)).all()) == 1


def test_unreachable_database_means_offline(tmp_path: Path) -> None:
    """A shared database nobody answers at: offline with a reason, edits kept locally."""
    from app.sync.pgserver import free_port
    from bench.drills.day import seed_drill_day

    a = desk(
        tmp_path, "desk-a", f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x", seed=False
    )
    assert not a.seed()
    seed_drill_day(a.local)
    a.execute({"R0": rotated(orders(a.local)["R0"])}, actor="ann")
    report = a.sync()
    assert (report.online, report.pending) == (False, 1)
    assert a.status().last_error


def test_conflict_resolved_by_keeping_mine(postgres_url: str, tmp_path: Path) -> None:
    """Choosing "keep mine" puts this desk's version on top of theirs, conflict closed."""
    shared = shared_store(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    start = orders(a.local)["R3"]
    a.work_offline = b.work_offline = True
    a.execute({"R3": rotated(start)}, actor="ann")
    b.execute({"R3": start[::-1]}, actor="bob")
    a.work_offline = b.work_offline = False
    a.sync()
    assert b.sync().conflicts == 1
    (conflict,) = b.conflicts()
    b.resolve_conflict(conflict.id, keep="mine", actor="bob")
    assert b.sync().applied == 1
    assert orders(shared)["R3"] == start[::-1]
    assert b.conflicts() == [] and b.status().conflicts == 0


def test_telemetry_stored_offline_is_backfilled_once(postgres_url: str, tmp_path: Path) -> None:
    """Fixes and stop events received while offline reach the shared database on
    reconnect, once, and the latest position only moves forwards."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func

    from app.store.models import BreadcrumbRow, StopEventRow, VehiclePositionRow

    shared = shared_store(postgres_url)
    a = desk(tmp_path, "desk-a", postgres_url)
    t0 = datetime(2026, 11, 24, 16, tzinfo=UTC)
    with a.local.session() as s:
        for seq in range(1, 31):
            s.add(BreadcrumbRow(vehicle_id="V1", seq=seq, ts=t0 + timedelta(seconds=seq),
                                lat=40.7, lon=-111.9))  # fmt: skip
        s.add(StopEventRow(event_id="e1", vehicle_id="V1", stop_id="O4", type="delivered",
                           ts=t0, reason="", received_at=t0))  # fmt: skip
        s.add(VehiclePositionRow(vehicle_id="V1", seq=30, ts=t0 + timedelta(seconds=30),
                                 lat=40.7, lon=-111.9, received_at=t0))  # fmt: skip
    with shared.session() as s:  # the shared database already heard a newer fix
        s.add(VehiclePositionRow(vehicle_id="V1", seq=99, ts=t0 + timedelta(hours=1),
                                 lat=41.0, lon=-111.0, received_at=t0))  # fmt: skip
    assert a.sync().online
    a.sync()
    with shared.read_session() as s:
        assert s.scalar(select(func.count()).select_from(BreadcrumbRow)) == 30
        assert s.scalar(select(func.count()).select_from(StopEventRow)) == 1
        assert s.get(VehiclePositionRow, "V1").seq == 99


def test_two_desks_replaying_the_same_route_at_once(postgres_url: str) -> None:
    """Two desks replay an edit of the same route at the same instant, 20 times: exactly one
    lands each time and the other is a conflict (even when both want the same stops)."""
    import threading

    from app.store import open_store
    from app.sync.commands import Command
    from app.sync.outbox import send
    from bench.drills.day import DAY, DEPOT

    shared = shared_store(postgres_url)
    stores = [open_store(postgres_url, workstation=f"desk-{i}", migrate=False) for i in (0, 1)]
    try:
        for _ in range(20):
            base = versions(shared)["R6"]
            target = rotated(orders(shared)["R6"])
            commands = [Command(DEPOT, DAY, {"R6": target}, {"R6": base}, f"u{i}") for i in (0, 1)]
            barrier = threading.Barrier(2)
            outcomes: list[str] = []

            def replay(i: int, commands=commands, barrier=barrier, outcomes=outcomes) -> None:
                barrier.wait()
                outcomes.append(send(stores[i], commands[i], tainted=False).status)

            threads = [threading.Thread(target=replay, args=(i,)) for i in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert sorted(outcomes) == ["applied", "conflict"]
            assert versions(shared)["R6"] == base + 1
    finally:
        for store in stores:
            store.close()
