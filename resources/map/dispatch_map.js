/* Dispatch Desk map glue: draws the layers Python sends and reports clicks and drops.
 *
 * Python calls dd.apply(batch) with one JSON object per update:
 *   {layers: {depot, routes, stops},
 *    layerChanges: {routes, removeRoutes, stops, stopStates, removeStops},
 *    vehicleRows: [...], removeVehicles: [...], select: {kind, id}, focus: {kind, id}, fit: true,
 *    names: {vehicle id: its one name}, dragAllowed: bool}
 * ``layers`` replaces everything (a new plan, a fresh page); ``layerChanges`` carries only
 * the routes and stops that changed or went, updated in place (``stopStates``: rows of
 * [id, status, fill, late, locked] for stops whose state alone changed). Routes and stops are drawn
 * on one canvas (routes under stops): a replay jump restyles thousands of stops, which as
 * SVG elements cost the page a second of restyling and as canvas shapes one redraw of the
 * view; sharing it keeps a route under a stop clickable (a canvas takes every click on
 * it). Vehicles are drawn on their own canvas, so moving a fleet is a loop of setLatLng
 * and one redraw.
 * The page tells Python it is ready (bridge.pageReady) once the web channel is up. A stop's
 * tooltip asks Python for its text when it opens (bridge.stopTooltip: customer, address,
 * window and the ETA as of now). A fitted view follows the window's size until the user
 * pans or zooms; nothing else moves the view except a focus.
 */
