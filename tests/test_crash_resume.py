"""A runner process killed mid-run (SIGKILL) against the fal and Kie fakes: the restarted
runner follows the paid jobs it finds in the store, so each fake gets exactly one job per cell
and no image already paid for is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.fakes.fal_server import TEST_FAL_KEY, FalFake
from tests.fakes.kie_server import TEST_KIE_KEY, KieFake
from vibegen.catalog import default_catalog
from vibegen.runner import Runner
from vibegen.store import Store

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["fal:flux-schnell", "fal:flux-dev", "kie:z-image", "kie:nano-banana-pro"]

# The process that gets killed: a runner like the app's, started on the same store.
CHILD = textwrap.dedent("""
    import os, sys, time
    from vibegen.params import CommonParams
    from vibegen.runner import Runner
    from vibegen.settings import load_settings
    from vibegen.store import Store
    store = Store.open(os.environ["DB"])
    runner = Runner(store, env=load_settings().environ,
                    router_options={"fal": {"poll_interval": 0.05},
                                    "kie": {"poll_interval": 0.02}})
    run_id = runner.start_run("a lighthouse", sys.argv[1:], CommonParams(images_per_model=2))
    print(run_id, flush=True)
    time.sleep(600)
""")


def _wait(probe, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := probe():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_run_resumes_every_paid_job_once(tmp_path):
    db = f"sqlite:///{tmp_path / 'vibegen.db'}"
    # Slow enough that the kill lands while every job is queued or running at the router.
    with (
        FalFake(queue_steps=2000, progress_steps=1) as fal,
        KieFake(progression=("waiting",) * 2000 + ("generating",)) as kie,
    ):
        env = {
            **os.environ,
            "DB": db,
            "FAL_KEY": TEST_FAL_KEY,
            "VIBEGEN_FAL_URL": fal.url,
            "KIE_API_KEY": TEST_KIE_KEY,
            "VIBEGEN_KIE_URL": kie.url,
            "PYTHONPATH": str(ROOT),
            "VIBEGEN_FAL_CONCURRENCY": "8",
            "VIBEGEN_KIE_CONCURRENCY": "8",
        }
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, *MODELS],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            run_id = child.stdout.readline().strip()
            store = Store.open(db)
            cells = lambda: store.run_view(run_id).cells  # noqa: E731
            _wait(lambda: all(c.job for c in cells()), 30, "every cell's job to be saved")
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        before = {c.id: c.job for c in cells()}
        assert all(c.status == "running" for c in cells()), [c.status for c in cells()]
        assert len(fal.jobs) == 4 and len(kie.tasks) == 4

        # The fakes finish their jobs quickly now; a new runner on the same store resumes.
        fal.queue_steps = 0
        for job in fal.jobs.values():
            job.steps = [("IN_PROGRESS", 0), ("COMPLETED", 0)]
            job.polls = 0
        kie.progression = ("generating",)
        for task in kie.tasks.values():
            task.polls = 0
        runner = Runner(
            store,
            default_catalog(),
            env={
                "FAL_KEY": TEST_FAL_KEY,
                "VIBEGEN_FAL_URL": fal.url,
                "KIE_API_KEY": TEST_KIE_KEY,
                "VIBEGEN_KIE_URL": kie.url,
            },
            router_options={"fal": {"poll_interval": 0.01}, "kie": {"poll_interval": 0.01}},
            heartbeat=False,
        )
        try:
            assert runner.wait(run_id, 60)
        finally:
            runner.close()
        after = cells()
        assert [c.status for c in after] == ["ok"] * 8, [c.error_message for c in after]
        assert {c.id: c.job for c in after} == before  # the same jobs, followed to the end
        assert len(fal.received("POST")) == 4 and len(kie.received("POST")) == 4
        assert len(store.run_view(run_id).spend) == 8  # each billed once
        assert store.integrity_ok()
