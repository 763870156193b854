"""Each vehicle's trail totals kept as its breadcrumbs are stored (``kpi_track``).

:func:`keep_totals` runs in the transaction that stores a batch of breadcrumbs
(``app.telemetry.persist.write_telemetry``: the live desk's writer, a recorded day loaded
for its KPIs, the benchmark's synthetic day): the fixes the database took are folded into
their vehicle's :class:`engine.history.TrailTotals` of each depot day they count for (the
day in the depot's time zone, plus six hours for routes that run late), so a day's first
KPI pass reads a summary per vehicle instead of every breadcrumb.

The totals need no plan (idle time is worked out against the route's stops when the KPIs
are). A fix older than the newest one counted (a tracker's late batch), or a vehicle
whose breadcrumbs of the day were stored without totals (an older desk), has its day
folded again from every stored breadcrumb of it. Nothing here may cost the breadcrumbs
themselves: a failure drops the vehicles' totals (the next batch or the KPI pass folds
them from the breadcrumbs) and is logged.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from app.store.models import BreadcrumbRow, DepotRow, KpiTrackRow, VehicleRow
from app.store.repository import depot_day_bounds
from app.store.repository_kpis import _crumbs
from engine.history import TrailTotals, fold_totals
from engine.model import Location

log = logging.getLogger(__name__)

#: A depot's day counts the fixes until this long after its end (routes that run late).
LATE_TAIL = timedelta(hours=6)
_CHUNK = 500

#: A stored breadcrumb as :func:`keep_totals` takes it: id, vehicle, time, lat, lon.
Stored = tuple[int, str, datetime, float, float]


def day_span(timezone: str, day: date) -> tuple[datetime, datetime]:
    """The fixes a depot's day counts: ``start < ts <= end`` (end: six hours past)."""
    start, end = depot_day_bounds(timezone, day)
    return start, end + LATE_TAIL


def state_depot(state: Mapping[str, Any]) -> Location | None:
    where = state.get("depot")
    if isinstance(where, list) and len(where) == 2:
        return Location(float(where[0]), float(where[1]))
    return None


