"""The live map: depot, routes, stops and vehicles on a Leaflet page built once by folium.

Python talks to the page with one batched ``dd.apply(<json>)`` per update, at most
``max_rate_hz`` times a second (updates in between are merged, newest wins); the page is
never rebuilt. Calls wait until the page says it is ready, and a reloaded page gets the
whole picture again. The page talks back over QWebChannel (clicks, stop drops) and asks
for a stop's tooltip when one opens (``tooltip_fn``: customer, address, window, ETA now).
Vehicles and routes read by their one name (``set_names``). The day is fitted into view on
start; after that only a focus moves the view (a click selects, it never flies).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QTimer, QUrl, Signal, Slot
from PySide6.QtWebChannel import QWebChannel
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
from PySide6.QtWebEngineWidgets import QWebEngineView
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.settings import user_data_dir
from app.tiles import TileService
from engine.model import Depot, Order, Plan, Route
from widgets.map_data import (
    STALE_AFTER_S,
    StreetPath,
    fix_epoch,
    json_default,
    plan_layers,
    restated_stops,
    route_colour,
    route_stops,
    vehicle_record,
)
from widgets.map_page import build_map_page
from widgets.map_schemes import (
    SCHEME,
    TILE_URL_TEMPLATE,
    TileSchemeHandler,
    scheme_registered,
)

log = logging.getLogger(__name__)

#: While batches of vehicle positions come at least this often (seconds), other changes
#: wait for the next batch to go to the page with it (see MapPane._schedule).
STREAM_GAP_S = 1.0
#: Route objects of earlier plans whose stop markers a replay window keeps (a 2,000-van
#: replay shows a handful of states of each route again and again); beyond it the memo
#: keeps the routes shown only. A live window keeps ``ROUTES_SLACK`` at most: a route
#: replaced by a stop result is never shown again, and at 2,000 vans the memo held some
#: 3 MB more a minute until it reached the replay's bound.
STOP_RECORDS_KEPT = 40_000
#: Entries beyond the routes shown before a live window's memo is cut back to them.
ROUTES_SLACK = 256


class MapBridge(QObject):
    """The object the page sees as ``bridge``: its slots are the page's calls into Python."""

    sig_ready = Signal()
    sig_clicked = Signal(str, str)
    sig_dropped = Signal(str, float, float)
    sig_drag_moved = Signal(str, float, float)
    sig_drag_refused = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tooltip_provider: Callable[[str], str] | None = None

    @Slot()
    def pageReady(self) -> None:  # noqa: N802 (called from JavaScript)
        self.sig_ready.emit()

    @Slot(str, str)
    def featureClicked(self, kind: str, ident: str) -> None:  # noqa: N802
        self.sig_clicked.emit(kind, ident)

    @Slot(str, float, float)
    def stopDragMoved(self, order_id: str, lat: float, lon: float) -> None:  # noqa: N802
        self.sig_drag_moved.emit(order_id, lat, lon)

    @Slot(str, float, float)
    def stopDropped(self, order_id: str, lat: float, lon: float) -> None:  # noqa: N802
        self.sig_dropped.emit(order_id, lat, lon)

    @Slot(str)
    def stopDragRefused(self, order_id: str) -> None:  # noqa: N802
        self.sig_drag_refused.emit(order_id)

    @Slot(str, result=str)
    def stopTooltip(self, order_id: str) -> str:  # noqa: N802
        provider = self.tooltip_provider
        if provider is None:
            return ""
        try:
            return provider(order_id)
        except Exception:  # a tooltip must never break the page
            log.exception("map: tooltip of %s failed", order_id)
            return ""


