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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
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
    """At most `requests` calls in any `window_s` seconds (sliding window), counted the way
    the router counts them: a call holds its slot from before it leaves until a window after
    its answer came back, because it reached the router at some moment in between."""

    def __init__(self, requests: int, window_s: float) -> None:
        self.requests, self.window_s = max(1, requests), window_s
        # A slot is held a little past the window even after the answer: clocks differ, and
        # the router may stamp an arrival a little after it answered.
        self.hold_s = window_s + max(0.1, 0.05 * window_s)
        self._times: deque[float] = deque()  # when each finished call's answer came back
        self._in_flight = 0  # calls sent (or about to be) and not yet answered
        self._free = threading.Condition()
        self._paused_until = 0.0

    @classmethod
    def with_margin(cls, requests: int, window_s: float) -> RateLimiter:
        """A limiter a little under a documented limit (see MARGIN)."""
        return cls(int(requests * MARGIN), window_s)

    def _take(self, deadline: float | None) -> tuple[float, bool]:
        """Wait for a free slot and hold it: (seconds waited, whether a slot was taken)."""
        start = time.monotonic()
        with self._free:
            while True:
                t = time.monotonic()
                while self._times and t - self._times[0] >= self.hold_s:
                    self._times.popleft()
                pause: float | None = self._paused_until - t
                if pause is not None and pause <= 0:
                    if len(self._times) + self._in_flight < self.requests:
                        self._in_flight += 1
                        return t - start, True
                    # full: the oldest answer's slot frees first, else the next answer
                    pause = self.hold_s - (t - self._times[0]) if self._times else None
                if deadline is not None:
                    left = deadline - t
                    if left <= 0:
                        return t - start, False
                    pause = left if pause is None else min(pause, left)
                self._free.wait(None if pause is None else max(pause, 0.001))

    def _release(self) -> None:
        """The held call is answered: its slot counts from now for one window."""
        with self._free:
            self._in_flight -= 1
            self._times.append(time.monotonic())
            self._free.notify_all()

    @contextmanager
    def slot(self, deadline: float | None = None) -> Iterator[float]:
        """Hold a slot for the call made inside the block; yields the seconds waited.

        At the deadline the block runs without a slot: the caller then finds its own deadline
        passed and says so.
        """
        waited, held = self._take(deadline)
        try:
            yield waited
        finally:
            if held:
                self._release()

    def acquire(self, deadline: float | None = None) -> float:
        """Take a slot for a call that counts from now (as `slot` around an instant call)."""
        with self.slot(deadline) as waited:
            return waited

    def pause(self, seconds: float) -> None:
        """Hold every caller for `seconds` (the router said 429)."""
        with self._free:
            self._paused_until = max(self._paused_until, time.monotonic() + max(seconds, 0.0))
            self._free.notify_all()


def held(limiter: Limiter | None, deadline: float | None) -> AbstractContextManager[float]:
    """A slot of `limiter` for the call made inside the block: held until its answer where the
    limiter can (`RateLimiter.slot`), else taken at the start (a team's shared limiter);
    nothing to hold where the router has no such limit."""
    if limiter is None:
        return nullcontext(0.0)
    if isinstance(limiter, RateLimiter):
        return limiter.slot(deadline)
    return nullcontext(limiter.acquire(deadline))
