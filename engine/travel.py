"""Travel distances and times between points, behind one small interface.

Two models live here: :class:`HaversineTravelModel` (great circle x detour factor, works
anywhere) and :class:`StreetNetworkTravelModel` (fastest paths over a real street graph,
speeds by road class and time of day). A third, for an OSRM-compatible server, lives in
``app.travel.osrm`` because it talks to the network. All return :class:`TravelMatrices`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import numpy as np

from engine.geo import haversine_between_m, haversine_matrix_m, haversine_pairs_m
from engine.model import Location
from engine.roads import StreetNetwork, arcs_csr, period_of_hour, undirected_csr

if TYPE_CHECKING:  # scipy is imported where it is used: slow to import, not needed to start
    import scipy.sparse as sp

log = logging.getLogger(__name__)

SNAP_MEMO = 200_000  # points whose street node is remembered


@dataclass(frozen=True, eq=False)
class TravelMatrices:
    """All-pairs distances (metres) and durations (seconds), n x n float64; row = from."""

    distance_m: np.ndarray
    duration_s: np.ndarray

    def __post_init__(self) -> None:
        for name in ("distance_m", "duration_s"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.ndim != 2 or value.shape[0] != value.shape[1]:
                raise ValueError(f"{name}: must be a square matrix, got shape {value.shape}")
            object.__setattr__(self, name, value)
        if self.distance_m.shape != self.duration_s.shape:
            raise ValueError(
                f"distance_m {self.distance_m.shape} and duration_s {self.duration_s.shape} differ"
            )

    @property
    def size(self) -> int:
        return int(self.distance_m.shape[0])


@runtime_checkable
class TravelModel(Protocol):
    """Anything that turns points (and a departure time) into travel matrices.

    Models may also offer ``matrices_between(sources, targets, depart)`` -> (distance,
    duration) arrays of one row per source (what a new point costs without the square
    matrix again; every entry as ``matrices`` gives it) and ``time_key(depart)``: departures
    with equal keys give equal matrices (a kept day context then survives the clock).
    """

    def matrices(
        self, points: Sequence[Location], depart: datetime | None = None
    ) -> TravelMatrices: ...


def travel_between(
    travel: TravelModel,
    sources: Sequence[Location],
    targets: Sequence[Location],
    depart: datetime | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(distance, duration) from each source to each target: the model's own rectangular
    call where it has one, else its square matrices over both sets (one place for the
    fallback: the solver's context and the wrapping models ask through it)."""
    between = getattr(travel, "matrices_between", None)
    if between is not None:
        distance, duration = between(sources, targets, depart)
        return np.asarray(distance, dtype=np.float64), np.asarray(duration, dtype=np.float64)
    mats = travel.matrices([*sources, *targets], depart)
    m = len(sources)
    return mats.distance_m[:m, m:], mats.duration_s[:m, m:]


def _latlon(points: Sequence[Location]) -> tuple[np.ndarray, np.ndarray]:
    lat = np.fromiter((p.lat for p in points), dtype=np.float64, count=len(points))
    lon = np.fromiter((p.lon for p in points), dtype=np.float64, count=len(points))
    return lat, lon


