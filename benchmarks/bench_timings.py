"""Latency targets that used to be wall-clock asserts in tests, measured here instead.

A test asserting "under 0.3 s" fails on a loaded CI machine and proves nothing on a fast one, so
the tests check the behaviour (start does not wait for the grid; a 90 MP header is copied, not
decoded) and this script prints how long each takes, as the median of several tries, with
MET / NOT MET. Run: python benchmarks/bench_timings.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fakes live in tests/

os.environ["VIBEGEN_SANDBOX_JITTER"] = "off"
os.environ["VIBEGEN_SANDBOX_FAILURES"] = "off"

from tests.fakes.http_fake import png_header  # noqa: E402
from vibegen import images  # noqa: E402
from vibegen.catalog import default_catalog  # noqa: E402
from vibegen.params import CommonParams  # noqa: E402
from vibegen.runner import Runner  # noqa: E402
from vibegen.store import Store  # noqa: E402

TRIES = 5


def median_s(step: Callable[[], float]) -> float:
    """The median of TRIES timings; `step` returns the seconds it measured."""
    return statistics.median(step() for _ in range(TRIES))


def start_latency(runner: Runner, models: list[str]) -> float:
    """Seconds `Runner.start_run` takes to return for a four-model sandbox grid."""
    t = time.perf_counter()
    run_id = runner.start_run("a lighthouse at dusk", models, CommonParams())
    took = time.perf_counter() - t
    runner.wait(run_id, 60)
    return took


def strip_latency(data: bytes) -> float:
    """Seconds `images.strip_metadata` takes on a header that claims 90 MP."""
    t = time.perf_counter()
    images.strip_metadata(data)
    return time.perf_counter() - t


def main() -> int:
    """Print each latency, its target and MET / NOT MET."""
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help
    catalog = default_catalog()
    models = [m.key for m in catalog.models if m.router == "sandbox"][:4]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/bench.db")
        runner = Runner(store, catalog, env={}, heartbeat=False)
        try:
            start = median_s(lambda: start_latency(runner, models))
            rows = [("start_run returns (4 models)", start, 0.3)]
        finally:
            runner.close()
    header = png_header(10_000, 9_000)
    rows.append(("strip_metadata, 90 MP header", median_s(lambda: strip_latency(header)), 0.5))
    failed = 0
    for what, took, target in rows:
        met = took < target
        failed += not met
        print(
            f"{what}: {took * 1000:.2f} ms (target < {target * 1000:.0f} ms): "
            f"{'MET' if met else 'NOT MET'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
