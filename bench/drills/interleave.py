"""Interleavings of offline edits on two desks: no silent overwrite, and both converge.

``run_interleaving`` plays a list of steps (edit a route, lock or unlock a stop, accept a
fleet re-plan, sync, go off/online) on two desks sharing one database, drains both, and checks what a supervisor would: every edit either
landed on exactly the version it was made from or was surfaced as a sync conflict, and
both local copies end equal to the shared database.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import select

from app.store import open_store
from app.store import repository as repo
from app.store.models import ChangeLogRow, ExceptionRow, OutboxRow
from app.sync.commands import SAVE_PLAN, Command, PlanChange
from app.sync.offline import OfflineDesk
from app.sync.outbox import CONFLICT, conflict_id
from bench.drills.day import DAY, DEPOT, seed_drill_day
from bench.drills.faults import DrillResult, chain_breaks
from bench.drills.offline import drain, local_orders, make_desk, rotate

ROUTES = ("R0", "R1", "R2")


@dataclass(frozen=True)
class Step:
    """``desk`` (0 or 1) does ``action``: "edit" (route ``route``), "lock" (its first stop
    locked or unlocked), "plan" (a fleet re-plan reversing it), "sync" or "toggle"."""

    desk: int
    action: str
    route: int = 0


@dataclass(frozen=True)
class Verdict:
    edits: int
    lost: int
    overwritten: int  # edits that landed on a version other than the one they were made from
    conflicts: int
    conflicts_unexplained: int  # conflicts without a record showing both versions
    converged: bool


def run_interleaving(shared_url: str, workdir: Path, steps: list[Step]) -> Verdict:
    """Play ``steps`` on two fresh desks of the shared database at ``shared_url``."""
    workdir.mkdir(parents=True, exist_ok=True)
    shared = open_store(shared_url, workstation="setup")
    with shared.read_session() as s:
        has_plan = repo.load_plan(s, DEPOT, DAY) is not None
        start_id = s.scalar(select(ChangeLogRow.id).order_by(ChangeLogRow.id.desc()).limit(1))
    if not has_plan:
        seed_drill_day(shared)
    tag = uuid.uuid4().hex[:6]
    desks = [make_desk(workdir, f"desk-{tag}-{i}", shared_url) for i in range(2)]
    keys: list[str] = []
    try:
        for step in steps:
            desk = desks[step.desk]
            route = ROUTES[step.route % len(ROUTES)]
            if step.action == "edit":
                keys.append(rotate(desk, route, f"user{step.desk}"))
            elif step.action == "lock":
                keys.append(_toggle_lock(desk, route, f"user{step.desk}"))
            elif step.action == "plan":
                keys.append(_replan(desk, route, f"user{step.desk}"))
            elif step.action == "sync":
                desk.sync()
            else:
                desk.work_offline = not desk.work_offline
        for desk in desks:
            desk.work_offline = False
        for desk in (*desks, *desks):  # twice: the first drain may change what the other sees
            drain(desk)
        converged = _shape(desks[0].local) == _shape(desks[1].local) == _shape(shared)
        converged = converged and local_orders(desks[0]) == _orders(shared)
        return _verdict(shared, keys, start_id or 0, converged)
    finally:
        for desk in desks:
            desk.close()
            desk.local.close()
        shared.close()


def _toggle_lock(desk: OfflineDesk, route_id: str, actor: str) -> str:
    """Lock the route's first stop (unlock it if locked), on the local copy; its key."""
    with desk.local.read_session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
    first = next(r for r in plan.routes if r.id == route_id).stops[0]
    return desk.set_locks({first.order_id: not first.locked}, actor=actor).key


def _replan(desk: OfflineDesk, route_id: str, actor: str) -> str:
    """Accept a fleet-wide re-plan that reverses the route (every route of the day must be
    as the desk had it); its key."""
    with desk.local.read_session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
        versions = repo.route_versions(s, DEPOT, DAY)
    route = next(r for r in plan.routes if r.id == route_id)
    change = PlanChange(plan.id, (replace(route, stops=route.stops[::-1]),), check_all=True)
    command = Command(DEPOT, DAY, {}, versions, actor, "Re-plan", kind=SAVE_PLAN, plan=change)
    return desk.submit(command).key


def _shape(store) -> dict[str, list[tuple[str, bool]]]:
    """route id -> (order id, locked) of each stop: what the desks must agree on."""
    with store.read_session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
    return {r.id: [(st.order_id, st.locked) for st in r.stops] for r in plan.routes}


def _orders(store) -> dict[str, list[str]]:
    with store.read_session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
    return {r.id: list(r.order_ids) for r in plan.routes}


def _verdict(shared, keys: list[str], start_id: int, converged: bool) -> Verdict:
    with shared.read_session() as s:
        landed = {
            k: err
            for k, err in s.execute(
                select(OutboxRow.idempotency_key, OutboxRow.last_error).where(
                    OutboxRow.idempotency_key.in_(keys)
                )
            )
        }
        audits = s.scalars(
            select(ChangeLogRow)
            .where(ChangeLogRow.entity == "command", ChangeLogRow.id > start_id)
            .order_by(ChangeLogRow.id)
        ).all()
        conflict_keys = [k for k, err in landed.items() if err.startswith(CONFLICT)]
        recorded = set(
            s.scalars(
                select(ExceptionRow.id).where(
                    ExceptionRow.id.in_([conflict_id(k) for k in conflict_keys])
                )
            )
        )
        current = repo.route_versions(s, DEPOT, DAY)
    overwritten = chain_breaks([(r.before, r.after) for r in audits], current)
    return Verdict(
        edits=len(keys),
        lost=len(set(keys) - set(landed)),
        overwritten=overwritten,
        conflicts=len(conflict_keys),
        conflicts_unexplained=len(conflict_keys) - len(recorded),
        converged=converged,
    )


def random_steps(rng: random.Random, count: int) -> list[Step]:
    actions = ("edit", "edit", "edit", "lock", "plan", "sync", "toggle")
    return [Step(rng.randrange(2), rng.choice(actions), rng.randrange(3)) for _ in range(count)]


def drill_interleavings(shared_url: str, workdir: Path, *, runs: int = 20, seed: int = 0):
    """``runs`` random interleavings (the tests let hypothesis choose them instead)."""
    started = time.monotonic()
    rng = random.Random(seed)
    lost = overwritten = conflicts = unexplained = diverged = 0
    for i in range(runs):
        v = run_interleaving(shared_url, workdir / f"run{i}", random_steps(rng, 30))
        lost += v.lost
        overwritten += v.overwritten
        conflicts += v.conflicts
        unexplained += v.conflicts_unexplained
        diverged += not v.converged
    return DrillResult(
        "offline edits interleaved on two desks", runs, lost=lost,
        duplicated=diverged, overwritten=overwritten, conflicts_surfaced=conflicts - unexplained,
        conflicts_expected=conflicts, seconds=time.monotonic() - started,
    )  # fmt: skip
