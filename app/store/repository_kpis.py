"""What the day's KPIs and learning read from the store, and what they keep in it.

Reads (functions taking a Session, the same SQL on SQLite and PostgreSQL): a day's stop
events, exceptions, commands, first route publications, breadcrumbs since a moment and the
fixes at the depot; the KPI values of past days (trends); ETA samples; the running totals
of each vehicle's trail; settings and learned profiles. Writes: a day's KPI values
(replaced as a whole), ETA samples (idempotent by stop and moment), trail totals, settings
(versioned, in the change log) and the learned profile.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any, cast

import numpy as np
from sqlalchemy import Select, Table, and_, delete, func, insert, select
from sqlalchemy.orm import Session

from app.store.changelog import log_change
from app.store.models import (
    BreadcrumbRow,
    ChangeLogRow,
    EtaSampleRow,
    ExceptionRow,
    KpiSettingRow,
    KpiTrackRow,
    KpiValueRow,
    LearnedProfileRow,
    PlanRow,
    RoutePublicationRow,
    StopEventRow,
)
from app.store.roles import begin_command

COMMAND_ENTITY = "command"
_CHUNK = 500


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


# -- the day's rows --------------------------------------------------------------------------


def stop_events(
    session: Session, vehicle_ids: Sequence[str], start: datetime, end: datetime
) -> list[tuple[str, str | None, str, datetime]]:
    """(vehicle, stop, type, ts) of the vehicles' events in [start, end), oldest first."""
    out: list[tuple[str, str | None, str, datetime]] = []
    connection = session.connection()  # Core rows: no ORM loading step per event
    # The driver's own tuples (no result row object per event: a day has some 160,000),
    # the time read by its column's own reading; the other columns are text as stored.
    read_ts = StopEventRow.ts.type.result_processor(connection.dialect, None)
    for part in _chunks(sorted(vehicle_ids)):
        q = select(StopEventRow.vehicle_id, StopEventRow.stop_id, StopEventRow.type,
                   StopEventRow.ts).where(
            StopEventRow.vehicle_id.in_(part), StopEventRow.ts >= start, StopEventRow.ts < end
        )  # fmt: skip
        result = connection.execute(q)
        rows = result.cursor.fetchall()
        result.close()
        if read_ts is None:
            out += [(v, s, t, ts) for v, s, t, ts in rows]
        else:
            out += [(v, s, t, read_ts(ts)) for v, s, t, ts in rows]
    out.sort(key=itemgetter(3))  # stable: rows of the same time keep the order read
    return out


@dataclass(frozen=True, slots=True)
class StoredException:
    id: str
    type: str
    severity: str
    vehicle_id: str
    order_id: str
    detected_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str
    resolved_at: datetime | None
    resolved_by: str
    detail: str


def exceptions(
    session: Session,
    start: datetime,
    end: datetime,
    vehicle_ids: Iterable[str],
    order_ids: Iterable[str],
) -> list[StoredException]:
    """Exceptions detected in [start, end) about the day's vehicles or orders (or about
    neither: the desk's own, such as a sync conflict)."""
    vehicles, orders = set(vehicle_ids), set(order_ids)
    rows = session.scalars(
        select(ExceptionRow)
        .where(ExceptionRow.detected_at >= start, ExceptionRow.detected_at < end)
        .order_by(ExceptionRow.detected_at)
    )
    out = []
    for r in rows:
        mine = (r.vehicle_id in vehicles) or (r.order_id in orders)
        if not mine and (r.vehicle_id or r.order_id):
            continue
        out.append(StoredException(r.id, r.type, r.severity, r.vehicle_id or "", r.order_id or "",
                                   r.detected_at, r.acknowledged_at, r.acknowledged_by,
                                   r.resolved_at, r.resolved_by, r.detail))  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class StoredCommand:
    id: str
    kind: str
    actor: str
    at: datetime
    route_ids: tuple[str, ...]
    label: str


