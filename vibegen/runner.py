"""The process-wide background runner: fan a prompt out to many models, save each result at once.

Contract:
- `start_run` validates, stores the run with one pending cell per (model, image), hands the
  cells to worker threads and returns the run id at once. The paid calls never run inside a
  Streamlit script run, so clicks, page switches and reloads cannot cancel them.
- Each router has its own worker pool. A router that queues jobs itself (fal's queue API)
  gets every cell at once: its queue, not ours, holds the account to what it may run. Any
  other router's pool is sized by its concurrency limit (catalog, overridable), so excess
  cells wait here instead of being refused. Account rate limits (Kie: 20 new tasks per 10 s,
  its polls) are held by the router adapter for all cells together.
- A cell's wall time runs from the call to the router until its image bytes are in hand.
- Money: a cell never has a second paid job while the first may still run. The job handle is
  saved when the router accepts it; failures after that are retried on the same job by the
  adapter. Only failures before any job exists (a refused submit: 429, 5xx) are retried here.
  A job left open (timeout, lost download, crash) is followed again by "retry" or a restart.
- Every outcome, success or failure, is saved to the store the moment it is known; a failing
  model never affects another cell, and an adapter bug becomes a stored error, not a crash.
- A write the store refuses (disk full, database locked) is tried again, then kept in memory
  by `vibegen.unsaved` and written as soon as the store can: the run completes, the cell is
  stored as failed (`store_unavailable`) and Retry is offered; an image already in hand is
  saved late rather than bought again.
- A heartbeat marks this process alive; cells left pending or running by a process that died
  are marked "interrupted" so they never show as running forever.
- Team mode (a PostgreSQL store): `submit` puts each cell on the job queue
  (`vibegen.jobqueue`, pgqueuer) instead of this process's pools, and any worker
  (`vibegen.worker`: the app's embedded one unless VIBEGEN_EMBEDDED_WORKER=off, or
  `vibegen worker` anywhere) runs it through `run_queued`. Per-router limits then hold for
  all workers together: cells at once per router in the queue, request rates (Kie's new
  tasks per 10 s) in the database (`vibegen.shared_limits`). A dead worker's cells are the
  queue's to hand to another worker, which resumes their saved paid jobs; the "interrupted"
  sweep is for the in-process pools only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vibegen import budget, costs, images
from vibegen.catalog import Catalog, Model, default_catalog
from vibegen.costs import Cost
from vibegen.errors import (
    STORE_UNAVAILABLE,
    InputError,
    LeaseLost,
    RouterError,
    RouterTimeout,
    RouterValidationError,
    StoreError,
    UnknownModelError,
)
from vibegen.jobqueue import JobQueue
from vibegen.keys import redact, secret_values
from vibegen.params import CommonParams, map_params
from vibegen.records import FINISHED, Cell, CellSpec, new_id, simulated_router
from vibegen.routers import Router, build_router, router_status
from vibegen.routers.base import GenerationRequest
from vibegen.settings import Settings
from vibegen.typed import check_text
from vibegen.unsaved import REASON, Keeper, Outcome, SavePolicy

if TYPE_CHECKING:  # the store is passed in; only its type is named here
    from vibegen.catalog import RouterSpec
    from vibegen.store import Store
    from vibegen.worker import Worker

log = logging.getLogger("vibegen.runner")

HEARTBEAT_S = 3.0
STALE_AFTER_S = 15.0
MAX_ATTEMPTS = 4
# Worker threads for a router that queues server-side: up to this many cells are submitted
# at once (a 256-image run all of it); each thread then only waits on its job's status.
SERVER_QUEUE_CELLS = 256
QUEUE_WAIT_POLL_S = 0.1  # team mode: how often `wait` looks at the store
# Previews (thumbnails) of saved images are made in the background once nothing has been
# saved for PREVIEW_QUIET_S, a few at a time (one write for each few).
PREVIEW_QUIET_S = 0.2
PREVIEW_BATCH = 4


@dataclass(frozen=True)
class Plan:
    """What a run would do before it is started: its cells, estimated cost and warnings."""

    cells: list[CellSpec]
    estimated_usd: float
    unknown_cost_models: list[str]
    notes: dict[str, dict[str, str]]


def plan_run(
    prompt: str,
    model_keys: Sequence[str],
    common: CommonParams,
    catalog: Catalog,
    env: Mapping[str, str],
    prompt_overrides: Mapping[str, str] | None = None,
    today: dt.date | None = None,
) -> Plan:
    """Validate a request and lay out its cells; InputError names what is wrong.

    `today` decides which models are past their shutdown (the clock's date when not given).
    """
    today = today or dt.date.today()
    prompt = check_text((prompt or "").strip(), "the prompt")
    if not prompt:
        raise InputError("the prompt is empty: type what you want to see")
    if not model_keys:
        raise InputError("no model picked: choose at least one model")
    overrides = prompt_overrides or {}
    cells: list[CellSpec] = []
    unknown: list[str] = []
    notes: dict[str, dict[str, str]] = {}
    total = 0.0
    for key in dict.fromkeys(model_keys):
        model = catalog.model(key)
        if not model.offered(today):
            raise InputError(
                f"{model.label} was shut down on {model.shutdown}: it is no longer offered"
            )
        status = router_status(model.router, catalog, env)
        if not status.enabled:
            raise InputError(f"{model.label}: {status.label} is not set up ({status.reason})")
        text = (
            check_text((overrides.get(key) or "").strip(), f"the prompt for {model.label}")
            or prompt
        )
        if len(text) > model.max_prompt_chars:
            raise InputError(
                f"the prompt is {len(text)} characters; {model.label} accepts at "
                f"most {model.max_prompt_chars}"
            )
        for i in range(common.images_per_model):
            mapped = map_params(model, common, i)
            estimate = costs.estimate(model, mapped.params, mapped.width, mapped.height, catalog)
            cells.append(
                CellSpec(
                    model.key,
                    model.router,
                    model.label,
                    i,
                    text,
                    mapped.params,
                    mapped.notes,
                    estimate,
                    mapped.width,
                    mapped.height,
                )
            )
            if estimate.usd is None and estimate.kind == "unknown":
                unknown.append(model.label)
            else:
                total += estimate.usd or 0.0
            notes[model.key] = mapped.notes
    return Plan(cells, total, sorted(set(unknown)), notes)


class Runner:
    """Runs generations in background threads and saves every result to the store."""

    def __init__(
        self,
        store: Store,
        catalog: Catalog | None = None,
        *,
        env: Mapping[str, str],
        concurrency: Mapping[str, int] | None = None,
        router_options: Mapping[str, dict] | None = None,
        heartbeat: bool = True,
        saving: SavePolicy | None = None,
        embedded_worker: bool | None = None,
    ) -> None:
        self.store = store
        self.keeper = Keeper(store, saving)
        self.catalog = catalog or default_catalog()
        # Passed in by the entry point (app, CLI, a test): nothing here reads the process.
        self.env = dict(env)
        self.id = new_id()[:16]
        self._concurrency = dict(concurrency or {})
        self._router_options = dict(router_options or {})
        self._routers: dict[str, Router] = {}
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}
        self._where: dict[str, dict[str, str]] = {}  # run id -> cell id -> where its job is
        self._done = threading.Condition()
        # Saved images waiting for their previews, and whether images are being saved now.
        self._arrivals = threading.Condition()
        self._saving = 0
        self._last_saved = 0.0
        self._previews: list[str] = []
        self._previewer: threading.Thread | None = None
        self._secrets = secret_values(self.env, self.catalog)
        self._stop = threading.Event()
        # Team mode: cells go on the job queue in the store's database (see the contract).
        self.queue = JobQueue(store.engine.url) if store.dialect == "postgresql" else None
        # Team mode: the leases this runner holds on queued cells (cell id → claim epoch),
        # renewed by its worker; those it lost (a late worker) buy and write nothing more.
        self.lease_s = Settings.from_environ(self.env).worker_heartbeat_s
        self._leases: dict[str, int] = {}
        self._lost: set[str] = set()
        self.worker: Worker | None = None
        store.heartbeat(self.id, socket.gethostname(), os.getpid())
        if self.queue is None:
            store.interrupt_orphans(STALE_AFTER_S, alive=[self.id], dead=self._dead_neighbours())
            self.resume_paid()
        if heartbeat:
            threading.Thread(target=self._beat, name="vibegen-heartbeat", daemon=True).start()
        if embedded_worker is None:
            embedded_worker = Settings.from_environ(self.env).embedded_worker
        if self.queue is not None and embedded_worker:
            from vibegen.worker import Worker

            self.worker = Worker(self)
            self.worker.start()

    # ------------------------------------------------------------- public API
    def start_run(
        self,
        prompt: str,
        model_keys: Sequence[str],
        common: CommonParams,
        prompt_overrides: Mapping[str, str] | None = None,
        prompt_set_id: str | None = None,
    ) -> str:
        """Store a new run and start it in the background; return its id at once."""
        plan = plan_run(prompt, model_keys, common, self.catalog, self.env, prompt_overrides)
        self.check_budget(plan)
        run_id = self.store.create_run(
            prompt.strip(),
            _params_record(common),
            plan.cells,
            runner_id=self.id,
            prompt_set_id=prompt_set_id,
        )
        self.submit(run_id)
        return run_id

    def start_prompt_set(
        self, set_id: str, model_keys: Sequence[str], common: CommonParams
    ) -> list[str]:
        """Run every prompt of a brief on the same models; return the run ids."""
        brief = next((p for p in self.store.prompt_sets() if p["id"] == set_id), None)
        if brief is None:
            raise InputError("that brief does not exist (any more)")
        for prompt in brief["prompts"]:  # validate all before starting any
            plan_run(prompt, model_keys, common, self.catalog, self.env)
        return [
            self.start_run(p, model_keys, common, prompt_set_id=set_id) for p in brief["prompts"]
        ]

    def submit(self, run_id: str) -> int:
        """Hand a run's pending cells to the workers; return how many were queued."""
        # Longest expected calls first: with a concurrency cap this shortens the whole run.
        cells = sorted(self.store.pending_cells(run_id), key=self._expected_latency, reverse=True)
        if self.queue is not None:
            # Team mode: the queue's priority orders them the same way, for every worker.
            try:
                return self.queue.put(cells, [int(self._expected_latency(c) * 10) for c in cells])
            except StoreError as exc:  # nothing is bought before a cell is queued
                for cell in cells:
                    self._not_started(
                        cell,
                        f"the job queue could not take it ({exc}). Retry once the database answers",
                    )
                return 0
        # The whole run is claimed in one write, here, so no store write stands between a
        # cell and its request: 128 cells each claiming their own row queued their requests
        # behind the write lock, one after another (issue 16, fan-out).
        try:
            claimed: set[str] | None = self.store.claim_cells([c.id for c in cells], self.id)
        except StoreError:
            # Refused: each cell tries its own claim, and if the store still refuses, ends
            # "not started" with the reason (nothing is bought before a claim).
            claimed = None
        if claimed is not None:
            cells = [c for c in cells if c.id in claimed]  # the rest were taken meanwhile
        with self._done:
            self._active[run_id] = self._active.get(run_id, 0) + len(cells)
        with self._lock:  # claimed is "running" in the store; until a worker starts, it waits
            said = self._where.setdefault(run_id, {})
            for cell in cells:
                said[cell.id] = "queued…"
        # The caps are read once for the cells handed out together (spending per cell, when
        # a cap is set): a settings read per cell stood before every request.
        try:
            caps: budget.Caps | None = self.caps()
        except StoreError:  # each cell reads them, and says so if the store still refuses
            caps = None
        for cell in cells:
            self._pool(cell.router).submit(self._execute, cell, claimed is not None, caps)
        return len(cells)

    def caps(self) -> budget.Caps:
        """The spending caps in force (Spend page settings over the environment)."""
        return budget.caps_from(self.env, self.store.settings(), self.catalog.routers)

    def _spent_now(self, routers: Sequence[str]) -> dict[tuple[str, str], float]:
        return {
            (r, scope): self.store.spent(router=r, since=budget.period_start(scope))
            for r in set(routers)
            for scope in budget.SCOPES
        }

    def check_budget(self, plan: Plan) -> None:
        """InputError when the plan's estimate exceeds what a cap leaves (names cap, numbers)."""
        caps = self.caps()
        estimated: dict[str, float] = {}
        for spec in plan.cells:
            estimated[spec.router] = estimated.get(spec.router, 0.0) + (spec.cost.usd or 0.0)
        budget.check_plan(
            estimated,
            caps,
            self._spent_now(list(estimated)),
            {k: v.label for k, v in self.catalog.routers.items()},
        )

    def _over_budget(self, cell: Cell, caps: budget.Caps) -> str | None:
        if caps.per_run_usd is None and not caps.for_router(cell.router):
            return None
        return budget.over_cap(
            cell.router,
            caps,
            self._spent_now([cell.router]),
            self.store.spent(run_id=cell.run_id),
            self.catalog.routers[cell.router].label,
        )

    def resume_paid(self) -> int:
        """Follow the paid jobs of interrupted cells (a crash, a restart); return how many runs."""
        runs = self.store.claim_resumable(self.id)
        for run_id in runs:
            self.submit(run_id)
        return len(runs)

    def reroll(self, run_id: str, generation_id: str) -> str:
        """One more image of a cell's model in its run, with a new random seed; its id.

        The cell itself is kept (its image may be rated already): the new one is appended.
        """
        view = self.store.run_view(run_id)
        cell = next((c for c in view.cells if c.id == generation_id), None)
        if cell is None:
            raise InputError("that image is not part of this run")
        p = view.params
        common = CommonParams(
            aspect=p.get("aspect", "1:1"),
            resolution=p.get("resolution", "1K"),
            quality=p.get("quality", "medium"),
            seed=secrets.randbelow(2**31),
        )
        overrides = {cell.model_key: cell.prompt} if cell.prompt != view.prompt else None
        plan = plan_run(view.prompt, [cell.model_key], common, self.catalog, self.env, overrides)
        self.check_budget(plan)
        taken = [c.image_index for c in view.cells if c.model_key == cell.model_key]
        spec = dataclasses.replace(plan.cells[0], image_index=max(taken) + 1)
        (new,) = self.store.add_cells(run_id, [spec], runner_id=self.id)
        self.submit(run_id)
        return new

    def retry_failed(self, run_id: str) -> int:
        """Run a run's failed, timed-out and interrupted cells again; return how many."""
        self.store.reset_failed(run_id)
        return self.submit(run_id)

    def wait(self, run_id: str, timeout: float = 60.0) -> bool:
        """Block until this runner has no queued or running cells for `run_id` (in team mode:
        until the run has none, whichever worker holds them)."""
        deadline = time.monotonic() + timeout
        if self.queue is not None:
            while not all(c.status in FINISHED for c in self.store.run_view(run_id).cells):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._stop.wait(min(QUEUE_WAIT_POLL_S, left))
            return True
        with self._done:
            while self._active.get(run_id, 0) > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(left)
        return True

    def where(self, run_id: str) -> dict[str, str]:
        """Where the unfinished cells' jobs are, as their routers say: id → "in fal's queue,
        position 3" / "generating" (only cells whose router reports it)."""
        with self._lock:
            return dict(self._where.get(run_id, {}))

    def unsaved(self, run_id: str) -> dict[str, str]:
        """Cells of a run whose outcome waits for the store to take writes: id → message."""
        return self.keeper.unsaved(run_id)

    def close(self) -> None:
        """Stop the heartbeat and let the workers finish what they hold."""
        self._stop.set()
        with self._arrivals:  # the previewer stops; pages make what it had left
            self._arrivals.notify_all()
        previewer = self._previewer
        if previewer is not None and previewer is not threading.current_thread():
            # A batch it is making is written before the caller closes the store under it.
            previewer.join(timeout=5.0)
        if self.worker is not None:
            # The embedded worker takes no new cells and finishes those it holds (a process
            # that exits meanwhile leaves them to the queue, as a crash would).
            self.worker.stop(grace_s=math.inf)
        if self.queue is not None:
            self.queue.close()
        for pool in list(self._pools.values()):
            pool.shutdown(wait=False, cancel_futures=False)

    def _expected_latency(self, cell: Cell) -> float:
        try:
            model = self.catalog.model(cell.model_key)
        except UnknownModelError:  # said when the cell runs
            return 0.0
        if model.sandbox:
            return model.sandbox.latency_median_s
        return model.latency_hint_s or 0.0

    # ---------------------------------------------------------------- workers
    def _pool(self, router: str) -> ThreadPoolExecutor:
        with self._lock:
            if router not in self._pools:
                info = self.catalog.routers[router]
                size = self._concurrency.get(router) or cells_at_once(router, info, self.env)
                self._pools[router] = ThreadPoolExecutor(
                    max(1, size), thread_name_prefix=f"vibegen-{router}"
                )
            return self._pools[router]

    def _router(self, name: str) -> Router:
        with self._lock:
            if name not in self._routers:
                options = dict(self._router_options.get(name, {}))
                if self.queue is not None:  # team mode: rate windows counted for all workers
                    from vibegen.shared_limits import shared_limiters

                    options.setdefault("limits", shared_limiters(self.store.engine))
                self._routers[name] = build_router(name, self.catalog, self.env, **options)
            return self._routers[name]

    def run_queued(self, cell_id: str) -> None:
        """Run one cell a queue worker took (team mode): claim it under a lease, then run it
        or resume its paid job. StoreError when the store refuses the claim, LeaseHeld while
        another worker's lease is live, LeaseLost when this one's lapsed (the worker queues
        the job again in each case)."""
        cell = self.store.take_cell(cell_id, self.id, self.lease_s)
        if cell is None:
            return  # finished meanwhile (or its run was deleted): nothing to do
        with self._lock:
            self._leases[cell.id] = cell.lease_epoch
        self.keeper.fence(cell.id, cell.lease_epoch)
        try:
            if cell.submit_unsaved and not cell.job_open:
                self._lost_submit(cell)
                return
            with self._done:
                self._active[cell.run_id] = self._active.get(cell.run_id, 0) + 1
            self._execute(cell, True)
        finally:
            self.keeper.fence(cell.id, None)
            with self._lock:
                self._leases.pop(cell.id, None)
                lost = cell.id in self._lost
                self._lost.discard(cell.id)
        if lost:
            raise LeaseLost(f"cell {cell.id}: this worker's lease lapsed while it ran")

    def renew_leases(self) -> int:
        """Extend the leases this runner holds (its worker, every third of a lease); a lease
        found taken or lapsed fences its cell here. How many were renewed."""
        with self._lock:
            held = dict(self._leases)
        kept = self.store.renew_leases(held, self.lease_s)
        with self._lock:
            newly = {c for c in held.keys() - kept if c not in self._lost}
            self._lost |= {c for c in newly if self._leases.get(c) == held[c]}
        if newly:
            log.warning(
                "lost the lease on %d cell(s) (this worker was late): they buy nothing more here",
                len(newly),
            )
        return len(kept)

    def release(self, cell_id: str) -> None:
        """Hand a held cell back (its worker stops): fenced here first, then its lease ended,
        so another worker may take it over at once."""
        with self._lock:
            epoch = self._leases.get(cell_id)
            if epoch is None:
                return
            self._lost.add(cell_id)
        try:
            self.store.release_lease(cell_id, epoch)
        except StoreError:  # the lease then runs out by itself
            log.warning(
                "could not end the lease of cell %s; it lapses in %.0f s", cell_id, self.lease_s
            )

    def _fence(self, cell: Cell) -> None:
        """Right before a paid call (team mode): prove in the store that this runner still
        holds the cell, and mark that it submits; else LeaseLost, and nothing leaves."""
        with self._lock:
            epoch = self._leases.get(cell.id)
            lost = cell.id in self._lost
        if epoch is None:
            return  # not a queued cell: the in-process pools own their cells
        if lost:
            raise LeaseLost(f"cell {cell.id}: another worker may hold it now; not submitting")
        try:
            held = self.store.mark_submitting(cell.id, epoch, self.lease_s)
        except StoreError as exc:
            raise LeaseLost(
                f"cell {cell.id}: cannot prove its lease ({exc}); not submitting", handback=True
            ) from exc
        if not held:
            with self._lock:
                self._lost.add(cell.id)
            raise LeaseLost(f"cell {cell.id}: its lease lapsed or was taken; not submitting")

    def _answered(self, cell: Cell) -> None:
        """Team mode: the submit came back without a job; a taker need not wait for it."""
        with self._lock:
            epoch = self._leases.get(cell.id)
        if epoch is None:
            return
        try:
            self.store.clear_submit(cell.id, epoch)
        except StoreError:  # a taker then waits out the submit grace instead
            log.warning("could not clear the submit mark of cell %s", cell.id)

    def _lost_submit(self, cell: Cell) -> None:
        """A worker that stopped answering passed the fence for this cell and saved no handle:
        its call may have bought a job whose answer is lost. Never buy blindly again."""
        self._router_error(
            cell,
            "the worker that submitted this cell stopped answering before it saved the job's "
            "id; the router may have started (and billed) a job whose answer was lost. Retry "
            "buys a new one",
            attempts=1,
        )

    def _router_error(self, cell: Cell, message: str, **fields: Any) -> None:
        """End `cell` as a router error saying `message` (stored, or held until it can be)."""
        failure = dict(kind="router_error", wall_s=None, message=f"{cell.router}: {message}")
        self.keeper.write(Outcome(cell.id, cell.run_id, failure | fields))

    def _execute(self, cell: Cell, claimed: bool, caps: budget.Caps | None = None) -> None:
        try:
            self._run_cell(cell, claimed, caps)
        except LeaseLost:
            raise  # team mode: the cell is not this worker's to write (run_queued says so)
        except Exception:  # never let a worker die silently: the cell must end stored
            log.exception("unexpected failure in cell %s", cell.id)
            self._router_error(cell, "unexpected internal error")
        finally:
            with self._lock:
                said = self._where.get(cell.run_id, {})
                said.pop(cell.id, None)
                if not said:
                    self._where.pop(cell.run_id, None)
            with self._done:
                self._active[cell.run_id] = self._active.get(cell.run_id, 1) - 1
                self._done.notify_all()

    def _run_cell(self, cell: Cell, claimed: bool, caps: budget.Caps | None) -> None:
        with self._lock:  # a worker has it: no longer "queued…"
            self._where.get(cell.run_id, {}).pop(cell.id, None)
        try:
            if not claimed and not self.store.mark_running(cell.id, self.id):
                return  # saved meanwhile or taken by another runner: nothing to do
        except StoreError as exc:
            # Nothing is bought yet, so nothing is kept but the news: the cell ends failed as
            # soon as the store takes that small write, and Retry starts it then.
            self._not_started(
                cell, f"{REASON}. Retry once the database can write again", exc.reason
            )
            return
        if self.keeper.flush(cell.id) is not None:
            return  # a Retry of an image held through a store outage: saved (or still kept)
        try:
            model = self.catalog.model(cell.model_key)
        except UnknownModelError:
            # Removed from the catalog (a user model taken out, a worker with an older
            # catalog) after the cell was queued: a stored error, never a crash or a call.
            self.keeper.write(
                Outcome(
                    cell.id,
                    cell.run_id,
                    dict(
                        kind="unknown_model",
                        wall_s=None,
                        attempts=0,
                        job_open=cell.job_open,
                        message=f"{cell.model_key} is no longer in this worker's catalog: "
                        "nothing was sent. Add the model again (Models page), then Retry",
                    ),
                )
            )
            return
        # A cap reached mid-run: no new paid job starts (an open job is followed: it is paid).
        reason = None if cell.job_open else self._over_budget(cell, caps or self.caps())
        if reason:
            self.keeper.write(
                Outcome(
                    cell.id,
                    cell.run_id,
                    dict(
                        kind="budget",
                        wall_s=None,
                        attempts=0,
                        message=f"skipped: budget — {reason}. "
                        "Retry once the cap allows (Spend page)",
                    ),
                )
            )
            return
        router = self._router(cell.router)
        start = time.monotonic()
        seed = _seed(cell, model)
        # A cell whose paid job may still run resumes that job: never buy the image twice.
        job: dict | None = cell.job if cell.job_open else None
        unsaved_job: dict | None = None  # a handle the store refused: saved with the outcome

        def saved(handle: dict) -> None:
            nonlocal job, unsaved_job
            job = handle
            try:
                with self._lock:
                    epoch = self._leases.get(cell.id)
                if epoch is None:  # the in-process pools: the cell is this process's
                    self.store.save_job(cell.id, handle)
                else:
                    self.store.save_job(cell.id, handle, epoch=epoch)
            except StoreError:  # keep following the job in memory: it is paid for
                log.exception("could not save the job handle of cell %s", cell.id)
                unsaved_job = handle

        def where(text: str) -> None:
            # Kept in memory, not the store: it changes with every poll and matters only
            # while the job waits (a page of another process says "generating…" instead).
            with self._lock:
                self._where.setdefault(cell.run_id, {})[cell.id] = text

        tries = 0
        while True:
            tries += 1
            request = GenerationRequest(
                model=model,
                prompt=cell.prompt,
                params=cell.params,
                width=cell.width or 0,
                height=cell.height or 0,
                deadline=start + model.deadline_s,
                image_index=cell.image_index,
                seed=seed,
                job=job,
                on_job=saved,
                on_progress=where,
                on_submit=lambda: self._fence(cell),
            )
            try:
                result = router.generate(request)
                wall = time.monotonic() - start  # submit → bytes in hand
                # Checked, not decoded: the preview is made once the run's images stop
                # arriving (`_make_previews`), so a run's results are saved as they come.
                prepared = images.checked(result.image, router=cell.router, model=model.key)
            except RouterError as exc:
                exc.router = exc.router or cell.router
                # A second paid job only while none may be running: no handle was saved and
                # no submit went unanswered. Later failures were already retried on the job.
                may_run = job is not None or exc.job_may_run
                pause = _backoff(exc, tries)
                if (
                    exc.retryable
                    and not may_run
                    and tries < MAX_ATTEMPTS
                    and request.remaining() > pause
                ):
                    log.info("retrying %s after %s (attempt %d)", model.key, exc.kind, tries)
                    self._answered(cell)  # refused outright: no paid call is on the wire
                    time.sleep(pause)
                    continue
                self._fail(cell, model, exc, job, start, tries, unsaved_job)
                return
            with self._arrivals:
                self._saving += 1
            try:
                self._save(cell, model, result, prepared, wall, tries, job, unsaved_job)
            finally:
                self._saved(cell.id if prepared.thumb == images.NO_PREVIEW else None)
            return

    def _not_started(self, cell: Cell, why: str, reason: str | None = None) -> None:
        """Store that a cell never reached its router because the store refused (nothing
        bought); `reason` is what the store said, for the keeper's REASON in `why`."""
        failure = dict(
            kind=STORE_UNAVAILABLE,
            wall_s=None,
            attempts=0,
            job_open=cell.job_open,
            message=f"{cell.router}: not started: {why}",
        )
        if reason is None:
            self.keeper.write(Outcome(cell.id, cell.run_id, failure))
        else:
            self.keeper.write(Outcome(cell.id, cell.run_id, failure, reason=reason))

    def _fail(
        self,
        cell: Cell,
        model: Model,
        exc: RouterError,
        job: dict | None,
        start: float,
        attempts: int,
        unsaved_job: dict | None = None,
    ) -> None:
        """Store a failed cell with what it was (or may have been) billed."""
        still_open = (
            job is not None
            and not exc.reported_end
            and (isinstance(exc, RouterTimeout) or exc.job_may_run)
        )
        message = redact(str(exc), self._secrets)
        cost = exc.cost
        if (
            cost is None
            and (job is not None or exc.job_may_run)
            and not isinstance(exc, RouterValidationError)
        ):
            # The router took the job and said nothing of its price: it may bill it.
            estimate = costs.estimate(
                model, cell.params, cell.width or 0, cell.height or 0, self.catalog
            )
            why = (
                "the job may still finish and be billed"
                if still_open
                else "the router may bill a job that ran"
            )
            cost = costs.Cost(
                estimate.usd,
                "estimated" if estimate.usd is not None else estimate.kind,
                f"{why}; {estimate.basis}",
                estimate.source,
                estimate.seen,
            )
        if still_open:
            message += " · its paid job may still finish: Retry follows it, not buying it again"
        elif job is None and exc.job_may_run:
            message += " · the router may have started (and billed) a job whose answer was lost"
        self.keeper.write(
            Outcome(
                cell.id,
                cell.run_id,
                dict(
                    kind=exc.kind,
                    message=message,
                    wall_s=time.monotonic() - start,
                    attempts=attempts,
                    timeout=isinstance(exc, RouterTimeout),
                    cost=cost,
                    job_open=still_open,
                ),
                job=unsaved_job,
            )
        )

    def _cost(self, cell: Cell, model: Model, result, prepared: images.Prepared) -> Cost:
        info = prepared.info
        return result.cost or costs.estimate(
            model, cell.params, info.width, info.height, self.catalog
        )

    def _save(
        self,
        cell: Cell,
        model: Model,
        result,
        prepared: images.Prepared,
        wall: float,
        attempts: int,
        job: dict | None,
        unsaved_job: dict | None,
    ) -> None:
        """Save the image; if the store refuses, the keeper holds it and says so in the cell."""
        cost = self._cost(cell, model, result, prepared)
        image = dict(
            image=result.image,
            cost=cost,
            wall_s=wall,
            seed=result.seed,
            queue_s=result.queue_s,
            inference_s=result.inference_s,
            request_id=result.request_id,
            attempts=attempts,
            prepared=prepared,
        )
        # Money: the image is paid for. While its bytes are held, the failure books nothing
        # (the late save books the image once) and Retry saves the held bytes. Once they are
        # let go: with a job handle, Retry fetches the same job's result again (fal and Kie
        # keep it), booked when that image is saved; without one (OpenAI) the money went on
        # an image that is lost, so it is booked with the failure and the Retry button warns
        # that it pays again (self-hosted and sandbox images book nothing real).
        base = dict(
            kind=STORE_UNAVAILABLE, wall_s=wall, attempts=attempts, job_open=job is not None
        )
        held = dict(
            base,
            message=f"{cell.router}: the image arrived but could not be saved: "
            f"{REASON}. It is saved as soon as the database can write "
            "again; Retry tries now",
        )
        if job is not None:
            lost = dict(
                base,
                message=f"{cell.router}: the image could not be saved: {REASON}. "
                "Retry fetches it again from the same paid job",
            )
        else:
            lost = dict(
                base,
                cost=cost,
                message=f"{cell.router}: the image could not be saved: {REASON}, and "
                "is lost. Retry makes a new one",
            )
        self.keeper.write(
            Outcome(cell.id, cell.run_id, held, image=image, lost=lost, job=unsaved_job)
        )

    def _saved(self, cell_id: str | None) -> None:
        """A cell's image is saved (or kept): queue its preview, if it lacks one."""
        with self._arrivals:
            self._saving -= 1
            self._last_saved = time.monotonic()
            if cell_id is not None:
                self._previews.append(cell_id)
                if self._previewer is None:
                    self._previewer = threading.Thread(
                        target=self._make_previews, name="vibegen-previews", daemon=True
                    )
                    self._previewer.start()
            self._arrivals.notify_all()

    def _make_previews(self) -> None:
        # Decoding and thumbnailing an image takes 40-80 ms of CPU. Made while a run's images
        # arrive, previews would hold back the saves of the images behind them (all of a
        # wide run's arrive within a second), so they wait for a quiet moment: nothing saved
        # for PREVIEW_QUIET_S. A page that shows an image sooner makes its preview itself
        # (Store.thumbnails), so a steady stream of results starves no one.
        while not self._stop.is_set():
            with self._arrivals:
                while not self._previews:
                    if self._stop.is_set():
                        return
                    self._arrivals.wait(1.0)
                while self._saving or time.monotonic() - self._last_saved < PREVIEW_QUIET_S:
                    if self._stop.is_set():
                        return
                    self._arrivals.wait(PREVIEW_QUIET_S)
                batch = self._previews[:PREVIEW_BATCH]
                del self._previews[:PREVIEW_BATCH]
            try:
                self.store.make_previews(batch)
            except Exception:  # never worth the thread: the first page to show them makes them
                if not self._stop.is_set():  # closing: the store may be closed under us
                    log.exception("could not make %d previews; made when shown", len(batch))

    def _dead_neighbours(self) -> list[str]:
        # Runners on this host whose process is gone (a crash or a kill): no need to wait for
        # their heartbeat to go stale before saying their cells were interrupted.
        host = socket.gethostname()
        return [
            r["id"]
            for r in self.store.runners()
            if r["host"] == host
            and r["pid"]
            and r["pid"] != os.getpid()
            and not _pid_alive(r["pid"])
        ]

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.store.heartbeat(self.id)
                if self.queue is not None:
                    continue  # team mode: the queue hands a dead worker's cells on
                if self.store.interrupt_orphans(STALE_AFTER_S, alive=[self.id]):
                    self.resume_paid()
            except StoreError:
                log.warning("heartbeat could not reach the store")


def concurrency_in_force(router: str, declared: int, env: Mapping[str, str]) -> int:
    """How many jobs the router runs at once for this account: `VIBEGEN_<ROUTER>_CONCURRENCY`
    when set, else the declared figure (what runs and projections both assume)."""
    return concurrency_from_env(router, env) or declared


def in_flight_setting(router: str) -> str:
    """The setting that caps a router's cells open at once: VIBEGEN_FAL_IN_FLIGHT."""
    return f"VIBEGEN_{router.upper()}_IN_FLIGHT"


def cells_at_once(router: str, spec: RouterSpec, env: Mapping[str, str]) -> int:
    """How many cells of `router` run at once: one process's pool on SQLite, every worker
    together in team mode. `VIBEGEN_<ROUTER>_IN_FLIGHT` when set (1 to 1024); else a
    server-queueing router's SERVER_QUEUE_CELLS (its queue limits what runs), any other's
    concurrency in force."""
    raw = env.get(in_flight_setting(router), "").strip()
    if raw:
        if raw.isdigit() and 1 <= int(raw) <= 1024:
            return int(raw)
        log.warning(
            "ignoring %s=%r: a whole number from 1 to 1024 is expected",
            in_flight_setting(router),
            raw,
        )
    if spec.queues_server_side:
        return SERVER_QUEUE_CELLS
    return concurrency_in_force(router, spec.concurrency, env)


def concurrency_setting(router: str) -> str:
    """The setting that says what the router's account runs at once: VIBEGEN_FAL_CONCURRENCY."""
    return f"VIBEGEN_{router.upper()}_CONCURRENCY"


def concurrency_from_env(router: str, env: Mapping[str, str]) -> int | None:
    """`VIBEGEN_<ROUTER>_CONCURRENCY` (e.g. VIBEGEN_FAL_CONCURRENCY=10), if set and valid."""
    raw = env.get(concurrency_setting(router), "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 256:
        log.warning(
            "ignoring VIBEGEN_%s_CONCURRENCY=%r: a whole number from 1 to 256 is expected",
            router.upper(),
            raw,
        )
        return None
    return int(raw)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _seed(cell: Cell, model: Model) -> int | None:
    if model.seed_param in cell.params:
        return int(cell.params[model.seed_param])
    if simulated_router(model.router):
        # No seed chosen: draw one and store it, so the image can be made again.
        return secrets.randbelow(2**31)
    return None


def _backoff(exc: RouterError, attempts: int) -> float:
    if exc.retry_after is not None:
        return max(0.0, float(exc.retry_after))
    return min(8.0, 0.5 * 2 ** (attempts - 1))


def _params_record(common: CommonParams) -> dict:
    return {
        "aspect": common.aspect,
        "resolution": common.resolution,
        "quality": common.quality,
        "seed": common.seed,
        "images_per_model": common.images_per_model,
    }
