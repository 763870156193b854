"""A depot's day from the store, written as one recorded-day file.

What the store keeps of the day goes in: the day's input, every plan version (the change
log holds each plan saved in full and each route as every command left it), every
breadcrumb and stop event of the day's vehicles, the exceptions with their raise,
acknowledge and resolve times, every command (a person's or a rule's) with before and
after, the rules in force and their firings, the dock's scans, and when late orders came.
Exception updates between raise and resolve are not kept by the store: that table stays
empty for a day exported from a desk (a day the twin drove has them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.store import repository
from app.store.convert import route_from_snapshot
from app.store.dayfile import DayFileWriter
from app.store.dayjson import day_to_json, plan_from_json, plan_to_json
from app.store.models import (
    BreadcrumbRow,
    ChangeLogRow,
    DockScanRow,
    ExceptionRow,
    OrderRow,
    RouteRow,
    RuleFiringRow,
    StopEventRow,
)
from app.store.repository_plan import load_plan
from app.store.repository_rules import rules_for
from engine.model import Plan

_CHUNK = 20_000
#: Commands within this long of each other by one actor are one plan version.
_SAME_VERSION_S = 2.0


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _dumps(doc: Any) -> str | None:
    return None if doc is None else json.dumps(doc, separators=(",", ":"), default=str)


def export_day(session: Session, depot_id: str, day: date, path: str | Path, *,
               workstation: str = "", actor: str = "") -> dict[str, int]:  # fmt: skip
    """Write the day to ``path`` (complete, or not at all); the rows written per table.
    Raises ``LookupError`` when the store holds no plan for that day."""
    day_input = repository.load_day(session, depot_id, day)
    depot = day_input.depot(depot_id)
    start, end = repository.depot_day_bounds(depot.timezone, day)
    until = end + timedelta(hours=6)  # vehicles still out after midnight
    plan = load_plan(session, depot_id, day)
    if plan is None:
        raise LookupError(f"the store has no plan for {depot_id} on {day}: nothing to record")
    meta = {"depot_id": depot_id, "day": day.isoformat(), "timezone": depot.timezone,
            "source": "workstation", "workstation": workstation, "exported_by": actor,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
    writer = DayFileWriter(path, meta)
    try:
        counts = _write(session, writer, day_input, plan, start, until)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return counts


def _write(session, writer: DayFileWriter, day_input, plan: Plan, start, until) -> dict[str, int]:
    counts: dict[str, int] = {}
    depot_id = plan.depot_id
    writer.json_row("day_input", day_to_json(day_input))
    versions = list(_plan_versions(session, plan, start, until))
    writer.rows("plan_versions", versions)
    counts["plan_versions"] = len(versions)
    first_plan_at = versions[0][1] if versions else start.timestamp()
    vehicles = [v.id for v in day_input.vehicles if v.depot_id == depot_id]
    order_ids = {o.id for o in day_input.orders}
    counts["fixes"] = _stream(writer, "fixes", session.execute(
        select(BreadcrumbRow.vehicle_id, BreadcrumbRow.ts, BreadcrumbRow.lat, BreadcrumbRow.lon,
               BreadcrumbRow.speed_kmh, BreadcrumbRow.heading_deg)
        .where(BreadcrumbRow.vehicle_id.in_(vehicles), BreadcrumbRow.ts >= start,
               BreadcrumbRow.ts < until).order_by(BreadcrumbRow.vehicle_id, BreadcrumbRow.ts)
    ), lambda r: (r[0], r[1].timestamp(), r[2], r[3], r[4], r[5]))  # fmt: skip
    counts["events"] = _stream(writer, "events", session.execute(
        select(StopEventRow.event_id, StopEventRow.vehicle_id, StopEventRow.ts, StopEventRow.type,
               StopEventRow.stop_id, StopEventRow.reason)
        .where(StopEventRow.vehicle_id.in_(vehicles), StopEventRow.ts >= start,
               StopEventRow.ts < until).order_by(StopEventRow.ts)
    ), lambda r: (r[0], r[1], r[2].timestamp(), r[3], r[4], r[5] or None))  # fmt: skip
    exceptions = session.scalars(select(ExceptionRow).where(
        ExceptionRow.detected_at >= start, ExceptionRow.detected_at < until,
        or_(ExceptionRow.vehicle_id.in_(vehicles), ExceptionRow.order_id.in_(order_ids),
            and_(ExceptionRow.vehicle_id.is_(None), ExceptionRow.order_id.is_(None)))))  # fmt: skip
    rows: list[tuple] = [(e.id, e.type, e.severity, e.vehicle_id, e.order_id, e.detected_at.timestamp(),
             _ts(e.acknowledged_at), e.acknowledged_by or None, _ts(e.resolved_at),
             e.resolved_by or None, e.detail, e.suggested_action, None) for e in exceptions]  # fmt: skip
    writer.rows("exceptions", rows)
    counts["exceptions"] = len(rows)
    commands = []
    for r in session.scalars(select(ChangeLogRow).where(
            ChangeLogRow.entity == "command", ChangeLogRow.at >= start, ChangeLogRow.at < until)
            .order_by(ChangeLogRow.id)):  # fmt: skip
        after = r.after or {}
        rule_id, rule_version = _rule_of(r.actor)
        commands.append((r.entity_id, r.at.timestamp(), r.actor, str(after.get("command", "")),
                         str(after.get("label", "")), rule_id, rule_version, _dumps(r.before),
                         _dumps(after)))  # fmt: skip
    writer.rows("commands", commands)
    counts["commands"] = len(commands)
    firings = session.scalars(select(RuleFiringRow).where(
        RuleFiringRow.depot_id == depot_id, RuleFiringRow.day == plan.day)
        .order_by(RuleFiringRow.at))  # fmt: skip
    rows2: list[tuple] = [(f.id, f.at.timestamp(), f.rule_id, f.rule_version, f.mode, f.action, f.subject,
             f.vehicle_id, f.order_id, f.status, f.text, _dumps(f.effect.get("moved", [])),
             f.lateness_before_s, f.lateness_after_s, f.command_id) for f in firings]  # fmt: skip
    writer.rows("rule_firings", rows2)
    counts["rule_firings"] = len(rows2)
    rules = rules_for(session, depot_id)
    writer.rows("rules", [(r.id, r.version, r.depot_id, _dumps(r.to_json())) for r in rules])
    counts["rules"] = len(rules)
    scans = session.scalars(select(DockScanRow).where(
        DockScanRow.depot_id == depot_id, DockScanRow.ts >= start, DockScanRow.ts < until))  # fmt: skip
    rows3: list[tuple] = [(s.dock_id, s.ts.timestamp(), s.kind, _dumps({
        "event_id": s.event_id, "route_id": s.route_id, "order_id": s.order_id,
        "scanned": s.scanned, "expected": s.expected, "source": s.source, "actor": s.actor,
    })) for s in scans]  # fmt: skip
    writer.rows("dock_events", rows3)
    counts["dock_events"] = len(rows3)
    known = [(oid, at.timestamp()) for oid, at in session.execute(
        select(OrderRow.id, OrderRow.received_at).where(OrderRow.id.in_(order_ids),
                                                        OrderRow.received_at.is_not(None)))
        if at is not None and at.timestamp() > first_plan_at]  # fmt: skip
    writer.rows("orders_known", known)
    counts["orders_known"] = len(known)
    return counts


def _stream(writer: DayFileWriter, table: str, result: Iterable, row) -> int:
    n = 0
    chunk: list = []
    for r in result:
        chunk.append(row(r))
        if len(chunk) >= _CHUNK:
            writer.rows(table, chunk)
            n += len(chunk)
            chunk = []
    writer.rows(table, chunk)
    return n + len(chunk)


def _rule_of(actor: str) -> tuple[str | None, int | None]:
    """``rule:late-move@v3`` -> ("late-move", 3); a person -> (None, None)."""
    if not actor.startswith("rule:") or "@v" not in actor:
        return None, None
    rid, _, version = actor[5:].rpartition("@v")
    return rid, int(version) if version.isdigit() else None


def _plan_versions(session: Session, plan: Plan, start, until) -> Iterator[tuple]:
    """(version, at, actor, source, command id, plan JSON) of every plan of the day, read
    back from the change log: whole plans saved, and routes as each command left them."""
    route_ids = [
        r for (r,) in session.execute(select(RouteRow.id).where(RouteRow.plan_id == plan.id))
    ]
    rows = session.scalars(select(ChangeLogRow).where(
        ChangeLogRow.at >= start - timedelta(days=1), ChangeLogRow.at < until,
        or_(and_(ChangeLogRow.entity == "plan", ChangeLogRow.entity_id == plan.id),
            and_(ChangeLogRow.entity == "route", ChangeLogRow.entity_id.in_(route_ids))))
        .order_by(ChangeLogRow.id))  # fmt: skip
    current: Plan | None = None
    version, last_at, last_actor = 0, None, None
    pending: tuple | None = None
    for r in rows:
        after = r.after or {}
        if r.entity == "plan":
            snapshot = after.get("snapshot")
            if snapshot is None:
                continue  # saved by a desk that did not keep whole plans
            current = plan_from_json(snapshot)
        elif current is not None:
            route = route_from_snapshot(after)
            current = Plan(current.id, current.depot_id, current.day,
                           tuple(route if x.id == route.id else x for x in current.routes),
                           current.unassigned)  # fmt: skip
        else:
            continue
        at = r.at.timestamp()
        same = (pending is not None and last_actor == r.actor and last_at is not None
                and at - last_at <= _SAME_VERSION_S)  # fmt: skip
        if not same:
            if pending is not None:
                yield pending
            version += 1
        last_at, last_actor = at, r.actor
        pending = (version, at, r.actor, r.entity, None, _dumps(plan_to_json(current)))
    if pending is not None:
        yield pending
    elif version == 0:  # no whole plan in the log: the plan as stored is the one version
        yield (1, start.timestamp(), "store", "plan", None, _dumps(plan_to_json(plan)))
