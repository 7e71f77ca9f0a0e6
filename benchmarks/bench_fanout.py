"""Fan-out overhead: a run's wall time ÷ its slowest model's latency, for 1, 4, 16, 32 models.

Sandbox models with fixed latencies (no jitter, no failures) and no concurrency cap, so the
ideal is 1.00: every model runs at once and the run ends when the slowest does. Target ≤ 1.05
at 32 models. Run: python benchmarks/bench_fanout.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ["VIBEGEN_SANDBOX_JITTER"] = "off"
os.environ["VIBEGEN_SANDBOX_FAILURES"] = "off"
os.environ["VIBEGEN_SANDBOX_SPEED"] = "1"

from vibegen.catalog import parse_catalog  # noqa: E402
from vibegen.params import CommonParams  # noqa: E402
from vibegen.runner import Runner  # noqa: E402
from vibegen.store import Store  # noqa: E402

STYLES = ["stripes", "rings", "blocks", "waves", "dots", "grid"]


def catalog(n: int):
    """n sandbox models with latencies spread evenly from 0.5 s to 2.0 s."""
    text = (
        'schema_version = 1\n[routers.sandbox]\nlabel = "Sandbox"\nconcurrency = 64\n'
        'adapter = "vibegen.routers.sandbox_router:SandboxRouter"\nsimulated = true\n'
    )
    for i in range(n):
        latency = 0.5 + 1.5 * i / max(n - 1, 1)
        text += f"""
[[models]]
key = "sandbox:m{i}"
label = "M{i}"
router = "sandbox"
endpoint = "m{i}"
size = {{ param = "size", kind = "wh" }}
sandbox = {{ style = "{STYLES[i % 6]}", latency_median_s = {latency}, failure_rate = 0.0 }}
price = {{ unit = "simulated", usd = 0.01, seen = 2026-11-24, source = "bench" }}
"""
    return parse_catalog(text)


def main() -> int:
    """Print the overhead ratio for each model count."""
    print("models  slowest_s  run_wall_s  ratio")
    worst = 0.0
    for n in (1, 4, 16, 32):
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(f"sqlite:///{tmp}/bench.db")
            cat = catalog(n)
            runner = Runner(store, cat, env={}, heartbeat=False)
            slowest = max(m.sandbox.latency_median_s for m in cat.models)
            t = time.monotonic()
            run_id = runner.start_run(
                "a lighthouse at dusk", [m.key for m in cat.models], CommonParams()
            )
            runner.wait(run_id, 60)
            wall = time.monotonic() - t
            assert store.run_view(run_id).failures == 0
            runner.close()
            ratio = wall / slowest
            worst = max(worst, ratio) if n == 32 else worst
            print(f"{n:6d}  {slowest:9.2f}  {wall:10.3f}  {ratio:5.3f}")
    print(f"target ≤ 1.05 at 32 models: {'met' if worst <= 1.05 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
