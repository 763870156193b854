"""Back-fill the shared database with telemetry the workstation stored while offline.

While the shared database is unreachable a depot-local broker may still deliver fixes and
stop events; they land in the local copy. On reconnect ``backfill_telemetry`` copies the
breadcrumbs and stop events newer than its last mark (idempotent: ``(vehicle_id, seq, ts)`` and
``event_id`` are unique, so a repeat is skipped) and moves each vehicle's latest position
forwards only. The breadcrumbs the shared database takes are folded into their vehicles'
trail totals in the same transaction (``app.store.trail_totals.keep_totals``, as the live
writer does): a fix older than a van's kept totals has its day folded again, so the KPIs
count what the offline desk stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.store import Store
from app.store.changelog import log_change
from app.store.models import (
    BreadcrumbRow,
    ChangeLogRow,
    StopEventRow,
    VehiclePositionRow,
    VehicleRow,
)
from app.store.trail_totals import keep_totals

MARK_ENTITY = "telemetry_backfill"
BATCH = 5000
_CRUMB = ("vehicle_id", "seq", "ts", "lat", "lon", "speed_kmh", "heading_deg")
_EVENT = ("event_id", "vehicle_id", "stop_id", "type", "ts", "reason", "received_at")
_POSITION = ("vehicle_id", "seq", "ts", "lat", "lon", "speed_kmh", "heading_deg",
             "odometer_km", "accuracy_m", "received_at")  # fmt: skip


def _insert(session: Session, model: Any):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def _mark(session: Session) -> dict[str, int]:
    row = session.scalar(
        select(ChangeLogRow)
        .where(ChangeLogRow.entity == MARK_ENTITY)
        .order_by(ChangeLogRow.id.desc())
        .limit(1)
    )
    after = (row.after or {}) if row is not None else {}
    return {
        "breadcrumb": int(after.get("breadcrumb", 0)),
        "stop_event": int(after.get("stop_event", 0)),
    }


def backfill_telemetry(local: Store, shared: Store) -> tuple[int, int, int]:
    """Copy what the local copy holds beyond its mark; returns (breadcrumbs, events,
    positions) sent (repeats included, the shared database skips them)."""
    sent = [0, 0, 0]
    while True:
        with local.read_session() as s:
            mark = _mark(s)
            crumbs = s.scalars(
                select(BreadcrumbRow).where(BreadcrumbRow.id > mark["breadcrumb"])
                .order_by(BreadcrumbRow.id).limit(BATCH)
            ).all()  # fmt: skip
            events = s.scalars(
                select(StopEventRow).where(StopEventRow.id > mark["stop_event"])
                .order_by(StopEventRow.id).limit(BATCH)
            ).all()  # fmt: skip
            positions = s.scalars(select(VehiclePositionRow)).all() if not any(sent) else []
            crumb_rows = [{k: getattr(r, k) for k in _CRUMB} for r in crumbs]
            event_rows = [{k: getattr(r, k) for k in _EVENT} for r in events]
            pos_rows = [{**{k: getattr(r, k) for k in _POSITION}, "version": 1} for r in positions]
        if not (crumb_rows or event_rows or pos_rows):
            return sent[0], sent[1], sent[2]
        with shared.session() as s:
            if crumb_rows:
                stmt = _insert(s, BreadcrumbRow).on_conflict_do_nothing(
                    index_elements=["vehicle_id", "seq", "ts"]
                )
                # The rows the shared database took (not those it had): their vans' trail
                # totals are kept with them, as ``write_telemetry`` keeps them.
                stmt = stmt.returning(BreadcrumbRow.id, BreadcrumbRow.vehicle_id,
                                      BreadcrumbRow.ts, BreadcrumbRow.lat, BreadcrumbRow.lon)  # fmt: skip
                keep_totals(s, [tuple(r) for r in s.execute(stmt, crumb_rows).all()])
            if event_rows:
                stmt = _insert(s, StopEventRow).on_conflict_do_nothing(index_elements=["event_id"])
                s.execute(stmt, event_rows)
            known = set(s.scalars(select(VehicleRow.id)))
            pos_rows = [r for r in pos_rows if r["vehicle_id"] in known]
            if pos_rows:
                table = VehiclePositionRow.__table__
                stmt = _insert(s, VehiclePositionRow)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["vehicle_id"],
                    set_={k: stmt.excluded[k] for k in _POSITION if k != "vehicle_id"}
                    | {"version": table.c.version + 1},
                    where=table.c.ts < stmt.excluded.ts,
                )
                s.execute(stmt, pos_rows)
        sent = [sent[0] + len(crumb_rows), sent[1] + len(event_rows), sent[2] + len(pos_rows)]
        if crumb_rows or event_rows:
            with local.session() as s:
                after = {
                    "breadcrumb": crumbs[-1].id if crumbs else mark["breadcrumb"],
                    "stop_event": events[-1].id if events else mark["stop_event"],
                }
                log_change(s, MARK_ENTITY, "shared", "update", actor="sync", after=after)
        elif not (crumb_rows or event_rows):
            return sent[0], sent[1], sent[2]
