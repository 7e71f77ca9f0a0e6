"""Grid render: server-side time of one rerun of the run page at 16, 64 and 256 finished 1024²
images, and what a 16-image run sends the browser.

Targets: ≤ 50 ms at 64 images; no image sent twice to the same page (a rerun names every image
by the same media URL as before, so the browser fetches none again). Measured with AppTest (the
script run on the server, no browser), median of 20 reruns after a warm-up.
Run: python benchmarks/bench_grid.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vibegen.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SIZES = (16, 64, 256)
RERUNS = 20


def _run(store, n: int) -> str:
    from vibegen.costs import Cost
    from vibegen.records import CellSpec
    from vibegen.routers.sandbox_router import render

    cells = [
        CellSpec(
            f"sandbox:m{i}", "sandbox", f"M{i}", 0, "p", {}, {}, Cost(0.01, "simulated"), 1024, 1024
        )
        for i in range(n)
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
    return run_id


def _urls(at) -> list[str]:
    return [url for image in at.image for url in image.value]


def main() -> int:
    """Print the median and p90 rerun time per size, and the 16-image page's bytes."""
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help
    tmp = tempfile.mkdtemp()
    os.environ["VIBEGEN_HOME"] = tmp
    from streamlit.testing.v1 import AppTest

    from vibegen.store import Store

    store = Store.open(load_settings().store_url)
    medians = {}
    for n in SIZES:
        run_id = _run(store, n)
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.query_params["run"] = run_id
        at.run()
        first = _urls(at)
        assert len(first) == n, (n, len(first))
        times, again = [], 0
        for _ in range(RERUNS):
            t = time.perf_counter()
            at.run()
            times.append((time.perf_counter() - t) * 1000)
            again += len(set(_urls(at)) - set(first))  # a new URL is an image fetched again
        med, p90 = statistics.median(times), sorted(times)[int(0.9 * len(times)) - 1]
        medians[n] = med
        print(
            f"grid rerun with {n} finished 1024x1024 images: median {med:.1f} ms, "
            f"p90 {p90:.1f} ms; images sent again over {RERUNS} reruns: {again}"
        )
        if n == 16:
            thumbs = store.thumbnails([c.id for c in store.run_view(run_id).cells])
            image_bytes = sum(len(b) for b in thumbs.values())
            page_bytes = sum(len(e.proto.SerializeToString()) for e in at.image)
            print(
                f"bytes to the browser for the 16-image run: {image_bytes / 1024:.0f} KiB of "
                f"previews ({len(set(first))} distinct, {len(first)} shown) + page elements"
                f" {page_bytes / 1024:.1f} KiB of image references"
            )
    print(f"target ≤ 50 ms at 64 images: {'met' if medians[64] <= 50 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
