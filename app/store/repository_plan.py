"""Plans and per-route edits: ``save_plan``, ``load_plan``, ``route_versions``,
``update_route_stops`` (re-exported by ``app.store.repository``).

A depot's day has one plan. Saving a plan with the stored plan's id updates it in place:
routes are matched by id and stops by order id, so only what changed gets a new version.
Saving a plan with another id for the same day replaces the old plan. Route ids are global:
a plan may not reuse the route id of another day's plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store import convert
from app.store.changelog import log_change
from app.store.errors import StaleVersionError
from app.store.models import PlanRow, RouteRow, StopRow, UnassignedRow
from engine.model import (
    Plan,
    Route,
    RouteStatus,
    Stop,
    StopStatus,
    Unassigned,
    UnassignedReason,
)


def _plan_from_row(row: PlanRow) -> Plan:
    return Plan(
        id=row.id,
        depot_id=row.depot_id,
        day=row.day,
        routes=tuple(convert.route_from_row(r) for r in row.routes),
        unassigned=tuple(
            Unassigned(u.order_id, UnassignedReason(u.reason), u.detail) for u in row.unassigned
        ),
    )


def _plan_snapshot(plan: Plan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "depot_id": plan.depot_id,
        "day": plan.day.isoformat(),
        "routes": [convert.route_snapshot(r) for r in plan.routes],
        "unassigned": [[u.order_id, str(u.reason), u.detail] for u in plan.unassigned],
    }


def _plan_summary(plan: Plan) -> dict[str, Any]:
    """The change log's before/after of a plan: which route serves which orders."""
    return {
        "id": plan.id,
        "depot_id": plan.depot_id,
        "day": plan.day.isoformat(),
        "routes": [
            {
                "id": r.id,
                "vehicle_id": r.vehicle_id,
                "status": str(r.status),
                "orders": list(r.order_ids),
            }
            for r in plan.routes
        ],
        "unassigned": [u.order_id for u in plan.unassigned],
    }


def _sync_stops(route_row: RouteRow, stops: Sequence[Stop]) -> None:
    """Match stops by order id: unchanged stops keep their version, gone ones are deleted."""
    by_order = {s.order_id: s for s in route_row.stops}
    rows: list[StopRow] = []
    for sequence, stop in enumerate(stops):
        row = by_order.pop(stop.order_id, None) or StopRow(order_id=stop.order_id)
        convert.fill_stop(row, sequence, stop)
        rows.append(row)
    route_row.stops = rows


def _fill_route(row: RouteRow, position: int, route: Route) -> None:
    row.position, row.vehicle_id, row.driver_id = position, route.vehicle_id, route.driver_id
    row.status, row.wave = str(route.status), route.wave
    row.starts_at, row.ends_at = route.start, route.end
    row.dock_id, row.slot_start, row.slot_end = route.dock_id, route.slot_start, route.slot_end
    _sync_stops(row, route.stops)


def _check_route_ids(session: Session, plan: Plan, own_plan_id: str | None) -> None:
    ids = [r.id for r in plan.routes]
    if not ids:
        return
    clashes = session.execute(
        select(RouteRow.id, RouteRow.plan_id).where(RouteRow.id.in_(ids))
    ).all()
    for route_id, plan_id in clashes:
        if plan_id != own_plan_id:
            raise ValueError(
                f"plan {plan.id}: route id {route_id!r} already belongs to plan {plan_id!r}; "
                "route ids must be unique across plans (days)"
            )


def _check_base_versions(current: PlanRow | None, base_versions: Mapping[str, int]) -> None:
    """Every stored route of the day must still be at the version the plan was made from."""
    for route in current.routes if current is not None else ():
        expected = base_versions.get(route.id)
        if expected != route.version:
            raise StaleVersionError("route", route.id, expected, route.version)


def save_plan(
    session: Session,
    plan: Plan,
    *,
    actor: str,
    base_versions: Mapping[str, int] | None = None,
) -> None:
    """Store ``plan`` as its depot's plan for its day (idempotent: the same plan is a no-op).

    ``base_versions`` (route id -> version, from ``route_versions``) is what a re-plan was
    computed from: when given, a route edited (or added) since raises ``StaleVersionError``
    instead of being overwritten. Without it the plan replaces whatever is stored.
    """
    now = datetime.now(UTC)
    current = session.scalar(
        select(PlanRow).where(PlanRow.depot_id == plan.depot_id, PlanRow.day == plan.day)
    )
    if base_versions is not None:
        _check_base_versions(current, base_versions)
    same_id = session.get(PlanRow, plan.id)
    if same_id is not None and same_id is not current:
        raise ValueError(
            f"plan id {plan.id!r} is already used by depot {same_id.depot_id}'s plan for "
            f"{same_id.day}; it cannot also be {plan.depot_id}'s plan for {plan.day}"
        )
    if current is not None and current.id != plan.id:
        old = _plan_from_row(current)
        session.delete(current)
        session.flush()
        log_change(session, "plan", old.id, "delete", actor=actor, before=_plan_summary(old))
        current = None
    _check_route_ids(session, plan, current.id if current is not None else None)
    if current is None:
        row = PlanRow(id=plan.id, depot_id=plan.depot_id, day=plan.day)
        session.add(row)
        before = None
    else:
        row = current
        old = _plan_from_row(row)
        if _plan_snapshot(old) == _plan_snapshot(plan):
            return
        before = _plan_summary(old)
    row.updated_at, row.updated_by = now, actor
    existing = {r.id: r for r in row.routes}
    routes: list[RouteRow] = []
    for position, route in enumerate(plan.routes):
        route_row = existing.get(route.id)
        if route_row is None:
            route_row = RouteRow(id=route.id)
            route_row.updated_at, route_row.updated_by = now, actor
        elif convert.route_snapshot(convert.route_from_row(route_row)) != convert.route_snapshot(
            route
        ):
            route_row.updated_at, route_row.updated_by = now, actor
        _fill_route(route_row, position, route)
        routes.append(route_row)
    row.routes = routes
    convert.sync_children(
        row.unassigned, plan.unassigned, lambda p: UnassignedRow(position=p), _fill_unassigned
    )
    operation = "insert" if before is None else "update"
    # The whole plan rides along (times and all): the day's recording reads every plan
    # version back from the change log.
    after = {**_plan_summary(plan), "snapshot": _plan_snapshot(plan)}
    log_change(session, "plan", plan.id, operation, actor=actor, before=before, after=after)
    session.flush()


