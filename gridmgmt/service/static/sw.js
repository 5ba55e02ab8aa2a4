// The Today page's service worker (served as /sw.js, scope /today; registered by static/today.js).
// It keeps the page, the app's own assets, the vendored Leaflet and the street bands on the phone,
// so Today opens without signal. The outcomes' queue is today.js's (IndexedDB), not here.
"use strict";
var SHELL = "gm-today-shell-v1";  // the app's files: the same for every user
var PAGES = "gm-today-pages";     // the user's Today pages: dropped when the session ends
var LEAFLET = "/vendor/leaflet@1.9.4/dist/";
var PRECACHE = [
  "/static/app.css", "/static/today.css", "/static/today.js", "/static/map.js",
  LEAFLET + "leaflet.css", LEAFLET + "leaflet.js",
  LEAFLET + "images/marker-icon.png", LEAFLET + "images/marker-icon-2x.png", LEAFLET + "images/marker-shadow.png"
];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) { return cache.addAll(PRECACHE); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    var old = keys.filter(function (key) { return key.indexOf("gm-today-shell-") === 0 && key !== SHELL; });
    return Promise.all(old.map(function (key) { return caches.delete(key); }));
  }).then(function () { return self.clients.claim(); }));
});

// The key of a Today page: its URL without the no-JavaScript form's ?done= note.
function pageKey(url) {
  var parsed = new URL(url);
  parsed.searchParams.delete("done");
  return parsed.href;
}

// Network first; without signal (or with none worth the name: no answer within SLOW_MS) the last copy
// of this page, any of its query strings as a last resort. The network's answer still refreshes the copy.
var SLOW_MS = 4000;
function page(event) {
  var key = pageKey(event.request.url);
  function copy() {
    return caches.open(PAGES).then(function (cache) {
      return cache.match(key).then(function (hit) { return hit || cache.match(key, {ignoreSearch: true}); });
    });
  }
  var network = fetch(event.request).then(function (response) {
    if (response.ok && !response.redirected && response.type === "basic") {
      var kept = response.clone();
      event.waitUntil(caches.open(PAGES).then(function (cache) { return cache.put(key, kept); }));
    } else if (response.type === "opaqueredirect" || response.redirected) {
      event.waitUntil(caches.delete(PAGES));  // logged out: no user's page stays on the phone
    }
    return response;
  });
  event.waitUntil(network.catch(function () {}));
  return new Promise(function (resolve) {
    var given = false;
    function give(response) { if (response && !given) { given = true; resolve(response); } }
    network.then(give, function () { copy().then(function (hit) { give(hit || Response.error()); }); });
    setTimeout(function () { copy().then(give); }, SLOW_MS);  // only when a copy exists
  });
}

function store(request, response) {
  if (response.ok && response.type === "basic") {
    var copy = response.clone();
    caches.open(SHELL).then(function (cache) { return cache.put(request, copy); });
  }
  return response;
}

// The cached copy at once, refreshed from the network for next time (the app's and Leaflet's files).
function staleWhileRevalidate(request) {
  return caches.match(request).then(function (hit) {
    var fresh = fetch(request).then(function (response) { return store(request, response); });
    if (hit) { fresh.catch(function () {}); return hit; }
    return fresh;
  });
}

// A street band's URL names its content: once cached it never changes.
function cacheFirst(request) {
  return caches.match(request).then(function (hit) {
    return hit || fetch(request).then(function (response) { return store(request, response); });
  });
}

function networkFirst(request) {
  return fetch(request).then(function (response) { return store(request, response); }).catch(function () {
    return caches.match(request).then(function (hit) { return hit || Response.error(); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate" && url.pathname === "/today") {
    event.respondWith(page(event));
  } else if (url.pathname.indexOf("/static/") === 0 || url.pathname.indexOf("/vendor/") === 0) {
    event.respondWith(staleWhileRevalidate(request));
  } else if (url.pathname.indexOf("/streets/") === 0) {
    event.respondWith(cacheFirst(request));
  } else if (url.pathname === "/api/streets") {  // the street bands' index: public, no user's data
    event.respondWith(networkFirst(request));
  }
});
