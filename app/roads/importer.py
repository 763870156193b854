"""Street lines from a file into the street-network format the engine reads.

Readers: OpenStreetMap extracts (``.osm.pbf``, ``.osm``) with pyosmium; GeoJSON with the
standard ``json`` module (row numbers in every message); GeoPackage with pyogrio (GDAL);
GeoParquet with pyarrow. Every reader gives lon/lat polylines with a road class
(``highway``), a one-way flag and a posted speed when the data has one.

The lines are then cut where streets meet (a vertex shared by two lines, OpenStreetMap's
shared nodes), the street graph's connected components counted, and everything outside
the largest component dropped (an island no van can reach from the rest). The result is
written as a GeoParquet file (WGS84 lon/lat) with columns ``highway``, ``oneway``,
``maxspeed_kmh`` and ``geometry``, which :class:`engine.roads.StreetNetwork` loads.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from engine.roads import FREE_FLOW_KMH, TransverseMercator, crs_projection

#: OpenStreetMap ``highway`` classes a delivery van drives on; other classes are dropped.
DRIVABLE = (frozenset(FREE_FLOW_KMH) | {"road", "busway"}) - {"pedestrian"}
_TRUE = {"yes", "true", "1"}
_REVERSE = {"-1", "reverse"}
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$", re.IGNORECASE)
#: Field names read as the road class, in order of preference (OSM, then common GIS names).
CLASS_FIELDS = ("highway", "road_class", "fclass", "class")


class StreetFileError(ValueError):
    """The file cannot be read as street lines; the message names file, row and why."""


@dataclass
class StreetLines:
    """Lon/lat polylines with their attributes, before cutting at junctions."""

    coords: list[np.ndarray] = field(default_factory=list)  # each K x 2 (lon, lat)
    highway: list[str] = field(default_factory=list)
    oneway: list[bool] = field(default_factory=list)
    maxspeed: list[float] = field(default_factory=list)  # km/h, NaN when not posted
    names: list[str] = field(default_factory=list)  # the street's name ("" when none)
    dropped: Counter[str] = field(default_factory=Counter)
    where: list[str] = field(default_factory=list)  # the file row of each line
    crs: str = "WGS84 lon/lat (EPSG:4326)"
    rows: int = 0
    to_lonlat: Any = None  # the file's coordinates to lon/lat (None: already lon/lat)

    def add(
        self,
        xy: np.ndarray,
        highway: str,
        oneway: bool,
        maxspeed: float,
        where: str = "",
        name: str = "",
    ) -> None:
        self.where.append(where)
        self.names.append(name)
        self.coords.append(xy)
        self.highway.append(highway)
        self.oneway.append(oneway)
        self.maxspeed.append(maxspeed)


@dataclass(frozen=True)
class ImportReport:
    """What an import read, kept and dropped."""

    name: str
    source: str
    format: str
    crs: str
    rows: int
    nodes: int
    edges: int
    km: float
    components: int
    components_dropped: int
    oneway_edges: int
    speed_posted_edges: int
    classes: dict[str, int]
    dropped: dict[str, int]
    bounds: tuple[float, float, float, float]  # west, south, east, north
    seconds: float
    peak_mb: float = 0.0
    # Street nodes a van can enter but not leave, or leave but not enter (one-way streets
    # running off the extract's edge, or into each other): no stop is snapped to them, it
    # goes to the nearest street a van can come and go from (``drivable_nodes``).
    oneway_dead_end_nodes: int = 0
    oneway_dead_end_km: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "format": self.format, "crs": self.crs,
            "rows": self.rows, "nodes": self.nodes, "edges": self.edges,
            "km": round(self.km, 1), "components": self.components,
            "components_dropped": self.components_dropped, "oneway_edges": self.oneway_edges,
            "speed_posted_edges": self.speed_posted_edges, "classes": self.classes,
            "dropped": self.dropped, "bounds": list(self.bounds),
            "seconds": round(self.seconds, 2), "peak_mb": round(self.peak_mb),
            "oneway_dead_end_nodes": self.oneway_dead_end_nodes,
            "oneway_dead_end_km": round(self.oneway_dead_end_km, 2),
        }  # fmt: skip

    def text(self) -> str:
        w, s, e, n = self.bounds
        lines = [
            f"Street network {self.name!r} from {self.source} ({self.format})",
            f"  coordinate system: {self.crs}",
            f"  extent W,S,E,N: {w:.5f},{s:.5f},{e:.5f},{n:.5f}",
            f"  {self.nodes:,} nodes, {self.edges:,} edges, {self.km:,.1f} km; "
            f"{self.components} connected component(s) in the file"
            + (
                f", {self.components_dropped} small one(s) dropped"
                if self.components_dropped
                else ""
            ),
            f"  one-way edges: {self.oneway_edges:,}; edges with a posted speed: "
            f"{self.speed_posted_edges:,} (the others take their road class's speed)",
            "  road classes: " + ", ".join(f"{k} {v:,}" for k, v in self.classes.items()),
        ]
        if self.oneway_dead_end_nodes:
            lines.append(
                f"  one-way dead ends: {self.oneway_dead_end_nodes:,} street nodes "
                f"({self.oneway_dead_end_km:,.2f} km of street) a van could enter but not "
                "leave, or leave but not enter; stops there are snapped away, to the nearest "
                "street a van can come and go from"
            )
        if self.dropped:
            lines.append("  dropped:")
            lines += [
                f"    {v:,} {k}" for k, v in sorted(self.dropped.items(), key=lambda kv: -kv[1])
            ]
        lines.append(f"  read in {self.seconds:.1f} s")
        return "\n".join(lines)


# ---- attribute parsing ------------------------------------------------------------------
def parse_speed(value: object) -> float:
    """A posted speed in km/h (``"50"``, ``"30 mph"``, a number), NaN when not a number."""
    if value is None:
        return math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if 0 < float(value) < 200 else math.nan
    m = _SPEED.match(str(value).split(";")[0])
    if not m:
        return math.nan
    kmh = float(m.group(1)) * (1.609344 if (m.group(2) or "").lower() == "mph" else 1.0)
    return kmh if 0 < kmh < 200 else math.nan


def parse_oneway(value: object, highway: str, junction: object = None) -> int:
    """1 one-way along the line, -1 against it, 0 both ways (OSM rules: motorways and
    roundabouts are one-way unless tagged otherwise)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return -1 if value == -1 else int(value == 1)
    text = str(value).strip().lower() if value is not None else ""
    if text in _TRUE or text == "f":  # "F"/"T"/"B": forward, backward, both (Geofabrik)
        return 1
    if text in _REVERSE or text == "t":
        return -1
    if text in ("no", "b"):
        return 0
    implied = highway in ("motorway",) or str(junction or "").lower() in ("roundabout", "circular")
    return int(implied)