def commands(
    session: Session, plan_id: str | None, start: datetime, route_ids: Iterable[str]
) -> list[StoredCommand]:
    """Commands of the change log that touched one of ``route_ids`` (the day's routes:
    route ids are never reused across days), read from the day's first plan on (its first
    change-log row; without one, from a day before ``start``)."""
    wanted = set(route_ids)
    first = None
    if plan_id is not None:
        first = session.scalar(
            select(func.min(ChangeLogRow.id)).where(
                ChangeLogRow.entity == "plan", ChangeLogRow.entity_id == plan_id
            )
        )
    q = select(ChangeLogRow.entity_id, ChangeLogRow.actor, ChangeLogRow.at, ChangeLogRow.before,
               ChangeLogRow.after).where(ChangeLogRow.entity == COMMAND_ENTITY)  # fmt: skip
    if first is not None:
        q = q.where(ChangeLogRow.id > first)
    else:
        q = q.where(ChangeLogRow.at >= start - timedelta(days=1))
    out = []
    for cid, actor, at, before, after in session.execute(q.order_by(ChangeLogRow.id)):
        routes: set[str] = set()
        for doc in (before or {}, after or {}):
            value = doc.get("routes")
            if isinstance(value, Mapping):
                routes |= {str(k) for k in value}
        hit = tuple(sorted(routes & wanted))
        if not hit:
            continue
        after = after or {}
        out.append(StoredCommand(cid, str(after.get("command", "")), actor, at, hit,
                                 str(after.get("label", ""))))  # fmt: skip
    return out


def first_publications(session: Session, route_ids: Sequence[str]) -> dict[str, list[str]]:
    """Per route, the order ids in the first route message its driver was sent (the plan
    at dispatch); routes never sent are absent."""
    out: dict[str, tuple[int, list[str]]] = {}
    for part in _chunks(sorted(route_ids)):
        q = select(RoutePublicationRow.route_id, RoutePublicationRow.version,
                   RoutePublicationRow.payload).where(
            RoutePublicationRow.route_id.in_(part), RoutePublicationRow.kind == "route"
        )  # fmt: skip
        for rid, version, payload in session.execute(q):
            stops = [str(s.get("order_id")) for s in (payload or {}).get("stops", [])]
            if stops and (rid not in out or version < out[rid][0]):
                out[rid] = (version, stops)
    return {rid: stops for rid, (_, stops) in out.items()}


def breadcrumbs(
    session: Session, vehicle_ids: Sequence[str], after: datetime, until: datetime
) -> Iterator[tuple[str, float, float, float]]:
    """(vehicle, epoch seconds, lat, lon) with after < ts <= until, per vehicle in time
    order (the time as the database computes it: whole seconds on SQLite)."""
    for part in _chunks(sorted(vehicle_ids)):
        for vid, ts, lat, lon in session.execute(_crumbs(part, after, until)):
            yield vid, float(ts), lat, lon


def _crumbs(
    part: Sequence[str], after: datetime, until: datetime
) -> Select[str, int, float, float]:
    """(vehicle, epoch seconds, lat, lon) of these vehicles' fixes in (after, until], by
    vehicle and time."""
    return (
        select(BreadcrumbRow.vehicle_id, func.extract("epoch", BreadcrumbRow.ts),
               BreadcrumbRow.lat, BreadcrumbRow.lon)
        .where(BreadcrumbRow.vehicle_id.in_(part))
        .where(BreadcrumbRow.ts > after, BreadcrumbRow.ts <= until)
        .order_by(BreadcrumbRow.vehicle_id, BreadcrumbRow.ts)
    )  # fmt: skip


@dataclass(frozen=True)
class Trails:
    """Breadcrumbs as columns: vehicle ``vehicle_ids[k]``'s fixes are rows
    ``bounds[k]:bounds[k + 1]`` of ``ts`` (epoch seconds), ``lat`` and ``lon``, in time order."""

    vehicle_ids: list[str]
    bounds: np.ndarray
    ts: np.ndarray
    lat: np.ndarray
    lon: np.ndarray


