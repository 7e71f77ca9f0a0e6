"""Grid render: server-side time of one rerun of the run page showing 16 finished 1024² images.

Target ≤ 50 ms. Measured with AppTest (the script run on the server, no browser), median of
20 reruns after a warm-up. Run: python benchmarks/bench_grid.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Print the median and p90 rerun time."""
    tmp = tempfile.mkdtemp()
    os.environ["VIBEGEN_HOME"] = tmp
    from streamlit.testing.v1 import AppTest

    from vibegen.costs import Cost
    from vibegen.records import CellSpec
    from vibegen.routers.sandbox_router import render
    from vibegen.store import Store

    store = Store.open()
    cells = [
        CellSpec(
            f"sandbox:m{i}", "sandbox", f"M{i}", 0, "p", {}, {}, Cost(0.01, "simulated"), 1024, 1024
        )
        for i in range(16)
    ]
    run_id = store.create_run("a lighthouse at dusk", {}, cells)
    styles = ["stripes", "rings", "blocks", "waves", "dots", "grid"]
    for i, cell in enumerate(store.run_view(run_id).cells):
        store.save_success(
            cell.id,
            render(styles[i % 6], "p", i, 1024, 1024),
            cost=Cost(0.01, "simulated"),
            wall_s=1.0,
        )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    assert len(at.image) == 16, len(at.image)
    times = []
    for _ in range(20):
        t = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - t) * 1000)
    med, p90 = statistics.median(times), sorted(times)[int(0.9 * len(times)) - 1]
    print(f"grid rerun with 16 finished 1024x1024 images: median {med:.1f} ms, p90 {p90:.1f} ms")
    print(f"target ≤ 50 ms: {'met' if med <= 50 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
