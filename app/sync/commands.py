"""Commands that can wait in an outbox: plain JSON, applied the same way on either store.

Three kinds, each made from the route versions (and plan) it was based on. Applying one
checks every base version first, so on the shared database a route moved on by someone
else raises ``StaleVersionError`` instead of being overwritten:

- ``set_route_stops``: routes (route id -> order ids in their new sequence), e.g. a
  reassignment or the undo of one; ``locks`` (order id -> locked) may go with it.
- ``set_locks``: lock or unlock stops (order id -> locked) on the routes named.
- ``save_plan``: a whole-plan save. Either part of the day's plan (an accepted re-plan: the
  changed routes in full, routes dropped, the unassigned orders; a fleet-wide one checks
  every route of the day) or a fresh plan replacing the day's (``replace``), based on the
  plan that was there (``base_plan``; none: the day had no plan). A fresh plan made while
  someone else's plan landed is refused, not laid over it.

- ``exception_state``: a person acknowledged or resolved an exception (``exception``: its
  id, the action, when, and what it is about, for a database that never saw it). It
  touches no route and cannot conflict: a repeat, or one already resolved, changes nothing.
- ``release_control``: a release command (``release``: an
  :class:`app.release.commands.ReleaseCommand` as JSON — a release, a recall, a loading
  mark, a supervisor's override). Its routes' base versions are checked by the release
  command itself, so the same route released from two desks conflicts on the second.

Stops keep what is known about them (status, times) wherever they come from, so a
reassignment carries a stop's history with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store import StaleVersionError, roles
from app.store import commands as applier
from app.store import repository as repo
from app.store.changelog import log_change
from app.store.convert import route_from_snapshot, route_snapshot
from app.store.models import PlanRow, RouteRow
from engine.model import Plan, Route, Stop, Unassigned, UnassignedReason

#: ``session.info`` key: the session writes a desk's local copy of a shared database.
LOCAL_COPY = "local_copy"
AUDIT_ENTITY = "command"  # the audit-log entity of the dispatcher commands (app.dispatch.store)
SET_ROUTE_STOPS = "set_route_stops"
SET_LOCKS = "set_locks"
SAVE_PLAN = "save_plan"
EXCEPTION_STATE = "exception_state"
RELEASE_CONTROL = "release_control"
KINDS = (SET_ROUTE_STOPS, SET_LOCKS, SAVE_PLAN, EXCEPTION_STATE, RELEASE_CONTROL)


class StalePlanError(StaleVersionError):
    """The day's plan is not the one a whole-plan save was made from (another plan landed,
    or the day had none when this one was based on one)."""

    def __init__(self, day: str, expected: str | None, actual: str | None) -> None:
        super().__init__("plan", day, None, None)
        self.expected_plan, self.actual_plan = expected, actual
        was = f"plan {expected}" if expected else "no plan"
        now = f"plan {actual} is stored now" if actual else "it has no plan now"
        Exception.__init__(
            self,
            f"the plan of {day} was replaced by someone else: this plan was made on {was}, "
            f"but {now}. Compare both and keep one.",
        )


@dataclass(frozen=True)
class PlanChange:
    """What a ``save_plan`` command writes: ``routes`` in full (replacing those ids or
    added), ``drop`` (route ids removed), the plan's unassigned orders. ``replace``: the
    whole plan ``plan_id`` replaces the day's plan ``base_plan`` (None: the day had none).
    ``check_all``: every route of the day must be at its base version (a fleet re-plan)."""

    plan_id: str
    routes: tuple[Route, ...]
    drop: tuple[str, ...] = ()
    unassigned: tuple[Unassigned, ...] = ()
    base_plan: str | None = None
    replace: bool = False
    check_all: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "routes": {r.id: route_snapshot(r) for r in self.routes},
            "drop": list(self.drop),
            "unassigned": [[u.order_id, str(u.reason), u.detail] for u in self.unassigned],
            "base_plan": self.base_plan,
            "replace": self.replace,
            "check_all": self.check_all,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanChange:
        return cls(
            plan_id=data["plan_id"],
            routes=tuple(route_from_snapshot(r) for r in data["routes"].values()),
            drop=tuple(data.get("drop", ())),
            unassigned=tuple(
                Unassigned(oid, UnassignedReason(reason), detail)
                for oid, reason, detail in data.get("unassigned", ())
            ),
            base_plan=data.get("base_plan"),
            replace=bool(data.get("replace", False)),
            check_all=bool(data.get("check_all", False)),
        )


@dataclass(frozen=True)
class Command:
    """Rewrite ``routes`` (route id -> order ids) of a depot's day, based on ``base_versions``.

    ``kind`` says how (see the module); ``locks`` (order id -> locked) for ``set_locks`` and
    optionally ``set_route_stops``; ``plan`` for ``save_plan`` (then ``routes`` is filled
    from it: every route it writes or drops)."""

    depot_id: str
    day: date
    routes: Mapping[str, Sequence[str]]
    base_versions: Mapping[str, int]
    actor: str
    label: str = ""
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    kind: str = SET_ROUTE_STOPS
    locks: Mapping[str, bool] = field(default_factory=dict)
    plan: PlanChange | None = None
    exception: Mapping[str, Any] = field(default_factory=dict)
    before: Mapping[str, Sequence[str]] = field(default_factory=dict)  # the routes as seen
    orders: Mapping[str, Any] = field(default_factory=dict)  # order edits (OrderEdits JSON)
    # order id -> (planned arrival, departure) as the desk timed the moved routes
    times: Mapping[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)
    release: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"command {self.key}: unknown kind {self.kind!r}")
        if self.kind == RELEASE_CONTROL:
            if not self.release.get("kind") or not self.release.get("routes"):
                raise ValueError(f"command {self.key}: a release command needs its kind and routes")
            return
        if self.kind == EXCEPTION_STATE:
            lacking = sorted({"id", "action", "at"} - set(self.exception))
            if lacking:
                raise ValueError(f"command {self.key}: exception state lacks {lacking}")
            return
        if self.kind == SAVE_PLAN:
            if self.plan is None:
                raise ValueError(f"command {self.key}: a plan save needs the plan")
            routes = {r.id: r.order_ids for r in self.plan.routes}
            routes.update({rid: () for rid in self.plan.drop})
            object.__setattr__(self, "routes", routes)
            return
        if not self.routes and not self.orders:
            raise ValueError("a command must rewrite at least one route or order")
        missing = sorted(set(self.routes) - set(self.base_versions))
        if missing:
            raise ValueError(f"command {self.key}: no base version for routes {missing}")
        if self.kind == SET_LOCKS and not self.locks:
            raise ValueError(f"command {self.key}: a lock command must name stops")

    @property
    def name(self) -> str:
        """What the command does, as the applier's begin hooks see it (the shared
        database's command kind, ``app.store.roles``): a plan save is the day's plan, a
        fleet re-plan or a re-plan of some routes; otherwise its kind."""
        if self.kind == SAVE_PLAN and self.plan is not None:
            if self.plan.replace:
                return "plan_day"
            return "replan_fleet" if self.plan.check_all else "replan_routes"
        if self.orders.get("move"):  # an order moved to another depot's day
            return "move_depot"
        if self.orders:  # an order added, changed or cancelled with its routes
            return "order_edit"
        if self.kind == RELEASE_CONTROL:  # an override is a supervisor's, the rest anyone's
            return "override_gate" if self.release.get("kind") == "override" else "release"
        return self.kind

    @property
    def touches(self) -> set[str]:
        """Every route the command writes or depends on (its routes and base versions)."""
        return set(self.routes) | set(self.base_versions)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "depot_id": self.depot_id,
            "day": self.day.isoformat(),
            "actor": self.actor,
            "label": self.label,
        }
        if self.kind == SAVE_PLAN:
            assert self.plan is not None
            out.update(self.plan.to_json())
        elif self.kind == EXCEPTION_STATE:
            out["exception"] = dict(self.exception)
        elif self.kind == RELEASE_CONTROL:
            out["release"] = dict(self.release)
        else:
            out["routes"] = {rid: list(ids) for rid, ids in self.routes.items()}
        if self.before:
            out["before"] = {rid: list(ids) for rid, ids in self.before.items()}
        if self.orders:
            out["order_edits"] = dict(self.orders)
        if self.times:
            out["times"] = {oid: [t.isoformat() if t else None for t in pair]
                            for oid, pair in self.times.items()}  # fmt: skip
        if self.locks:
            out["locks"] = dict(self.locks)
        return out

    @classmethod
    def from_json(cls, key: str, data: Mapping[str, Any], base: Mapping[str, Any]) -> Command:
        kind = data.get("kind")
        if kind not in KINDS:
            raise ValueError(f"outbox command {key}: unknown kind {kind!r}")
        plan = PlanChange.from_json(data) if kind == SAVE_PLAN else None
        return cls(
            depot_id=data["depot_id"],
            day=date.fromisoformat(data["day"]),
            routes={}
            if plan or kind in (EXCEPTION_STATE, RELEASE_CONTROL)
            else {rid: tuple(ids) for rid, ids in data["routes"].items()},
            base_versions={rid: int(v) for rid, v in base.items()},
            actor=data["actor"],
            label=data.get("label", ""),
            key=key,
            kind=kind,
            locks={oid: bool(v) for oid, v in (data.get("locks") or {}).items()},
            plan=plan,
            exception=dict(data.get("exception") or {}),
            before={rid: tuple(ids) for rid, ids in (data.get("before") or {}).items()},
            times={
                oid: (_when(pair[0]), _when(pair[1]))
                for oid, pair in (data.get("times") or {}).items()
            },  # fmt: skip
            release=dict(data.get("release") or {}),
            orders=dict(data.get("order_edits") or {}),
        )


def exception_command(
    depot_id: str, day: date, exception_id: str, action: str, *, at: datetime, actor: str,
    snapshot: Mapping[str, Any] | None = None,
) -> Command:  # fmt: skip
    """A person's acknowledgement or resolution of exception ``exception_id``."""
    what: dict[str, Any] = {"id": exception_id, "action": action, "at": at.isoformat()}
    if snapshot:
        what["snapshot"] = dict(snapshot)
    label = f"{action.capitalize()} {exception_id}"
    return Command(depot_id, day, {}, {}, actor, label, kind=EXCEPTION_STATE, exception=what)


