"""Drills of offline work: database restarts, cut commits, killed workstations, interleavings."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select

from app.store import Store, open_store
from app.store import repository as repo
from app.store.models import ChangeLogRow, ExceptionRow, OutboxRow
from app.sync.offline import OfflineDesk
from app.sync.outbox import CONFLICT, CONFLICT_TYPE
from app.sync.pgserver import ThrowawayPostgres, create_database
from bench.drills.day import DAY, DEPOT, seed_drill_day
from bench.drills.faults import DrillResult, chain_breaks, wait_for


def make_desk(workdir: Path, name: str, shared_url: str | None, seed: bool = True) -> OfflineDesk:
    """A workstation with a fresh local SQLite copy in ``workdir``."""
    local = open_store(f"sqlite:///{workdir / (name + '.sqlite3')}", workstation=name)
    desk = OfflineDesk(local, shared_url, depot_id=DEPOT, day=DAY, workstation=name)
    if seed and not desk.seed():
        raise RuntimeError(f"{name}: the shared database is unreachable for the first copy")
    return desk


def local_orders(desk: OfflineDesk) -> dict[str, list[str]]:

    with desk.local.read_session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
    return {r.id: list(r.order_ids) for r in plan.routes}


def rotate(desk: OfflineDesk, route_id: str, actor: str) -> str:
    """One edit on the desk's local copy (queued for the shared database); its key."""
    ids = local_orders(desk)[route_id]
    return desk.execute({route_id: ids[1:] + ids[:1]}, actor=actor).key


def drain(desk: OfflineDesk, timeout_s: float = 120.0) -> None:
    """Sync until nothing waits (the shared database may still be coming back)."""
    deadline = time.monotonic() + timeout_s
    while True:
        report = desk.sync()
        if report.online and report.pending == 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{desk.workstation}: {report.pending} commands still waiting")
        time.sleep(0.05)


def count_outcomes(shared: Store, keys: set[str], actors: Sequence[str]) -> dict[str, int]:
    """lost / duplicated / conflicts as the shared database shows them for ``keys``."""
    with shared.read_session() as s:
        rows = s.execute(select(OutboxRow.idempotency_key, OutboxRow.last_error, OutboxRow.command))
        landed = {key: (err, cmd) for key, err, cmd in rows if key in keys}
        route_updates = s.scalar(
            select(func.count())
            .select_from(ChangeLogRow)
            .where(ChangeLogRow.entity == "route", ChangeLogRow.actor.in_(actors))
        )
        audit_rows = s.scalars(
            select(ChangeLogRow).where(ChangeLogRow.entity == "command").order_by(ChangeLogRow.id)
        ).all()
        audits = Counter(r.entity_id for r in audit_rows).items()
        chain = [(r.before, r.after) for r in audit_rows if r.entity_id in keys]
        current = repo.route_versions(s, DEPOT, DAY)
        exceptions = s.scalar(
            select(func.count()).select_from(ExceptionRow).where(ExceptionRow.type == CONFLICT_TYPE)
        )
    applied_routes = sum(
        len(cmd["routes"]) for err, cmd in landed.values() if not err.startswith(CONFLICT)
    )
    conflicts = sum(1 for err, _ in landed.values() if err.startswith(CONFLICT))
    twice = sum(n - 1 for key, n in audits if key in keys and n > 1)
    return {
        "lost": len(keys - set(landed)),
        # A repeat shows as an extra route update, a no-op apply as a missing one.
        "duplicated": abs(route_updates - applied_routes) + twice,
        "overwritten": chain_breaks(chain, current),
        "conflicts": conflicts,
        "exceptions": exceptions,
    }


