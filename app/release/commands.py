"""Release commands: plain data, applied the same way to the local store and the shared one.

Each is JSON-able (for an outbox) and carries what it was decided on: the route versions
the desk saw. Applying one checks them, so the same route released from two desks is
refused on the second (``StaleVersionError``: a conflict to show), never released twice.

- ``release``: routes (id -> base version) to ``released``; a wave's release is one command.
- ``recall``: released routes (id -> base version) back to ``ready`` (an undone release).
- ``set_status``: a transition the dock or telemetry drove (loading, ready, on the road,
  completed): no version check, a quiet no-op when the route is already past it.
- ``mark_loaded``: a person marked a route loaded (its orders at the base version).
- ``override``: a supervisor lets one red check of a route pass, with the written reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.store import StaleVersionError
from app.store import repository_release as rel
from app.store.changelog import log_change
from app.store.roles import begin_command
from engine.model import RouteStatus

AUDIT_ENTITY = "command"
RELEASE = "release"
RECALL = "recall"
SET_STATUS = "set_status"
MARK_LOADED = "mark_loaded"
OVERRIDE = "override"
KINDS = (RELEASE, RECALL, SET_STATUS, MARK_LOADED, OVERRIDE)

BEFORE_RELEASE = frozenset({RouteStatus.PLANNED, RouteStatus.LOADING, RouteStatus.READY})
#: Where a transition the dock or telemetry drives may come from.
DRIVEN_FROM = {
    RouteStatus.LOADING: frozenset({RouteStatus.PLANNED, RouteStatus.READY}),  # READY: unloaded
    RouteStatus.READY: frozenset({RouteStatus.PLANNED, RouteStatus.LOADING}),
    RouteStatus.ACTIVE: frozenset(
        {RouteStatus.PLANNED, RouteStatus.LOADING, RouteStatus.READY, RouteStatus.RELEASED}
    ),  # fmt: skip
    RouteStatus.COMPLETED: frozenset({RouteStatus.RELEASED, RouteStatus.ACTIVE}),
}


@dataclass(frozen=True)
class ReleaseCommand:
    """One release command (see the module docstring for the kinds)."""

    kind: str
    depot_id: str
    day: str  # ISO date
    actor: str
    role: str
    at: datetime
    routes: Mapping[str, int | None]  # route id -> base version (None: not checked)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    to: str = ""  # set_status: the status
    source: str = "command"  # set_status: dock / telemetry
    reason: str = ""
    check: str = ""  # override: the check's name
    orders: Sequence[str] = ()  # mark_loaded / override: the route's orders as decided on
    dock_id: str = ""  # mark_loaded
    wave: str = ""  # release: the wave released, if a whole wave

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"release command {self.key}: unknown kind {self.kind!r}")
        if not self.routes:
            raise ValueError(f"release command {self.key}: it must name at least one route")
        if self.at.tzinfo is None:
            raise ValueError(f"release command {self.key}: `at` must be timezone-aware")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "depot_id": self.depot_id, "day": self.day, "actor": self.actor,
            "role": self.role, "at": self.at.isoformat(), "routes": dict(self.routes),
            "key": self.key, "to": self.to, "source": self.source, "reason": self.reason,
            "check": self.check, "orders": list(self.orders), "dock_id": self.dock_id,
            "wave": self.wave,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReleaseCommand:
        return cls(
            kind=data["kind"], depot_id=data["depot_id"], day=data["day"], actor=data["actor"],
            role=data.get("role", ""), at=datetime.fromisoformat(data["at"]),
            routes={k: (None if v is None else int(v)) for k, v in data["routes"].items()},
            key=data["key"], to=data.get("to", ""), source=data.get("source", "command"),
            reason=data.get("reason", ""), check=data.get("check", ""),
            orders=tuple(data.get("orders", ())), dock_id=data.get("dock_id", ""),
            wave=data.get("wave", ""),
        )  # fmt: skip

    @property
    def label(self) -> str:
        ids = ", ".join(sorted(self.routes)[:3]) + ("…" if len(self.routes) > 3 else "")
        what = {RELEASE: f"Release {'wave ' + self.wave if self.wave else ids}",
                RECALL: f"Recall {ids}", SET_STATUS: f"{ids} {self.to}",
                MARK_LOADED: f"Mark {ids} loaded",
                OVERRIDE: f"Override {self.check} on {ids}"}  # fmt: skip
        return what[self.kind]


def apply_release_command(session: Any, cmd: ReleaseCommand) -> dict[str, int]:
    """Apply ``cmd`` in ``session``; returns the new version of each route it changed.

    Raises ``StaleVersionError`` when a route is not at the version the command was based
    on, ``TransitionRefused`` when a route is not where the command may take it from
    (nothing is written: the session's transaction rolls back)."""
    apply = {RELEASE: _release, RECALL: _recall, SET_STATUS: _set_status,
             MARK_LOADED: _mark_loaded, OVERRIDE: _override}[cmd.kind]  # fmt: skip
    # On PostgreSQL the database checks the kind against the connected user's role.
    begin_command(session, "override_gate" if cmd.kind == OVERRIDE else "release", cmd.actor)
    after = apply(session, cmd)
    log_change(session, AUDIT_ENTITY, cmd.key, "insert", actor=cmd.actor,
               before={"routes": {rid: {"version": v} for rid, v in cmd.routes.items()}},
               after={"command": cmd.kind, "role": cmd.role, "label": cmd.label,
                      "reason": cmd.reason, "check": cmd.check, "wave": cmd.wave,
                      "routes": {rid: {"version": v} for rid, v in after.items()}})  # fmt: skip
    return after


def _version(session: Any, route_id: str) -> int:
    return rel.route_state(session, route_id).version


def _version_after(session: Any, route_id: str, t: rel.Transition | None) -> int:
    """The route's version after a status change (as stored when none was needed)."""
    if t is not None and t.route_version is not None:
        return t.route_version
    return _version(session, route_id)


def _release(session: Any, cmd: ReleaseCommand) -> dict[str, int]:
    after = {}
    for rid in sorted(cmd.routes):
        t = rel.set_route_status(session, rid, RouteStatus.RELEASED, actor=cmd.actor, at=cmd.at,
                                 reason=cmd.reason or (f"wave {cmd.wave}" if cmd.wave else ""),
                                 base_version=cmd.routes[rid], allowed_from=BEFORE_RELEASE)  # fmt: skip
        after[rid] = _version_after(session, rid, t)
    return after


def _recall(session: Any, cmd: ReleaseCommand) -> dict[str, int]:
    after = {}
    for rid in sorted(cmd.routes):
        t = rel.set_route_status(session, rid, RouteStatus.READY, actor=cmd.actor, at=cmd.at,
                                 reason=cmd.reason or "release recalled",
                                 base_version=cmd.routes[rid],
                                 allowed_from={RouteStatus.RELEASED})  # fmt: skip
        after[rid] = _version_after(session, rid, t)
    return after


def _set_status(session: Any, cmd: ReleaseCommand) -> dict[str, int]:
    to = RouteStatus(cmd.to)
    after = {}
    for rid in sorted(cmd.routes):
        t = rel.set_route_status(session, rid, to, actor=cmd.actor, at=cmd.at, source=cmd.source,
                                 reason=cmd.reason, base_version=cmd.routes[rid],
                                 allowed_from=DRIVEN_FROM.get(to), strict=False)  # fmt: skip
        if t is not None:
            after[rid] = _version_after(session, rid, t)
    return after


def _check_orders(session: Any, cmd: ReleaseCommand, rid: str) -> rel.RouteState:
    """The route as stored, if it still serves the orders the command was decided on (a
    status change alone, e.g. loading -> ready, keeps the decision valid)."""
    row = rel.route_state(session, rid)
    base = cmd.routes[rid]
    if base is not None and row.version != base and list(row.orders) != list(cmd.orders):
        raise StaleVersionError("route", rid, base, row.version)
    return row


def _mark_loaded(session: Any, cmd: ReleaseCommand) -> dict[str, int]:
    (rid,) = cmd.routes
    row = _check_orders(session, cmd, rid)
    scans = [rel.Scan(f"{cmd.key}:{oid}", cmd.depot_id, cmd.dock_id or row.dock_id or "",
                      rid, "loaded", cmd.at, oid, source="manual", actor=cmd.actor)
             for oid in cmd.orders]  # fmt: skip
    scans.append(rel.Scan(f"{cmd.key}:complete", cmd.depot_id, cmd.dock_id or row.dock_id or "",
                          rid, "complete", cmd.at, source="manual", actor=cmd.actor))  # fmt: skip
    rel.add_scans(session, scans)
    t = rel.set_route_status(session, rid, RouteStatus.READY, actor=cmd.actor, at=cmd.at,
                             source="manual", reason=cmd.reason or "marked loaded by hand",
                             allowed_from=DRIVEN_FROM[RouteStatus.READY], strict=False)  # fmt: skip
    return {rid: t.route_version if t and t.route_version is not None else row.version}


def _override(session: Any, cmd: ReleaseCommand) -> dict[str, int]:
    (rid,) = cmd.routes
    row = _check_orders(session, cmd, rid)
    plan_id = row.plan_id
    rel.add_override(session, key=cmd.key, route_id=rid, plan_id=plan_id, check=cmd.check,
                     reason=cmd.reason, actor=cmd.actor, role=cmd.role, at=cmd.at,
                     orders=list(cmd.orders))  # fmt: skip
    return {rid: row.version}
