"""An MBTiles 1.3 tile cache in SQLite, plus the slippy-map tile arithmetic.

Callers speak XYZ (Leaflet's numbering: row 0 at the north); MBTiles stores TMS rows
(row 0 at the south), so rows are flipped on the way in and out.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from app.settings import private_file

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metadata (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS tiles (
    zoom_level INTEGER NOT NULL,
    tile_column INTEGER NOT NULL,
    tile_row INTEGER NOT NULL,
    tile_data BLOB NOT NULL,
    PRIMARY KEY (zoom_level, tile_column, tile_row)
);
"""


def lonlat_to_tile(lon: float, lat: float, zoom: int) -> tuple[float, float]:
    """Fractional XYZ tile coordinates of a point (Web Mercator)."""
    n = 2**zoom
    lat = max(min(lat, 85.05112878), -85.05112878)
    x = (lon + 180.0) / 360.0 * n
    rad = math.radians(lat)
    y = (1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * n
    return x, y


def tile_bounds(zoom: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of an XYZ tile."""
    n = 2**zoom

    def lat_of(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * row / n))))

    return x / n * 360.0 - 180.0, lat_of(y + 1), (x + 1) / n * 360.0 - 180.0, lat_of(y)


def tiles_covering(bbox: tuple[float, float, float, float], zoom: int) -> Iterator[tuple[int, int]]:
    """XYZ (x, y) of every tile at ``zoom`` touching ``bbox`` = (west, south, east, north)."""
    west, south, east, north = bbox
    if east < west or north < south:
        raise ValueError(f"bbox {bbox}: expected (west, south, east, north)")
    x0, y0 = lonlat_to_tile(west, north, zoom)
    x1, y1 = lonlat_to_tile(east, south, zoom)
    last = 2**zoom - 1
    for x in range(max(0, int(x0)), min(last, int(x1)) + 1):
        for y in range(max(0, int(y0)), min(last, int(y1)) + 1):
            yield x, y


class TileCache:
    """One MBTiles file; safe to share between threads (one connection behind a lock)."""

    def __init__(self, path: Path | str, *, name: str = "", fmt: str = "png") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        private_file(self.path)  # a new cache is the user's alone (its WAL and SHM too)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # a lost tile is only a re-fetch
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"tile cache {self.path}: not a usable MBTiles file ({exc})") from exc
        meta = self.metadata()
        defaults = {"name": name or self.path.stem, "format": fmt, "type": "baselayer"}
        missing = {k: v for k, v in defaults.items() if k not in meta}
        if missing:
            self.set_metadata(**missing)

    def get(self, zoom: int, x: int, y: int) -> bytes | None:
        """The stored tile at XYZ (zoom, x, y), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                (zoom, x, (2**zoom - 1) - y),
            ).fetchone()
        return bytes(row[0]) if row else None

    def put(self, zoom: int, x: int, y: int, data: bytes) -> None:
        """Store (or replace) one tile."""
        self.put_many([(zoom, x, y, data)])

    def put_many(self, tiles: Iterable[tuple[int, int, int, bytes]]) -> int:
        """Store many XYZ tiles in one transaction; returns how many."""
        rows = [(z, x, (2**z - 1) - y, sqlite3.Binary(data)) for z, x, y, data in tiles]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")
        return len(rows)

    def clear(self) -> None:
        """Drop every tile (metadata stays)."""
        with self._lock:
            self._db.execute("DELETE FROM tiles")

    def count(self, zoom: int | None = None) -> int:
        """Number of stored tiles (at one zoom, or all)."""
        with self._lock:
            if zoom is None:
                return self._db.execute("SELECT COUNT(*) FROM tiles").fetchone()[0]
            sql = "SELECT COUNT(*) FROM tiles WHERE zoom_level=?"
            return self._db.execute(sql, (zoom,)).fetchone()[0]

    def stored(self, zoom: int) -> set[tuple[int, int]]:
        """XYZ (x, y) of every tile stored at ``zoom``."""
        last = 2**zoom - 1
        sql = "SELECT tile_column, tile_row FROM tiles WHERE zoom_level=?"
        with self._lock:
            return {(x, last - row) for x, row in self._db.execute(sql, (zoom,))}

    def metadata(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT name, value FROM metadata").fetchall())

    def set_metadata(self, **values: object) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO metadata VALUES (?, ?)",
                [(k, str(v)) for k, v in values.items()],
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> TileCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
