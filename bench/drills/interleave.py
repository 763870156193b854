"""Interleavings of offline edits on two desks: no silent overwrite, and both converge.

``run_interleaving`` plays a list of steps (edit a route, move a stop to another route,
lock or unlock a stop, accept a fleet re-plan, plan the day while the other desk edits,
resolve a conflict keeping mine or theirs, sync, go off/online) on two desks sharing one
database, drains both, and checks what a supervisor would: every edit either landed on
exactly the version it was made from or was surfaced as a sync conflict, both local copies
end equal to the shared database, every copy keeps the day's invariants (each order on
one route or unassigned, none dropped) and no command is left waiting.

``drill_concurrent_starts`` starts several desks at once on an empty shared database: the
demo day is seeded once and none fails.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import select

from app.store import StaleVersionError, daycheck, open_store
from app.store import repository as repo
from app.store.commands import CommandRefused
from app.store.models import ChangeLogRow, ExceptionRow, OutboxRow
from app.sync.commands import SAVE_PLAN, Command, PlanChange
from app.sync.offline import OfflineDesk, PlanBase
from app.sync.outbox import CONFLICT, conflict_id
from bench.drills.day import DAY, DEPOT, seed_drill_day
from bench.drills.faults import DrillResult, chain_breaks
from bench.drills.offline import drain, local_orders, make_desk, rotate
from engine.model import Plan

ROUTES = ("R0", "R1", "R2")


@dataclass(frozen=True)
class Step:
    """``desk`` (0 or 1) does ``action``: "edit" (route ``route``), "move" (its first stop
    to the next route), "lock" (its first stop locked or unlocked), "plan" (a fleet re-plan
    reversing it), "plan_day" (a fresh plan started now, stored at the desk's next step),
    "mine" / "theirs" (its oldest open conflict resolved so), "sync" or "toggle"."""

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
    invariant_violations: int = 0  # on any copy: an order twice, or dropped
    stuck: int = 0  # commands still waiting after the drain


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
    planning: dict[int, tuple[Plan, PlanBase]] = {}
    try:
        for step in steps:
            desk = desks[step.desk]
            route = ROUTES[step.route % len(ROUTES)]
            actor = f"user{step.desk}"
            if step.desk in planning:  # the plan started earlier finishes now
                plan, based_on = planning.pop(step.desk)
                # The day changed meanwhile: refused here, nothing stored.
                with contextlib.suppress(StaleVersionError):
                    keys.append(desk.save_plan(plan, actor=actor, based_on=based_on).key)
            if step.action == "edit":
                keys.append(rotate(desk, route, actor))
            elif step.action == "move":
                keys.append(_move(desk, route, actor))
            elif step.action == "plan_day":
                planning[step.desk] = _fresh_plan(desk)
            elif step.action in ("mine", "theirs"):
                keys.extend(_resolve(desk, step.action, actor))
            elif step.action == "lock":
                keys.append(_toggle_lock(desk, route, actor))
            elif step.action == "plan":
                keys.append(_replan(desk, route, actor))
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
        verdict = _verdict(shared, keys, start_id or 0, converged)
        copies = (shared, *(d.local for d in desks))
        return replace(
            verdict,
            invariant_violations=sum(invariant_violations(store) for store in copies),
            stuck=sum(d.pending_count() for d in desks),
        )
    finally:
        for desk in desks:
            desk.close()
            desk.local.close()
        shared.close()


def invariant_violations(store) -> int:
    """What breaks the day's invariants in ``store``: an order on two routes (or on a route
    and unassigned, or unassigned twice), and a drill order on no route and not unassigned."""
    with store.read_session() as s:
        broken = len(daycheck.check(s, DEPOT, DAY))
        if broken:
            return broken
        plan = repo.load_plan(s, DEPOT, DAY)
        known = {o.id for o in repo.load_day(s, DEPOT, DAY).orders}
    placed = {o for r in plan.routes for o in r.order_ids} | {u.order_id for u in plan.unassigned}
    return len(known - placed)


def _move(desk: OfflineDesk, route_id: str, actor: str) -> str:
    """Move the route's first stop to the front of the next route; its key."""
    routes = local_orders(desk)
    target = ROUTES[(ROUTES.index(route_id) + 1) % len(ROUTES)]
    if not routes[route_id]:
        return rotate(desk, target, actor)
    oid = routes[route_id][0]
    new = {route_id: routes[route_id][1:], target: [oid, *routes[target]]}
    try:
        return desk.execute(new, actor=actor, label=f"Move {oid} to {target}").key
    except CommandRefused:  # a locked stop: refused on the desk, as the window refuses it
        return rotate(desk, target, actor)


