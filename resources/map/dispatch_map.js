/* Dispatch Desk map glue: draws the layers Python sends and reports clicks and drops.
 *
 * Python calls dd.apply(batch) with one JSON object per update:
 *   {layers: {depot, routes, stops}, vehicles: [...], removeVehicles: [...],
 *    select: {kind, id}, focus: {kind, id}, fit: true}
 * The page tells Python it is ready (bridge.pageReady) once the web channel is up.
 */
(function () {
  "use strict";
  var dd = (window.dd = {
    map: null, bridge: null, depot: null, routes: {}, stops: {}, vehicles: {},
    selected: null, tilesLoaded: 0, tilesFailed: 0, applied: 0,
  });

  var ARROW =
    '<svg viewBox="0 0 26 26"><circle cx="13" cy="13" r="11" fill="COLOUR" stroke="#fff" stroke-width="2"/>' +
    '<path d="M13 4 L19 18 L13 15 L7 18 Z" fill="#fff"/></svg><span class="dd-badge">!</span>';

  function send(name) {
    var args = Array.prototype.slice.call(arguments, 1);
    if (dd.bridge && dd.bridge[name]) dd.bridge[name].apply(dd.bridge, args);
  }

  dd.init = function (map, options) {
    dd.map = map;
    options = options || {};
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
    map.createPane("ddRoutes").style.zIndex = 410;
    map.createPane("ddStops").style.zIndex = 420;
    dd.routeLayer = L.layerGroup().addTo(map);
    dd.stopLayer = L.layerGroup().addTo(map);
    dd.vehicleLayer = L.layerGroup().addTo(map);
    if (typeof QWebChannel !== "undefined" && window.qt && qt.webChannelTransport) {
      new QWebChannel(qt.webChannelTransport, function (channel) {
        dd.bridge = channel.objects.bridge;
        send("pageReady");
      });
    }
  };

  function addLegend(map) {
    var legend = L.control({ position: "bottomleft" });
    legend.onAdd = function () {
      var div = L.DomUtil.create("div", "dd-legend");
      var dot = function (fill, ring) {
        return '<i style="background:' + fill + ";border-color:" + (ring || "#555") + '"></i>';
      };
      div.innerHTML =
        dot("#ffffff") + "planned " + dot("#3182bd") + "arrived " + dot("#31a354") + "delivered " +
        dot("#d62728") + "failed " + dot("#ffffff", "#d62728") + "late risk";
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

  function stopStyle(s, selected) {
    return {
      radius: selected ? 10 : s.late ? 8 : 6,
      color: selected ? "#000" : s.late ? "#d62728" : s.colour,
      weight: selected ? 4 : s.late ? 4 : 2,
      fillColor: s.fill, fillOpacity: 1, pane: "ddStops",
    };
  }

  function startStopDrag(marker, s, ev) {
    var map = dd.map;
    map.dragging.disable();
    var moved = false, last = 0;
    function move(e) {
      moved = true;
      marker.setLatLng(e.latlng);
      var now = Date.now();
      if (now - last > 80) { last = now; send("stopDragMoved", s.id, e.latlng.lat, e.latlng.lng); }
    }
    function up(e) {
      map.off("mousemove", move); map.off("mouseup", up); map.dragging.enable();
      dd.showPreview(null);
      if (moved) {
        send("stopDropped", s.id, e.latlng.lat, e.latlng.lng);
        marker.setLatLng([s.lat, s.lon]); // Python decides; the next update redraws
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
    if (!dd.previewTip) {
      dd.previewTip = L.tooltip({ permanent: true, direction: "right", offset: [14, 0], className: "dd-preview" });
    }
    dd.previewTip.setLatLng([p.lat, p.lon]).setContent(p.text);
    if (!dd.map.hasLayer(dd.previewTip)) dd.previewTip.addTo(dd.map);
  };

  function setLayers(layers) {
    setDepot(layers.depot);
    dd.routeLayer.clearLayers(); dd.stopLayer.clearLayers();
    dd.routes = {}; dd.stops = {};
    (layers.routes || []).forEach(function (r) {
      if (r.path.length < 2) { dd.routes[r.id] = { data: r, layer: null }; return; }
      var line = L.polyline(r.path, { color: r.colour, weight: 4, opacity: 0.8, pane: "ddRoutes" });
      line.on("click", function (e) { L.DomEvent.stop(e); send("featureClicked", "route", r.id); });
      line.addTo(dd.routeLayer);
      dd.routes[r.id] = { data: r, layer: line };
    });
    (layers.stops || []).forEach(function (s) {
      var m = L.circleMarker([s.lat, s.lon], stopStyle(s, false));
      m.bindTooltip(s.seq + ". " + s.label + " (" + s.status + (s.late ? ", late risk" : "") + ")");
      m.on("click", function (e) { L.DomEvent.stop(e); send("featureClicked", "stop", s.id); });
      m.on("mousedown", function (e) { if (!s.locked && e.originalEvent.shiftKey) startStopDrag(m, s, e); });
      m.addTo(dd.stopLayer);
      dd.stops[s.id] = { data: s, layer: m };
    });
    if (dd.selected) highlight(dd.selected.kind, dd.selected.id, true);
  }

  function vehicleHtml(v) { return ARROW.replace("COLOUR", v.colour || "#333"); }

  function setVehicle(v) {
    var entry = dd.vehicles[v.id];
    if (!entry) {
      var icon = L.divIcon({ className: "", html: '<div class="dd-veh">' + vehicleHtml(v) + "</div>", iconSize: [26, 26], iconAnchor: [13, 13] });
      var m = L.marker([v.lat, v.lon], { icon: icon, zIndexOffset: 500, title: v.id });
      m.on("click", function (e) { L.DomEvent.stop(e); send("featureClicked", "vehicle", v.id); });
      m.addTo(dd.vehicleLayer);
      var box = m.getElement() && m.getElement().firstChild;
      entry = dd.vehicles[v.id] = {
        data: {}, layer: m, box: box, svg: box && box.querySelector("svg"),
        badge: box && box.querySelector(".dd-badge"), circle: box && box.querySelector("circle"),
      };
    } else {
      entry.layer.setLatLng([v.lat, v.lon]);
    }
    var old = entry.data;
    entry.data = v;
    if (!entry.box) return;
    if (old.heading !== v.heading) entry.svg.style.transform = v.heading == null ? "" : "rotate(" + v.heading + "deg)";
    if (old.stale !== v.stale) entry.box.classList.toggle("dd-stale", !!v.stale);
    if (old.colour !== v.colour && old.colour !== undefined) entry.circle.setAttribute("fill", v.colour || "#333");
    if (v.stale && v.age != null) entry.badge.title = "last fix " + Math.round(v.age) + " s ago";
  }

  function vehicleRow(r) {
    return { id: r[0], lat: r[1], lon: r[2], heading: r[3], stale: r[4], age: r[5], colour: r[6] };
  }

  function highlight(kind, id, on) {
    if (kind === "stop" && dd.stops[id]) dd.stops[id].layer.setStyle(stopStyle(dd.stops[id].data, on));
    if (kind === "route" && dd.routes[id] && dd.routes[id].layer) {
      dd.routes[id].layer.setStyle({ weight: on ? 8 : 4, opacity: on ? 1 : 0.8 });
      if (on) dd.routes[id].layer.bringToFront();
    }
    if (kind === "vehicle" && dd.vehicles[id]) {
      if (dd.vehicles[id].box) dd.vehicles[id].box.classList.toggle("dd-selected", on);
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
      dd.map.fitBounds(dd.routes[f.id].layer.getBounds(), { padding: [30, 30] });
      return;
    }
    if (target) dd.map.setView(target, Math.max(dd.map.getZoom(), 15));
  }

  function fitAll() {
    var group = L.featureGroup([]);
    Object.keys(dd.routes).forEach(function (k) { if (dd.routes[k].layer) group.addLayer(dd.routes[k].layer); });
    if (dd.depot) group.addLayer(dd.depot);
    var b = group.getBounds();
    if (b.isValid()) dd.map.fitBounds(b, { padding: [20, 20], animate: false });
  }

  dd.apply = function (batch) {
    if (batch.layers) setLayers(batch.layers);
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
    return JSON.stringify({
      ready: !!dd.bridge, routes: Object.keys(dd.routes).length, stops: Object.keys(dd.stops).length,
      vehicles: Object.keys(dd.vehicles).length, depot: !!dd.depot, svgPaths: svgPaths,
      vehicleIcons: document.querySelectorAll(".dd-veh").length, tilesLoaded: dd.tilesLoaded,
      tilesFailed: dd.tilesFailed, applied: dd.applied, preview: tip ? tip.textContent : null, zoom: dd.map ? dd.map.getZoom() : null,
      center: dd.map ? [dd.map.getCenter().lat, dd.map.getCenter().lng] : null,
      selected: dd.selected, attribution: document.querySelector(".leaflet-control-attribution") ?
        document.querySelector(".leaflet-control-attribution").textContent : "",
    });
  };

  dd.vehicleState = function (id) {
    var v = dd.vehicles[id];
    if (!v) return "null";
    var ll = v.layer.getLatLng();
    var box = v.box;
    return JSON.stringify({
      lat: ll.lat, lon: ll.lng, stale: !!(box && box.classList.contains("dd-stale")),
      heading: v.data.heading, rotation: v.svg ? v.svg.style.transform : "",
    });
  };

  dd.clickFeature = function (kind, id) {
    var table = kind === "stop" ? dd.stops : kind === "route" ? dd.routes : dd.vehicles;
    if (!table[id] || !table[id].layer) return false;
    table[id].layer.fire("click", { latlng: table[id].layer.getLatLng ? table[id].layer.getLatLng() : null, originalEvent: new MouseEvent("click") });
    return true;
  };
})();