def _drivable(highway: str, tags: Any) -> str | None:
    """Why a street is dropped (None: kept)."""
    if highway not in DRIVABLE:
        return f"highway={highway or '?'}: not a road for vans"
    access = str(tags.get("motor_vehicle") or tags.get("access") or "").lower()
    if access in ("no", "private"):
        return f"closed to traffic (access={access})"
    if str(tags.get("area") or "").lower() == "yes":
        return "an area, not a street line"
    return None


def _add_line(out: StreetLines, xy: np.ndarray, tags: Any, highway: str, where: str = "") -> None:
    direction = parse_oneway(tags.get("oneway"), highway, tags.get("junction"))
    if direction == -1:
        xy = xy[::-1]
    speed = parse_speed(tags.get("maxspeed") or tags.get("maxspeed_kmh"))
    name = tags.get("name")
    out.add(xy, highway, direction != 0, speed, where, str(name).strip() if name else "")


# ---- readers ----------------------------------------------------------------------------
def read_osm(path: Path) -> StreetLines:
    import osmium

    out = StreetLines(crs="WGS84 lon/lat (OpenStreetMap)")
    try:
        processor = (
            osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
            .with_filter(osmium.filter.KeyFilter("highway"))
        )
        for obj in processor:
            way: Any = obj  # only ways pass the entity filter
            out.rows += 1
            tags = {t.k: t.v for t in way.tags}
            highway = tags["highway"]
            why = _drivable(highway, tags)
            if why:
                out.dropped[why] += 1
                continue
            pts = [(n.location.lon, n.location.lat) for n in way.nodes if n.location.valid()]
            if len(pts) < len(way.nodes):
                out.dropped["ways with nodes missing from the extract (cut at its edge)"] += 1
                if len(pts) < 2:
                    continue
            if len(pts) < 2:
                out.dropped["ways of fewer than two nodes"] += 1
                continue
            _add_line(out, np.asarray(pts, dtype=np.float64), tags, highway, f"way {way.id}")
    except RuntimeError as exc:
        raise StreetFileError(f"{path.name}: not a readable OpenStreetMap file ({exc})") from exc
    return out


