"""Render a street network into raster map tiles with Pillow (no tile server needed).

Streets are drawn as a casing pass then a fill pass, minor classes first, widths growing
with the zoom, at 2x and downsampled for smooth lines. From zoom ``ARROW_ZOOM`` on, a
one-way street carries small arrows pointing the way it may be driven. A tile with no
street in it is not rendered at all: the map shows its plain background there.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from app.tiles.mbtiles import TileCache, tile_bounds, tiles_covering

log = logging.getLogger(__name__)

TILE = 256
_SS = 2  # supersampling factor
BACKGROUND = (242, 239, 233)

# class: (draw order, fill, casing, width in px at zoom 16, first zoom drawn)
_STYLES: dict[str, tuple[int, tuple[int, int, int], tuple[int, int, int], float, int]] = {
    "motorway": (6, (232, 146, 162), (190, 90, 110), 9.0, 0),
    "trunk": (5, (249, 178, 156), (200, 120, 100), 8.0, 0),
    "primary": (4, (252, 214, 164), (190, 150, 100), 7.5, 0),
    "secondary": (3, (247, 250, 191), (170, 170, 120), 7.0, 0),
    "tertiary": (2, (255, 255, 255), (180, 180, 180), 6.5, 11),
    "residential": (1, (255, 255, 255), (195, 195, 195), 5.0, 12),
    "other": (0, (255, 255, 255), (205, 205, 205), 3.5, 13),
}
_CLASS_NAMES = list(_STYLES)
#: One-way arrows from this zoom on (street level: below it they would be clutter).
ARROW_ZOOM = 16
ARROW_COLOUR = (90, 90, 110)
_ARROW_EVERY_PX = 90.0  # along a street, at tile resolution
_ARROW_HALF_PX = 3.5  # half the arrowhead's length and width


def road_class(highway: str) -> str:
    """Map an OSM ``highway`` tag (``motorway_link``, ``['a', 'b']``, ...) to a draw class."""
    tag = highway.strip("[]'\" ").split(",")[0].strip("'\" ").removesuffix("_link")
    if tag in _STYLES:
        return tag
    return "residential" if tag in ("unclassified", "living_street") else "other"


def _mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World coordinates in 0..1 (x east, y south)."""
    lat = np.clip(lat, -85.05112878, 85.05112878)
    x = (lon + 180.0) / 360.0
    y = (1.0 - np.arcsinh(np.tan(np.radians(lat))) / math.pi) / 2.0
    return x, y


