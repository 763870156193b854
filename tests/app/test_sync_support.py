"""Helpers for the sync tests (no tests here): desks on a shared database, local copies."""

from __future__ import annotations

from pathlib import Path

from app.store import Store, open_store
from app.store import repository as repo
from app.sync.offline import OfflineDesk
from bench.drills.day import DAY, DEPOT, seed_drill_day


def shared_store(url: str) -> Store:
    """The shared database, migrated and holding the drill day."""
    store = open_store(url, workstation="setup")
    seed_drill_day(store)
    return store


def desk(
    tmp_path: Path, name: str, shared_url: str | None, *, seed: bool = True, **kwargs
) -> OfflineDesk:
    """A workstation with its own local SQLite copy, seeded from the shared database."""
    local = open_store(f"sqlite:///{tmp_path / (name + '.sqlite3')}", workstation=name)
    made = OfflineDesk(local, shared_url, depot_id=DEPOT, day=DAY, workstation=name, **kwargs)
    if seed:
        assert made.seed()
    return made


def orders(store: Store) -> dict[str, list[str]]:
    """route id -> order ids of the drill day's plan in ``store``."""
    with store.read_session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
    return {r.id: list(r.order_ids) for r in plan.routes}


def versions(store: Store) -> dict[str, int]:
    with store.read_session() as s:
        return repo.route_versions(s, DEPOT, DAY)


def rotated(ids: list[str]) -> list[str]:
    """The same stops with the first moved to the end (a real edit of a route)."""
    return ids[1:] + ids[:1]


def bob_edits_first_then_ann_syncs(a, b, route_id: str) -> list[str]:
    """Bob reorders ``route_id`` and syncs first; then Ann (offline until now) comes back
    and syncs: her queued command must be one conflict, nothing applied. Returns Bob's
    order of stops."""
    bobs = rotated(orders(b.local)[route_id])
    b.execute({route_id: bobs}, actor="bob")
    assert b.sync().applied == 1
    a.work_offline = False
    report = a.sync()
    assert (report.applied, report.conflicts) == (0, 1)
    return bobs
