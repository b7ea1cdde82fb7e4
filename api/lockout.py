"""Failed authentication counted per client address: rotating bad tokens cannot be tried without limit.

The request limiter keys on the token as presented, so every new guess had a fresh budget. This counts failed
authentications per address in a sliding window (in memory, per worker process, like the limiter); an address
with ``max_failures`` within ``window_seconds`` is refused with 429 and ``Retry-After`` until its oldest failure
leaves the window, whatever token it presents. Behind the reverse proxy the README asks for, the address is the
client's only when the proxy is trusted (``SUGGEST_TRUSTED_PROXIES``, werkzeug's ProxyFix; off by default).
"""

from __future__ import annotations

import threading
import time
from collections import deque


class FailedAuthLockout:
    """Sliding-window count of failed authentications per client address."""

    def __init__(self, max_failures: int, window_seconds: float, max_addresses: int = 100_000):
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.max_addresses = max_addresses
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and now - times[0] >= self.window_seconds:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def retry_after(self, address: str, now: float | None = None) -> int | None:
        """Seconds until ``address`` may try again, or None when it is not locked out."""
        if self.max_failures <= 0:
            return None
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._recent(address, now)
            if times is None or len(times) < self.max_failures:
                return None
            return max(1, int(self.window_seconds - (now - times[0])) + 1)

    def record_failure(self, address: str, now: float | None = None) -> None:
        """Count one failed authentication from ``address``."""
        if self.max_failures <= 0:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._recent(address, now)
            if times is None:
                if len(self._failures) >= self.max_addresses:  # bounded memory: forget the oldest address
                    self._failures.pop(next(iter(self._failures)))
                times = self._failures[address] = deque()
            times.append(now)