def release_command(release: Any, day: date) -> Command:
    """An outbox command carrying ``release`` (an ``app.release.commands.ReleaseCommand``),
    checked against the route versions it was decided on."""
    data = release.to_json()
    base = {rid: int(v) for rid, v in data["routes"].items() if v is not None}
    return Command(release.depot_id, day, {}, base, release.actor, release.label,
                   key=release.key, kind=RELEASE_CONTROL, release=data)  # fmt: skip


def _release_applied(session: Session, command: Command) -> applier.Applied:
    """A release command: its own version checks and change-log row (see app.release)."""
    from app.release.commands import ReleaseCommand, apply_release_command

    after = apply_release_command(session, ReleaseCommand.from_json(command.release))
    return applier.Applied((), (), (), (), versions=dict(after), result=dict(after))


def _exception_state(session: Session, command: Command) -> bool:
    from app.store.repository_exceptions import set_exception_state

    what = command.exception
    return set_exception_state(
        session, str(what["id"]), str(what["action"]),
        at=datetime.fromisoformat(str(what["at"])), by=command.actor,
        snapshot=what.get("snapshot"),
    )  # fmt: skip


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class IntentGone(applier.CommandRefused):
    """A kept edit that no longer applies to what is stored now (a stop served, a route
    gone): says why and what is left to choose."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"your change no longer applies: {why}. Keep theirs, or make the change again on "
            "what is stored now"
        )


def rebase_moves(
    before: Mapping[str, Sequence[str]],
    mine: Mapping[str, Sequence[str]],
    now: Plan,
    *,
    leaving: frozenset[str] = frozenset(),
    arriving: frozenset[str] = frozenset(),
) -> dict[str, list[str]]:
    """The intent of a reassignment (``before`` -> ``mine``, route id -> order ids) made
    again on the plan stored ``now``: the orders it put on a route go there (taken off
    wherever they are now), in its sequence; what others changed meanwhile stays (orders
    they added to a route, orders they moved away from it). Returns only routes that
    change. Without ``before`` every order of ``mine`` counts as put there. ``leaving``:
    orders the edit takes out of the day (cancelled, moved to another depot): off every
    route they are on now; ``arriving``: orders the edit writes itself (an order added),
    which the day need not hold yet.

    Raises ``IntentGone`` when a route is gone or a stop to move was served meanwhile."""
    current = {r.id: list(r.order_ids) for r in now.routes}
    served = {s.order_id: r.id for r in now.routes for s in r.stops if applier.is_history(s)}
    where = {o: rid for rid, ids in current.items() for o in ids}
    gone = sorted(set(mine) - set(current))
    if gone:
        raise IntentGone(f"route {', '.join(gone)} is not in the plan any more")
    target: dict[str, str] = {}  # order -> the route the edit put it on
    for rid, ids in mine.items():
        seen = set(before.get(rid, ())) if rid in before else set()
        for oid in ids:
            if oid not in seen:
                target[oid] = rid
    unknown = sorted(o for o in target if o not in where and o not in arriving and o not in
                     {u.order_id for u in now.unassigned})  # fmt: skip
    if unknown:
        raise IntentGone(f"order {', '.join(unknown)} is not in the day any more")
    for oid, rid in sorted(target.items()):
        if oid in served and served[oid] != rid:
            raise IntentGone(f"stop {oid} was served on route {served[oid]} meanwhile")
    out: dict[str, list[str]] = {}
    for rid, ids in current.items():
        keep = [o for o in ids if target.get(o, rid) == rid and o not in leaving]
        if rid in mine:
            keep = _in_sequence(list(mine[rid]), keep, ids, target, rid)
        if keep != ids:
            out[rid] = keep
    return out


def _in_sequence(
    mine: list[str], keep: list[str], now: list[str], target: Mapping[str, str], rid: str
) -> list[str]:
    """The route's orders: ``mine``'s sequence for the orders the edit wanted here (those
    still here or moved in), others' additions after the order they followed now."""
    wanted = set(keep) | {o for o, r in target.items() if r == rid}
    seq = [o for o in mine if o in wanted]
    placed = set(seq)
    for i, oid in enumerate(now):
        if oid in placed or oid not in wanted:
            continue
        after = next((p for p in reversed(now[:i]) if p in placed), None)
        seq.insert(seq.index(after) + 1 if after is not None else 0, oid)
        placed.add(oid)
    return seq


