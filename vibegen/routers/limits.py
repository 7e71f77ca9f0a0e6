"""Request-rate limits a router enforces on its account, held for all cells together.

One limiter per router instance (the runner keeps one instance per router), so every cell,
every retry and every poll of that router passes the same window. A 429 pauses the whole
limiter, not just the call that got it: the account is over its limit, not the cell.
In team mode the runner hands the adapter a factory of limiters kept in the database
(`vibegen.shared_limits`), so the window counts every worker's calls together.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

# Share of a documented limit we allow ourselves: clocks, other clients on the same key and
# the router's own counting (it sees arrivals, we see departures) need the slack.
MARGIN = 0.9


class Limiter(Protocol):
    """What an adapter asks of a limiter: a slot before a call, a pause after a 429."""

    hold_s: float

    def acquire(self, deadline: float | None = None) -> float:
        """Block until a slot is free (or `deadline`); return seconds waited."""
        ...

    def pause(self, seconds: float) -> None:
        """Hold every caller for `seconds`."""
        ...


# (bucket name such as "kie:submit", documented requests, window in seconds) → a limiter.
LimiterFactory = Callable[[str, int, float], Limiter]


def local_limiter(bucket: str, requests: int, window_s: float) -> Limiter:
    """A limiter held in this process (a little under the documented limit)."""
    return RateLimiter.with_margin(requests, window_s)


class RateLimiter:
    """At most `requests` acquisitions in any `window_s` seconds (sliding window)."""

    def __init__(self, requests: int, window_s: float) -> None:
        self.requests, self.window_s = max(1, requests), window_s
        # A slot is held a little past the window: our request reaches the router a few
        # milliseconds (more on a busy machine) after we count it, and the router counts
        # arrivals, so a slot freed on the dot would let a burst land inside its window.
        self.hold_s = window_s + max(0.1, 0.05 * window_s)
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self._paused_until = 0.0

    @classmethod
    def with_margin(cls, requests: int, window_s: float) -> RateLimiter:
        """A limiter a little under a documented limit (see MARGIN)."""
        return cls(int(requests * MARGIN), window_s)

    def acquire(self, deadline: float | None = None) -> float:
        """Block until a slot is free (or `deadline`, a monotonic time); return seconds waited.

        Returns early, without a slot, when the deadline comes first: the caller then finds
        its own deadline passed and says so.
        """
        waited = 0.0
        while True:
            with self._lock:
                t = time.monotonic()
                while self._times and t - self._times[0] >= self.hold_s:
                    self._times.popleft()
                pause = self._paused_until - t
                if pause <= 0 and len(self._times) < self.requests:
                    self._times.append(t)
                    return waited
                if pause <= 0:
                    pause = self.hold_s - (t - self._times[0])
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return waited
                pause = min(pause, left)
            time.sleep(max(pause, 0.001))
            waited += pause

    def pause(self, seconds: float) -> None:
        """Hold every caller for `seconds` (the router said 429)."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + max(seconds, 0.0))
