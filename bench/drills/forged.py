"""The forged desk drill: a dispatcher's database user attacks the shared PostgreSQL.

On a fresh database (migrated and seeded by the administrator) it creates a dispatcher and a
supervisor, then, connected as the dispatcher, tries what a forged or careless desk would:
commands naming someone else, commands of a supervisor's kind (plan the day, a fleet
re-plan, a move between routes), writes with no command or the wrong one, direct UPDATEs
and DELETEs of the change log, forging the database's own command record, and plan saves
that drop an order without putting it in the unassigned list. Each attack is counted as
tried, applied (must be 0) or refused with the database's reason; the stored plan and change
log must be unchanged after all of them. Then the legitimate commands of both roles must
still go through (a dispatcher's lock, a supervisor's move).
"""

from __future__ import annotations

import secrets
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.store import Store, open_store
from app.store import repository as repo
from app.store.models import ChangeLogRow
from app.store.roles import CommandForbidden, add_user, begin_command, check_now, refusal
from app.sync.commands import SAVE_PLAN, SET_LOCKS, Command, PlanChange, apply_command
from bench.drills.day import DAY, DEPOT, seed_drill_day
from engine.model import Plan


@dataclass
class ForgedResult:
    tried: int = 0
    applied: list[str] = field(default_factory=list)  # attacks the database let through
    refused: Counter = field(default_factory=Counter)  # reason -> attacks
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one message
    other_errors: list[str] = field(default_factory=list)  # refused, but not by a check
    plan_unchanged: bool = True
    log_unchanged: bool = True
    controls: list[tuple[str, bool]] = field(default_factory=list)  # legit: went through?
    checked_ms: float = 0.0  # median time of a dispatcher's lock, checked by the database
    unchecked_ms: float = 0.0  # the same lock by the administrator (checks bypassed)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # attack -> what happened

    @property
    def ok(self) -> bool:
        return (not self.applied and not self.other_errors and self.plan_unchanged
                and self.log_unchanged and all(ok for _, ok in self.controls))  # fmt: skip

    def table(self) -> str:
        width = max((len(name) for name, _ in self.outcomes), default=0)
        lines = [f"{name.ljust(width)}  {what}" for name, what in self.outcomes]
        lines += ["", f"attacks tried: {self.tried}", f"applied: {len(self.applied)}"]
        lines += [f"  APPLIED: {name}" for name in self.applied]
        lines.append(f"refused: {sum(self.refused.values())}")
        width = max((len(r) for r in self.refused), default=0)
        for reason, n in sorted(self.refused.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {reason.ljust(width)}  {n}   e.g. {self.examples[reason][:110]}")
        lines += [f"  OTHER ERROR: {e}" for e in self.other_errors]
        lines.append(f"stored plan unchanged: {'yes' if self.plan_unchanged else 'NO'}; "
                     f"change log unchanged: {'yes' if self.log_unchanged else 'NO'}")  # fmt: skip
        lines += [f"legitimate: {name}: {'applied' if ok else 'REFUSED'}"
                  for name, ok in self.controls]  # fmt: skip
        if self.checked_ms:
            lines.append(f"a lock command end to end: {self.checked_ms:.1f} ms as a dispatcher "
                         f"(checked), {self.unchecked_ms:.1f} ms as the administrator "
                         "(checks bypassed); median of 40 each")  # fmt: skip
        return "\n".join(lines)


def reason_of(message: str) -> str:
    """A short reason class for the database's refusal ``message``."""
    m = message.lower()
    for needle, reason in (
        ("forged actor", "actor is not the connected user"),
        ("append-only", "change log is append-only"),
        ("permission denied for table change_log", "change log is append-only"),
        ("permission denied", "no grant"),
        ("must have admin option", "no grant"),
        ("would be dropped", "order dropped from the plan"),
        ("would be on two routes", "order on two routes"),
        ("moving stops between routes", "move between routes by a dispatcher"),
        ("re-plan moves stops on at most", "dispatcher's re-plan beyond one exception"),
        ("without a command", "write without a command"),
        ("is a supervisor command", "kind not allowed for the role"),
        ("unknown command kind", "unknown command kind"),
    ):
        if needle in m:
            return reason
    return "other: " + message[:60]


def _snapshot(store: Store) -> tuple[Any, int]:
    with store.read_session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
        routes = tuple((r.id, tuple((st.order_id, st.locked) for st in r.stops))
                       for r in plan.routes) if plan else ()  # fmt: skip
        unassigned = tuple(u.order_id for u in plan.unassigned) if plan else ()
        log = s.scalar(select(func.count()).select_from(ChangeLogRow)) or 0
        digest = s.scalar(text("SELECT md5(string_agg(actor || entity || entity_id, ',' "
                               "ORDER BY id)) FROM change_log"))  # fmt: skip
    return (routes, unassigned, digest), log


def _versions(store: Store) -> dict[str, int]:
    with store.read_session() as s:
        return repo.route_versions(s, DEPOT, DAY)


def _plan(store: Store) -> Plan:
    with store.read_session() as s:
        plan = repo.load_plan(s, DEPOT, DAY)
    assert plan is not None
    return plan


def drill_forged_desk(admin_url: str) -> ForgedResult:
    """Run the drill on the empty database at ``admin_url`` (an administrator's URL)."""
    admin = open_store(admin_url, workstation="admin")
    seed_drill_day(admin)
    tag = uuid.uuid4().hex[:6]
    dana, sam = f"dana_{tag}", f"sam_{tag}"
    users = {dana: ("dispatcher", secrets.token_urlsafe(12)),
             sam: ("supervisor", secrets.token_urlsafe(12))}  # fmt: skip
    for name, (role, password) in users.items():
        add_user(admin.engine, name, role, password)

    def connect(name: str) -> Store:
        url = make_url(admin_url).set(username=name, password=users[name][1])
        return open_store(url.render_as_string(hide_password=False), workstation=f"{name}-desk",
                          migrate=False)  # fmt: skip

    desk, boss = connect(dana), connect(sam)
    result = ForgedResult()
    try:
        before = _snapshot(admin)
        for name, attack in _attacks(admin, dana).items():
            result.tried += 1
            try:
                with desk.session() as s:
                    attack(s)
            except CommandForbidden as exc:
                result.outcomes.append((name, "refused: " + _refused(result, str(exc))))
            except DBAPIError as exc:
                reason = refusal(exc)
                if reason is None:
                    result.other_errors.append(f"{name}: {str(exc.orig).splitlines()[0]}")
                    result.outcomes.append((name, "ERROR (not a check)"))
                else:
                    result.outcomes.append((name, "refused: " + _refused(result, reason)))
            else:
                result.applied.append(name)
                result.outcomes.append((name, "APPLIED"))
        after = _snapshot(admin)
        result.plan_unchanged = before[0][:2] == after[0][:2]
        result.log_unchanged = before[0][2] == after[0][2] and before[1] == after[1]
        result.controls = _controls(admin, desk, boss, dana, sam)
        result.checked_ms = _lock_ms(admin, desk, f"{dana}@desk")
        result.unchecked_ms = _lock_ms(admin, admin, "admin@desk")
    finally:
        desk.close()
        boss.close()
        admin.close()
    return result


def _refused(result: ForgedResult, message: str) -> str:
    reason = reason_of(message)
    result.refused[reason] += 1
    result.examples.setdefault(reason, message)
    return reason


def _attacks(admin: Store, dana: str) -> dict[str, Callable[[Session], Any]]:
    """name -> what the forged desk does in one transaction as ``dana`` (a dispatcher)."""
    plan, versions = _plan(admin), _versions(admin)
    r0, r1 = plan.routes[0], plan.routes[1]
    moved = {r0.id: r0.order_ids[1:], r1.id: (*r1.order_ids, r0.order_ids[0])}

    def cmd(actor: str, **kw: Any) -> Command:
        routes = kw.pop("routes", {r0.id: r0.order_ids})
        base = {rid: versions[rid] for rid in routes}
        return Command(DEPOT, DAY, routes, base, actor, "forged", **kw)

    def plan_save(actor: str, **kw: Any) -> Command:
        change = PlanChange(kw.pop("plan_id", plan.id), kw.pop("routes"), **kw)
        base = dict(versions) if change.replace or change.check_all else {
            r.id: versions[r.id] for r in change.routes}  # fmt: skip
        return Command(DEPOT, DAY, {}, base, actor, "forged", kind=SAVE_PLAN, plan=change)

    short = replace(r0, stops=r0.stops[1:])  # the first order dropped, not unassigned
    four = plan.routes[:4]  # each gives its first stop to the next: moves on four routes
    cycled = tuple(
        replace(r, stops=(*r.stops[1:], four[i - 1].stops[0])) for i, r in enumerate(four)
    )
    fresh = tuple(replace(r, id=f"X{r.id}") for r in plan.routes)
    lock = {r0.order_ids[0]: True}
    return {
        "lock naming another user": lambda s: apply_command(
            s, cmd("someone-else@forged", kind=SET_LOCKS, locks=lock)),
        "lock naming a supervisor": lambda s: apply_command(
            s, cmd("sam@desk-2", kind=SET_LOCKS, locks=lock)),
        "move between routes (a supervisor's kind)": lambda s: apply_command(
            s, cmd(f"{dana}@desk", routes=moved)),
        "plan the day (replace the plan)": lambda s: apply_command(s, plan_save(
            f"{dana}@desk", plan_id="FORGED", routes=fresh, base_plan=plan.id, replace=True,
            check_all=True)),
        "accept a fleet-wide re-plan": lambda s: apply_command(s, plan_save(
            f"{dana}@desk", routes=tuple(reversed(plan.routes)), check_all=True)),
        # A forged desk skips the desk's own applier and its checks: the database's count.
        "re-plan dropping an order (none unassigned)": lambda s: (
            begin_command(s, "replan_routes", f"{dana}@desk"),
            repo.save_plan(s, replace(plan, routes=(short, *plan.routes[1:])),
                           actor=f"{dana}@desk"),
            check_now(s)),
        "a scoped re-plan moving stops on four routes": lambda s: apply_command(
            s, plan_save(f"{dana}@desk", routes=cycled)),
        "begin a supervisor kind by hand": lambda s: begin_command(s, "plan_day", f"{dana}@d"),
        "begin an unknown kind": lambda s: s.execute(
            text("SELECT dispatch_sec.begin_command('superuser', :a)"), {"a": f"{dana}@d"}),
        "UPDATE route without a command": lambda s: s.execute(
            text("UPDATE route SET status = 'released' WHERE id = :r"), {"r": r0.id}),
        "DELETE stops without a command": lambda s: s.execute(
            text("DELETE FROM stop WHERE route_id = :r"), {"r": r0.id}),
        "cancel an order without a command": lambda s: s.execute(
            text("UPDATE orders SET status = 'cancelled'")),
        "a lock command, then a raw move": lambda s: (
            begin_command(s, "set_locks", f"{dana}@d"),
            s.execute(text("UPDATE stop SET route_id = :b WHERE order_id = :o"),
                      {"b": r1.id, "o": r0.order_ids[0]})),
        "a lock command, then a raw delete of stops": lambda s: (
            begin_command(s, "set_locks", f"{dana}@d"),
            s.execute(text("DELETE FROM stop WHERE route_id = :r"), {"r": r0.id})),
        "a scoped re-plan, then an order deleted from its route": lambda s: (
            begin_command(s, "replan_routes", f"{dana}@d"),
            s.execute(text("DELETE FROM stop WHERE order_id = :o"), {"o": r0.order_ids[0]}),
            s.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))),
        "a scoped re-plan putting an order on a second route": lambda s: (
            begin_command(s, "replan_routes", f"{dana}@d"),
            s.execute(text("INSERT INTO stop (route_id, sequence, order_id, status, locked, "
                           "version) VALUES (:r, 99, :o, 'planned', false, 1)"),
                      {"r": r1.id, "o": r0.order_ids[0]}),
            check_now(s)),
        "a lock command, then orders written": lambda s: (
            begin_command(s, "set_locks", f"{dana}@d"),
            s.execute(text("UPDATE orders SET priority = 9"))),
        "a lock command, then a change-log row naming someone else": lambda s: (
            begin_command(s, "set_locks", f"{dana}@d"),
            s.execute(text("INSERT INTO change_log (entity, entity_id, operation, origin, "
                           "actor, at) VALUES ('route', 'R0', 'update', 'x', 'sam@desk-2', "
                           "now())"))),
        "UPDATE the change log": lambda s: s.execute(
            text("UPDATE change_log SET actor = 'nobody'")),
        "DELETE from the change log": lambda s: s.execute(text("DELETE FROM change_log")),
        "TRUNCATE the change log": lambda s: s.execute(text("TRUNCATE change_log")),
        "forge the database's command record": lambda s: s.execute(text(
            "INSERT INTO dispatch_sec.command (kind, db_user, actor) "
            "VALUES ('plan_day', 'sam', 'sam')")),
        "make itself a supervisor": lambda s: s.execute(
            text(f"GRANT dispatch_supervisor TO {dana}")),
        "create a table of its own": lambda s: s.execute(
            text("CREATE TABLE public.stop_shadow (order_id text)")),
        "add a kind of its own": lambda s: s.execute(text(
            "INSERT INTO dispatch_sec.kind VALUES ('x', 'dispatcher', '{*}', true, 'x')")),
    }  # fmt: skip