def current_routes(session: Session, depot_id: str, day: date) -> dict[str, dict[str, Any]]:
    """route id -> {"version", "orders", "locked"} as stored now (what a conflict shows as
    theirs)."""
    plan = repo.load_plan(session, depot_id, day)
    versions = repo.route_versions(session, depot_id, day)
    routes = plan.routes if plan is not None else ()
    return {
        r.id: {"version": versions.get(r.id), "orders": list(r.order_ids),
               "locked": [s.order_id for s in r.stops if s.locked]}
        for r in routes
    }  # fmt: skip


def current_plan_id(session: Session, depot_id: str, day: date) -> str | None:
    return session.scalar(select(PlanRow.id).where(PlanRow.depot_id == depot_id,
                                                   PlanRow.day == day))  # fmt: skip


def _lock_routes(session: Session, ids: Sequence[str]) -> dict[str, int]:
    """Lock the routes first (PostgreSQL; SQLite writers are serialised anyway): a concurrent
    replay of another desk waits here, and everything read after is what it left."""
    locked = select(RouteRow.id, RouteRow.version).where(RouteRow.id.in_(sorted(ids)))
    return dict(session.execute(locked.with_for_update()).all())


def _check_versions(command: Command, versions: Mapping[str, int], ids: Iterable[str]) -> None:
    """Every route of ``ids`` as the command found it (the applier's one version check)."""
    applier.check_versions(ids, versions, command.base_versions)


