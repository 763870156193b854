"""Fault drills shared by ``main.py reliability`` and the tests: each returns a ``DrillResult``.

Every drill runs against real services (a PostgreSQL URL it is given, local SQLite files in
a directory it is given) and counts what a user would notice: edits lost, edits applied
twice, conflicts surfaced versus the edits that really overlapped, changes never seen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from app.store import Store, open_store
from app.store import repository as repo
from app.store.models import ChangeLogRow
from bench.drills.day import DAY, DEPOT, seed_drill_day

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrillResult:
    """What one drill counted."""

    scenario: str
    runs: int
    lost: int = 0
    duplicated: int = 0
    conflicts_surfaced: int = 0
    conflicts_expected: int = 0
    missed: int = 0
    seconds: float = 0.0
    integrity_failures: int = 0
    overwritten: int = 0  # edits that landed on another version than they were made from
    invariant_violations: int = 0  # an order twice, on a route and unassigned, or dropped
    stuck: int = 0  # commands still waiting (or held back) after the drill drained the desks

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.missed == 0
            and self.integrity_failures == 0
            and self.overwritten == 0
            and self.invariant_violations == 0
            and self.stuck == 0
            and self.conflicts_surfaced == self.conflicts_expected
        )


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``condition`` until true; raise ``TimeoutError`` naming ``what`` after timeout."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(0.01)


def rotate_route(store: Store, route_id: str, *, actor: str) -> int:
    """One real edit: move the route's first stop to the end (based on what is stored)."""
    with store.session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
        route = next(r for r in plan.routes if r.id == route_id)
        version = repo.route_versions(s, DEPOT, DAY)[route_id]
        stops = route.stops[1:] + route.stops[:1]
        return repo.update_route_stops(s, route_id, stops, base_version=version, actor=actor)


def _terminate(url: str, pid: int) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    libpq = make_url(url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def drill_listener_kills(url: str, kills: int = 50) -> DrillResult:
    """Kill the follower's LISTEN connection ``kills`` times while two writers commit; count
    the change-log rows the follower never reported after it caught up."""
    from app.sync.follower import ChangeFollower

    started = time.monotonic()
    writer = open_store(url, workstation="desk-2")
    reader = open_store(url, workstation="desk-1", migrate=False)
    seed_drill_day(writer)
    seen: list[int] = []
    lock = threading.Lock()

    def on_changes(events) -> None:
        with lock:
            seen.extend(e.id for e in events)

    follower = ChangeFollower(reader, on_changes, poll_s=1.0).start()
    stop = threading.Event()
    writes = [0]

    def write(routes: list[str]) -> None:
        i = 0
        while not stop.is_set():
            rotate_route(writer, routes[i % len(routes)], actor="desk-2")
            writes[0] += 1
            i += 1

    threads = [
        threading.Thread(target=write, args=(ids,), daemon=True)
        for ids in (["R0", "R2", "R4", "R6"], ["R1", "R3", "R5", "R7"])
    ]
    try:
        for t in threads:
            t.start()
        killed: int | None = None
        for _ in range(kills):
            wait_for(
                lambda k=killed: follower.listen_pid not in (None, k),
                60,
                "the follower to reconnect",
            )
            before = writes[0]
            wait_for(lambda b=before: writes[0] > b, 60, "a commit by the other workstation")
            killed = follower.listen_pid
            _terminate(url, killed)
            wait_for(lambda b=before: writes[0] > b + 1, 60, "a commit during the outage")
        stop.set()
        for t in threads:
            t.join(60)
        with writer.read_session() as s:
            all_ids = set(s.scalars(select(ChangeLogRow.id)))
        wait_for(lambda: all_ids <= set(seen), 60, "the follower to catch up")
        with lock:
            duplicated = len(seen) - len(set(seen))
            missed = len(all_ids - set(seen))
    finally:
        stop.set()
        follower.stop()
        reader.close()
        writer.close()
    return DrillResult(
        "listening connection killed", kills, duplicated=duplicated, missed=missed,
        seconds=time.monotonic() - started,
    )  # fmt: skip


def change_log_count(store: Store) -> int:
    with store.read_session() as s:
        return s.scalar(select(func.count()).select_from(ChangeLogRow)) or 0


def _terminate_all(url: str) -> None:
    """Terminate every other connection to ``url``'s database (a cut network)."""
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    libpq = parsed.set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (parsed.database,),
        )


def chain_breaks(audits: list[dict], current: dict[str, int]) -> int:
    """Commands (their audit rows' before/after, oldest first) that did not start from the
    version the previous one left, plus routes whose stored version is not the last one's:
    each is an edit that silently replaced another."""
    version: dict[str, int] = {}
    breaks = 0
    for before, after in audits:
        for rid, was in before["routes"].items():
            if rid in version and was["version"] != version[rid]:
                breaks += 1
            version[rid] = after["routes"][rid]["version"]
    return breaks + sum(1 for rid, v in version.items() if current.get(rid) != v)