def _controls(
    admin: Store, desk: Store, boss: Store, dana: str, sam: str
) -> list[tuple[str, bool]]:
    """The legitimate commands of both roles, after the attacks: they must go through."""
    out = []
    plan, versions = _plan(admin), _versions(admin)
    r0, r1 = plan.routes[0], plan.routes[1]
    lock = Command(DEPOT, DAY, {r0.id: r0.order_ids}, {r0.id: versions[r0.id]}, f"{dana}@desk",
                   "lock", kind=SET_LOCKS, locks={r0.order_ids[1]: True})  # fmt: skip
    reorder = Command(DEPOT, DAY, {r1.id: (*r1.order_ids[1:], r1.order_ids[0])},
                      {r1.id: versions[r1.id]}, f"{dana}@desk", "reorder")  # fmt: skip
    for name, store, command in (("a dispatcher locks a stop", desk, lock),
                                 ("a dispatcher re-sequences a route", desk, reorder)):  # fmt: skip
        try:
            with store.session() as s:
                apply_command(s, command)
            out.append((name, True))
        except (CommandForbidden, DBAPIError):
            out.append((name, False))
    versions = _versions(admin)
    plan = _plan(admin)
    r2, r3 = plan.routes[2], plan.routes[3]
    two = (replace(r2, stops=r2.stops[1:]), replace(r3, stops=(*r3.stops, r2.stops[0])))
    scoped = Command(DEPOT, DAY, {}, {r.id: versions[r.id] for r in two}, f"{dana}@desk",
                     "scoped re-plan", kind=SAVE_PLAN, plan=PlanChange(plan.id, two))  # fmt: skip
    try:
        with desk.session() as s:
            apply_command(s, scoped)
        out.append(("a dispatcher accepts a re-plan of two routes", True))
    except (CommandForbidden, DBAPIError):
        out.append(("a dispatcher accepts a re-plan of two routes", False))
    versions = _versions(admin)
    plan = _plan(admin)
    r0, r1 = plan.routes[0], plan.routes[1]
    move = Command(DEPOT, DAY, {r0.id: r0.order_ids[1:], r1.id: (*r1.order_ids, r0.order_ids[0])},
                   {r0.id: versions[r0.id], r1.id: versions[r1.id]}, f"{sam}@desk-2",
                   "move")  # fmt: skip
    try:
        with boss.session() as s:
            apply_command(s, move)
        out.append(("a supervisor moves a stop between routes", True))
    except (CommandForbidden, DBAPIError):
        out.append(("a supervisor moves a stop between routes", False))
    plan, versions = _plan(admin), _versions(admin)
    fresh = tuple(replace(r, id=f"N{r.id}") for r in plan.routes)
    change = PlanChange("NEWPLAN", fresh, base_plan=plan.id, replace=True, check_all=True)
    day = Command(DEPOT, DAY, {}, dict(versions), f"{sam}@desk-2", "plan the day",
                  kind=SAVE_PLAN, plan=change)  # fmt: skip
    try:
        with boss.session() as s:
            apply_command(s, day)
        out.append(("a supervisor plans the day (replaces the plan)", True))
    except (CommandForbidden, DBAPIError):
        out.append(("a supervisor plans the day (replaces the plan)", False))
    return out


def _lock_ms(admin: Store, store: Store, actor: str, runs: int = 40) -> float:
    """Median milliseconds of a lock/unlock command applied on ``store`` as ``actor``."""
    import statistics
    import time

    times = []
    for i in range(runs):
        plan, versions = _plan(admin), _versions(admin)
        route = plan.routes[-1]
        lock = Command(DEPOT, DAY, {route.id: route.order_ids}, {route.id: versions[route.id]},
                       actor, "lock", kind=SET_LOCKS,
                       locks={route.order_ids[-1]: i % 2 == 0})  # fmt: skip
        start = time.perf_counter()
        with store.session() as s:
            apply_command(s, lock)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