@dataclass(frozen=True)
class StreetLines:
    """Street polylines in lon/lat with a draw class each, packed for fast tile queries."""

    classes: np.ndarray  # int8 index into the style table, per line
    offsets: np.ndarray  # int64, line i is points[offsets[i]:offsets[i + 1]]
    points: np.ndarray  # float64 (n, 2) world coordinates 0..1
    boxes: np.ndarray  # float64 (lines, 4) world minx, miny, maxx, maxy
    oneway: np.ndarray | None = None  # bool per line: drivable first point -> last only

    @property
    def has_oneway(self) -> bool:
        return self.oneway is not None and bool(self.oneway.any())

    @classmethod
    def from_lines(cls, lines: Iterable[tuple[str, Sequence[tuple[float, float]]]]) -> StreetLines:
        """From (highway tag, [(lon, lat), ...]) pairs; lines with < 2 points are skipped."""
        codes: list[int] = []
        offsets = [0]
        chunks: list[np.ndarray] = []
        for highway, coords in lines:
            arr = np.asarray(coords, dtype=np.float64)
            if arr.ndim != 2 or arr.shape[0] < 2:
                continue
            codes.append(_CLASS_NAMES.index(road_class(str(highway))))
            chunks.append(arr)
            offsets.append(offsets[-1] + arr.shape[0])
        if not chunks:
            raise ValueError("street lines: no line with two or more points")
        lonlat = np.concatenate(chunks)
        return cls._pack(
            np.asarray(codes, dtype=np.int8), np.asarray(offsets), lonlat[:, 0], lonlat[:, 1]
        )

    @classmethod
    def from_polylines(
        cls,
        lat: np.ndarray,
        lon: np.ndarray,
        offsets: np.ndarray,
        highway: np.ndarray,
        classes: Sequence[str],
        oneway: np.ndarray | None = None,
    ) -> StreetLines:
        """From flat arrays: line ``i`` is ``lat/lon[offsets[i]:offsets[i+1]]``, its tag
        ``classes[highway[i]]`` (the street network's ``EdgePolylines`` layout); ``oneway``
        (bool per line): driven from its first point to its last only."""
        offs = np.asarray(offsets, dtype=np.int64)
        if offs.ndim != 1 or len(offs) < 2 or offs[-1] != len(lat) or len(lat) != len(lon):
            raise ValueError("street polylines: offsets do not match the coordinate arrays")
        if np.any(np.diff(offs) < 2):
            raise ValueError("street polylines: every line needs two or more points")
        lookup = np.asarray([_CLASS_NAMES.index(road_class(str(c))) for c in classes], np.int8)
        codes = lookup[np.asarray(highway, dtype=np.int64)]
        if oneway is not None and len(oneway) != len(codes):
            raise ValueError("street polylines: one one-way flag per line, please")
        one = None if oneway is None else np.asarray(oneway, dtype=bool)
        return cls._pack(codes, offs, np.asarray(lon, np.float64), np.asarray(lat, np.float64),
                         one)  # fmt: skip

    @classmethod
    def from_network(cls, network: object) -> StreetLines:
        """From a street network exposing ``edge_polylines`` (see ``engine.roads``), with
        its one-way flags (``edge_oneway``) when it has any."""
        p = network.edge_polylines  # type: ignore[attr-defined]
        oneway = getattr(network, "edge_oneway", None)
        return cls.from_polylines(p.lat, p.lon, p.offsets, p.highway, p.classes, oneway)

    @classmethod
    def _pack(
        cls,
        codes: np.ndarray,
        offs: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
        oneway: np.ndarray | None = None,
    ) -> StreetLines:
        x, y = _mercator(lon, lat)
        points = np.column_stack([x, y])
        offs = np.asarray(offs, dtype=np.int64)
        starts = offs[:-1]
        boxes = np.column_stack(
            [
                np.minimum.reduceat(x, starts),
                np.minimum.reduceat(y, starts),
                np.maximum.reduceat(x, starts),
                np.maximum.reduceat(y, starts),
            ]
        )
        return cls(codes, offs, points, boxes, oneway)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        x0, y0 = self.boxes[:, 0].min(), self.boxes[:, 1].min()
        x1, y1 = self.boxes[:, 2].max(), self.boxes[:, 3].max()

        def lat(y: float) -> float:
            return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * y))))

        return x0 * 360.0 - 180.0, lat(y1), x1 * 360.0 - 180.0, lat(y0)

    def __len__(self) -> int:
        return len(self.classes)


class BasemapRenderer:
    """Renders one XYZ tile of a :class:`StreetLines` to PNG bytes (thread-safe)."""

    def __init__(self, lines: StreetLines, *, min_zoom: int = 10, max_zoom: int = 18) -> None:
        self.lines = lines
        self.min_zoom = min_zoom
        self.max_zoom = max_zoom

    def render_tile(self, zoom: int, x: int, y: int) -> bytes | None:
        """PNG bytes of the tile, or None when no street crosses it (or out of zoom range)."""
        if not self.min_zoom <= zoom <= self.max_zoom:
            return None
        n = 2**zoom
        scale = n * TILE * _SS
        margin = 8.0 / (n * TILE)  # half the widest line, in world units
        x0, y0 = x / n - margin, y / n - margin
        x1, y1 = (x + 1) / n + margin, (y + 1) / n + margin
        b = self.lines.boxes
        hit = (b[:, 2] >= x0) & (b[:, 0] <= x1) & (b[:, 3] >= y0) & (b[:, 1] <= y1)
        idx = np.flatnonzero(hit)
        if idx.size == 0:
            return None
        zoom_factor = 2.0 ** (zoom - 16)
        styles = [_STYLES[name] for name in _CLASS_NAMES]
        visible = [i for i in idx if zoom >= styles[self.lines.classes[i]][4]]
        if not visible:
            return None
        visible.sort(key=lambda i: styles[self.lines.classes[i]][0])
        image = Image.new("RGB", (TILE * _SS, TILE * _SS), BACKGROUND)
        draw = ImageDraw.Draw(image)
        pts, offs = self.lines.points, self.lines.offsets
        px_lines = []
        for i in visible:
            seg = pts[offs[i] : offs[i + 1]]
            xy = np.column_stack(
                [(seg[:, 0] * scale) - x * TILE * _SS, (seg[:, 1] * scale) - y * TILE * _SS]
            )
            style = styles[self.lines.classes[i]]
            width = max(style[3] * zoom_factor, 0.6 if style[0] >= 3 else 0.35) * _SS
            px_lines.append((xy.ravel().tolist(), width, style))
        for flat, width, style in px_lines:  # casing under everything
            draw.line(flat, fill=style[2], width=max(1, round(width + 1.5 * _SS)), joint="curve")
        for flat, width, style in px_lines:
            draw.line(flat, fill=style[1], width=max(1, round(width)), joint="curve")
        if zoom >= ARROW_ZOOM and self.lines.oneway is not None:
            for (flat, _, _), i in zip(px_lines, visible, strict=True):
                if self.lines.oneway[i]:
                    for arrow in _arrows(np.asarray(flat).reshape(-1, 2)):
                        draw.polygon(arrow, fill=ARROW_COLOUR)
        image = image.resize((TILE, TILE), Image.Resampling.BOX)
        buffer = io.BytesIO()
        image.quantize(colors=32, method=Image.Quantize.MEDIANCUT).save(buffer, format="PNG")
        return buffer.getvalue()


