"""Request safety: sliding-window rate limits, CSRF token checks, signed public-form tokens, headers.

Limits are kept in memory per process (one uvicorn worker per store is the deployment the
README describes); behind nginx the client address comes from ``X-Forwarded-For`` only when
``trust_proxy`` is set.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections import defaultdict, deque

#: sent with every response: no framing by others, no sniffing (the CSP is per response: it carries a nonce)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
}
_SCRIPT_TAG_RE = re.compile(r"<script(?=[\s>])", re.IGNORECASE)


def content_security_policy(nonce: str) -> str:
    """Scripts only from the app's files or carrying this response's nonce: no inline handlers, no eval.

    Styles may stay inline (Leaflet and folium set ``style`` attributes); they cannot run script.
    """
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        f"script-src 'self' 'nonce-{nonce}'; object-src 'none'; frame-ancestors 'self'; form-action 'self'; "
        "base-uri 'self'"
    )


def with_script_nonce(page: str, nonce: str) -> str:
    """``page`` with ``nonce`` on every ``<script>`` element (for pages built whole, such as the folium maps).

    Only for HTML whose text values were escaped when it was built (:func:`gridmgmt.maps.escape.esc`),
    so every ``<script`` in it is the builder's own.
    """
    return _SCRIPT_TAG_RE.sub(f'<script nonce="{nonce}"', page)


class RateLimiter:
    """At most ``limit`` hits per ``window_s`` seconds per key (thread-safe, in memory)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count a hit for ``key``; False when the key is over its limit (the hit is then not counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 50_000:  # bound memory under a flood of addresses
                for stale in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s]:
                    del self._hits[stale]
            return True

    def blocked(self, key: str, now: float | None = None) -> bool:
        """Whether ``key`` is at its limit now (without counting a hit)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.get(key)
            if not hits:
                return False
            return sum(1 for h in hits if h > now - self.window_s) >= self.limit

    def reset(self, key: str) -> None:
        """Forget a key's hits (a successful login clears its failures)."""
        with self._lock:
            self._hits.pop(key, None)


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a submitted CSRF token with the session's."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


class FormSigner:
    """Signed, timed tokens for the public forms (no session there): CSRF and a minimum time on the page."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or secrets.token_bytes(32)

    def issue(self, now: float | None = None) -> str:
        """A token carrying the time the form was served."""
        stamp = f"{(now if now is not None else time.time()):.3f}"
        return f"{stamp}.{self._mac(stamp)}"

    def age_s(self, token: str | None, now: float | None = None) -> float | None:
        """Seconds since the token was issued; None when it is forged or malformed."""
        if not token or "." not in token:
            return None
        stamp, mac = token.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(stamp)):
            return None
        try:
            return (now if now is not None else time.time()) - float(stamp)
        except ValueError:
            return None

    def _mac(self, text: str) -> str:
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()[:32]


class LoginGuard:
    """Failed logins slow down one account from one address, never lock an account for everyone.

    Each (user name, address) pair gets ``free_failures`` quick tries; after that each further try
    waits twice as long as the one before (1 s, 2 s, 4 s, ... at most ``max_wait_s``), counted from
    the last failure. The right password from another address is never held up. An address
    failing more than ``address_failures`` times within ``window_s`` over any accounts waits out
    the window (password spraying). A pair's failures are forgotten after ``forget_s`` without one.
    """

    def __init__(
        self,
        free_failures: int = 10,
        max_wait_s: float = 300.0,
        address_failures: int = 50,
        window_s: float = 300.0,
        forget_s: float = 3600.0,
    ) -> None:
        self.free_failures = free_failures
        self.max_wait_s = max_wait_s
        self.forget_s = forget_s
        self.address_limit = RateLimiter(address_failures, window_s)
        self._pairs: dict[tuple[str, str], tuple[int, float]] = {}  # (name, address) -> (failures, last)
        self._lock = threading.Lock()

    def wait_s(self, username: str, address: str, now: float | None = None) -> float:
        """Seconds this pair must wait before its next try (0: try now)."""
        now = time.monotonic() if now is None else now
        if self.address_limit.blocked(address, now):
            return self.address_limit.window_s
        with self._lock:
            failures, last = self._pairs.get((username, address), (0, now))
        if failures < self.free_failures or now - last >= self.forget_s:
            return 0.0
        delay = min(self.max_wait_s, 2.0 ** (failures - self.free_failures))
        return max(0.0, last + delay - now)

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        """Count a wrong password of this pair (and of the address)."""
        now = time.monotonic() if now is None else now
        self.address_limit.hit(address, now)
        with self._lock:
            failures, last = self._pairs.get((username, address), (0, now))
            self._pairs[(username, address)] = (1 if now - last >= self.forget_s else failures + 1, now)
            if len(self._pairs) > 50_000:  # bound memory under a flood of names and addresses
                for stale in [k for k, (_n, t) in self._pairs.items() if now - t >= self.forget_s]:
                    del self._pairs[stale]

    def succeeded(self, username: str, address: str) -> None:
        """A right password clears the pair's failures."""
        with self._lock:
            self._pairs.pop((username, address), None)


class AuditThrottle:
    """Refusals nobody logged in for (401, 429) are audited at most once per ``window_s`` per key.

    A flood of unauthenticated requests would otherwise write one row each (200 rows in 0.9 s).
    :meth:`admit` says whether to write this one and how many like it were left out since the last
    written row of the key, so the row written can say so; at most ``limit`` such rows are written
    per window over all keys.
    """

    def __init__(self, window_s: float = 60.0, limit: int = 600) -> None:
        self.window_s = window_s
        self.limit = RateLimiter(limit, window_s)
        self._keys: dict[str, tuple[float, int]] = {}  # key -> (last written, left out since)
        self._lock = threading.Lock()

    def admit(self, key: str, now: float | None = None) -> int | None:
        """None: leave this one out (counted); else write it, noting the returned count left out before it."""
        now = time.monotonic() if now is None else now
        with self._lock:
            last, left_out = self._keys.get(key, (float("-inf"), 0))
            if now - last < self.window_s or not self.limit.hit("all", now):
                self._keys[key] = (last, left_out + 1)
                return None
            self._keys[key] = (now, 0)
            if len(self._keys) > 50_000:
                for stale in [k for k, (t, n) in self._keys.items() if now - t >= self.window_s and not n]:
                    del self._keys[stale]
            return left_out


_PATH_RE = re.compile(r"(?:[A-Za-z]:\\|/)(?:[\w.@~+-]+[/\\])+[\w.@~+-]*")


def scrub_paths(text: str, known: tuple[str, ...] = ()) -> str:
    """``text`` without server file paths: each ``known`` path (the store, the district folder) and any
    absolute path whose folder exists on this server become ``…``. URL paths such as ``/api/events``
    stay (no such folder)."""
    for path in sorted((p for p in known if len(p) > 1 and ("/" in p or "\\" in p)), key=len, reverse=True):
        text = text.replace(path, "…")

    def hide(match: re.Match[str]) -> str:
        found = match.group(0)
        folder = os.path.dirname(found.rstrip("/\\")) or found
        return "…" if os.path.isdir(folder) and folder not in ("/", "") else found

    return _PATH_RE.sub(hide, text)
