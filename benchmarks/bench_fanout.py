"""Fan-out overhead: first request → last result saved, ÷ the router's fixed 2.0 s latency.

A local fake of OpenAI's Images API (tests/fakes/openai_server.py, real HTTP on 127.0.0.1)
answers every generation after exactly 2.0 s, and the runner's limit for it is raised past
the cell count, so the ideal is 1.00: every request leaves at once and the run ends 2.0 s
later. Measured for 1, 8, 32, 128 and 256 cells (one image per model). Targets (issue 16):
≤ 1.01 at 32 cells, ≤ 1.03 at 128. Also printed: how long the requests took to leave (first
→ last request the fake received), which is the part a store write per cell used to stretch.

Run: python benchmarks/bench_fanout.py
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fakes, from a checkout

from tests.fakes.openai_server import TEST_KEY, OpenAIFake  # noqa: E402
from vibegen.catalog import parse_catalog  # noqa: E402
from vibegen.params import CommonParams  # noqa: E402
from vibegen.runner import Runner  # noqa: E402
from vibegen.store import Store  # noqa: E402

LATENCY_S = 2.0
SIZES = (1, 8, 32, 128, 256)
TARGETS = {32: 1.01, 128: 1.03}

ROUTER = """schema_version = 1
[routers.openai]
label = "OpenAI"
adapter = "vibegen.routers.openai_router:OpenAIRouter"
key_env = "OPENAI_API_KEY"
url_env = "OPENAI_BASE_URL"
base_url = "https://api.openai.com/v1"
concurrency = 4
"""
MODEL = """
[[models]]
key = "openai:m{i}"
label = "M{i}"
router = "openai"
endpoint = "gpt-image-2"
seed_supported = false
params = {{ quality = ["low", "medium", "high"] }}
[models.size]
param = "size"
kind = "openai_size"
max_edge = 3840
multiple_of = 16
max_pixels = 8_294_400
min_pixels = 1_044_480
max_ratio = 3.0
[models.price]
unit = "token"
per_tokens = 1_000_000
text_input_usd = 5.0
text_output_usd = 10.0
image_input_usd = 8.0
image_output_usd = 30.0
seen = 2026-11-24
source = "bench"
"""


def one(n: int, fake: OpenAIFake) -> tuple[float, float]:
    """Run n cells; return (first request → last result saved, first → last request) in s."""
    cat = parse_catalog(ROUTER + "".join(MODEL.format(i=i) for i in range(n)))
    env = {"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": fake.url}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/bench.db")
        # The limit raised past the cell count: this measures the runner, not a cap.
        runner = Runner(store, cat, env=env, heartbeat=False, concurrency={"openai": n})
        before = len(fake.requests)
        run_id = runner.start_run(
            "a lighthouse at dusk", [m.key for m in cat.models], CommonParams(quality="low")
        )
        if not runner.wait(run_id, 120):
            raise SystemExit(f"{n} cells did not finish in 120 s")
        view = store.run_view(run_id)
        runner.close()
        store.engine.dispose()
    if view.failures:
        raise SystemExit(f"{view.failures} of {n} cells failed: the figures would mean nothing")
    sent = [r.at for r in fake.requests[before:]]
    last_saved = max(c.finished_at for c in view.cells)
    wall = last_saved.timestamp() - min(sent)
    return wall, max(sent) - min(sent)


def main() -> int:
    """Print the ratio per cell count, its target and MET / NOT MET."""
    print(
        f"bench_fanout: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, fake latency {LATENCY_S:.1f} s"
    )
    print("cells  requests_leave_s  run_wall_s  ratio  target")
    met = True
    with OpenAIFake(slow_s=LATENCY_S) as fake:
        fake.default_scenario = "slow"  # every generation answers after exactly LATENCY_S
        one(1, fake)  # warm-up: imports, the SDK's first client
        for n in SIZES:
            wall, spread = one(n, fake)
            ratio = wall / LATENCY_S
            target = TARGETS.get(n)
            verdict = ""
            if target is not None:
                ok = ratio <= target
                met &= ok
                verdict = f"≤ {target:.2f} {'MET' if ok else 'NOT MET'}"
            print(f"{n:5d}  {spread:16.3f}  {wall:10.3f}  {ratio:5.3f}  {verdict}")
    print(f"overall: {'MET' if met else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
