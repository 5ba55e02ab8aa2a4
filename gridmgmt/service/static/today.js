// The Today page, offline first. A tapped outcome shows on its stop at once (no reload, the scroll
// stays), is queued in IndexedDB with the phone's own event id (P- and a UUIDv7) and is sent to
// POST /api/events when there is signal (after the tap, on the `online` event, on page load, every
// 20 s); the server stores each id once, so a retry never records twice. Refusals stay on their stop
// with the server's reason until dismissed. The service worker (/sw.js) keeps the page on the phone.
// Without JavaScript the forms post to /today/outcome as before.
(function () {
  "use strict";
  var box = document.getElementById("outbox");
  if (!box || !window.indexedDB) { return; }
  var me = box.dataset.user, day = box.dataset.day, words = JSON.parse(box.dataset.words || "{}");
  var PAGES = "gm-today-pages", SHELL = "gm-today-shell-v1";
  var timing = window.gmToday = {tapMs: [], paintMs: []};  // tap -> done shown, tap -> next frame (ms)
  var needLogin = false, lastTap = null, flushing = null;

  // ------------------------------------------------------------------ ids and times

  function uuid7() {
    var bytes = new Uint8Array(16), ms = Date.now();
    crypto.getRandomValues(bytes);
    for (var i = 5; i >= 0; i--) { bytes[i] = ms % 256; ms = Math.floor(ms / 256); }
    bytes[6] = (bytes[6] & 0x0f) | 0x70;  // version 7
    bytes[8] = (bytes[8] & 0x3f) | 0x80;  // RFC 9562 variant
    var h = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return "P-" + [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  function localTime(date) {  // YYYY-MM-DDTHH:MM:SS on the phone's clock
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return date.getFullYear() + "-" + two(date.getMonth() + 1) + "-" + two(date.getDate()) + "T" +
      two(date.getHours()) + ":" + two(date.getMinutes()) + ":" + two(date.getSeconds());
  }

  // ------------------------------------------------------------------ the outbox (IndexedDB)

  var opened = null;
  function database() {
    opened = opened || new Promise(function (resolve, reject) {
      var request = indexedDB.open("gridmgmt-today", 1);
      request.onupgradeneeded = function () { request.result.createObjectStore("outbox", {keyPath: "id"}); };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
    return opened;
  }

  function transaction(mode, work) {  // work(store) -> a request; resolves with its result once committed
    return database().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction("outbox", mode), request = work(tx.objectStore("outbox"));
        tx.oncomplete = function () { resolve(request.result); };
        tx.onerror = tx.onabort = function () { reject(tx.error); };
      });
    });
  }
  function entries() { return transaction("readonly", function (s) { return s.getAll(); }); }
  function save(entry) { return transaction("readwrite", function (s) { return s.put(entry); }); }
  function forget(id) { return transaction("readwrite", function (s) { return s.delete(id); }); }

  // ------------------------------------------------------------------ the page

  // The API body of an outcome: the same words as the form's POST /today/outcome.
  function bodyOf(form, result) {
    var fields = new FormData(form), body = {retailer_id: String(fields.get("retailer_id")), note: ""};
    if (result === "ok") {
      body.type = "inspection"; body.outcome = "ok";
    } else if (result === "violation") {
      body.type = "inspection"; body.outcome = "violation";
      body.severity = String(fields.get("severity") || "");
      body.violation_kind = String(fields.get("violation_kind") || "other");
    } else if (result === "visited") {
      body.type = "visit";
    } else {  // not found, closed: a visit without a finding
      body.type = "visit"; body.x_result = result; body.note = result;
    }
    return body;
  }

  function show(entry) {
    var stop = document.getElementById("stop-" + entry.retailer_id);
    if (!stop) { return; }
    stop.classList.add("done");
    var list = stop.querySelector(".stop-state"), item = null;
    for (var i = 0; i < list.children.length; i++) {
      if (list.children[i].dataset.event === entry.id) { item = list.children[i]; }
    }
    if (!item) { item = document.createElement("li"); item.dataset.event = entry.id; list.appendChild(item); }
    item.className = "entry " + entry.state;
    item.textContent = "✓ " + entry.label + " · " + entry.tapped_at.slice(11, 16) + " · " + words["state_" + entry.state];
    if (entry.before) {  // the partner (or another tap) recorded this stop today: both are kept
      item.appendChild(document.createElement("br"));
      item.appendChild(document.createTextNode(words.recorded_before + ": " + words.kept_too));
    }
    if (entry.state === "refused") {
      var reason = document.createElement("span");
      reason.className = "reason";
      reason.textContent = " " + entry.reason;
      var dismiss = document.createElement("button");
      dismiss.type = "button"; dismiss.className = "link dismiss"; dismiss.textContent = words.dismiss;
      dismiss.addEventListener("click", function () {
        forget(entry.id).then(function () {
          item.remove();
          if (!list.children.length) { stop.classList.remove("done"); }
          return status();
        });
      });
      item.appendChild(reason);
      item.appendChild(dismiss);
    }
  }

  function status() {
    return entries().then(function (all) {
      var mine = all.filter(function (e) { return e.user === me; });
      var waiting = mine.filter(function (e) { return e.state === "waiting"; }).length;
      var parts = [];
      if (waiting) {
        parts.push(words.waiting.replace("{n}", waiting));
        if (!navigator.onLine) { parts.push(words.offline); }
        if (needLogin) { parts.push(words.login_to_send); }
      } else if (mine.some(function (e) { return e.state === "sent" && e.day === day; })) {
        parts.push(words.all_sent);
      }
      box.textContent = parts.join(" · ");
      box.hidden = !parts.length;
      box.dataset.waiting = String(waiting);
      box.classList.toggle("waiting", waiting > 0);
    });
  }

  // ------------------------------------------------------------------ sending

  function session() {  // the CSRF token of this phone's session, when it is still the page's user's
    return fetch("/api/me", {credentials: "same-origin"}).then(function (response) {
      needLogin = response.status === 401;
      return response.ok ? response.json() : null;
    }).then(function (info) { return info && info.username === me ? info.csrf : null; });
  }

  function send(entry, csrf) {  // -> true: answered (stored or refused); false: try again later
    return fetch("/api/events", {
      method: "POST", credentials: "same-origin", body: JSON.stringify(entry.body),
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}
    }).then(function (response) {
      if (response.ok) { entry.state = "sent"; return true; }
      if ([400, 403, 404, 409, 422].indexOf(response.status) < 0) { needLogin = response.status === 401; return false; }
      return response.json().catch(function () { return {}; }).then(function (answer) {
        entry.state = "refused";
        entry.reason = String(answer.detail || response.status);
        return true;
      });
    }).then(function (answered) {
      return answered ? save(entry).then(function () { show(entry); return true; }) : false;
    }, function () { return false; });  // no signal after all
  }

  function sendWaiting() {
    return entries().then(function (all) {
      var waiting = all.filter(function (e) { return e.user === me && e.state === "waiting"; });
      if (!waiting.length || !navigator.onLine) { return null; }
      return session().then(function (csrf) {
        if (!csrf) { return null; }
        return waiting.reduce(function (chain, entry) {
          return chain.then(function (going) { return going && send(entry, csrf); });
        }, Promise.resolve(true)).then(function (going) { return going ? sendWaiting() : null; });  // taps meanwhile
      });
    }).catch(function () { return null; });
  }

  function flush() {
    flushing = flushing || sendWaiting().then(function () { flushing = null; return status(); });
    return flushing;
  }

  // ------------------------------------------------------------------ taps

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("form.outcome button[name=result]")) { lastTap = event.timeStamp; }
  }, true);

  document.addEventListener("submit", function (event) {
    var form = event.target, button = event.submitter;
    if (!form.classList.contains("outcome") || !button || button.name !== "result") { return; }
    event.preventDefault();
    var tapped = lastTap === null ? event.timeStamp : lastTap, body = bodyOf(form, button.value);
    var stop = document.getElementById("stop-" + body.retailer_id);
    var entry = {
      id: uuid7(), user: me, day: day, retailer_id: body.retailer_id, label: button.textContent.trim(),
      state: "waiting", reason: "", tapped_at: localTime(new Date()), body: body,
      before: !!(stop && stop.classList.contains("done"))
    };
    body.event_id = entry.id;
    body.x_tapped_at = entry.tapped_at;
    show(entry);
    var details = form.querySelector("details");
    if (details) { details.open = false; }
    timing.tapMs.push(performance.now() - tapped);
    requestAnimationFrame(function () { timing.paintMs.push(performance.now() - tapped); });
    lastTap = null;
    save(entry).then(status).then(function () { return flushing ? flushing.then(flush) : flush(); });
  });

  // ------------------------------------------------------------------ on the phone

  function keepPage() {  // the first visit is not yet the service worker's: keep this page and its files now
    var url = new URL(location.href);
    url.searchParams.delete("done");
    var kept = caches.open(PAGES).then(function (cache) {
      return fetch(url.href, {credentials: "same-origin"}).then(function (response) {
        return response.ok && !response.redirected ? cache.put(url.href, response) : null;
      });
    });
    var files = performance.getEntriesByType("resource").map(function (r) { return r.name; }).filter(function (name) {
      var path = new URL(name).pathname;
      return name.indexOf(location.origin + "/") === 0 && /^\/(static|vendor|streets)\/|^\/api\/streets$/.test(path);
    });
    var copied = caches.open(SHELL).then(function (cache) {
      return Promise.all(files.map(function (name) { return cache.add(name).catch(function () {}); }));
    });
    return Promise.all([kept, copied]);
  }

  var logout = document.querySelector("form[action='/logout']");
  if (logout) {
    logout.addEventListener("submit", function (event) {  // no user's page stays on the phone; the queue stays
      event.preventDefault();
      var done = function () { logout.submit(); };
      (window.caches ? caches.delete(PAGES) : Promise.resolve()).then(done, done);
    });
  }

  if ("serviceWorker" in navigator && window.caches) {
    var controlled = !!navigator.serviceWorker.controller;
    navigator.serviceWorker.register("/sw.js", {scope: "/today"}).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function () {
      return !controlled && navigator.onLine ? keepPage() : null;
    }).then(function () { box.dataset.offlineReady = "1"; }).catch(function () {});
  }

  window.addEventListener("online", flush);
  window.addEventListener("offline", status);
  setInterval(flush, 20000);
  entries().then(function (all) {
    var stale = all.filter(function (e) { return e.day !== day && e.state !== "waiting"; });
    stale.forEach(function (e) { forget(e.id); });
    all.filter(function (e) { return e.user === me && e.day === day; }).forEach(show);
  }).then(status).then(flush).catch(function () {});
})();