def trails(
    session: Session, vehicle_ids: Sequence[str], after: datetime, until: datetime
) -> Trails:
    """The fixes of :func:`breadcrumbs` read as columns (plain tuples, one SELECT per 500
    vehicles, no object per row): a day's first pass reads every breadcrumb of the day."""
    rows: list[Any] = []
    connection = session.connection()
    for part in _chunks(sorted(vehicle_ids)):
        # The driver's own tuples: the columns need no conversion per value (numbers and
        # ids), and a day's hundreds of thousands of rows skip the ORM's row objects.
        result = connection.execute(_crumbs(part, after, until))
        rows += result.cursor.fetchall()
        result.close()
    if not rows:
        empty = np.zeros(0)
        return Trails([], np.zeros(1, dtype=np.int64), empty, empty, empty)
    # One record array from the tuples (numpy's loop, no column tuples of Python floats);
    # PostgreSQL's epoch (numeric, a Decimal) becomes a float here too.
    table = np.array(rows, dtype=_TRAIL_ROW)
    owner = table["vehicle"]
    starts = np.flatnonzero(np.concatenate([[True], owner[1:] != owner[:-1]]))
    vids = [str(owner[i]) for i in starts.tolist()]
    return Trails(
        vids,
        np.append(starts, len(owner)).astype(np.int64),
        np.ascontiguousarray(table["ts"]),
        np.ascontiguousarray(table["lat"]),
        np.ascontiguousarray(table["lon"]),
    )


#: A breadcrumb as :func:`trails` reads it: vehicle, epoch seconds, lat, lon.
_TRAIL_ROW = np.dtype([("vehicle", object), ("ts", np.float64), ("lat", np.float64),
                       ("lon", np.float64)])  # fmt: skip


def newest_breadcrumb(session: Session, vehicle_ids: Sequence[str]) -> datetime | None:
    q = select(func.max(BreadcrumbRow.ts)).where(BreadcrumbRow.vehicle_id.in_(list(vehicle_ids)))
    return session.scalar(q) if vehicle_ids else None


def fix_near(
    session: Session,
    vehicle_id: str,
    box: tuple[float, float, float, float],
    after: datetime,
    before: datetime,
    *,
    last: bool,
) -> datetime | None:
    """The last (or first) fix time of a vehicle inside ``box`` (south, west, north, east)
    with after < ts < before."""
    south, west, north, east = box
    agg = func.max if last else func.min
    q = select(agg(BreadcrumbRow.ts)).where(
        BreadcrumbRow.vehicle_id == vehicle_id,
        BreadcrumbRow.ts > after,
        BreadcrumbRow.ts < before,
        and_(BreadcrumbRow.lat >= south, BreadcrumbRow.lat <= north),
        and_(BreadcrumbRow.lon >= west, BreadcrumbRow.lon <= east),
    )
    value: datetime | None = session.scalar(q)
    return value


def planned_days(session: Session, depot_id: str, before: date | None = None) -> list[date]:
    """Days of the depot with a stored plan (oldest first), before ``before`` if given."""
    q = select(PlanRow.day).where(PlanRow.depot_id == depot_id)
    if before is not None:
        q = q.where(PlanRow.day < before)
    return sorted(session.scalars(q))


def depots_with_plan(session: Session, day: date) -> list[str]:
    """The depots with a stored plan of ``day``."""
    return sorted(set(session.scalars(select(PlanRow.depot_id).where(PlanRow.day == day))))


# -- KPI values ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredKpi:
    day: date
    name: str
    scope: str
    key: str
    value: float | None
    numerator: float
    denominator: float
    unit: str
    final: bool