(function () {
  "use strict";
  var dd = (window.dd = {
    map: null, bridge: null, depot: null, routes: {}, stops: {}, vehicles: {},
    selected: null, tilesLoaded: 0, tilesFailed: 0, applied: 0, names: {}, dragAllowed: true,
    fitted: false, userMoved: false, tips: {},
  });
  var noClickUntil = 0; // a stop drop's mouseup must not also click what lies under it

  function send(name) {
    var args = Array.prototype.slice.call(arguments, 1);
    if (dd.bridge && dd.bridge[name]) dd.bridge[name].apply(dd.bridge, args);
  }

  /* A vehicle: a circle in its route colour with a white heading arrow, drawn on canvas;
   * faded with an orange badge when stale, ringed when selected. Each look is drawn once
   * into a sprite (body: ring and circle; arrow: per whole degree of heading; badge) and
   * then copied with drawImage, which costs far less than filling paths per vehicle. */
  var sprites = {};
  var PIXELS = L.Browser.retina ? 2 : 1; // the scale Leaflet's canvas renderer draws at

  function sprite(key, half, paint) {
    var c = sprites[key];
    if (c) return c;
    c = sprites[key] = document.createElement("canvas");
    c.width = c.height = 2 * half * PIXELS;
    var ctx = c.getContext("2d");
    ctx.scale(PIXELS, PIXELS);
    ctx.translate(half, half);
    paint(ctx);
    c.half = half;
    return c;
  }

  function bodySprite(o, rad) {
    var key = "b|" + rad + "|" + o.fillColor + "|" + o.color + "|" + o.weight + "|" +
      o.fillOpacity + "|" + o.opacity + "|" + !!o.selected;
    return sprite(key, rad + 8, function (ctx) {
      if (o.selected) {
        ctx.beginPath(); ctx.arc(0, 0, rad + 4, 0, Math.PI * 2);
        ctx.globalAlpha = 1; ctx.fillStyle = "#ffd400"; ctx.fill();
      }
      ctx.beginPath(); ctx.arc(0, 0, rad, 0, Math.PI * 2, false); // as L.Canvas._updateCircle
      ctx.globalAlpha = o.fillOpacity; ctx.fillStyle = o.fillColor || o.color; ctx.fill("evenodd");
      ctx.globalAlpha = o.opacity; ctx.lineWidth = o.weight; ctx.strokeStyle = o.color;
      ctx.lineCap = o.lineCap; ctx.lineJoin = o.lineJoin; ctx.stroke();
    });
  }

  function arrowSprite(heading, stale, rad) {
    var key = "a|" + rad + "|" + heading + "|" + !!stale;
    return sprite(key, rad + 1, function (ctx) {
      ctx.globalAlpha = stale ? 0.45 : 1;
      ctx.fillStyle = "#fff";
      ctx.beginPath();
      if (heading == null) {
        ctx.arc(0, 0, rad * 0.3, 0, Math.PI * 2);
      } else {
        ctx.rotate((heading * Math.PI) / 180);
        ctx.moveTo(0, -rad * 0.7); ctx.lineTo(rad * 0.5, rad * 0.55);
        ctx.lineTo(0, rad * 0.3); ctx.lineTo(-rad * 0.5, rad * 0.55); ctx.closePath();
      }
      ctx.fill();
    });
  }

  function badgeSprite(rad) {
    return sprite("s|" + rad, rad + 8, function (ctx) {
      ctx.beginPath(); ctx.arc(rad * 0.75, -rad * 0.75, 4, 0, Math.PI * 2);
      ctx.globalAlpha = 1; ctx.fillStyle = "#f0ad4e"; ctx.strokeStyle = "#8a6d3b";
      ctx.lineWidth = 1; ctx.fill(); ctx.stroke();
    });
  }

  function wholeDegrees(heading) {
    return heading == null ? null : ((Math.round(heading) % 360) + 360) % 360;
  }

  function blit(ctx, img, p) {
    var h = img.half;
    ctx.drawImage(img, p.x - h, p.y - h, 2 * h, 2 * h);
  }

  var VehicleMarker = L.CircleMarker.extend({
    _updateBounds: function () {
      L.CircleMarker.prototype._updateBounds.call(this);
      var pad = L.point(7, 7); // the badge and the selection ring reach past the circle
      this._pxBounds = L.bounds(this._pxBounds.min.subtract(pad), this._pxBounds.max.add(pad));
    },
    /* What the vehicle looks like where it is: the renderer repaints only when a vehicle's
     * look changed since the last frame. */
    _look: function () {
      var o = this.options, p = this._point;
      return p ? p.x + "," + p.y + "," + this._radius + "," + wholeDegrees(o.heading) + "," +
        !!o.stale + "," + !!o.selected + "," + o.fillColor + "," + o.color : "";
    },
    _updatePath: function () {
      var r = this._renderer, o = this.options;
      if (!r._drawing || this._empty()) return;
      var ctx = r._ctx, p = this._point, rad = Math.max(Math.round(this._radius), 1);
      blit(ctx, bodySprite(o, rad), p);
      blit(ctx, arrowSprite(wholeDegrees(o.heading), o.stale, rad), p);
      if (o.stale) blit(ctx, badgeSprite(rad), p);
    },
  });

  /* The vehicles' canvas: a batch of moves asks for one frame; the frame clears the canvas
   * and copies each visible vehicle's sprites in draw order (no per-vehicle dirty bounds:
   * a moving fleet dirties the whole view anyway). */
  var VehicleCanvas = L.Canvas.extend({
    _updatePath: function (layer) {
      layer._project();
      // A vehicle that moved from outside the view to outside the view changes nothing.
      if (layer._drawnLook !== layer._look() && (layer._drawnVisible || !layer._empty())) {
        this._requestRedraw(layer);
      }
    },
    _requestRedraw: function () {
      if (!this._map) return;
      this._redrawRequest = this._redrawRequest || L.Util.requestAnimFrame(this._redraw, this);
    },
    _redraw: function () {
      if (this._redrawRequest) L.Util.cancelAnimFrame(this._redrawRequest);
      this._redrawRequest = null;
      this._redrawBounds = null;
      this._clear();
      this._draw();
    },
    _draw: function () {
      this._redrawBounds = null;
      this._drawing = true;
      for (var order = this._drawFirst; order; order = order.next) {
        var layer = order.layer;
        if (layer._look) {
          layer._drawnLook = layer._look();
          layer._drawnVisible = !layer._empty();
        }
        layer._updatePath(); // skips vehicles outside the view (_empty)
      }
      this._drawing = false;
    },
  });

  dd.init = function (map, options) {
    dd.map = map;
    options = options || {};
    map.options.zoomSnap = 0.25; // the day fits snugly, not up to half the view away
    map.options.zoomDelta = 0.5;
    map.attributionControl.setPrefix(
      '<a href="https://leafletjs.com" title="A JavaScript library for interactive maps">Leaflet</a>');
    if (options.tileUrl) {
      var tiles = L.tileLayer(options.tileUrl, {
        maxZoom: 19, minZoom: 3, attribution: options.attribution || "", keepBuffer: 2,
      });
      tiles.on("tileload", function () { dd.tilesLoaded += 1; });
      tiles.on("tileerror", function () { dd.tilesFailed += 1; });
      tiles.addTo(map);
    }
    if (options.attribution) map.attributionControl.addAttribution(options.attribution);
    addLegend(map);
    map.createPane("ddRoutes").style.zIndex = 410; // routes and stops: see oneHitTest
    map.createPane("ddStops").style.zIndex = 420;
    map.createPane("ddVehicles").style.zIndex = 450; // no pointer events: see vehicleAt
    dd.routeLayer = L.layerGroup().addTo(map);
    dd.stopLayer = L.layerGroup().addTo(map);
    dd.routeRenderer = L.canvas({ pane: "ddRoutes", tolerance: 2 });
    dd.featureRenderer = L.canvas({ pane: "ddStops", tolerance: 2 });
    oneHitTest(dd.featureRenderer, dd.routeRenderer);
    dd.vehicleLayer = L.layerGroup().addTo(map);
    dd.vehicleRenderer = new VehicleCanvas({ pane: "ddVehicles" });
    listenForVehicles(map);
    watchTheView(map);
    if (typeof QWebChannel !== "undefined" && window.qt && qt.webChannelTransport) {
      new QWebChannel(qt.webChannelTransport, function (channel) {
        dd.bridge = channel.objects.bridge;
        send("pageReady");
      });
    }
  };

  /* The vehicle canvas lies over routes and stops but takes no pointer events (a canvas
   * would swallow every click meant for them): the map container hit-tests vehicles first,
   * in the capture phase, and lets everything else through. */
  function vehicleAt(ev) {
    var p = dd.map.mouseEventToLayerPoint(ev), hit = null;
    for (var id in dd.vehicles) {
      var layer = dd.vehicles[id].layer;
      if (layer._point && layer._containsPoint(p)) hit = dd.vehicles[id];
    }
    return hit;
  }

  function listenForVehicles(map) {
    var box = map.getContainer(), hovered = null, pending = null;
    box.addEventListener("click", function (ev) {
      if (map.dragging.moved()) return;
      var hit = vehicleAt(ev);
      if (!hit) return;
      ev.stopPropagation();
      hit.layer.fire("click", { originalEvent: ev, latlng: hit.layer.getLatLng() });
    }, true);
    box.addEventListener("mousemove", function (ev) {
      if (pending) return;
      pending = ev;
      requestAnimationFrame(function () {
        var hit = map.dragging.moving() ? null : vehicleAt(pending);
        pending = null;
        if (hit === hovered) return;
        hovered = hit;
        box.style.cursor = hit ? "pointer" : "";
        box.title = hit ? vehicleTitle(hit.data) : "";
      });
    }, true);
  }

  function vehicleTitle(v) {
    return (dd.names[v.id] || v.id) +
      (v.stale && v.age != null ? " (last fix " + Math.round(v.age) + " s ago)" : "");
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function tipHtml(text) {
    return escapeHtml(text).replace(/\n/g, "<br>");
  }

  function addLegend(map) {
    var legend = L.control({ position: "bottomleft" });
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "dd-legend");
      var dot = function (fill, ring) {
        return '<i style="background:' + fill + ";border-color:" + (ring || "#555") + '"></i>';
      };
      div.innerHTML =
        dot("#ffffff") + "planned " + dot("#3182bd") + "arrived " + dot("#31a354") + "delivered " +
        dot("#d62728") + "failed " + dot("#ffffff", "#d62728") + "late risk " +
        '<i class="dd-locked-dot"></i>locked';
      return div;
    };
    legend.addTo(map);
  }

  function setDepot(d) {
    if (dd.depot) { dd.depot.remove(); dd.depot = null; }
    if (!d) return;
    dd.depot = L.marker([d.lat, d.lon], {
      icon: L.divIcon({ className: "", html: '<div class="dd-depot"></div>', iconSize: [18, 18], iconAnchor: [9, 9] }),
      title: d.name || d.id, zIndexOffset: 1000,
    }).addTo(dd.map);
  }

  function isSelected(kind, id) {
    return !!dd.selected && dd.selected.kind === kind && dd.selected.id === id;
  }

  function stopStyle(s, selected) {
    // Locked: a dark dashed ring (red when also late), a little bigger.
    return {
      radius: selected ? 10 : s.late || s.locked ? 8 : 6,
      color: selected ? "#000" : s.late ? "#d62728" : s.locked ? "#111" : s.colour,
      weight: selected ? 4 : s.late || s.locked ? 4 : 2,
      dashArray: s.locked ? "4 3" : null,
      fillColor: s.fill, fillOpacity: 1, renderer: dd.featureRenderer,
    };
  }

  function stopText(s) {
    return s.seq + ". " + s.label + " (" + s.status + (s.late ? ", late risk" : "") +
      (s.locked ? ", locked" : "") + ")";
  }

  /* The stop's tooltip: its short text at once, then Python's full one (customer, address,
   * window, ETA as of now) when it answers. */
  function openStopTip(entry) {
    var id = entry.data.id;
    if (!dd.bridge || !dd.bridge.stopTooltip) return;
    dd.bridge.stopTooltip(id, function (text) {
      if (!text || !dd.stops[id] || dd.stops[id] !== entry) return;
      dd.tips[id] = text;
      entry.layer.setTooltipContent(tipHtml(text));
    });
  }

  function dragStyle() {
    if (document.getElementById("dd-drag-style")) return;
    var style = document.createElement("style");
    style.id = "dd-drag-style";
    style.textContent = ".dd-dragging-stop .leaflet-tooltip:not(.dd-preview) { display: none; }";
    document.head.appendChild(style);
  }

  function startStopDrag(marker, s, ev) {
    // Stops are drawn on the canvas: the press reaches the map's container after the
    // stop's handler, where Shift+press starts Leaflet's box zoom. Stop the DOM event
    // itself there (stopping Leaflet's event only marks it).
    if (ev.originalEvent) L.DomEvent.stop(ev.originalEvent);
    if (!dd.dragAllowed) { send("stopDragRefused", s.id); L.DomEvent.stop(ev); return; }
    var map = dd.map;
    map.dragging.disable();
    // While a stop is dragged, the drop's preview is the tooltip to read: the tooltips of
    // the stops passed over stay hidden (a class on the map, see dragStyle).
    dragStyle();
    L.DomUtil.addClass(map.getContainer(), "dd-dragging-stop");
    var moved = false, last = 0;
    function move(e) {
      moved = true;
      marker.setLatLng(e.latlng);
      var now = Date.now();
      if (now - last > 80) { last = now; send("stopDragMoved", s.id, e.latlng.lat, e.latlng.lng); }
    }
    function up(e) {
      map.off("mousemove", move); map.off("mouseup", up); map.dragging.enable();
      L.DomUtil.removeClass(map.getContainer(), "dd-dragging-stop");
      dd.showPreview(null);
      if (moved) {
        noClickUntil = Date.now() + 400;
        send("stopDropped", s.id, e.latlng.lat, e.latlng.lng);
        var now = dd.stops[s.id] ? dd.stops[s.id].data : s;
        marker.setLatLng([now.lat, now.lon]); // Python decides; the next update redraws
      }
    }
    map.on("mousemove", move); map.on("mouseup", up);
    L.DomEvent.stop(ev);
  }

  dd.showPreview = function (p) {
    if (!p || !p.text) {
      if (dd.previewTip) { dd.previewTip.remove(); dd.previewTip = null; }
      return;
    }
    // On the side of the point with more room, wrapped to fit in it: to its right it was
    // cut off by the map's edge for a drop in the right half, and a long preview on either
    // side by the edge beyond it.
    var x = dd.map.latLngToContainerPoint([p.lat, p.lon]).x, width = dd.map.getSize().x;
    var side = x > width / 2 ? "left" : "right";
    var room = Math.max(120, (side === "left" ? x : width - x) - 40);
    if (dd.previewTip && dd.previewTip.options.direction !== side) {
      dd.previewTip.remove(); dd.previewTip = null;
    }
    if (!dd.previewTip) {
      dd.previewTip = L.tooltip({ permanent: true, direction: side,
                                  offset: [side === "left" ? -14 : 14, 0], className: "dd-preview" });
    }
    dd.previewTip.setLatLng([p.lat, p.lon]).setContent(
      '<div style="white-space: pre-line; width: max-content; max-width: ' + room + 'px">' +
      escapeHtml(p.text) + "</div>");
    if (!dd.map.hasLayer(dd.previewTip)) dd.previewTip.addTo(dd.map);
    dd.previewTip.update(); // placed again at its wrapped size
  };

  function addRoute(r) {
    if (r.path.length < 2) { dd.routes[r.id] = { data: r, layer: null }; return; }
    var line = L.polyline(r.path, {
      color: r.colour, weight: 4, opacity: 0.8, renderer: dd.routeRenderer,
    });
    line.bindTooltip(function () { return escapeHtml(dd.names[r.vehicle] || r.vehicle); },
                     { sticky: true });
    line.on("click", function (e) {
      L.DomEvent.stop(e);
      if (Date.now() > noClickUntil) send("featureClicked", "route", r.id);
    });
    line.addTo(dd.routeLayer);
    dd.routes[r.id] = { data: r, layer: line };
  }

  function updateRoute(r) {
    var entry = dd.routes[r.id];
    if (!entry || !entry.layer || r.path.length < 2) {
      removeRoute(r.id);
      addRoute(r);
      return;
    }
    entry.data = r;
    entry.layer.setLatLngs(r.path);
    if (entry.layer.options.color !== r.colour) entry.layer.setStyle({ color: r.colour });
  }

  function removeRoute(id) {
    var entry = dd.routes[id];
    if (entry && entry.layer) entry.layer.remove();
    delete dd.routes[id];
  }

  /* Routes and stops are drawn on two canvases, routes under stops: a stop restyled live
   * (a delivery, a late risk) redraws the stops around it, not every route line crossing
   * that spot (on one canvas each restyle redrew hundreds of route lines: paint p99 0.4 s
   * at 2,000 vehicles). A canvas takes every pointer event on it, so the stops' canvas
   * hit-tests both: a stop under the pointer first, else a route of the canvas below. */
  function oneHitTest(stops, routes) {
    function hit(r, e) {
      var point = r._map.mouseEventToLayerPoint(e);
      for (var at = r._drawFirst; at; at = at.next) {
        if (at.layer.options.interactive && at.layer._containsPoint(point)) return true;
      }
      return false;
    }
    var click = stops._onClick, move = stops._onMouseMove, out = stops._handleMouseOut;
    stops._onClick = function (e) {
      return hit(this, e) || !this._map ? click.call(this, e) : routes._onClick(e);
    };
    stops._onMouseMove = function (e) {
      if (!this._map) return;
      if (hit(this, e)) { routes._handleMouseOut(e); return move.call(this, e); }
      out.call(this, e);
      routes._onMouseMove(e);
      // The pointer's look is the stops' canvas's to show (the routes' lies under it).
      L.DomUtil[routes._hoveredLayer ? "addClass" : "removeClass"](this._container, "leaflet-interactive");
    };
    stops._handleMouseOut = function (e) { out.call(this, e); routes._handleMouseOut(e); };
  }


  function addStop(s) {
    var m = L.circleMarker([s.lat, s.lon], stopStyle(s, false));
    m.ddStop = true;
    var entry = (dd.stops[s.id] = { data: s, layer: m });
    m.bindTooltip(escapeHtml(stopText(s)));
    m.on("tooltipopen", function () { openStopTip(entry); });
    m.on("click", function (e) {
      L.DomEvent.stop(e);
      if (Date.now() > noClickUntil) send("featureClicked", "stop", s.id);
    });
    m.on("mousedown", function (e) {
      if (!entry.data.locked && e.originalEvent.shiftKey) startStopDrag(m, entry.data, e);
    });
    m.addTo(dd.stopLayer);
  }

  function updateStop(s) {
    var entry = dd.stops[s.id];
    if (!entry) { addStop(s); return; }
    var old = entry.data;
    entry.data = s;
    if (old.lat !== s.lat || old.lon !== s.lon) entry.layer.setLatLng([s.lat, s.lon]);
    restyleStop(entry.layer, stopStyle(s, isSelected("stop", s.id)));
    if (stopText(old) !== stopText(s)) {
      entry.layer.setTooltipContent(escapeHtml(stopText(s)));
      if (entry.layer.isTooltipOpen()) openStopTip(entry);
    }
  }

  /* A stop's new look on the canvas: its options, and the area it covered and covers now
   * marked for the next frame. (setStyle does the same three times over per stop, which a
   * replay jump restyling 20,000 stops felt.) */
  function restyleStop(layer, style) {
    var o = layer.options, r = layer._renderer;
    if (o.radius === style.radius && o.color === style.color && o.weight === style.weight &&
        o.dashArray === style.dashArray && o.fillColor === style.fillColor) return;
    if (!layer._map || !r) { layer.setStyle(style); return; }
    r._extendRedrawBounds(layer);
    L.setOptions(layer, style);
    layer._radius = style.radius;
    r._updateDashArray(layer);
    layer._updateBounds();
    r._requestRedraw(layer);
  }

  /* A row of a stop whose state alone changed: [id, status, fill, late, locked]. */
  function updateStopState(r) {
    var entry = dd.stops[r[0]];
    if (!entry) return;
    updateStop(Object.assign({}, entry.data, { status: r[1], fill: r[2], late: r[3], locked: r[4] }));
  }

  function removeStop(id) {
    if (dd.stops[id]) { dd.stops[id].layer.remove(); delete dd.stops[id]; }
  }

  function setLayers(layers) {
    setDepot(layers.depot);
    dd.routeLayer.clearLayers(); dd.stopLayer.clearLayers();
    dd.routes = {}; dd.stops = {};
    (layers.routes || []).forEach(addRoute);
    (layers.stops || []).forEach(addStop);
    if (dd.selected) highlight(dd.selected.kind, dd.selected.id, true);
  }

  function changeLayers(changes) {
    if (changes.depot !== undefined) setDepot(changes.depot);
    (changes.removeRoutes || []).forEach(removeRoute);
    (changes.routes || []).forEach(updateRoute);
    (changes.removeStops || []).forEach(removeStop);
    (changes.stops || []).forEach(updateStop);
    (changes.stopStates || []).forEach(updateStopState);
    if (dd.selected) highlight(dd.selected.kind, dd.selected.id, true);
  }

  function setVehicle(v) {
    var entry = dd.vehicles[v.id];
    var style = {
      fillColor: v.colour || "#333", fillOpacity: v.stale ? 0.45 : 1, opacity: v.stale ? 0.45 : 1,
    };
    if (!entry) {
      var m = new VehicleMarker([v.lat, v.lon], L.extend({
        renderer: dd.vehicleRenderer, pane: "ddVehicles", radius: 9, color: "#fff", weight: 2,
        heading: v.heading, stale: v.stale, selected: false,
      }, style));
      m.on("click", function (e) { L.DomEvent.stop(e); send("featureClicked", "vehicle", v.id); });
      entry = dd.vehicles[v.id] = { data: v, layer: m };
      m.addTo(dd.vehicleLayer);
      if (isSelected("vehicle", v.id)) highlight("vehicle", v.id, true);
      return;
    }
    var old = entry.data, layer = entry.layer;
    entry.data = v;
    layer.options.heading = v.heading;
    layer.options.stale = v.stale;
    if (old.colour !== v.colour || old.stale !== v.stale) L.setOptions(layer, style);
    layer.setLatLng([v.lat, v.lon]); // redraws (one canvas frame for the whole batch)
  }

  function vehicleRow(r) {
    return { id: r[0], lat: r[1], lon: r[2], heading: r[3], stale: r[4], age: r[5], colour: r[6] };
  }

  function highlight(kind, id, on) {
    if (kind === "stop" && dd.stops[id]) restyleStop(dd.stops[id].layer, stopStyle(dd.stops[id].data, on));
    if (kind === "route" && dd.routes[id] && dd.routes[id].layer) {
      dd.routes[id].layer.setStyle({ weight: on ? 8 : 4, opacity: on ? 1 : 0.8 });
      if (on) dd.routes[id].layer.bringToFront(); // over the other routes (its own canvas)
    }
    if (kind === "vehicle" && dd.vehicles[id]) {
      var layer = dd.vehicles[id].layer;
      layer.options.selected = on;
      layer.setStyle({ radius: on ? 12 : 9, color: on ? "#000" : "#fff", weight: on ? 3 : 2 });
      if (on) layer.bringToFront();
    }
  }

  function select(sel) {
    if (dd.selected) highlight(dd.selected.kind, dd.selected.id, false);
    dd.selected = sel && sel.id ? sel : null;
    if (dd.selected) highlight(dd.selected.kind, dd.selected.id, true);
  }

  function focus(f) {
    var target = null;
    if (f.kind === "stop" && dd.stops[f.id]) target = dd.stops[f.id].layer.getLatLng();
    if (f.kind === "vehicle" && dd.vehicles[f.id]) target = dd.vehicles[f.id].layer.getLatLng();
    if (f.kind === "route" && dd.routes[f.id] && dd.routes[f.id].layer) {
      dd.focusing = true;
      dd.map.fitBounds(dd.routes[f.id].layer.getBounds(), { padding: [30, 30] });
      dd.focusing = false;
      dd.userMoved = true;
      return;
    }
    if (target) {
      dd.focusing = true;
      dd.map.setView(target, Math.max(dd.map.getZoom(), 15));
      dd.focusing = false;
      dd.userMoved = true; // the view is the person's now: a resize keeps it
    }
  }

  /* The depot's day in view: every route, stop and the depot. It stays fitted while the
   * window settles (a resize fits again) until the user pans or zooms. */
  function fitAll() {
    // Bounds added up by hand: putting the layers in a group would make it their event
    // parent for good (a stop's drag then never ended).
    var b = L.latLngBounds([]);
    Object.keys(dd.routes).forEach(function (k) { if (dd.routes[k].layer) b.extend(dd.routes[k].layer.getBounds()); });
    Object.keys(dd.stops).forEach(function (k) { b.extend(dd.stops[k].layer.getLatLng()); });
    if (dd.depot) b.extend(dd.depot.getLatLng());
    if (!b.isValid()) return;
    dd.fitting = true;
    if (b.getNorthEast().equals(b.getSouthWest())) dd.map.setView(b.getCenter(), 13, { animate: false });
    else dd.map.fitBounds(b, { padding: [20, 20], animate: false });
    dd.fitting = false;
    dd.fitted = true;
    dd.userMoved = false;
  }

  function watchTheView(map) {
    var box = map.getContainer();
    function moved() { if (!dd.fitting) dd.userMoved = true; }
    map.on("dragstart", moved);
    box.addEventListener("wheel", moved, true);
    box.addEventListener("dblclick", moved, true);
    map.on("zoomstart", function () { if (!dd.fitting && !dd.focusing) moved(); });
    map.on("resize", function () { if (dd.fitted && !dd.userMoved) fitAll(); });
  }

  dd.apply = function (batch) {
    if (batch.names) dd.names = batch.names;
    if (batch.dragAllowed !== undefined) dd.dragAllowed = batch.dragAllowed;
    if (batch.layers) setLayers(batch.layers);
    if (batch.layerChanges) changeLayers(batch.layerChanges);
    (batch.removeVehicles || []).forEach(function (id) {
      if (dd.vehicles[id]) { dd.vehicles[id].layer.remove(); delete dd.vehicles[id]; }
    });
    (batch.vehicles || []).forEach(setVehicle);
    (batch.vehicleRows || []).forEach(function (r) { setVehicle(vehicleRow(r)); });
    if (batch.select !== undefined) select(batch.select);
    if (batch.fit) fitAll();
    if (batch.focus) focus(batch.focus);
    dd.applied += 1;
    return dd.applied;
  };

  dd.stats = function () {
    var tip = document.querySelector(".dd-preview");
    var svgPaths = document.querySelectorAll(".leaflet-overlay-pane path, .leaflet-ddRoutes-pane path, .leaflet-ddStops-pane path").length;
    var canvasFeatures = 0;
    [dd.routeRenderer, dd.featureRenderer].forEach(function (r) {
      for (var at = r ? r._drawFirst : null; at; at = at.next) canvasFeatures += 1;
    });
    var drawn = Object.keys(dd.vehicles).filter(function (k) { return dd.vehicles[k].layer._map; });
    return JSON.stringify({
      ready: !!dd.bridge, routes: Object.keys(dd.routes).length, stops: Object.keys(dd.stops).length,
      vehicles: Object.keys(dd.vehicles).length, depot: !!dd.depot, svgPaths: svgPaths,
      canvasFeatures: canvasFeatures,
      vehicleMarkers: drawn.length, vehicleCanvas: !!document.querySelector(".leaflet-ddVehicles-pane canvas"),
      tilesLoaded: dd.tilesLoaded,
      tilesFailed: dd.tilesFailed, applied: dd.applied, preview: tip ? tip.textContent : null, zoom: dd.map ? dd.map.getZoom() : null,
      fitted: dd.fitted, userMoved: dd.userMoved, dragAllowed: dd.dragAllowed,
      locked: Object.keys(dd.stops).filter(function (k) { return dd.stops[k].data.locked; }),
      bounds: dd.map ? dd.map.getBounds().toBBoxString() : null,
      center: dd.map ? [dd.map.getCenter().lat, dd.map.getCenter().lng] : null,
      selected: dd.selected, attribution: document.querySelector(".leaflet-control-attribution") ?
        document.querySelector(".leaflet-control-attribution").textContent : "",
    });
  };

  dd.vehicleState = function (id) {
    var v = dd.vehicles[id];
    if (!v) return "null";
    var ll = v.layer.getLatLng(), o = v.layer.options;
    return JSON.stringify({
      lat: ll.lat, lon: ll.lng, stale: !!o.stale, heading: o.heading,
      rotation: o.heading == null ? "" : "rotate(" + o.heading + "deg)", selected: !!o.selected,
      colour: o.fillColor,
    });
  };

  /* What a person sees hovering a stop: the tooltip as it is once Python answered. */
  dd.stopTooltip = function (id) {
    var entry = dd.stops[id];
    if (!entry) return "null";
    entry.layer.openTooltip();
    var tip = entry.layer.getTooltip();
    return JSON.stringify({ html: tip ? tip.getContent() : "", full: dd.tips[id] || null,
                            style: { color: entry.layer.options.color, dashArray: entry.layer.options.dashArray } });
  };

  dd.clickFeature = function (kind, id) {
    var table = kind === "stop" ? dd.stops : kind === "route" ? dd.routes : dd.vehicles;
    if (!table[id] || !table[id].layer) return false;
    table[id].layer.fire("click", { latlng: table[id].layer.getLatLng ? table[id].layer.getLatLng() : null, originalEvent: new MouseEvent("click") });
    return true;
  };
})();
