"""`vibegen worker` processes on one PostgreSQL store, against the fal and Kie fakes.

Real subprocesses, real queue (pgqueuer), real HTTP fakes: three workers hold the routers'
limits together; a worker killed with SIGKILL costs nothing (another resumes its paid jobs);
SIGTERM hands back what a worker still holds; a worker without its database retries and says
so; a queued cell whose model left the catalog ends as a stored error.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.fakes.fal_server import TEST_FAL_KEY, FalFake
from tests.fakes.kie_server import TEST_KIE_KEY, KieFake
from vibegen.catalog import default_catalog
from vibegen.cli import main
from vibegen.costs import Cost
from vibegen.params import CommonParams
from vibegen.records import CellSpec
from vibegen.runner import Runner
from vibegen.store import Store
from vibegen.worker import POLL_S

ROOT = Path(__file__).resolve().parents[1]
HEARTBEAT_S = 3.0  # workers here are taken for dead after 3 s of silence (default 10)


class Workers:
    """`vibegen worker` subprocesses, each logging to its own file; all ended at the end."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp, env
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self, **extra: str) -> int:
        """Start one more worker; its index."""
        n = len(self.procs)
        log = self.tmp / f"worker{n}.log"
        with log.open("w") as fh:
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "vibegen.cli", "worker"],
                    env={**self.env, **extra},
                    cwd=ROOT,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                )
            )
        self.logs.append(log)
        return n

    def log(self, n: int) -> str:
        """What worker `n` has logged so far."""
        return self.logs[n].read_text()

    def wait_ready(self, n: int) -> str:
        """Worker `n`'s runner id, once it listens on the queue."""
        found = _wait(
            lambda: re.search(r"worker (\w+) ready: ", self.log(n)),
            30,
            f"worker {n} to be ready:\n{self.log(n)}",
        )
        return found.group(1)

    def stop_all(self) -> None:
        """End every worker still running (SIGKILL: the test is over)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture
def fakes() -> Iterator[tuple[FalFake, KieFake]]:
    """The fal and Kie fakes."""
    with FalFake() as fal, KieFake() as kie:
        yield fal, kie


def _env(pg_url: str, fal: FalFake, kie: KieFake) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": pg_url,
        "FAL_KEY": TEST_FAL_KEY,
        "VIBEGEN_FAL_URL": fal.url,
        "KIE_API_KEY": TEST_KIE_KEY,
        "VIBEGEN_KIE_URL": kie.url,
        "VIBEGEN_WORKER_HEARTBEAT_S": str(HEARTBEAT_S),
    }


def _app(pg_url: str, env: dict[str, str]) -> tuple[Store, Runner]:
    """The store and a runner that only queues (its embedded worker off), like an app
    started with VIBEGEN_EMBEDDED_WORKER=off."""
    store = Store.open(pg_url)
    runner = Runner(store, default_catalog(), env=env, heartbeat=False, embedded_worker=False)
    return store, runner


def _holders(store: Store, run_id: str) -> dict[str, str | None]:
    """Which runner (worker) holds or last held each cell of a run: cell id → runner id."""
    gens = store.t["generations"]
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(gens.c.id, gens.c.runner_id).where(gens.c.run_id == run_id)
        ).all()
    return {r.id: r.runner_id for r in rows}


def _wait(probe: Callable[[], object], timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := probe():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of (start, end) intervals open at one moment."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _fal_open(fal: FalFake) -> list[tuple[float, float]]:
    """Each fal job's submit → first result fetch, as the fake saw them."""
    with fal.lock:
        return [(job.submitted_at, job.fetched_at or time.time()) for job in fal.jobs.values()]


