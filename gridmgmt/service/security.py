"""Request safety: sliding-window rate limits, CSRF token checks, signed public-form tokens, headers.

Limits are kept in memory per process (one uvicorn worker per store is the deployment the
README describes); behind nginx the client address comes from ``X-Forwarded-For`` only when
``trust_proxy`` is set.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

#: sent with every response: no framing by others, no sniffing, scripts and styles only from the app
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; frame-ancestors 'self'; form-action 'self'; base-uri 'self'"
    ),
}


class RateLimiter:
    """At most ``limit`` hits per ``window_s`` seconds per key (thread-safe, in memory)."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Count a hit for ``key``; False when the key is over its limit (the hit is then not counted)."""
        now = time.monotonic()
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

    def blocked(self, key: str) -> bool:
        """Whether ``key`` is at its limit now (without counting a hit)."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.get(key)
            return bool(hits) and sum(1 for h in hits if h > now - self.window_s) >= self.limit

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
