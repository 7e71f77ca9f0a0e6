"""The job queue's pieces: one job per cell, the limits workers declare, and the request-rate
window every worker shares in the database."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.fakes.http_fake import png_bytes
from vibegen.catalog import default_catalog
from vibegen.costs import Cost
from vibegen.errors import LeaseHeld
from vibegen.jobqueue import JobQueue, conninfo, entrypoint
from vibegen.records import CellSpec
from vibegen.routers.limits import MARGIN
from vibegen.runner import SERVER_QUEUE_CELLS, cells_at_once
from vibegen.shared_limits import SharedRateLimiter, shared_limiters
from vibegen.store import SUBMIT_GRACE_S, Store

CAT = default_catalog()


@pytest.fixture
def pg_store(pg_url):
    """A store on an emptied PostgreSQL database (skipped without one)."""
    store = Store.open(pg_url)
    yield store
    store.close()


def test_cells_at_once_per_router():
    fal, kie = CAT.routers["fal"], CAT.routers["kie"]
    # fal queues server-side: we only bound what we follow; the others run their concurrency.
    assert cells_at_once("fal", fal, {}) == SERVER_QUEUE_CELLS
    assert cells_at_once("kie", kie, {}) == kie.concurrency
    assert cells_at_once("kie", kie, {"VIBEGEN_KIE_CONCURRENCY": "12"}) == 12
    assert cells_at_once("fal", fal, {"VIBEGEN_FAL_IN_FLIGHT": "3"}) == 3
    # A value that is no count is ignored (and logged), never a crash.
    assert cells_at_once("fal", fal, {"VIBEGEN_FAL_IN_FLIGHT": "lots"}) == SERVER_QUEUE_CELLS
    assert cells_at_once("kie", kie, {"VIBEGEN_KIE_IN_FLIGHT": "0"}) == kie.concurrency


@pytest.mark.postgres
def test_a_cell_is_one_job_however_often_it_is_queued(pg_store):
    spec = CellSpec(
        "sandbox:prism", "sandbox", "Prism", 0, "a fox", {}, {}, Cost(0.0, "simulated", "", "")
    )
    run_id = pg_store.create_run("a fox", {}, [spec, spec])
    cells = pg_store.pending_cells(run_id)
    queue = JobQueue(pg_store.engine.url)
    try:
        assert queue.put(cells) == 2
        assert queue.put(cells) == 0  # still queued: not queued again
        assert queue.put(cells[:1] + cells[:1]) == 0
    finally:
        queue.close()
    with psycopg.connect(conninfo(pg_store.engine.url)) as conn:
        rows = conn.execute("SELECT entrypoint, payload, status FROM pgqueuer").fetchall()
    assert sorted(rows) == sorted((entrypoint("sandbox"), c.id.encode(), "queued") for c in cells)


@pytest.mark.postgres
def test_the_rate_window_is_shared_by_every_process(pg_store):
    # Two limiters on one bucket stand for two workers: 3 calls per 10 s between them.
    one = SharedRateLimiter(pg_store.engine, "kie:submit", 3, 10.0)
    other = SharedRateLimiter(pg_store.engine, "kie:submit", 3, 10.0)
    assert [one._try_take(), other._try_take(), one._try_take()] == [0.0, 0.0, 0.0]
    wait = other._try_take()
    assert 10.0 < wait <= one.hold_s  # the oldest slot frees after the window (and its hold)
    assert SharedRateLimiter(pg_store.engine, "kie:poll", 3, 10.0)._try_take() == 0.0
    # A 429 seen by one worker holds all of them.
    one.pause(30.0)
    assert 29.0 < SharedRateLimiter(pg_store.engine, "kie:submit", 99, 10.0)._try_take() <= 30.0


@pytest.mark.postgres
def test_the_factory_keeps_the_local_margin(pg_store):
    limiter = shared_limiters(pg_store.engine)("kie:submit", 20, 10.0)
    assert isinstance(limiter, SharedRateLimiter)
    assert limiter.requests == int(20 * MARGIN) and limiter.window_s == 10.0


def _one_fal_cell(store):
    """A run of one queued fal cell: its id and the cell."""
    spec = CellSpec(
        "fal:flux-schnell", "fal", "FLUX", 0, "a fox", {}, {}, Cost(0.01, "estimated", "", "")
    )
    run_id = store.create_run("a fox", {}, [spec])
    (cell,) = store.pending_cells(run_id)
    return run_id, cell


@pytest.mark.postgres
def test_a_cell_changes_hands_only_once_its_lease_has_run_out(pg_store):
    run_id, cell = _one_fal_cell(pg_store)
    late = pg_store.take_cell(cell.id, "late", lease_s=0.5)
    assert late is not None and late.lease_epoch == 1
    with pytest.raises(LeaseHeld) as held:  # the late worker's lease is live: not yet
        pg_store.take_cell(cell.id, "taker", lease_s=0.5)
    assert 0 < held.value.wait_s <= 0.5
    time.sleep(0.6)
    taker = pg_store.take_cell(cell.id, "taker", lease_s=30)
    assert taker is not None and taker.lease_epoch == 2
    # The late worker wakes: its fence, its renewal and its writes no longer match.
    assert not pg_store.mark_submitting(cell.id, 1, 30)
    assert pg_store.renew_leases({cell.id: 1}, 30) == set()
    pg_store.save_failure(cell.id, kind="router_error", message="late", wall_s=1.0, epoch=1)
    cost = Cost(0.01, "reported", "", "")
    image = png_bytes(8, 8, (1, 2, 3))
    pg_store.save_success(cell.id, image, cost=cost, wall_s=1.0, epoch=1)
    assert pg_store.generation(cell.id).status == "running"
    assert pg_store.run_view(run_id).spend == []  # nothing booked by the late claim
    # The holder's own fence passes; its image is saved and booked once.
    assert pg_store.mark_submitting(cell.id, 2, 30)
    assert pg_store.renew_leases({cell.id: 2}, 30) == {cell.id}
    pg_store.save_success(cell.id, image, cost=cost, wall_s=1.0, epoch=2)
    assert pg_store.generation(cell.id).status == "ok"
    assert len(pg_store.run_view(run_id).spend) == 1


@pytest.mark.postgres
def test_a_submit_without_a_saved_handle_holds_the_cell_for_the_grace(pg_store):
    run_id, cell = _one_fal_cell(pg_store)
    pg_store.take_cell(cell.id, "late", lease_s=0.2)
    assert pg_store.mark_submitting(cell.id, 1, 0.2)  # the POST may be on the wire now
    time.sleep(0.3)
    with pytest.raises(LeaseHeld) as held:  # lapsed, but its call may still be answered
        pg_store.take_cell(cell.id, "taker", lease_s=30)
    assert SUBMIT_GRACE_S - 1 < held.value.wait_s <= SUBMIT_GRACE_S
    # The late worker saves the handle it got: the cell is taken over at once and followed.
    pg_store.save_job(cell.id, {"request_id": "r-1"}, epoch=1)
    taker = pg_store.take_cell(cell.id, "taker", lease_s=30)
    assert taker is not None and taker.job == {"request_id": "r-1"} and taker.job_open
    assert not taker.submit_unsaved
