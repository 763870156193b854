"""The fleet simulator as a digital twin: vehicles that drive the route they were last sent.

Each vehicle follows its route stop by stop, along the streets (:mod:`app.simulator.streets`)
at the city's true speeds by zone and hour, serves each customer for that customer's own
time and sometimes finds nobody in (:mod:`app.simulator.world`), and meets the day's
trouble (:mod:`app.simulator.trouble`). Its driver takes their break as the plan times it
(``engine.evaluate``'s lazy rule, on the twin's own drive times): parked on the way (or at
the stop, if the break's window opens after the arrival), reporting ``break_start`` and
``break_end``. Its timeline is built lazily, one stop ahead, so a
new route — released, reassigned, re-planned, undone — takes effect from where the vehicle
is: a stop it is driving to that stays first is still served; otherwise it turns at the
next street corner towards its new first stop. Stops it served stay served.

``set_route(vehicle_id, order_ids, version)`` hands a route over (newer versions only);
``step(t)`` returns every message due up to simulated time ``t`` — position fixes at
``rate_hz`` and the stop events — so a CLI publishes them to a broker and the workstation
drives it in-process; ``orders_due(t)`` returns the late orders known by ``t``.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from app.simulator.formats import device_key, event_message, fix_message
from app.simulator.streets import Leg, TwinRoads
from app.simulator.trouble import Incident, LateOrder, TroubleSpec, draw
from app.simulator.world import StopOutcome, Traffic, keyed_rng, stop_outcome
from engine.evaluate import break_times, lazy_break
from engine.geo import haversine_m
from engine.model import DayInput, Driver, Location, Order, Plan, Route
from engine.problem import BreakSpec

log = logging.getLogger(__name__)

FOREVER = 10.0**12
#: Fleets up to this size drive the streets by default (larger: straight lines).
STREETS_UP_TO = 300


@dataclass(slots=True)
class _Act:
    """A stretch of a vehicle's day: driving a leg, or staying at one point."""

    phase: str  # drive | break (parked on the way) | wait | serve | home | idle | broken
    t0: float
    t1: float
    lat: float = 0.0  # where it stays (not for drives)
    lon: float = 0.0
    leg: Leg | None = None
    stop: str | None = None


@dataclass(slots=True)
class _Event:
    t: float
    act: int
    type: str
    stop: str | None
    reason: str | None = None


@dataclass
class _Vehicle:
    vehicle_id: str
    route_id: str
    version: int
    start: float  # when it leaves the depot
    queue: list[str]  # stops still to visit, in order
    rng: np.random.Generator
    acts: list[_Act] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    events: list[_Event] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # stops visited or being visited
    next_fix: float = 0.0
    next_event: int = 0
    emitted: int = 0
    heading: float = 0.0
    slow: float = 1.0
    late_by: float = 0.0
    breakdown_at: float = math.inf
    silent: tuple[float, float] = (math.inf, math.inf)
    detour_at: float = math.inf
    detour_m: float = 0.0
    finished: bool = False
    broken: bool = False

    @property
    def begin(self) -> float:
        return self.acts[0].t0 if self.acts else self.start

    @property
    def end(self) -> float:
        """When it stops sending for the day: back at the depot, or towed away four hours
        after a breakdown; inf while busy."""
        if not self.finished or not self.acts:
            return math.inf
        return self.acts[-1].t0 + (4 * 3600 if self.broken else 0.0)

    def add(self, act: _Act) -> int:
        self.acts.append(act)
        self.starts.append(act.t0)
        return len(self.acts) - 1

    def event(self, t: float, act: int, type_: str, stop: str | None, reason=None) -> None:
        self.events.append(_Event(t, act, type_, stop, reason))


@dataclass(frozen=True)
class Incidents:
    """Which vehicle has which trouble today (chosen by the seed): the first of each kind,
    every incident, and the stops whose attempt fails on the first plan."""

    delayed: str | None = None
    breakdown: str | None = None
    silent: str | None = None
    stray: str | None = None
    failed_orders: tuple[str, ...] = ()
    details: dict[str, float] = field(default_factory=dict)
    all: tuple[Incident, ...] = ()


