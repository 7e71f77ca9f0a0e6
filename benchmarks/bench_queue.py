"""Team mode's job queue: 1,000 cells across 1, 2 and 4 `vibegen worker` processes.

Every cell is a pgqueuer job on PostgreSQL; the workers are real `vibegen worker` processes
(the CLI command) with one fake router registered in them: it answers every generation after
exactly LATENCY_S with a small PNG, so the machine's 2 cores are not spent drawing pictures.
Router limits are raised past the cell count (VIBEGEN_SANDBOX_IN_FLIGHT), so what binds is
the workers' own slots (SLOTS each): the ideal wall time for W workers is
ceil(1000 / (W × SLOTS)) × LATENCY_S.

Printed per worker count: the run's wall time (enqueue → last cell saved) ÷ that ideal, the
speed-up over one worker as a share of linear, and the queue's own overhead per job:
enqueue → the cell started in a worker, measured on PROBES single-cell jobs enqueued one
at a time while the workers have free slots, p50 / p95.
Targets (issue 17): ≥ 0.9 of linear scaling at 4 workers; overhead p95 ≤ 50 ms.

Needs PostgreSQL: VIBEGEN_BENCH_DATABASE_URL (else VIBEGEN_TEST_DATABASE_URL). The database
it is given is emptied first.

Run: python benchmarks/bench_queue.py  (--cells N --probes N --workers 1,2 for a quick look;
the figures the README reports are the full run's)
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.fakes and vibegen, from a checkout

import sqlalchemy as sa  # noqa: E402

from tests.fakes.http_fake import png_bytes  # noqa: E402
from vibegen.catalog import default_catalog  # noqa: E402
from vibegen.costs import Cost  # noqa: E402
from vibegen.records import CellSpec  # noqa: E402
from vibegen.routers import register  # noqa: E402
from vibegen.routers.base import GenerationRequest, GenerationResult, Router  # noqa: E402
from vibegen.runner import Runner  # noqa: E402
from vibegen.store import Store  # noqa: E402

CELLS = 1000
LATENCY_S = 1.0
SLOTS = 16
WORKERS = (1, 2, 4)
PROBES = 200
PROBE_EVERY_S = 0.1  # ~6 probes in flight at once: always free slots
TARGET_LINEAR = 0.9
TARGET_P95_MS = 50.0
PICTURE = png_bytes(64, 48, (40, 90, 200))


class FixedLatency(Router):
    """The fake router the workers run: every image after exactly LATENCY_S."""

    name = "sandbox"  # in place of the sandbox's adapter: its models, prices and limits

    def __init__(self, **kwargs) -> None:
        for option in ("speed", "failures", "jitter"):
            kwargs.pop(option, None)
        super().__init__(**kwargs)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Wait LATENCY_S, then answer the same small picture."""
        time.sleep(LATENCY_S)
        return GenerationResult(image=PICTURE, seed=str(request.seed or 0))


def worker_main() -> None:
    """A `vibegen worker` process with the fixed-latency router registered."""
    register(FixedLatency)
    from vibegen.cli import main

    main(["worker"])


def _start_workers(n: int, env: dict[str, str], tmp: Path) -> list[subprocess.Popen]:
    procs, logs = [], []
    for i in range(n):
        log = tmp / f"worker{n}-{i}.log"
        with log.open("w") as fh:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        "import sys; sys.path.insert(0, sys.argv[1]); "
                        "import bench_queue; bench_queue.worker_main()",
                        str(ROOT / "benchmarks"),
                    ],
                    env=env,
                    cwd=ROOT,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                )
            )
        logs.append(log)
    end = time.monotonic() + 60
    while not all(re.search(r" ready: ", log.read_text()) for log in logs):
        if time.monotonic() > end:
            raise SystemExit("workers did not start:\n" + "\n".join(x.read_text() for x in logs))
        time.sleep(0.1)
    return procs


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(60)


def _specs(n: int) -> list[CellSpec]:
    cost = Cost(0.0, "simulated", "bench", "bench")
    return [
        CellSpec(
            "sandbox:prism", "sandbox", "Prism", i, "a lighthouse", {"seed": i}, {}, cost, 64, 48
        )
        for i in range(n)
    ]


def _finished(store: Store, run_id: str) -> bool:
    return all(c.finished for c in store.run_view(run_id).cells)


