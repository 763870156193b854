"""Release control in the store: route status transitions, dock scans, gate overrides,
route messages sent to drivers and their acknowledgements.

A status change writes the route row (its version rises), a ``route_transition`` row (when,
who, from what source, why) and a ``route_status`` change-log row, in one transaction. A
transition driven by the dock or telemetry (``strict=False``) is a no-op when the route is
already past it, so every desk that sees the same scan may record it safely.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.changelog import log_change, rows_mark
from app.store.errors import StaleVersionError
from app.store.models import (
    DockScanRow,
    GateOverrideRow,
    PlanRow,
    RouteAckRow,
    RoutePublicationRow,
    RouteRow,
    RouteTransitionRow,
)
from engine.model import RouteStatus
from engine.release import DispatchRecord, Loading, Override

STATUS_ENTITY = "route_status"
OVERRIDE_ENTITY = "gate_override"
_CHUNK = 500


class TransitionRefused(ValueError):
    """A commanded status change that does not fit where the route stands (says why)."""


@dataclass(frozen=True)
class Transition:
    """One status change of a route, as stored."""

    route_id: str
    from_status: RouteStatus
    to_status: RouteStatus
    at: datetime
    actor: str
    source: str
    reason: str = ""
    route_version: int | None = None
    planned_departure: datetime | None = None
    wave: str = ""


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def set_route_status(
    session: Session,
    route_id: str,
    to: RouteStatus,
    *,
    actor: str,
    at: datetime,
    source: str = "command",
    reason: str = "",
    base_version: int | None = None,
    allowed_from: Collection[RouteStatus] | None = None,
    strict: bool = True,
) -> Transition | None:
    """Move a route to ``to``; returns the transition, or None when nothing changed.

    ``base_version``: the route version the change was decided on (a route changed since
    raises ``StaleVersionError``). ``allowed_from``: the statuses it may come from; outside
    them ``strict`` raises ``TransitionRefused`` and otherwise it is a quiet no-op (a
    dock or telemetry transition the route is already past)."""
    row = session.scalar(select(RouteRow).where(RouteRow.id == route_id).with_for_update())
    if row is None:
        raise KeyError(f"no route {route_id!r} in the store")
    if base_version is not None and row.version != base_version:
        raise StaleVersionError("route", route_id, base_version, row.version)
    current = RouteStatus(row.status)
    if current is to:
        return None
    if allowed_from is not None and current not in allowed_from:
        if not strict:
            return None
        allowed = ", ".join(s.label for s in allowed_from)
        raise TransitionRefused(
            f"route {route_id} is {current.label}: it can become {to.label} only from {allowed}"
        )
    before_version = row.version
    row.status = to.value
    row.updated_at, row.updated_by = datetime.now(UTC), actor
    session.flush()  # the UPDATE ... WHERE version = ... (a concurrent change fails here)
    # The plan's depot and day only: the plan row would load every route with its stops
    # (2,000 routes: some 0.2 s a transition, on the window's thread, holding the write turn).
    plan = session.execute(
        select(PlanRow.depot_id, PlanRow.day).where(PlanRow.id == row.plan_id)
    ).one_or_none()
    assert plan is not None, f"route {route_id} belongs to plan {row.plan_id}, which is stored"
    transition = Transition(route_id, current, to, at, actor, source, reason, row.version,
                            row.starts_at, row.wave)  # fmt: skip
    exists = session.scalar(
        select(RouteTransitionRow.id).where(
            RouteTransitionRow.route_id == route_id,
            RouteTransitionRow.to_status == to.value,
            RouteTransitionRow.at == at,
        )
    )
    if exists is None:
        session.add(
            RouteTransitionRow(
                route_id=route_id,
                plan_id=row.plan_id,
                depot_id=plan.depot_id,
                day=plan.day,
                wave=row.wave,
                from_status=current.value,
                to_status=to.value,
                at=at,
                actor=actor,
                source=source,
                reason=reason,
                route_version=row.version,
                planned_departure=row.starts_at,
            )  # fmt: skip
        )
    log_change(
        session, STATUS_ENTITY, route_id, "update", actor=actor,
        before={"status": current.value, "version": before_version},
        after={"status": to.value, "version": row.version, "at": at.astimezone(UTC).isoformat(),
               "source": source, "reason": reason},
    )  # fmt: skip
    session.flush()
    return transition


@dataclass(frozen=True)
class RouteState:
    """A route as stored, for release commands: status, version, orders, dock, plan."""

    route_id: str
    status: RouteStatus
    version: int
    orders: tuple[str, ...]
    dock_id: str | None
    plan_id: str
    vehicle_id: str


def route_state(session: Session, route_id: str) -> RouteState:
    """The stored route (KeyError when there is none)."""
    row = session.get(RouteRow, route_id)
    if row is None:
        raise KeyError(f"no route {route_id!r} in the store")
    return RouteState(route_id, RouteStatus(row.status), row.version,
                      tuple(s.order_id for s in row.stops), row.dock_id, row.plan_id,
                      row.vehicle_id)  # fmt: skip


def _transition_from_row(r: RouteTransitionRow) -> Transition:
    return Transition(r.route_id, RouteStatus(r.from_status), RouteStatus(r.to_status), r.at,
                      r.actor, r.source, r.reason, r.route_version, r.planned_departure,
                      r.wave)  # fmt: skip


def transitions(session: Session, depot_id: str, day: date) -> list[Transition]:
    """Every status change of the day's routes, oldest first."""
    rows = session.scalars(
        select(RouteTransitionRow)
        .where(RouteTransitionRow.depot_id == depot_id, RouteTransitionRow.day == day)
        .order_by(RouteTransitionRow.at, RouteTransitionRow.id)
    )
    return [_transition_from_row(r) for r in rows]


