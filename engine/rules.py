"""Exception rules: turn ETAs, stop states and live positions into trouble to act on.

``evaluate_rules`` is a pure function returning the conditions that hold *now* (late risk,
failed attempt, stopped away from a stop, off route, telemetry silent, capacity,
breakdown), each with severity, detail and a suggested action. ``ExceptionTracker`` keeps
the open exceptions across evaluations: a new condition opens one (detected time), a
changed one is updated in place, one that no longer holds is resolved (resolved time kept).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo

import numpy as np

from engine.eta import Position, RouteEta, StopEta, service_window
from engine.geo import EARTH_RADIUS_M, haversine_m
from engine.model import (
    Location,
    Order,
    Plan,
    Route,
    RouteStatus,
    StopStatus,
    TimeWindow,
    Vehicle,
)

_DONE = frozenset(s for s in StopStatus if s.is_done)


class ExceptionType(enum.StrEnum):
    """What the rules raise about the road (the workstation adds kinds of its own)."""

    LATE_RISK = "late_risk"
    FAILED_ATTEMPT = "failed_attempt"
    STOPPED = "stopped"
    OFF_ROUTE = "off_route"
    TELEMETRY_SILENT = "telemetry_silent"
    CAPACITY = "capacity"
    BREAKDOWN = "breakdown"


_TYPE_VALUE = {t: t.value for t in ExceptionType}  # .value through the enum is slow


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class RuleConfig:
    """Thresholds of the rules (the dispatcher's settings)."""

    late_margin_min: float = 10.0
    stopped_min: float = 10.0
    stopped_radius_m: float = 40.0
    at_stop_radius_m: float = 150.0
    off_route_m: float = 600.0
    silent_s: float = 120.0


@dataclass(frozen=True, slots=True)
class VehicleLive:
    """What the live state knows about a vehicle, as plain data."""

    vehicle_id: str
    position: Position | None = None
    stopped_since: datetime | None = None
    broken_down_at: datetime | None = None
    on_break: bool = False


@dataclass(frozen=True, slots=True)
class Condition:
    """A problem that holds right now; ``key`` identifies it across evaluations."""

    type: ExceptionType
    severity: Severity
    vehicle_id: str | None
    order_id: str | None
    detail: str
    suggested_action: str
    minutes_late: float | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (_TYPE_VALUE[self.type], self.vehicle_id or "", self.order_id or "")


@dataclass(frozen=True, slots=True)
class LiveException:
    """An exception with its life: detected, (updated), resolved. ``type`` is an
    ``ExceptionType`` when the rules raised it, else a kind the workstation raised."""

    id: str
    type: enum.StrEnum
    severity: Severity
    vehicle_id: str | None
    order_id: str | None
    detected_at: datetime
    detail: str
    suggested_action: str
    minutes_late: float | None = None
    resolved_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


def stopped_since(
    trail: Sequence[tuple[datetime, float, float]], radius_m: float = 40.0
) -> datetime | None:
    """Since when the vehicle has stayed within ``radius_m`` of its newest fix."""
    if not trail:
        return None
    t_last, lat, lon = trail[-1]
    since = t_last
    for ts, la, lo in reversed(trail):
        if haversine_m(lat, lon, la, lo) > radius_m:
            return since
        since = ts
    return since


def distance_to_path_m(point: Location, path: Sequence[Location]) -> float:
    """Shortest distance from a point to a polyline (local equirectangular projection)."""
    if not path:
        return math.inf
    if len(path) == 1:
        return haversine_m(point.lat, point.lon, path[0].lat, path[0].lon)
    k = math.cos(math.radians(point.lat))
    scale = math.radians(1) * EARTH_RADIUS_M

    def xy(p: Location) -> tuple[float, float]:
        return (p.lon - point.lon) * k * scale, (p.lat - point.lat) * scale

    best = math.inf
    ax, ay = xy(path[0])
    for nxt in path[1:]:
        bx, by = xy(nxt)
        dx, dy = bx - ax, by - ay
        seg = dx * dx + dy * dy
        u = 0.0 if seg == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / seg))
        best = min(best, math.hypot(ax + u * dx, ay + u * dy))
        ax, ay = bx, by
    return best


