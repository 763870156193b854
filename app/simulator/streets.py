"""How the twin's vehicles drive: along the streets, at the city's true speeds.

A leg from one point to another follows the fastest path over the street network for the
hour it starts in, with every street's speed the network's own (road class, time of day)
times its zone's multiplier (:class:`app.simulator.world.Traffic`). Points off the street
(an address on a kerb) are joined to the nearest street node in a straight line at walking
pace for a van. Without a street network (a synthetic fleet far from the demo city) legs
are straight lines at a city speed, times the same zone multipliers.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from app.simulator.world import Traffic
from engine.geo import haversine_m
from engine.model import Location
from engine.roads import StreetNetwork

ACCESS_KMH = 12.0  # from the kerb to the street node and back
CITY_KMH = 32.0  # straight-line legs, without a street network
DETOUR = 1.3
MAX_SNAP_M = 1500.0  # farther from any street: the leg goes straight
SEARCH_MPS = 3.0  # a path search looks as far as the straight line at this speed, and more


@dataclass(frozen=True, slots=True)
class Leg:
    """A drive: points in order with the seconds from the leg's start at each."""

    lat: np.ndarray
    lon: np.ndarray
    t: np.ndarray
    on_streets: bool

    @property
    def seconds(self) -> float:
        return float(self.t[-1])

    def scaled(self, factor: float) -> Leg:
        return Leg(self.lat, self.lon, self.t * factor, self.on_streets)

    def until(self, seconds: float) -> Leg:
        """The leg cut at ``seconds`` (the position then is its last point)."""
        if seconds >= self.seconds:
            return self
        k = int(np.searchsorted(self.t, seconds, side="right"))
        lat, lon = _interp(self, seconds)
        return Leg(
            np.append(self.lat[:k], lat),
            np.append(self.lon[:k], lon),
            np.append(self.t[:k], seconds),
            self.on_streets,
        )


def _interp(leg: Leg, seconds: float) -> tuple[float, float]:
    return float(np.interp(seconds, leg.t, leg.lat)), float(np.interp(seconds, leg.t, leg.lon))


def straight_leg(a: Location, b: Location, speed_mps: float) -> Leg:
    dist = haversine_m(a.lat, a.lon, b.lat, b.lon) * DETOUR
    return Leg(
        np.array([a.lat, b.lat]),
        np.array([a.lon, b.lon]),
        np.array([0.0, max(1.0, dist / speed_mps)]),
        False,
    )