def _wait(store: Store, run_id: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not _finished(store, run_id):
        if time.monotonic() > end:
            raise SystemExit(f"run {run_id} did not finish in {timeout:.0f} s")
        time.sleep(0.05)


def one(workers: int, url: str, env: dict[str, str], tmp: Path) -> tuple[float, list[float]]:
    """Wall time of CELLS cells on `workers` workers, and the probes' overheads (s)."""
    store = Store.open(url)
    runner = Runner(store, default_catalog(), env={}, heartbeat=False, embedded_worker=False)
    assert runner.queue is not None
    procs = _start_workers(workers, env, tmp)
    try:
        run_id = store.create_run("a lighthouse", {}, _specs(CELLS))
        cells = store.pending_cells(run_id)
        started = time.time()
        runner.queue.put(cells)
        _wait(store, run_id, 600)
        view = store.run_view(run_id)
        if view.failures:
            raise SystemExit(f"{view.failures} cells failed: the figures would mean nothing")
        wall = max(c.finished_at.timestamp() for c in view.cells) - started

        overheads = []
        probes = []
        for _ in range(PROBES):
            probe = store.create_run("a probe", {}, _specs(1))
            (cell,) = store.pending_cells(probe)
            at = time.time()
            runner.queue.put([cell])
            probes.append((probe, at))
            time.sleep(PROBE_EVERY_S)
        for probe, at in probes:
            _wait(store, probe, 60)
            (cell,) = store.run_view(probe).cells
            overheads.append(cell.started_at.timestamp() - at)
    finally:
        _stop(procs)
        runner.close()
        store.close()
    return wall, overheads


def main() -> int:
    """Print wall ÷ ideal, the share of linear scaling and the overhead, with MET / NOT MET."""
    global CELLS, PROBES, WORKERS
    parser = argparse.ArgumentParser(description="Team mode's job queue across workers.")
    parser.add_argument("--cells", type=int, default=CELLS, help="cells per run (1000)")
    parser.add_argument("--probes", type=int, default=PROBES, help="single-cell probes (200)")
    parser.add_argument(
        "--workers", default=",".join(map(str, WORKERS)), help="worker counts (1,2,4)"
    )
    args = parser.parse_args()
    CELLS, PROBES = max(1, args.cells), max(1, args.probes)
    try:
        WORKERS = tuple(int(w) for w in args.workers.split(",") if w.strip())
    except ValueError:
        parser.error(f"--workers takes counts like 1,2,4, not {args.workers!r}")
    if not WORKERS or min(WORKERS) < 1:
        parser.error("--workers needs at least one count of 1 or more")
    url = os.environ.get("VIBEGEN_BENCH_DATABASE_URL") or os.environ.get(
        "VIBEGEN_TEST_DATABASE_URL", ""
    )
    if not url:
        print("bench_queue: needs PostgreSQL: set VIBEGEN_BENCH_DATABASE_URL")
        return 1
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    print(
        f"bench_queue: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} (the workers, "
        f"PostgreSQL and this script share the cores); {CELLS} cells, fixed latency "
        f"{LATENCY_S:.1f} s, {SLOTS} slots per worker, router limits raised"
    )
    print("workers  wall_s  ideal_s  wall/ideal  linear_share  overhead_p50_ms  overhead_p95_ms")
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": url,
            "VIBEGEN_HOME": tmp,
            "VIBEGEN_WORKER_SLOTS": str(SLOTS),
            "VIBEGEN_SANDBOX_IN_FLIGHT": "1024",
        }
        walls: dict[int, float] = {}
        p95s: list[float] = []
        for n in WORKERS:
            wall, overheads = one(n, url, env, Path(tmp))
            walls[n] = wall
            ideal = math.ceil(CELLS / (n * SLOTS)) * LATENCY_S
            share = walls[WORKERS[0]] / (wall * n / WORKERS[0])
            ms = sorted(o * 1000 for o in overheads)
            p50 = statistics.median(ms)
            p95 = ms[min(len(ms) - 1, math.ceil(0.95 * len(ms)) - 1)]
            p95s.append(p95)
            print(
                f"{n:7d}  {wall:6.2f}  {ideal:7.2f}  {wall / ideal:10.3f}  {share:12.3f}  "
                f"{p50:15.1f}  {p95:15.1f}"
            )
    if 4 in walls:
        share4 = walls[WORKERS[0]] / (walls[4] * 4 / WORKERS[0])
        print(
            f"scaling at 4 workers: {share4:.3f} of linear (target ≥ {TARGET_LINEAR}): "
            f"{'MET' if share4 >= TARGET_LINEAR else 'NOT MET'}"
        )
    ok_p95 = max(p95s) <= TARGET_P95_MS
    print(
        f"queue overhead p95, worst of the runs: {max(p95s):.1f} ms (target ≤ "
        f"{TARGET_P95_MS:.0f} ms): {'MET' if ok_p95 else 'NOT MET'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
