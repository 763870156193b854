"""Telemetry persistence: breadcrumbs, latest positions and stop events, in batches.

A :class:`TelemetryWriter` owns a writer thread: the consumer hands it what the live state
applied (non-blocking), and every ``interval_s`` it writes everything pending —
breadcrumbs and events idempotently (``ON CONFLICT DO NOTHING`` on ``(vehicle_id, seq,
ts)`` and ``event_id``), positions upserted only forwards in time — in short
transactions of at most ``rows_per_write`` rows, each holding whole vehicles (their
breadcrumbs, trail totals and position). Between two of them the other writers take their
turn: on SQLite one transaction writes at a time, and one transaction of everything
pending at 2,000 vehicles held the database for 5-10 s, while the window's own writes (a
rule's firing, a route's departure) waited and the window with them.

When a write fails the writer asks the database whether it is reachable at all. If not (a
blip, a restart), the batch is kept and retried, so nothing is lost; the queue is bounded,
and past the bound the oldest breadcrumbs go first, counted. If it is, the fault is in the
data: the batch is split in halves until the rows the database refuses stand alone, and
those are set aside, counted by reason, while every other row is written. One bad row
never blocks the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.store.models_day import VehicleRow
from app.store.models_live import (
    BreadcrumbRow,
    DeviceMapRow,
    ExceptionRow,
    StopEventRow,
    VehiclePositionRow,
)
from app.store.trail_totals import keep_totals
from app.telemetry.messages import Fix, StopEvent
from app.telemetry.state import Applied

log = logging.getLogger(__name__)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _insert(session: Session, table):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def write_telemetry(
    session: Session,
    crumbs: Iterable[Fix],
    events: Iterable[StopEvent],
    positions: Iterable[Fix],
    *,
    known_vehicles: set[str] | None = None,
) -> tuple[int, int, int]:
    """Write one batch; returns (breadcrumbs, events, positions) rows sent.

    Idempotent: a fix or event already stored is skipped. Positions of vehicles the
    database does not know are left out (they have no row to hang on).
    """
    now = datetime.now(UTC)
    crumb_rows = [
        {
            "vehicle_id": f.vehicle_id,
            "seq": f.seq,
            "ts": _dt(f.ts),
            "lat": f.lat,
            "lon": f.lon,
            "speed_kmh": f.speed_kmh,
            "heading_deg": f.heading_deg,
        }
        for f in crumbs
    ]
    if crumb_rows:
        stmt = _insert(session, BreadcrumbRow).on_conflict_do_nothing(
            index_elements=["vehicle_id", "seq", "ts"]
        )
        # The rows the database took (not those it had): their vehicles' trail totals
        # for the KPIs are kept in the same transaction.
        stmt = stmt.returning(BreadcrumbRow.id, BreadcrumbRow.vehicle_id, BreadcrumbRow.ts,
                              BreadcrumbRow.lat, BreadcrumbRow.lon)  # fmt: skip
        taken = session.execute(stmt, crumb_rows).all()
        keep_totals(session, [tuple(r) for r in taken])
    event_rows = [
        {
            "event_id": e.event_id,
            "vehicle_id": e.vehicle_id,
            "stop_id": e.stop_id,
            "type": e.type,
            "ts": _dt(e.ts),
            "reason": e.reason or "",
            "received_at": now,
        }
        for e in events
    ]
    if event_rows:
        stmt = _insert(session, StopEventRow).on_conflict_do_nothing(index_elements=["event_id"])
        session.execute(stmt, event_rows)
    pos_rows = [
        {
            "vehicle_id": f.vehicle_id,
            "seq": f.seq,
            "ts": _dt(f.ts),
            "lat": f.lat,
            "lon": f.lon,
            "speed_kmh": f.speed_kmh,
            "heading_deg": f.heading_deg,
            "accuracy_m": f.accuracy_m,
            "received_at": now,
            "version": 1,
        }
        for f in positions
        if known_vehicles is None or f.vehicle_id in known_vehicles
    ]
    if pos_rows:
        table = VehiclePositionRow.__table__
        stmt = _insert(session, VehiclePositionRow)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["vehicle_id"],
            set_={
                name: excluded[name]
                for name in (
                    "seq",
                    "ts",
                    "lat",
                    "lon",
                    "speed_kmh",
                    "heading_deg",
                    "accuracy_m",
                    "received_at",
                )
            }
            | {"version": table.c.version + 1},
            where=table.c.ts < excluded.ts,
        )
        session.execute(stmt, pos_rows)
    return len(crumb_rows), len(event_rows), len(pos_rows)


def load_device_map(session: Session) -> dict[str, str]:
    """The user's device table: device key -> vehicle id."""
    return dict(session.execute(select(DeviceMapRow.device_key, DeviceMapRow.vehicle_id)).all())