def copy_transitions(source: Session, target: Session, depot_id: str, day: date) -> int:
    """Copy the day's transitions ``target`` lacks (a local copy catching up); returns how
    many were added."""
    have = {(t.route_id, t.to_status, t.at) for t in transitions(target, depot_id, day)}
    added = 0
    for r in source.scalars(
        select(RouteTransitionRow).where(
            RouteTransitionRow.depot_id == depot_id, RouteTransitionRow.day == day
        )
    ):
        if (r.route_id, RouteStatus(r.to_status), r.at) in have:
            continue
        target.add(RouteTransitionRow(**{c: getattr(r, c) for c in _TRANSITION_COLUMNS}))
        added += 1
    target.flush()
    return added


_OVERRIDE_COLUMNS = ("key", "route_id", "plan_id", "check_name", "reason", "actor", "role", "at",
                     "orders")  # fmt: skip
_SCAN_COLUMNS = ("event_id", "depot_id", "dock_id", "route_id", "order_id", "kind", "scanned",
                 "expected", "ts", "received_at", "source", "actor")  # fmt: skip


def _utc(moment: datetime) -> datetime:
    """One instant however a database hands it back (naive UTC or aware)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class ReleaseRecords:
    """A day's release history as plain rows: transitions, overrides and dock scans (what a
    local copy takes from the shared database when it catches up)."""

    transitions: tuple[dict[str, Any], ...] = ()
    overrides: tuple[dict[str, Any], ...] = ()
    scans: tuple[dict[str, Any], ...] = ()


def release_records(session: Session, depot_id: str, day: date,
                    route_ids: Sequence[str]) -> ReleaseRecords:  # fmt: skip
    """The day's transitions, and the overrides and scans of ``route_ids``."""
    trans = session.scalars(select(RouteTransitionRow).where(
        RouteTransitionRow.depot_id == depot_id, RouteTransitionRow.day == day))  # fmt: skip
    overrides: list[dict[str, Any]] = []
    scans: list[dict[str, Any]] = []
    for chunk in _chunks(list(route_ids)):
        for o in session.scalars(
            select(GateOverrideRow).where(GateOverrideRow.route_id.in_(chunk))
        ):
            overrides.append({c: getattr(o, c) for c in _OVERRIDE_COLUMNS})
        for k in session.scalars(select(DockScanRow).where(DockScanRow.route_id.in_(chunk))):
            scans.append({c: getattr(k, c) for c in _SCAN_COLUMNS})
    return ReleaseRecords(tuple({c: getattr(r, c) for c in _TRANSITION_COLUMNS} for r in trans),
                          tuple(overrides), tuple(scans))  # fmt: skip


