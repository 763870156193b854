"""The tile cache (MBTiles), the online source that fills it, and the street basemap."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from app.tiles import (
    BasemapRenderer,
    StreetLines,
    TileCache,
    TileService,
    TileSource,
    lonlat_to_tile,
    open_tile_service,
    render_basemap,
    tile_bounds,
)

ROADS = Path(__file__).resolve().parents[2] / "resources" / "roads" / "salt_lake_city.parquet"
DOWNTOWN = (-111.8910, 40.7608)  # lon, lat: Main Street at South Temple


def _png(colour=(0, 128, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def network():
    """Salt Lake City's street network (read once per module)."""
    if not ROADS.exists():
        pytest.skip(f"street network file not installed: {ROADS.name}")
    from engine.roads import StreetNetwork

    return StreetNetwork.load(ROADS)


@pytest.fixture(scope="module")
def streets(network) -> StreetLines:
    """The network's streets as drawable lines."""
    return StreetLines.from_network(network)


def test_cache_round_trip_uses_tms_rows(tmp_path):
    """A tile stored by XYZ comes back by XYZ and sits at the flipped TMS row on disk."""
    with TileCache(tmp_path / "t.mbtiles") as cache:
        cache.put(12, 774, 1539, b"tile-bytes")
        assert cache.get(12, 774, 1539) == b"tile-bytes"
        assert cache.get(12, 774, 1540) is None
        assert cache.metadata()["format"] == "png"
    raw = sqlite3.connect(tmp_path / "t.mbtiles")
    rows = raw.execute("SELECT zoom_level, tile_column, tile_row FROM tiles").fetchall()
    assert rows == [(12, 774, 2**12 - 1 - 1539)]


def test_not_an_mbtiles_file_is_refused_clearly(tmp_path):
    """A file that is not SQLite gets a message naming it."""
    bad = tmp_path / "junk.mbtiles"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="junk.mbtiles"):
        TileCache(bad)


def test_tile_arithmetic_matches_the_slippy_map_scheme():
    """The tile holding downtown at zoom 12 is 774/1539 and its bounds contain it."""
    x, y = lonlat_to_tile(*DOWNTOWN, 12)
    assert (int(x), int(y)) == (774, 1539)
    west, south, east, north = tile_bounds(12, 774, 1539)
    assert west <= DOWNTOWN[0] <= east and south <= DOWNTOWN[1] <= north


def test_source_needs_placeholders():
    """A tile URL without {z}/{x}/{y} is refused with the reason."""
    with pytest.raises(ValueError, match="placeholders"):
        TileSource("https://tiles.example/tile.png")


@pytest.fixture
def tile_server(tmp_path):
    """A real local HTTP tile server serving one tile at /12/774/1539.png."""
    root = tmp_path / "www"
    (root / "12" / "774").mkdir(parents=True)
    (root / "12" / "774" / "1539.png").write_bytes(_png())
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{{z}}/{{x}}/{{y}}.png"
    server.shutdown()
    server.server_close()


def _request(service: TileService, key) -> bytes | None:
    done = threading.Event()
    box: list = []
    assert service.request(*key, lambda data: (box.append(data), done.set()))
    assert done.wait(10)
    return box[0]


def test_online_miss_is_fetched_and_kept_for_offline(tmp_path, tile_server):
    """A miss is fetched from the source on a worker and then served from the cache."""
    cache = TileCache(tmp_path / "t.mbtiles")
    service = TileService(cache, source=TileSource(tile_server))
    assert service.lookup(12, 774, 1539) is None
    assert _request(service, (12, 774, 1539)) == _png()
    service.shutdown()
    offline = TileService(cache)  # no source at all now
    assert offline.lookup(12, 774, 1539) == _png()


def test_unreachable_source_is_a_quick_silent_miss(tmp_path):
    """With the source down, a miss answers None fast and is not retried at once."""
    service = TileService(
        TileCache(tmp_path / "t.mbtiles"), source=TileSource("http://127.0.0.1:9/{z}/{x}/{y}.png")
    )
    started = time.monotonic()
    assert _request(service, (12, 774, 1539)) is None
    assert time.monotonic() - started < 5.0
    assert not service.request(12, 774, 1539, lambda data: None)  # backing off
    service.shutdown()