def save_device(session: Session, device_key: str, vehicle_id: str) -> None:
    """Map (or re-map) a tracker device to a vehicle."""
    if not device_key.strip():
        raise ValueError("device key must not be empty")
    if session.get(VehicleRow, vehicle_id) is None:
        raise ValueError(f"device {device_key!r}: vehicle {vehicle_id!r} does not exist")
    row = session.get(DeviceMapRow, device_key)
    now = datetime.now(UTC)
    if row is None:
        session.add(DeviceMapRow(device_key=device_key, vehicle_id=vehicle_id, updated_at=now))
    elif row.vehicle_id != vehicle_id:
        row.vehicle_id, row.updated_at = vehicle_id, now


def remove_device(session: Session, device_key: str) -> bool:
    """Forget a tracker device's mapping; False when it was not mapped."""
    row = session.get(DeviceMapRow, device_key)
    if row is None:
        return False
    session.delete(row)
    return True


def list_devices(session: Session) -> list[tuple[str, str, datetime]]:
    """The device table as (device key, vehicle id, updated at), by device key."""
    rows = session.execute(
        select(DeviceMapRow.device_key, DeviceMapRow.vehicle_id, DeviceMapRow.updated_at).order_by(
            DeviceMapRow.device_key
        )
    ).all()
    return [(key, vid, at) for key, vid, at in rows]


def load_positions(session: Session) -> list[Fix]:
    """The stored latest position of every vehicle (to restore the live state)."""
    rows = session.execute(select(VehiclePositionRow)).scalars()
    return [
        Fix(
            r.vehicle_id,
            r.seq,
            r.ts.timestamp(),
            r.lat,
            r.lon,
            r.speed_kmh,
            r.heading_deg,
            r.accuracy_m,
            "store",
        )
        for r in rows
    ]


def newest_telemetry(
    session: Session, vehicle_ids: Iterable[str], since: datetime, until: datetime
) -> datetime | None:
    """The time of the newest stored fix or stop event of ``vehicle_ids`` with
    ``since <= ts < until`` (where a restarted day left off), or None."""
    ids = list(vehicle_ids)
    if not ids:
        return None
    found = []
    for row in (BreadcrumbRow, StopEventRow):
        q = select(func.max(row.ts)).where(row.vehicle_id.in_(ids), row.ts >= since, row.ts < until)
        if (value := session.scalar(q)) is not None:
            found.append(value)
    return max(found, default=None)