class TwinRoads:
    """Legs over a street network (or straight lines) at the twin's true speeds."""

    def __init__(
        self,
        traffic: Traffic,
        timezone: str,
        network: StreetNetwork | None = None,
        *,
        hub: Location | None = None,
        cache_trees: int = 32,
    ) -> None:
        self.traffic = traffic
        self.tz = ZoneInfo(timezone)
        self.net = network
        self.hub = (hub.lat, hub.lon) if hub is not None else None  # the depot: many legs
        self._graphs: dict[int, object] = {}
        self._trees: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_trees = cache_trees
        self._snapped: dict[tuple[float, float], tuple[int, float]] = {}
        self.legs_built = 0
        if network is not None:
            xm = (network.node_x[network.edge_u] + network.node_x[network.edge_v]) / 2
            ym = (network.node_y[network.edge_u] + network.node_y[network.edge_v]) / 2
            cols, rows = traffic.zones_of_xy(xm, ym)
            zones, inverse = np.unique(np.stack([cols, rows], axis=1), axis=0, return_inverse=True)
            self._zones = [(int(c), int(r)) for c, r in zones]
            self._edge_zone = inverse.ravel()

    def hour(self, ts: float) -> int:
        return datetime.fromtimestamp(ts, self.tz).hour

    def zone_of(self, loc: Location) -> tuple[int, int]:
        """The traffic zone a point lies in."""
        if self.net is not None:
            x, y = self.net.projection.forward(loc.lat, loc.lon)
            return self.traffic.zone_of_xy(float(x), float(y))
        # Without a network: an equirectangular grid (metres from 0°N 0°E, good enough).
        k = math.cos(math.radians(loc.lat)) * 111_320.0
        return self.traffic.zone_of_xy(loc.lon * k, loc.lat * 110_574.0)

    # -- legs ------------------------------------------------------------------------
    def leg(self, a: Location, b: Location, depart: float) -> Leg:
        """The drive from ``a`` to ``b`` setting off at epoch ``depart``."""
        self.legs_built += 1
        hour = self.hour(depart)
        if self.net is None:
            return self._straight(a, b, hour)
        na, da = self._snap(a)
        nb, db = self._snap(b)
        if da > MAX_SNAP_M or db > MAX_SNAP_M:
            return self._straight(a, b, hour)
        hub = (hour, na) in self._trees or (a.lat, a.lon) == self.hub
        dist, pred = self._tree(hour, na) if hub else self._tree(hour, na, b, a)
        if not math.isfinite(dist[nb]):
            dist, pred = self._tree(hour, na)
        if not math.isfinite(dist[nb]):
            return self._straight(a, b, hour)
        chain = [nb]
        node = nb
        while node != na:
            node = int(pred[node])
            chain.append(node)
        nodes = np.asarray(chain[::-1], dtype=np.int64)
        access = ACCESS_KMH / 3.6
        t_nodes = da / access + dist[nodes]
        lat = np.concatenate([[a.lat], self.net.node_lat[nodes], [b.lat]])
        lon = np.concatenate([[a.lon], self.net.node_lon[nodes], [b.lon]])
        t = np.concatenate([[0.0], t_nodes, [t_nodes[-1] + db / access]])
        return Leg(lat, lon, np.maximum.accumulate(t), True)

    def _straight(self, a: Location, b: Location, hour: int) -> Leg:
        mid = Location((a.lat + b.lat) / 2, (a.lon + b.lon) / 2)
        col, row = self.zone_of(mid)
        return straight_leg(a, b, CITY_KMH / 3.6 * self.traffic.speed(col, row, hour))

    def _snap(self, loc: Location) -> tuple[int, float]:
        key = (loc.lat, loc.lon)
        hit = self._snapped.get(key)
        if hit is None:
            assert self.net is not None
            nodes, dist = self.net.snap_drivable(loc.lat, loc.lon)
            hit = self._snapped[key] = (int(nodes[0]), float(dist[0]))
        return hit

    def _graph(self, hour: int):
        graph = self._graphs.get(hour)
        if graph is None:
            net = self.net
            assert net is not None
            zone_speed = np.array([self.traffic.speed(c, r, hour) for c, r in self._zones])
            speed = net.edge_speed_kmh(hour) / 3.6 * zone_speed[self._edge_zone]
            graph = self._graphs[hour] = net.graph(net.edge_length_m / speed)
        return graph

    def _tree(
        self, hour: int, source: int, to: Location | None = None, frm: Location | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fastest times (and predecessors) from ``source``; with ``to``, the search stops
        well past any plausible time to it (a city leg), else it covers the network."""
        key = (hour, source)
        tree = self._trees.get(key)
        if tree is not None:
            self._trees.move_to_end(key)
            return tree
        from scipy.sparse.csgraph import dijkstra  # slow to import: when first driven

        graph = self._graph(hour)
        if to is not None and frm is not None:  # not cached: the next leg starts elsewhere
            straight = haversine_m(frm.lat, frm.lon, to.lat, to.lon)
            limit = 180.0 + straight / SEARCH_MPS
            return dijkstra(graph, indices=source, return_predecessors=True, limit=limit)
        dist, pred = dijkstra(graph, indices=source, return_predecessors=True)
        tree = self._trees[key] = (dist, pred)
        if len(self._trees) > self._cache_trees:
            self._trees.popitem(last=False)
        return tree