def save_kpis(
    session: Session,
    depot_id: str,
    day: date,
    values: Iterable[Mapping[str, Any]],
    *,
    final: bool,
    computed_at: datetime,
) -> int:
    """Replace the depot's day's KPI values with ``values`` (dicts with name, scope, key,
    value, numerator, denominator, unit); returns how many were written."""
    session.execute(
        delete(KpiValueRow).where(KpiValueRow.depot_id == depot_id, KpiValueRow.day == day)
    )
    rows = [
        {"depot_id": depot_id, "day": day, "final": final, "computed_at": computed_at,
         **{k: v[k] for k in ("name", "scope", "key", "value", "numerator", "denominator", "unit")}}
        for v in values
    ]  # fmt: skip
    table = cast(Table, KpiValueRow.__table__)  # Core executemany: no RETURNING per row
    for i in range(0, len(rows), 5000):
        session.connection().execute(insert(table), rows[i : i + 5000])
    return len(rows)


def kpi_trend(
    session: Session, depot_id: str, names: Sequence[str], first: date, last: date,
    scope: str = "day", key: str = "",
) -> list[StoredKpi]:  # fmt: skip
    """Stored values of ``names`` for one scope between ``first`` and ``last`` (inclusive)."""
    q = (
        select(KpiValueRow)
        .where(KpiValueRow.depot_id == depot_id, KpiValueRow.name.in_(list(names)))
        .where(KpiValueRow.scope == scope, KpiValueRow.key == key)
        .where(KpiValueRow.day >= first, KpiValueRow.day <= last)
        .order_by(KpiValueRow.day)
    )
    return [StoredKpi(r.day, r.name, r.scope, r.key, r.value, r.numerator, r.denominator,
                      r.unit, r.final) for r in session.scalars(q)]  # fmt: skip


def stored_kpis(session: Session, depot_id: str, day: date) -> list[StoredKpi]:
    """Every stored KPI value of the depot's day."""
    q = select(KpiValueRow).where(KpiValueRow.depot_id == depot_id, KpiValueRow.day == day)
    return [StoredKpi(r.day, r.name, r.scope, r.key, r.value, r.numerator, r.denominator,
                      r.unit, r.final) for r in session.scalars(q)]  # fmt: skip


# -- ETA samples -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EtaSample:
    order_id: str
    route_id: str
    vehicle_id: str
    predicted_at: datetime
    eta: datetime
    p90: datetime | None = None


def add_eta_samples(
    session: Session, depot_id: str, day: date, samples: Sequence[EtaSample]
) -> int:
    """Store samples not stored yet (by stop and moment); returns how many were new."""
    if not samples:
        return 0
    orders = sorted({s.order_id for s in samples})
    have: set[tuple[str, datetime]] = set()
    first = min(s.predicted_at for s in samples)
    for part in _chunks(orders):
        q = select(EtaSampleRow.order_id, EtaSampleRow.predicted_at).where(
            EtaSampleRow.order_id.in_(part), EtaSampleRow.predicted_at >= first
        )
        have |= {(o, t) for o, t in session.execute(q)}
    rows = [
        {"depot_id": depot_id, "day": day, "order_id": s.order_id, "route_id": s.route_id,
         "vehicle_id": s.vehicle_id, "predicted_at": s.predicted_at, "eta": s.eta, "p90": s.p90}
        for s in samples if (s.order_id, s.predicted_at) not in have
    ]  # fmt: skip
    if rows:
        session.execute(insert(EtaSampleRow), rows)
    return len(rows)


def eta_samples(session: Session, depot_id: str, day: date) -> list[EtaSample]:
    q = select(EtaSampleRow).where(EtaSampleRow.depot_id == depot_id, EtaSampleRow.day == day)
    return [EtaSample(r.order_id, r.route_id, r.vehicle_id, r.predicted_at, r.eta, r.p90)
            for r in session.scalars(q)]  # fmt: skip


# -- trail totals ----------------------------------------------------------------------------