def load_stop_events(session: Session, since: datetime) -> list[StopEvent]:
    """Stop events from ``since`` on, oldest first (to restore stop states)."""
    rows = session.execute(
        select(StopEventRow).where(StopEventRow.ts >= since).order_by(StopEventRow.ts)
    ).scalars()
    return [
        StopEvent(r.event_id, r.vehicle_id, r.ts.timestamp(), r.type, r.stop_id, r.reason or None)
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class RefusedRow:
    """A row the database would not take: set aside so the others are written."""

    at: float
    kind: str  # "breadcrumb", "event" or "position"
    key: str  # vehicle and seq, or event id
    reason: str


#: How often the writer writes what is pending, at most. Each write costs per vehicle (its
#: trail totals read and written again, its index pages, its position) more than per
#: fix: written as soon as anything was pending, a live day at 2,000 vehicles wrote a few
#: hundred vans' fixes at a time and the writer fell behind.
WRITE_EVERY_S = 2.0

#: Rows (breadcrumbs and positions) a transaction of the telemetry writer holds at most,
#: but never part of a vehicle's: each vehicle's trail totals are worked out once a batch.
ROWS_PER_WRITE = 800


def by_vehicles(
    crumbs: list[Fix], events: list[StopEvent], positions: list[Fix], limit: int
) -> list[tuple[list[Fix], list[StopEvent], list[Fix]]]:
    """A batch in parts of whole vehicles (their breadcrumbs and position), each of at most
    ``limit`` rows unless one vehicle has more; the events go with the first part."""
    trails: dict[str, list[Fix]] = {}
    for fix in crumbs:
        trails.setdefault(fix.vehicle_id, []).append(fix)
    latest = {fix.vehicle_id: fix for fix in positions}
    parts: list[tuple[list[Fix], list[StopEvent], list[Fix]]] = []
    part_crumbs: list[Fix] = []
    part_positions: list[Fix] = []
    # By vehicle id: the parts' rows then lie apart in the tables' indexes (vehicle first),
    # so two transactions seldom write the same index page.
    for vid in sorted({*trails, *latest}):
        trail, position = trails.get(vid, []), latest.get(vid)
        size = len(trail) + (position is not None)
        if (part_crumbs or part_positions) and (
            len(part_crumbs) + len(part_positions) + size > limit
        ):
            parts.append((part_crumbs, [], part_positions))
            part_crumbs, part_positions = [], []
        part_crumbs.extend(trail)
        if position is not None:
            part_positions.append(position)
    if part_crumbs or part_positions or not parts:
        parts.append((part_crumbs, [], part_positions))
    first_crumbs, _none, first_positions = parts[0]
    parts[0] = (first_crumbs, list(events), first_positions)
    return parts


class TelemetryWriter:
    """Batches what the live state applied and writes it on its own thread."""

    def __init__(
        self,
        store,
        *,
        interval_s: float = WRITE_EVERY_S,
        retry_s: float = 2.0,
        max_pending: int = 500_000,
        keep_refused: int = 100,
        rows_per_write: int = ROWS_PER_WRITE,
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.rows_per_write = max(1, rows_per_write)
        self.retry_s = retry_s
        self.max_pending = max_pending  # breadcrumbs, and as many events, held at most
        self._cond = threading.Condition()
        self._crumbs: deque[Fix] = deque()
        self._events: deque[StopEvent] = deque()
        self._positions: dict[str, Fix] = {}
        self._stop = False
        self._busy = False
        self._hurry = False  # a flush wants what is pending written now
        self._last_start = 0.0
        self._thread: threading.Thread | None = None
        self._known: set[str] = set()
        self._known_at = 0.0
        self.written = {"breadcrumbs": 0, "events": 0, "positions": 0}
        self.last_error = ""
        self.stalls = 0  # batches put back because the database was unreachable
        self.dropped = 0  # breadcrumbs and events let go while the queue was full
        self.refused: Counter[str] = Counter()  # rows set aside, by reason
        self.last_refused: deque[RefusedRow] = deque(maxlen=keep_refused)
        self._dropped_logged = 0.0

    def __call__(self, applied: Applied) -> None:
        self.submit(applied)

    def submit(self, applied: Applied) -> None:
        """Queue what was applied (never blocks on the database)."""
        with self._cond:
            self._crumbs.extend(applied.breadcrumbs)
            self._events.extend(applied.events)
            for vid, fix in applied.moved.items():
                prev = self._positions.get(vid)
                if prev is None or fix.ts > prev.ts:
                    self._positions[vid] = fix
            self._bound()

    def _bound(self) -> None:
        """Past ``max_pending`` the oldest go first, counted (the caller holds the lock)."""
        over = 0
        for queue in (self._crumbs, self._events):
            while len(queue) > self.max_pending:
                queue.popleft()
                over += 1
        if over:
            self.dropped += over
            if time.monotonic() - self._dropped_logged > 60:
                self._dropped_logged = time.monotonic()
                log.warning(
                    "telemetry writer: the database has not taken a write for a while; "
                    "%d breadcrumbs/events let go so far (oldest first)",
                    self.dropped,
                )

    def pending(self) -> int:
        """Rows waiting to be written."""
        with self._cond:
            return len(self._crumbs) + len(self._events) + len(self._positions)

    def start(self) -> TelemetryWriter:
        self._thread = threading.Thread(target=self._run, name="telemetry-writer", daemon=True)
        self._thread.start()
        return self

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._crumbs or self._events or self._positions or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._hurry = True
                self._cond.notify_all()
                self._cond.wait(min(left, 0.05))
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is pending, then end the thread."""
        self.flush(timeout)
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _take(self) -> tuple[list[Fix], list[StopEvent], list[Fix]]:
        crumbs, events = list(self._crumbs), list(self._events)
        positions = list(self._positions.values())
        self._crumbs.clear()
        self._events.clear()
        self._positions = {}
        return crumbs, events, positions

    def _put_back(self, crumbs: list[Fix], events: list[StopEvent], positions: list[Fix]) -> None:
        with self._cond:
            self._crumbs.extendleft(reversed(crumbs))
            self._events.extendleft(reversed(events))
            for fix in positions:
                self._positions.setdefault(fix.vehicle_id, fix)
            self._bound()

    def _run(self) -> None:
        while True:
            with self._cond:
                due = self._last_start + self.interval_s
                while not (self._stop or self._hurry) and time.monotonic() < due:
                    self._cond.wait(due - time.monotonic())
                self._hurry = False
                self._last_start = time.monotonic()
                if self._stop and not (self._crumbs or self._events or self._positions):
                    return
                batch = self._take()
                self._busy = any(batch)
            if not any(batch):
                continue
            left = self._write_parts(batch)
            if left is not None:  # the database is away: keep the data, say why, retry
                self.stalls += 1
                log.warning(
                    "telemetry write failed (%s); retrying in %.0f s",
                    self.last_error.splitlines()[0],
                    self.retry_s,
                )
                self._put_back(*left)
                with self._cond:
                    self._busy = False
                time.sleep(self.retry_s)
                continue
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _write_parts(
        self, batch: tuple[list[Fix], list[StopEvent], list[Fix]]
    ) -> tuple[list[Fix], list[StopEvent], list[Fix]] | None:
        """Write ``batch`` a part at a time (:func:`by_vehicles`); None when all of it is
        written or set aside, else what is left to retry (from the part that failed on)."""
        parts = by_vehicles(*batch, self.rows_per_write)
        for k, part in enumerate(parts):
            try:
                self._write(*part)
            except Exception as exc:
                rest = (
                    [f for p in parts[k:] for f in p[0]],
                    [e for p in parts[k:] for e in p[1]],
                    [f for p in parts[k:] for f in p[2]],
                )
                # Reachable: the data is at fault, set the refused rows aside. Not: keep all.
                left = self._isolate(*rest) if self._reachable() else rest
                if not any(left):
                    return None
                self.last_error = f"{type(exc).__name__}: {exc}"
                return left
        return None

    def _reachable(self) -> bool:
        """Whether the database answers at all (a refused row is not an outage)."""
        try:
            with self.store.session() as session:
                session.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def _isolate(
        self, crumbs: list[Fix], events: list[StopEvent], positions: list[Fix]
    ) -> tuple[list[Fix], list[StopEvent], list[Fix]]:
        """Write each kind in halves until the refused rows stand alone; set those aside.

        Returns what could not be tried because the database went away meanwhile."""
        left: dict[str, list[Any]] = {"breadcrumb": [], "event": [], "position": []}
        kinds: tuple[tuple[str, list[Any]], ...] = (
            ("breadcrumb", crumbs),
            ("event", events),
            ("position", positions),
        )
        for kind, rows in kinds:
            parts = [rows] if rows else []
            while parts:
                part = parts.pop()
                if any(left.values()):
                    left[kind].extend(part)
                    continue
                try:
                    self._write(
                        part if kind == "breadcrumb" else [],
                        part if kind == "event" else [],
                        part if kind == "position" else [],
                    )
                except Exception as exc:
                    if len(part) > 1:
                        half = len(part) // 2
                        parts += [part[half:], part[:half]]
                    elif self._reachable():
                        self._refuse(kind, part[0], exc)
                    else:
                        left[kind].append(part[0])
        return left["breadcrumb"], left["event"], left["position"]

    def _refuse(self, kind: str, row: Fix | StopEvent, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        key = row.event_id if isinstance(row, StopEvent) else f"{row.vehicle_id} seq {row.seq}"
        self.refused[type(exc).__name__] += 1
        self.last_refused.append(RefusedRow(time.time(), kind, key, reason))
        log.warning(
            "telemetry writer: the database refused %s %s (%s); set aside", kind, key, reason
        )

    def _write(self, crumbs: list[Fix], events: list[StopEvent], positions: list[Fix]) -> None:
        with self.store.session() as session:
            if time.monotonic() - self._known_at > 30 or any(
                f.vehicle_id not in self._known for f in positions
            ):
                self._known = set(session.execute(select(VehicleRow.id)).scalars())
                self._known_at = time.monotonic()
            c, e, p = write_telemetry(
                session, crumbs, events, positions, known_vehicles=self._known
            )
        self.written["breadcrumbs"] += c
        self.written["events"] += e
        self.written["positions"] += p


def save_exception_changes(session: Session, changes) -> None:
    """Store what an :class:`engine.rules.ExceptionTracker` update changed.

    Opened exceptions are inserted, updated ones rewritten (severity, detail, action),
    resolved ones get their resolved time; acknowledgements made by a dispatcher in the
    meantime are kept. Each write bumps the row's version.
    """
    for exc in [*changes.opened, *changes.updated, *changes.resolved]:
        row = session.get(ExceptionRow, exc.id)
        if row is None:
            row = ExceptionRow(
                id=exc.id,
                type=exc.type.value,
                vehicle_id=exc.vehicle_id,
                order_id=exc.order_id,
                detected_at=exc.detected_at,
            )
            session.add(row)
        row.severity = exc.severity.value
        row.detail = exc.detail
        row.suggested_action = exc.suggested_action
        if exc.resolved_at is not None and row.resolved_at is None:
            row.resolved_at = exc.resolved_at
            row.resolved_by = "rule"