class PathIndex:
    """Many routes' planned paths as flat segment arrays, screened in one numpy pass.

    :meth:`maybe_beyond` names the routes whose vehicle *may* be farther than a limit from
    its path; the rest are certainly within it. Only the named ones need the exact
    :func:`distance_to_path_m`, so results stay exactly those of the plain loop.
    """

    def __init__(self, paths: Mapping[str, Sequence[Location]]) -> None:
        self.route_ids = [rid for rid, path in paths.items() if len(path) >= 2]
        self._row = {rid: i for i, rid in enumerate(self.route_ids)}
        a_lat: list[float] = []
        a_lon: list[float] = []
        b_lat: list[float] = []
        b_lon: list[float] = []
        owner: list[int] = []
        starts: list[int] = []
        for i, rid in enumerate(self.route_ids):
            path = paths[rid]
            starts.append(len(owner))
            for a, b in zip(path[:-1], path[1:], strict=True):
                a_lat.append(a.lat)
                a_lon.append(a.lon)
                b_lat.append(b.lat)
                b_lon.append(b.lon)
                owner.append(i)
        self._a_lat, self._a_lon = np.array(a_lat, dtype=np.float64), np.array(a_lon)
        self._b_lat, self._b_lon = np.array(b_lat, dtype=np.float64), np.array(b_lon)
        self._owner = np.array(owner, dtype=np.intp)
        self._starts = np.array(starts, dtype=np.intp)

    def maybe_beyond(self, points: Mapping[str, Location], limit_m: float) -> set[str]:
        """Route ids (of ``points``) whose point is not certainly within ``limit_m``.

        Routes the index does not hold (paths under two points) are always named.
        """
        out = {rid for rid in points if rid not in self._row}
        if not self.route_ids or len(out) == len(points):
            return out
        n = len(self.route_ids)
        lat, lon, k = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        for rid, p in points.items():
            i = self._row.get(rid)
            if i is not None:
                lat[i], lon[i], k[i] = p.lat, p.lon, math.cos(math.radians(p.lat))
        scale = math.radians(1) * EARTH_RADIUS_M
        o = self._owner
        plat, plon, pk = lat[o], lon[o], k[o]
        ax, ay = (self._a_lon - plon) * pk * scale, (self._a_lat - plat) * scale
        bx, by = (self._b_lon - plon) * pk * scale, (self._b_lat - plat) * scale
        dx, dy = bx - ax, by - ay
        seg = dx * dx + dy * dy
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(seg == 0, 0.0, np.clip(-(ax * dx + ay * dy) / seg, 0.0, 1.0))
        dist = np.minimum.reduceat(np.hypot(ax + u * dx, ay + u * dy), self._starts)
        # Float noise between numpy and the scalar loop is far below this margin.
        near = dist <= limit_m * (1 - 1e-9)
        out.update(rid for rid in points if rid in self._row and not near[self._row[rid]])
        return out


def _duration_text(seconds: float) -> str:
    """``3 h 55 min`` / ``40 min``."""
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _hm(moment: datetime, zone: tzinfo | None = None) -> str:
    """``HH:MM`` on the depot's clock (``zone``; the moment's own zone when None)."""
    if zone is not None:
        moment = moment.astimezone(zone)
    return f"{moment.hour:02d}:{moment.minute:02d}"  # strftime("%H:%M"), without its cost


FEED_QUORUM = 3  # vehicles reporting before a gap of all of them is the desk's, not theirs


def _last_heard(vehicles: Mapping[str, VehicleLive], now: datetime) -> datetime:
    """What a vehicle's silence is measured against: the newest fix of the whole fleet
    (never later than now). When the desk hears nobody — its broker link stalled, the
    machine was busy — every vehicle goes quiet at once, and that is not each tracker's
    fault (the status bar shows the broker); one quiet among the others is. Below
    ``FEED_QUORUM`` vehicles reporting there is no fleet to compare with: now."""
    newest, count = None, 0
    for live in vehicles.values():
        pos = live.position
        if pos is not None:
            count += 1
            if newest is None or pos.ts > newest:
                newest = pos.ts
    if newest is None or count < FEED_QUORUM or newest > now:
        return now
    return newest