def test_downtown_tile_shows_real_streets(streets):
    """The rendered downtown tile has road-coloured pixels over the plain background."""
    x, y = lonlat_to_tile(*DOWNTOWN, 15)
    png = BasemapRenderer(streets).render_tile(15, int(x), int(y))
    assert png is not None
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=65536)
    background = max(colours)[1]
    assert background == (242, 239, 233)
    street_px = sum(n for n, c in colours if c != background)
    assert street_px > 256 * 256 * 0.08  # downtown: a dense street grid


def test_tile_far_from_the_city_is_left_empty(streets):
    """A tile with no street (far out in the desert) is not rendered at all."""
    x, y = lonlat_to_tile(-113.5, 40.0, 14)
    assert BasemapRenderer(streets).render_tile(14, int(x), int(y)) is None


def test_render_basemap_fills_the_cache(tmp_path, streets):
    """Rendering a downtown box at zooms 14-15 stores its tiles and the OSM credit."""
    west, south = DOWNTOWN[0] - 0.01, DOWNTOWN[1] - 0.01
    cache = TileCache(tmp_path / "basemap.mbtiles")
    stats = render_basemap(
        streets, cache, zooms=range(14, 16), bbox=(west, south, west + 0.02, south + 0.02)
    )
    assert stats.tiles == cache.count() > 4
    assert cache.metadata()["attribution"] == "© OpenStreetMap contributors"
    x, y = lonlat_to_tile(*DOWNTOWN, 15)
    assert cache.get(15, int(x), int(y)) is not None


def test_service_renders_a_miss_from_the_streets(tmp_path, streets):
    """With a renderer and no source, a missing downtown tile is drawn on demand and cached."""
    cache = TileCache(tmp_path / "t.mbtiles")
    service = TileService(cache, renderer=BasemapRenderer(streets))
    x, y = lonlat_to_tile(*DOWNTOWN, 16)
    data = _request(service, (16, int(x), int(y)))
    assert data is not None and cache.get(16, int(x), int(y)) == data
    service.shutdown()


def test_open_tile_service_prefers_the_configured_source(tmp_path, tile_server, network):
    """A configured tile URL wins over the street basemap; without one the streets render."""
    online = open_tile_service(tmp_path, tile_server, network=network)
    assert online.source is not None and online.renderer is None
    online.shutdown()
    local = open_tile_service(tmp_path, "", network=network)
    x, y = lonlat_to_tile(*DOWNTOWN, 14)
    assert _request(local, (14, int(x), int(y))) is not None
    local.shutdown()
    assert not open_tile_service(tmp_path / "bare").can_fill


def test_basemap_cache_starts_afresh_for_another_network(tmp_path, network):
    """Tiles rendered for one street network are dropped when another one is opened."""
    local = open_tile_service(tmp_path, "", network=network)
    local.cache.put(14, 1, 1, b"old city")
    local.shutdown()
    assert open_tile_service(tmp_path, "", network=network).cache.get(14, 1, 1) == b"old city"

    p = network.edge_polylines  # another "city": its first 100 streets only
    n = int(p.offsets[100])
    other = SimpleNamespace(
        edge_polylines=type(p)(p.lat[:n], p.lon[:n], p.offsets[:101], p.highway[:100], p.classes)
    )
    assert open_tile_service(tmp_path, "", network=other).cache.get(14, 1, 1) is None


def test_fill_area_prefetches_for_offline_and_refuses_bulk(tmp_path, tile_server):
    """Prefetching a small area stores what the source has; a huge area is refused."""
    service = TileService(TileCache(tmp_path / "t.mbtiles"), source=TileSource(tile_server))
    west, south, east, north = tile_bounds(12, 774, 1539)
    inner = (west + 0.01, south + 0.01, east - 0.01, north - 0.01)
    assert service.fill_area(inner, [12]) == (1, 0)
    assert service.cache.get(12, 774, 1539) == _png()
    assert service.fill_area(inner, [12]) == (0, 0)  # already cached: nothing fetched
    with pytest.raises(ValueError, match="more than the limit"):
        service.fill_area((-112.5, 40.0, -111.0, 41.5), range(10, 17))
    service.shutdown()


