"""The applier's handler of a dispatcher's command on the desk's store (``route_write``):
version checks, the day's routes merged with what happened meanwhile, one audit row; and
reading that audit log back.

The store has no separate audit table: its ``change_log`` (actor, time, before, after,
written in the same transaction as the change) is the audit log. Each command adds one
``command`` row naming what was done, by whom and in which role, with every affected
route's orders and version before and after; the store adds its own ``route`` / ``plan``
rows with the full before and after of each route.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store import Store, repository
from app.store import commands as applier
from app.store.changelog import log_change
from app.store.commands import CommandRefused, StaleDepotPlanError, StaleRouteError, is_history
from app.store.convert import order_from_snapshot, order_snapshot
from app.store.models import ChangeLogRow, PlanRow, RouteRow, StopRow, UnassignedRow
from engine.model import Order, Plan, Route, Stop, Unassigned, UnassignedReason

log = logging.getLogger(__name__)

AUDIT_ENTITY = "command"
ROUTE_WRITE = "route_write"  # the applier's kind of a dispatcher's command on the desk's store


@dataclass(frozen=True)
class OrderEdits:
    """Order rows a command writes beside its routes, in the same transaction: ``put``
    (stored, inserted or updated, and open), ``cancel`` ((order id, reason): the order
    leaves the day, stays stored as cancelled) and ``move`` (orders stored with another
    depot: they leave this depot's day for that one's, open). Empty: the command touches
    no order."""

    put: tuple[Order, ...] = ()
    cancel: tuple[tuple[str, str], ...] = ()
    move: tuple[Order, ...] = ()
    #: (depot id, version) per depot ``move`` sends orders to: the version of that depot's
    #: plan of the day the person saw when choosing the move (None: it had no plan then).
    #: Checked where that plan is stored (``check_seen``): a plan changed since is a
    #: conflict (``StaleDepotPlanError``), like a route changed since.
    seen: tuple[tuple[str, int | None], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.put or self.cancel or self.move)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(
            {o.id for o in self.put} | {oid for oid, _ in self.cancel} | {o.id for o in self.move}
        )

    @property
    def leaving(self) -> frozenset[str]:
        """Orders this takes out of the day (off every route, out of the unassigned list)."""
        return frozenset(oid for oid, _ in self.cancel) | {o.id for o in self.move}

    def apply(
        self,
        session: Session,
        actor: str,
        day: date | None = None,
        from_depot: str = "",
        *,
        check_seen: bool = True,
    ) -> dict[str, Any]:
        """Write the order rows. With ``day``, the other depots' plans of that day follow:
        an order moved there is put in the unassigned list of its new depot's plan (when
        that depot has a plan for the day; else it waits, open, for that depot's first
        plan), an order put back here leaves another depot's unassigned list (an undone
        move), and one planned on another depot's route meanwhile is refused. Returns, per
        other depot whose plan changed: its plan id and version before and after (audit).

        With ``check_seen`` (not on a desk's local copy of a shared database, which holds
        no other depot's plan: the shared database checks it), each target depot's plan
        must be at the version in ``seen``, else ``StaleDepotPlanError`` before anything
        is written."""
        from app.store import repository_orders

        if day is not None and check_seen and self.seen:
            _check_seen(session, day, self.seen)
        if day is not None:
            _planned_elsewhere(session, day, self.put)
        if self.put or self.move:
            repository.upsert_orders(session, [*self.put, *self.move], actor=actor)
        for order in (*self.put, *self.move):
            repository_orders.set_order_status(session, order.id, repository_orders.OPEN,
                                               actor=actor)  # fmt: skip
        for oid, reason in self.cancel:
            repository_orders.set_order_status(session, oid, repository_orders.CANCELLED,
                                               actor=actor, reason=reason)  # fmt: skip
        if day is None or not (self.put or self.move):
            return {}
        return _other_days(session, day, self, actor, from_depot)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "put": [order_snapshot(o) for o in self.put],
            "cancel": [[oid, reason] for oid, reason in self.cancel],
            "move": [order_snapshot(o) for o in self.move],
        }
        if self.seen:
            out["seen_plans"] = [[depot, version] for depot, version in self.seen]
        return out

    def unchecked(self) -> OrderEdits:
        """The same edits without the plan versions seen (a redo: the person's own move
        again, whose target plan's version rose with the move and with its undo)."""
        return replace(self, seen=()) if self.seen else self

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> OrderEdits:
        if not data:
            return cls()
        return cls(
            put=tuple(order_from_snapshot(o) for o in data.get("put") or ()),
            cancel=tuple((str(oid), str(reason)) for oid, reason in data.get("cancel") or ()),
            move=tuple(order_from_snapshot(o) for o in data.get("move") or ()),
            seen=tuple(
                (str(depot), None if version is None else int(version))
                for depot, version in data.get("seen_plans") or ()
            ),  # fmt: skip
        )

    def day_orders(self, orders: Sequence[Order]) -> tuple[Order, ...]:
        """The day's orders after these edits."""
        gone = self.ids
        return (*(o for o in orders if o.id not in gone), *self.put)


def _check_seen(session: Session, day: date, seen: Sequence[tuple[str, int | None]]) -> None:
    """Each depot's plan of ``day`` at the version seen (None: no plan), locked until the
    transaction ends (a command on that plan meanwhile waits); else ``StaleDepotPlanError``."""
    wanted = dict(seen)
    rows = session.execute(
        select(PlanRow.depot_id, PlanRow.version)
        .where(PlanRow.day == day, PlanRow.depot_id.in_(sorted(wanted)))
        .order_by(PlanRow.id)
        .with_for_update()
    ).all()
    now: dict[str, int] = {depot: version for depot, version in rows}
    for depot in sorted(wanted):
        if now.get(depot) != wanted[depot]:
            raise StaleDepotPlanError(depot, day, wanted[depot], now.get(depot))


def _planned_elsewhere(session: Session, day: date, orders: Sequence[Order]) -> None:
    """Refuse putting an order back in this depot's day while another depot's route of
    ``day`` carries it (it was moved there and planned)."""
    if not orders:
        return
    depot_of = {o.id: o.depot_id for o in orders}
    rows = session.execute(
        select(StopRow.order_id, RouteRow.id, PlanRow.depot_id)
        .join(RouteRow, StopRow.route_id == RouteRow.id)
        .join(PlanRow, RouteRow.plan_id == PlanRow.id)
        .where(PlanRow.day == day, StopRow.order_id.in_(sorted(depot_of)))
    ).all()
    for oid, route_id, depot_id in rows:
        if depot_id != depot_of[oid]:
            raise CommandRefused(
                f"order {oid} is on route {route_id} of depot {depot_id} now; it cannot come "
                f"back to depot {depot_of[oid]}'s day (move it from there)"
            )


def _other_days(
    session: Session, day: date, edits: OrderEdits, actor: str, from_depot: str
) -> dict[str, Any]:
    """The other depots' plans of ``day`` after ``edits`` (see ``OrderEdits.apply``)."""
    moved = {o.id: o.depot_id for o in edits.move}
    back = {o.id: o.depot_id for o in edits.put}
    ids = sorted({*moved, *back})
    # The plans concerned, locked (a concurrent command on them waits): the moved orders'
    # new depots, and any other depot's plan holding one of the orders unassigned.
    holding = select(UnassignedRow.plan_id).where(UnassignedRow.order_id.in_(ids))
    plan_rows = session.scalars(
        select(PlanRow)
        .where(PlanRow.day == day)
        .where(PlanRow.depot_id.in_(sorted(set(moved.values()))) | PlanRow.id.in_(holding))
        .order_by(PlanRow.id)
        .with_for_update()
    ).all()
    out: dict[str, Any] = {}
    for row in plan_rows:
        plan = repository.load_plan(session, row.depot_id, day)
        if plan is None or row.depot_id == from_depot:
            continue
        before = row.version
        kept = tuple(u for u in plan.unassigned
                     if u.order_id not in ids or moved.get(u.order_id) == row.depot_id
                     or back.get(u.order_id) == row.depot_id)  # fmt: skip
        listed = {u.order_id for u in kept} | {o for r in plan.routes for o in r.order_ids}
        came = tuple(
            Unassigned(oid, UnassignedReason.NO_FEASIBLE_ROUTE,
                       f"moved here from depot {from_depot or '?'} by {actor}, not planned yet")
            for oid, depot in moved.items() if depot == row.depot_id and oid not in listed
        )  # fmt: skip
        if kept == plan.unassigned and not came:
            continue
        repository.save_plan(session, replace(plan, unassigned=(*kept, *came)), actor=actor)
        session.flush()
        out[row.depot_id] = {"plan": plan.id, "version_before": before,
                             "version_after": row.version,
                             "unassigned_added": [u.order_id for u in came],
                             "unassigned_removed": sorted({u.order_id for u in plan.unassigned}
                                                          - {u.order_id for u in kept})}  # fmt: skip
    return out


@dataclass(frozen=True)
class CommandRecord:
    """A written command as plain data, for an outbox: which routes now serve which orders
    (in sequence), the route versions it was based on (every route it checked), and its key
    (= the audit row's id). ``command`` is the audit's name of it (``reassign``, ``lock``,
    ``accept``, ``undo`` ...); ``locks`` the stops whose lock it changed (order id ->
    locked). A ``whole`` save also carries the routes as written, the routes dropped, the
    plan's unassigned orders after it and whether every route of the day was checked."""

    key: str
    depot_id: str
    day: date
    routes: dict[str, tuple[str, ...]]
    base_versions: dict[str, int]
    actor: str
    label: str
    whole: bool  # the day's plan was saved (new or dropped routes, unassigned orders)
    command: str = ""
    locks: dict[str, bool] = field(default_factory=dict)
    plan_id: str = ""
    written: tuple[Route, ...] = ()
    drop: tuple[str, ...] = ()
    unassigned: tuple[Unassigned, ...] = ()
    check_all: bool = False
    orders: OrderEdits = field(default_factory=OrderEdits)
    before: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the routes' stops before
    times: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)


WriteHook = Callable[[Session, CommandRecord], None]


@dataclass(frozen=True)
class Written:
    """What a write left in the store: the day's plan, its route versions, the replaced
    routes (as stored just before) and the unassigned orders before."""

    plan: Plan
    versions: dict[str, int]
    replaced: tuple[Route, ...]
    added: tuple[str, ...]
    unassigned_before: tuple[Unassigned, ...]
    command_id: str
    whole: bool = False
    written: tuple[Route, ...] = ()


def _merge_stops(route: Route, stored_stops: Mapping[str, tuple[str, Stop]]) -> Route:
    """Never undo what happened meanwhile: a stop served in the store stays served there."""
    kept: list[Stop] = []
    rest: list[Stop] = []
    for stop in route.stops:
        where, now = stored_stops.get(stop.order_id, (None, None))
        if now is not None and is_history(now):
            if where != route.id:
                raise CommandRefused(
                    f"stop {stop.order_id} was {now.status} on route {where} meanwhile; "
                    "a served stop cannot move"
                )
            kept.append(now)
        else:
            (kept if is_history(stop) else rest).append(stop)
    return replace(route, stops=(*kept, *rest))


def _unassigned(
    merged: Sequence[Route],
    old: Sequence[Unassigned],
    new: Sequence[Unassigned] | None,
    leaving: frozenset[str] = frozenset(),
) -> tuple[Unassigned, ...]:
    on_route = {o for r in merged for o in r.order_ids} | leaving
    items = {u.order_id: u for u in (*old, *(new or ())) if u.order_id not in on_route}
    return tuple(items.values())


def _merged(
    stored: Plan,
    routes: Sequence[Route],
    drop: Sequence[str],
    unassigned: Sequence[Unassigned] | None,
    whole: bool,
    leaving: frozenset[str] = frozenset(),
) -> tuple[dict[str, Route], Plan]:
    """The routes to write (stops merged with what happened meanwhile) and the day's plan
    after the write. Without ``whole`` a route keeps its stored times, status and driver."""
    stored_stops = {s.order_id: (r.id, s) for r in stored.routes for s in r.stops}
    by_id = {r.id: r for r in stored.routes}
    new = {r.id: _merge_stops(r, stored_stops) for r in routes}
    for rid in {*new, *drop}:
        served = [s.order_id for s in by_id[rid].stops if is_history(s)] if rid in by_id else []
        kept = new[rid].order_ids if rid in new and rid not in drop else ()
        lost = [o for o in served if o not in kept]
        if lost:
            raise CommandRefused(f"stops {lost} were served on route {rid}; they stay there")
    if not whole:
        missing = [rid for rid in new if rid not in by_id]
        if missing or drop:
            raise CommandRefused(f"routes {missing or list(drop)} need a whole-plan save")
        new = {rid: replace(by_id[rid], stops=r.stops) for rid, r in new.items()}
    merged = [new.get(r.id, r) for r in stored.routes if r.id not in drop]
    merged += [r for rid, r in new.items() if rid not in by_id]
    try:
        result = replace(
            stored,
            routes=tuple(merged),
            unassigned=_unassigned(merged, stored.unassigned, unassigned, leaving),
        )
    except ValueError as exc:
        raise CommandRefused(f"the routes do not fit together: {exc}") from exc
    still = sorted(leaving & {o for r in result.routes for o in r.order_ids})
    if still:
        raise CommandRefused(f"orders {still} leave the day but are still on a route")
    return new, result


@dataclass(frozen=True)
class RouteWrite:
    """A dispatcher's command on this desk's store, as the applier takes it (see
    ``write_routes`` for the fields)."""

    plan: Plan
    routes: tuple[Route, ...]
    actor: str
    audit: dict[str, Any]
    base_versions: Mapping[str, int] | None
    check_ids: tuple[str, ...] = ()
    check_all: bool = False
    drop: tuple[str, ...] = ()
    unassigned: tuple[Unassigned, ...] | None = None
    whole: bool = False
    expect: tuple[Route, ...] | None = None
    on_write: WriteHook | None = None
    orders: OrderEdits = field(default_factory=OrderEdits)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    kind: str = ROUTE_WRITE
    local_copy: bool = False  # the desk's copy of a shared database (it queues commands)

    @property
    def depot_id(self) -> str:
        return self.plan.depot_id

    @property
    def day(self) -> date:
        return self.plan.day

    @property
    def name(self) -> str:
        """The audit's name of the command (``reassign``, ``lock``, ``accept`` ...)."""
        return str(self.audit.get("command", ""))


def write_route_command(s: Session, command: RouteWrite) -> applier.Applied:
    """The applier's handler of ``RouteWrite``: check, merge, write, audit."""
    plan, routes, orders, actor = command.plan, command.routes, command.orders, command.actor
    drop, audit, command_id = command.drop, command.audit, command.key
    stored = repository.load_plan(s, plan.depot_id, plan.day)
    versions = repository.route_versions(s, plan.depot_id, plan.day)
    if stored is None or stored.id != plan.id:
        raise StaleRouteError(routes[0].id if routes else plan.id, None)
    ids = {r.id for r in routes}
    checked = {*ids, *drop, *command.check_ids}
    if command.check_all:
        checked |= {*versions, *(r.id for r in plan.routes)}
    expected = None if command.expect is None else {r.id: r for r in command.expect}
    applier.check_versions(sorted(checked), versions, command.base_versions, shown=plan.routes,
                           stored=stored.routes, expect=expected)  # fmt: skip
    new, result = _merged(stored, routes, drop, command.unassigned, command.whole,
                          orders.leaving)  # fmt: skip
    # A desk that queues its commands for a shared database writes its local copy here,
    # which holds no other depot's plan: the shared database compares the versions seen.
    elsewhere = orders.apply(s, actor, plan.day, plan.depot_id,
                             check_seen=not command.local_copy)  # fmt: skip
    by_id = {r.id: r for r in stored.routes}
    whole = command.whole or result.unassigned != stored.unassigned
    if whole:
        repository.save_plan(s, result, actor=actor, base_versions=versions)
    else:
        for rid, route in new.items():
            if route != by_id[rid]:
                repository.update_route_stops(
                    s, rid, route.stops, base_version=versions[rid], actor=actor
                )
    after = repository.route_versions(s, plan.depot_id, plan.day)
    touched = sorted({*ids, *drop})
    stored_stops = {st.order_id: st for r in stored.routes for st in r.stops}
    locks = {
        st.order_id: st.locked
        for r in new.values()
        for st in r.stops
        if st.locked != getattr(stored_stops.get(st.order_id), "locked", False)
    }
    if command.on_write is not None:
        record = CommandRecord(
            key=command_id, depot_id=plan.depot_id, day=plan.day,
            routes={rid: new[rid].order_ids if rid in new else () for rid in touched},
            base_versions={rid: versions[rid] for rid in sorted(checked) if rid in versions},
            actor=actor, label=str(audit.get("label", "")), whole=whole,
            command=str(audit.get("command", "")), locks=locks, plan_id=result.id,
            written=tuple(r for r in result.routes if r.id in ids), drop=tuple(drop),
            unassigned=result.unassigned, check_all=command.check_all, orders=orders,
            before={rid: by_id[rid].order_ids for rid in touched if rid in by_id},
            times={st.order_id: (st.planned_arrival, st.planned_departure)
                   for r in new.values() for st in r.stops},
        )  # fmt: skip
        command.on_write(s, record)
    before_doc: dict[str, Any] = {
        "routes": {rid: _route_doc(by_id.get(rid), versions.get(rid)) for rid in touched}
    }
    after_doc = {
        **audit,
        "routes": {rid: _route_doc(new.get(rid), after.get(rid)) for rid in touched},
    }
    if result.unassigned != stored.unassigned:
        before_doc["unassigned"] = [u.order_id for u in stored.unassigned]
        after_doc["unassigned"] = [u.order_id for u in result.unassigned]
    if orders:
        after_doc["order_edits"] = orders.to_json()
    if elsewhere:
        after_doc["other_depots"] = elsewhere
    log_change(s, AUDIT_ENTITY, command_id, "insert", actor=actor, before=before_doc,
               after=after_doc)  # fmt: skip
    written = Written(
        plan=result,
        versions=after,
        replaced=tuple(by_id[rid] for rid in sorted(ids | set(drop)) if rid in by_id),
        added=tuple(rid for rid in sorted(ids) if rid not in by_id),
        unassigned_before=stored.unassigned,
        command_id=command_id,
        whole=whole,
        written=tuple(r for r in result.routes if r.id in ids),
    )
    return applier.Applied(
        stored.routes, stored.unassigned, result.routes, result.unassigned, after,
        unlocked=frozenset(oid for oid, on in locks.items() if not on),
        leaving=orders.leaving, result=written,
    )  # fmt: skip


applier.register(ROUTE_WRITE, write_route_command)


def _route_doc(route: Route | None, version: int | None) -> dict[str, Any] | None:
    if route is None:
        return None
    return {"vehicle_id": route.vehicle_id, "version": version, "orders": list(route.order_ids),
            "locked": [s.order_id for s in route.stops if s.locked]}  # fmt: skip


@dataclass(frozen=True)
class AuditEntry:
    """One command of the audit log: who, when, what, and the routes before and after."""

    command_id: str
    actor: str
    origin: str
    at: datetime
    command: str
    role: str
    label: str
    before: dict[str, Any]
    after: dict[str, Any]


def read_audit(store: Store, limit: int = 200) -> list[AuditEntry]:
    """The newest ``limit`` commands, newest first."""
    with store.read_session() as s:
        rows = s.scalars(
            select(ChangeLogRow)
            .where(ChangeLogRow.entity == AUDIT_ENTITY)
            .order_by(ChangeLogRow.id.desc())
            .limit(limit)
        ).all()
        return [
            AuditEntry(
                command_id=r.entity_id,
                actor=r.actor,
                origin=r.origin,
                at=r.at,
                command=(r.after or {}).get("command", ""),
                role=(r.after or {}).get("role", ""),
                label=(r.after or {}).get("label", ""),
                before=r.before or {},
                after=r.after or {},
            )
            for r in rows
        ]
