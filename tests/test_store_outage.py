"""A store that refuses writes mid-run, for real: SQLite full (PRAGMA max_page_count holds the
file at its size, so SQLite answers SQLITE_FULL) and SQLite locked (another connection holds an
exclusive transaction; the store waits only 0.1 s). Against the fal fake: the cell ends failed
(`store_unavailable`), never "generating…" for ever; the run completes; an image in hand is
saved once the store can write again; a Retry follows the same paid job, never a second one.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from tests.fakes.fal_server import TEST_FAL_KEY, FalFake
from vibegen import images
from vibegen.catalog import default_catalog
from vibegen.costs import Cost
from vibegen.params import CommonParams
from vibegen.records import CellSpec
from vibegen.routers.sandbox_router import render
from vibegen.runner import Runner, plan_run
from vibegen.store import Store, write_problem
from vibegen.unsaved import SavePolicy

ROOT = Path(__file__).resolve().parent.parent

MODEL = "fal:flux-schnell"
PROMPT = "a lighthouse at dusk"
BIG = 40_000  # image bytes: more than the free room in any page, so it needs new pages


class Disk:
    """The store's SQLite file can be held at its present size: a full disk, for the store."""

    def __init__(self, store: Store) -> None:
        self.full = False
        sa.event.listen(store.engine, "checkout", self._cap)

    def _cap(self, dbapi_conn, _record, _proxy) -> None:
        # SQLite never lowers the cap below the file's size: 1 means "not one page more".
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA max_page_count={1 if self.full else 1073741823}")
        cur.close()