def _geometry_lines(geom: Any) -> list[np.ndarray]:
    if geom is None or shapely.is_empty(geom):
        return []
    kind = shapely.get_type_id(geom)
    if kind == shapely.GeometryType.LINESTRING:
        return [shapely.get_coordinates(geom)]
    if kind == shapely.GeometryType.MULTILINESTRING:
        return [shapely.get_coordinates(g) for g in shapely.get_parts(geom)]
    return []


_OTHER_TAG = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def _with_other_tags(props: dict[str, Any]) -> dict[str, Any]:
    """GDAL's OpenStreetMap layers keep most tags in ``other_tags`` (``"k"=>"v",...``):
    their one-way, speed and access tags count like columns."""
    raw = props.get("other_tags")
    if not raw or not isinstance(raw, str):
        return props
    tags = {k: v for k, v in _OTHER_TAG.findall(raw)}
    return {**{k: v for k, v in tags.items() if k not in props or props[k] in (None, "")},
            **{k: v for k, v in props.items() if v not in (None, "")}}  # fmt: skip


def has_class_field(names: Any) -> bool:
    """Whether a file's fields name a road class (then a row without one is no street)."""
    return any(str(n).lower() in CLASS_FIELDS for n in names)


def _class_of(props: dict[str, Any]) -> str:
    for name in CLASS_FIELDS:
        value = props.get(name)
        if value not in (None, ""):
            return str(value).strip().lower()
    return ""


def _add_feature(
    out: StreetLines, geom: Any, props: dict[str, Any], where: str, classed: bool = True
) -> None:
    """One row: ``classed`` when the file has a road-class field (a row without a class is
    then not a street: a railway, a river); else every line is an unclassified street."""
    out.rows += 1
    if geom is None:
        out.dropped["rows without a geometry"] += 1
        return
    parts = _geometry_lines(geom)
    if not parts:
        out.dropped[f"{geom.geom_type} geometries (not street lines)"] += 1
        return
    props = _with_other_tags(props)
    highway = _class_of(props)
    if not highway and classed:
        out.dropped["rows without a road class (railways, rivers, …: not streets)"] += 1
        return
    if not highway:
        out.dropped["lines without a road class in the file (kept as unclassified)"] += 1
        highway = "unclassified"
    why = _drivable(highway, props)
    if why:
        out.dropped[why] += 1
        return
    for xy in parts:
        if len(xy) < 2:
            out.dropped["lines of fewer than two points"] += 1
            continue
        _add_line(out, xy[:, :2], props, highway, where)


