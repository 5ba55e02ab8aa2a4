// Small Leaflet maps drawn from data attributes; no tiles (works on an intranet without internet).
// Data is never markup: tooltips get DOM nodes whose text is set with textContent.
(function () {
  if (typeof L === "undefined") { return; }
  function fit(map, latlngs) { if (latlngs.length) { map.fitBounds(L.latLngBounds(latlngs).pad(0.2)); } }
  function text(value) { var el = document.createElement("span"); el.textContent = String(value); return el; }
  var route = document.getElementById("map");
  if (route && route.dataset.points) {
    var pts = JSON.parse(route.dataset.points), map = L.map(route), ll = [];
    pts.forEach(function (p) { ll.push([p[0], p[1]]); L.circleMarker([p[0], p[1]], {radius: 7}).bindTooltip(text(p[2])).addTo(map); });
    // the published route along the streets when the plan has one, else straight legs between the stops
    var street = JSON.parse(route.dataset.streetLine || "[]");
    if (street.length) { L.polyline(street, {weight: 3}).addTo(map); ll = ll.concat(street); }
    else if (route.dataset.line) { L.polyline(ll, {weight: 3}).addTo(map); }
    fit(map, ll);
  }
  if (route && route.dataset.gridPoints) {
    var gp = JSON.parse(route.dataset.gridPoints), gmap = L.map(route), gl = [];
    var colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
    gp.forEach(function (p) {
      gl.push([p[0], p[1]]);
      var c = colours[(parseInt(p[2], 10) || 0) % colours.length];
      L.circleMarker([p[0], p[1]], {radius: 4, color: c, fillOpacity: 0.8}).bindTooltip(text(p[2] + " · " + p[3])).addTo(gmap);
    });
    fit(gmap, gl);
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
  }
})();