def _timed(stop: Stop, times: Mapping[str, tuple[datetime | None, datetime | None]]) -> Stop:
    """The stop with the planned times the desk gave it (a moved route re-timed), unless it
    was served meanwhile (history keeps its times)."""
    if stop.order_id not in times or applier.is_history(stop):
        return stop
    arrival, departure = times[stop.order_id]
    return replace(stop, planned_arrival=arrival, planned_departure=departure)


def _with_locks(stops: Sequence[Stop], locks: Mapping[str, bool]) -> list[Stop]:
    return [replace(s, locked=locks[s.order_id]) if s.order_id in locks else s for s in stops]


def _stored_plan(session: Session, command: Command) -> Plan:
    plan = repo.load_plan(session, command.depot_id, command.day)
    if plan is None:
        raise ValueError(f"command {command.key}: no plan of {command.depot_id} on {command.day}")
    return plan


def _applied(
    stored: Plan,
    after: Plan | None,
    versions: Mapping[str, int],
    command: Command,
    *,
    fresh: bool = False,
) -> applier.Applied:
    result = after if after is not None else stored
    return applier.Applied(
        stored.routes, stored.unassigned, result.routes, result.unassigned, dict(versions),
        unlocked=frozenset(oid for oid, on in command.locks.items() if not on), fresh=fresh,
    )  # fmt: skip


def _after(stored: Plan, routes: Mapping[str, Sequence[Stop]]) -> tuple[Route, ...]:
    try:
        return tuple(replace(r, stops=tuple(routes[r.id])) if r.id in routes else r
                     for r in stored.routes)  # fmt: skip
    except ValueError as exc:  # e.g. an order twice on one route
        raise applier.CommandRefused(str(exc)) from exc