def add_release_records(session: Session, records: ReleaseRecords) -> int:
    """Add the rows of ``records`` that ``session`` lacks (transitions by route, status and
    time; overrides by key; scans by event id); returns how many were added."""
    added = 0
    if records.transitions:
        days = {(t["depot_id"], t["day"]) for t in records.transitions}
        have = {(t.route_id, t.to_status.value, _utc(t.at)) for d, day in days
                for t in transitions(session, d, day)}  # fmt: skip
        for t in records.transitions:
            if (t["route_id"], t["to_status"], _utc(t["at"])) not in have:
                session.add(RouteTransitionRow(**t))
                added += 1
    added += _add_missing(session, GateOverrideRow, "key", records.overrides)
    added += _add_missing(session, DockScanRow, "event_id", records.scans)
    session.flush()
    return added


def _add_missing(session: Session, row_type: Any, key: str, rows: Sequence[dict[str, Any]]) -> int:
    """Adds the ``rows`` whose ``key`` column is not stored yet; how many were added."""
    column = getattr(row_type, key)
    stored: set[str] = set()
    for chunk in _chunks([r[key] for r in rows]):
        stored.update(session.scalars(select(column).where(column.in_(chunk))))
    fresh = [r for r in rows if r[key] not in stored]
    session.add_all(row_type(**r) for r in fresh)
    return len(fresh)


_TRANSITION_COLUMNS = (
    "route_id", "plan_id", "depot_id", "day", "wave", "from_status", "to_status", "at",
    "actor", "source", "reason", "route_version", "planned_departure",
)  # fmt: skip


def dispatch_records(session: Session, depot_id: str, day: date) -> list[DispatchRecord]:
    """Per route of the day's plan: planned departure, first release, first departure
    (what on-time dispatch is computed from)."""
    plan = session.scalar(select(PlanRow).where(PlanRow.depot_id == depot_id, PlanRow.day == day))
    if plan is None:
        return []
    released: dict[str, Transition] = {}
    departed: dict[str, Transition] = {}
    for t in transitions(session, depot_id, day):
        if t.to_status is RouteStatus.RELEASED:
            released.setdefault(t.route_id, t)
        elif t.to_status is RouteStatus.ACTIVE:
            departed.setdefault(t.route_id, t)
    out = []
    for r in plan.routes:
        if not r.stops:
            continue
        rel, dep = released.get(r.id), departed.get(r.id)
        planned = rel.planned_departure if rel and rel.planned_departure else r.starts_at
        out.append(DispatchRecord(r.id, r.wave, planned, rel.at if rel else None,
                                  dep.at if dep else None))  # fmt: skip
    return out