class Simulator:
    """The digital twin of a depot's fleet; ``step(sim_time)`` -> [(topic, payload bytes)]."""

    def __init__(
        self,
        plan: Plan,
        day: DayInput,
        *,
        seed: int = 0,
        fmt: str = "native",
        rate_hz: float = 1.0,
        incidents: bool = True,
        trouble: TroubleSpec | None = None,
        run_id: str | None = None,
        gps_noise_m: float = 4.0,
        network=None,
        streets: bool | None = None,
        incidents_list: Sequence[Incident] | None = None,
        late_orders: Sequence[LateOrder] | None = None,
        failed: Iterable[str] | None = None,
    ) -> None:
        """``incidents_list``, ``late_orders`` and ``failed`` replay a recorded day's
        disruptions instead of drawing them from the seed (``failed``: the orders whose
        attempt fails; the others succeed)."""
        self.fmt = fmt
        self.seed = seed
        self.depot_id = plan.depot_id
        self.rate_hz = rate_hz
        self.run_id = run_id or f"sim{seed}"
        self.gps_noise_m = gps_noise_m
        depot = day.depot(plan.depot_id)
        self.depot = depot.location
        self.orders: dict[str, Order] = {o.id: o for o in day.orders}
        if streets is None and sum(1 for r in plan.routes if r.stops) > STREETS_UP_TO:
            streets = False  # a load generator's fleet: straight lines, an instant start
        network = _network(network, depot.location, streets)
        origin = (float(network.node_x.min()), float(network.node_y.min())) if network else (0, 0)
        self.traffic = Traffic(seed, origin)
        self.roads = TwinRoads(self.traffic, depot.timezone, network, hub=depot.location)
        spec = (trouble or TroubleSpec()) if incidents else TroubleSpec.none()
        routes = [r for r in plan.routes if r.stops]
        points = network.random_street_points if network is not None else None
        self.trouble, self.late_orders = draw(seed, spec, routes, day, plan.depot_id, points)
        if incidents_list is not None:
            self.trouble = [i for i in incidents_list if i.kind != "late_orders"]
        if late_orders is not None:
            self.late_orders = sorted(late_orders, key=lambda lo: lo.known_at)
            self.trouble += [Incident("late_orders", None, lo.known_at, order_id=lo.order.id)
                             for lo in self.late_orders]  # fmt: skip
        self.forced_failed = None if failed is None else frozenset(failed)
        self.trouble_spec = spec
        for lo in self.late_orders:
            self.orders[lo.order.id] = lo.order
        self._late_given = 0
        self._day_drivers = {d.id: d for d in day.drivers}
        self.drivers: dict[str, Driver] = {}  # vehicle id -> its driver today
        self._pair_drivers(plan.routes)
        self.now = -math.inf  # the newest simulated time asked for
        self.vehicles: list[_Vehicle] = []
        self._by_id: dict[str, _Vehicle] = {}
        for route in routes:
            self._new_vehicle(route.vehicle_id, route.id, 0, _start_of(route), route.order_ids)
        self.incidents = self._incidents(routes)

    # -- building the day -------------------------------------------------------------
    def _new_vehicle(self, vid, route_id, version, start, order_ids) -> _Vehicle:
        v = _Vehicle(vid, route_id, version, start, self._known(order_ids),
                     keyed_rng(self.seed, "gps", vid))  # fmt: skip
        for inc in self.trouble:
            if inc.vehicle_id != vid:
                continue
            if inc.kind == "delay":
                v.slow, v.late_by = inc.factor, inc.late_by_s
                v.start += inc.late_by_s
            elif inc.kind == "breakdown":
                v.breakdown_at = inc.at
            elif inc.kind == "silent":
                v.silent = (inc.at, inc.until or math.inf)
            elif inc.kind == "detour":
                v.detour_at, v.detour_m = inc.at, inc.metres
        v.next_fix = math.ceil(v.start * self.rate_hz) / self.rate_hz
        self.vehicles.append(v)
        self._by_id[vid] = v
        return v

    def _known(self, order_ids: Iterable[str]) -> list[str]:
        out = []
        for oid in order_ids:
            if oid in self.orders:
                out.append(oid)
            else:
                log.warning("twin: order %s is not known; the vehicle skips it", oid)
        return out

    def _incidents(self, routes) -> Incidents:
        first: dict[str, Incident] = {}
        for inc in self.trouble:
            first.setdefault(inc.kind, inc)
        failed = tuple(
            oid
            for r in routes
            for oid in r.order_ids
            if oid in self.orders and self._outcome(oid).failed
        )
        details = {}
        for kind, key in (("breakdown", "breakdown_at"), ("silent", "silent_from"),
                          ("detour", "stray_from")):  # fmt: skip
            if kind in first:
                details[key] = first[kind].at

        def vid(kind: str) -> str | None:
            return first[kind].vehicle_id if kind in first else None

        return Incidents(vid("delay"), vid("breakdown"), vid("silent"), vid("detour"), failed,
                         details, tuple(self.trouble))  # fmt: skip

    def _outcome(self, order_id: str):
        order = self.orders[order_id]
        outcome = stop_outcome(self.seed, order_id, order.customer or order.address,
                               order.service_time.total_seconds())  # fmt: skip
        if self.forced_failed is not None and outcome.failed != (order_id in self.forced_failed):
            service = (
                150.0 if order_id in self.forced_failed else order.service_time.total_seconds()
            )
            outcome = StopOutcome(service, order_id in self.forced_failed)
        return outcome

    def _pair_drivers(self, routes: Iterable[Route]) -> None:
        """Each route's vehicle driven by the route's driver (else the vehicle's own)."""
        for d in self._day_drivers.values():
            if d.vehicle_id and d.vehicle_id not in self.drivers:
                self.drivers[d.vehicle_id] = d
        for r in routes:
            driver = self._day_drivers.get(r.driver_id or "")
            if driver is not None:
                self.drivers[r.vehicle_id] = driver

    def _due_break(self, v: _Vehicle, t: float) -> BreakSpec | None:
        """The driver's break still to take on leaving at ``t`` (epoch seconds), if any."""
        d = self.drivers.get(v.vehicle_id)
        if d is None or not d.breaks:
            return None
        taken = sum(1 for e in v.events if e.type == "break_start")
        b = d.break_due(datetime.fromtimestamp(t, UTC), taken)
        if b is None:
            return None
        return BreakSpec(b.earliest.timestamp(), b.latest.timestamp(), b.duration.total_seconds())

    def _position_after(self, v: _Vehicle) -> tuple[float, Location]:
        if not v.acts:
            return v.start, self.depot
        last = v.acts[-1]
        if last.leg is not None:
            return last.t1, Location(float(last.leg.lat[-1]), float(last.leg.lon[-1]))
        return last.t1, Location(last.lat, last.lon)

    def _extend(self, v: _Vehicle, until: float) -> None:
        """Build the vehicle's day on until it covers ``until`` (or it has finished)."""
        while not v.finished and (not v.acts or v.acts[-1].t1 <= until):
            t, here = self._position_after(v)
            if v.queue:
                self._visit(v, t, here, v.queue.pop(0))
            elif haversine_m(here.lat, here.lon, self.depot.lat, self.depot.lon) > 30:
                leg = self._drive(v, t, here, self.depot, None, "home")
                if leg is not None:
                    v.event(t + leg.seconds, len(v.acts) - 1, "returned", None)
            else:
                v.add(_Act("idle", t, FOREVER, here.lat, here.lon))
                v.finished = True

    def _drive(self, v, t, a: Location, b: Location, stop, phase) -> Leg | None:
        """Append a drive (with the day's detour and breakdown); None if it broke down."""
        leg = self.roads.leg(a, b, t)
        if v.detour_at <= t:
            v.detour_at = math.inf
            off = _offset(a, b, v.detour_m)
            first = self.roads.leg(a, off, t)
            second = self.roads.leg(off, b, t + first.seconds)
            leg = Leg(np.concatenate([first.lat, second.lat[1:]]),
                      np.concatenate([first.lon, second.lon[1:]]),
                      np.concatenate([first.t, first.t[-1] + second.t[1:]]), first.on_streets)  # fmt: skip
        leg = leg.scaled(v.slow) if v.slow != 1.0 else leg
        if v.breakdown_at < t + leg.seconds:
            cut = leg.until(max(0.0, v.breakdown_at - t))
            v.add(_Act("drive", t, t + cut.seconds, leg=cut, stop=stop))
            self._break_down(v, t + cut.seconds, float(cut.lat[-1]), float(cut.lon[-1]))
            return None
        v.add(_Act(phase, t, t + leg.seconds, leg=leg, stop=stop))
        return leg

    def _break_down(self, v: _Vehicle, t: float, lat: float, lon: float) -> None:
        i = v.add(_Act("broken", t, FOREVER, lat, lon))
        v.event(t + 60, i, "breakdown", None, "engine")
        v.broken = v.finished = True

    def _visit(self, v: _Vehicle, t: float, here: Location, stop: str) -> None:
        order = self.orders[stop]
        if v.breakdown_at <= t:  # it broke down while serving the last stop
            self._break_down(v, t, here.lat, here.lon)
            return
        leg = self._drive(v, t, here, order.location, stop, "drive")
        if leg is None:
            return
        v.done.append(stop)
        arrive = ready = t + leg.seconds
        brk = self._due_break(v, t)
        on_arrival = None  # the break taken at the stop: its start
        if brk is not None:
            b_start, b_ready = break_times(brk, t, arrive)
            windows = tuple((w.start.timestamp(), w.end.timestamp()) for w in order.windows)
            service = order.service_time.total_seconds()
            if lazy_break(brk, arrive, b_ready, windows, service):
                ready = b_ready
                if b_start <= arrive:  # parked on the way: the drive goes on after it
                    self._break_on_the_way(v, b_start - t, brk.duration, stop)
                    arrive = b_ready
                else:
                    on_arrival = b_start
        drive_act = len(v.acts) - 1
        v.event(arrive, drive_act, "arrived", stop)
        lat, lon = order.location.lat, order.location.lon
        if on_arrival is not None:  # its window opens after the arrival: taken there
            if on_arrival > arrive:
                v.add(_Act("wait", arrive, on_arrival, lat, lon, stop=stop))
            i = v.add(_Act("wait", on_arrival, ready, lat, lon, stop=stop))
            v.event(on_arrival, i, "break_start", None)
            v.event(ready, i, "break_end", None)
        begin = ready
        window = next((w for w in order.windows if ready <= w.end.timestamp()), None)
        if window is not None and ready < window.start.timestamp():
            begin = window.start.timestamp()
            v.add(_Act("wait", ready, begin, lat, lon, stop=stop))
        outcome = self._outcome(stop)
        done = begin + outcome.service_s
        i = v.add(_Act("serve", begin, done, order.location.lat, order.location.lon, stop=stop))
        if outcome.failed:
            v.event(done, i, "failed", stop, "customer_absent")
        else:
            v.event(done, i, "delivered", stop)
        v.event(done, i, "departed", stop)

    def _break_on_the_way(self, v: _Vehicle, after_s: float, duration: float, stop: str) -> None:
        """Split the drive just added: parked ``duration`` seconds ``after_s`` into it."""
        drive = v.acts.pop()
        v.starts.pop()
        leg = drive.leg
        assert leg is not None
        first, rest = leg.until(after_s), _leg_after(leg, after_s)
        at = drive.t0 + first.seconds
        v.add(_Act("drive", drive.t0, at, leg=first, stop=stop))
        i = v.add(_Act("break", at, at + duration, float(first.lat[-1]), float(first.lon[-1]),
                       stop=stop))  # fmt: skip
        v.event(at, i, "break_start", None)
        v.event(at + duration, i, "break_end", None)
        v.add(_Act("drive", at + duration, at + duration + rest.seconds, leg=rest, stop=stop))

    # -- following the route it was last sent ----------------------------------------------
    def set_route(
        self,
        vehicle_id: str,
        order_ids: Sequence[str],
        version: int,
        *,
        route_id: str = "",
        at: float | None = None,
        start: float | None = None,
    ) -> bool:
        """The route ``vehicle_id`` was sent now (or at epoch ``at``): from where it is,
        it drives ``order_ids`` in order, skipping stops it has visited. Older or equal
        versions are ignored (False); a broken-down vehicle takes the route but stays put."""
        at = self.now if at is None else at
        v = self._by_id.get(vehicle_id)
        if v is None:
            if not order_ids:
                return False
            begin = max(at, start) if start is not None else at
            v = self._new_vehicle(vehicle_id, route_id, version, begin, order_ids)
            v.next_fix = max(v.next_fix, math.ceil(at * self.rate_hz) / self.rate_hz)
            return True
        if version <= v.version and (not route_id or route_id == v.route_id):
            return False  # versions rise per route: an older one of the same route
        v.version, v.route_id = version, route_id or v.route_id
        order_ids = self._known(order_ids)
        if v.broken:
            v.queue = [oid for oid in order_ids if oid not in v.done]
            return True
        if not v.acts or at < v.acts[0].t0:  # still at the depot: start over
            v.acts.clear()
            v.starts.clear()
            v.done.clear()
            del v.events[v.next_event :]
            v.queue, v.finished = list(order_ids), False
            if start is not None:
                v.start = start + v.late_by
                v.next_fix = math.ceil(v.start * self.rate_hz) / self.rate_hz
            return True
        self._extend(v, at)
        i = max(0, bisect.bisect_right(v.starts, at) - 1)
        act = v.acts[i]
        if act.phase == "broken":
            v.queue = [oid for oid in order_ids if oid not in v.done]
            return True
        visited = {a.stop for a in v.acts[:i] if a.stop is not None}
        pending = [oid for oid in order_ids if oid not in visited]
        if act.stop is not None and act.phase in ("wait", "serve"):  # finish this stop
            keep_through = _last_act_of(v, i, act.stop)
        elif act.phase in ("drive", "break") and pending and pending[0] == act.stop:
            keep_through = _last_act_of(v, i, act.stop)  # it drives on to a stop still first
        elif act.phase == "break":  # the break goes on; then to the new first stop
            _unvisit(v, i, act.stop)
            keep_through = i
        else:  # turn towards the new first stop from here (or go home)
            _unvisit(v, i, act.stop)
            _cut(v, i, at)
            keep_through = i
        _truncate(v, keep_through)
        v.done = list(dict.fromkeys(a.stop for a in v.acts if a.stop is not None))
        v.queue = [oid for oid in order_ids if oid not in v.done]
        v.finished = False
        v.next_fix = max(v.next_fix, math.ceil(at * self.rate_hz) / self.rate_hz)
        return True

    def set_plan(self, plan: Plan, *, version: int, at: float | None = None) -> int:
        """Every route of ``plan`` sent at once (vehicles with no route left go home);
        returns how many vehicles took a new route."""
        self._pair_drivers(plan.routes)
        taken = 0
        routed = set()
        for route in plan.routes:
            routed.add(route.vehicle_id)
            start = route.start.timestamp() if route.start else None
            taken += self.set_route(route.vehicle_id, route.order_ids, version,
                                    route_id=route.id, at=at, start=start)  # fmt: skip
        for v in list(self.vehicles):
            if v.vehicle_id not in routed:
                taken += self.set_route(v.vehicle_id, (), version, at=at)
        return taken

    def add_orders(self, orders: Iterable[Order]) -> list[str]:
        """Orders the twin did not know (added at the desk, or sent with a route): their
        customers and places become known; returns the ids that were new."""
        new = []
        for order in orders:
            if order.id not in self.orders:
                new.append(order.id)
                self.orders[order.id] = order
        return new

    def route_of(self, vehicle_id: str) -> tuple[str, int, list[str]]:
        """(route id, version, stops still to visit) as the vehicle holds them."""
        v = self._by_id[vehicle_id]
        return v.route_id, v.version, list(v.queue)

    def orders_due(self, sim_time: float) -> list[Order]:
        """Late orders that became known by ``sim_time`` and were not given out yet."""
        out = []
        while (
            self._late_given < len(self.late_orders)
            and self.late_orders[self._late_given].known_at <= sim_time
        ):
            out.append(self.late_orders[self._late_given].order)
            self._late_given += 1
        return out

    # -- running ----------------------------------------------------------------------
    @property
    def start_time(self) -> float:
        return min((v.start for v in self.vehicles), default=0.0)

    @property
    def end_time(self) -> float:
        """When the last vehicle stops for the day, as its routes stand now."""
        for v in self.vehicles:
            self._extend(v, FOREVER / 2)
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
        self.now = max(self.now, sim_time)
        for v in self.vehicles:
            self._extend(v, sim_time)
            v.next_fix = max(v.next_fix, math.ceil(sim_time * self.rate_hz) / self.rate_hz)
            while v.next_event < len(v.events) and v.events[v.next_event].t < sim_time:
                v.next_event += 1
                v.emitted += 1

    def step(self, sim_time: float | datetime) -> list[tuple[str, bytes]]:
        """Every message due up to ``sim_time`` (epoch seconds or aware datetime)."""
        if isinstance(sim_time, datetime):
            sim_time = sim_time.timestamp()
        self.now = max(self.now, sim_time)
        out: list[tuple[str, bytes]] = []
        dt = 1.0 / self.rate_hz
        for v in self.vehicles:
            self._extend(v, sim_time)
            last_fix = min(sim_time, v.end + 60)
            silent0, silent1 = v.silent
            while v.next_fix <= last_fix:
                t = v.next_fix
                v.next_fix += dt
                if t < v.begin or silent0 <= t < silent1:
                    continue
                out.append(self._fix(v, t))
            if v.next_fix <= sim_time:  # parked for the day: catch up, nothing to say
                v.next_fix = math.ceil(sim_time * self.rate_hz) / self.rate_hz
            while v.next_event < len(v.events) and v.events[v.next_event].t <= sim_time:
                ev = v.events[v.next_event]
                v.next_event += 1
                v.emitted += 1
                if ev.type == "returned":
                    continue  # not on the wire: the depot sees the van by its fixes
                eid = f"{self.run_id}-{v.vehicle_id}-{v.emitted}"
                out.append(
                    event_message(self.depot_id, v.vehicle_id, eid, ev.t, ev.type, ev.stop,
                                  ev.reason)
                )  # fmt: skip
        return out

    def position(self, v: _Vehicle, t: float) -> tuple[float, float, float]:
        """(lat, lon, speed km/h) of a vehicle at ``t`` on its timeline."""
        self._extend(v, t)
        i = max(0, bisect.bisect_right(v.starts, t) - 1)
        act = v.acts[i]
        leg = act.leg
        if leg is None:
            return act.lat, act.lon, 0.0
        s = min(max(0.0, t - act.t0), leg.seconds)
        k = int(np.searchsorted(leg.t, s, side="right"))
        k = min(max(k, 1), len(leg.t) - 1)
        t_a, t_b = float(leg.t[k - 1]), float(leg.t[k])
        lat_a, lon_a = float(leg.lat[k - 1]), float(leg.lon[k - 1])
        lat_b, lon_b = float(leg.lat[k]), float(leg.lon[k])
        u = 0.0 if t_b <= t_a else (s - t_a) / (t_b - t_a)
        lat, lon = lat_a + (lat_b - lat_a) * u, lon_a + (lon_b - lon_a) * u
        if t_b <= t_a or t >= act.t1:
            return lat, lon, 0.0
        dist = haversine_m(lat_a, lon_a, lat_b, lon_b)
        if dist > 0.5:
            k_lon = math.cos(math.radians(lat_a))
            v.heading = math.degrees(math.atan2((lon_b - lon_a) * k_lon, lat_b - lat_a)) % 360
        return lat, lon, dist / (t_b - t_a) * 3.6

    def _fix(self, v: _Vehicle, t: float) -> tuple[str, bytes]:
        lat, lon, speed = self.position(v, t)
        if self.gps_noise_m:
            n = v.rng.normal(0.0, self.gps_noise_m, 2) / 111_000.0
            lat += float(n[0])
            lon += float(n[1]) / max(0.2, math.cos(math.radians(lat)))
            if speed > 0:
                speed = max(0.0, speed * float(v.rng.normal(1.0, 0.05)))
        seq = int(round(t * self.rate_hz))
        return fix_message(
            self.fmt, self.depot_id, v.vehicle_id, seq, t, lat, lon, speed, v.heading
        )


