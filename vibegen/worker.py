"""A queue worker: takes cells off the team's job queue and runs them on this process's Runner.

Contract:
- `Worker(runner)` declares one pgqueuer entrypoint per router in its catalog, each with the
  router's `cells_at_once` limit (held across all workers by pgqueuer, in SQL), and runs up
  to `VIBEGEN_WORKER_SLOTS` cells at once in threads (cells mostly wait on routers).
- Each job is one cell: `Runner.run_queued` claims it under a lease in the store and runs
  it, or resumes its paid job by the request id saved in the store. pgqueuer keeps a
  heartbeat on every job it hands out; a worker that dies (SIGKILL, a lost machine) stops
  beating, and after `VIBEGEN_WORKER_HEARTBEAT_S` (default 10 s) another worker's next look
  at the queue (every POLL_S) takes the job over: within heartbeat + POLL_S seconds (+
  LEASE_SLACK), resumed, never bought twice.
- The store's lease, not pgqueuer's heartbeat, decides who may buy: it lasts
  `VIBEGEN_WORKER_HEARTBEAT_S`, renewed here every third of that. A job re-picked while its
  lease is live goes back to the queue until the lease lapses (LeaseHeld). A worker that was
  only late (stopped, paused, cut off) finds at its next renewal or at its fence before a
  paid call that its claim is gone: it submits nothing, writes nothing for the cell and
  hands the job back (LeaseLost).
- A database that cannot be reached (at start or later) is retried with backoff and said in
  the log each time; jobs already running keep running.
- `stop()` (SIGTERM for `vibegen worker`): no new jobs; the cells held get
  `VIBEGEN_WORKER_GRACE_S` to finish; those still running then are handed back to the queue
  at once (pgqueuer's retry), their leases ended and fenced here, for another worker to
  resume by their saved request ids.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from vibegen.errors import LeaseHeld, LeaseLost, StoreError
from vibegen.jobqueue import entrypoint, install
from vibegen.settings import Settings

if TYPE_CHECKING:
    from pgqueuer.models import Job
    from pgqueuer.qm import QueueManager

    from vibegen.runner import Runner

log = logging.getLogger("vibegen.worker")
# Every worker this process is running (`stop_all`).
_RUNNING: weakref.WeakSet[Worker] = weakref.WeakSet()

POLL_S = 2.0  # how often an idle worker looks for jobs whose worker stopped beating
RETRY_MAX_S = 30.0  # the longest pause between two tries to reach the database
# A cell whose store refused its claim goes back to the queue for this long.
STORE_RETRY = timedelta(seconds=2)
# A cell another worker's live lease holds is looked at again this long after it lapses.
LEASE_SLACK = timedelta(seconds=0.2)


class Worker:
    """Runs queued cells in this process until stopped."""

    def __init__(self, runner: Runner) -> None:
        if runner.queue is None:
            raise ValueError("a worker needs a runner on a PostgreSQL store (team mode)")
        self.runner = runner
        settings = Settings.from_environ(runner.env)
        self.slots = settings.worker_slots
        self.heartbeat = timedelta(seconds=settings.worker_heartbeat_s)
        self.grace_s = settings.worker_grace_s
        self.url = runner.queue.url
        from vibegen.runner import cells_at_once  # the runner imports this module

        self.limits = {
            entrypoint(name): cells_at_once(name, spec, runner.env)
            for name, spec in runner.catalog.routers.items()
        }
        self._threads = ThreadPoolExecutor(self.slots, thread_name_prefix="vibegen-cell")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._handback: asyncio.Event | None = None
        self._qm: QueueManager | None = None
        self._held = 0
        self.handed_back = 0
        self.ready = threading.Event()  # set once connected and listening (tests, logs)
        self._thread: threading.Thread | None = None
        self._stop_asked: float | None = None  # a stop asked before the loop ran
        self._control = threading.Lock()  # a stop and the loop's start: one after the other

    # ------------------------------------------------------------------ control
    def run(self) -> None:
        """Run in the calling thread until `stop()` (the `vibegen worker` command)."""
        _RUNNING.add(self)
        try:
            asyncio.run(self._main())
        finally:
            _RUNNING.discard(self)

    def start(self) -> threading.Thread:
        """Run in a daemon thread (the app's embedded worker); return the thread."""
        self._thread = threading.Thread(target=self.run, name="vibegen-worker", daemon=True)
        _RUNNING.add(self)  # before it runs: a stop_all meanwhile must see it
        self._thread.start()
        return self._thread

    def join(self, timeout: float) -> bool:
        """Wait for a started worker's thread to end; whether it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self, grace_s: float | None = None) -> None:
        """Take no new jobs; hand back what is still running after `grace_s` (default: the
        setting; `math.inf`: never, let every held cell finish). Safe from any thread."""
        grace = self.grace_s if grace_s is None else grace_s
        with self._control:
            loop = self._loop
            if loop is None:
                self._stop_asked = grace  # the loop starts stopped
                return
        if loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._begin_stop, grace)
        except RuntimeError:  # the loop closed meanwhile: nothing is held
            pass

    @property
    def held(self) -> int:
        """Cells this worker is running now."""
        return self._held

    # --------------------------------------------------------------------- loop
    def _begin_stop(self, grace_s: float) -> None:
        assert self._stopping is not None and self._handback is not None
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._qm is not None:
            self._qm.shutdown.set()
        log.info(
            "worker %s stopping: %d cell(s) held get %.0f s to finish",
            self.runner.id,
            self._held,
            grace_s,
        )
        if math.isfinite(grace_s):
            asyncio.get_running_loop().call_later(grace_s, self._handback.set)

    async def _main(self) -> None:
        self._stopping, self._handback = asyncio.Event(), asyncio.Event()
        with self._control:
            self._loop = asyncio.get_running_loop()
            if self._stop_asked is not None:
                self._begin_stop(self._stop_asked)
        renewing = asyncio.create_task(self._renew())
        pause = 1.0
        while not self._stopping.is_set():
            try:
                await self._serve()
                pause = 1.0
            except Exception as exc:  # the database unreachable, dropped or refusing
                self.ready.clear()
                if self._stopping.is_set():
                    break
                if _unreachable(exc):
                    log.warning(
                        "worker %s cannot reach the database (%s); retrying in %.0f s",
                        self.runner.id,
                        _first_line(exc),
                        pause,
                    )
                else:  # not the network: say what it was, with its traceback, and go on
                    log.exception(
                        "worker %s stopped serving the queue (%s); retrying in %.0f s",
                        self.runner.id,
                        _first_line(exc),
                        pause,
                    )
                try:
                    await asyncio.wait_for(self._stopping.wait(), pause)
                except TimeoutError:
                    pass
                pause = min(RETRY_MAX_S, pause * 2)
        renewing.cancel()
        self._threads.shutdown(wait=False)

    async def _renew(self) -> None:
        """Renew the leases of the cells held here, every third of a lease, until the loop
        ends (also while the database is away: a lapsed lease fences its cell)."""
        every = self.runner.lease_s / 3
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.runner.renew_leases)
            except StoreError as exc:  # their fence refuses to submit once they lapse
                log.warning("worker %s could not renew its leases: %s", self.runner.id, exc)

    async def _serve(self) -> None:
        import asyncpg
        from pgqueuer.db import AsyncpgPoolDriver
        from pgqueuer.qm import QueueManager
        from pgqueuer.queries import Queries

        # asyncpg's pool, not one psycopg connection: psycopg holds its connection while it
        # waits for a NOTIFY (up to a second), so every dequeue and heartbeat queued behind
        # it and slots sat idle; asyncpg's listener is a connection of its own.
        # The queue's own writes (dequeue, heartbeats, job logs) commit without waiting for
        # the WAL to reach the disk: on a shared disk a commit's fsync took up to 380 ms, twice
        # on every job's way to its worker. A PostgreSQL crash may forget the last ~0.6 s of
        # them, which only makes a job look queued or stale again; the store (synchronous
        # commits) decides who runs a cell, and its claim's commit flushes this WAL first.
        pool = await asyncpg.create_pool(
            self.url,
            min_size=2,
            max_size=8,
            timeout=10,
            server_settings={"synchronous_commit": "off"},
        )
        try:
            await asyncio.to_thread(self._install)
            qm = QueueManager(Queries(AsyncpgPoolDriver(pool)))
            for name, limit in self.limits.items():
                qm.entrypoint(name, concurrency_limit=limit)(self._handle)
            self._qm = qm
            log.info(
                "worker %s ready: %d slots; limits %s",
                self.runner.id,
                self.slots,
                ", ".join(f"{k.removeprefix('cell.')} {v}" for k, v in self.limits.items()),
            )
            self.ready.set()
            assert self._stopping is not None
            if self._stopping.is_set():
                return
            await qm.run(
                dequeue_timeout=timedelta(seconds=POLL_S),
                batch_size=max(1, min(10, self.slots // 2)),
                max_concurrent_tasks=self.slots,
                heartbeat_timeout=self.heartbeat,
            )
        finally:
            self._qm = None
            await pool.close()

    def _install(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            install(conn)

    async def _handle(self, job: Job) -> None:
        """One cell: run it in a thread; hand it back if the worker must stop first."""
        from pgqueuer.errors import RetryRequested

        assert self._handback is not None
        cell_id = (job.payload or b"").decode()
        loop = asyncio.get_running_loop()
        self._held += 1
        work: asyncio.Future[Any] = loop.run_in_executor(
            self._threads, self.runner.run_queued, cell_id
        )
        handback: asyncio.Future[Any] = asyncio.ensure_future(self._handback.wait())
        try:
            done, _ = await asyncio.wait({work, handback}, return_when=asyncio.FIRST_COMPLETED)
            if work in done:
                try:
                    work.result()
                except StoreError as exc:  # the claim was refused: try again shortly
                    raise RetryRequested(STORE_RETRY, f"the store refused: {exc}") from exc
                except LeaseHeld as exc:  # a live worker holds it: look again when it lapses
                    wait = timedelta(seconds=exc.wait_s) + LEASE_SLACK
                    raise RetryRequested(wait, str(exc)) from exc
                except LeaseLost as exc:  # this worker was late: nothing bought, job back
                    log.warning("worker %s: %s; handing it back", self.runner.id, exc)
                    delay = STORE_RETRY if exc.handback else timedelta(0)
                    raise RetryRequested(delay, str(exc)) from exc
                return
            self.handed_back += 1
            log.info("worker %s hands cell %s back to the queue", self.runner.id, cell_id)
            # Fenced here and its lease ended: the next worker takes it at once, and this
            # process's thread (still following its job) submits and writes nothing more.
            await asyncio.to_thread(self.runner.release, cell_id)
            raise RetryRequested(timedelta(0), "handed back: the worker is stopping")
        finally:
            handback.cancel()
            self._held -= 1


def _unreachable(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached or dropped us (not a bug)."""
    import asyncpg
    import psycopg

    return isinstance(
        exc, OSError | TimeoutError | psycopg.OperationalError | asyncpg.PostgresConnectionError
    ) or isinstance(exc, asyncpg.InterfaceError | asyncpg.AdminShutdownError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def stop_all(grace_s: float = 0.0, timeout: float = 10.0) -> None:
    """Stop every worker this process runs, handing back what they hold after `grace_s`,
    and wait up to `timeout` for each (a test moving to a fresh database)."""
    workers = list(_RUNNING)
    for worker in workers:
        worker.stop(grace_s)
    for worker in workers:
        worker.join(timeout)