def _order_edits(session: Session, command: Command) -> frozenset[str]:
    """Write the command's order edits first (a stop needs its order row); the orders it
    takes out of the day."""
    from app.dispatch.store import OrderEdits

    edits = OrderEdits.from_json(command.orders)
    # A desk's local copy (``LOCAL_COPY`` in the session's info) holds no other depot's
    # plan: the shared database compares the versions seen when the command reaches it.
    elsewhere = edits.apply(session, command.actor, command.day, command.depot_id,
                            check_seen=not session.info.get(LOCAL_COPY))  # fmt: skip
    if elsewhere:  # the other depots' plans it changed, for the audit row
        session.info.setdefault("other_depots", {})[command.key] = elsewhere
    return edits.leaving


def _set_route_stops(session: Session, command: Command) -> applier.Applied:
    leaving = _order_edits(session, command)
    versions = _lock_routes(session, list(command.routes))
    plan = _stored_plan(session, command)
    _check_versions(command, versions, list(command.routes))
    gone = sorted(set(command.routes) - {r.id for r in plan.routes})
    if gone:
        raise applier.CommandRefused(f"routes {gone} are not in the day's plan any more")
    known: dict[str, Stop] = {s.order_id: s for r in plan.routes for s in r.stops}
    before = {r.id: list(r.order_ids) for r in plan.routes if r.id in command.routes}
    new = {rid: _with_locks([_timed(known.get(oid) or Stop(oid), command.times)
                             for oid in ids], command.locks)
           for rid, ids in command.routes.items()}  # fmt: skip
    routes = _after(plan, new)
    on_route = {o for r in routes for o in r.order_ids}
    unassigned = tuple(u for u in plan.unassigned
                       if u.order_id not in on_route and u.order_id not in leaving)  # fmt: skip
    applied = replace(_applied(plan, None, versions, command), after_routes=routes,
                      after_unassigned=unassigned, leaving=leaving)  # fmt: skip
    if unassigned != plan.unassigned:  # an unassigned order put on a route: the whole plan
        repo.save_plan(session, replace(plan, routes=routes, unassigned=unassigned),
                       actor=command.actor, base_versions=versions)  # fmt: skip
        session.flush()
        after = repo.route_versions(session, command.depot_id, command.day)
    else:
        # Routes that lose stops first, so an order is never on two routes at a flush.
        order = sorted(command.routes,
                       key=lambda rid: len(command.routes[rid]) - len(before[rid]))  # fmt: skip
        after = dict(versions)
        for rid in order:
            after[rid] = repo.update_route_stops(
                session, rid, new[rid], base_version=command.base_versions[rid],
                actor=command.actor,
            )  # fmt: skip
    return replace(applied, versions=after, result=before)


def _set_locks(session: Session, command: Command) -> applier.Applied:
    versions = _lock_routes(session, list(command.routes))
    plan = _stored_plan(session, command)
    _check_versions(command, versions, list(command.routes))
    routes = {r.id: r for r in plan.routes if r.id in command.routes}
    missing = sorted(set(command.locks) - {o for r in routes.values() for o in r.order_ids})
    if missing:
        raise applier.CommandRefused(
            f"stops {missing} are not on routes {sorted(command.routes)} any more"
        )
    before = {rid: list(r.order_ids) for rid, r in routes.items()}
    after = dict(versions)
    new = {}
    for rid, r in routes.items():
        new[rid] = _with_locks(r.stops, command.locks)
        after[rid] = repo.update_route_stops(session, rid, new[rid], base_version=versions[rid],
                                             actor=command.actor)  # fmt: skip
    applied = _applied(plan, None, after, command)
    return replace(applied, after_routes=_after(plan, new), result=before)