def _arrows(xy: np.ndarray) -> list[list[tuple[float, float]]]:
    """Arrowheads along a polyline (supersampled pixels), pointing from its first point to
    its last: one every ``_ARROW_EVERY_PX``, starting half that in (a short street gets one
    at its middle, a very short one none)."""
    step = np.diff(xy, axis=0)
    seg = np.hypot(step[:, 0], step[:, 1])
    total = float(seg.sum())
    every, half = _ARROW_EVERY_PX * _SS, _ARROW_HALF_PX * _SS
    if total < 4 * half:
        return []
    at = np.arange(every / 2, total, every) if total >= every else np.array([total / 2])
    ends = np.cumsum(seg)
    out = []
    for d in at.tolist():
        k = min(int(np.searchsorted(ends, d)), len(seg) - 1)
        if seg[k] == 0:
            continue
        ux, uy = step[k] / seg[k]
        t = d - (ends[k] - seg[k])
        cx, cy = xy[k, 0] + ux * t, xy[k, 1] + uy * t
        tip = (cx + ux * half, cy + uy * half)
        left = (cx - ux * half - uy * half, cy - uy * half + ux * half)
        right = (cx - ux * half + uy * half, cy - uy * half - ux * half)
        out.append([tip, left, (cx - ux * half * 0.3, cy - uy * half * 0.3), right])
    return out


@dataclass(frozen=True)
class RenderStats:
    """What a basemap render produced."""

    tiles: int
    empty: int
    bytes: int
    seconds: float


def render_basemap(
    lines: StreetLines,
    cache: TileCache,
    zooms: Iterable[int] = range(12, 17),
    bbox: tuple[float, float, float, float] | None = None,
    *,
    stop: object | None = None,
) -> RenderStats:
    """Render every tile of ``bbox`` (default: the streets' extent) at ``zooms`` into ``cache``.

    ``stop`` may be a ``threading.Event``; when set, rendering stops after the current tile.
    """
    started = time.perf_counter()
    zooms = list(zooms)
    renderer = BasemapRenderer(lines)
    area = bbox or lines.bbox
    tiles = empty = size = 0
    batch: list[tuple[int, int, int, bytes]] = []
    for zoom in zooms:
        for x, y in tiles_covering(area, zoom):
            if stop is not None and stop.is_set():  # type: ignore[attr-defined]
                break
            data = renderer.render_tile(zoom, x, y)
            if data is None:
                empty += 1
                continue
            batch.append((zoom, x, y, data))
            tiles += 1
            size += len(data)
            if len(batch) >= 200:
                cache.put_many(batch)
                batch.clear()
    cache.put_many(batch)
    west, south, east, north = area
    cache.set_metadata(
        bounds=f"{west},{south},{east},{north}",
        minzoom=min(zooms, default=0),
        maxzoom=max(zooms, default=0),
        attribution="© OpenStreetMap contributors",
    )
    seconds = time.perf_counter() - started
    log.info("basemap: %d tiles (%d empty), %.1f kB in %.1f s", tiles, empty, size / 1e3, seconds)
    return RenderStats(tiles, empty, size, seconds)


def tile_center(zoom: int, x: int, y: int) -> tuple[float, float]:
    """(lon, lat) of a tile's centre."""
    west, south, east, north = tile_bounds(zoom, x, y)
    return (west + east) / 2.0, (south + north) / 2.0
