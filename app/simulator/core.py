"""The fleet simulator: vehicles of a plan driven along their routes in simulated time.

Each route becomes a timeline of segments (drive, wait, serve) built once from a seeded
generator: straight lines between stops at a city speed with per-leg traffic noise,
service times with noise, a few failed attempts. Four incidents make the day interesting:
one vehicle caught in heavy traffic (it runs late), one breakdown, one tracker that goes
silent, one vehicle that strays off its route. ``step(t)`` returns every message due up
to simulated time ``t`` — 1 Hz fixes per vehicle and the stop events — so a CLI can
publish them to a broker and the workstation can drive it in-process.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from app.simulator.formats import device_key, event_message, fix_message
from engine.geo import haversine_m
from engine.model import DayInput, Location, Order, Plan, Route

CITY_KMH = 32.0
DETOUR = 1.3
FAIL_P = 0.04


@dataclass(frozen=True, slots=True)
class Segment:
    t0: float
    t1: float
    a: Location
    b: Location
    moving: bool


@dataclass
class _Vehicle:
    vehicle_id: str
    segments: list[Segment]
    starts: list[float]
    events: list[tuple[float, str, str | None, str | None]]
    silent_from: float = math.inf
    idx: int = 0
    next_fix: float = 0.0
    next_event: int = 0
    heading: float = 0.0

    @property
    def begin(self) -> float:
        return self.segments[0].t0 if self.segments else math.inf

    @property
    def end(self) -> float:
        return self.segments[-1].t1 if self.segments else -math.inf


@dataclass(frozen=True)
class Incidents:
    """Which vehicle has which trouble today (chosen by the seed)."""

    delayed: str | None = None
    breakdown: str | None = None
    silent: str | None = None
    stray: str | None = None
    failed_orders: tuple[str, ...] = ()
    details: dict[str, float] = field(default_factory=dict)


class Simulator:
    """Drives a plan's vehicles; ``step(sim_time)`` -> [(topic, payload bytes)]."""

    def __init__(
        self,
        plan: Plan,
        day: DayInput,
        *,
        seed: int = 0,
        fmt: str = "native",
        rate_hz: float = 1.0,
        incidents: bool = True,
        run_id: str | None = None,
        gps_noise_m: float = 4.0,
    ) -> None:
        self.plan = plan
        self.fmt = fmt
        self.depot_id = plan.depot_id
        self.rate_hz = rate_hz
        self.run_id = run_id or f"sim{seed}"
        self.gps_noise_m = gps_noise_m
        self.rng = np.random.default_rng(seed)
        self.orders: dict[str, Order] = {o.id: o for o in day.orders}
        self.depot = day.depot(plan.depot_id).location
        routes = [r for r in plan.routes if r.stops]
        picks = self._pick_incidents(routes) if incidents else {}
        self.vehicles: list[_Vehicle] = []
        failed: list[str] = []
        details: dict[str, float] = {}
        for route in routes:
            v = self._timeline(route, picks.get(route.vehicle_id, ""), failed, details)
            self.vehicles.append(v)
        self.incidents = Incidents(
            **{kind: vid for vid, kind in picks.items()},
            failed_orders=tuple(failed),
            details=details,
        )

    # -- building the day -------------------------------------------------------------
    def _pick_incidents(self, routes: list[Route]) -> dict[str, str]:
        kinds = ["delayed", "breakdown", "silent", "stray"]
        order = self.rng.permutation(len(routes))
        return {routes[int(i)].vehicle_id: kind for i, kind in zip(order, kinds, strict=False)}

    def _timeline(self, route: Route, incident: str, failed: list[str], details) -> _Vehicle:
        rng = self.rng
        t = (route.start or route.stops[0].planned_arrival).timestamp()
        here = self.depot
        segs: list[Segment] = []
        events: list[tuple[float, str, str | None, str | None]] = []
        traffic = 2.6 if incident == "delayed" else 1.0
        n = len(route.stops)
        broken_at_leg = min(2, n - 1) if incident == "breakdown" else -1
        stray_leg = min(1, n - 1) if incident == "stray" else -1
        silent_after = min(2, n - 1) if incident == "silent" else -1
        silent_from = math.inf
        for k, stop in enumerate(route.stops):
            order = self.orders.get(stop.order_id)
            if order is None:
                continue
            factor = traffic * float(rng.lognormal(0.0, 0.15))
            if k == stray_leg:
                off = _offset(here, order.location, 2500.0)
                t = self._drive(segs, t, here, off, factor)
                here = off
                details["stray_from"] = segs[-1].t0
            if k == broken_at_leg:
                mid = Location(
                    (here.lat + order.location.lat) / 2, (here.lon + order.location.lon) / 2
                )
                t = self._drive(segs, t, here, mid, factor)
                segs.append(Segment(t, t + 4 * 3600, mid, mid, False))
                events.append((t + 60, "breakdown", None, "engine"))
                details["breakdown_at"] = t
                break
            t = self._drive(segs, t, here, order.location, factor)
            here = order.location
            events.append((t, "arrived", stop.order_id, None))
            window = next((w for w in order.windows if t <= w.end.timestamp()), None)
            if window is not None and t < window.start.timestamp():
                segs.append(Segment(t, window.start.timestamp(), here, here, False))
                t = window.start.timestamp()
            fail = rng.random() < FAIL_P
            service = order.service_time.total_seconds() * float(rng.lognormal(0.0, 0.25))
            service = 120.0 if fail else max(30.0, service)
            segs.append(Segment(t, t + service, here, here, False))
            t += service
            if fail:
                failed.append(stop.order_id)
                events.append((t, "failed", stop.order_id, "customer_absent"))
            else:
                events.append((t, "delivered", stop.order_id, None))
            events.append((t + 1, "departed", stop.order_id, None))
            if k == silent_after:
                silent_from = t + 30
                details["silent_from"] = silent_from
        else:
            t = self._drive(segs, t, here, self.depot, traffic)
        events.sort(key=lambda e: e[0])
        v = _Vehicle(route.vehicle_id, segs, [s.t0 for s in segs], events, silent_from)
        v.next_fix = math.ceil(v.begin * self.rate_hz) / self.rate_hz
        return v

    def _drive(self, segs, t, a: Location, b: Location, factor: float) -> float:
        dist = haversine_m(a.lat, a.lon, b.lat, b.lon) * DETOUR
        dur = max(1.0, dist / (CITY_KMH / 3.6) * factor)
        segs.append(Segment(t, t + dur, a, b, True))
        return t + dur

    # -- running ----------------------------------------------------------------------
    @property
    def start_time(self) -> float:
        return min((v.begin for v in self.vehicles), default=0.0)

    @property
    def end_time(self) -> float:
        return max((v.end for v in self.vehicles), default=0.0)

    def device_map(self) -> dict[str, str]:
        """Device keys this simulator's trackers use (for OwnTracks/Traccar formats)."""
        out = {}
        for v in self.vehicles:
            key = device_key(self.fmt, v.vehicle_id)
            if key:
                out[key] = v.vehicle_id
        return out

    def skip_to(self, sim_time: float) -> None:
        """Start publishing from ``sim_time`` (earlier fixes and events are not sent)."""
        for v in self.vehicles:
            v.next_fix = max(v.next_fix, math.ceil(sim_time * self.rate_hz) / self.rate_hz)
            v.next_event = bisect.bisect_left([e[0] for e in v.events], sim_time)

    def step(self, sim_time: float | datetime) -> list[tuple[str, bytes]]:
        """Every message due up to ``sim_time`` (epoch seconds or aware datetime)."""
        if isinstance(sim_time, datetime):
            sim_time = sim_time.timestamp()
        out: list[tuple[str, bytes]] = []
        dt = 1.0 / self.rate_hz
        for v in self.vehicles:
            stop_fixes = min(sim_time, v.end + 60)
            while v.next_fix <= stop_fixes:
                t = v.next_fix
                v.next_fix += dt
                if t >= v.silent_from:
                    continue
                out.append(self._fix(v, t))
            while v.next_event < len(v.events) and v.events[v.next_event][0] <= sim_time:
                t, kind, stop_id, reason = v.events[v.next_event]
                v.next_event += 1
                eid = f"{self.run_id}-{v.vehicle_id}-{v.next_event}"
                out.append(
                    event_message(self.depot_id, v.vehicle_id, eid, t, kind, stop_id, reason)
                )
        return out

    def position(self, v: _Vehicle, t: float) -> tuple[float, float, float]:
        """(lat, lon, speed km/h) of a vehicle at ``t`` on its timeline."""
        while v.idx + 1 < len(v.segments) and v.segments[v.idx].t1 <= t:
            v.idx += 1
        if v.idx > 0 and t < v.segments[v.idx].t0:
            v.idx = max(0, bisect.bisect_right(v.starts, t) - 1)
        s = v.segments[v.idx]
        if t >= s.t1 or not s.moving:
            p = s.b if t >= s.t1 else s.a
            return p.lat, p.lon, 0.0
        u = max(0.0, (t - s.t0) / (s.t1 - s.t0))
        lat = s.a.lat + (s.b.lat - s.a.lat) * u
        lon = s.a.lon + (s.b.lon - s.a.lon) * u
        speed = haversine_m(s.a.lat, s.a.lon, s.b.lat, s.b.lon) / (s.t1 - s.t0) * 3.6
        if speed > 0:
            v.heading = math.degrees(math.atan2(s.b.lon - s.a.lon, s.b.lat - s.a.lat)) % 360
        return lat, lon, speed

    def _fix(self, v: _Vehicle, t: float) -> tuple[str, bytes]:
        lat, lon, speed = self.position(v, t)
        if self.gps_noise_m:
            n = self.rng.normal(0.0, self.gps_noise_m, 2) / 111_000.0
            lat += float(n[0])
            lon += float(n[1]) / max(0.2, math.cos(math.radians(lat)))
            if speed > 0:
                speed = max(0.0, speed * float(self.rng.normal(1.0, 0.05)))
        seq = int(round(t * self.rate_hz))
        return fix_message(
            self.fmt, self.depot_id, v.vehicle_id, seq, t, lat, lon, speed, v.heading
        )


def _offset(a: Location, b: Location, metres: float) -> Location:
    """A point ``metres`` to the side of the middle of a->b (a detour off the route)."""
    mid_lat, mid_lon = (a.lat + b.lat) / 2, (a.lon + b.lon) / 2
    k = math.cos(math.radians(mid_lat))
    dx, dy = (b.lon - a.lon) * k, b.lat - a.lat
    norm = math.hypot(dx, dy) or 1.0
    side = metres / 111_000.0
    return Location(mid_lat + dx / norm * side, mid_lon - dy / norm * side / k)