# -- dock scans ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    """A dock's report about a route's loading (or a person's mark): ``loaded`` /
    ``unloaded`` one order, ``count`` (``scanned`` of ``expected`` for the route), or
    ``complete`` (marked loaded by hand)."""

    event_id: str
    depot_id: str
    dock_id: str
    route_id: str
    kind: str
    ts: datetime
    order_id: str | None = None
    scanned: int | None = None
    expected: int | None = None
    source: str = "mqtt"
    actor: str = ""


SCAN_KINDS = ("loaded", "unloaded", "count", "complete")


def add_scans(session: Session, scans: Iterable[Scan]) -> list[Scan]:
    """Store scans not stored yet (idempotent by ``event_id``); returns the new ones."""
    batch = {s.event_id: s for s in scans}
    ids = list(batch)
    known: set[str] = set()
    for chunk in _chunks(ids):
        known.update(session.scalars(select(DockScanRow.event_id)
                                     .where(DockScanRow.event_id.in_(chunk))))  # fmt: skip
    now = datetime.now(UTC)
    new = [s for eid, s in batch.items() if eid not in known]
    for s in new:
        if s.kind not in SCAN_KINDS:
            raise ValueError(f"scan {s.event_id}: kind {s.kind!r} is not one of {SCAN_KINDS}")
        session.add(
            DockScanRow(
                event_id=s.event_id,
                depot_id=s.depot_id,
                dock_id=s.dock_id,
                route_id=s.route_id,
                order_id=s.order_id,
                kind=s.kind,
                scanned=s.scanned,
                expected=s.expected,
                ts=s.ts,
                received_at=now,
                source=s.source,
                actor=s.actor,
            )  # fmt: skip
        )
    session.flush()
    return new


def loading_states(session: Session, orders: Mapping[str, Sequence[str]]) -> dict[str, Loading]:
    """route id -> its loading, for the routes of ``orders`` (route id -> its order ids):
    orders scanned loaded (and not unloaded since) of the route's orders, or the dock's
    latest count, whichever says more; ``marked_by`` when a person marked it loaded."""
    ids = list(orders)
    rows: list[DockScanRow] = []
    for chunk in _chunks(ids):
        rows.extend(session.scalars(select(DockScanRow).where(DockScanRow.route_id.in_(chunk))))
    rows.sort(key=lambda r: (r.ts, r.id))
    loaded: dict[str, set[str]] = {rid: set() for rid in ids}
    counted: dict[str, int] = {}
    marked: dict[str, str] = {}
    dock: dict[str, str] = {}
    for r in rows:
        dock[r.route_id] = r.dock_id
        if r.kind == "loaded" and r.order_id:
            loaded[r.route_id].add(r.order_id)
        elif r.kind == "unloaded" and r.order_id:
            loaded[r.route_id].discard(r.order_id)
            marked.pop(r.route_id, None)
        elif r.kind == "count" and r.scanned is not None:
            counted[r.route_id] = r.scanned
        elif r.kind == "complete":
            marked[r.route_id] = r.actor or "someone"
    out = {}
    for rid, order_ids in orders.items():
        expected = len(order_ids)
        scanned = len(loaded[rid] & set(order_ids))
        scanned = min(expected, max(scanned, counted.get(rid, 0)))
        by = marked.get(rid, "") if scanned >= expected else ""
        out[rid] = Loading(scanned, expected, by, dock.get(rid))
    return out


# -- gate overrides ------------------------------------------------------------------------


def add_override(
    session: Session,
    *,
    key: str,
    route_id: str,
    plan_id: str,
    check: str,
    reason: str,
    actor: str,
    role: str,
    at: datetime,
    orders: Sequence[str],
) -> bool:
    """Store a supervisor's override of a red check (idempotent by ``key``), with a change
    log row; False when it was stored already."""
    if not reason.strip():
        raise ValueError("an override needs a written reason")
    if session.scalar(select(GateOverrideRow.id).where(GateOverrideRow.key == key)) is not None:
        return False
    session.add(GateOverrideRow(key=key, route_id=route_id, plan_id=plan_id, check_name=check,
                                reason=reason.strip(), actor=actor, role=role, at=at,
                                orders=list(orders)))  # fmt: skip
    log_change(session, OVERRIDE_ENTITY, key, "insert", actor=actor,
               after={"route_id": route_id, "check": check, "reason": reason.strip(),
                      "role": role, "orders": list(orders)})  # fmt: skip
    session.flush()
    return True


def load_overrides(
    session: Session, route_orders: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, Override]]:
    """route id -> check -> the newest override that still holds: made while the route
    served exactly the orders it serves now (a changed route needs a new decision)."""
    ids = list(route_orders)
    out: dict[str, dict[str, Override]] = {}
    for chunk in _chunks(ids):
        rows = session.scalars(
            select(GateOverrideRow)
            .where(GateOverrideRow.route_id.in_(chunk))
            .order_by(GateOverrideRow.at, GateOverrideRow.id)
        )
        for r in rows:
            if list(r.orders) == list(route_orders[r.route_id]):
                out.setdefault(r.route_id, {})[r.check_name] = Override(
                    r.check_name, r.actor, r.reason, r.at
                )
    return out


# -- route messages and acknowledgements ---------------------------------------------------


@dataclass(frozen=True)
class Publication:
    """The newest route message sent for a route."""

    route_id: str
    vehicle_id: str
    version: int
    kind: str
    published_at: datetime
    stops: int
    payload: dict[str, Any]


def record_publication(session: Session, pub: Publication, topic: str) -> None:
    session.add(RoutePublicationRow(route_id=pub.route_id, vehicle_id=pub.vehicle_id,
                                    version=pub.version, kind=pub.kind, topic=topic,
                                    published_at=pub.published_at, stops=pub.stops,
                                    payload=pub.payload))  # fmt: skip
    session.flush()


def publications_mark(session: Session) -> tuple[int, int]:
    """How many route messages are recorded and the newest one's id: it changes whenever
    one is recorded (they are only ever added), so a reader can keep what it read."""
    return rows_mark(session, RoutePublicationRow.id)


def last_publications(session: Session, route_ids: Sequence[str]) -> dict[str, Publication]:
    """route id -> the newest message sent for it (none: never sent)."""
    out: dict[str, Publication] = {}
    for chunk in _chunks(list(route_ids)):
        rows = session.scalars(
            select(RoutePublicationRow)
            .where(RoutePublicationRow.route_id.in_(chunk))
            .order_by(RoutePublicationRow.published_at, RoutePublicationRow.id)
        )
        for r in rows:
            out[r.route_id] = Publication(r.route_id, r.vehicle_id, r.version, r.kind,
                                          r.published_at, r.stops, r.payload)  # fmt: skip
    return out


@dataclass(frozen=True)
class Ack:
    """A driver's device confirmed a route version."""

    event_id: str
    route_id: str
    vehicle_id: str
    version: int
    ts: datetime


