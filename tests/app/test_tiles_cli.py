"""``python main.py tiles``: seeding from a real local tile server, importing, listing."""

from __future__ import annotations

import io
import sqlite3
import threading
import time
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from app.tiles import TileCache, open_tile_service, tile_bounds
from app.tiles.seed import seed_tiles, tile_keys
from main import main

Z, X0, Y0 = 14, 3097, 6158  # downtown Salt Lake City at zoom 14


def _png(colour=(0, 128, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _bbox(cols: int, rows: int, zoom: int = Z) -> str:
    """A bbox covering exactly cols x rows tiles at ``zoom`` (and their parents above)."""
    west, _, _, north = tile_bounds(zoom, X0, Y0)
    _, south, east, _ = tile_bounds(zoom, X0 + cols - 1, Y0 + rows - 1)
    eps = 1e-6
    return f"{west + eps},{south + eps},{east - eps},{north - eps}"


class TileServer:
    """A threaded HTTP tile server: a small PNG per tile, with failures on demand."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.user_agents: set[str] = set()
        self.failing: set[str] = set()  # paths answered 503 while listed
        self.fail_once: set[str] = set()  # paths answered 503 on their first request
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with owner.lock:
                    owner.requests.append(self.path)
                    owner.user_agents.add(self.headers.get("User-Agent", ""))
                    fail = self.path in owner.failing or self.path in owner.fail_once
                    owner.fail_once.discard(self.path)
                if fail:
                    self.send_error(503)
                    return
                body = _png()
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{{z}}/{{x}}/{{y}}.png"
        serve = partial(self.server.serve_forever, poll_interval=0.05)
        threading.Thread(target=serve, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    """A real local HTTP tile server on a free port."""
    srv = TileServer()
    yield srv
    srv.close()


def _seed(tmp_path, server, bbox: str, *extra: str) -> int:
    argv = ["tiles", "seed", "--bbox", bbox, "--zoom", f"{Z}-{Z}", "--source", server.url]
    return main([*argv, "--rate", "200", "--data-dir", str(tmp_path), *extra])


def test_seed_stores_every_tile_and_the_workstation_serves_them_offline(tmp_path, server, capsys):
    """Seeding a 3x2 area stores its 6 tiles where the workstation looks for that URL."""
    assert _seed(tmp_path, server, _bbox(3, 2)) == 0
    assert len(server.requests) == 6
    assert all("dispatch-desk" in ua for ua in server.user_agents)  # a polite User-Agent
    assert "6/6 tiles stored" in capsys.readouterr().out
    service = open_tile_service(tmp_path, server.url)
    assert service.lookup(Z, X0 + 2, Y0 + 1) == _png()
    service.shutdown()


def test_second_run_makes_no_requests(tmp_path, server, capsys):
    """Running the same seed again fetches nothing: cached tiles are skipped."""
    assert _seed(tmp_path, server, _bbox(2, 2)) == 0
    server.requests.clear()
    assert _seed(tmp_path, server, _bbox(2, 2)) == 0
    assert server.requests == []
    assert "0 fetched, 4 already cached" in capsys.readouterr().out


def test_failing_tiles_are_counted_and_a_rerun_fetches_only_those(tmp_path, server, capsys):
    """Tiles the server keeps failing give exit 1; after it recovers only they are fetched."""
    bad = {f"/{Z}/{X0}/{Y0}.png", f"/{Z}/{X0 + 1}/{Y0 + 1}.png"}
    server.failing |= bad
    assert _seed(tmp_path, server, _bbox(3, 2), "--retries", "1") == 1
    out = capsys.readouterr().out
    assert "2 failed" in out and "4/6 tiles stored" in out and "HTTP 503" in out
    assert sorted(server.requests).count(f"/{Z}/{X0}/{Y0}.png") == 2  # tried, retried once
    server.failing.clear()
    server.requests.clear()
    assert _seed(tmp_path, server, _bbox(3, 2)) == 0
    assert set(server.requests) == bad and len(server.requests) == 2


def test_a_transient_error_is_retried_after_a_backoff(tmp_path, server):
    """A tile answered 503 once is fetched on the retry and stored."""
    cache = TileCache(tmp_path / "t.mbtiles")
    server.fail_once.add(f"/{Z}/{X0}/{Y0}.png")
    keys = [(Z, X0, Y0), (Z, X0 + 1, Y0)]
    result = seed_tiles(cache, server.url, keys, rate=500, backoff_s=0.01)
    assert (result.fetched, result.failed, result.requests) == (2, 0, 3)
    assert cache.get(Z, X0, Y0) == _png()


def test_interrupted_run_keeps_its_tiles_and_resumes(tmp_path, server):
    """Ctrl+C mid-run keeps what was fetched; the next run fetches only the rest."""
    cache = TileCache(tmp_path / "t.mbtiles")
    keys = [(Z, X0 + i, Y0) for i in range(8)]

    interrupted: list[int] = []

    def interrupt_after_three(progress) -> None:
        if progress.fetched == 3 and not interrupted:
            interrupted.append(1)
            raise KeyboardInterrupt

    first = seed_tiles(cache, server.url, keys, rate=500, progress=interrupt_after_three,
                       progress_every_s=0.0)  # fmt: skip
    assert first.stopped == "interrupted" and first.fetched == 3 == cache.count()
    server.requests.clear()
    second = seed_tiles(cache, server.url, keys, rate=500)
    assert (second.already, second.fetched, len(server.requests)) == (3, 5, 5)
    assert cache.count() == 8


def test_rate_limit_is_respected(tmp_path, server):
    """20 tiles at 50 tiles/s take at least ~0.38 s (19 gaps of 20 ms)."""
    started = time.monotonic()
    rc = main(
        ["tiles", "seed", "--bbox", _bbox(5, 4), "--zoom", f"{Z}-{Z}", "--source", server.url,
         "--rate", "50", "--data-dir", str(tmp_path)]
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert rc == 0 and len(server.requests) == 20
    assert elapsed >= 0.35


def test_dead_source_stops_early_and_keeps_nothing_broken(tmp_path, capsys):
    """With nothing listening, the run gives up after a run of failures instead of crawling."""
    url = "http://127.0.0.1:9/{z}/{x}/{y}.png"
    argv = ["tiles", "seed", "--bbox", _bbox(6, 5), "--zoom", f"{Z}-{Z}", "--source", url]
    assert main([*argv, "--rate", "1000", "--retries", "0", "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "Stopped early" in out and "run again" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bbox", "-111.8,40.7,-111.9,40.8"], "WEST < EAST"),
        (["--bbox", "-111.9,40.7,-111.8"], "four numbers"),
        (["--bbox", "-200,40.7,-111.8,40.8"], "-180..180"),
        (["--zoom", "12-20"], "0..19"),
        (["--zoom", "16-12"], "must not exceed"),
        (["--source", "http://tiles.example/{z}/{y}.png"], "{x}"),
        (["--source", "http://tiles.example/{z}/{x}/{y}{r}.png"], "unsupported placeholder"),
        (["--zoom", "10-19", "--max-tiles", "500"], "more than --max-tiles 500"),
        (["--rate", "0"], "--rate"),
    ],
)
def test_bad_arguments_exit_2_with_the_reason(tmp_path, capsys, args, message):
    """Bad bbox, zooms, URL, rate or an oversized area are refused with exit 2 and why."""
    base = {"--bbox": "-111.95,40.74,-111.85,40.79", "--zoom": "12-13"}
    base["--source"] = "http://tiles.example/{z}/{x}/{y}.png"
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = ["tiles", "seed", "--data-dir", str(tmp_path)]
    argv += [item for pair in base.items() for item in pair]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def _mbtiles(path, tiles, *, scheme: str | None = None) -> None:
    """A prepared MBTiles file built with plain sqlite3; ``tiles`` are XYZ (z, x, y, data)."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute(
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
        "tile_data BLOB)"
    )
    meta = [("name", "prepared"), ("format", "png")] + ([("scheme", scheme)] if scheme else [])
    db.executemany("INSERT INTO metadata VALUES (?, ?)", meta)
    flip = scheme != "xyz"
    rows = [(z, x, (2**z - 1 - y) if flip else y, data) for z, x, y, data in tiles]
    db.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def test_imported_tiles_are_served_by_the_workstation(tmp_path, capsys):
    """An imported MBTiles file's tiles are what the tile service answers for that URL."""
    url = "https://tiles.example/{z}/{x}/{y}.png"
    red, green = _png((255, 0, 0)), _png((0, 255, 0))
    _mbtiles(tmp_path / "city.mbtiles", [(Z, X0, Y0, red), (Z, X0 + 1, Y0, red)])
    _mbtiles(tmp_path / "xyz.mbtiles", [(Z, X0, Y0 + 1, green)], scheme="xyz")
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["tiles", "import", str(tmp_path / "city.mbtiles"), "--source", url, *data]) == 0
    assert "2 added" in capsys.readouterr().out
    assert main(["tiles", "import", str(tmp_path / "xyz.mbtiles"), "--source", url, *data]) == 0
    service = open_tile_service(tmp_path / "data", url)
    assert service.lookup(Z, X0, Y0) == red and service.lookup(Z, X0, Y0 + 1) == green
    service.shutdown()
    _mbtiles(tmp_path / "newer.mbtiles", [(Z, X0, Y0, green)])
    newer = ["tiles", "import", str(tmp_path / "newer.mbtiles"), "--source", url, *data]
    capsys.readouterr()
    assert main(newer) == 0 and "1 already cached" in capsys.readouterr().out
    assert main([*newer, "--replace"]) == 0 and "1 replaced" in capsys.readouterr().out
    assert open_tile_service(tmp_path / "data", url).lookup(Z, X0, Y0) == green


