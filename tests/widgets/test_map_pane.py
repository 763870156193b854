"""The live map in a real QtWebEngine page: layers, batched updates, clicks, focus, tiles."""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")
os.environ.setdefault(
    "QTWEBENGINE_CHROMIUM_FLAGS",
    "--disable-gpu --disable-background-networking --disable-component-update",
)

import pytest  # noqa: E402
import shiboken6  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QWidget  # noqa: E402

import widgets.map_schemes  # noqa: E402,F401  (registers ddtile: before any QApplication)
from app.tiles import TileCache, TileService, lonlat_to_tile, open_tile_service  # noqa: E402
from engine.model import StopStatus  # noqa: E402
from tests.widgets.test_map_data import sample_day  # noqa: E402
from widgets.map_data import STATUS_COLOURS, route_colour  # noqa: E402
from widgets.map_pane import MapPane  # noqa: E402


def js(qtbot, pane: MapPane, expr: str):
    """Evaluate ``expr`` (which must return a JSON string) in the page and decode it."""
    box: list = []
    pane.run_js(expr, box.append)
    qtbot.waitUntil(lambda: bool(box), timeout=5000)
    return json.loads(box[0])


def stats(qtbot, pane: MapPane) -> dict:
    return js(qtbot, pane, "dd.stats()")


def vehicle(qtbot, pane: MapPane, vehicle_id: str) -> dict:
    """The vehicle marker's position and stale flag in the page ({} when not drawn)."""
    return js(qtbot, pane, f"dd.vehicleState({vehicle_id!r})") or {}


def stop_point(qtbot, pane: MapPane, order_id: str) -> QPoint:
    """Where a stop's marker is in the map view (pixels)."""
    where = "JSON.stringify(dd.map.latLngToContainerPoint(dd.stops[%r].layer.getLatLng()))"
    p = js(qtbot, pane, where % order_id)
    return QPoint(round(p["x"]), round(p["y"]))


def shift_drag(qtbot, pane: MapPane, a: QPoint, b: QPoint, steps: int = 10) -> QWidget:
    """Press Shift and the left button at ``a`` and move the mouse to ``b`` (not released);
    returns the widget to release the button on."""
    target = pane.view.focusProxy() or pane.view
    QTest.mouseMove(target, a)
    qtbot.wait(30)
    QTest.mousePress(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, a)
    for i in range(1, steps + 1):
        QTest.mouseMove(target, a + (b - a) * (i / steps))
        qtbot.wait(30)
    return target


@pytest.fixture
def open_pane(qtbot, tmp_path):
    """Opens ready map panes; each is closed and deleted inside the test's event loop
    (a pane left for interpreter exit takes its web profile down in an arbitrary order)."""
    opened: list[MapPane] = []

    def open_(service: TileService | None = None, before_ready=None) -> MapPane:
        pane = MapPane(service, cache_dir=tmp_path / "page")
        opened.append(pane)
        pane.resize(800, 600)
        if before_ready is not None:
            before_ready(pane)
        with qtbot.waitSignal(pane.sig_page_ready, timeout=20000):
            pane.show()
        return pane

    yield open_
    for pane in opened:
        if shiboken6.isValid(pane):
            pane.close()
            pane.deleteLater()
    qtbot.wait(50)


@pytest.fixture
def day():
    """The sample downtown day: 3 routes, 24 stops."""
    return sample_day()


@pytest.fixture
def pane(qtbot, tmp_path, day, open_pane):
    """A ready map pane (empty tile cache) showing the sample day's plan."""
    service = TileService(TileCache(tmp_path / "tiles.mbtiles"))
    pane = open_pane(service)
    pane.set_plan(day.plan, day.orders, day.depot)
    qtbot.waitUntil(lambda: stats(qtbot, pane)["stops"] == 24, timeout=5000)
    yield pane
    service.shutdown()


def test_page_loads_shipped_assets_and_draws_every_layer(pane, tmp_path):
    """The page uses only shipped files and shows depot, 3 route lines and 24 stops."""
    page = next((tmp_path / "page").glob("map-*.html")).read_text()
    assert "http://" not in page and "https://" not in page
    assert "leaflet.js" in page and "qwebchannel.js" in page


def test_layers_are_drawn_in_the_page(qtbot, pane):
    """Depot, routes and stops are drawn, with the OSM credit shown. Routes and stops are
    shapes on one canvas, not an SVG element each: a replay jump restyling thousands of
    stops then costs the page one redraw, not a second of restyling elements."""
    s = stats(qtbot, pane)
    assert s["ready"] and s["depot"]
    assert (s["routes"], s["stops"]) == (3, 24)
    assert s["canvasFeatures"] == 3 + 24
    assert s["svgPaths"] == 0
    assert "OpenStreetMap contributors" in s["attribution"]