def _crs_converter(crs: str | None, path: Path) -> tuple[str, Any]:
    """(description, lon/lat converter) for a CRS name such as ``EPSG:32631``."""
    text = (crs or "").strip()
    upper = text.upper().replace("URN:OGC:DEF:CRS:", "").replace("::", ":")
    if not text or upper in ("EPSG:4326", "OGC:CRS84", "OGC:1.3:CRS84", "CRS84", "EPSG:4258"):
        return ("WGS84 lon/lat" + (f" ({text})" if text else ""), None)
    m = re.fullmatch(r"EPSG:(326|327)(\d\d)", upper)
    if m:
        tm = TransverseMercator.utm(int(m.group(2)), north=m.group(1) == "326")

        def from_utm(xy: np.ndarray) -> np.ndarray:
            lat, lon = tm.inverse(xy[:, 0], xy[:, 1])
            return np.column_stack([lon, lat])

        return (f"UTM zone {int(m.group(2))}{'N' if m.group(1) == '326' else 'S'} ({text})",
                from_utm)  # fmt: skip
    if upper in ("EPSG:3857", "EPSG:900913"):
        r = 6_378_137.0

        def from_mercator(xy: np.ndarray) -> np.ndarray:
            lon = np.degrees(xy[:, 0] / r)
            lat = np.degrees(2 * np.arctan(np.exp(xy[:, 1] / r)) - np.pi / 2)
            return np.column_stack([lon, lat])

        return (f"Web Mercator ({text})", from_mercator)
    raise StreetFileError(
        f"{path.name}: coordinate system {text!r} is not supported; save the lines in WGS84 "
        "lon/lat (EPSG:4326), a UTM zone (EPSG:326xx/327xx) or Web Mercator (EPSG:3857)"
    )


def read_geojson(path: Path) -> StreetLines:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StreetFileError(f"{path.name}: not a readable GeoJSON file ({exc})") from exc
    if not isinstance(data, dict) or data.get("type") not in ("FeatureCollection", "Feature"):
        raise StreetFileError(f"{path.name}: expected a GeoJSON FeatureCollection")
    features = data.get("features", []) if data["type"] == "FeatureCollection" else [data]
    if not isinstance(features, list):
        raise StreetFileError(f"{path.name}: 'features' is not a list")
    crs_name = ((data.get("crs") or {}).get("properties") or {}).get("name")
    crs_text, convert = _crs_converter(crs_name, path)
    out = StreetLines(crs=crs_text, to_lonlat=convert)
    classed = any(
        isinstance(f, dict) and isinstance(f.get("properties"), dict)
        and has_class_field(f["properties"])
        for f in features
    )  # fmt: skip
    for i, feature in enumerate(features, start=1):
        where = f"{path.name}, feature {i}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise StreetFileError(f"{where}: not a GeoJSON Feature")
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise StreetFileError(f"{where}: 'properties' is not an object")
        raw = feature.get("geometry")
        try:
            geom = shapely.from_geojson(json.dumps(raw)) if raw else None
        except Exception as exc:  # shapely's GEOSException for a malformed geometry
            raise StreetFileError(f"{where}: geometry is not valid GeoJSON ({exc})") from exc
        _add_feature(out, geom, props, where, classed)
    return out


def read_geopackage(path: Path) -> StreetLines:
    import pyogrio

    try:
        layers = pyogrio.list_layers(path)
        line_layers = [str(n) for n, kind in layers if kind and "LINE" in str(kind).upper()]
        if not line_layers:
            raise StreetFileError(
                f"{path.name}: no layer of lines (layers: "
                + ", ".join(f"{n} ({k})" for n, k in layers)
                + ")"
            )
        meta, _, geoms, fields = pyogrio.raw.read(path, layer=line_layers[0])
    except StreetFileError:
        raise
    except Exception as exc:  # pyogrio's DataSourceError and friends
        raise StreetFileError(f"{path.name}: not a readable file of lines ({exc})") from exc
    crs_text, convert = _crs_converter(meta.get("crs"), path)
    out = StreetLines(crs=crs_text, to_lonlat=convert)
    names = [str(n).lower() for n in meta["fields"]]
    classed = has_class_field(names)
    shapes = shapely.from_wkb(geoms)
    columns = [np.asarray(f, dtype=object) for f in fields]
    for i, geom in enumerate(shapes):
        props = {name: col[i] for name, col in zip(names, columns, strict=True)}
        _add_feature(out, geom, props, f"{path.name}, layer {line_layers[0]}, row {i + 1}",
                     classed)  # fmt: skip
    return out


