"""Request safety: sliding-window rate limits, CSRF token checks, signed public-form tokens, headers.

What the limits count lives in a :class:`Tally`: :class:`MemoryTally` (one process) or the
store's (:class:`gridmgmt.store.service_state.StoreTally`), which the web app uses so every
worker of ``serve --workers N`` sees the same counts. Times are Unix seconds. Behind nginx the
client address comes from ``X-Forwarded-For`` only when ``trust_proxy`` is set.
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
from typing import Protocol

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


class Tally(Protocol):
    """Where rate limits and login failures are counted; each method is one atomic step."""

    def add_hit(self, key: str, now_s: float, *, limit: int, window_s: float) -> bool:
        """Count a hit of ``key`` unless it has ``limit`` hits within ``window_s`` before ``now_s`` (then False)."""
        ...

    def hits(self, key: str, now_s: float, window_s: float) -> int:
        """Hits of ``key`` within ``window_s`` before ``now_s``."""
        ...

    def failures(self, username: str, address: str) -> tuple[int, float] | None:
        """A pair's failed logins and the time of the last one, or None."""
        ...

    def add_failure(self, username: str, address: str, now_s: float, *, forget_s: float) -> None:
        """One more failure of the pair (the first again when its last is ``forget_s`` old)."""
        ...

    def clear_failures(self, username: str, address: str) -> None:
        """Forget a pair's failures."""
        ...


class MemoryTally:
    """A :class:`Tally` in this process's memory (thread-safe, bounded under a flood of keys)."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._pairs: dict[tuple[str, str], tuple[int, float]] = {}  # (name, address) -> (failures, last)
        self._lock = threading.Lock()

    def add_hit(self, key: str, now_s: float, *, limit: int, window_s: float) -> bool:
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now_s - window_s:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now_s)
            if len(self._hits) > 50_000:  # bound memory under a flood of addresses
                for stale in [k for k, v in self._hits.items() if not v or v[-1] <= now_s - window_s]:
                    del self._hits[stale]
            return True

    def hits(self, key: str, now_s: float, window_s: float) -> int:
        with self._lock:
            return sum(1 for h in self._hits.get(key, ()) if h > now_s - window_s)

    def failures(self, username: str, address: str) -> tuple[int, float] | None:
        with self._lock:
            return self._pairs.get((username, address))

    def add_failure(self, username: str, address: str, now_s: float, *, forget_s: float) -> None:
        with self._lock:
            failures, last = self._pairs.get((username, address), (0, now_s))
            self._pairs[(username, address)] = (1 if now_s - last >= forget_s else failures + 1, now_s)
            if len(self._pairs) > 50_000:  # bound memory under a flood of names and addresses
                for stale in [k for k, (_n, t) in self._pairs.items() if now_s - t >= forget_s]:
                    del self._pairs[stale]

    def clear_failures(self, username: str, address: str) -> None:
        with self._lock:
            self._pairs.pop((username, address), None)


class RateLimiter:
    """At most ``limit`` hits per ``window_s`` seconds per key, counted in ``tally`` (default: this process).

    ``name`` keeps the keys of different limits apart in a shared tally.
    """

    def __init__(self, limit: int, window_s: float, *, tally: Tally | None = None, name: str = "") -> None:
        self.limit = limit
        self.window_s = window_s
        self.tally: Tally = tally or MemoryTally()
        self.name = name

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count a hit for ``key``; False when the key is over its limit (the hit is then not counted)."""
        now = time.time() if now is None else now
        return self.tally.add_hit(f"{self.name}:{key}", now, limit=self.limit, window_s=self.window_s)

    def blocked(self, key: str, now: float | None = None) -> bool:
        """Whether ``key`` is at its limit now (without counting a hit)."""
        now = time.time() if now is None else now
        return self.tally.hits(f"{self.name}:{key}", now, self.window_s) >= self.limit


def same_token(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a submitted CSRF token with the session's."""
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


class FormSigner:
    """Signed, timed tokens for the public forms (no session there): CSRF and a minimum time on the page.

    The app signs with the store's secret, so a form one worker served is accepted by every other.
    """

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
        if not hmac.compare_digest(mac.encode(), self._mac(stamp).encode()):
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
    Counted in ``tally`` (default: this process's memory).
    """

    def __init__(
        self,
        free_failures: int = 10,
        max_wait_s: float = 300.0,
        address_failures: int = 50,
        window_s: float = 300.0,
        forget_s: float = 3600.0,
        tally: Tally | None = None,
    ) -> None:
        self.free_failures = free_failures
        self.max_wait_s = max_wait_s
        self.forget_s = forget_s
        self.tally: Tally = tally or MemoryTally()
        self.address_limit = RateLimiter(address_failures, window_s, tally=self.tally, name="login")

    def wait_s(self, username: str, address: str, now: float | None = None) -> float:
        """Seconds this pair must wait before its next try (0: try now)."""
        now = time.time() if now is None else now
        if self.address_limit.blocked(address, now):
            return self.address_limit.window_s
        failures, last = self.tally.failures(username, address) or (0, now)
        if failures < self.free_failures or now - last >= self.forget_s:
            return 0.0
        delay = min(self.max_wait_s, 2.0 ** (failures - self.free_failures))
        return max(0.0, last + delay - now)

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        """Count a wrong password of this pair (and of the address)."""
        now = time.time() if now is None else now
        self.address_limit.hit(address, now)
        self.tally.add_failure(username, address, now, forget_s=self.forget_s)

    def succeeded(self, username: str, address: str) -> None:
        """A right password clears the pair's failures."""
        self.tally.clear_failures(username, address)


class AuditThrottle:
    """Refusals nobody logged in for (401, 429) are audited at most once per ``window_s`` per key.

    A flood of unauthenticated requests would otherwise write one row each (200 rows in 0.9 s).
    :meth:`admit` says whether to write this one and how many like it were left out since the last
    written row of the key, so the row written can say so; at most ``limit`` such rows are written
    per window over all keys. Kept in each process's memory (a write to the store per refusal is
    what it saves): with ``serve --workers N`` a key gets at most N rows per window.
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