def click(qtbot, pane: MapPane, at: QPoint) -> None:
    """A real mouse click in the map view (Chromium wants a hover, then press and release
    as separate events)."""
    target = pane.view.focusProxy() or pane.view
    QTest.mouseMove(target, at)
    qtbot.wait(50)
    QTest.mousePress(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    qtbot.wait(50)
    QTest.mouseRelease(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)


def test_mouse_click_on_a_route_line_between_stops_selects_the_route(qtbot, pane):
    """Routes lie under the stops on the same canvas: a click on a route's line between two
    stops selects the route, a click on a stop on that line the stop, and a selected
    route, drawn over the other routes, still lies under its stops."""
    qtbot.waitUntil(lambda: stats(qtbot, pane)["applied"] >= 1)
    a, b = stop_point(qtbot, pane, "O2-03"), stop_point(qtbot, pane, "O2-04")
    with qtbot.waitSignal(pane.sig_selection_changed, timeout=5000) as blocker:
        click(qtbot, pane, (a + b) / 2)
    assert blocker.args == ["route", "R2"]
    qtbot.waitUntil(lambda: (stats(qtbot, pane)["selected"] or {}).get("id") == "R2")
    with qtbot.waitSignal(pane.sig_selection_changed, timeout=5000) as blocker:
        click(qtbot, pane, b)
    assert blocker.args == ["stop", "O2-04"]


def test_batched_vehicle_updates_move_markers_at_a_bounded_rate(qtbot, pane, day):
    """Forty quick position updates reach the page as a few batches; the last one wins."""
    now = day.plan.routes[0].stops[2].planned_arrival
    pane.set_now(now)
    js(qtbot, pane, "dd.map.setView([40.76, -111.89], 15, {animate: false}), '1'")
    before = pane.flushes
    for i in range(40):
        pane.update_vehicles(
            {
                "V1": {"lat": 40.75 + i * 0.0005, "lon": -111.89, "heading_deg": 10.0 * i},
                "V2": {"lat": 40.77, "lon": -111.88 - i * 0.0005, "ts": now.timestamp()},
            }
        )
        qtbot.wait(10)
    qtbot.waitUntil(
        lambda: abs(vehicle(qtbot, pane, "V1").get("lat", 0.0) - (40.75 + 39 * 0.0005)) < 1e-9,
        timeout=3000,
    )
    state = vehicle(qtbot, pane, "V2")
    assert abs(state["lon"] - (-111.88 - 39 * 0.0005)) < 1e-9
    assert vehicle(qtbot, pane, "V1")["rotation"] == "rotate(390deg)"  # heading drawn
    assert stats(qtbot, pane)["vehicleMarkers"] == 2 and stats(qtbot, pane)["vehicleCanvas"]
    assert pane.flushes - before <= 6  # ~0.5 s of updates at <= 4 Hz, not 40 page calls
    assert stats(qtbot, pane)["zoom"] == 15  # the user's view survives: no page rebuild


def test_old_position_is_badged_stale(qtbot, pane, day):
    """A vehicle whose last fix is five minutes old is faded with a badge."""
    now = day.plan.routes[0].stops[2].planned_arrival
    pane.set_now(now)
    pane.update_vehicles({"V3": {"lat": 40.76, "lon": -111.9, "ts": now.timestamp() - 300}})
    qtbot.waitUntil(lambda: vehicle(qtbot, pane, "V3").get("stale"), timeout=3000)
    pane.update_vehicles({"V3": {"lat": 40.76, "lon": -111.9, "ts": now.timestamp()}})
    qtbot.waitUntil(lambda: not vehicle(qtbot, pane, "V3").get("stale"), timeout=3000)


def test_mouse_click_on_a_stop_selects_it_in_python(qtbot, pane):
    """Clicking a stop marker in the page emits sig_selection_changed('stop', order id)."""
    qtbot.waitUntil(lambda: stats(qtbot, pane)["applied"] >= 1)
    point = js(
        qtbot,
        pane,
        "JSON.stringify(dd.map.latLngToContainerPoint(dd.stops['O2-03'].layer.getLatLng()))",
    )
    target = pane.view.focusProxy() or pane.view
    at = QPoint(round(point["x"]), round(point["y"]))
    with qtbot.waitSignal(pane.sig_selection_changed, timeout=5000) as blocker:
        # Chromium wants a hover, then press and release as separate events.
        QTest.mouseMove(target, at)
        qtbot.wait(50)
        QTest.mousePress(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
        qtbot.wait(50)
        QTest.mouseRelease(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    assert blocker.args == ["stop", "O2-03"]
    qtbot.waitUntil(lambda: (stats(qtbot, pane)["selected"] or {}).get("id") == "O2-03")


def test_focus_on_pans_to_the_stop_and_highlights_it(qtbot, pane, day):
    """focus_on(order id) centres the map on that stop and marks it selected."""
    pane.focus_on("O3-08")
    target = day.orders["O3-08"].location

    def centred() -> bool:
        s = stats(qtbot, pane)
        lat, lon = s["center"]
        return abs(lat - target.lat) < 1e-4 and abs(lon - target.lon) < 1e-4 and s["zoom"] >= 15

    qtbot.waitUntil(centred, timeout=5000)
    assert stats(qtbot, pane)["selected"] == {"kind": "stop", "id": "O3-08"}


def _red_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (255, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_cached_tile_is_served_through_the_scheme(qtbot, tmp_path, day, open_pane):
    """A tile stored in the MBTiles cache is drawn on the map (a red test tile shows)."""
    cache = TileCache(tmp_path / "tiles.mbtiles")
    x, y = lonlat_to_tile(day.depot.location.lon, day.depot.location.lat, 13)
    cache.put(13, int(x), int(y), _red_png())
    service = TileService(cache)
    pane = open_pane(service)
    pane.set_plan(None, {}, day.depot, fit=False)
    qtbot.waitUntil(lambda: pane.tile_handler.served >= 1, timeout=5000)
    qtbot.waitUntil(lambda: stats(qtbot, pane)["tilesLoaded"] >= 1, timeout=5000)

    def red_pixels() -> int:
        image = pane.grab().toImage()
        return sum(
            1
            for px in range(0, image.width(), 8)
            for py in range(0, image.height(), 8)
            if image.pixelColor(px, py).red() > 240 and image.pixelColor(px, py).green() < 20
        )

    qtbot.waitUntil(lambda: red_pixels() > 50, timeout=5000)
    service.shutdown()


def test_missing_tile_leaves_plain_background_quickly(qtbot, pane):
    """With an empty cache and no source, tile requests fail fast and layers stay."""
    started = time.monotonic()
    qtbot.waitUntil(lambda: stats(qtbot, pane)["tilesFailed"] >= 4, timeout=5000)
    assert time.monotonic() - started < 3.0
    assert pane.tile_handler.served == 0 and pane.tile_handler.missed >= 4
    assert stats(qtbot, pane)["stops"] == 24


def test_closed_pane_ignores_late_callbacks(qtbot, day, open_pane):
    """A page callback that arrives after the pane closed is dropped, not delivered."""
    pane = open_pane()
    got: list = []
    pane.run_js("JSON.stringify(1)", got.append)
    pane.close()
    qtbot.wait(300)
    assert got == []
    pane.set_plan(day.plan, day.orders, day.depot)  # no effect, no error
    assert pane.flushes == 0


def test_now_moves_stale_flags_without_new_positions(qtbot, pane, day):
    """Advancing the clock alone turns a silent vehicle stale."""
    start = day.plan.routes[0].stops[0].planned_arrival
    pane.set_now(start)
    pane.update_vehicles({"V1": {"lat": 40.76, "lon": -111.89, "ts": start.timestamp()}})
    qtbot.waitUntil(lambda: bool(vehicle(qtbot, pane, "V1")))
    assert not vehicle(qtbot, pane, "V1")["stale"]
    pane.set_now(start + timedelta(minutes=10))
    qtbot.waitUntil(lambda: vehicle(qtbot, pane, "V1")["stale"], timeout=3000)


def test_route_drawn_along_its_streets(qtbot, pane, day):
    """A street path given for a route replaces its straight legs in the page."""
    streets = [
        (40.7608, -111.8910),
        (40.7620, -111.8910),
        (40.7620, -111.8850),
        (40.7608, -111.8850),
    ]
    pane.set_route_geometry({"R2": streets})
    expr = "JSON.stringify(dd.routes['R2'].layer.getLatLngs().map(p => [p.lat, p.lng]))"
    qtbot.waitUntil(lambda: js(qtbot, pane, expr) == [list(p) for p in streets], timeout=3000)
    straight = js(qtbot, pane, "JSON.stringify(dd.routes['R1'].layer.getLatLngs().length)")
    assert straight == 8 + 2  # untouched: depot, 8 stops, depot


def test_vehicle_click_and_stop_drop_reach_python(qtbot, pane):
    """A vehicle click selects it; a stop dropped in the page reports order id and place."""
    pane.update_vehicles({"V2": {"lat": 40.7651, "lon": -111.8802}})
    qtbot.waitUntil(lambda: bool(vehicle(qtbot, pane, "V2")))
    with qtbot.waitSignal(pane.sig_selection_changed, timeout=3000) as clicked:
        pane.run_js("dd.clickFeature('vehicle', 'V2')")
    assert clicked.args == ["vehicle", "V2"]
    with qtbot.waitSignal(pane.sig_stop_dropped_at, timeout=3000) as dropped:
        pane.run_js("dd.bridge.stopDropped('O1-04', 40.77, -111.87)")
    assert dropped.args == ["O1-04", 40.77, -111.87]


def test_shift_drag_a_stop_onto_another_route_previews_and_drops(qtbot, pane, day):
    """Shift-dragging stop O1-04 onto route 3's line shows the preview and emits the drop;
    the drag's start is told once, however far the mouse goes."""
    pane.preview_fn = lambda ids, route: f"{ids[0]} to {route}: +7 min, on time"
    qtbot.waitUntil(lambda: stats(qtbot, pane)["applied"] >= 1)
    started: list = []
    pane.sig_stop_drag_started.connect(started.append)
    a, b = stop_point(qtbot, pane, "O1-04"), stop_point(qtbot, pane, "O3-05")
    view = stats(qtbot, pane)["bounds"]
    target = shift_drag(qtbot, pane, a, b)
    qtbot.waitUntil(lambda: bool(stats(qtbot, pane)["preview"]), timeout=3000)
    assert stats(qtbot, pane)["preview"] == "O1-04 to R3: +7 min, on time"
    assert js(qtbot, pane, "JSON.stringify(!!document.querySelector('.leaflet-zoom-box'))") is False
    tips = (
        "JSON.stringify([...document.querySelectorAll('.leaflet-tooltip')]"
        ".filter(t => getComputedStyle(t).display !== 'none').map(t => t.textContent))"
    )
    assert js(qtbot, pane, tips) == ["O1-04 to R3: +7 min, on time"]  # no stop's tip over it
    assert started == [["O1-04"]]
    with qtbot.waitSignal(pane.sig_stop_dropped, timeout=3000) as dropped:
        QTest.mouseRelease(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, b)
    assert dropped.args == [["O1-04"], "R3"]
    qtbot.waitUntil(lambda: stats(qtbot, pane)["preview"] is None, timeout=3000)
    qtbot.wait(300)
    assert stats(qtbot, pane)["bounds"] == view  # Shift-drag on a stop is not a box zoom
    assert started == [["O1-04"]]
    # Python did not move it: the stop is back where it was; a new drag is told again.
    a = stop_point(qtbot, pane, "O1-04")
    shift_drag(qtbot, pane, a, a + QPoint(40, 40))
    qtbot.waitUntil(lambda: len(started) == 2, timeout=3000)
    assert started[1] == ["O1-04"]
    with qtbot.waitSignal(pane.sig_stop_dropped_at, timeout=3000):
        QTest.mouseRelease(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier)


def test_updates_before_the_page_is_ready_are_kept(qtbot, day, open_pane):
    """A plan and positions given while the page still loads show once it is ready."""

    def feed(pane: MapPane) -> None:
        assert not pane.is_ready
        pane.set_plan(day.plan, day.orders, day.depot)
        pane.update_vehicles({"V1": {"lat": 40.7651, "lon": -111.8802}})

    pane = open_pane(before_ready=feed)
    qtbot.waitUntil(lambda: stats(qtbot, pane)["stops"] == 24, timeout=5000)
    assert stats(qtbot, pane)["vehicles"] == 1


def test_late_eta_highlights_the_stop(qtbot, pane, day):
    """An ETA past the order's window marks that stop late-risk in the page; a new ETA clears it."""
    late_flag = "JSON.stringify(dd.stops['O2-05'].data.late)"
    assert js(qtbot, pane, late_flag) is False
    pane.update_etas({"O2-05": day.orders["O2-05"].latest + timedelta(minutes=15)})
    qtbot.waitUntil(lambda: js(qtbot, pane, late_flag) is True, timeout=3000)
    pane.update_etas({"O2-05": day.orders["O2-05"].latest - timedelta(minutes=15)})
    qtbot.waitUntil(lambda: js(qtbot, pane, late_flag) is False, timeout=3000)


def test_street_basemap_is_rendered_on_demand_into_the_page(qtbot, tmp_path, day, open_pane):
    """With an empty cache, downtown tiles are drawn from the street network and shown."""
    roads = Path(__file__).resolve().parents[2] / "resources" / "roads" / "salt_lake_city.parquet"
    if not roads.exists():
        pytest.skip(f"street network file not installed: {roads.name}")
    from engine.roads import StreetNetwork

    service = open_tile_service(tmp_path / "data", "", StreetNetwork.load(roads))
    pane = open_pane(service)
    pane.set_plan(None, {}, day.depot, fit=False)
    qtbot.waitUntil(lambda: stats(qtbot, pane)["tilesLoaded"] >= 6, timeout=15000)
    assert pane.tile_handler.served >= 6 and service.cache.count() >= 6

    def street_share() -> float:  # drawn streets over the plain beige background
        image = pane.grab().toImage()
        samples = [
            image.pixelColor(px, py).getRgb()[:3]
            for px in range(0, image.width(), 4)
            for py in range(0, image.height(), 4)
        ]
        plain = (242, 239, 233)
        streets = sum(
            1 for c in samples if max(abs(a - b) for a, b in zip(c, plain, strict=True)) > 12
        )
        return streets / len(samples)

    qtbot.waitUntil(lambda: street_share() > 0.10, timeout=5000)
    service.shutdown()


#: Tags every drawn route and stop layer and logs what each later batch carries.
WATCH_JS = """(function () {
  Object.keys(dd.routes).forEach(function (k) { dd.routes[k].layer._ddOld = true; });
  Object.keys(dd.stops).forEach(function (k) { dd.stops[k].layer._ddOld = true; });
  var inner = dd.apply;
  window.ddSeen = [];
  dd.apply = function (b) {
    var c = b.layerChanges;
    if (b.layers || c) ddSeen.push({full: !!b.layers, routes: c ? (c.routes || []).map(function (r) {
      return r.id; }) : null, stops: c ? (c.stops || []).map(function (s) { return s.id; }).concat(
      (c.stopStates || []).map(function (r) { return r[0]; })) : null,
      rows: c ? (c.stopStates || []).length : 0});
    return inner(b);
  };
  return "1";
})()"""


def kept(qtbot, pane: MapPane, table: str, ident: str) -> bool:
    """Whether the page still shows the very layer it drew before WATCH_JS ran."""
    return js(qtbot, pane, f"JSON.stringify(!!dd.{table}[{ident!r}].layer._ddOld)")


def test_a_delivered_stop_updates_only_that_marker(qtbot, pane, day):
    """A stop turning delivered in the same plan sends that one stop; nothing is redrawn."""
    js(qtbot, pane, WATCH_JS)
    full = pane.full_layer_updates
    r2 = day.plan.routes[1]
    stops = (replace(r2.stops[1], status=StopStatus.DELIVERED), *r2.stops[2:])
    routes = (day.plan.routes[0], replace(r2, stops=(r2.stops[0], *stops)), day.plan.routes[2])
    pane.set_plan(replace(day.plan, routes=routes), day.orders, day.depot, fit=False)
    fill = "JSON.stringify(dd.stops['O2-02'].layer.options.fillColor)"
    qtbot.waitUntil(lambda: js(qtbot, pane, fill) == STATUS_COLOURS[StopStatus.DELIVERED])
    # Its state alone changed: a short row of it, not the whole marker.
    assert js(qtbot, pane, "JSON.stringify(ddSeen)") == [
        {"full": False, "routes": [], "stops": ["O2-02"], "rows": 1}
    ]
    assert js(qtbot, pane, "JSON.stringify(dd.stops['O2-02'].data.status)") == "delivered"
    assert js(qtbot, pane, "JSON.stringify(dd.stops['O2-02'].data.label)") == (
        day.orders["O2-02"].customer or "O2-02"
    )
    assert pane.full_layer_updates == full
    assert kept(qtbot, pane, "stops", "O2-02") and kept(qtbot, pane, "routes", "R2")
    assert stats(qtbot, pane)["stops"] == 24


PIXEL_JS = """(function (id, dx) {
  var r = dd.featureRenderer, ratio = window.devicePixelRatio || 1;
  var p = dd.map.latLngToLayerPoint(dd.stops[id].layer.getLatLng()).subtract(r._bounds.min);
  var d = r._ctx.getImageData(Math.round((p.x + dx) * ratio), Math.round(p.y * ratio), 1, 1).data;
  return JSON.stringify("#" + [d[0], d[1], d[2]].map(function (v) {
    return (v < 16 ? "0" : "") + v.toString(16); }).join(""));
})(%r, %d)"""


def painted(qtbot, pane: MapPane, order_id: str, dx: int = 0) -> str:
    """The colour the map's canvas shows ``dx`` pixels right of a stop's centre, once the
    frame asked for is drawn."""
    js(qtbot, pane, "JSON.stringify(0)")
    qtbot.wait(100)  # the canvas draws on the next animation frame
    return js(qtbot, pane, PIXEL_JS % (order_id, dx))


def test_a_restyled_stop_is_painted_anew(qtbot, pane, day):
    """What a person sees, not only the marker's options: a stop turning delivered is
    filled green on the canvas, and one turning late-risk gets its red ring (and loses it
    again)."""
    r2 = day.plan.routes[1]
    assert painted(qtbot, pane, "O2-02") == STATUS_COLOURS[StopStatus.PLANNED]
    stops = (replace(r2.stops[1], status=StopStatus.DELIVERED), *r2.stops[2:])
    routes = (day.plan.routes[0], replace(r2, stops=(r2.stops[0], *stops)), day.plan.routes[2])
    pane.set_plan(replace(day.plan, routes=routes), day.orders, day.depot, fit=False)
    green = STATUS_COLOURS[StopStatus.DELIVERED]
    qtbot.waitUntil(lambda: painted(qtbot, pane, "O2-02") == green, timeout=3000)
    ring = 7  # inside the late ring (radius 8, 4 px wide), outside the plain marker (6 + 1)
    before = painted(qtbot, pane, "O2-05", ring)
    assert before != "#d62728"
    pane.update_etas({"O2-05": day.orders["O2-05"].latest + timedelta(minutes=15)})
    qtbot.waitUntil(lambda: painted(qtbot, pane, "O2-05", ring) == "#d62728", timeout=3000)
    pane.update_etas({"O2-05": day.orders["O2-05"].latest - timedelta(minutes=15)})
    qtbot.waitUntil(lambda: painted(qtbot, pane, "O2-05", ring) == before, timeout=3000)


def test_a_stop_moved_to_another_route_redraws_both_lines_in_place(qtbot, pane, day):
    """Moving O1-08 onto route 3 re-sends routes 1 and 3 and their changed stops only."""
    js(qtbot, pane, WATCH_JS)
    r1, r2, r3 = day.plan.routes
    moved = r1.stops[-1]
    routes = (replace(r1, stops=r1.stops[:-1]), r2, replace(r3, stops=(*r3.stops, moved)))
    pane.set_plan(replace(day.plan, routes=routes), day.orders, day.depot, fit=False)
    length = "JSON.stringify(dd.routes[%r].layer.getLatLngs().length)"
    qtbot.waitUntil(lambda: js(qtbot, pane, length % "R3") == 8 + 1 + 2)
    assert js(qtbot, pane, length % "R1") == 7 + 2
    seen = js(qtbot, pane, "JSON.stringify(ddSeen)")
    assert [(b["full"], sorted(b["routes"]), b["stops"], b["rows"]) for b in seen] == [
        (False, ["R1", "R3"], ["O1-08"], 0)  # moved: the whole marker, not a row
    ]
    colour = js(qtbot, pane, "JSON.stringify(dd.stops['O1-08'].layer.options.color)")
    assert colour == route_colour(2)
    assert all(kept(qtbot, pane, "routes", r) for r in ("R1", "R2", "R3"))


def test_a_new_plan_replaces_every_layer(qtbot, pane, day):
    """A plan with a new id is drawn afresh (full layers), with nothing left of the old one."""
    js(qtbot, pane, WATCH_JS)
    full = pane.full_layer_updates
    pane.set_plan(replace(day.plan, id="P-next"), day.orders, day.depot, fit=False)
    qtbot.waitUntil(lambda: not kept(qtbot, pane, "routes", "R1"), timeout=3000)
    assert pane.full_layer_updates == full + 1
    assert (stats(qtbot, pane)["routes"], stats(qtbot, pane)["stops"]) == (3, 24)


def test_mouse_click_on_a_vehicle_over_a_stop_selects_the_vehicle(qtbot, pane):
    """A vehicle drawn on the canvas over a stop takes the click; it is then ringed."""
    where = "JSON.stringify(dd.map.latLngToContainerPoint(dd.stops['O2-03'].layer.getLatLng()))"
    at_stop = js(qtbot, pane, "JSON.stringify(dd.stops['O2-03'].layer.getLatLng())")
    pane.update_vehicles({"V2": {"lat": at_stop["lat"], "lon": at_stop["lng"]}})
    qtbot.waitUntil(lambda: bool(vehicle(qtbot, pane, "V2")))
    point = js(qtbot, pane, where)
    target = pane.view.focusProxy() or pane.view
    at = QPoint(round(point["x"]), round(point["y"]))
    with qtbot.waitSignal(pane.sig_selection_changed, timeout=5000) as blocker:
        QTest.mouseMove(target, at)
        qtbot.wait(50)
        QTest.mousePress(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
        qtbot.wait(50)
        QTest.mouseRelease(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    assert blocker.args == ["vehicle", "V2"]
    qtbot.waitUntil(lambda: vehicle(qtbot, pane, "V2")["selected"], timeout=3000)


def test_a_stop_tooltip_asks_python_for_the_stop_as_it_is_now(qtbot, pane):
    """Opening a stop's tooltip shows the text ``tooltip_fn`` gives for it (customer,
    address, window, ETA), asked when it opens."""
    asked: list[str] = []

    def tip(order_id: str) -> str:
        asked.append(order_id)
        return f"Shop {order_id}\n12 Main St\nWindow 09:00–10:00 · ETA 09:41"

    pane.tooltip_fn = tip
    js(qtbot, pane, "dd.stopTooltip('O2-03')")
    qtbot.waitUntil(lambda: bool(js(qtbot, pane, "dd.stopTooltip('O2-03')")["full"]))
    shown = js(qtbot, pane, "dd.stopTooltip('O2-03')")
    assert asked and asked[0] == "O2-03"
    assert shown["html"] == "Shop O2-03<br>12 Main St<br>Window 09:00–10:00 · ETA 09:41"


def test_locked_stops_are_marked_and_vehicles_read_by_name(qtbot, pane, day):
    """A locked stop gets a dark dashed ring; the page knows each vehicle's one name."""
    route = day.plan.routes[1]
    stops = tuple(replace(s, locked=s.order_id == "O2-05") for s in route.stops)
    plan = replace(day.plan, routes=(day.plan.routes[0], replace(route, stops=stops),
                                     day.plan.routes[2]))  # fmt: skip
    pane.set_plan(plan, day.orders, day.depot, fit=False)
    pane.set_names({"V2": "V2 · Van 2 · Driver B"})
    qtbot.waitUntil(lambda: stats(qtbot, pane)["locked"] == ["O2-05"], timeout=5000)
    style = js(qtbot, pane, "dd.stopTooltip('O2-05')")["style"]
    assert style["dashArray"] and style["color"] == "#111"
    assert js(qtbot, pane, "JSON.stringify(dd.names)") == {"V2": "V2 · Van 2 · Driver B"}


def test_the_day_is_fitted_and_a_click_does_not_move_the_view(qtbot, pane, day):
    """The plan is fitted into view on start; clicking a stop selects it, the view stays."""
    qtbot.waitUntil(lambda: stats(qtbot, pane)["fitted"], timeout=5000)
    before = stats(qtbot, pane)["bounds"]
    with qtbot.waitSignal(pane.sig_selection_changed, timeout=3000):
        pane.run_js("dd.clickFeature('stop', 'O2-03')")
    qtbot.waitUntil(lambda: (stats(qtbot, pane)["selected"] or {}).get("id") == "O2-03")
    assert stats(qtbot, pane)["bounds"] == before


def test_a_refused_shift_drag_moves_nothing(qtbot, pane):
    """With drags not offered (a dispatcher), Shift-dragging a stop reports a refusal and
    neither previews nor drops."""
    pane.set_drag_allowed(False)
    qtbot.waitUntil(lambda: stats(qtbot, pane)["dragAllowed"] is False, timeout=3000)
    dropped: list = []
    pane.sig_stop_dropped_at.connect(lambda *a: dropped.append(a))
    a, b = stop_point(qtbot, pane, "O1-04"), stop_point(qtbot, pane, "O3-05")
    with qtbot.waitSignal(pane.sig_drag_refused, timeout=3000) as refused:
        target = shift_drag(qtbot, pane, a, b)
    QTest.mouseRelease(target, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, b)
    qtbot.wait(200)
    assert refused.args == ["O1-04"]
    assert dropped == [] and stats(qtbot, pane)["preview"] is None


def test_the_page_is_built_apart_once_and_reused(tmp_path):
    """The page is rendered by a child process (folium never enters the window's process)
    and a restart loads the page built before (same assets and options); another tile
    option builds a page of its own."""
    script = (
        "import sys; from pathlib import Path; from PySide6.QtWidgets import QApplication;"
        "app = QApplication([]); from widgets.map_page import build_map_page;"
        f"p = build_map_page(Path({str(tmp_path)!r}), tile_url=sys.argv[1]);"
        "print(p.name, 'folium' in sys.modules, 'pandas' in sys.modules)"
    )
    import subprocess
    import sys

    def build(tile_url: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", script, tile_url], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
        return out.stdout.split()

    page, imported, pandas = build("ddtile://a/{z}/{x}/{y}")
    assert (imported, pandas) == ("False", "False")
    assert "dd.init(" in (tmp_path / page).read_text(encoding="utf-8")
    assert build("ddtile://a/{z}/{x}/{y}") == [page, "False", "False"]
    other, imported, pandas = build("ddtile://b/{z}/{x}/{y}")
    assert other != page and (imported, pandas) == ("False", "False")
    assert "ddtile://b/" in (tmp_path / other).read_text(encoding="utf-8")


def test_a_page_the_child_cannot_render_is_rendered_here(tmp_path, monkeypatch, caplog):
    """No child process (a broken interpreter path, say): the page is rendered in this
    process, the same page, and the log says why."""
    from widgets import map_page

    apart = map_page.build_map_page(tmp_path, tile_url="ddtile:{z}/{x}/{y}.png")
    html = apart.read_text(encoding="utf-8")
    apart.unlink()
    (tmp_path / "page-inputs.json").unlink()
    monkeypatch.setattr(map_page.sys, "executable", str(tmp_path / "no-python"))
    with caplog.at_level("INFO", logger="widgets.map_page"):
        here = map_page.build_map_page(tmp_path, tile_url="ddtile:{z}/{x}/{y}.png")
    assert "not rendered apart" in caplog.text
    assert here.name == apart.name and here.read_text(encoding="utf-8") == html


def test_a_drop_preview_near_the_maps_edge_stays_inside_the_map(qtbot, pane):
    """The preview of a drop near the map's right edge opens to the left of the point,
    near its left edge to the right: its text is never cut off by the edge."""
    qtbot.waitUntil(lambda: stats(qtbot, pane)["applied"] >= 1)
    inside = (
        "JSON.stringify((() => { const t = document.querySelector('.dd-preview')"
        ".getBoundingClientRect(), m = dd.map.getContainer().getBoundingClientRect();"
        " return t.left >= m.left && t.right <= m.right; })())"
    )
    text = (
        "O20261206-0084 → V06: over capacity kg +18.5 · route +0 min (+9.7 km) · "
        "lateness 0 → 0 min · V03 +0 min (-0.4 km) <b>&</b>"
    )  # longer than half the map
    escaped = "JSON.stringify(document.querySelector('.dd-preview').textContent)"
    for x in ("8", "dd.map.getSize().x - 8"):
        js(qtbot, pane, f"(() => {{ const p = dd.map.containerPointToLatLng([{x}, 100]);"
                        f" dd.showPreview({{lat: p.lat, lon: p.lng, text: {text!r}}});"
                        " return 'null'; })()")  # fmt: skip
        assert js(qtbot, pane, inside) is True, x
        assert js(qtbot, pane, escaped) == text  # shown as text, never as markup
    js(qtbot, pane, "(() => { dd.showPreview(null); return 'null'; })()")
    gone = "JSON.stringify(!document.querySelector('.dd-preview'))"
    qtbot.waitUntil(lambda: js(qtbot, pane, gone) is True, timeout=3000)  # after its fade


def test_a_fleet_s_street_paths_are_written_one_route_at_a_time(qtbot, open_pane):
    """A big fleet's streets reach the page as the same JSON, without every route's points
    turned into Python pairs at once: that burst (some two million objects on the
    2,000-van day) left Python's allocator holding its room all day."""
    import tracemalloc

    import numpy as np

    from widgets.map_data import street_path

    fleet = sample_day(routes=150, stops_per_route=2)
    pane = open_pane()
    pane.set_plan(fleet.plan, fleet.orders, fleet.depot)
    qtbot.waitUntil(lambda: stats(qtbot, pane)["stops"] == 300, timeout=10000)
    t = np.linspace(0.0, 1.0, 2000)
    streets = {
        r.id: np.column_stack([40.76 + 0.01 * t * (i % 7), -111.89 + 0.01 * t * (i % 5 + 1)])
        for i, r in enumerate(fleet.plan.routes)
    }
    tracemalloc.start()
    at_once = [street_path(s) for s in streets.values()]  # what it was: all pairs together
    pairs_size = tracemalloc.get_traced_memory()[0]
    expected = [json.dumps(p, separators=(",", ":")) for p in at_once]
    del at_once
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    pane.set_route_geometry(streets)
    member = pane._compute_layers()[0]
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    for route, text in zip(fleet.plan.routes, expected, strict=True):
        assert f'"path":{text}' in pane._route_json[route.id][1]
    assert member.startswith('"layers"') or member.startswith('"layerChanges"')
    assert peak < 0.75 * pairs_size, (peak, pairs_size)


def test_a_live_day_lets_go_of_the_routes_its_stop_results_replaced(qtbot, pane, day):
    """Every stop result makes its route a new object; a live map keeps the markers of the
    routes shown, not of every state of every route it ever drew (at 2,000 vans that grew
    the window by megabytes a minute). A replay window, which shows the same states again
    as it jumps, keeps them."""
    from tests.widgets.test_timeline_pane import routes_alive, stop_results

    for keep in (False, True):
        pane.keep_earlier_states(keep)
        base = routes_alive()
        for plan in stop_results(day.plan, 1500, seed=7 + keep):
            pane.set_plan(plan, day.orders, day.depot, fit=False)
            pane._compute_layers()  # what each push to the page works out
        held = routes_alive() - base
        if keep:
            assert held > 1000, held  # the replay's memo (STOP_RECORDS_KEPT)
        else:
            assert held < 600, held  # the routes shown and a bounded slack
    # The page shows the last plan's stop states.
    last = {s.order_id: s.status.value for r in plan.routes for s in r.stops}
    qtbot.waitUntil(
        lambda: all(
            js(qtbot, pane, f"JSON.stringify(dd.stops['{o}'].data.status)") == v
            for o, v in list(last.items())[:6]
        ),
        timeout=5000,
    )
