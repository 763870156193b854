"""A recorded day (a ``.dday`` file) loaded into a store of its own, so its KPIs are
computed by exactly the same reads as a day of the desk's own database.

What goes in: the day's input, its last plan version (the plan as the day ended) and its
first one as the route messages the drivers were sent (the plan at dispatch), every
position fix and stop event, the exceptions with their detected / acknowledged / resolved
times, and the commands (a person's or a rule's) with the routes they touched. A recorded
day does not say when routes were released: those routes count by their trail only.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from app.jobs.cancel import checkpoint
from app.store import Store, open_store, repository
from app.store import repository_kpis as rk
from app.store.changelog import log_change
from app.store.dayfile import DayFile, DayFileError
from app.store.dayjson import day_from_json, plan_from_json
from app.store.models import ExceptionRow, RoutePublicationRow
from app.telemetry.messages import Fix, StopEvent
from app.telemetry.persist import write_telemetry
from engine.kpis import ETA_HORIZONS
from engine.model import DayInput, Plan

ACTOR = "recorded-day"
#: A recorded day's ETAs are replayed (what the desk would have shown 60, 30 and 15 minutes
#: before each arrival) up to this many stops; beyond, its ETA accuracy is left blank.
REPLAY_ETAS_MAX_STOPS = 6000
_BATCH = 20_000


@dataclass
class RecordedStore:
    """A recorded day in a throwaway SQLite store (removed by :meth:`close`)."""

    store: Store
    depot_id: str
    day: date
    path: Path
    folder: tempfile.TemporaryDirectory[str]
    ended: datetime  # the last fix or event recorded: the day's KPIs are final as of then

    def close(self) -> None:
        self.store.close()
        self.folder.cleanup()


def _dt(ts: Any) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(float(ts), UTC)


def _json(text: Any) -> dict[str, Any] | None:
    if text is None or text == "":
        return None
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def open_recorded(path: str | Path) -> RecordedStore:
    """Check the recorded day at ``path`` and load it into a store of its own.

    Raises ``DayFileError`` (what, where, why) when the file is not a readable day."""
    folder = tempfile.TemporaryDirectory(prefix="dday-kpis-")
    try:
        store = open_store(f"sqlite:///{Path(folder.name) / 'day.db'}", workstation="recorded")
        try:
            depot_id, day, ended = load_recorded(store, Path(path))
        except BaseException:
            store.close()
            raise
    except BaseException:
        folder.cleanup()
        raise
    return RecordedStore(store, depot_id, day, Path(path), folder, ended)


def load_recorded(store: Store, path: Path) -> tuple[str, date, datetime]:
    """Load the recorded day at ``path`` into ``store`` (an empty database: SQLite or
    PostgreSQL); its depot, its date and when it ended (its last fix, event or plan).

    Raises ``DayFileError`` (what, where, why) when the file is not a readable day."""
    with DayFile(path) as f:
        docs = f.json_rows("day_input")
        if len(docs) != 1:
            raise DayFileError(f"{path}: expected one day_input row, found {len(docs)}")
        try:
            day = day_from_json(docs[0])
            versions = []
            for (text,) in f.query("SELECT plan FROM plan_versions ORDER BY version"):
                checkpoint()  # a window closing meanwhile ends the reading here (and below)
                versions.append(plan_from_json(json.loads(text)))
        except ValueError as exc:
            raise DayFileError(f"{path}: {exc}") from None
        if not versions:
            raise DayFileError(f"{path}: no plan version: no KPI to compute")
        first, last = versions[0], versions[-1]
        checkpoint()
        with store.session() as s:
            repository.upsert_day(s, day, actor=ACTOR)
        checkpoint()
        with store.session() as s:
            repository.save_plan(s, last, actor=ACTOR)
        checkpoint()
        start = _dt(f.query("SELECT min(at) FROM plan_versions")[0][0]) or datetime.now(UTC)
        with store.session() as s:
            for r in first.routes:
                if r.stops:
                    s.add(RoutePublicationRow(
                        route_id=r.id, vehicle_id=r.vehicle_id, version=1, kind="route",
                        topic=f"recorded/{r.vehicle_id}/route", published_at=start,
                        stops=len(r.stops),
                        payload={"stops": [{"order_id": o} for o in r.order_ids]},
                    ))  # fmt: skip
        fixes: list[Fix] = []
        for i, (vid, ts, lat, lon, speed, heading) in enumerate(f.iter_query(
                "SELECT vehicle_id, ts, lat, lon, speed_kmh, heading_deg FROM fixes "
                "ORDER BY vehicle_id, ts")):  # fmt: skip
            fixes.append(Fix(str(vid), i, float(ts), float(lat), float(lon), speed, heading))
            if i % 1000 == 0 or len(fixes) >= _BATCH:  # cancelled, or held by a jump
                checkpoint()
            if len(fixes) >= _BATCH:
                with store.session() as s:
                    write_telemetry(s, fixes, [], [])
                fixes.clear()
        checkpoint()
        events = [StopEvent(str(eid), str(vid), float(ts), str(kind), stop, reason)
                  for eid, vid, ts, kind, stop, reason in f.iter_query(
                      "SELECT event_id, vehicle_id, ts, type, stop_id, reason FROM events")]  # fmt: skip
        with store.session() as s:
            write_telemetry(s, fixes, events, [])
        with store.session() as s:
            for row in f.iter_query(
                "SELECT id, type, severity, vehicle_id, order_id, detected_at, acknowledged_at, "
                "acknowledged_by, resolved_at, resolved_by, detail, suggested_action "
                "FROM exceptions"):  # fmt: skip
                s.add(ExceptionRow(
                    id=row[0], type=row[1], severity=row[2], vehicle_id=row[3], order_id=row[4],
                    detected_at=_dt(row[5]), acknowledged_at=_dt(row[6]),
                    acknowledged_by=row[7] or "", resolved_at=_dt(row[8]),
                    resolved_by=row[9] or "", detail=row[10] or "",
                    suggested_action=row[11] or "", version=1,
                ))  # fmt: skip
        with store.session() as s:
            for cid, at, actor, kind, label, before, after in f.iter_query(
                    "SELECT id, at, actor, kind, label, before, after FROM commands "
                    "ORDER BY at"):  # fmt: skip
                doc = _json(after) or {}
                doc.setdefault("command", kind)
                doc.setdefault("label", label or "")
                logged = log_change(s, "command", str(cid), "insert", actor=str(actor),
                                 before=_json(before), after=doc)  # fmt: skip
                logged.at = _dt(at) or logged.at
        checkpoint()
        with store.session() as s:
            rk.add_eta_samples(s, f.depot_id or day.depots[0].id, day.day,
                               replayed_etas(f, day, last))  # fmt: skip
        latest = f.query(
            "SELECT max(t) FROM (SELECT max(ts) AS t FROM fixes UNION ALL "
            "SELECT max(ts) FROM events UNION ALL SELECT max(at) FROM plan_versions)"
        )
        ended = _dt(latest[0][0]) or start
        return f.depot_id or day.depots[0].id, day.day, ended


def replayed_etas(f: DayFile, day: DayInput, plan: Plan) -> list[rk.EtaSample]:
    """The ETA the desk would have shown 60, 30 and 15 minutes before each arrival
    (``engine.eta_replay``: the live monitor's computation, fed the trail and the stop
    events up to that moment; the routes as the day ended). A recorded day carries no
    sampled ETAs; these stand in for them."""
    import logging

    from engine.eta import PreparedRoute, TravelTimes
    from engine.eta_replay import eta_at
    from engine.history import StopEvent as HistoryEvent
    from engine.history import Track, stop_visits

    routes = [r for r in plan.routes if r.stops]
    stops = sum(len(r.stops) for r in routes)
    if not routes or stops > REPLAY_ETAS_MAX_STOPS:
        logging.getLogger(__name__).info("ETAs not replayed for %d stops", stops)
        return []
    vehicles = {r.vehicle_id for r in routes}
    events = [HistoryEvent(str(v), s, str(t), datetime.fromtimestamp(float(ts), UTC))
              for v, s, t, ts in f.iter_query("SELECT vehicle_id, stop_id, type, ts FROM events")
              if v in vehicles]  # fmt: skip
    visits = stop_visits(events)
    breaks: dict[str, list[tuple[float, str]]] = {}
    for e in events:
        if e.type in ("break_start", "break_end"):
            breaks.setdefault(e.vehicle_id, []).append((e.ts.timestamp(), e.type))
    drivers = {d.id: d for d in day.drivers}
    tracks: dict[str, list[tuple[float, float, float]]] = {}
    for vid, ts, lat, lon in f.iter_query("SELECT vehicle_id, ts, lat, lon FROM fixes"):
        if vid in vehicles:
            tracks.setdefault(str(vid), []).append((float(ts), float(lat), float(lon)))
    trails = {vid: Track.of(rows) for vid, rows in tracks.items()}
    depot = day.depots[0]
    orders = {o.id: o for o in day.orders}
    points = [depot.location, *(o.location for o in day.orders)]
    try:
        from app.telemetry.session import eta_travel_times, route_point_groups
        from app.travel.choose import travel_model_for

        groups = route_point_groups(depot.location, plan, orders)  # a big day: route legs
        travel = eta_travel_times(travel_model_for(depot), points, groups)
    except Exception:  # off the street network: straight lines, as the desk falls back
        travel = TravelTimes()
    out = []
    for route in routes:
        prepared = PreparedRoute(route, orders, travel)
        seen = [visits.get(s.order_id) for s in route.stops]
        start = route.start.timestamp() if route.start else float("-inf")
        for stop, visit in zip(route.stops, seen, strict=True):
            if visit is None or visit.arrived is None:
                continue
            for h in ETA_HORIZONS:
                t = visit.arrived - h * 60
                if t < start - 15 * 60:
                    continue  # not released yet: the desk shows no ETA
                eta = eta_at(prepared, route.stops, seen, trails.get(route.vehicle_id), t,
                             depot.location, stop.order_id, drivers.get(route.driver_id or ""),
                             breaks.get(route.vehicle_id, ()))  # fmt: skip
                if eta is not None:
                    out.append(rk.EtaSample(stop.order_id, route.id, route.vehicle_id,
                                            datetime.fromtimestamp(t, UTC),
                                            datetime.fromtimestamp(eta, UTC)))  # fmt: skip
    return out
