"""A city's street network: nodes, edges, speeds by road class and time of day, snapping.

The network comes from a GeoParquet file of street segments (columns ``highway`` and a WKB
``geometry`` of LineStrings, as OpenStreetMap extracts are commonly published), read with
pyarrow and shapely alone. Projected files in a Transverse Mercator CRS (UTM) are turned
into WGS84 latitude/longitude with the Krüger series (accurate to well under a millimetre
within a UTM zone); edge lengths are true ground metres (grid length over the scale factor).

Every segment is a two-way edge. Speeds come from the road class (:data:`FREE_FLOW_KMH`)
times a time-of-day factor (:data:`TIME_OF_DAY`): rush hours are slower, main roads more
so than side streets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # scipy and shapely are imported where used: slow to import, not needed to start
    import scipy.sparse as sp
    import shapely
    from scipy.spatial import cKDTree

log = logging.getLogger(__name__)

#: The demo city's network, shipped with the application (© OpenStreetMap contributors).
DEMO_CITY_NETWORK = (
    Path(__file__).resolve().parent.parent / "resources/roads/salt_lake_city.parquet"
)

#: Free-flow speed in km/h by OpenStreetMap ``highway`` class; other classes get
#: :data:`DEFAULT_KMH`. Typical urban US speeds (the posted limit is not in the data).
FREE_FLOW_KMH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 60.0,
    "primary_link": 45.0,
    "secondary": 50.0,
    "secondary_link": 40.0,
    "tertiary": 45.0,
    "tertiary_link": 35.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "service": 20.0,
    "living_street": 10.0,
    "pedestrian": 10.0,
}
DEFAULT_KMH = 30.0

#: Main roads: they carry the rush-hour slowdown in full; side streets get half of it.
MAIN_ROADS = frozenset(
    c for c in FREE_FLOW_KMH if c.split("_")[0] in ("motorway", "trunk", "primary", "secondary")
)

#: Classes where no delivery address lies (ramps, motorways, pedestrian zones).
NO_DELIVERY = frozenset(
    {"motorway", "motorway_link", "trunk_link", "primary_link", "secondary_link"}
    | {"tertiary_link", "pedestrian"}
)

#: (first hour, last hour exclusive, name, speed factor on main roads) in local time.
#: Side streets run at ``1 - (1 - factor) / 2``. Hours not listed run at free flow.
TIME_OF_DAY: tuple[tuple[int, int, str, float], ...] = (
    (6, 7, "early", 0.90),
    (7, 9, "am_peak", 0.65),
    (9, 11, "late_morning", 0.85),
    (11, 14, "midday", 0.80),
    (14, 16, "afternoon", 0.85),
    (16, 18, "pm_peak", 0.60),
    (18, 19, "evening", 0.85),
)
FREE_FLOW = "free_flow"


def period_of_hour(hour: int | None) -> tuple[str, float]:
    """The time-of-day period (name, main-road speed factor) of a local clock hour."""
    if hour is not None:
        for first, last, name, factor in TIME_OF_DAY:
            if first <= hour < last:
                return name, factor
    return FREE_FLOW, 1.0


@dataclass(frozen=True, slots=True)
class TransverseMercator:
    """A Transverse Mercator projection (UTM is one) on an ellipsoid, numpy-vectorised."""

    lon0_deg: float
    k0: float = 0.9996
    false_easting: float = 500_000.0
    false_northing: float = 0.0
    a: float = 6_378_137.0
    inv_f: float = 298.257223563

    @classmethod
    def utm(cls, zone: int, north: bool = True) -> TransverseMercator:
        if not 1 <= zone <= 60:
            raise ValueError(f"UTM zone: {zone} is outside 1..60")
        return cls(lon0_deg=zone * 6.0 - 183.0, false_northing=0.0 if north else 10_000_000.0)

    def _series(
        self,
    ) -> tuple[float, float, tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
        n = 1.0 / (2.0 * self.inv_f - 1.0)  # f / (2 - f)
        big_a = self.a / (1 + n) * (1 + n**2 / 4 + n**4 / 64)
        alpha = (
            n / 2 - 2 * n**2 / 3 + 5 * n**3 / 16,
            13 * n**2 / 48 - 3 * n**3 / 5,
            61 * n**3 / 240,
        )
        beta = (n / 2 - 2 * n**2 / 3 + 37 * n**3 / 96, n**2 / 48 + n**3 / 15, 17 * n**3 / 480)
        delta = (2 * n - 2 * n**2 / 3 - 2 * n**3, 7 * n**2 / 3 - 8 * n**3 / 5, 56 * n**3 / 15)
        return n, big_a, alpha, beta, delta

    def _conformal(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[Any, ...]:
        n, big_a, alpha, _, _ = self._series()
        phi = np.radians(np.asarray(lat, dtype=np.float64))
        dlam = np.radians(np.asarray(lon, dtype=np.float64) - self.lon0_deg)
        c = 2 * np.sqrt(n) / (1 + n)
        t = np.sinh(np.arctanh(np.sin(phi)) - c * np.arctanh(c * np.sin(phi)))
        xi = np.arctan2(t, np.cos(dlam))
        eta = np.arctanh(np.sin(dlam) / np.sqrt(1 + t**2))
        return n, big_a, alpha, phi, dlam, t, xi, eta

    def forward(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 degrees -> (easting, northing) in metres."""
        _, big_a, alpha, _, _, _, xi, eta = self._conformal(lat, lon)
        x, y = eta.copy(), xi.copy()
        for j, aj in enumerate(alpha, start=1):
            x += aj * np.cos(2 * j * xi) * np.sinh(2 * j * eta)
            y += aj * np.sin(2 * j * xi) * np.cosh(2 * j * eta)
        k = self.k0 * big_a
        return self.false_easting + k * x, self.false_northing + k * y

    def inverse(
        self, easting: npt.ArrayLike, northing: npt.ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        """(easting, northing) in metres -> WGS84 (lat, lon) degrees."""
        _, big_a, _, beta, delta = self._series()
        k = self.k0 * big_a
        xi = (np.asarray(northing, dtype=np.float64) - self.false_northing) / k
        eta = (np.asarray(easting, dtype=np.float64) - self.false_easting) / k
        xi_p, eta_p = xi.copy(), eta.copy()
        for j, bj in enumerate(beta, start=1):
            xi_p -= bj * np.sin(2 * j * xi) * np.cosh(2 * j * eta)
            eta_p -= bj * np.cos(2 * j * xi) * np.sinh(2 * j * eta)
        chi = np.arcsin(np.sin(xi_p) / np.cosh(eta_p))
        phi = chi.copy()
        for j, dj in enumerate(delta, start=1):
            phi += dj * np.sin(2 * j * chi)
        lam = np.arctan2(np.sinh(eta_p), np.cos(xi_p))
        return np.degrees(phi), self.lon0_deg + np.degrees(lam)

    def scale_factor(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> np.ndarray:
        """Point scale factor: grid metres per ground metre at each point."""
        n, big_a, alpha, phi, dlam, t, xi, eta = self._conformal(lat, lon)
        sigma, tau = np.ones_like(xi), np.zeros_like(xi)
        for j, aj in enumerate(alpha, start=1):
            sigma += 2 * j * aj * np.cos(2 * j * xi) * np.cosh(2 * j * eta)
            tau += 2 * j * aj * np.sin(2 * j * xi) * np.sinh(2 * j * eta)
        q = (1 + ((1 - n) / (1 + n) * np.tan(phi)) ** 2) * (sigma**2 + tau**2)
        scale: np.ndarray = self.k0 * big_a / self.a * np.sqrt(q / (t**2 + np.cos(dlam) ** 2))
        return scale


@dataclass(frozen=True, slots=True)
class Bounds:
    """A lat/lon box (Leaflet order: ``[[south, west], [north, east]]``)."""

    south: float
    west: float
    north: float
    east: float


@dataclass(frozen=True, slots=True)
class EdgePolylines:
    """All edges as flat lat/lon arrays: edge ``i`` is ``lat[offsets[i]:offsets[i+1]]``."""

    lat: np.ndarray
    lon: np.ndarray
    offsets: np.ndarray
    highway: np.ndarray  # class code per edge, an index into ``classes``
    classes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StreetPoints:
    """Points on streets: where, on which edge, how far along it (0..1)."""

    lat: np.ndarray
    lon: np.ndarray
    edge: np.ndarray
    fraction: np.ndarray


def undirected_csr(n: int, u: np.ndarray, v: np.ndarray, weights: np.ndarray) -> sp.csr_matrix:
    """An n x n symmetric adjacency of edges u-v (parallel edges keep the least weight)."""
    u, v = np.concatenate([u, v]), np.concatenate([v, u])
    return arcs_csr(n, u, v, np.concatenate([weights, weights]))


def directed_csr(
    n: int, u: np.ndarray, v: np.ndarray, weights: np.ndarray, oneway: np.ndarray
) -> sp.csr_matrix:
    """An n x n adjacency with arc u->v for every edge and v->u for the two-way ones
    (``oneway`` False); parallel arcs keep the least weight."""
    two = ~oneway
    return arcs_csr(
        n,
        np.concatenate([u, v[two]]),
        np.concatenate([v, u[two]]),
        np.concatenate([weights, weights[two]]),
    )


def arcs_csr(n: int, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> sp.csr_matrix:
    """An n x n adjacency of arcs u->v (parallel arcs keep the least weight)."""
    order = np.lexsort((w, v, u))
    u, v, w = u[order], v[order], w[order]
    first = np.ones(len(u), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    import scipy.sparse as sp

    return sp.csr_matrix((w[first], (u[first], v[first])), shape=(n, n))


@dataclass(frozen=True, slots=True)
class Chains:
    """Streets between junctions: chain ``c`` runs from junction ``start[c]`` to ``stop[c]``
    over edges ``edges[offsets[c]:offsets[c+1]]`` in order. A node in the middle of a
    chain (degree 2) has ``node_chain`` = its chain and ``node_pos`` = the number of the
    chain's edges before it; junctions have ``node_chain`` -1."""

    start: np.ndarray
    stop: np.ndarray
    edges: np.ndarray
    offsets: np.ndarray
    node_chain: np.ndarray
    node_pos: np.ndarray


def crs_projection(geo_meta: dict[str, Any], column: str, path: Path) -> TransverseMercator | None:
    """The file's projection, or None for a geographic (lon/lat) CRS."""
    crs = geo_meta.get("columns", {}).get(column, {}).get("crs")
    if crs is None or crs.get("type") == "GeographicCRS":
        return None  # GeoParquet: a missing CRS means OGC:CRS84 (lon/lat)
    conv = crs.get("conversion", {})
    method = conv.get("method", {}).get("name", "")
    if crs.get("type") != "ProjectedCRS" or "Transverse Mercator" not in method:
        raise ValueError(
            f"{path.name}: CRS {crs.get('name', '?')!r} ({method or crs.get('type')}) is not "
            "supported; expected WGS84 lon/lat or a Transverse Mercator (UTM) projection"
        )
    params = {p["name"]: float(p["value"]) for p in conv.get("parameters", [])}
    ellipsoid = crs.get("base_crs", {}).get("datum", {}).get("ellipsoid", {})
    return TransverseMercator(
        lon0_deg=params.get("Longitude of natural origin", 0.0),
        k0=params.get("Scale factor at natural origin", 1.0),
        false_easting=params.get("False easting", 0.0),
        false_northing=params.get("False northing", 0.0),
        a=float(ellipsoid.get("semi_major_axis", 6_378_137.0)),
        inv_f=float(ellipsoid.get("inverse_flattening", 298.257223563)),
    )


_CACHE: dict[tuple[str, int, int], StreetNetwork] = {}
_CACHE_LOCK = threading.Lock()

#: Version of the arrays file written next to a street file; another version is re-read.
_ARRAYS_VERSION = 1
_ARRAY_FIELDS = (
    "node_lat", "node_lon", "node_x", "node_y", "edge_u", "edge_v", "edge_length_m",
    "edge_class", "coord_x", "coord_y", "coord_offsets",
)  # fmt: skip
_PROJECTION_FIELDS = ("lon0_deg", "k0", "false_easting", "false_northing", "a", "inv_f")


def arrays_path(path: Path, folder: Path | None = None) -> Path:
    """Where the network's arrays are saved after the first read: in ``folder`` (the
    application's data folder, writable where an installed street file may not be) or,
    without one, next to the street file.

    Read back with NumPy alone: pyarrow (about 30 MB loaded, and some 50 MB more that a
    parquet read leaves in the process) and the WKB parsing are needed only once per
    street file, not at every start. In a folder the name carries a digest of the street
    file's full path, so two files of the same name never share (or overwrite) one arrays
    file; the file's size and modification time are checked inside it."""
    if folder is None:
        return path.with_name(path.name + ".arrays.npz")
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return folder / f"{path.stem}-{digest}.arrays.npz"


def _cache_key(path: Path, stat: Any) -> tuple[str, int, int]:
    """A street file's key in this process's cache: the file, its size and modification."""
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _arrays_version(stat: Any) -> list[int]:
    """What an arrays file for this version of its street file says it is."""
    return [_ARRAYS_VERSION, stat.st_size, stat.st_mtime_ns]


def arrays_saved(path: str | Path, folder: Path | None = None) -> bool:
    """Whether :meth:`StreetNetwork.load` would read ``path``'s network without parsing the
    street file: it is in this process already, or its arrays file is saved (in ``folder``,
    see :func:`arrays_path`) for this version of the file."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return False
    if _cache_key(path, stat) in _CACHE:
        return True
    try:
        with np.load(arrays_path(path, folder), allow_pickle=False) as z:
            saved: list[int] = z["version"].tolist()
    except Exception:  # none yet, torn or foreign: load() reads the street file
        return False
    return saved == _arrays_version(stat)


def _read_arrays(path: Path, stat: Any, folder: Path | None) -> StreetNetwork | None:
    """The network from its arrays file, or None when there is none, it belongs to
    another version of the street file (size, modification time) or is unreadable."""
    cache = arrays_path(path, folder)
    try:
        with np.load(cache, allow_pickle=False) as z:
            if z["version"].tolist() != _arrays_version(stat):
                return None
            arrays: dict[str, Any] = {name: z[name] for name in _ARRAY_FIELDS}
            params = dict(zip(_PROJECTION_FIELDS, z["projection"].tolist(), strict=True))
            optional: dict[str, Any] = {
                name: z[name] if name in z.files else None
                for name in ("edge_maxspeed_kmh", "edge_oneway")
            }
            classes = tuple(str(c) for c in z["classes"].tolist())
            source = str(z["source"])
    except FileNotFoundError:
        return None
    except Exception as exc:  # a torn or foreign file: read the street file instead
        log.warning(
            "street network %s: arrays file unreadable (%s); reading the file", path.name, exc
        )
        return None
    return StreetNetwork(
        **arrays, classes=classes, projection=TransverseMercator(**params), source=source,
        **optional,
    )  # fmt: skip


def _write_arrays(net: StreetNetwork, path: Path, stat: Any, folder: Path | None) -> None:
    """Save ``net``'s arrays for ``path`` (written aside, then moved); a folder that
    cannot be written only costs the next start a parquet read."""
    cache = arrays_path(path, folder)
    arrays = {name: getattr(net, name) for name in _ARRAY_FIELDS}
    for name in ("edge_maxspeed_kmh", "edge_oneway"):
        if getattr(net, name) is not None:
            arrays[name] = getattr(net, name)
    proj = net.projection
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                version=np.array(_arrays_version(stat), np.int64),
                projection=np.array([getattr(proj, n) for n in _PROJECTION_FIELDS], float),
                classes=np.array(net.classes, dtype=str),
                source=np.array(net.source),
                **arrays,
            )
        os.replace(tmp, cache)
    except OSError as exc:
        log.info("street network %s: arrays not saved (%s)", path.name, exc)
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True, eq=False)
class StreetNetwork:
    """An undirected street graph with node coordinates (lat/lon and projected metres)."""

    node_lat: np.ndarray
    node_lon: np.ndarray
    node_x: np.ndarray  # projected metres (local, conformal): for snapping
    node_y: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    edge_class: np.ndarray  # code per edge, an index into ``classes``
    classes: tuple[str, ...]
    coord_x: np.ndarray  # every edge's polyline in projected metres, flat
    coord_y: np.ndarray
    coord_offsets: np.ndarray  # edge i: coord_*[offsets[i]:offsets[i+1]]
    projection: TransverseMercator
    source: str = ""
    #: Posted speed per edge in km/h (NaN: the road class's speed); None: none posted.
    edge_maxspeed_kmh: np.ndarray | None = None
    #: Edges that may be driven only from ``edge_u`` to ``edge_v``; None: all two-way.
    edge_oneway: np.ndarray | None = None

    # ---- loading -------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, arrays_dir: Path | None = None) -> StreetNetwork:
        """Read a GeoParquet street file; cached per process (keyed by path, size, mtime)
        and across processes in an arrays file (in ``arrays_dir``, else next to ``path``:
        see :func:`arrays_path`)."""
        path = Path(path)
        try:
            stat = path.stat()
        except OSError as exc:
            raise FileNotFoundError(f"street network {path}: cannot read ({exc})") from exc
        key = _cache_key(path, stat)
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
            if cached is None:
                started = time.perf_counter()
                cached = _read_arrays(path, stat, arrays_dir)
                if cached is None:
                    cached = cls._parse(path)
                    _write_arrays(cached, path, stat, arrays_dir)
                _CACHE[key] = cached
                log.info(
                    "street network %s: %d nodes, %d edges, %.0f km in %.2f s",
                    path.name,
                    cached.node_count,
                    cached.edge_count,
                    cached.total_length_m / 1000,
                    time.perf_counter() - started,
                )
        return cached

    @classmethod
    def _parse(cls, path: Path) -> StreetNetwork:
        import pyarrow.parquet as pq
        import shapely

        try:
            pfile = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several kinds for a non-parquet file
            raise ValueError(f"{path.name}: not a readable GeoParquet file ({exc})") from exc
        meta = pfile.schema_arrow.metadata or {}
        geo = json.loads(meta.get(b"geo", b"{}"))
        column = geo.get("primary_column", "geometry")
        names = set(pfile.schema_arrow.names)
        missing = {"highway", column} - names
        if missing:
            raise ValueError(f"{path.name}: missing column(s) {sorted(missing)}")
        extra = [c for c in ("oneway", "maxspeed_kmh") if c in names]
        table = pfile.read(columns=["highway", column, *extra])
        # Python lists, not ``to_numpy``: pyarrow turns a column to NumPy through pandas,
        # which would be imported (about a second) for this alone.
        geoms = shapely.from_wkb(np.array(table.column(column).to_pylist(), dtype=object))
        kinds = set(shapely.get_type_id(geoms).tolist())
        if kinds - {shapely.GeometryType.LINESTRING.value}:
            raise ValueError(f"{path.name}: {column} must hold LineStrings only")
        projection = crs_projection(geo, column, path)
        coords, idx = shapely.get_coordinates(geoms, return_index=True)
        if projection is None:  # lon/lat: project onto the UTM zone of the data's centre
            lon_c = float(np.median(coords[:, 0]))
            projection = TransverseMercator.utm(int((lon_c + 180) // 6) + 1)
            x, y = projection.forward(coords[:, 1], coords[:, 0])
            coords = np.column_stack([x, y])
        highway = np.asarray(
            ["unclassified" if h is None else h for h in table.column("highway").to_pylist()]
        )
        net = cls._build(coords, idx, len(geoms), highway, projection, str(path.name))
        if not extra:
            return net
        speed = oneway = None
        if "maxspeed_kmh" in extra:
            speed = np.array(table.column("maxspeed_kmh").to_pylist(), dtype=float)  # None: NaN
        if "oneway" in extra:
            oneway = np.asarray(
                [x or False for x in table.column("oneway").to_pylist()], dtype=bool
            )
        return dataclasses.replace(net, edge_maxspeed_kmh=speed, edge_oneway=oneway)

    @classmethod
    def _build(
        cls,
        coords: np.ndarray,
        idx: np.ndarray,
        n_edges: int,
        highway: np.ndarray,
        projection: TransverseMercator,
        source: str,
    ) -> StreetNetwork:
        counts = np.bincount(idx, minlength=n_edges)
        if (counts < 2).any():
            raise ValueError(f"{source}: {int((counts < 2).sum())} street segment(s) are empty")
        offsets = np.concatenate([[0], np.cumsum(counts)])
        ends = np.concatenate([coords[offsets[:-1]], coords[offsets[1:] - 1]])
        # Segments meet where their end points coincide (to the centimetre).
        nodes_xy, inverse = np.unique(np.round(ends, 2), axis=0, return_inverse=True)
        inverse = inverse.ravel()
        lat, lon = projection.inverse(coords[:, 0], coords[:, 1])
        seg = np.hypot(np.diff(coords[:, 0]), np.diff(coords[:, 1]))
        mid_lat, mid_lon = (lat[:-1] + lat[1:]) / 2, (lon[:-1] + lon[1:]) / 2
        seg = seg / projection.scale_factor(mid_lat, mid_lon)
        seg[offsets[1:-1] - 1] = 0.0  # no piece between one edge's end and the next's start
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        length = cum[offsets[1:] - 1] - cum[offsets[:-1]]
        classes, codes = np.unique(highway, return_inverse=True)
        node_lat, node_lon = projection.inverse(nodes_xy[:, 0], nodes_xy[:, 1])
        return cls(
            node_lat=node_lat,
            node_lon=node_lon,
            node_x=nodes_xy[:, 0].copy(),
            node_y=nodes_xy[:, 1].copy(),
            edge_u=inverse[:n_edges].astype(np.int64),
            edge_v=inverse[n_edges:].astype(np.int64),
            edge_length_m=np.maximum(length, 0.01),
            edge_class=codes.astype(np.int16),
            classes=tuple(str(c) for c in classes),
            coord_x=coords[:, 0].copy(),
            coord_y=coords[:, 1].copy(),
            coord_offsets=offsets,
            projection=projection,
            source=source,
        )

    # ---- size and shape ---------------------------------------------------------------
    @property
    def node_count(self) -> int:
        return len(self.node_lat)

    @property
    def edge_count(self) -> int:
        return len(self.edge_u)

    @property
    def total_length_m(self) -> float:
        return float(self.edge_length_m.sum())

    @cached_property
    def bounds(self) -> Bounds:
        return Bounds(
            float(self.node_lat.min()),
            float(self.node_lon.min()),
            float(self.node_lat.max()),
            float(self.node_lon.max()),
        )

    def edge_highway(self, edge: int) -> str:
        return self.classes[int(self.edge_class[edge])]

    # ---- speeds and the graph ----------------------------------------------------------
    def edge_speed_kmh(self, hour: int | None = None) -> np.ndarray:
        """Speed on every edge at a local clock hour (None = free flow): the posted speed
        where the network has one, else the road class's, times the hour's factor."""
        free = np.array([FREE_FLOW_KMH.get(c, DEFAULT_KMH) for c in self.classes])
        _, factor = period_of_hour(hour)
        main = np.array([c in MAIN_ROADS for c in self.classes])
        per_class = np.where(main, factor, 1.0 - (1.0 - factor) / 2.0)
        base = free[self.edge_class]
        if self.edge_maxspeed_kmh is not None:
            posted = self.edge_maxspeed_kmh
            base = np.where(np.isfinite(posted) & (posted > 0), posted, base)
        speeds: np.ndarray = base * per_class[self.edge_class]
        return speeds

    @property
    def has_oneway(self) -> bool:
        """Whether any edge may be driven one way only (then paths are directed)."""
        return self.edge_oneway is not None and bool(self.edge_oneway.any())

    def graph(self, weights: np.ndarray) -> sp.csr_matrix:
        """A CSR adjacency with one weight per edge (parallel edges: the least): symmetric,
        except that a one-way edge has only its arc from ``edge_u`` to ``edge_v``."""
        if self.edge_oneway is not None and self.has_oneway:
            return directed_csr(
                self.node_count, self.edge_u, self.edge_v, weights, self.edge_oneway
            )
        return undirected_csr(self.node_count, self.edge_u, self.edge_v, weights)

    @cached_property
    def chains(self) -> Chains:
        """The graph's junction-to-junction chains (most nodes only shape a street's bend)."""
        started = time.perf_counter()
        n, m = self.node_count, self.edge_count
        ends = np.concatenate([self.edge_u, self.edge_v])
        degree = np.bincount(ends, minlength=n)
        order = np.argsort(ends, kind="stable")
        first = np.concatenate([[0], np.cumsum(degree)])
        incident = (order % m).tolist()  # node i's edges: incident[first[i]:first[i + 1]]
        eu, ev, first_l = self.edge_u.tolist(), self.edge_v.tolist(), first.tolist()
        is_core = (degree != 2).tolist()
        seen = [False] * m
        node_chain, node_pos = np.full(n, -1, np.int64), np.zeros(n, np.int64)
        starts: list[int] = []
        stops: list[int] = []
        flat: list[int] = []
        offsets = [0]

        def walk_from(c: int) -> None:
            for e in incident[first_l[c] : first_l[c + 1]]:
                if seen[e]:
                    continue
                chain_id, node, edge = len(starts), c, e
                while True:
                    seen[edge] = True
                    flat.append(edge)
                    node = ev[edge] if eu[edge] == node else eu[edge]
                    if is_core[node]:
                        break
                    node_chain[node], node_pos[node] = chain_id, len(flat) - offsets[-1]
                    a, b = incident[first_l[node] : first_l[node] + 2]
                    edge = b if a == edge else a
                starts.append(c)
                stops.append(node)
                offsets.append(len(flat))

        for c in np.flatnonzero(degree != 2).tolist():
            walk_from(c)
        for e in range(m):  # a ring with no junction: one of its nodes becomes one
            if not seen[e]:
                is_core[eu[e]] = True
                walk_from(eu[e])
        log.debug("%d chains found in %.2f s", len(starts), time.perf_counter() - started)
        return Chains(
            np.asarray(starts, np.int64),
            np.asarray(stops, np.int64),
            np.asarray(flat, np.int64),
            np.asarray(offsets, np.int64),
            node_chain,
            node_pos,
        )

    # ---- points -------------------------------------------------------------------------
    @cached_property
    def _tree(self) -> cKDTree:
        from scipy.spatial import cKDTree

        return cKDTree(np.column_stack([self.node_x, self.node_y]))

    def snap(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Nearest node(s) to WGS84 point(s): (node indices, ground distance in metres)."""
        x, y = self.projection.forward(np.atleast_1d(lat), np.atleast_1d(lon))
        dist, nodes = self._tree.query(np.column_stack([x, y]))
        k = self.projection.scale_factor(np.atleast_1d(lat), np.atleast_1d(lon))
        return nodes.astype(np.int64), dist / k

    @cached_property
    def drivable_nodes(self) -> np.ndarray | None:
        """With one-way streets: the nodes of the largest part where every node reaches every
        other and back (a one-way street out of the extract's edge leads nowhere); None when
        nothing is one-way (every node is)."""
        if not self.has_oneway:
            return None
        from scipy.sparse.csgraph import connected_components

        _, labels = connected_components(
            self.graph(self.edge_length_m), directed=True, connection="strong"
        )
        found: np.ndarray = np.flatnonzero(labels == np.argmax(np.bincount(labels)))
        return found

    @cached_property
    def _drivable_tree(self) -> cKDTree:
        nodes = self.drivable_nodes
        assert nodes is not None
        from scipy.spatial import cKDTree

        return cKDTree(np.column_stack([self.node_x[nodes], self.node_y[nodes]]))

    def snap_drivable(
        self, lat: npt.ArrayLike, lon: npt.ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`snap`, onto the nearest node a vehicle can both reach and leave."""
        if self.drivable_nodes is None:
            return self.snap(lat, lon)
        x, y = self.projection.forward(np.atleast_1d(lat), np.atleast_1d(lon))
        dist, at = self._drivable_tree.query(np.column_stack([x, y]))
        k = self.projection.scale_factor(np.atleast_1d(lat), np.atleast_1d(lon))
        return self.drivable_nodes[at].astype(np.int64), dist / k

    @cached_property
    def _edge_lines(self) -> np.ndarray:
        import shapely

        xy = np.column_stack([self.coord_x, self.coord_y])
        counts = np.diff(self.coord_offsets)
        lines: np.ndarray = shapely.linestrings(
            xy, indices=np.repeat(np.arange(len(counts)), counts)
        )
        return lines

    @cached_property
    def _edge_index(self) -> shapely.STRtree:
        import shapely

        return shapely.STRtree(self._edge_lines)

    def nearest_edge(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """The street segment nearest to each point: (edge indices, ground metres to it)."""
        import shapely

        lat, lon = np.atleast_1d(lat), np.atleast_1d(lon)
        x, y = self.projection.forward(lat, lon)
        (_, edges), dist = self._edge_index.query_nearest(
            shapely.points(x, y), return_distance=True, all_matches=False
        )
        return edges.astype(np.int64), dist / self.projection.scale_factor(lat, lon)

    def distance_to_street_m(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> np.ndarray:
        """Ground distance in metres from each point to the nearest street segment."""
        return self.nearest_edge(lat, lon)[1]

    def random_street_points(
        self, rng: np.random.Generator, n: int, *, exclude: frozenset[str] = NO_DELIVERY
    ) -> StreetPoints:
        """``n`` points on streets, uniform by length, off motorways, ramps and walkways."""
        allowed = np.array([c not in exclude for c in self.classes])[self.edge_class]
        weights = np.where(allowed, self.edge_length_m, 0.0)
        if weights.sum() <= 0:
            raise ValueError("random_street_points: no street is left after the exclusions")
        import shapely

        edges = rng.choice(self.edge_count, size=n, p=weights / weights.sum())
        fraction = rng.random(n)
        pts = shapely.line_interpolate_point(self._edge_lines[edges], fraction, normalized=True)
        lat, lon = self.projection.inverse(shapely.get_x(pts), shapely.get_y(pts))
        return StreetPoints(lat=lat, lon=lon, edge=edges, fraction=fraction)

    # ---- drawing ------------------------------------------------------------------------
    @cached_property
    def edge_polylines(self) -> EdgePolylines:
        """Every edge as a lat/lon polyline with its class, in flat arrays (for renderers)."""
        lat, lon = self.projection.inverse(self.coord_x, self.coord_y)
        return EdgePolylines(lat, lon, self.coord_offsets, self.edge_class, self.classes)

    def edges_latlon(self) -> list[tuple[str, np.ndarray]]:
        """Every edge as ``(highway class, N x 2 array of lat, lon)``."""
        p = self.edge_polylines
        pairs = np.split(np.column_stack([p.lat, p.lon]), p.offsets[1:-1])
        return [(p.classes[c], xy) for c, xy in zip(p.highway.tolist(), pairs, strict=True)]