def _street(oneway: bool | None, *, westward: bool = False) -> StreetLines:
    """One residential street through downtown, 0.008° of longitude (about 675 m)."""
    import numpy as np

    lon = np.array([-111.8950, -111.8870])
    return StreetLines.from_polylines(
        np.array([40.7608, 40.7608]), lon[::-1] if westward else lon, np.array([0, 2]),
        np.array([0]), ("residential",), None if oneway is None else np.array([oneway]),
    )  # fmt: skip


def _dark_pixels(png: bytes) -> list[tuple[int, int]]:
    """Pixels much darker than streets, casing and background: the one-way arrows."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return [(x, y) for x in range(256) for y in range(256)
            if max(image.getpixel((x, y))) < 150]  # fmt: skip


def test_one_way_streets_carry_arrows_at_street_level_pointing_their_way():
    """At zoom 16 and closer a one-way street shows arrows, pointing the way it may be
    driven (eastward and westward streets draw different arrows); a two-way street and
    zooms below 16 show none."""
    from app.tiles.basemap import ARROW_ZOOM, _arrows
    from app.tiles.setup import basemap_stamp

    x, y = (int(v) for v in lonlat_to_tile(*DOWNTOWN, 17))
    east = BasemapRenderer(_street(True)).render_tile(17, x, y)
    west = BasemapRenderer(_street(True, westward=True)).render_tile(17, x, y)
    assert len(_dark_pixels(east)) > 20 and east != west
    assert _dark_pixels(BasemapRenderer(_street(False)).render_tile(17, x, y)) == []
    assert _dark_pixels(BasemapRenderer(_street(None)).render_tile(17, x, y)) == []
    x, y = (int(v) for v in lonlat_to_tile(*DOWNTOWN, ARROW_ZOOM - 1))
    assert _dark_pixels(BasemapRenderer(_street(True)).render_tile(ARROW_ZOOM - 1, x, y)) == []
    import numpy as np

    # The first arrow sits 90 supersampled pixels in from the street's start, tip ahead.
    (tip, *_), *_ = _arrows(np.array([[0.0, 10.0], [400.0, 10.0]]))  # eastward
    assert tip[0] > 90
    (tip, *_), *_ = _arrows(np.array([[400.0, 10.0], [0.0, 10.0]]))  # westward
    assert tip[0] < 400 - 90
    # A network with one-way streets gets its own cache (tiles drawn before had no arrows).
    assert basemap_stamp(_street(True)) != basemap_stamp(_street(False))
    assert basemap_stamp(_street(False)) == basemap_stamp(_street(None))


def test_a_desk_tile_asked_before_the_streets_are_read_is_drawn_once_they_are(
    tmp_path, network, monkeypatch
):
    """A restart shows the map before the street network is read: a tile it asks for
    meanwhile waits and is drawn from the streets (not left blank); with no streets to
    draw at all, it is answered empty."""
    from app.tiles.setup import draw_desk_network, open_desk_tiles

    monkeypatch.setenv("DISPATCH_DATA_DIR", str(tmp_path))
    desk = open_desk_tiles("")
    desk.await_renderer()  # as a restart does while the streets are read
    assert desk.renderer is None and desk.can_fill
    x, y = lonlat_to_tile(*DOWNTOWN, 14)
    got: list[bytes | None] = []
    answered = threading.Event()
    assert desk.request(14, int(x), int(y), lambda data: (got.append(data), answered.set()))
    assert not answered.wait(0.3)  # waits for the streets
    draw_desk_network(desk, network)
    assert answered.wait(30) and got[0] is not None
    assert desk.cache.get(14, int(x), int(y)) == got[0]
    desk.shutdown()

    bare = open_desk_tiles("")
    bare.await_renderer()
    bare.set_renderer(None)  # no street network anywhere
    assert not bare.can_fill
    bare.shutdown()