def evaluate_rules(
    plan: Plan,
    orders: Mapping[str, Order],
    etas: Mapping[str, RouteEta],
    vehicles: Mapping[str, VehicleLive],
    now: datetime,
    config: RuleConfig = RuleConfig(),
    *,
    statuses: Mapping[str, StopStatus] | None = None,
    fleet: Mapping[str, Vehicle] | None = None,
    paths: Mapping[str, Sequence[Location]] | None = None,
    depot: Location | None = None,
    routes: Sequence[Route] | None = None,
    path_index: PathIndex | None = None,
    zone: tzinfo | None = None,
) -> list[Condition]:
    """Every condition that holds at ``now`` over the plan's active routes.

    ``routes`` stands in for ``plan.routes`` (e.g. with statuses updated from telemetry);
    ``path_index``, built from exactly ``paths``, screens off-route distances in one pass.
    Times in the texts read on ``zone``'s clock (the depot's; as given when None).
    """
    statuses = statuses or {}
    out: list[Condition] = []
    margin_s = config.late_margin_min * 60
    routes = plan.routes if routes is None else routes
    heard = _last_heard(vehicles, now)
    maybe_off = None
    if path_index is not None:
        points = {}
        for route in routes:
            live = vehicles.get(route.vehicle_id)
            if live is not None and live.position is not None:
                points[route.id] = live.position.location
        maybe_off = path_index.maybe_beyond(points, config.off_route_m)
    for route in routes:
        vid = route.vehicle_id
        live = vehicles.get(vid)
        for stop in route.stops:
            if statuses.get(stop.order_id, stop.status) is StopStatus.FAILED:
                out.append(
                    Condition(
                        ExceptionType.FAILED_ATTEMPT,
                        Severity.WARNING,
                        vid,
                        stop.order_id,
                        f"delivery of {stop.order_id} failed",
                        "Re-plan: retry later today on a route passing by, or reschedule",
                    )
                )
        if fleet is not None and vid in fleet:
            out.extend(_capacity(route, orders, fleet[vid], statuses))
        if route.status not in (RouteStatus.RELEASED, RouteStatus.ACTIVE):
            continue
        route_eta = etas.get(route.id)
        late = list(_late(route_eta, now, margin_s, zone, orders)) if route_eta is not None else []
        if live is not None and live.broken_down_at is not None:
            # One exception for a broken-down vehicle: its stops at risk are named in it,
            # not raised one by one (they all have the same cause and the same remedy).
            out.append(_breakdown(route, vid, live.broken_down_at, late, orders, statuses, zone))
        else:
            out.extend(late)
        if live is None:
            continue
        pos = live.position
        if pos is None or route.status is not RouteStatus.ACTIVE:
            continue
        silent = (heard - pos.ts).total_seconds()
        if silent > config.silent_s:
            out.append(
                Condition(
                    ExceptionType.TELEMETRY_SILENT,
                    Severity.CRITICAL if silent > 5 * config.silent_s else Severity.WARNING,
                    vid,
                    None,
                    f"no position from {vid} for {silent / 60:.0f} min",
                    "Call the driver; check the tracker",
                )
            )
            continue  # an old position says nothing about stopping or straying
        remaining = any(
            s.order_id in orders and statuses.get(s.order_id, s.status) not in _DONE
            for s in route.stops
        )
        all_stops = None
        here = pos.location
        # A break explains a stop; so does a reported breakdown (its own exception).
        if live.stopped_since is not None and not live.on_break and live.broken_down_at is None:
            idle = (now - live.stopped_since).total_seconds() / 60
            if idle > config.stopped_min:
                all_stops = [
                    orders[s.order_id].location for s in route.stops if s.order_id in orders
                ]
                near = [*all_stops, *([depot] if depot else [])]
                if all(
                    haversine_m(here.lat, here.lon, p.lat, p.lon) > config.at_stop_radius_m
                    for p in near
                ):
                    out.append(
                        Condition(
                            ExceptionType.STOPPED,
                            Severity.WARNING,
                            vid,
                            None,
                            f"{vid} has not moved for {idle:.0f} min, away from any stop",
                            "Call the driver; re-plan if the vehicle cannot continue",
                        )
                    )
        path = (paths or {}).get(route.id)
        if path is None:
            if all_stops is None:
                all_stops = [
                    orders[s.order_id].location for s in route.stops if s.order_id in orders
                ]
            path = [*([depot] if depot else []), *all_stops, *([depot] if depot else [])]
        if remaining and path and (maybe_off is None or route.id in maybe_off):
            off = distance_to_path_m(here, path)
            if off > config.off_route_m:
                out.append(
                    Condition(
                        ExceptionType.OFF_ROUTE,
                        Severity.WARNING,
                        vid,
                        None,
                        f"{vid} is {off / 1000:.1f} km off its planned route",
                        "Call the driver; re-plan from where the vehicle is",
                    )
                )
    return out


