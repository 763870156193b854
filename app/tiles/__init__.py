"""Map tiles: an MBTiles cache, an online source that fills it, and a street basemap renderer.

Qt-free on purpose: the web view's URL scheme handler (in ``widgets``) asks a
:class:`TileService` for tiles; everything slow runs on the service's worker threads.
"""

from app.tiles.basemap import BasemapRenderer, StreetLines, render_basemap
from app.tiles.mbtiles import TileCache, lonlat_to_tile, tile_bounds, tiles_covering
from app.tiles.service import TileService, TileSource
from app.tiles.setup import open_desk_tiles, open_tile_service

__all__ = [
    "BasemapRenderer",
    "StreetLines",
    "TileCache",
    "TileService",
    "TileSource",
    "lonlat_to_tile",
    "open_desk_tiles",
    "open_tile_service",
    "render_basemap",
    "tile_bounds",
    "tiles_covering",
]