class Lock:
    """Another connection holding the database's write lock, as a stuck process would."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def take(self) -> None:
        self.conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.conn.rollback()


@pytest.fixture
def db(isolated_env) -> Path:
    return isolated_env / "vibegen.db"  # the file the app's pages open too


@pytest.fixture
def store(db):
    s = Store.open(f"sqlite:///{db}", busy_timeout_s=0.1)
    yield s
    s.engine.dispose()


def fal_runner(store: Store, fake: FalFake, hold_s: float = 60.0) -> Runner:
    return Runner(
        store,
        default_catalog(),
        env={"FAL_KEY": TEST_FAL_KEY, "VIBEGEN_FAL_URL": fake.url},
        router_options={"fal": {"poll_interval": 0.01}},
        heartbeat=False,
        saving=SavePolicy(retry_s=0.3, hold_s=hold_s, tick_s=0.05),
    )


def cell_of(store: Store, run_id: str):
    return store.run_view(run_id).cells[0]


def wait_for(probe, what: str, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := probe():
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def hold_in_queue(fake: FalFake) -> None:
    fake.queue_steps = 10_000  # the job waits at the router until `finish` lets it go


def finish(fake: FalFake) -> None:
    fake.queue_steps = 0
    for job in fake.jobs.values():
        job.steps, job.polls = [("IN_PROGRESS", 0), ("COMPLETED", 0)], 0


def test_disk_full_the_cell_fails_and_its_image_is_saved_once_there_is_room(store):
    disk = Disk(store)
    with FalFake(image_size=BIG) as fake:
        runner = fal_runner(store, fake)
        disk.full = True
        run_id = runner.start_run(PROMPT, [MODEL], CommonParams())
        assert runner.wait(run_id, 10)  # the run completes, disk or no disk
        view = store.run_view(run_id)
        cell = view.cells[0]
        assert view.complete and (cell.status, cell.error_kind) == ("error", "store_unavailable")
        assert "the image arrived but could not be saved: disk full" in cell.error_message
        assert store.image(cell.id) is None and view.spend == []  # nothing booked twice later

        disk.full = False  # room again: the image held in memory is saved, not bought again
        cell = wait_for(
            lambda: (c := cell_of(store, run_id)).status == "ok" and c, "the held image to be saved"
        )
        runner.close()
        assert len(store.image(cell.id)) == BIG and cell.error_message is None
        assert len(fake.received("POST")) == 1
        assert [s.outcome for s in store.run_view(run_id).spend] == ["image"]


def test_disk_full_past_the_hold_retry_fetches_the_same_job(store):
    disk = Disk(store)
    with FalFake(image_size=BIG) as fake:
        runner = fal_runner(store, fake, hold_s=0)  # the bytes are let go at once
        disk.full = True
        run_id = runner.start_run(PROMPT, [MODEL], CommonParams())
        assert runner.wait(run_id, 10)
        wait_for(lambda: runner.keeper.held() == 0, "the keeper to finish")
        cell = cell_of(store, run_id)
        assert (cell.status, cell.error_kind) == ("error", "store_unavailable")
        assert "could not be saved: disk full" in cell.error_message
        assert "Retry fetches it again from the same paid job" in cell.error_message
        assert cell.job_open and store.run_view(run_id).retry_plan() == (1, 0)
        page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
        page.query_params["run"] = run_id
        page.run()
        assert not page.exception
        # The leading emoji becomes the box's icon; the text is Markdown-escaped.
        shown = [(e.icon, e.value.replace("\\", "")) for e in page.error]
        assert (
            "💾",
            "fal: the image could not be saved: disk full. Retry fetches it again "
            "from the same paid job",
        ) in shown, shown
        assert page.button(key="retry").label == "Retry failed cells (1)"

        disk.full = False
        time.sleep(0.3)
        assert cell_of(store, run_id).status == "error"  # nothing left to save by itself
        assert runner.retry_failed(run_id) == 1
        assert runner.wait(run_id, 10)
        runner.close()
        cell = cell_of(store, run_id)
        assert cell.status == "ok", cell.error_message
        assert len(store.image(cell.id)) == BIG
        assert len(fake.received("POST")) == 1  # the same job's result, fetched again


def test_retry_while_the_disk_is_still_full_keeps_the_image_and_buys_nothing(store):
    disk = Disk(store)
    with FalFake(image_size=BIG) as fake:
        runner = fal_runner(store, fake)
        disk.full = True
        run_id = runner.start_run(PROMPT, [MODEL], CommonParams())
        assert runner.wait(run_id, 10)
        assert runner.retry_failed(run_id) == 1  # clicked while the disk is still full
        assert runner.wait(run_id, 10)
        cell = cell_of(store, run_id)
        assert (cell.status, cell.error_kind) == ("error", "store_unavailable")
        disk.full = False
        assert runner.retry_failed(run_id) == 1
        assert runner.wait(run_id, 10)
        runner.close()
        assert cell_of(store, run_id).status == "ok"
        assert len(fake.received("POST")) == 1
        assert len(fake.received("GET", "/files/")) == 1  # not even downloaded again


@pytest.mark.parametrize("hold_s, after_release", [(60.0, "ok"), (0.0, "error")])
def test_database_locked_the_cell_ends_stored_once_the_lock_is_released(
    store, db, hold_s, after_release
):
    lock = Lock(db)
    with FalFake(image_size=BIG) as fake:
        runner = fal_runner(store, fake, hold_s=hold_s)
        hold_in_queue(fake)
        run_id = runner.start_run(PROMPT, [MODEL], CommonParams())
        wait_for(lambda: cell_of(store, run_id).job, "the job handle to be saved")
        lock.take()
        try:
            finish(fake)
            assert runner.wait(run_id, 10)  # the run completes while nothing can be written
            # The store still says running (it cannot be told otherwise); the runner knows.
            cell = cell_of(store, run_id)
            assert cell.status == "running"
            assert "could not be saved: database locked" in runner.unsaved(run_id)[cell.id]
        finally:
            lock.release()
        cell = wait_for(
            lambda: (c := cell_of(store, run_id)).finished and c,
            "the outcome to be written after the lock",
        )
        assert cell.status == after_release
        if after_release == "error":
            assert cell.error_kind == "store_unavailable"
            assert "could not be saved: database locked" in cell.error_message
            assert runner.retry_failed(run_id) == 1
            assert runner.wait(run_id, 10)
            cell = cell_of(store, run_id)
        runner.close()
        assert cell.status == "ok" and len(store.image(cell.id)) == BIG
        assert runner.unsaved(run_id) == {}
        assert len(fake.received("POST")) == 1


def test_a_cell_that_cannot_start_is_failed_without_buying(store, db):
    lock = Lock(db)
    with FalFake() as fake:
        runner = fal_runner(store, fake)
        catalog = default_catalog()
        cells = plan_run(PROMPT, [MODEL], CommonParams(), catalog, runner.env).cells
        run_id = store.create_run(PROMPT, {}, cells, runner_id=runner.id)
        lock.take()
        try:
            assert runner.submit(run_id) == 1
            assert runner.wait(run_id, 10)
        finally:
            lock.release()
        cell = wait_for(
            lambda: (c := cell_of(store, run_id)).finished and c, "the failure to be written"
        )
        assert (cell.status, cell.error_kind) == ("error", "store_unavailable")
        assert "not started: database locked" in cell.error_message
        assert fake.received("POST") == []  # nothing bought while nothing could be saved
        assert runner.retry_failed(run_id) == 1
        assert runner.wait(run_id, 10)
        runner.close()
        assert cell_of(store, run_id).status == "ok"
        assert len(fake.received("POST")) == 1


def test_a_router_failure_refused_by_the_store_is_stored_as_what_it_was(store, db):
    lock = Lock(db)
    with FalFake() as fake:
        runner = fal_runner(store, fake)
        fake.script("content_policy")
        hold_in_queue(fake)
        run_id = runner.start_run(PROMPT, [MODEL], CommonParams())
        wait_for(lambda: cell_of(store, run_id).job, "the job handle to be saved")
        lock.take()
        try:
            finish(fake)
            assert runner.wait(run_id, 10)
        finally:
            lock.release()
        cell = wait_for(
            lambda: (c := cell_of(store, run_id)).finished and c, "the failure to be written"
        )
        runner.close()
        assert (cell.status, cell.error_kind) == ("error", "content_filter")


def test_postgres_lock_timeouts_are_worded_as_a_locked_database():
    from tests.conftest import _postgres_url

    url = _postgres_url()
    engine = sa.create_engine(url)
    holder = engine.connect()
    try:
        holder.exec_driver_sql("CREATE TABLE IF NOT EXISTS outage_probe (x int)")
        holder.commit()
        holder.exec_driver_sql("LOCK TABLE outage_probe IN ACCESS EXCLUSIVE MODE")
        with engine.connect() as other:
            other.exec_driver_sql("SET lock_timeout = '100ms'")
            with pytest.raises(sa.exc.OperationalError) as err:
                other.exec_driver_sql("INSERT INTO outage_probe VALUES (1)")
        assert write_problem(err.value) == "database locked"
    finally:
        holder.rollback()
        holder.exec_driver_sql("DROP TABLE IF EXISTS outage_probe")
        holder.commit()
        holder.close()
        engine.dispose()


def _grid_with_unsaved(db: str, run_id: str, cell_id: str) -> None:
    from vibegen.store import Store
    from vibegen.ui.grid import run_grid, run_header

    store = Store.open(db)
    view = store.run_view(run_id)
    held = {
        cell_id: "fal: the image arrived but could not be saved: database locked. It "
        "is saved as soon as the database can write again; Retry tries now"
    }
    run_header(view, held)
    run_grid(store, view, unsaved=held)


def test_the_grid_says_a_cell_waits_for_the_database_not_generating(store, db):
    cells = plan_run(
        PROMPT,
        [MODEL, "fal:flux-dev"],
        CommonParams(),
        default_catalog(),
        {"FAL_KEY": TEST_FAL_KEY},
    ).cells
    run_id = store.create_run(PROMPT, {}, cells)
    held, busy = store.run_view(run_id).cells
    store.mark_running(held.id, "r")
    page = AppTest.from_function(
        _grid_with_unsaved, args=(f"sqlite:///{db}", run_id, held.id), default_timeout=30
    ).run()
    assert not page.exception
    assert [(w.icon, w.value.replace("\\", "")) for w in page.warning] == [
        (
            "💾",
            "fal: the image arrived but could not be saved: database locked. It is saved as "
            "soon as the database can write again; Retry tries now",
        )
    ]
    assert [c.value for c in page.caption if c.value.endswith("…")] == ["queued…"]  # the other
    progress = page.get("progress")[0].proto.text
    assert "0 of 2 done · generating…" in progress
    assert "1 waiting for the database to accept writes" in progress
    assert busy.status == "pending"


def test_a_preview_made_while_the_disk_is_full_is_shown_and_saved_later(store):
    # A page asking for a preview the runner has not made yet gets it even when it cannot be
    # saved; the next read once there is room saves it.
    disk = Disk(store)
    run_id = store.create_run("p", {}, [_spec()])
    cell = store.run_view(run_id).cells[0]
    png = render("rings", "p", 1, 1024, 1024)
    store.save_success(
        cell.id, png, cost=Cost(0.01, "simulated"), wall_s=1.0, prepared=images.checked(png)
    )
    disk.full = True
    shown = store.thumbnails([cell.id])
    assert images.inspect(shown[cell.id]).width == images.THUMB_SIDE
    imgs = store.t["images"]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(imgs.c.thumb)).scalar() == images.NO_PREVIEW  # refused
    disk.full = False
    assert store.thumbnails([cell.id]).keys() == {cell.id}
    assert store.make_previews([cell.id]) == {}  # saved by the read above: nothing left to make


def _spec() -> CellSpec:
    return CellSpec(
        "sandbox:prism", "sandbox", "Prism", 0, "p", {}, {}, Cost(0.01, "simulated"), 1024, 1024
    )