def _start_of(route) -> float:
    start = route.start or route.stops[0].planned_arrival
    return start.timestamp()


def _last_act_of(v: _Vehicle, i: int, stop: str) -> int:
    """The index of the last act (its service) of the visit to ``stop`` from act ``i`` on."""
    j = i
    while j + 1 < len(v.acts) and v.acts[j + 1].stop == stop:
        j += 1
    return j


def _unvisit(v: _Vehicle, i: int, stop: str | None) -> None:
    """The drive (and break on the way) towards ``stop`` up to act ``i`` no longer leads
    there: the stop is not visited by them."""
    j = i
    while (
        stop is not None
        and j >= 0
        and v.acts[j].stop == stop
        and v.acts[j].phase
        in (
            "drive",
            "break",
        )
    ):
        v.acts[j].stop = None
        j -= 1


def _leg_after(leg: Leg, seconds: float) -> Leg:
    """The rest of ``leg`` from ``seconds`` into it (its times from there)."""
    if seconds <= 0:
        return leg
    if seconds >= leg.seconds:
        return Leg(leg.lat[-1:], leg.lon[-1:], np.zeros(1), leg.on_streets)
    k = int(np.searchsorted(leg.t, seconds, side="right"))
    lat = float(np.interp(seconds, leg.t, leg.lat))
    lon = float(np.interp(seconds, leg.t, leg.lon))
    return Leg(
        np.concatenate([[lat], leg.lat[k:]]),
        np.concatenate([[lon], leg.lon[k:]]),
        np.concatenate([[0.0], leg.t[k:] - seconds]),
        leg.on_streets,
    )