@pytest.mark.postgres
def test_three_workers_hold_each_routers_limit_together(pg_url, fakes, tmp_path):
    fal, kie = fakes
    env = _env(pg_url, fal, kie)
    # fal: at most 3 cells open at once for the whole team; Kie: 24 cells against its 20 new
    # tasks per 10 s, with room for all of them at once so only the rate limit can hold them.
    # 12 slots each: 36 cells need all three workers.
    env.update(VIBEGEN_FAL_IN_FLIGHT="3", VIBEGEN_KIE_IN_FLIGHT="24", VIBEGEN_WORKER_SLOTS="12")
    store, runner = _app(pg_url, env)
    workers = Workers(tmp_path, env)
    try:
        ids = [workers.wait_ready(workers.start()) for _ in range(3)]
        runs = [
            runner.start_run(
                f"a lighthouse {i}",
                ["fal:flux-schnell", "kie:z-image", "kie:nano-banana-pro"],
                CommonParams(images_per_model=4, seed=i),
            )
            for i in range(3)
        ]
        for run_id in runs:
            assert runner.wait(run_id, 90), [c.status for c in store.run_view(run_id).cells]
    finally:
        workers.stop_all()
        runner.close()
    cells = [c for r in runs for c in store.run_view(r).cells]
    assert [c.status for c in cells] == ["ok"] * 36, [c.error_message for c in cells]
    # Every worker took part, and no cell ran anywhere else.
    assert {h for r in runs for h in _holders(store, r).values()} == set(ids)

    # fal saw 12 jobs, never more than 3 open at once (and 3 at some moment: the workers
    # together used the whole allowance).
    assert len(fal.jobs) == 12 and len(fal.received("POST")) == 12
    assert _most_at_once(_fal_open(fal)) == 3

    # Kie saw 24 creates, never more than its 20 in any 10 s, and refused none.
    creates = sorted(kie.create_times)
    assert len(creates) == 24 and len(kie.tasks) == 24
    in_window = max(sum(1 for t in creates if s <= t < s + 10.0) for s in creates)
    assert 18 <= in_window <= 20
    store.close()


@pytest.mark.postgres
def test_a_killed_worker_costs_nothing(pg_url, tmp_path):
    # Slow enough that the kill lands while every job is queued or running at the router.
    with (
        FalFake(queue_steps=2000, progress_steps=1) as fal,
        KieFake(progression=("waiting",) * 2000 + ("generating",)) as kie,
    ):
        env = _env(pg_url, fal, kie)
        env["VIBEGEN_WORKER_SLOTS"] = "4"  # 8 cells: each worker takes half
        store, runner = _app(pg_url, env)
        workers = Workers(tmp_path, env)
        try:
            first = workers.wait_ready(workers.start())
            second = workers.wait_ready(workers.start())
            run_id = runner.start_run(
                "a lighthouse",
                ["fal:flux-schnell", "fal:flux-dev", "kie:z-image", "kie:nano-banana-pro"],
                CommonParams(images_per_model=2),
            )
            cells = lambda: store.run_view(run_id).cells  # noqa: E731
            _wait(
                lambda: (
                    all(c.job for c in cells())
                    and set(_holders(store, run_id).values()) == {first, second}
                ),
                60,
                "both workers to hold cells whose jobs are saved",
            )
            victim = {c for c, h in _holders(store, run_id).items() if h == first}
            before = {c.id: c.job for c in cells()}
            workers.procs[0].send_signal(signal.SIGKILL)
            workers.procs[0].wait(10)
            killed = time.monotonic()
            assert len(fal.jobs) == 4 and len(kie.tasks) == 4

            # The fakes finish their jobs quickly now.
            for job in fal.jobs.values():
                job.steps = [("IN_PROGRESS", 0), ("COMPLETED", 0)]
                job.polls = 0
            kie.progression = ("generating",)
            for task in kie.tasks.values():
                task.polls = 0
            # Taken over within the stated time: the heartbeat timeout plus one look at the
            # queue (the slack is for a loaded machine, not part of the promise).
            _wait(
                lambda: all(_holders(store, run_id)[c] == second for c in victim),
                HEARTBEAT_S + POLL_S + 10,
                "the second worker to take the dead worker's cells over",
            )
            taken_after = time.monotonic() - killed
            assert runner.wait(run_id, 60)
        finally:
            workers.stop_all()
            runner.close()
        after = cells()
        assert [c.status for c in after] == ["ok"] * 8, [c.error_message for c in after]
        assert {c.id: c.job for c in after} == before  # the same paid jobs, followed to the end
        assert len(fal.received("POST")) == 4 and len(kie.received("POST")) == 4
        assert len(store.run_view(run_id).spend) == 8  # each billed once
        assert taken_after >= HEARTBEAT_S - 1  # by the heartbeat, not by luck
        store.close()