def keep_totals(session: Session, rows: Sequence[Stored]) -> None:
    """Fold the breadcrumbs just stored (``rows``) into their vehicles' day totals."""
    if not rows:
        return
    vids = sorted({r[1] for r in rows})
    depots: dict[str, tuple[str, float, float, str]] = {}
    for i in range(0, len(vids), _CHUNK):
        q = (select(VehicleRow.id, DepotRow.id, DepotRow.lat, DepotRow.lon, DepotRow.timezone)
             .join(DepotRow, VehicleRow.depot_id == DepotRow.id)
             .where(VehicleRow.id.in_(vids[i : i + _CHUNK])))  # fmt: skip
        for vid, depot_id, lat, lon, tz in session.execute(q):
            depots[vid] = (depot_id, lat, lon, tz)
    spans: dict[tuple[str, date], tuple[datetime, datetime]] = {}
    groups: dict[tuple[str, date], dict[str, list[Stored]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        where = depots.get(row[1])
        if where is None:  # a vehicle the store does not know: no depot, no day
            continue
        depot_id, _lat, _lon, tz = where
        local = row[2].astimezone(_zone(tz)).date()
        for day in (local - timedelta(days=1), local):
            span = spans.get((tz, day)) or spans.setdefault((tz, day), day_span(tz, day))
            if span[0] < row[2] <= span[1]:
                groups[(depot_id, day)][row[1]].append(row)
    sqlite = session.get_bind().dialect.name == "sqlite"
    for (depot_id, day), per_vehicle in groups.items():
        any_vid = next(iter(per_vehicle))
        depot = Location(depots[any_vid][1], depots[any_vid][2])
        span = spans[(depots[any_vid][3], day)]
        try:
            with session.begin_nested():
                _keep_day(session, depot_id, day, depot, span, per_vehicle, sqlite)
        except Exception:
            log.warning("trail totals of %s %s not kept with this batch; dropped, to be "
                        "folded from the breadcrumbs", depot_id, day, exc_info=True)  # fmt: skip
            try:
                with session.begin_nested():
                    _drop(session, depot_id, day, sorted(per_vehicle))
            except Exception:
                log.warning("trail totals of %s %s could not be dropped", depot_id, day,
                            exc_info=True)  # fmt: skip
                raise


def _zone(tz: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(tz)


def _epoch(ts: datetime, sqlite: bool) -> float:
    """A stored time as the KPI pass reads it (``extract(epoch)``). SQLite's is whole
    seconds of the time rounded to the millisecond (``strftime('%s')``: the seconds with
    their fraction as a double, times 1000, plus a half, truncated; then divided)."""
    if not sqlite:
        return ts.timestamp()
    minute = int(ts.replace(second=0, microsecond=0).timestamp())
    ms = int((ts.second + ts.microsecond / 1e6) * 1000.0 + 0.5)
    return float(minute + ms // 1000)


def _keep_day(
    session: Session,
    depot_id: str,
    day: date,
    depot: Location,
    span: tuple[datetime, datetime],
    per_vehicle: Mapping[str, list[Stored]],
    sqlite: bool,
) -> None:
    vids = sorted(per_vehicle)
    kept: dict[str, tuple[datetime, TrailTotals | None]] = {}
    for i in range(0, len(vids), _CHUNK):
        q = select(KpiTrackRow.vehicle_id, KpiTrackRow.through, KpiTrackRow.state).where(
            KpiTrackRow.depot_id == depot_id, KpiTrackRow.day == day,
            KpiTrackRow.vehicle_id.in_(vids[i : i + _CHUNK]),
        )  # fmt: skip
        for vid, through, state in session.execute(q):
            totals = TrailTotals.from_json(state)
            same_depot = state_depot(state) == depot
            kept[vid] = (through, totals if same_depot else None)
    # Vehicles with no totals yet: fresh if this batch holds all their fixes of the day.
    new = [v for v in vids if v not in kept]
    stored: dict[str, int] = {}
    for i in range(0, len(new), _CHUNK):
        q = (select(BreadcrumbRow.vehicle_id, func.count())
             .where(BreadcrumbRow.vehicle_id.in_(new[i : i + _CHUNK]),
                    BreadcrumbRow.ts > span[0], BreadcrumbRow.ts <= span[1])
             .group_by(BreadcrumbRow.vehicle_id))  # fmt: skip
        stored.update({vid: int(n) for vid, n in session.execute(q)})
    on: list[tuple[str, TrailTotals | None, list[Stored]]] = []
    again: list[str] = []
    for vid in vids:
        fixes = sorted(per_vehicle[vid], key=lambda r: (r[2], r[0]))
        if vid in kept:
            through, totals = kept[vid]
            if totals is None or fixes[0][2] < through:  # another kind, or a late fix
                again.append(vid)
            else:
                on.append((vid, totals, fixes))
        elif stored.get(vid, 0) != len(fixes):  # stored before without totals
            again.append(vid)
        else:
            on.append((vid, None, fixes))
    out: dict[str, tuple[datetime, int, dict[str, Any]]] = {}
    if on:
        lengths = [len(f) for _v, _t, f in on]
        flat = [r for _v, _t, f in on for r in f]
        ts = np.array([_epoch(r[2], sqlite) for r in flat], dtype=np.float64)
        lat = np.array([r[3] for r in flat], dtype=np.float64)
        lon = np.array([r[4] for r in flat], dtype=np.float64)
        folded = fold_totals(ts, lat, lon, np.cumsum([0, *lengths]), depot,
                             [t for _v, t, _f in on])  # fmt: skip
        for (vid, _t, fixes), totals in zip(on, folded, strict=True):
            out[vid] = (fixes[-1][2], totals.fixes, _state(totals, depot))
    if again:
        out.update(fold_stored(session, again, span, depot))
    _save(session, depot_id, day, out)


def fold_stored(
    session: Session, vids: Sequence[str], span: tuple[datetime, datetime], depot: Location
) -> dict[str, tuple[datetime, int, dict[str, Any]]]:
    """The vehicles' totals of the day folded from every stored breadcrumb."""
    out: dict[str, tuple[datetime, int, dict[str, Any]]] = {}
    for i in range(0, len(vids), _CHUNK):
        part = list(vids[i : i + _CHUNK])
        q = _crumbs(part, span[0], span[1]).add_columns(BreadcrumbRow.ts)
        rows = session.execute(q).all()
        if not rows:
            continue
        owner = [r[0] for r in rows]
        starts = [0] + [k for k in range(1, len(owner)) if owner[k] != owner[k - 1]]
        bounds = np.array([*starts, len(owner)], dtype=np.int64)
        folded = fold_totals(np.array([float(r[1]) for r in rows]),
                             np.array([r[2] for r in rows], dtype=np.float64),
                             np.array([r[3] for r in rows], dtype=np.float64), bounds,
                             depot)  # fmt: skip
        for k, totals in enumerate(folded):
            newest = rows[int(bounds[k + 1]) - 1][4]
            newest = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
            out[owner[int(bounds[k])]] = (newest, totals.fixes, _state(totals, depot))
    return out


def _state(totals: TrailTotals, depot: Location) -> dict[str, Any]:
    return {**totals.to_json(), "depot": [depot.lat, depot.lon]}


def _drop(session: Session, depot_id: str, day: date, vids: Iterable[str]) -> None:
    ids = list(vids)
    for i in range(0, len(ids), _CHUNK):
        session.execute(delete(KpiTrackRow).where(
            KpiTrackRow.depot_id == depot_id, KpiTrackRow.day == day,
            KpiTrackRow.vehicle_id.in_(ids[i : i + _CHUNK])))  # fmt: skip


def _save(
    session: Session, depot_id: str, day: date,
    tracks: Mapping[str, tuple[datetime, int, dict[str, Any]]],
) -> None:  # fmt: skip
    if not tracks:
        return
    ids = sorted(tracks)
    _drop(session, depot_id, day, ids)
    session.execute(
        insert(KpiTrackRow),
        [{"depot_id": depot_id, "day": day, "vehicle_id": vid, "through": tracks[vid][0],
          "fixes": tracks[vid][1], "state": tracks[vid][2]} for vid in ids],
    )  # fmt: skip
