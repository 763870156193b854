"""Commands that can wait in an outbox: plain JSON, applied the same way on either store.

A command names the routes it rewrites (route id -> order ids in their new sequence) and
the route versions it was made from. Applying it checks every base version first, so on
the shared database a route moved on by someone else raises ``StaleVersionError`` instead of
being overwritten. Stops keep what is known about them (status, times) wherever they come
from, so a reassignment carries a stop's history with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store import StaleVersionError
from app.store import repository as repo
from app.store.changelog import log_change
from app.store.models import RouteRow
from engine.model import Stop

AUDIT_ENTITY = "command"  # the audit-log entity of the dispatcher commands (app.dispatch_store)
SET_ROUTE_STOPS = "set_route_stops"


@dataclass(frozen=True)
class Command:
    """Rewrite ``routes`` (route id -> order ids) of a depot's day, based on ``base_versions``."""

    depot_id: str
    day: date
    routes: Mapping[str, Sequence[str]]
    base_versions: Mapping[str, int]
    actor: str
    label: str = ""
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if not self.routes:
            raise ValueError("a command must rewrite at least one route")
        missing = sorted(set(self.routes) - set(self.base_versions))
        if missing:
            raise ValueError(f"command {self.key}: no base version for routes {missing}")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": SET_ROUTE_STOPS,
            "depot_id": self.depot_id,
            "day": self.day.isoformat(),
            "routes": {rid: list(ids) for rid, ids in self.routes.items()},
            "actor": self.actor,
            "label": self.label,
        }

    @classmethod
    def from_json(cls, key: str, data: Mapping[str, Any], base: Mapping[str, Any]) -> Command:
        if data.get("kind") != SET_ROUTE_STOPS:
            raise ValueError(f"outbox command {key}: unknown kind {data.get('kind')!r}")
        return cls(
            depot_id=data["depot_id"],
            day=date.fromisoformat(data["day"]),
            routes={rid: tuple(ids) for rid, ids in data["routes"].items()},
            base_versions={rid: int(v) for rid, v in base.items()},
            actor=data["actor"],
            label=data.get("label", ""),
            key=key,
        )


def current_routes(session: Session, depot_id: str, day: date) -> dict[str, dict[str, Any]]:
    """route id -> {"version", "orders"} as stored now (what a conflict shows as theirs)."""
    plan = repo.load_plan(session, depot_id, day)
    versions = repo.route_versions(session, depot_id, day)
    routes = plan.routes if plan is not None else ()
    return {r.id: {"version": versions.get(r.id), "orders": list(r.order_ids)} for r in routes}


def apply_command(session: Session, command: Command) -> dict[str, int]:
    """Apply ``command`` in ``session``; returns the new route versions.

    Raises ``StaleVersionError`` if any route is not at its base version (nothing written).
    """
    # Lock the routes first (PostgreSQL; SQLite writers are serialised anyway): a concurrent
    # replay of another desk waits here, and everything read below is what it left.
    locked = select(RouteRow.id, RouteRow.version).where(RouteRow.id.in_(sorted(command.routes)))
    versions = dict(session.execute(locked.with_for_update()).all())
    plan = repo.load_plan(session, command.depot_id, command.day)
    for rid in command.routes:
        if rid not in versions:
            raise StaleVersionError("route", rid, command.base_versions[rid], None)
        if versions[rid] != command.base_versions[rid]:
            raise StaleVersionError("route", rid, command.base_versions[rid], versions[rid])
    known: dict[str, Stop] = {s.order_id: s for r in plan.routes for s in r.stops}
    before = {r.id: list(r.order_ids) for r in plan.routes if r.id in command.routes}
    # Routes that lose stops first, so an order is never on two routes at a flush.
    order = sorted(command.routes, key=lambda rid: len(command.routes[rid]) - len(before[rid]))
    after: dict[str, int] = {}
    for rid in order:
        stops = [known.get(oid) or Stop(oid) for oid in command.routes[rid]]
        after[rid] = repo.update_route_stops(
            session, rid, stops, base_version=command.base_versions[rid], actor=command.actor
        )
    log_change(
        session, AUDIT_ENTITY, command.key, "insert", actor=command.actor,
        before={"routes": {rid: {"version": command.base_versions[rid], "orders": before[rid]}
                           for rid in command.routes}},
        after={"command": SET_ROUTE_STOPS, "label": command.label,
               "routes": {rid: {"version": after[rid], "orders": list(command.routes[rid])}
                          for rid in command.routes}},
    )  # fmt: skip
    return after