def _breakdown(
    route: Route,
    vid: str,
    at: datetime,
    late: Sequence[Condition],
    orders: Mapping[str, Order],
    statuses: Mapping[str, StopStatus],
    zone: tzinfo | None = None,
) -> Condition:
    remaining = sum(
        1
        for s in route.stops
        if s.order_id in orders and statuses.get(s.order_id, s.status) not in _DONE
    )
    text = f"{vid} reported a breakdown at {_hm(at, zone)}; {remaining} stops left on its route"
    worst = max((c.minutes_late for c in late if c.minutes_late is not None), default=None)
    if late:
        at_risk = sorted(late, key=lambda c: -(c.minutes_late or 0.0))
        named = ", ".join(c.order_id or "" for c in at_risk[:5])
        more = f" and {len(late) - 5} more" if len(late) > 5 else ""
        text += f", {len(late)} at risk of missing their window ({named}{more})"
        if worst is not None and worst > 0:
            text += f", up to {worst:.0f} min late"
    return Condition(
        ExceptionType.BREAKDOWN,
        Severity.CRITICAL,
        vid,
        None,
        text,
        "Re-plan: move its remaining stops to other vehicles",
        worst,
    )


LONG_WAIT_S = 30 * 60  # a wait for a later window longer than this is the trouble itself


def _missed_window(s: StopEta, orders: Mapping[str, Order] | None) -> TimeWindow | None:
    """The window a stop misses when its ETA falls after it and service would wait for a
    later window of the same order for more than ``LONG_WAIT_S`` (e.g. 08:00–10:00 missed
    by 5 minutes, the next one opening at 14:00): None otherwise."""
    order = orders.get(s.order_id) if orders is not None else None
    if order is None or len(order.windows) < 2 or s.window == order.windows[0]:
        return None
    if (s.service_start - s.eta).total_seconds() <= LONG_WAIT_S:
        return None
    # The window the plan meant (its planned arrival's): a plan that chose the later window
    # and waits there on purpose misses nothing.
    meant = (
        service_window(order.windows, s.planned_arrival)
        if s.planned_arrival is not None
        else order.windows[0]
    )
    return meant if meant != s.window and meant.end < s.eta else None


def _late(
    route_eta: RouteEta,
    now: datetime,
    margin_s: float,
    zone: tzinfo | None = None,
    orders: Mapping[str, Order] | None = None,
) -> Iterable[Condition]:
    """Late risks of a route's remaining stops. A stop whose ETA misses its window while a
    later window of its order opens hours after is the cause: it is raised against the
    window it misses, and the stops behind it that run late because the route would wait
    there name it (the driver should not wait hours: move it, or the stops behind it)."""
    hm: dict[datetime, str] = {}  # window ends repeat: format each once
    behind = ""  # "behind a 3 h 55 min wait at O123 …" once a stop makes the route wait
    for s in route_eta.stops:
        missed = _missed_window(s, orders)
        if missed is not None:
            minutes = round((s.eta - missed.end).total_seconds() / 60, 1)
            wait = s.service_start - s.eta
            wait_text = _duration_text(wait.total_seconds())
            yield Condition(
                ExceptionType.LATE_RISK,
                Severity.CRITICAL,
                s.vehicle_id,
                s.order_id,
                f"ETA {_hm(s.eta, zone)} misses the window {_hm(missed.start, zone)}–"
                f"{_hm(missed.end, zone)} by {minutes:.0f} min; its next window opens "
                f"{_hm(s.window.start, zone)}, a {wait_text} wait on the route",
                "Move it to its later window or to another vehicle: the stops behind it "
                "wait otherwise",
                round(minutes, 1),
            )
            if not behind:
                behind = f"; behind a {wait_text} wait at {s.order_id} for its next window"
            continue
        end = s.window.end
        late = (s.eta - end).total_seconds()  # StopEta.late_s
        if late <= -margin_s:
            continue
        already = now > end
        severity = Severity.CRITICAL if late > 0 else Severity.WARNING
        # Rounded once, as the table's "Min late" column shows it (12.46 -> 12.5 -> 12): the
        # text said "only 5 min" where the column read -6.
        minutes = round(late / 60, 1)
        end_hm = hm.get(end)
        if end_hm is None:
            end_hm = hm[end] = _hm(end, zone)
        eta_hm = _hm(s.eta, zone)
        if late > 0:
            text = f"ETA {eta_hm}, window ends {end_hm}: {minutes:.0f} min late{behind}"
        else:
            text = f"ETA {eta_hm}, only {-minutes:.0f} min before the window ends {end_hm}"
        action = (
            "Tell the customer; re-plan or move the stop to another vehicle"
            if not already
            else "Window missed: agree a new time with the customer"
        )
        yield Condition(
            ExceptionType.LATE_RISK,
            severity,
            s.vehicle_id,
            s.order_id,
            text,
            action,
            round(minutes, 1),
        )


