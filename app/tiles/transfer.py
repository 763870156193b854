"""Import a prepared MBTiles file into a tile cache, and describe the caches on disk.

The import validates the file first (SQLite, a ``tiles`` table with the MBTiles columns,
a known row scheme, raster tiles) and copies in one transaction: a bad file changes nothing.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from app.tiles.mbtiles import TileCache, tile_bounds

_TILE_COLUMNS = {"zoom_level", "tile_column", "tile_row", "tile_data"}
_VECTOR_FORMATS = {"pbf", "mvt"}
_VALID = (
    "zoom_level BETWEEN 0 AND 24 AND tile_column BETWEEN 0 AND (1 << zoom_level) - 1 "
    "AND tile_row BETWEEN 0 AND (1 << zoom_level) - 1 AND tile_data IS NOT NULL"
)


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    in_file: int  # tiles in the file
    added: int
    replaced: int
    skipped_existing: int
    skipped_invalid: int  # rows outside the tile grid or without data
    scheme: str


def _open_readonly(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def inspect_mbtiles(path: Path) -> tuple[dict[str, str], str]:
    """(metadata, row scheme 'tms' or 'xyz') of a readable raster MBTiles file.

    Raises ValueError naming the file and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        db = _open_readonly(path)
        try:
            tables = dict(db.execute("SELECT name, type FROM sqlite_master").fetchall())
            if "tiles" not in tables:
                raise ValueError(f"{path}: not an MBTiles file (no 'tiles' table or view)")
            columns = {row[1] for row in db.execute("PRAGMA table_info(tiles)")}
            if not columns >= _TILE_COLUMNS:
                missing = ", ".join(sorted(_TILE_COLUMNS - columns))
                raise ValueError(f"{path}: not an MBTiles file ('tiles' lacks {missing})")
            meta: dict[str, str] = {}
            if "metadata" in tables:
                meta = {str(k): str(v) for k, v in db.execute("SELECT name, value FROM metadata")}
            db.execute("SELECT COUNT(*) FROM tiles").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise ValueError(f"{path}: not a readable MBTiles (SQLite) file ({exc})") from exc
    scheme = meta.get("scheme", "tms").strip().lower() or "tms"
    if scheme not in ("tms", "xyz"):
        raise ValueError(f"{path}: unknown tile row scheme {scheme!r} (expected tms or xyz)")
    fmt = meta.get("format", "png").strip().lower()
    if fmt in _VECTOR_FORMATS:
        raise ValueError(
            f"{path}: holds vector tiles (format {fmt}); the map shows raster tiles (png/jpg/webp)"
        )
    return meta, scheme


def import_mbtiles(source: Path, cache_path: Path, *, replace: bool = False) -> ImportResult:
    """Copy the tiles of ``source`` into the cache at ``cache_path`` in one transaction.

    Existing tiles are kept unless ``replace``. Raises ValueError for a file that is not a
    usable MBTiles; then the cache is left exactly as it was.
    """
    source, cache_path = Path(source), Path(cache_path)
    _meta, scheme = inspect_mbtiles(source)
    if source.resolve() == cache_path.resolve():
        raise ValueError(f"{source}: that is the cache itself")
    TileCache(cache_path).close()  # create the file, schema and default metadata
    row = "tile_row" if scheme == "tms" else "((1 << zoom_level) - 1 - tile_row)"
    db = sqlite3.connect(cache_path.resolve().as_uri(), uri=True, timeout=30.0)
    db.isolation_level = None  # explicit transactions below
    db.execute("ATTACH DATABASE ? AS src", (f"{source.resolve().as_uri()}?mode=ro",))
    incoming = (
        f"SELECT zoom_level AS z, tile_column AS c, {row} AS r, tile_data AS d "
        f"FROM src.tiles WHERE {_VALID}"
    )
    try:
        db.execute("BEGIN IMMEDIATE")
        in_file = db.execute("SELECT COUNT(*) FROM src.tiles").fetchone()[0]
        valid = db.execute(f"SELECT COUNT(*) FROM ({incoming})").fetchone()[0]
        overlap = db.execute(
            f"SELECT COUNT(*) FROM ({incoming}) AS i JOIN main.tiles AS t "
            "ON t.zoom_level = i.z AND t.tile_column = i.c AND t.tile_row = i.r"
        ).fetchone()[0]
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        db.execute(f"{verb} INTO main.tiles SELECT z, c, r, d FROM ({incoming})")
        db.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise ValueError(f"{source}: could not read its tiles ({exc}); nothing imported") from exc
    finally:
        db.close()
    return ImportResult(
        in_file=in_file,
        added=valid - overlap,
        replaced=overlap if replace else 0,
        skipped_existing=0 if replace else overlap,
        skipped_invalid=in_file - valid,
        scheme=scheme,
    )


@dataclass(frozen=True)
class CacheInfo:
    """One tile cache on disk."""

    path: Path
    name: str
    size_bytes: int
    per_zoom: dict[int, int]
    bounds: tuple[float, float, float, float] | None  # of the deepest zoom's tiles
    error: str = ""


def describe_cache(path: Path) -> CacheInfo:
    """Tile counts per zoom, extent and size of one MBTiles file (read only)."""
    path = Path(path)
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    try:
        db = _open_readonly(path)
        try:
            meta = dict(db.execute("SELECT name, value FROM metadata").fetchall())
            rows = db.execute(
                "SELECT zoom_level, COUNT(*), MIN(tile_column), MAX(tile_column), "
                "MIN(tile_row), MAX(tile_row) FROM tiles GROUP BY zoom_level ORDER BY zoom_level"
            ).fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return CacheInfo(path, "", size, {}, None, error=str(exc))
    per_zoom = {int(z): int(n) for z, n, *_ in rows}
    bounds = None
    if rows:
        z, _n, c0, c1, r0, r1 = rows[-1]
        last = 2**z - 1
        west, south, _, _ = tile_bounds(z, c0, last - r0)
        _, _, east, north = tile_bounds(z, c1, last - r1)
        bounds = (west, south, east, north)
    return CacheInfo(path, str(meta.get("name", path.stem)), size, per_zoom, bounds)
