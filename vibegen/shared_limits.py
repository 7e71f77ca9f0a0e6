"""Request-rate limits held in PostgreSQL, so every worker of a team counts one window.

Contract:
- `SharedRateLimiter` has `RateLimiter`'s interface (`acquire`, `pause`, `hold_s`) and its
  sliding window, but the window is the `rate_marks` table: a slot is taken by inserting a
  row, under a transaction-scoped advisory lock per bucket, so two workers never both take
  the last slot. The database clock decides what "the last 10 s" is.
- `shared_limiters(engine)` is the factory a router adapter takes (`limits=`): one limiter
  per bucket ("kie:submit", "kie:poll").
- A database that cannot be reached makes `acquire` wait and try again (logged), never call
  the router uncounted.
"""

from __future__ import annotations

import logging
import time
import zlib

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from vibegen.routers.limits import MARGIN, Limiter, LimiterFactory

log = logging.getLogger("vibegen.shared_limits")

_NOW = sa.text("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8")
# The first failures are retried quickly; a database that stays away is asked every few s.
RETRY_S = 1.0


class SharedRateLimiter:
    """At most `requests` acquisitions in any `window_s` seconds, across every process."""

    def __init__(self, engine: Engine, bucket: str, requests: int, window_s: float) -> None:
        self.engine, self.bucket = engine, bucket
        self.requests, self.window_s = max(1, requests), window_s
        # As RateLimiter: a slot is held a little past the window (the router counts arrivals).
        self.hold_s = window_s + max(0.1, 0.05 * window_s)
        self._key = zlib.crc32(f"vibegen-rate:{bucket}".encode()) & 0x7FFFFFFF
        md = sa.MetaData()
        self._marks = sa.Table("rate_marks", md, autoload_with=engine)
        self._pauses = sa.Table("rate_pauses", md, autoload_with=engine)

    def acquire(self, deadline: float | None = None) -> float:
        """Block until a slot is free (or `deadline`, a monotonic time); return seconds waited."""
        waited = 0.0
        while True:
            try:
                pause = self._try_take()
            except SQLAlchemyError as exc:
                log.warning("rate limit %s: the database did not answer (%s)", self.bucket, exc)
                pause = RETRY_S
            if pause <= 0:
                return waited
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return waited
                pause = min(pause, left)
            time.sleep(max(pause, 0.001))
            waited += pause

    def _try_take(self) -> float:
        """Take a slot (0.0) or say how long until one may be free."""
        marks, pauses = self._marks, self._pauses
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._key})
            now = float(conn.execute(_NOW).scalar_one())
            conn.execute(
                marks.delete().where(marks.c.bucket == self.bucket, marks.c.at <= now - self.hold_s)
            )
            until = conn.execute(
                sa.select(pauses.c.until).where(pauses.c.bucket == self.bucket)
            ).scalar()
            if until is not None and until > now:
                return until - now
            count, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(marks.c.at)).where(
                    marks.c.bucket == self.bucket
                )
            ).one()
            if count < self.requests:
                conn.execute(marks.insert().values(bucket=self.bucket, at=now))
                return 0.0
            return max(0.001, oldest + self.hold_s - now)

    def pause(self, seconds: float) -> None:
        """Hold every caller, in every process, for `seconds` (the router said 429)."""
        pauses = self._pauses
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._key})
                now = float(conn.execute(_NOW).scalar_one())
                until = now + max(seconds, 0.0)
                done = conn.execute(
                    pauses.update()
                    .where(pauses.c.bucket == self.bucket, pauses.c.until < until)
                    .values(until=until)
                ).rowcount
                if (
                    not done
                    and not conn.execute(
                        sa.select(pauses.c.bucket).where(pauses.c.bucket == self.bucket)
                    ).first()
                ):
                    conn.execute(pauses.insert().values(bucket=self.bucket, until=until))
        except SQLAlchemyError as exc:  # the next acquire still counts the window
            log.warning("rate limit %s: could not record a pause (%s)", self.bucket, exc)


def shared_limiters(engine: Engine) -> LimiterFactory:
    """The factory a router takes as `limits=`: database-held windows, a little under the
    documented limit (the same margin as the in-process limiter)."""

    def make(bucket: str, requests: int, window_s: float) -> Limiter:
        return SharedRateLimiter(engine, bucket, int(requests * MARGIN), window_s)

    return make