def _capacity(
    route: Route, orders: Mapping[str, Order], vehicle: Vehicle, statuses: Mapping[str, StopStatus]
) -> Iterable[Condition]:
    load: dict[str, float] = {}
    for s in route.stops:
        if s.order_id in orders and statuses.get(s.order_id, s.status) is not StopStatus.SKIPPED:
            for dim, amount in orders[s.order_id].demand.items():
                load[dim] = load.get(dim, 0.0) + amount
    over = {
        d: a - vehicle.capacity.get(d, 0.0)
        for d, a in load.items()
        if a > vehicle.capacity.get(d, 0.0) + 1e-9
    }
    if over:
        text = ", ".join(f"{d} over by {x:g}" for d, x in sorted(over.items()))
        yield Condition(
            ExceptionType.CAPACITY,
            Severity.CRITICAL,
            vehicle.id,
            None,
            f"route {route.id} exceeds {vehicle.id}'s capacity: {text}",
            "Move stops to another vehicle",
        )


@dataclass
class ExceptionChanges:
    """Which exceptions one tracker update opened, updated and resolved."""

    opened: list[LiveException] = field(default_factory=list)
    updated: list[LiveException] = field(default_factory=list)
    resolved: list[LiveException] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.opened or self.updated or self.resolved)


def exception_id(key: tuple[str, str, str], detected_at: datetime) -> str:
    """An exception's id, from its condition and when it was detected (UTC, to the second):
    the same on every start, so a stored exception is found again by it."""
    kind, vehicle, order = key
    at = detected_at.astimezone(UTC) if detected_at.tzinfo else detected_at
    return f"{kind}:{vehicle or '-'}:{order or '-'}:{at:%Y%m%dT%H%M%S}"


def condition_key(exc: LiveException) -> tuple[str, str, str]:
    """The key of the condition an exception is about (see ``Condition.key``)."""
    return (str(exc.type), exc.vehicle_id or "", exc.order_id or "")


class ExceptionTracker:
    """The open exceptions, diff-updated from each evaluation's conditions.

    Ids come from the condition and its detection time (``exception_id``); ``adopt`` takes
    the open exceptions stored before a restart, so a condition that still holds goes on
    under its old id instead of opening a second one."""

    def __init__(self) -> None:
        self.open: dict[tuple[str, str, str], LiveException] = {}
        self._used: set[str] = set()

    def adopt(self, exceptions: Iterable[LiveException]) -> None:
        """Carry on open exceptions (as stored): the first update keeps the ones whose
        condition still holds and resolves the others. One per condition: the oldest."""
        for exc in sorted(exceptions, key=lambda e: e.detected_at):
            key = condition_key(exc)
            if exc.is_open and key not in self.open:
                self.open[key] = exc
                self._used.add(exc.id)

    def _new_id(self, key: tuple[str, str, str], now: datetime) -> str:
        base = exception_id(key, now)
        out, n = base, 1
        while out in self._used:  # the same condition reopened within the second
            n += 1
            out = f"{base}.{n}"
        self._used.add(out)
        return out

    def update(self, conditions: Iterable[Condition], now: datetime) -> ExceptionChanges:
        """Open new conditions, update changed ones, resolve the ones that cleared."""
        changes = ExceptionChanges()
        seen: set[tuple[str, str, str]] = set()
        for c in conditions:
            key = c.key
            if key in seen:
                continue
            seen.add(key)
            current = self.open.get(key)
            if current is None:
                exc = LiveException(
                    self._new_id(key, now),
                    c.type,
                    c.severity,
                    c.vehicle_id,
                    c.order_id,
                    now,
                    c.detail,
                    c.suggested_action,
                    c.minutes_late,
                )
                self.open[key] = exc
                changes.opened.append(exc)
            elif (current.severity, current.detail) != (c.severity, c.detail) or (
                current.minutes_late is None and c.minutes_late is not None
            ):
                exc = replace(
                    current,
                    type=c.type,
                    severity=c.severity,
                    detail=c.detail,
                    suggested_action=c.suggested_action,
                    minutes_late=c.minutes_late,
                )
                self.open[key] = exc
                changes.updated.append(exc)
        for key in [k for k in self.open if k not in seen]:
            changes.resolved.append(replace(self.open.pop(key), resolved_at=now))
        return changes
