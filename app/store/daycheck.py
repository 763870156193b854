"""The day check: stored plans that break the invariants the command applier keeps, and
their repair.

The applier refuses a command that would break a day, but a database written by an older
version (or by hand) may hold one already: an order on two routes, on a route and in the
unassigned list, or twice in the unassigned list. ``check`` reads the stop rows as they
are (a plan that breaks them cannot even be loaded); ``repair`` keeps each order in one
place — a served stop where it was served, else a locked one, else the route changed last
— and takes it off the others, each route's version raised and the change logged.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.changelog import log_change
from app.store.models import PlanRow, RouteRow, StopRow, UnassignedRow

HISTORY = frozenset({"arrived", "delivered", "failed", "skipped"})
REPAIR_ENTITY = "day_repair"


@dataclass(frozen=True)
class DayProblem:
    """One broken invariant of a stored day, in words, and what a repair does about it."""

    depot_id: str
    day: date
    order_id: str
    text: str
    repair: str


def check(
    session: Session, depot_id: str | None = None, day: date | None = None
) -> list[DayProblem]:
    """The broken invariants of every stored plan (or of ``depot_id``'s ``day``)."""
    problems: list[DayProblem] = []
    for plan in _plans(session, depot_id, day):
        problems += _plan_problems(session, plan)
    return problems


def repair(
    session: Session, actor: str, depot_id: str | None = None, day: date | None = None
) -> list[DayProblem]:
    """Repair what ``check`` finds, in ``session``'s transaction; returns what it did."""
    done: list[DayProblem] = []
    for plan in _plans(session, depot_id, day):
        found = _plan_problems(session, plan)
        if not found:
            continue
        before = _where(session, plan)
        _repair_plan(session, plan, actor)
        log_change(session, REPAIR_ENTITY, f"{plan.depot_id}/{plan.day}", "update", actor=actor,
                   before={"stops": before}, after={"stops": _where(session, plan),
                   "problems": [p.text for p in found]})  # fmt: skip
        done += found
    return done


def _plans(session: Session, depot_id: str | None, day: date | None) -> list[PlanRow]:
    query = select(PlanRow).order_by(PlanRow.depot_id, PlanRow.day)
    if depot_id is not None:
        query = query.where(PlanRow.depot_id == depot_id)
    if day is not None:
        query = query.where(PlanRow.day == day)
    return list(session.scalars(query))


def _stops(session: Session, plan: PlanRow) -> list[tuple[RouteRow, StopRow]]:
    query = (
        select(RouteRow, StopRow)
        .join(StopRow, StopRow.route_id == RouteRow.id)
        .where(RouteRow.plan_id == plan.id)
        .order_by(RouteRow.position, StopRow.sequence)
    )
    return [(r, s) for r, s in session.execute(query)]


def _unassigned(session: Session, plan: PlanRow) -> list[UnassignedRow]:
    query = select(UnassignedRow).where(UnassignedRow.plan_id == plan.id)
    return list(session.scalars(query.order_by(UnassignedRow.position)))


def _where(session: Session, plan: PlanRow) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for route, stop in _stops(session, plan):
        out[stop.order_id].append(route.id)
    for item in _unassigned(session, plan):
        out[item.order_id].append("unassigned")
    return {oid: places for oid, places in out.items() if len(places) > 1}


def _keeper(places: list[tuple[RouteRow, StopRow]]) -> tuple[RouteRow, StopRow]:
    """Where an order on several routes stays: served there, else locked there, else the
    route changed last."""

    def rank(item: tuple[RouteRow, StopRow]) -> tuple[bool, bool, datetime, int]:
        route, stop = item
        changed = route.updated_at or datetime.min.replace(tzinfo=UTC)
        if changed.tzinfo is None:
            changed = changed.replace(tzinfo=UTC)
        return (stop.status in HISTORY, stop.locked, changed, route.version)

    return max(places, key=rank)


def _plan_problems(session: Session, plan: PlanRow) -> list[DayProblem]:
    by_order: dict[str, list[tuple[RouteRow, StopRow]]] = defaultdict(list)
    for route, stop in _stops(session, plan):
        by_order[stop.order_id].append((route, stop))
    problems: list[DayProblem] = []
    for oid, places in by_order.items():
        if len(places) > 1:
            keep = _keeper(places)[0].id
            routes = ", ".join(r.id for r, _ in places)
            problems.append(DayProblem(plan.depot_id, plan.day, oid,
                                       f"order {oid} is on routes {routes}",
                                       f"keep it on {keep}, take it off the others"))  # fmt: skip
    seen: set[str] = set()
    for item in _unassigned(session, plan):
        oid = item.order_id
        if oid in by_order:
            problems.append(DayProblem(plan.depot_id, plan.day, oid,
                                       f"order {oid} is on route {by_order[oid][0][0].id} and "
                                       "in the unassigned list",
                                       "take it out of the unassigned list"))  # fmt: skip
        elif oid in seen:
            problems.append(DayProblem(plan.depot_id, plan.day, oid,
                                       f"order {oid} is in the unassigned list twice",
                                       "keep it there once"))  # fmt: skip
        seen.add(oid)
    return problems


def _repair_plan(session: Session, plan: PlanRow, actor: str) -> None:
    by_order: dict[str, list[tuple[RouteRow, StopRow]]] = defaultdict(list)
    for route, stop in _stops(session, plan):
        by_order[stop.order_id].append((route, stop))
    now = datetime.now(UTC)
    touched: dict[str, RouteRow] = {}
    for places in by_order.values():
        if len(places) < 2:
            continue
        keep = _keeper(places)
        for route, stop in places:
            if (route, stop) is keep or stop is keep[1]:
                continue
            session.delete(stop)
            touched[route.id] = route
    session.flush()
    for route in touched.values():  # renumber the stops left, and raise the route's version
        rest = session.scalars(
            select(StopRow).where(StopRow.route_id == route.id).order_by(StopRow.sequence)
        ).all()
        for i, stop in enumerate(rest):
            stop.sequence = i
        route.updated_at, route.updated_by = now, actor
    seen: set[str] = set()
    for item in _unassigned(session, plan):
        if item.order_id in by_order or item.order_id in seen:
            session.delete(item)
        seen.add(item.order_id)
    session.flush()