def add_acks(session: Session, acks: Iterable[Ack]) -> list[Ack]:
    """Store acknowledgements not stored yet (idempotent by ``event_id``)."""
    batch = {a.event_id: a for a in acks}
    known: set[str] = set()
    for chunk in _chunks(list(batch)):
        known.update(session.scalars(select(RouteAckRow.event_id)
                                     .where(RouteAckRow.event_id.in_(chunk))))  # fmt: skip
    now = datetime.now(UTC)
    new = [a for eid, a in batch.items() if eid not in known]
    for a in new:
        session.add(RouteAckRow(event_id=a.event_id, route_id=a.route_id,
                                vehicle_id=a.vehicle_id, version=a.version, ts=a.ts,
                                received_at=now))  # fmt: skip
    session.flush()
    return new


def last_acks(session: Session, route_ids: Sequence[str]) -> dict[str, Ack]:
    """route id -> the acknowledgement of the highest version (none: never confirmed)."""
    out: dict[str, Ack] = {}
    for chunk in _chunks(list(route_ids)):
        rows = session.scalars(
            select(RouteAckRow)
            .where(RouteAckRow.route_id.in_(chunk))
            .order_by(RouteAckRow.version, RouteAckRow.ts)
        )
        for r in rows:
            out[r.route_id] = Ack(r.event_id, r.route_id, r.vehicle_id, r.version, r.ts)
    return out
