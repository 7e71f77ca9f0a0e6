"""Team mode's job queue: every cell a job on PostgreSQL, taken by any worker that reaches it.

Contract:
- The queue is pgqueuer's (its own tables, created in the store's database on first use):
  one job per cell, payload the cell id, dedupe key the cell id (a cell already queued or
  running is never queued twice), entrypoint `cell.<router>`. Nothing of the queue itself is
  written here: this module only names jobs and the limits workers declare.
- Per-router limits: a router's entrypoint carries `vibegen.runner.cells_at_once` as its
  concurrency limit, which pgqueuer enforces in SQL across every worker together.
- `JobQueue.put` is synchronous (the app and the command line call it from plain threads);
  workers (`vibegen.worker`) dequeue with pgqueuer's asyncio QueueManager.
- The SQLite store has no queue: its runner keeps the in-process pools (`vibegen.runner`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlalchemy as sa

from vibegen.errors import StoreError

if TYPE_CHECKING:
    import psycopg

    from vibegen.records import Cell

log = logging.getLogger("vibegen.jobqueue")

ENTRYPOINT_PREFIX = "cell."
_INSTALL_LOCK = 72317  # advisory lock key: one process creates the queue's tables


def entrypoint(router: str) -> str:
    """The queue entrypoint of a router's cells: "cell.fal"."""
    return f"{ENTRYPOINT_PREFIX}{router}"


def load_pgqueuer() -> None:
    """Import pgqueuer here, in the thread that makes the queue, before any worker thread:
    two threads importing it for the first time at once meet its modules half-initialised."""
    import pgqueuer.adapters.drivers.psycopg  # noqa: F401
    import pgqueuer.adapters.persistence.qb  # noqa: F401
    import pgqueuer.db  # noqa: F401
    import pgqueuer.errors  # noqa: F401
    import pgqueuer.qm  # noqa: F401
    import pgqueuer.queries  # noqa: F401


def conninfo(url: sa.URL | str) -> str:
    """A libpq URL for psycopg from the store's SQLAlchemy URL (password kept)."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def install(conn: psycopg.Connection) -> None:
    """Create pgqueuer's tables in this database unless they exist (one process at a time)."""
    from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment

    qbe = QueryBuilderEnvironment()
    table = qbe.settings.qualified.queue_table
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_INSTALL_LOCK,))
        found = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if found is None or found[0] is None:
            conn.execute(qbe.build_install_query(create_schema=False))
            log.info("created the job queue's tables (pgqueuer) in the store's database")


class JobQueue:
    """Puts cells on the queue from synchronous code, over one reconnecting connection."""

    def __init__(self, url: sa.URL | str) -> None:
        load_pgqueuer()
        self.url = conninfo(url)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None

    def put(self, cells: Sequence[Cell], priorities: Sequence[int] | None = None) -> int:
        """Queue one job per cell (a cell already queued is skipped); return how many."""
        if not cells:
            return 0
        prio = list(priorities) if priorities is not None else [0] * len(cells)
        with self._lock:
            for attempt in (1, 2):  # a connection the server dropped is opened once more
                try:
                    queries = self._queries()
                    ids = queries.enqueue(
                        [entrypoint(c.router) for c in cells],
                        [c.id.encode() for c in cells],
                        prio,
                        dedupe_key=[c.id for c in cells],
                        on_conflict="skip",
                    )
                    return sum(i is not None for i in ids)
                except Exception as exc:  # psycopg's errors: the connection or the server
                    self._drop()
                    if attempt == 2:
                        raise StoreError(f"cannot queue the cells: {_first_line(exc)}") from exc
        return 0

    def close(self) -> None:
        """Close the connection (a later put opens another)."""
        with self._lock:
            self._drop()

    def _queries(self):
        import psycopg
        from pgqueuer.adapters.drivers.psycopg import SyncPsycopgDriver
        from pgqueuer.queries import SyncQueries

        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            install(conn)
            self._conn = conn
        return SyncQueries(SyncPsycopgDriver(self._conn))

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a broken connection: nothing left to do
                pass
        self._conn = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