@pytest.mark.postgres
def test_a_late_worker_buys_nothing_twice(pg_url, tmp_path):
    """A worker stopped (SIGSTOP) past its lease, then woken (SIGCONT): another took its
    cells over meanwhile; the late one submits nothing and writes nothing for them."""
    # The first two submits are refused (429, retry after 6 s): those cells sit before their
    # paid call when the worker stops; the other two are polling their saved jobs.
    with FalFake(queue_steps=2000, progress_steps=1, retry_after="6") as fal, KieFake() as kie:
        fal.script("429", "429")
        env = _env(pg_url, fal, kie)
        env["VIBEGEN_WORKER_SLOTS"] = "4"
        store, runner = _app(pg_url, env)
        workers = Workers(tmp_path, env)
        try:
            first = workers.wait_ready(workers.start())
            run_id = runner.start_run(
                "a lighthouse", ["fal:flux-schnell"], CommonParams(images_per_model=4)
            )
            cells = lambda: store.run_view(run_id).cells  # noqa: E731
            _wait(
                lambda: len(fal.jobs) == 2 and len(fal.received("POST")) == 4,
                30,
                "two cells polling their jobs and two refused, all on the first worker",
            )
            assert set(_holders(store, run_id).values()) == {first}
            saved = {c.id: c.job for c in cells() if c.job}
            assert len(saved) == 2
            workers.procs[0].send_signal(signal.SIGSTOP)  # alive, but silent
            stopped = time.monotonic()
            second = workers.wait_ready(workers.start())
            _wait(
                lambda: set(_holders(store, run_id).values()) == {second},
                HEARTBEAT_S + POLL_S + 15,
                "the second worker to take the late worker's cells over",
            )
            taken_after = time.monotonic() - stopped
            for job in fal.jobs.values():  # the saved jobs finish now
                job.steps = [("IN_PROGRESS", 0), ("COMPLETED", 0)]
                job.polls = 0
            fal.queue_steps = 0
            workers.procs[0].send_signal(signal.SIGCONT)  # wakes before the retries are due
            assert runner.wait(run_id, 60)
            # The late worker woke, met its fence, and is still serving the queue.
            _wait(
                lambda: "not submitting" in workers.log(0),
                30,
                f"the late worker to say it does not submit:\n{workers.log(0)}",
            )
            time.sleep(1.0)  # any late call it would make lands at the fake by now
            assert workers.procs[0].poll() is None, workers.log(0)
        finally:
            workers.procs[0].send_signal(signal.SIGCONT)
            workers.stop_all()
            runner.close()
        after = cells()
        assert [c.status for c in after] == ["ok"] * 4, [c.error_message for c in after]
        assert set(_holders(store, run_id).values()) == {second}
        assert {c.id: c.job for c in after if c.id in saved} == saved  # followed, not rebought
        assert len(fal.jobs) == 4  # exactly one paid job per cell
        assert len(fal.received("POST")) == 4 + 2  # and the two refused submits
        assert len(store.run_view(run_id).spend) == 4  # each booked once
        assert taken_after >= HEARTBEAT_S - 1  # by the lease, not at once
        store.close()


@pytest.mark.postgres
def test_sigterm_hands_back_what_the_worker_holds(pg_url, tmp_path):
    with FalFake(queue_steps=2000, progress_steps=1) as fal, KieFake() as kie:
        env = _env(pg_url, fal, kie)
        store, runner = _app(pg_url, env)
        workers = Workers(tmp_path, env)
        try:
            first = workers.wait_ready(workers.start(VIBEGEN_WORKER_GRACE_S="1"))
            run_id = runner.start_run("a lighthouse", ["fal:flux-schnell"], CommonParams())
            cells = lambda: store.run_view(run_id).cells  # noqa: E731
            _wait(lambda: all(c.job for c in cells()), 30, "the cell's job to be saved")
            assert list(_holders(store, run_id).values()) == [first]
            workers.procs[0].send_signal(signal.SIGTERM)
            assert workers.procs[0].wait(20) == 0
            log = workers.log(0)
            assert "SIGTERM received" in log and "back to the queue" in log, log
            assert cells()[0].status == "running"  # held by nobody: back in the queue

            for job in fal.jobs.values():
                job.steps = [("IN_PROGRESS", 0), ("COMPLETED", 0)]
                job.polls = 0
            second = workers.wait_ready(workers.start())
            assert runner.wait(run_id, 30)  # at once: no heartbeat to wait out
        finally:
            workers.stop_all()
            runner.close()
        (cell,) = cells()
        assert cell.status == "ok", cell.error_message
        assert _holders(store, run_id) == {cell.id: second}
        assert len(fal.received("POST")) == 1  # resumed by its request id, not bought again
        store.close()


