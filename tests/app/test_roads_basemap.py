"""The basemap drawn from an imported street network: pre-rendered with
``tiles seed --street-basemap --roads NAME``, and drawn for the depot a desk opens."""

from __future__ import annotations

import io
import threading

from PIL import Image

from app.roads.library import find_network
from app.tiles import open_tile_service
from app.tiles.mbtiles import tiles_covering
from app.tiles.setup import draw_network
from engine.roads import DEMO_CITY_NETWORK, StreetNetwork
from main import main
from tests.app.test_roads_import import LAT0, LON0, STEP, _write_geojson


def test_an_imported_network_is_the_basemap(tmp_path, capsys):
    source = tmp_path / "grid.geojson"
    _write_geojson(source)
    data = tmp_path / "data"
    assert main(["roads", "import", str(source), "--name", "liege", "--data-dir", str(data)]) == 0
    capsys.readouterr()
    code = main(["tiles", "seed", "--street-basemap", "--roads", "liege", "--zoom", "16-16",
                 "--data-dir", str(data)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "tiles rendered" in out
    liege = StreetNetwork.load(find_network(data, "liege").path)
    # The desk's tile service: the shipped city first, then the depot's network is drawn.
    service = open_tile_service(data, "", StreetNetwork.load(DEMO_CITY_NETWORK))
    try:
        assert draw_network(service, liege)
        bbox = (LON0, LAT0, LON0 + 3 * STEP, LAT0 + 3 * STEP)
        x, y = next(iter(tiles_covering(bbox, 16)))
        got: list[bytes | None] = []
        done = threading.Event()
        tile = service.lookup(16, x, y)
        if tile is None:
            assert service.request(16, x, y, lambda t: (got.append(t), done.set()))
            assert done.wait(30)
            tile = got[0]
        assert tile is not None
        image = Image.open(io.BytesIO(tile)).convert("L")
        lo, hi = image.getextrema()
        assert hi - lo > 30  # streets drawn on the background, not an empty tile
    finally:
        service.shutdown()
        service.cache.close()