def drill_database_restarts(
    server: ThrowawayPostgres, workdir: Path, *, edits: int = 200, outages: int = 5, seed: int = 0
) -> DrillResult:
    """Two desks edit while the shared database is killed (``pg_ctl stop -m immediate``)
    and restarted ``outages`` times; in each outage both edit one shared route 3 times."""
    started = time.monotonic()
    rng = random.Random(seed)
    name = f"drill_{uuid.uuid4().hex[:8]}"
    create_database(server.url, name)
    url = server.database_url(name)
    shared = open_store(url, workstation="setup")
    seed_drill_day(shared, routes=9)
    desks = {"ann": make_desk(workdir, "desk-a", url), "bob": make_desk(workdir, "desk-b", url)}
    own = {"ann": ["R0", "R1", "R2", "R3"], "bob": ["R4", "R5", "R6", "R7"]}
    per_desk = edits // outages // 2
    overlap = 3 if per_desk >= 6 else 1
    online_edits = per_desk - 2 * overlap  # then overlap own + overlap shared edits offline
    keys: set[str] = set()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(actor: str, count: int, routes: list[str], sync: bool) -> None:
        try:
            desk = desks[actor]
            for i in range(count):
                key = rotate(desk, routes[i % len(routes)], actor)
                with lock:
                    keys.add(key)
                if sync:
                    desk.sync()
        except BaseException as exc:
            errors.append(exc)

    def both(count: int, routes: dict[str, list[str]], sync: bool) -> None:
        threads = [threading.Thread(target=work, args=(a, count, routes[a], sync)) for a in desks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    try:
        for _ in range(outages):
            killer = threading.Timer(rng.uniform(0.05, 0.6), server.stop_immediate)
            killer.start()  # the database dies somewhere in the online edits
            both(online_edits, own, sync=True)
            killer.join()
            both(overlap, own, sync=True)  # offline: replay attempts fail
            both(overlap, {a: ["R8"] for a in desks}, sync=True)  # the overlapping edits
            server.restart()
            drains = [threading.Thread(target=drain, args=(d,)) for d in desks.values()]
            for t in drains:
                t.start()
            for t in drains:
                t.join()
        for d in desks.values():
            drain(d)
        counted = count_outcomes(shared, keys, list(desks))
        converged = all(local_orders(d) == local_orders(desks["ann"]) for d in desks.values())
    finally:
        for d in desks.values():
            d.close()
            d.local.close()
        shared.close()
    return DrillResult(
        "shared database killed and restarted", len(keys), lost=counted["lost"],
        duplicated=counted["duplicated"] + (0 if converged else 1),
        overwritten=counted["overwritten"],
        conflicts_surfaced=counted["conflicts"], conflicts_expected=overlap * outages,
        seconds=time.monotonic() - started,
    )  # fmt: skip


def drill_commit_cuts(url: str, workdir: Path, *, cuts: int = 50) -> DrillResult:
    """Cut every shared connection right after each command's COMMIT, before the local
    acknowledgement, ``cuts`` times; the retry must skip, not repeat, the command."""
    started = time.monotonic()
    shared = open_store(url, workstation="setup")
    seed_drill_day(shared)
    desk = make_desk(workdir, "desk-a", url)
    from bench.drills.faults import _terminate_all

    def cut(point: str, _key: str) -> None:
        if point == "after_shared_commit":
            _terminate_all(url)
            raise ConnectionError("connection cut after COMMIT")

    keys: set[str] = set()
    skipped = 0
    try:
        for i in range(cuts):
            keys.add(rotate(desk, f"R{i % 8}", "ann"))
            desk.fault = cut
            if desk.sync().pending != 1:
                raise RuntimeError("the cut sync should have left the command waiting")
            desk.fault = None
            report = desk.sync()
            skipped += report.duplicates
        counted = count_outcomes(shared, keys, ["ann"])
    finally:
        desk.close()
        desk.local.close()
        shared.close()
    return DrillResult(
        "connection cut after COMMIT", cuts, lost=counted["lost"],
        duplicated=counted["duplicated"] + (cuts - skipped), overwritten=counted["overwritten"],
        conflicts_surfaced=counted["conflicts"], seconds=time.monotonic() - started,
    )  # fmt: skip


def _child_writes(workdir: Path, ack_fd: int) -> None:
    """The killed workstation: edit forever, write each key to ``ack_fd`` once committed."""
    desk = make_desk(workdir, "desk-k", None, seed=False)
    i = 0
    while True:
        key = rotate(desk, f"R{i % 8}", "kim")
        os.write(ack_fd, (key + "\n").encode())
        i += 1


def drill_local_kills(workdir: Path, *, kills: int = 50, seed: int = 0) -> DrillResult:
    """SIGKILL a workstation process mid-write ``kills`` times; after each, the local SQLite
    copy must pass ``PRAGMA integrity_check`` and hold every edit it acknowledged."""
    started = time.monotonic()
    rng = random.Random(seed)
    local = open_store(f"sqlite:///{workdir / 'desk-k.sqlite3'}", workstation="desk-k")
    seed_drill_day(local)
    local.close()
    acked: set[str] = set()
    bad = 0
    for _ in range(kills):
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child never returns
            os.close(read_fd)
            try:
                _child_writes(workdir, write_fd)
            finally:
                os._exit(1)
        os.close(write_fd)
        buffer = b""
        want = rng.randint(1, 6)
        while buffer.count(b"\n") < want:
            chunk = os.read(read_fd, 4096)
            if not chunk:
                break
            buffer += chunk
        time.sleep(rng.uniform(0, 0.02))  # somewhere inside the next write
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        while chunk := os.read(read_fd, 4096):
            buffer += chunk
        os.close(read_fd)
        acked.update(line for line in buffer.decode().split("\n") if len(line) == 32)
        with sqlite3.connect(workdir / "desk-k.sqlite3") as conn:
            bad += conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok"
    with sqlite3.connect(workdir / "desk-k.sqlite3") as conn:
        stored = {k for (k,) in conn.execute("SELECT idempotency_key FROM outbox")}
        edits: dict[str, int] = {}
        for (command,) in conn.execute("SELECT command FROM outbox"):
            for rid in json.loads(command)["routes"]:
                edits[rid] = edits.get(rid, 0) + 1
        versions = dict(conn.execute("SELECT id, version FROM route"))
    # Each committed edit bumped its route once: an outbox row without its effect (or the
    # reverse) shows as a version that does not match the count of queued edits.
    unmatched = sum(abs(v - 1 - edits.get(rid, 0)) for rid, v in versions.items())
    return DrillResult(
        "workstation SIGKILLed mid-write", kills, lost=len(acked - stored) + unmatched,
        integrity_failures=bad, seconds=time.monotonic() - started,
    )  # fmt: skip


__all__ = [
    "count_outcomes",
    "drain",
    "drill_commit_cuts",
    "drill_database_restarts",
    "drill_local_kills",
    "make_desk",
    "wait_for",
]