def _save_plan(session: Session, command: Command) -> applier.Applied:
    change = command.plan
    assert change is not None
    leaving = _order_edits(session, command)
    day = f"{command.depot_id}/{command.day}"
    row = session.scalar(
        select(PlanRow).where(PlanRow.depot_id == command.depot_id, PlanRow.day == command.day)
        .with_for_update()
    )  # fmt: skip
    stored_id = row.id if row is not None else None
    versions = _lock_routes(session, [r.id for r in row.routes] if row is not None else [])
    stored = repo.load_plan(session, command.depot_id, command.day)
    expected = change.base_plan if change.replace else change.plan_id
    if stored_id != expected and not (change.replace and stored_id is None):
        raise StalePlanError(day, expected, stored_id)
    # The routes it was made from must be as they were; with ``check_all`` (a fleet
    # re-plan, a fresh plan) so must every other route of the day, added ones included.
    checked = set(command.base_versions) | set(change.drop)
    checked |= {r.id for r in change.routes if r.id in versions}
    if change.check_all or change.replace:
        checked |= set(versions)
    _check_versions(command, versions, sorted(checked))
    before = {r.id: list(r.order_ids) for r in stored.routes} if stored is not None else {}
    if change.replace or stored is None:
        result = Plan(change.plan_id, command.depot_id, command.day, change.routes,
                      change.unassigned)  # fmt: skip
    else:
        new = {r.id: r for r in change.routes}
        merged = [new.pop(r.id, r) for r in stored.routes if r.id not in change.drop]
        merged += list(new.values())
        on_route = {o for r in merged for o in r.order_ids}
        unassigned = {u.order_id: u for u in (*stored.unassigned, *change.unassigned)
                      if u.order_id not in on_route and u.order_id not in leaving}  # fmt: skip
        try:
            result = replace(stored, routes=tuple(merged), unassigned=tuple(unassigned.values()))
        except ValueError as exc:
            raise applier.CommandRefused(f"the routes do not fit together: {exc}") from exc
    base = stored if stored is not None else Plan(expected or "", command.depot_id, command.day, ())
    repo.save_plan(session, result, actor=command.actor)
    session.flush()
    after = repo.route_versions(session, command.depot_id, command.day)
    before = {rid: ids for rid, ids in before.items() if rid in command.routes}
    return replace(_applied(base, result, after, command, fresh=change.replace), result=before,
                   leaving=leaving)  # fmt: skip


def _audited(handler: applier.Handler) -> applier.Handler:
    """``handler`` and the command's audit row, in the same transaction."""

    def run(session: Session, command: Command) -> applier.Applied:
        applied: applier.Applied = handler(session, command)
        elsewhere = session.info.get("other_depots", {}).pop(command.key, None)
        before: dict[str, list[str]] = applied.result or {}
        after = applied.versions
        base = command.base_versions
        log_change(
            session, AUDIT_ENTITY, command.key, "insert", actor=command.actor,
            before={"routes": {rid: {"version": base.get(rid), "orders": before.get(rid)}
                               for rid in command.routes}},
            after={"command": command.kind, "label": command.label,
                   **({"locks": dict(command.locks)} if command.locks else {}),
                   **({"order_edits": dict(command.orders)} if command.orders else {}),
                   **({"other_depots": elsewhere} if elsewhere else {}),
                   "routes": {rid: {"version": after.get(rid),
                                    "orders": list(command.routes[rid])}
                              for rid in command.routes}},
        )  # fmt: skip
        return applied

    return run


def _exception_applied(session: Session, command: Command) -> applier.Applied:
    """An exception acknowledged or resolved: no route touched, nothing to check."""
    if _exception_state(session, command):
        log_change(session, AUDIT_ENTITY, command.key, "insert", actor=command.actor,
                   after={"command": command.kind, "label": command.label,
                          "exception": dict(command.exception)})  # fmt: skip
    return applier.Applied((), (), (), ())


for _kind, _handler in ((SET_ROUTE_STOPS, _set_route_stops), (SET_LOCKS, _set_locks),
                        (SAVE_PLAN, _save_plan)):  # fmt: skip
    applier.register(_kind, _audited(_handler))
applier.register(EXCEPTION_STATE, _exception_applied)
applier.register(RELEASE_CONTROL, _release_applied)


def apply_command(session: Session, command: Command) -> dict[str, int]:
    """Apply ``command`` in ``session`` through the command applier; returns the new
    versions of the routes it wrote.

    On PostgreSQL the database checks too (``app.store.roles``: the role may run the
    kind, the actor is the connected user, no order dropped); its refusal is a
    ``CommandForbidden``, a ``CommandRefused``.

    Raises ``StaleVersionError`` if any route (or the plan) is not at its base (nothing
    written), ``CommandRefused`` (a ``ValueError``) if it no longer fits (e.g. a stop gone,
    an order that would be on two routes)."""
    with roles.refused_as_forbidden():  # PostgreSQL: the database's own refusals
        applied = applier.apply(session, command)
        roles.check_now(session)
    if command.kind == RELEASE_CONTROL:  # names its routes in the release it carries
        return dict(applied.versions)
    return {rid: applied.versions[rid] for rid in command.routes if rid in applied.versions}