def read_geoparquet(path: Path) -> StreetLines:
    import pyarrow.parquet as pq

    try:
        pfile = pq.ParquetFile(path)
        geo = json.loads((pfile.schema_arrow.metadata or {}).get(b"geo", b"{}"))
        column = geo.get("primary_column", "geometry")
        table = pfile.read()
    except Exception as exc:  # pyarrow raises several kinds for a non-parquet file
        raise StreetFileError(f"{path.name}: not a readable GeoParquet file ({exc})") from exc
    if column not in table.column_names:
        raise StreetFileError(f"{path.name}: no geometry column {column!r}")
    crs = geo.get("columns", {}).get(column, {}).get("crs")
    if isinstance(crs, dict) and not crs.get("id") and crs.get("type") == "ProjectedCRS":
        try:  # a PROJJSON projection without an EPSG code: Transverse Mercator is read
            tm = crs_projection(geo, column, path)
        except ValueError as exc:
            raise StreetFileError(str(exc)) from exc
        assert tm is not None

        def from_tm(xy: np.ndarray) -> np.ndarray:
            lat, lon = tm.inverse(xy[:, 0], xy[:, 1])
            return np.column_stack([lon, lat])

        crs_text = (
            f"{crs.get('name', '?')}: Transverse Mercator, central meridian "
            f"{tm.lon0_deg:g}°, scale {tm.k0:g} (PROJJSON)"
        )
        convert = from_tm
    else:
        crs_name = None
        if isinstance(crs, dict):
            ident = crs.get("id") or {}
            crs_name = f"{ident.get('authority')}:{ident.get('code')}" if ident else crs.get("name")
        elif isinstance(crs, str):
            crs_name = crs
        crs_text, convert = _crs_converter(crs_name, path)
    out = StreetLines(crs=crs_text, to_lonlat=convert)
    shapes = shapely.from_wkb(table.column(column).to_numpy(zero_copy_only=False))
    others = [c for c in table.column_names if c != column]
    columns = {c.lower(): table.column(c).to_pylist() for c in others}
    for i, geom in enumerate(shapes):
        props = {name: col[i] for name, col in columns.items()}
        _add_feature(out, geom, props, f"{path.name}, row {i + 1}", has_class_field(columns))
    return out


READERS = {
    ".pbf": ("OpenStreetMap PBF", read_osm),
    ".osm": ("OpenStreetMap XML", read_osm),
    ".geojson": ("GeoJSON", read_geojson),
    ".json": ("GeoJSON", read_geojson),
    ".gpkg": ("GeoPackage", read_geopackage),
    ".shp": ("Shapefile", read_geopackage),  # any line layer GDAL reads, as for GeoPackage
    ".fgb": ("FlatGeobuf", read_geopackage),
    ".parquet": ("GeoParquet", read_geoparquet),
    ".geoparquet": ("GeoParquet", read_geoparquet),
}


def read_lines(path: Path) -> tuple[str, StreetLines]:
    """(format name, lines) of a street file, by its extension."""
    if not path.is_file():
        raise StreetFileError(f"{path}: no such file")
    fmt = READERS.get(path.suffix.lower())
    if fmt is None:
        raise StreetFileError(
            f"{path.name}: unknown kind of file; expected one of "
            + ", ".join(sorted({".osm.pbf", ".osm", ".geojson", ".gpkg", ".parquet"}))
        )
    return fmt[0], fmt[1](path)


