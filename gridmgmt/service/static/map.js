// Small Leaflet maps drawn from data attributes; no tiles (works on an intranet without internet).
// Under every map lie the district's own streets (/api/streets: one band of simplified lines per zoom range).
// Data is never markup: tooltips get DOM nodes whose text is set with textContent.
(function () {
  if (typeof L === "undefined") { return; }
  function fit(map, latlngs) { if (latlngs.length) { map.fitBounds(L.latLngBounds(latlngs).pad(0.2)); } }
  function text(value) { var el = document.createElement("span"); el.textContent = String(value); return el; }

  // The street layer beneath everything on ``map``: the band of the current zoom, fetched once per band.
  var index = null;
  function streets(map) {
    var pane = map.createPane("gmStreets");
    pane.style.zIndex = 250;  // above the background, below every overlay (400)
    pane.style.pointerEvents = "none";
    var renderer = L.canvas({pane: "gmStreets"}), layers = {}, shown = null, wanted = null;
    function bandOf(zoom, bands) {
      for (var i = 0; i < bands.length; i++) { if (zoom <= bands[i].max_zoom) { return bands[i]; } }
      return bands[bands.length - 1];
    }
    function draw(name) {
      if (wanted !== name) { return; }
      if (shown) { map.removeLayer(layers[shown]); }
      layers[name].addTo(map);
      shown = name;
      map.getContainer().dataset.streetBand = name;
    }
    function show(info) {
      var band = bandOf(map.getZoom(), info.bands);
      wanted = band.name;
      if (shown === band.name) { return; }
      if (layers[band.name]) { draw(band.name); return; }
      fetch(band.url).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
        if (!data) { return; }
        layers[band.name] = L.geoJSON(data, {renderer: renderer, pane: "gmStreets", interactive: false,
          style: function (f) { return info.styles[f.properties["class"]] || {}; }});
        draw(band.name);
      }).catch(function () {});
    }
    index = index || fetch("/api/streets").then(function (r) { return r.ok ? r.json() : null; });
    index.then(function (info) {
      if (!info || !info.bands.length) { return; }
      map.whenReady(function () { show(info); map.on("zoomend", function () { show(info); }); });
    }).catch(function () {});
  }
  window.gmStreets = streets;  // for other pages' maps

  var route = document.getElementById("map");
  if (route && route.dataset.points) {
    var pts = JSON.parse(route.dataset.points), map = L.map(route), ll = [];
    pts.forEach(function (p) { ll.push([p[0], p[1]]); L.circleMarker([p[0], p[1]], {radius: 7}).bindTooltip(text(p[2])).addTo(map); });
    // the published route along the streets when the plan has one, else straight legs between the stops
    var street = JSON.parse(route.dataset.streetLine || "[]");
    if (street.length) { L.polyline(street, {weight: 3}).addTo(map); ll = ll.concat(street); }
    else if (route.dataset.line) { L.polyline(ll, {weight: 3}).addTo(map); }
    fit(map, ll);
    streets(map);
  }
  if (route && route.dataset.gridShapes) {
    // today's grids as polygons, one colour per staff pair (a pair's grids share it)
    var shapes = JSON.parse(route.dataset.gridShapes), gmap = L.map(route), word = route.dataset.gridWord || "";
    var grids = L.geoJSON(shapes, {
      style: function (f) {
        return {color: "#333333", weight: 1.5, fillColor: f.properties.colour, fillOpacity: 0.3,
                dashArray: f.properties.approximate ? "4 3" : null};
      },
      onEachFeature: function (f, layer) { layer.bindTooltip(text(word + " " + f.properties.grid_id + " · " + f.properties.pair)); }
    }).addTo(gmap);
    if (grids.getLayers().length) { gmap.fitBounds(grids.getBounds()); }
    streets(gmap);
  }
  var pick = document.getElementById("pick");
  if (pick) {
    var c = JSON.parse(pick.dataset.centre || "[0,0]"), pmap = L.map(pick).setView(c, 14), marker = null;
    pmap.on("click", function (e) {
      if (marker) { pmap.removeLayer(marker); }
      marker = L.marker(e.latlng).addTo(pmap);
      document.getElementById("lon").value = e.latlng.lng.toFixed(6);
      document.getElementById("lat").value = e.latlng.lat.toFixed(6);
    });
    streets(pmap);
  }
})();
