""" "Keep mine" makes the person's edit again on what is stored now (the same move, the
same locks), through the applier's checks: never a stale whole list over someone else's
change, and a plain "no longer applies" when a stop was served or a route is gone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.store import daycheck
from app.store import repository as repo
from app.sync.commands import IntentGone
from app.sync.session import conflict_text
from bench.drills.day import DAY, DEPOT
from engine.model import StopStatus
from tests.app.test_sync_support import desk, orders, shared_store

pytestmark = pytest.mark.postgres


def moved(routes: dict[str, list[str]], oid: str, to: str) -> dict[str, list[str]]:
    """The two routes of moving ``oid`` to the front of route ``to``."""
    src = next(rid for rid, ids in routes.items() if oid in ids)
    return {src: [o for o in routes[src] if o != oid], to: [oid, *routes[to]]}


def two_desks_move_the_same_stop(postgres_url: str, tmp_path: Path):
    """Ann (offline) moves O0 to R1; Bob moves O0 to R2 and also O12 into R1, synced first.
    Ann's move comes back as one conflict."""
    shared = shared_store(postgres_url)
    a, b = desk(tmp_path, "desk-a", postgres_url), desk(tmp_path, "desk-b", postgres_url)
    a.work_offline = True
    a.execute(moved(orders(a.local), "O0", "R1"), actor="ann")
    b.execute(moved(orders(b.local), "O0", "R2"), actor="bob")
    b.execute(moved(orders(b.local), "O12", "R1"), actor="bob")
    assert b.sync().applied == 2
    a.work_offline = False
    assert a.sync().conflicts == 1
    (conflict,) = a.conflicts()
    return shared, a, b, conflict


def test_keep_mine_moves_the_stop_again_and_keeps_their_other_edit(
    postgres_url: str, tmp_path: Path
) -> None:
    """The walk's corruption: after "keep mine" O0 is on R1 only (not also on R2), Bob's
    O12 stays on R1, every order of the day is on exactly one route, and all copies match."""
    shared, a, b, conflict = two_desks_move_the_same_stop(postgres_url, tmp_path)
    a.resolve_conflict(conflict.id, keep="mine", actor="ann")
    report = a.sync()
    assert (report.applied, report.conflicts, report.pending) == (1, 0, 0)
    now = orders(shared)
    assert now["R1"] == ["O12", "O0", "O4", "O5", "O6", "O7"]
    assert "O0" not in now["R2"] and "O0" not in now["R0"]
    placed = [o for ids in now.values() for o in ids]
    assert len(placed) == len(set(placed)) == 32
    b.sync()
    assert orders(a.local) == orders(b.local) == now
    for store in (shared, a.local, b.local):
        with store.read_session() as s:
            assert daycheck.check(s) == []


def test_keep_mine_says_when_the_stop_was_served_meanwhile(
    postgres_url: str, tmp_path: Path
) -> None:
    """O0 delivered on R2 (Bob's route) meanwhile: "keep mine" says it no longer applies
    and changes nothing; the conflict stays open and "keep theirs" closes it."""
    shared, a, _b, conflict = two_desks_move_the_same_stop(postgres_url, tmp_path)
    with shared.session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
        r2 = next(r for r in plan.routes if r.id == "R2")
        stops = tuple(replace(st, status=StopStatus.DELIVERED) if st.order_id == "O0" else st
                      for st in r2.stops)  # fmt: skip
        repo.update_route_stops(s, "R2", stops, base_version=repo.route_versions(s, DEPOT, DAY)
                                ["R2"], actor="driver")  # fmt: skip
    a.sync()  # the local copy catches up with the delivery
    before = orders(shared)
    with pytest.raises(IntentGone, match="stop O0 was served on route R2 meanwhile"):
        a.resolve_conflict(conflict.id, keep="mine", actor="ann")
    assert [c.id for c in a.conflicts()] == [conflict.id]
    a.resolve_conflict(conflict.id, keep="theirs", actor="ann")
    assert a.sync().pending == 0 and a.conflicts() == []
    assert orders(shared) == before == orders(a.local)


def test_the_conflict_says_who_changed_it_and_what_differs(
    postgres_url: str, tmp_path: Path
) -> None:
    """The conflict names who stored the other version and when, and marks the stops that
    differ between both versions."""
    _shared, _a, _b, conflict = two_desks_move_the_same_stop(postgres_url, tmp_path)
    text = conflict_text(conflict.detail)
    assert "the stored version is by bob at" in text
    assert "R1: yours" in text and "+O12 stored only" in text
    assert "R2" in text or "R0" in text
