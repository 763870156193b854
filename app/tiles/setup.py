"""Pick the workstation's tile service from the settings: an online source or the basemap."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from app.tiles.basemap import BasemapRenderer, StreetLines
from app.tiles.mbtiles import TileCache
from app.tiles.service import TileService, TileSource

log = logging.getLogger(__name__)

# Bump when the street drawing changes: cached basemap tiles of another style are dropped.
BASEMAP_STYLE = "1"


def source_cache_path(data_dir: Path, tile_url: str) -> Path:
    """The MBTiles file that keeps the tiles of one online source (``tiles-<hash>.mbtiles``)."""
    digest = hashlib.sha1(tile_url.encode()).hexdigest()[:10]
    return Path(data_dir) / "tiles" / f"tiles-{digest}.mbtiles"


def basemap_cache_path(data_dir: Path) -> Path:
    """The MBTiles file of the rendered street basemap."""
    return Path(data_dir) / "tiles" / "basemap.mbtiles"


def basemap_stamp(lines: StreetLines) -> str:
    """Style and extent of a street network's basemap; another stamp empties the cache."""
    # One-way arrows change only the tiles of a network with one-way streets.
    style = f"{BASEMAP_STYLE}+oneway" if lines.has_oneway else BASEMAP_STYLE
    return f"{style}:" + ",".join(f"{v:.5f}" for v in lines.bbox)


def open_tile_service(
    data_dir: Path, tile_url: str = "", network: object | None = None
) -> TileService:
    """The tile service for the map.

    With ``tile_url`` (``Settings.tile_url``) tiles come from that server and are kept in
    ``tiles-<hash>.mbtiles`` for offline use. Without one, a street network (anything with
    ``edge_polylines``, e.g. ``engine.roads.StreetNetwork``) is rendered on demand into
    ``basemap.mbtiles``. With neither, the map shows its plain background.
    """
    if tile_url:
        cache = TileCache(source_cache_path(data_dir, tile_url), name=tile_url)
        return TileService(cache, source=TileSource(tile_url))
    cache = TileCache(basemap_cache_path(data_dir), name="street basemap")
    if network is None:
        return TileService(cache)
    lines = StreetLines.from_network(network)
    stamp = basemap_stamp(lines)
    if cache.metadata().get("basemap") != stamp:  # another style or another city
        log.info("basemap cache %s: new style or network, starting afresh", cache.path)
        cache.clear()
        cache.set_metadata(basemap=stamp)
    return TileService(cache, renderer=BasemapRenderer(lines))


def draw_network(service: TileService, network: object) -> bool:
    """Have a basemap service draw ``network`` from now on (a depot in another city); its
    cache is emptied when it held another network's tiles. False with an online source."""
    if service.source is not None:
        return False
    lines = StreetLines.from_network(network)
    stamp = basemap_stamp(lines)
    if service.renderer is not None and service.cache.metadata().get("basemap") == stamp:
        service.set_renderer(service.renderer)
        return True
    if service.cache.metadata().get("basemap") != stamp:
        log.info("basemap cache %s: another street network, starting afresh", service.cache.path)
        service.cache.clear()
        service.cache.set_metadata(basemap=stamp)
    service.set_renderer(BasemapRenderer(lines))
    return True


def open_desk_tiles(tile_url: str) -> TileService:
    """The window's map tiles: from the configured tile server, else the basemap's cached
    tiles until the desk draws the open depot's streets, or the demo city's
    (:func:`draw_desk_network`)."""
    from app.settings import user_data_dir

    return open_tile_service(user_data_dir(), tile_url, None)


def draw_desk_network(service: TileService, network: object | None) -> None:
    """The desk's basemap draws ``network`` (the open depot's streets), else the demo
    city's; nothing with an online source or without any street network."""
    if service.source is not None:
        return
    if network is None:
        from app.roads.library import open_network
        from engine.roads import DEMO_CITY_NETWORK

        network = open_network(DEMO_CITY_NETWORK) if DEMO_CITY_NETWORK.exists() else None
    if network is None:
        service.set_renderer(None)
    else:
        draw_network(service, network)