@pytest.mark.postgres
def test_sigterm_lets_a_cell_that_finishes_in_time_finish(pg_url, tmp_path):
    with FalFake(queue_steps=4, progress_steps=1) as fal, KieFake() as kie:
        env = _env(pg_url, fal, kie)
        store, runner = _app(pg_url, env)
        workers = Workers(tmp_path, env)
        try:
            workers.wait_ready(workers.start(VIBEGEN_WORKER_GRACE_S="60"))
            run_id = runner.start_run("a lighthouse", ["fal:flux-schnell"], CommonParams())
            _wait(lambda: store.run_view(run_id).cells[0].job, 30, "the cell's job to be saved")
            workers.procs[0].send_signal(signal.SIGTERM)
            assert workers.procs[0].wait(30) == 0
        finally:
            workers.stop_all()
            runner.close()
        (cell,) = store.run_view(run_id).cells
        assert cell.status == "ok", cell.error_message  # finished before the worker left
        assert "0 cell(s) handed back" in workers.log(0)
        store.close()


@pytest.mark.postgres
def test_a_queued_cell_whose_model_left_the_catalog_ends_as_a_stored_error(pg_url):
    store = Store.open(pg_url)
    spec = CellSpec(
        "fal:a-model-since-removed",
        "fal",
        "A model since removed",
        0,
        "a lighthouse",
        {},
        {},
        Cost(None, "unknown"),
    )
    run_id = store.create_run("a lighthouse", {}, [spec], runner_id=None)
    runner = Runner(store, default_catalog(), env={}, heartbeat=False)  # embedded worker on
    try:
        assert runner.submit(run_id) == 1
        assert runner.wait(run_id, 30)
    finally:
        runner.close()
    (cell,) = store.run_view(run_id).cells
    assert cell.status == "error" and cell.error_kind == "unknown_model"
    assert "no longer in this worker's catalog" in (cell.error_message or "")
    store.close()


def test_a_worker_without_its_database_retries_and_says_so(tmp_path):
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # Nothing listens on port 9 here: connections are refused at once.
        "DATABASE_URL": "postgresql+psycopg://vibegen:secret-password@127.0.0.1:9/vibegen",
    }
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vibegen.cli", "worker"],
            env=env,
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(
            lambda: log.read_text().count("cannot reach the database") >= 2,
            30,
            "two tries logged",
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text()
    assert "retrying in 1 s" in text and "retrying in 2 s" in text, text
    assert "secret-password" not in text and "Traceback" not in text, text


def test_worker_on_the_sqlite_store_says_what_it_needs():
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 1
    assert "PostgreSQL" in result.output and "Traceback" not in result.output


@pytest.mark.postgres
def test_a_worker_that_loses_its_database_says_so_and_carries_on(pg_url, caplog):
    store = Store.open(pg_url)
    quick = {"VIBEGEN_SANDBOX_SPEED": "0.01", "VIBEGEN_SANDBOX_FAILURES": "off"}
    runner = Runner(store, default_catalog(), env=quick, heartbeat=False)  # embedded worker
    assert runner.worker is not None
    try:
        assert runner.worker.ready.wait(20)
        with caplog.at_level("WARNING", logger="vibegen.worker"):
            engine = sa.create_engine(pg_url)
            with engine.begin() as conn:  # the server drops every other session
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            engine.dispose()
            _wait(
                lambda: "cannot reach the database" in caplog.text,
                20,
                "the worker to say it lost the database",
            )
            assert runner.worker.ready.wait(20)  # connected again, by itself
        run_id = runner.start_run("after the outage", ["sandbox:prism"], CommonParams())
        assert runner.wait(run_id, 30)
    finally:
        runner.close()
    assert [c.status for c in store.run_view(run_id).cells] == ["ok"]
    store.close()