def _cut(v: _Vehicle, i: int, at: float) -> None:
    """End act ``i`` at ``at`` (a drive ends where the vehicle is then); drop its later
    events (an arrival that will not happen)."""
    act = v.acts[i]
    if act.leg is not None:
        act.leg = act.leg.until(max(0.0, at - act.t0))
        act.t1 = act.t0 + act.leg.seconds
    else:
        act.t1 = at
    act.phase = "drive" if act.leg is not None else "idle"
    act.stop = None
    while v.events and v.events[-1].act >= i and v.events[-1].t > at:
        v.events.pop()


def _truncate(v: _Vehicle, keep_through: int) -> None:
    del v.acts[keep_through + 1 :]
    del v.starts[keep_through + 1 :]
    while v.events and v.events[-1].act > keep_through:
        v.events.pop()


def _network(network, depot: Location, streets: bool | None):
    """The street network the vehicles drive on: the given one, else the demo city's when
    the depot lies in it (unless ``streets`` is False)."""
    if streets is False:
        return None
    if network is None:
        from app.roads.library import open_network
        from engine.roads import DEMO_CITY_NETWORK

        if not DEMO_CITY_NETWORK.exists():
            return None
        network = open_network(DEMO_CITY_NETWORK)
    b = network.bounds
    inside = b.south <= depot.lat <= b.north and b.west <= depot.lon <= b.east
    if not inside and streets is None:
        return None
    return network


def _offset(a: Location, b: Location, metres: float) -> Location:
    """A point ``metres`` to the side of the middle of a->b (a detour off the route)."""
    mid_lat, mid_lon = (a.lat + b.lat) / 2, (a.lon + b.lon) / 2
    k = math.cos(math.radians(mid_lat))
    dx, dy = (b.lon - a.lon) * k, b.lat - a.lat
    norm = math.hypot(dx, dy) or 1.0
    side = metres / 111_000.0
    return Location(mid_lat + dx / norm * side, mid_lon - dy / norm * side / k)