def _fill_unassigned(row: UnassignedRow, item: Unassigned) -> None:
    row.order_id, row.reason, row.detail = item.order_id, str(item.reason), item.detail


def load_plan(session: Session, depot_id: str, day: date) -> Plan | None:
    """The stored plan of the depot's day, exactly as saved; None when there is none."""
    found = session.execute(
        select(PlanRow.id, PlanRow.depot_id, PlanRow.day).where(
            PlanRow.depot_id == depot_id, PlanRow.day == day
        )
    ).first()
    if found is None:
        return None
    # Read as plain columns, not ORM objects: a 2,000-vehicle day has 40,000 stops.
    plan_id = found.id
    stops: dict[str, list[Stop]] = {}
    q = (
        select(StopRow.route_id, StopRow.order_id, StopRow.planned_arrival,
               StopRow.planned_departure, StopRow.status, StopRow.locked,
               StopRow.actual_arrival, StopRow.actual_departure)
        .join(RouteRow, StopRow.route_id == RouteRow.id)
        .where(RouteRow.plan_id == plan_id)
        .order_by(StopRow.route_id, StopRow.sequence)
    )  # fmt: skip
    # Core rows off the session's connection (no ORM loading step per row; the first
    # SELECT above flushed what the session held); each status text looked up once.
    connection = session.connection()
    statuses = {s.value: s for s in StopStatus}
    rows = connection.execute(q).all()  # one fetch (iterating fetches row by row)
    for rid, oid, arrival, departure, status, locked, arrived, departed in rows:
        stops.setdefault(rid, []).append(
            Stop(oid, arrival, departure,
                 statuses[status] if status in statuses else StopStatus(status), locked,
                 arrived, departed)
        )  # fmt: skip
    q2 = (
        select(RouteRow.id, RouteRow.vehicle_id, RouteRow.driver_id, RouteRow.status,
               RouteRow.wave, RouteRow.starts_at, RouteRow.ends_at, RouteRow.dock_id,
               RouteRow.slot_start, RouteRow.slot_end)
        .where(RouteRow.plan_id == plan_id)
        .order_by(RouteRow.position)
    )  # fmt: skip
    routes = tuple(
        Route(rid, vid, tuple(stops.get(rid, ())), driver_id=driver, status=RouteStatus(status),
              wave=wave, start=start, end=end, dock_id=dock, slot_start=s0, slot_end=s1)
        for rid, vid, driver, status, wave, start, end, dock, s0, s1 in connection.execute(q2).all()
    )  # fmt: skip
    q3 = (
        select(UnassignedRow.order_id, UnassignedRow.reason, UnassignedRow.detail)
        .where(UnassignedRow.plan_id == plan_id)
        .order_by(UnassignedRow.position)
    )
    unassigned = tuple(
        Unassigned(oid, UnassignedReason(reason), detail)
        for oid, reason, detail in session.execute(q3)
    )
    return Plan(id=plan_id, depot_id=found.depot_id, day=found.day, routes=routes,
                unassigned=unassigned)  # fmt: skip


def route_versions(session: Session, depot_id: str, day: date) -> dict[str, int]:
    """route id -> version for the day's plan: the base versions of per-route edits."""
    query = (
        select(RouteRow.id, RouteRow.version)
        .join(PlanRow, RouteRow.plan_id == PlanRow.id)
        .where(PlanRow.depot_id == depot_id, PlanRow.day == day)
    )
    return {route_id: version for route_id, version in session.execute(query)}


def plan_versions(session: Session, day: date) -> dict[str, int]:
    """depot id -> the version of its plan of ``day`` (a depot without one is absent)."""
    query = select(PlanRow.depot_id, PlanRow.version).where(PlanRow.day == day)
    return {depot_id: version for depot_id, version in session.execute(query)}


def update_route_stops(
    session: Session, route_id: str, stops: Sequence[Stop], *, base_version: int, actor: str
) -> int:
    """Replace a route's stops, if the route is still at ``base_version``; returns the new
    version. Raises ``StaleVersionError`` (naming both versions) when someone else changed
    the route since, ``KeyError`` for an unknown route, ``ValueError`` for a repeated order."""
    row = session.get(RouteRow, route_id)
    if row is None:
        raise KeyError(f"no route {route_id!r} in the store")
    if row.version != base_version:
        raise StaleVersionError("route", route_id, base_version, row.version)
    old = convert.route_from_row(row)
    new = replace(old, stops=tuple(stops))
    before, after = convert.route_snapshot(old), convert.route_snapshot(new)
    if before == after:
        return row.version
    _sync_stops(row, new.stops)
    row.updated_at, row.updated_by = datetime.now(UTC), actor
    log_change(session, "route", route_id, "update", actor=actor, before=before, after=after)
    session.flush()  # the UPDATE ... WHERE version = base_version happens here
    return row.version