# ---- building the network ----------------------------------------------------------------
@dataclass(frozen=True)
class Segments:
    """Street segments between junctions, lon/lat, with attributes."""

    coords: np.ndarray  # M x 2 lon/lat, flat
    offsets: np.ndarray  # segment i: coords[offsets[i]:offsets[i + 1]]
    highway: np.ndarray  # str per segment
    oneway: np.ndarray  # bool
    maxspeed: np.ndarray  # float km/h, NaN when not posted
    names: np.ndarray  # str per segment ("" when none)


def cut_at_junctions(lines: StreetLines) -> Segments:
    """Cut every line where another line touches one of its vertices (shared nodes)."""
    if not lines.coords:
        raise StreetFileError("no drivable street lines in the file")
    counts = np.fromiter((len(c) for c in lines.coords), dtype=np.int64, count=len(lines.coords))
    coords = np.concatenate(lines.coords).astype(np.float64)
    if lines.to_lonlat is not None:
        coords = lines.to_lonlat(coords)
    bad = ~np.isfinite(coords).all(axis=1) | (np.abs(coords[:, 1]) > 90)
    bad |= np.abs(coords[:, 0]) > 180
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        line = int(np.searchsorted(np.cumsum(counts), k, side="right"))
        raise StreetFileError(
            f"{lines.where[line] or 'line ' + str(line + 1)}: coordinate "
            f"{np.concatenate(lines.coords)[k].tolist()} is not a longitude/latitude "
            "(outside -180..180, -90..90): wrong coordinate system?"
        )
    line_of = np.repeat(np.arange(len(counts)), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # A vertex key to about a centimetre; a key used more than once (by two lines, or
    # twice by one) or at a line's end is a junction where lines are cut.
    keys = np.round(coords * 1e7).astype(np.int64)
    _, key_id, key_count = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    key_id = key_id.ravel()
    is_end = np.zeros(len(coords), dtype=bool)
    is_end[starts] = True
    is_end[starts + counts - 1] = True
    end_keys = np.zeros(key_count.shape, dtype=bool)
    end_keys[key_id[is_end]] = True
    cut = (key_count[key_id] > 1) | end_keys[key_id]
    cut[starts] = cut[starts + counts - 1] = True
    # A cut vertex ends one segment and starts the next: duplicate it inside lines.
    inner_cut = cut.copy()
    inner_cut[starts] = inner_cut[starts + counts - 1] = False
    repeat = np.where(inner_cut, 2, 1)
    flat = np.repeat(coords, repeat, axis=0)
    flat_line = np.repeat(line_of, repeat)
    # Segment boundaries: after each line end and after the first copy of an inner cut.
    boundary_after = np.repeat(np.zeros(len(coords), dtype=bool), repeat)
    pos = np.cumsum(repeat) - 1  # index in flat of each vertex's last copy
    boundary_after[pos[starts + counts - 1]] = True
    boundary_after[pos[inner_cut] - 1] = True
    ends = np.flatnonzero(boundary_after) + 1
    offsets = np.concatenate([[0], ends])
    seg_line = flat_line[offsets[:-1]]
    # Drop zero-length pieces (a line that doubles back on one vertex).
    seg_len = np.diff(offsets)
    keep = seg_len >= 2
    if not keep.all():
        lines.dropped["degenerate pieces of one point"] += int((~keep).sum())
    idx = np.repeat(np.arange(len(seg_len)), seg_len)
    mask = keep[idx]
    flat = flat[mask]
    offsets = np.concatenate([[0], np.cumsum(seg_len[keep])])
    seg_line = seg_line[keep]
    return Segments(
        coords=flat,
        offsets=offsets,
        highway=np.asarray(lines.highway, dtype=object)[seg_line],
        oneway=np.asarray(lines.oneway, dtype=bool)[seg_line],
        maxspeed=np.asarray(lines.maxspeed, dtype=np.float64)[seg_line],
        names=np.asarray(lines.names, dtype=object)[seg_line],
    )


def largest_component(
    seg: Segments, dropped: Counter[str], *, keep_all: bool = False
) -> tuple[Segments, int, int]:
    """Keep the segments of the largest connected component: (segments, components, dropped)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    first, last = seg.offsets[:-1], seg.offsets[1:] - 1
    ends = np.concatenate([seg.coords[first], seg.coords[last]])
    _, node = np.unique(np.round(ends * 1e7).astype(np.int64), axis=0, return_inverse=True)
    node = node.ravel()
    m = len(first)
    u, v = node[:m], node[m:]
    n = int(node.max()) + 1
    graph = coo_matrix((np.ones(m), (u, v)), shape=(n, n))
    count, label = connected_components(graph, directed=False)
    if count <= 1 or keep_all:
        return seg, int(count), 0
    sizes = np.bincount(label)
    main = int(np.argmax(sizes))
    keep = label[u] == main
    lost = int((~keep).sum())
    dropped[f"segments on {count - 1} small island(s) cut off from the main network"] += lost
    seg_len = np.diff(seg.offsets)
    mask = np.repeat(keep, seg_len)
    return (
        Segments(
            coords=seg.coords[mask],
            offsets=np.concatenate([[0], np.cumsum(seg_len[keep])]),
            highway=seg.highway[keep],
            oneway=seg.oneway[keep],
            maxspeed=seg.maxspeed[keep],
            names=seg.names[keep],
        ),
        int(count),
        count - 1,
    )


def write_network(seg: Segments, path: Path) -> None:
    """The segments as GeoParquet (WGS84 lon/lat), written to a temporary file then moved."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    seg_len = np.diff(seg.offsets)
    lines = shapely.linestrings(seg.coords, indices=np.repeat(np.arange(len(seg_len)), seg_len))
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["LineString"]}},
    }
    table = pa.table(
        {
            "highway": pa.array(seg.highway.tolist(), pa.string()),
            "oneway": pa.array(seg.oneway, pa.bool_()),
            "maxspeed_kmh": pa.array(seg.maxspeed, pa.float64(), mask=np.isnan(seg.maxspeed)),
            "name": pa.array(seg.names.tolist(), pa.string()),
            "geometry": pa.array(shapely.to_wkb(lines).tolist(), pa.binary()),
        }  # fmt: skip
    ).replace_schema_metadata({"geo": json.dumps(geo)})
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def import_streets(
    source: Path, target: Path, name: str, *, keep_all_components: bool = False
) -> ImportReport:
    """Read ``source``, build the network, write it to ``target``; the report."""
    import resource

    started = time.perf_counter()
    fmt, lines = read_lines(source)
    seg = cut_at_junctions(lines)
    seg, components, small = largest_component(seg, lines.dropped, keep_all=keep_all_components)
    write_network(seg, target)
    from engine.roads import StreetNetwork

    net = StreetNetwork.load(target)  # what the engine will read: counted from it
    box = net.bounds
    classes = Counter(net.classes[c] for c in net.edge_class.tolist())
    trapped, trapped_km = 0, 0.0
    core = net.drivable_nodes  # None: nothing one-way, every node is drivable
    if core is not None:
        inside = np.zeros(net.node_count, dtype=bool)
        inside[core] = True
        trapped = int((~inside).sum())
        off = ~inside[net.edge_u] | ~inside[net.edge_v]
        trapped_km = float(net.edge_length_m[off].sum()) / 1000
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return ImportReport(
        name=name,
        source=source.name,
        format=fmt,
        crs=lines.crs,
        rows=lines.rows,
        nodes=net.node_count,
        edges=net.edge_count,
        km=net.total_length_m / 1000,
        components=components,
        components_dropped=small,
        oneway_edges=int(seg.oneway.sum()),
        speed_posted_edges=int(np.isfinite(seg.maxspeed).sum()),
        classes=dict(classes.most_common()),
        dropped=dict(lines.dropped),
        bounds=(box.west, box.south, box.east, box.north),
        seconds=time.perf_counter() - started,
        peak_mb=peak,
        oneway_dead_end_nodes=trapped,
        oneway_dead_end_km=trapped_km,
    )