def test_basemap_import_survives_the_workstation_opening_its_cache(tmp_path, capsys):
    """Tiles imported with --basemap are still served when the workstation opens the basemap."""
    from engine.roads import DEMO_CITY_NETWORK, StreetNetwork

    if not DEMO_CITY_NETWORK.exists():
        pytest.skip(f"street network file not installed: {DEMO_CITY_NETWORK.name}")
    _mbtiles(tmp_path / "base.mbtiles", [(Z, X0, Y0, _png((9, 9, 9)))])
    data_dir = tmp_path / "data"
    assert main(["tiles", "import", str(tmp_path / "base.mbtiles"), "--basemap",
                 "--data-dir", str(data_dir)]) == 0  # fmt: skip
    service = open_tile_service(data_dir, "", StreetNetwork.load(DEMO_CITY_NETWORK))
    assert service.lookup(Z, X0, Y0) == _png((9, 9, 9))
    service.shutdown()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"SQLite format 3\x00" + b"\xff" * 4000, "not a readable MBTiles"),
        (b"PK\x03\x04 a zip archive, not tiles" * 50, "not a readable MBTiles"),
        (None, "no 'tiles' table"),
    ],
)
def test_corrupt_or_foreign_file_is_refused_and_changes_nothing(tmp_path, capsys, content, message):
    """A corrupt file or a SQLite file without tiles gets a clear message and exit 2."""
    bad = tmp_path / "bad.mbtiles"
    if content is None:
        sqlite3.connect(bad).execute("CREATE TABLE orders (id TEXT)").connection.commit()
    else:
        bad.write_bytes(content)
    data_dir = tmp_path / "data"
    assert main(["tiles", "import", str(bad), "--basemap", "--data-dir", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and "bad.mbtiles" in err
    assert not (data_dir / "tiles" / "basemap.mbtiles").exists()


def test_info_lists_caches_with_counts_per_zoom(tmp_path, server, capsys):
    """``tiles info`` shows each cache with its tiles per zoom and its extent."""
    argv = ["tiles", "seed", "--bbox", _bbox(2, 1), "--zoom", f"{Z - 1}-{Z}"]
    assert main([*argv, "--source", server.url, "--rate", "200", "--data-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["tiles", "info", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (
        server.url in out and f"4 tiles (z{Z - 1}: 2, z{Z}: 2)" in out and "bounds W,S,E,N" in out
    )


def test_seed_keys_cover_the_area_at_every_zoom():
    """A 3x2 area at zoom 14 has 6 tiles there and 2 parents at zoom 13."""
    west, south, east, north = (float(v) for v in _bbox(3, 2).split(","))
    keys = tile_keys((west, south, east, north), range(Z - 1, Z + 1))
    assert sum(1 for k in keys if k[0] == Z) == 6
    assert {k for k in keys if k[0] == Z - 1} <= {(Z - 1, X0 // 2 + i, Y0 // 2) for i in (0, 1)}