def load_tracks(
    session: Session, depot_id: str, day: date
) -> dict[str, tuple[datetime, int, dict[str, Any]]]:
    """vehicle -> (newest fix counted, fixes counted, state) for the depot's day."""
    q = select(KpiTrackRow).where(KpiTrackRow.depot_id == depot_id, KpiTrackRow.day == day)
    return {r.vehicle_id: (r.through, r.fixes, r.state) for r in session.scalars(q)}


def save_tracks(
    session: Session,
    depot_id: str,
    day: date,
    tracks: Mapping[str, tuple[datetime, int, dict[str, Any]]],
) -> None:
    """Upsert the running trail totals of the given vehicles."""
    if not tracks:
        return
    ids = sorted(tracks)
    for part in _chunks(ids):
        session.execute(
            delete(KpiTrackRow).where(
                KpiTrackRow.depot_id == depot_id,
                KpiTrackRow.day == day,
                KpiTrackRow.vehicle_id.in_(part),
            )
        )
    session.execute(
        insert(KpiTrackRow),
        [{"depot_id": depot_id, "day": day, "vehicle_id": vid, "through": tracks[vid][0],
          "fixes": tracks[vid][1], "state": tracks[vid][2]} for vid in ids],
    )  # fmt: skip


# -- settings and learned profiles ---------------------------------------------------------


def settings(session: Session, depot_id: str) -> dict[str, dict[str, Any]]:
    """key -> value of the KPI settings for a depot (its own over every depot's)."""
    q = select(KpiSettingRow).where(KpiSettingRow.depot_id.in_(["", depot_id]))
    rows = sorted(session.scalars(q), key=lambda r: r.depot_id)  # "" first, the depot's win
    return {r.key: dict(r.value) for r in rows}


def set_setting(
    session: Session, depot_id: str, key: str, value: dict[str, Any], *, actor: str,
    now: datetime,
) -> None:  # fmt: skip
    """Set one KPI setting (``target:NAME`` or ``cost:TYPE``), versioned and logged."""
    begin_command(session, "kpi_settings", actor)  # PostgreSQL: a supervisor's, checked there
    row = session.get(KpiSettingRow, (depot_id, key))
    before = None if row is None else dict(row.value)
    if row is None:
        row = KpiSettingRow(depot_id=depot_id, key=key, value=value, updated_at=now,
                            updated_by=actor)  # fmt: skip
        session.add(row)
    elif row.value == value:
        return
    else:
        row.value, row.updated_at, row.updated_by = value, now, actor
    session.flush()
    log_change(session, "kpi_setting", f"{depot_id}/{key}", "insert" if before is None else
               "update", actor=actor, before=before, after=value)  # fmt: skip


@dataclass(frozen=True)
class StoredProfile:
    depot_id: str
    trained_at: datetime
    first_day: date
    last_day: date
    days: int
    service: dict[str, Any]
    travel: dict[str, Any]


def save_profile(session: Session, profile: StoredProfile, *, actor: str) -> None:
    row = session.get(LearnedProfileRow, profile.depot_id)
    if row is None:
        row = LearnedProfileRow(depot_id=profile.depot_id)
        session.add(row)
    row.trained_at, row.first_day, row.last_day = (
        profile.trained_at, profile.first_day, profile.last_day,
    )  # fmt: skip
    row.days, row.service, row.travel = profile.days, profile.service, profile.travel
    session.flush()
    log_change(session, "learned_profile", profile.depot_id, "update", actor=actor,
               after={"days": profile.days, "first_day": profile.first_day.isoformat(),
                      "last_day": profile.last_day.isoformat()})  # fmt: skip


def load_profile(session: Session, depot_id: str) -> StoredProfile | None:
    row = session.get(LearnedProfileRow, depot_id)
    if row is None:
        return None
    return StoredProfile(row.depot_id, row.trained_at, row.first_day, row.last_day, row.days,
                         dict(row.service), dict(row.travel))  # fmt: skip