@dataclass(frozen=True)
class HaversineTravelModel:
    """Great-circle distance times a detour factor, at one average speed: the fallback."""

    speed_kmh: float = 35.0
    detour: float = 1.3

    def __post_init__(self) -> None:
        if not self.speed_kmh > 0:
            raise ValueError(f"speed_kmh: must be positive, got {self.speed_kmh}")
        if not self.detour >= 1.0:
            raise ValueError(f"detour: must be at least 1, got {self.detour}")

    def matrices(
        self, points: Sequence[Location], depart: datetime | None = None
    ) -> TravelMatrices:
        lat, lon = _latlon(points)
        distance = haversine_matrix_m(lat, lon) * self.detour
        return TravelMatrices(distance, distance / (self.speed_kmh / 3.6))

    def matrices_between(
        self,
        sources: Sequence[Location],
        targets: Sequence[Location],
        depart: datetime | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distance, duration) from each source to each target, as ``matrices`` has them."""
        distance = haversine_between_m(*_latlon(sources), *_latlon(targets)) * self.detour
        return distance, distance / (self.speed_kmh / 3.6)

    def time_key(self, depart: datetime | None) -> None:
        """One speed all day: every departure gives the same matrices."""
        return None

    def leg_distances_m(
        self, lats1: np.ndarray, lons1: np.ndarray, lats2: np.ndarray, lons2: np.ndarray
    ) -> np.ndarray:
        """The distance from each point ``k`` of one set to point ``k`` of the other, as
        ``matrices`` has it (a route's legs without the square matrix of its stops)."""
        distance: np.ndarray = haversine_pairs_m(lats1, lons1, lats2, lons2) * self.detour
        return distance


@dataclass(frozen=True, slots=True)
class _Encoding:
    """Time and length packed in one exact float: ``time_units * 2**bits + length_units``.

    Dijkstra then minimises time and breaks ties by length, and every sum stays an exact
    integer below 2**53, so one run yields both the fastest path's time and its length.
    """

    time_unit_s: float
    length_unit_m: float
    bits: int

    @classmethod
    def for_network(cls, lengths: np.ndarray, slowest_mps: float) -> _Encoding:
        time_unit, length_unit = 0.01, 0.1
        while True:  # a simple path is never longer than the whole network
            bits = math.ceil(math.log2(lengths.sum() / length_unit + len(lengths) + 2))
            time_bits = math.ceil(
                math.log2(lengths.sum() / slowest_mps / time_unit + len(lengths) + 2)
            )
            if bits + time_bits <= 53:
                return cls(time_unit, length_unit, bits)
            time_unit, length_unit = time_unit * 2, length_unit * 2

    def encode(self, seconds: np.ndarray, metres: np.ndarray) -> np.ndarray:
        t = np.maximum(np.rint(seconds / self.time_unit_s), 1.0)
        m = np.maximum(np.rint(metres / self.length_unit_m), 1.0)
        return t * float(2**self.bits) + m

    def decode(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scale = float(2**self.bits)
        t = np.floor(packed / scale)
        return t * self.time_unit_s, (packed - t * scale) * self.length_unit_m


def _chain_blocks(net: StreetNetwork) -> tuple[np.ndarray, np.ndarray]:
    """Per chain edge (in ``chains.edges`` order): counts before it, then it, of edges that
    a one-way street forbids driving forwards (start to stop) and backwards: two arrays of
    ``len(chains.edges) + 1`` running counts."""
    chains = net.chains
    assert net.edge_oneway is not None
    flat = chains.edges
    after = np.empty(len(flat), dtype=np.int64)  # the node each chain edge leads to
    inner = np.flatnonzero(chains.node_chain >= 0)
    after[chains.offsets[chains.node_chain[inner]] + chains.node_pos[inner] - 1] = inner
    ends = chains.offsets[1:][chains.offsets[1:] > chains.offsets[:-1]] - 1
    after[ends] = chains.stop[chains.offsets[1:] > chains.offsets[:-1]]
    forward = net.edge_v[flat] == after
    one = net.edge_oneway[flat]
    zero = np.zeros(1, dtype=np.int64)
    no_fwd = np.concatenate([zero, np.cumsum(one & ~forward)])
    no_bwd = np.concatenate([zero, np.cumsum(one & forward)])
    return no_fwd, no_bwd


class _Period:
    """One time-of-day period: packed edge weights, the junction graph, cached results.

    On a network with one-way streets the junction graph is directed: a chain gives an
    arc start->stop only if none of its edges is one-way the other way (and likewise back).
    """

    def __init__(self, net: StreetNetwork, weights: np.ndarray) -> None:
        chains = net.chains
        self.weights = weights
        self.full = None  # the whole graph, built when a route is drawn
        prefix = np.concatenate([[0.0], np.cumsum(weights[chains.edges])])
        self.chain_base = prefix[chains.offsets[:-1]]
        self.chain_total = prefix[chains.offsets[1:]] - self.chain_base
        self.prefix = prefix
        # The junction graph, numbered compactly (Dijkstra's set-up cost grows with size).
        self.junctions = np.unique(np.concatenate([chains.start, chains.stop]))
        a = np.searchsorted(self.junctions, chains.start)
        b = np.searchsorted(self.junctions, chains.stop)
        keep = a != b
        n = len(self.junctions)
        self.directed = net.has_oneway
        self.no_fwd = self.no_bwd = np.zeros(0, dtype=np.int64)
        self.core_t: sp.csr_matrix | None = None
        if self.directed:
            self.no_fwd, self.no_bwd = _chain_blocks(net)
            lo, hi = chains.offsets[:-1], chains.offsets[1:]
            fwd = keep & (self.no_fwd[hi] == self.no_fwd[lo])
            bwd = keep & (self.no_bwd[hi] == self.no_bwd[lo])
            total = self.chain_total
            self.core = arcs_csr(
                n,
                np.concatenate([a[fwd], b[bwd]]),
                np.concatenate([b[fwd], a[bwd]]),
                np.concatenate([total[fwd], total[bwd]]),
            )
            self.core_t = self.core.T.tocsr()  # searches towards a junction
        else:
            self.core = undirected_csr(n, a[keep], b[keep], self.chain_total[keep])
        # Junction-to-junction results, grown as new junctions are asked for: the first
        # ``count`` of ``nodes``, their results in ``packed`` (room to grow without a copy).
        self.forget()

    def forget(self) -> None:
        self.last_used = time.monotonic()
        self.nodes = np.empty(0, dtype=np.int64)
        # compact junction number -> its row in ``packed`` (-1: not computed yet)
        self.pos = np.full(len(self.junctions), -1, dtype=np.int64)
        self.packed = np.empty((0, 0))
        self.count = 0

    def reserve(self, size: int) -> None:
        """Room for ``size`` junctions (grown by half again, so adding one rarely copies)."""
        if size <= len(self.nodes):
            return
        room = max(size, len(self.nodes) * 3 // 2, 64)
        nodes = np.empty(room, dtype=np.int64)
        nodes[: self.count] = self.nodes[: self.count]
        packed = np.empty((room, room))
        packed[: self.count, : self.count] = self.packed[: self.count, : self.count]
        self.nodes, self.packed = nodes, packed


class StreetNetworkTravelModel:
    """Fastest paths over a street network, with speeds for the departure's time of day.

    Each point is snapped to its nearest street node and reaches it in a straight line at
    ``access_speed_kmh`` (with one-way streets: the nearest node that can be both reached
    and left, see ``StreetNetwork.drivable_nodes``); a point further than ``max_access_m`` from any street is refused.
    Paths run over the junction graph (chains of street segments
    between junctions, about a fifth of the nodes); one Dijkstra run per new junction fills
    the matrix, and results are cached per time-of-day period, so adding a point to a known
    set costs at most two runs.
    """

    def __init__(
        self,
        network: StreetNetwork,
        *,
        timezone: str | None = None,
        access_speed_kmh: float = 15.0,
        max_access_m: float = 2000.0,
        max_cached_nodes: int = 4000,
        batch: int = 256,
    ) -> None:
        self.network = network
        self.timezone = ZoneInfo(timezone) if timezone else None
        self.access_mps = access_speed_kmh / 3.6
        self.max_access_m = max_access_m
        self.max_cached_nodes = max_cached_nodes
        self.batch = batch
        speeds = network.edge_speed_kmh(None) / 3.6
        slowest = float(min(speeds.min(), self.access_mps)) * 0.5  # rush hours are slower
        self._encoding = _Encoding.for_network(network.edge_length_m, slowest)
        self._periods: dict[str, _Period] = {}
        # (lat, lon) -> (street node, access metres)
        self._snapped: dict[tuple[float, float], tuple[int, float]] = {}
        self._lock = threading.Lock()

    def release_idle(self, idle_s: float, at_least_bytes: int = 8 * 2**20) -> int:
        """Forget the junction-to-junction results of each time-of-day period nobody asked
        for in the last ``idle_s`` seconds, if they hold ``at_least_bytes`` or more; returns
        the bytes let go. A 2,000-vehicle day's 2,174 junctions hold 38 MB, asked for at
        the start (the plan, the live ETAs' travel, the release gate) and rarely after: a
        later request computes what it needs again (a few junctions, a few milliseconds;
        every junction of such a day, some seconds). Never waits: while another thread is
        computing (it holds the lock for seconds on a big day), nothing is let go this time
        (the caller is the window's thread)."""
        released = 0
        now = time.monotonic()
        if not self._lock.acquire(blocking=False):
            return 0
        try:
            for period in self._periods.values():
                held = period.packed.nbytes
                if held >= at_least_bytes and now - period.last_used >= idle_s:
                    period.forget()
                    released += held
        finally:
            self._lock.release()
        if released:
            log.info("street travel: %.0f MB of junction results idle, let go", released / 2**20)
        return released

    def period(self, depart: datetime | None) -> tuple[str, int | None]:
        """The time-of-day period name and local hour the matrices are computed for."""
        if depart is None:
            return period_of_hour(None)[0], None
        if self.timezone is not None and depart.tzinfo is not None:
            depart = depart.astimezone(self.timezone)
        return period_of_hour(depart.hour)[0], depart.hour

    def _period(self, name: str, hour: int | None) -> _Period:
        period = self._periods.get(name)
        if period is None:
            net = self.network
            seconds = net.edge_length_m / (net.edge_speed_kmh(hour) / 3.6)
            period = _Period(net, self._encoding.encode(seconds, net.edge_length_m))
            self._periods[name] = period
        return period

    def _junction_matrix(
        self,
        period: _Period,
        nodes: np.ndarray,
        targets: np.ndarray | None = None,
        *,
        keep: bool = True,
    ) -> np.ndarray:
        """Packed fastest-path results from junctions ``nodes`` to ``targets`` (default: the
        same), cached: one Dijkstra run per junction never asked for before.

        With ``keep=False`` the cache answers if it holds them all, else one forward search
        per source answers and nothing is kept (the same exact packed sums): for one-off
        questions, such as the streets of a route drawn on the map, which would otherwise
        fill the cache with junctions the plan and the ETAs never ask for."""
        targets = nodes if targets is None else targets
        wanted = nodes if targets is nodes else np.unique(np.concatenate([nodes, targets]))
        if not keep and (period.pos[wanted] < 0).any():
            return self._searched(period.core, nodes, targets)
        if keep:  # a one-off question answered by the cache does not keep it from the let-go
            period.last_used = time.monotonic()
        missing = wanted[period.pos[wanted] < 0].tolist()
        if period.count + len(missing) > self.max_cached_nodes:
            period.forget()
            missing = wanted.tolist()
        if missing:
            started = time.perf_counter()
            k_old = period.count
            period.reserve(k_old + len(missing))
            period.nodes[k_old : k_old + len(missing)] = missing
            known = period.nodes[: k_old + len(missing)]
            new_rows = self._searched(period.core, missing, known)
            packed = period.packed
            packed[k_old : len(known), : len(known)] = new_rows
            if not period.directed:
                packed[:k_old, k_old : len(known)] = new_rows[:, :k_old].T
            elif k_old:  # from the junctions known before to the new ones: search backwards
                assert period.core_t is not None
                cols = self._searched(period.core_t, missing, known[:k_old])
                packed[:k_old, k_old : len(known)] = cols.T
            period.count = len(known)
            period.pos[missing] = np.arange(k_old, k_old + len(missing))
            log.debug("%d new junctions in %.2f s", len(missing), time.perf_counter() - started)
        rows = period.pos[nodes]
        cols = rows if targets is nodes else period.pos[targets]
        found: np.ndarray = period.packed[np.ix_(rows, cols)]
        return found

    def _searched(
        self, graph: sp.csr_matrix, sources: Sequence[int] | np.ndarray, columns: np.ndarray
    ) -> np.ndarray:
        """Packed fastest-path results over ``graph`` from each of ``sources`` (one row
        each) to ``columns``: one Dijkstra run per source, ``batch`` sources at a time."""
        from scipy.sparse.csgraph import dijkstra

        found = np.empty((len(sources), len(columns)))
        for lo in range(0, len(sources), self.batch):
            rows = dijkstra(graph, directed=True, indices=sources[lo : lo + self.batch])
            found[lo : lo + len(rows)] = rows[:, columns]
        return found

    def _chain_ends(
        self, period: _Period, nodes: np.ndarray, leaving: bool
    ) -> tuple[np.ndarray, ...]:
        """Per street node: its chain (-1 at a junction), the chain's two ends as compact
        junction numbers, the packed cost between the node and each end (from the node
        when ``leaving``, else to it; inf where a one-way street forbids it), how far along
        its chain it is and its place in ``chains.edges``."""
        chains = self.network.chains
        chain = chains.node_chain[nodes]
        inner = chain >= 0
        c = np.where(inner, chain, 0)
        at = chains.offsets[c] + chains.node_pos[nodes]
        along = period.prefix[at] - period.chain_base[c]
        ends_a = np.searchsorted(period.junctions, np.where(inner, chains.start[c], nodes))
        ends_b = np.searchsorted(period.junctions, np.where(inner, chains.stop[c], nodes))
        off_a = np.where(inner, along, 0.0)
        off_b = np.where(inner, period.chain_total[c] - along, 0.0)
        if period.directed:
            lo, hi = chains.offsets[c], chains.offsets[c + 1]
            # towards the start (leaving) or from it (arriving) over the edges before
            before = period.no_bwd if leaving else period.no_fwd
            after = period.no_fwd if leaving else period.no_bwd
            off_a = np.where(inner & (before[at] != before[lo]), np.inf, off_a)
            off_b = np.where(inner & (after[hi] != after[at]), np.inf, off_b)
        return np.where(inner, chain, -1), ends_a, ends_b, off_a, off_b, along, at

    def _node_matrix(
        self,
        period: _Period,
        nodes: np.ndarray,
        targets: np.ndarray | None = None,
        *,
        keep: bool = True,
    ) -> np.ndarray:
        """Packed fastest-path results from street nodes ``nodes`` to ``targets`` (default:
        the same nodes; each set unique); ``keep`` as in ``_junction_matrix``.

        A node inside a chain leaves it by one of the chain's two junctions (or stays on
        the chain when the other node is on it too); packed sums stay exact, so the least
        of the combinations is the fastest path, ties broken by length, and each entry is
        the same whichever other nodes are asked for with it.
        """
        square = targets is None
        targets = nodes if targets is None else targets
        chain_s, sa, sb, s_off_a, s_off_b, s_along, s_at = self._chain_ends(period, nodes, True)
        chain_t, ta, tb, t_off_a, t_off_b, t_along, t_at = self._chain_ends(period, targets, False)
        from_j = np.unique(np.concatenate([sa, sb]))
        to_j = from_j if square else np.unique(np.concatenate([ta, tb]))
        core = self._junction_matrix(period, from_j, None if square else to_j, keep=keep)
        isa, isb = np.searchsorted(from_j, sa), np.searchsorted(from_j, sb)
        ita, itb = np.searchsorted(to_j, ta), np.searchsorted(to_j, tb)
        best: np.ndarray | None = None
        for i_from, o_from in ((isa, s_off_a), (isb, s_off_b)):
            for i_to, o_to in ((ita, t_off_a), (itb, t_off_b)):
                via: np.ndarray = o_from[:, None] + core[np.ix_(i_from, i_to)] + o_to[None, :]
                best = via if best is None else np.minimum(best, via)
        assert best is not None
        same = (chain_s[:, None] >= 0) & (chain_s[:, None] == chain_t[None, :])
        direct = np.abs(s_along[:, None] - t_along[None, :])
        if period.directed:  # along the chain only the way its one-way edges allow
            i, j = s_at[:, None], t_at[None, :]
            fwd, bwd = period.no_fwd, period.no_bwd
            allowed = np.where(i <= j, fwd[j] == fwd[i], bwd[i] == bwd[j])
            direct = np.where(allowed, direct, np.inf)
        best = np.where(same, np.minimum(best, direct), best)
        best[nodes[:, None] == targets[None, :]] = 0.0
        return best

    def route_polyline(
        self, points: Sequence[Location], depart: datetime | None = None
    ) -> np.ndarray:
        """The streets a vehicle drives through ``points`` in order, as an M x 2 lat/lon array."""
        if not points:
            return np.zeros((0, 2))
        from scipy.sparse.csgraph import dijkstra

        lat, lon = _latlon(points)
        snapped, _ = self.network.snap_drivable(lat, lon)
        name, hour = self.period(depart)
        with self._lock:
            period = self._period(name, hour)
            if period.full is None:
                period.full = self.network.graph(period.weights)
            graph = period.full
            unique = np.unique(snapped)
            # Drawn routes' junctions are not kept: the map retraces routes all day, and
            # their junctions would crowd out the ones the plan and the ETAs ask for.
            packed = self._node_matrix(period, unique, keep=False)
        at = {int(n): i for i, n in enumerate(unique)}
        net = self.network
        out = [(lat[0], lon[0])]
        for k in range(len(points) - 1):
            a, b = int(snapped[k]), int(snapped[k + 1])
            # The search stops once past the known fastest time to b: short legs stay cheap.
            limit = packed[at[a], at[b]] + 1.0
            _, pred = dijkstra(graph, indices=a, limit=limit, return_predecessors=True)
            chain, node = [], b
            while node != a and node >= 0:
                chain.append(node)
                node = int(pred[node])
            chain.append(a)
            out.extend(zip(net.node_lat[chain[::-1]], net.node_lon[chain[::-1]], strict=True))
            out.append((lat[k + 1], lon[k + 1]))
        return np.asarray(out, dtype=np.float64)

    def time_key(self, depart: datetime | None) -> str:
        """The time-of-day period: departures in the same period give the same matrices."""
        return self.period(depart)[0]

    def _snap(self, points: Sequence[Location]) -> tuple[np.ndarray, np.ndarray]:
        """Each point's street node and access distance (remembered per point: a kept day
        asks for the same points again with every new one)."""
        known = self._snapped
        keys = [(p.lat, p.lon) for p in points]  # tuples of floats hash in C
        new = list({k for k in keys if k not in known})
        if new:
            lat = np.fromiter((k[0] for k in new), dtype=np.float64, count=len(new))
            lon = np.fromiter((k[1] for k in new), dtype=np.float64, count=len(new))
            nodes, access = self.network.snap_drivable(lat, lon)
            found = dict(zip(new, zip(nodes.tolist(), access.tolist(), strict=True), strict=True))
            if len(known) + len(new) <= SNAP_MEMO:
                known.update(found)
            known = {**known, **found}
        found_ids, found_m = zip(*[known[k] for k in keys], strict=True) if keys else ((), ())
        snapped = np.array(found_ids, dtype=np.int64)
        access_m = np.array(found_m, dtype=np.float64)
        far = np.flatnonzero(access_m > self.max_access_m)
        if len(far):
            i = int(far[0])
            lat, lon = _latlon(points)
            raise ValueError(
                f"point {i} ({lat[i]:.6f}, {lon[i]:.6f}) is {access_m[i]:.0f} m from the nearest "
                f"street of {self.network.source or 'the network'} ({len(far)} such point(s)): "
                "outside the street network's area?"
            )
        return snapped, access_m

    def snap_ahead(self, points: Sequence[Location]) -> None:
        """Find many points' street nodes in one search (a big day's stops before a matrix
        per route): each later matrix looks its points up instead of searching again."""
        known = self._snapped
        new = list({(p.lat, p.lon) for p in points} - known.keys())
        if not new or len(known) + len(new) > SNAP_MEMO:
            return
        lat = np.fromiter((k[0] for k in new), dtype=np.float64, count=len(new))
        lon = np.fromiter((k[1] for k in new), dtype=np.float64, count=len(new))
        nodes, access = self.network.snap_drivable(lat, lon)
        known.update(zip(new, zip(nodes.tolist(), access.tolist(), strict=True), strict=True))

    def _decoded(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not np.isfinite(packed).all():
            raise ValueError("street network: some points lie on streets not connected to others")
        return self._encoding.decode(packed)

    def matrices(
        self, points: Sequence[Location], depart: datetime | None = None
    ) -> TravelMatrices:
        n = len(points)
        if n == 0:
            return TravelMatrices(np.zeros((0, 0)), np.zeros((0, 0)))
        snapped, access_m = self._snap(points)
        unique, inverse = np.unique(snapped, return_inverse=True)
        name, hour = self.period(depart)
        with self._lock:
            packed = self._node_matrix(self._period(name, hour), unique)
        seconds, metres = self._decoded(packed)
        inverse = inverse.ravel()
        access_s = access_m / self.access_mps
        distance = metres[np.ix_(inverse, inverse)] + access_m[:, None] + access_m[None, :]
        duration = seconds[np.ix_(inverse, inverse)] + access_s[:, None] + access_s[None, :]
        np.fill_diagonal(distance, 0.0)
        np.fill_diagonal(duration, 0.0)
        return TravelMatrices(distance, duration)

    def matrices_between(
        self,
        sources: Sequence[Location],
        targets: Sequence[Location],
        depart: datetime | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(distance, duration) from each source to each target, entry for entry as
        ``matrices`` gives them (a point and itself: 0 only where ``matrices`` has its
        diagonal, so the caller zeroes a point's own entry)."""
        if not len(sources) or not len(targets):
            return np.zeros((len(sources), len(targets))), np.zeros((len(sources), len(targets)))
        s_nodes, s_access = self._snap(sources)
        t_nodes, t_access = self._snap(targets)
        s_unique, s_inv = np.unique(s_nodes, return_inverse=True)
        t_unique, t_inv = np.unique(t_nodes, return_inverse=True)
        name, hour = self.period(depart)
        with self._lock:
            packed = self._node_matrix(self._period(name, hour), s_unique, t_unique)
        seconds, metres = self._decoded(packed)
        s_inv, t_inv = s_inv.ravel(), t_inv.ravel()
        distance = metres[np.ix_(s_inv, t_inv)] + s_access[:, None] + t_access[None, :]
        duration = (
            seconds[np.ix_(s_inv, t_inv)]
            + (s_access / self.access_mps)[:, None]
            + (t_access / self.access_mps)[None, :]
        )
        return distance, duration