def _fresh_plan(desk: OfflineDesk) -> tuple[Plan, PlanBase]:
    """A fresh plan of the day as planning would start it now (every route reversed, the
    same route ids), with what it is based on."""
    with desk.local.read_session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
        versions = repo.route_versions(s, DEPOT, DAY)
    routes = tuple(replace(r, stops=tuple(st for st in r.stops[::-1])) for r in plan.routes)
    fresh = replace(plan, id=f"P{uuid.uuid4().hex[:8]}", routes=routes)
    return fresh, (plan.id, versions)


def _resolve(desk: OfflineDesk, keep: str, actor: str) -> list[str]:
    """Resolve the desk's oldest open conflict keeping ``keep``; a kept edit that no
    longer applies is settled as theirs. The keys of the commands it made."""
    open_ = desk.conflicts()
    if not open_:
        return []
    oldest = open_[-1].id
    try:
        command = desk.resolve_conflict(oldest, keep=keep, actor=actor)
    except CommandRefused:
        command = desk.resolve_conflict(oldest, keep="theirs", actor=actor)
    return [command.key] if command is not None else []


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
    actions = ("edit", "edit", "move", "move", "lock", "plan", "plan_day", "mine", "theirs",
               "sync", "toggle")  # fmt: skip
    return [Step(rng.randrange(2), rng.choice(actions), rng.randrange(3)) for _ in range(count)]


def drill_interleavings(shared_url: str, workdir: Path, *, runs: int = 20, seed: int = 0):
    """``runs`` random interleavings (the tests let hypothesis choose them instead)."""
    started = time.monotonic()
    rng = random.Random(seed)
    lost = overwritten = conflicts = unexplained = diverged = broken = stuck = 0
    for i in range(runs):
        v = run_interleaving(shared_url, workdir / f"run{i}", random_steps(rng, 30))
        lost += v.lost
        overwritten += v.overwritten
        conflicts += v.conflicts
        unexplained += v.conflicts_unexplained
        diverged += not v.converged
        broken += v.invariant_violations
        stuck += v.stuck
    return DrillResult(
        "offline edits interleaved on two desks", runs, lost=lost,
        duplicated=diverged, overwritten=overwritten, conflicts_surfaced=conflicts - unexplained,
        conflicts_expected=conflicts, seconds=time.monotonic() - started,
        invariant_violations=broken, stuck=stuck,
    )  # fmt: skip


def drill_concurrent_starts(
    database: Callable[[int], str], *, runs: int = 5, desks: int = 4
) -> DrillResult:
    """``runs`` times, ``desks`` desks open the demo day at once on a fresh empty shared
    database (``database(n)`` makes one): a desk that fails counts as an integrity failure,
    a demo day seeded more than once (or never) as duplicated / missed."""
    from app.day.opening import open_depot_day
    from app.settings import Settings

    started = time.monotonic()
    settings = Settings.from_env({}, demo=True)
    failures = twice = missed = broken = 0
    for n in range(runs):
        url = database(n)
        open_store(url, workstation="setup").close()  # the schema, as `db upgrade` makes it
        gate = threading.Barrier(desks)
        seeded: list[int] = []
        errors: list[BaseException] = []

        def start(url: str = url, gate: threading.Barrier = gate,
                  seeded: list[int] = seeded, errors: list[BaseException] = errors) -> None:  # fmt: skip
            store = open_store(url, workstation="desk", migrate=False)
            try:
                gate.wait(60)
                opened = open_depot_day(store, settings, may_seed=True, actor="drill")
                seeded.append(opened.seeded if opened is not None else 0)
            except BaseException as exc:  # noqa: BLE001 - every failure is counted
                errors.append(exc)
            finally:
                store.close()

        threads = [threading.Thread(target=start) for _ in range(desks)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        failures += len(errors)
        done = sum(1 for x in seeded if x > 0)
        twice += max(0, done - 1)
        missed += done == 0
        store = open_store(url, workstation="check", migrate=False)
        try:
            with store.read_session() as s:
                broken += len(daycheck.check(s))
        finally:
            store.close()
    return DrillResult(
        f"{desks} desks starting together on an empty database", runs, duplicated=twice,
        missed=missed, integrity_failures=failures, invariant_violations=broken,
        seconds=time.monotonic() - started,
    )  # fmt: skip