class MapPane(QWidget):
    """Map of the depot's day. Feed it with ``set_plan``, ``update_vehicles``, ``set_now``."""

    sig_selection_changed = Signal(str, str)  # kind ("stop" | "vehicle" | "route"), id
    sig_stop_drag_started = Signal(list)  # order ids (as the timeline): once per drag
    sig_stop_dropped = Signal(list, str)  # order ids, target route id (as the timeline)
    sig_stop_dropped_at = Signal(str, float, float)  # order id, lat, lon: any drop
    sig_drag_refused = Signal(str)  # order id: a drag the user may not do was tried
    sig_page_ready = Signal()

    def __init__(
        self,
        tile_service: TileService | None = None,
        *,
        cache_dir: Path | None = None,
        max_rate_hz: float = 4.0,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._alive = True
        self._ready = False
        self._min_interval = 1.0 / max_rate_hz
        self._last_flush = 0.0
        self._last_vehicles = -math.inf  # when the last batch of vehicle positions came
        self._cache_dir = cache_dir or user_data_dir() / "map"
        # State mirrored into the page; a reloaded page gets all of it again.
        self._plan: Plan | None = None
        self._orders: Mapping[str, Order] = {}
        #: id(route) -> (route, orders, (index, late ones), its stop markers): made from these
        self._stop_records: dict[int, tuple[Route, Mapping, tuple, list[dict[str, Any]]]] = {}
        # The same, by route object, for the objects seen lately: a replay shows a handful of
        # states of each route again and again (``keep_earlier_states``).
        self._stop_records_seen: dict[int, tuple[Route, Mapping, tuple, list]] = {}
        self._earlier_states_kept = ROUTES_SLACK
        self._depot: Depot | None = None
        self._late: frozenset[str] = frozenset()
        self._late_by_eta: frozenset[str] = frozenset()
        self._late_flagged: frozenset[str] = frozenset()
        self._geometry: dict[str, Any] = {}
        self._route_stops: dict[str, tuple[str, ...]] = {}
        self._vehicle_colour: dict[str, str] = {}
        self._positions: dict[str, Any] = {}
        self._fix_ts: dict[str, float | None] = {}  # vehicle id -> its fix's epoch seconds
        self._vehicles: dict[str, dict[str, Any]] = {}
        self._now: datetime | None = None
        self._selection: tuple[str, str] | None = None
        self._dragging: str | None = None  # the stop being dragged in the page
        # What the next flush carries.
        self._dirty_layers = False
        # The layers' JSON, worked out soon after they change rather than when the next
        # batch of vehicles is sent (which it would delay): see _prepare_layers.
        self._prepared: tuple | None = None
        self._dirty_vehicles: set[str] = set()
        self._removed: set[str] = set()
        self._dirty_select = False
        self._names: dict[str, str] = {}
        self._dirty_names = False
        self._drag_allowed = True
        self._dirty_drag = False
        self._focus: tuple[str, str] | None = None
        self._fit = False
        # Each route polyline's JSON, kept while the route and its streets stay the same:
        # a stop's status change costs the stops only (2,000 street paths are megabytes).
        self._route_json: dict[str, tuple] = {}  # route id -> (key, JSON, referents)
        self._routes_depot: Depot | None = None
        # What the page shows now, so an update sends only what changed (see _layers_json).
        self._page_plan: tuple | None = None  # (plan id, depot) of the last full layers
        self._page_routes: dict[str, tuple] = {}  # route id -> key of the JSON it has
        self._page_stops: dict[str, dict[str, Any]] = {}  # order id -> stop record it has
        self.full_layer_updates = 0
        self._when_painted: list[Callable[[], None]] = []  # see call_when_painted
        self.last_flush_ms = 0.0
        self.flushes = 0

        self._bridge = MapBridge(self)
        self._bridge.sig_ready.connect(self._on_page_ready)
        self._bridge.sig_clicked.connect(self._on_page_clicked)
        self._bridge.sig_dropped.connect(self._on_stop_dropped)
        self._bridge.sig_drag_moved.connect(self._on_stop_drag_moved)
        self._bridge.sig_drag_refused.connect(self.sig_drag_refused)
        # preview_fn(order_ids, target_route_id) -> text shown beside a dragged stop.
        self.preview_fn: Callable[[list[str], str], str] | None = None
        self.tile_handler = TileSchemeHandler(tile_service, self)
        if not scheme_registered():
            log.warning(
                "map: the ddtile: scheme was not registered before the QApplication was "
                "created (call widgets.map_schemes.register_schemes() first in main); "
                "the map shows no tiles"
            )

        # The profile must outlive its page: created unparented, reparented after the view
        # so Qt deletes the view (and the page in it) first.
        profile = QWebEngineProfile()
        profile.installUrlSchemeHandler(SCHEME, self.tile_handler)
        self.view = QWebEngineView(self)
        self.page = QWebEnginePage(profile, self.view)
        profile.setParent(self)
        self._profile: QWebEngineProfile | None = profile
        self._channel = QWebChannel(self.page)
        self._channel.registerObject("bridge", self._bridge)
        self.page.setWebChannel(self._channel)
        self.view.setPage(self.page)
        self.page.loadStarted.connect(self._on_load_started)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._flush)
        self._prepare_timer = QTimer(self)
        self._prepare_timer.setSingleShot(True)
        self._prepare_timer.timeout.connect(self._prepare_layers)
        page_path = build_map_page(self._cache_dir, tile_url=TILE_URL_TEMPLATE)
        self.view.load(QUrl.fromLocalFile(str(page_path)))

    # -- inputs ----------------------------------------------------------------------------
    @property
    def is_ready(self) -> bool:
        return self._ready

    def set_plan(
        self,
        plan: Plan | None,
        orders: Mapping[str, Order] | Iterable[Order],
        depot: Depot | None = None,
        *,
        fit: bool = True,
    ) -> None:
        """Show a plan's depot, routes and stops (replaces what was shown)."""
        self._plan = plan
        self._orders = orders if isinstance(orders, Mapping) else {o.id: o for o in orders}
        self._depot = depot
        live = {r.id: r.order_ids for r in plan.routes} if plan else {}
        self._geometry = {  # a route's street path is only valid for the same stops
            rid: path
            for rid, path in self._geometry.items()
            if self._route_stops.get(rid) == live.get(rid)
        }
        self._route_stops = live
        colours = {r.vehicle_id: route_colour(i) for i, r in enumerate(plan.routes if plan else ())}
        self._layers_changed()
        self._fit = self._fit or fit
        if colours != self._vehicle_colour:
            self._vehicle_colour = colours
            for vid in self._positions:  # vehicle colours follow their route
                self._refresh_vehicle(vid)
        self._schedule()

    @property
    def tooltip_fn(self) -> Callable[[str], str] | None:
        """order id -> a stop's tooltip text (lines), asked when the tooltip opens."""
        return self._bridge.tooltip_provider

    @tooltip_fn.setter
    def tooltip_fn(self, fn: Callable[[str], str] | None) -> None:
        self._bridge.tooltip_provider = fn

    def set_names(self, names: Mapping[str, str]) -> None:
        """Vehicle id -> its one name, for vehicle and route tooltips."""
        if dict(names) != self._names:
            self._names = dict(names)
            self._dirty_names = True
            self._schedule()

    def set_drag_allowed(self, allowed: bool) -> None:
        """Offer Shift-drag of stops, or not (a refused drag emits ``sig_drag_refused``)."""
        if allowed != self._drag_allowed:
            self._drag_allowed = allowed
            self._dirty_drag = True
            self._schedule()

    def keep_earlier_states(self, keep: bool = True) -> None:
        """Keep the markers of route objects shown before (a replay window, whose jumps show
        the same states again), up to ``STOP_RECORDS_KEPT``; a live window keeps those of
        the routes shown."""
        self._earlier_states_kept = STOP_RECORDS_KEPT if keep else ROUTES_SLACK

    def set_route_geometry(self, paths: Mapping[str, Any]) -> None:
        """Draw these routes along their streets: ``{route_id: N x 2 lat/lon}`` (e.g. from
        ``StreetNetworkTravelModel.route_polyline``); others keep straight legs."""
        self._geometry.update(paths)
        self._layers_changed()
        self._schedule()

    def set_late_risk(self, order_ids: Iterable[str]) -> None:
        """Stops flagged late-risk by the rules, on top of what the ETAs say (replaces)."""
        self._late_flagged = frozenset(order_ids)
        self._update_late()

    def update_etas(self, etas: Mapping[str, datetime], late: frozenset[str] | None = None) -> None:
        """The current ETA of each pending stop (replaces the previous set); an ETA past
        the order's last window end marks the stop late-risk (``late``: those orders,
        when the caller has worked them out already)."""
        if late is None:
            late = frozenset(
                oid
                for oid, eta in etas.items()
                if eta is not None and oid in self._orders and eta > self._orders[oid].latest
            )
        self._late_by_eta = late
        self._update_late()

    def _update_late(self) -> None:
        late = self._late_by_eta | self._late_flagged
        if late != self._late:
            self._late = late
            self._layers_changed()
            self._schedule()

    def update_vehicles(self, positions: Mapping[str, Any]) -> None:
        """Move vehicles: ``{vehicle_id: fix}`` with ``lat``, ``lon``, ``heading_deg``, ``ts``."""
        for vid, position in positions.items():
            self._positions[vid] = position
            self._refresh_vehicle(vid)
        self._last_vehicles = time.monotonic()
        self._schedule(at_once=True)

    def remove_vehicles(self, vehicle_ids: Iterable[str]) -> None:
        for vid in vehicle_ids:
            if self._positions.pop(vid, None) is not None:
                self._fix_ts.pop(vid, None)
                self._vehicles.pop(vid, None)
                self._dirty_vehicles.discard(vid)
                self._removed.add(vid)
        self._schedule()

    def set_now(self, now: datetime) -> None:
        """The clock of the day: positions older than two minutes are shown as stale."""
        self._now = now
        # Only a stale marker (or one turning stale) depends on the clock: the others are
        # not recomputed (2,000 records on every tick of the clock stalled the window).
        stale_before = now.timestamp() - STALE_AFTER_S
        for vid, ts in self._fix_ts.items():
            if (ts is not None and ts < stale_before) or self._vehicles[vid]["stale"]:
                self._refresh_vehicle(vid)
        self._schedule()

    def select(self, ident: str | None, kind: str | None = None) -> None:
        """Highlight one stop (order id), vehicle or route (``None`` clears), without
        emitting; ``kind`` ("stop", "vehicle", "route") is inferred when not given."""
        kind = kind or (self._kind_of(ident) if ident else None)
        self._selection = (kind, ident) if ident and kind else None
        self._dirty_select = True
        self._schedule(urgent=True)

    def focus_on(self, ident: str, kind: str | None = None) -> None:
        """Pan and zoom to an order's stop, a vehicle or a route, and highlight it."""
        kind = kind or self._kind_of(ident)
        if kind is None:
            log.warning("map: nothing called %r to focus on", ident)
            return
        self.select(ident, kind)
        self._focus = (kind, ident)
        self._schedule(urgent=True)

    def route_near(self, lat: float, lon: float, max_m: float = 250.0) -> str | None:
        """The route whose drawn line passes closest to a point, within ``max_m`` metres."""
        layers = plan_layers(
            self._plan, self._orders, self._depot, geometry=self._geometry, lazy_paths=True
        )
        best, best_m = None, max_m
        for route in layers["routes"]:
            path = route["path"]
            if isinstance(path, StreetPath):  # the streets' pairs, one route at a time
                path = path.pairs()
            distance = _distance_to_path_m(lat, lon, path)
            if distance < best_m:
                best, best_m = route["id"], distance
        return best

    def call_when_painted(self, callback: Callable[[], None], timeout_ms: int = 8000) -> None:
        """Call ``callback`` once the page has drawn a plan's routes and stops (or after
        ``timeout_ms`` at the latest: a page that never loads must not hold it back)."""
        self._when_painted.append(callback)
        QTimer.singleShot(timeout_ms, self, self._painted)

    def _painted(self) -> None:
        waiting, self._when_painted = self._when_painted, []
        for callback in waiting:
            callback()

    def run_js(self, script: str, callback: Callable[[Any], None] | None = None) -> None:
        """Evaluate ``script`` in the page; the callback is dropped after teardown."""

        def guarded(result: Any) -> None:
            if shiboken6.isValid(self) and self._alive and callback is not None:
                callback(result)

        if self._alive:
            self.page.runJavaScript(script, 0, guarded)

    # -- internals -------------------------------------------------------------------------
    def _kind_of(self, ident: str) -> str | None:
        if self._plan is not None:
            if self._plan.route_of(ident) is not None:
                return "stop"
            if any(r.id == ident for r in self._plan.routes):
                return "route"
        if ident in self._positions or ident in self._vehicle_colour:
            return "vehicle"
        return None

    def _refresh_vehicle(self, vid: str) -> None:
        position = self._positions[vid]
        try:
            record = vehicle_record(
                vid, position, self._now, self._vehicle_colour.get(vid, "#333333")
            )
            ts = fix_epoch(position)
        except (TypeError, ValueError, KeyError) as exc:
            log.warning("map: vehicle %s has no usable position (%s)", vid, exc)
            return
        self._fix_ts[vid] = ts
        if self._vehicles.get(vid) != record:
            self._vehicles[vid] = record
            self._dirty_vehicles.add(vid)
            self._removed.discard(vid)

    def _schedule(self, *, urgent: bool = False, at_once: bool = False) -> None:
        """Send what changed as soon as the pace allows (one batch per interval).

        While vehicles stream in, changes without vehicles (stop states, late risk, routes)
        wait for the next batch of them and go with it, unless ``urgent`` (what the user
        just did: a selection, a focus); a batch of their own would push the following
        batch of vehicles back by up to an interval. ``at_once``: a batch of vehicles goes
        now, not after the events already queued (what the same delivery changed is in).
        """
        if not self._ready or not self._alive:
            return
        now = time.monotonic()
        wait = self._min_interval - (now - self._last_flush)
        if at_once and wait <= 0:
            self._timer.stop()
            self._flush()
            return
        # Fleets report at least once a second; no batch for longer: nothing to wait for.
        due = self._last_vehicles + STREAM_GAP_S + self._min_interval
        if now < due and not urgent and not self._dirty_vehicles and not self._removed:
            wait = max(wait, due - now)
        ms = max(0, math.ceil(wait * 1000))
        if not self._timer.isActive() or self._timer.remainingTime() > ms:
            self._timer.start(ms)

    def _flush(self) -> None:
        if not self._ready or not self._alive:
            return
        started = time.perf_counter()
        batch: dict[str, Any] = {}
        layers = self._layers_json() if self._dirty_layers else ""  # '"layers":{...}' or ""
        if self._removed:
            batch["removeVehicles"] = sorted(self._removed)
        if self._dirty_vehicles:
            # Rows, not objects: a third of the JSON for 2,000 vehicles.
            batch["vehicleRows"] = [
                [v["id"], v["lat"], v["lon"], v["heading"], v["stale"], v["age"], v["colour"]]
                for v in map(self._vehicles.__getitem__, self._dirty_vehicles)
            ]
        if self._dirty_select or self._dirty_layers:
            kind, ident = self._selection or ("", "")
            batch["select"] = {"kind": kind, "id": ident} if ident else None
        if self._dirty_names:
            batch["names"] = self._names
        if self._dirty_drag:
            batch["dragAllowed"] = self._drag_allowed
        self._dirty_names = self._dirty_drag = False
        if self._fit:
            batch["fit"] = True
        if self._focus:
            batch["focus"] = {"kind": self._focus[0], "id": self._focus[1]}
        self._dirty_layers = self._dirty_select = self._fit = False
        self._dirty_vehicles.clear()
        self._removed.clear()
        self._focus = None
        if not batch and not layers:
            return
        text = json.dumps(batch, separators=(",", ":"))
        if layers:  # spliced in: the routes part is cached JSON
            text = "{" + layers + ("," + text[1:] if batch else "}")
        self.page.runJavaScript(f"dd.apply({text})", 0)
        if layers and self._plan is not None and self._when_painted:
            # The page answers once it has run the batch; its frame follows at once.
            self.run_js("dd.applied", lambda _n: QTimer.singleShot(50, self._painted))
        self._last_flush = time.monotonic()
        self.last_flush_ms = (time.perf_counter() - started) * 1000.0
        self.flushes += 1

    def _layers_changed(self) -> None:
        self._dirty_layers = True
        self._prepared = None
        if self._ready and self._alive:
            self._prepare_timer.start(0)  # once the changes of this event are all in

    def _prepare_layers(self) -> None:
        if self._dirty_layers and self._prepared is None and self._ready and self._alive:
            self._prepared = self._compute_layers()

    def _layers_json(self) -> str:
        """The layers as a JSON member: everything (``"layers"``) for a new plan or a fresh
        page, else only the routes and stops that changed or went (``"layerChanges"``);
        "" when the page is up to date. Taken as sent: the page's copy is updated."""
        prepared, self._prepared = self._prepared, None
        self._prepare_timer.stop()
        member, plan_key, page_routes, page_stops = prepared or self._compute_layers()
        if member.startswith('"layers"'):
            self.full_layer_updates += 1
        self._page_plan, self._page_routes, self._page_stops = plan_key, page_routes, page_stops
        return member

    def _compute_layers(self) -> tuple[str, tuple, dict[str, tuple], dict[str, dict]]:
        """(the layers' JSON member, and what the page will show once it has it). A route's
        polyline is re-serialised only when it changed."""
        routes = self._plan.routes if self._plan else ()
        keys = {
            r.id: (i, r.vehicle_id, r.order_ids, id(self._geometry.get(r.id)), id(self._orders))
            for i, r in enumerate(routes)
        }
        if self._routes_depot != self._depot:
            self._route_json.clear()
            self._routes_depot = self._depot
        keep = {rid for rid, key in keys.items() if self._route_json.get(rid, (None,))[0] == key}
        stop_records = self._stop_records
        self._stop_records = {}  # the routes shown now only
        by_object = self._stop_records_seen  # by route object, the entry holds it (no id reuse)
        if len(by_object) > len(routes) + self._earlier_states_kept:  # the routes shown only
            self._stop_records_seen = by_object = {
                id(r): got for r in routes if (got := by_object.get(id(r))) and got[0] is r
            }
        late, orders = self._late, self._orders

        def stops_of(index: int, route: Route) -> list[dict[str, Any]]:
            # A route's markers are made again only when it, its place or its late risk
            # changed: stop results and ETAs change a few routes a second, not all 2,000.
            # Where only its stops' states changed (a replay jump moves most routes), only
            # the markers of the stops whose state changed are made again.
            key = (index, tuple(o for o in route.order_ids if o in late))
            seen = by_object.get(id(route))  # this very route shown before (a replay)
            if seen is not None and seen[0] is route and seen[1] is orders and seen[2] == key:
                self._stop_records[route.id] = seen
                return seen[3]
            known = stop_records.get(route.id)
            if known is None or known[1] is not orders or known[2][0] != index:
                known = (route, orders, key, route_stops(route, index, orders, late))
            elif known[0] is not route or known[2] != key:
                if known[0].order_ids == route.order_ids:
                    known = (route, orders, key, restated_stops(known[3], known[0], route, late))
                else:
                    known = (route, orders, key, route_stops(route, index, orders, late))
            self._stop_records[route.id] = by_object[id(route)] = known
            return known[3]

        layers = plan_layers(
            self._plan, orders, self._depot, late, self._geometry, keep_routes=keep,
            stops_of=stops_of, lazy_paths=True,
        )  # fmt: skip
        for route in layers["routes"]:
            # One route's street points made into pairs at a time (see StreetPath).
            text = json.dumps(route, separators=(",", ":"), default=json_default)
            # The entry holds the objects its key names by id, so no id is reused meanwhile.
            refs = (self._geometry.get(route["id"]), self._orders)
            self._route_json[route["id"]] = (keys[route["id"]], text, refs)
        for rid in set(self._route_json) - set(keys):
            del self._route_json[rid]
        stops = {s["id"]: s for s in layers["stops"]}
        plan_key = (self._plan.id if self._plan else None, self._depot)
        if plan_key != self._page_plan:
            member = self._full_layers_json(layers["depot"], layers["stops"], routes)
        else:
            member = self._changed_layers_json(stops, keys)
        page_routes = {rid: self._route_json[rid][0] for rid in keys}
        return member, plan_key, page_routes, stops

    def _full_layers_json(self, depot: Any, stops: list, routes: Iterable[Any]) -> str:
        rest = {"depot": depot, "stops": stops}
        paths = ",".join(self._route_json[r.id][1] for r in routes)
        return (
            '"layers":'
            + json.dumps(rest, separators=(",", ":"))[:-1]
            + ',"routes":['
            + paths
            + "]}"
        )

    def _changed_layers_json(self, stops: dict[str, dict], keys: dict[str, tuple]) -> str:
        changes: dict[str, Any] = {}
        if gone := sorted(set(self._page_routes) - set(keys)):
            changes["removeRoutes"] = gone
        if gone := sorted(set(self._page_stops) - set(stops)):
            changes["removeStops"] = gone
        page = self._page_stops
        changed, rows = [], []
        for oid, s in stops.items():
            p = page.get(oid)
            if p is s or p == s:
                continue
            if (
                p is not None
                and p["route"] == s["route"]
                and p["seq"] == s["seq"]
                and p["lat"] == s["lat"]
                and p["lon"] == s["lon"]
                and p["colour"] == s["colour"]
                and p["label"] == s["label"]
            ):
                # In the same place with the same name, only its state changed (a replay
                # jump restyles thousands): a row of status, fill, late and locked.
                rows.append([oid, s["status"], s["fill"], s["late"], s["locked"]])
            else:
                changed.append(s)
        if changed:
            changes["stops"] = changed
        if rows:
            changes["stopStates"] = rows
        moved = [rid for rid, key in keys.items() if self._page_routes.get(rid) != key]
        if not changes and not moved:
            return ""
        text = json.dumps(changes, separators=(",", ":"))
        paths = ",".join(self._route_json[rid][1] for rid in moved)
        return (
            '"layerChanges":' + text[:-1] + ("," if changes else "") + '"routes":[' + paths + "]}"
        )

    def _on_load_started(self) -> None:
        self._ready = False
        self._dragging = None
        self._prepared = None
        self._page_plan = None  # a new page shows nothing yet
        self._page_routes, self._page_stops = {}, {}

    def _on_page_ready(self) -> None:
        if not self._alive:
            return
        self._ready = True
        # A fresh page knows nothing: send everything.
        self._dirty_layers = self._plan is not None or self._depot is not None
        self._prepared = None
        self._fit = self._fit or self._dirty_layers
        self._dirty_vehicles = set(self._vehicles)
        self._dirty_select = self._selection is not None
        self._dirty_names = bool(self._names)
        self._dirty_drag = not self._drag_allowed
        self._last_flush = 0.0
        self._schedule()
        self.sig_page_ready.emit()

    def _on_page_clicked(self, kind: str, ident: str) -> None:
        if not self._alive:
            return
        self._selection = (kind, ident)
        self._dirty_select = True
        self._schedule(urgent=True)
        self.sig_selection_changed.emit(kind, ident)

    def _drop_target(self, order_id: str, lat: float, lon: float) -> str | None:
        route = self.route_near(lat, lon)
        current = self._plan.route_of(order_id) if self._plan else None
        return route if route and (current is None or current.id != route) else None

    def _on_stop_drag_moved(self, order_id: str, lat: float, lon: float) -> None:
        if not self._alive:
            return
        if self._dragging != order_id:  # the page reports a drag once it has moved
            self._dragging = order_id
            self.sig_stop_drag_started.emit([order_id])
        target = self._drop_target(order_id, lat, lon)
        text = ""
        if target is not None:
            text = f"{order_id} → {target}"
            if self.preview_fn is not None:
                try:
                    text = self.preview_fn([order_id], target)
                except Exception:  # a broken preview must not break the drag
                    log.exception("map: drag preview failed")
        preview = {"text": text, "lat": lat, "lon": lon}
        self.run_js(f"dd.showPreview({json.dumps(preview)})")

    def _on_stop_dropped(self, order_id: str, lat: float, lon: float) -> None:
        if not self._alive:
            return
        self._dragging = None
        self.sig_stop_dropped_at.emit(order_id, lat, lon)
        target = self._drop_target(order_id, lat, lon)
        if target is not None:
            self.sig_stop_dropped.emit([order_id], target)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self._alive = False
        self._timer.stop()
        self._prepare_timer.stop()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop drawing and delete the web view (and the page in it), then the page's
        profile, now (idempotent). Left to the end of the process, Qt deletes what remains
        in no set order, and a page outliving its profile crashes the exit."""
        self._alive = False
        self._timer.stop()
        self._prepare_timer.stop()
        view, profile = self.view, self._profile
        self._profile = None
        if view is not None and shiboken6.isValid(view):
            shiboken6.delete(view)
        if profile is not None and shiboken6.isValid(profile):
            shiboken6.delete(profile)


def _distance_to_path_m(lat: float, lon: float, path: list[list[float]]) -> float:
    """Shortest distance from a point to a lat/lon polyline (local flat approximation)."""
    if not path:
        return math.inf
    kx = 111_320.0 * math.cos(math.radians(lat))
    ky = 110_540.0
    best = math.inf
    points = [((p[1] - lon) * kx, (p[0] - lat) * ky) for p in path]
    for (ax, ay), (bx, by) in zip(points, points[1:] or points, strict=False):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
        best = min(best, math.hypot(ax + t * dx, ay + t * dy))
    return best
