"""Fan-out overhead: first request → last result saved, ÷ the router's fixed 2.0 s latency.

A local fake of OpenAI's Images API (tests/fakes/openai_server.py, real HTTP on 127.0.0.1)
answers every generation after exactly 2.0 s, and the runner's limit for it is raised past
the cell count, so the ideal is 1.00: every request leaves at once and the run ends 2.0 s
later, every image and its cost in the store. Measured for 1, 8, 32, 128 and 256 cells (one
image per model). Targets (issue 16): ≤ 1.01 at 32 cells, ≤ 1.03 at 128. Also printed: how
long the requests took to leave (first → last request the fake received).

The fake runs in a process of its own, as a router runs on a machine of its own: its threads
do not take the runner's GIL (they still share the machine's cores). It answers a picture
like a model's, a 1024×1024 PNG of gradients and grain of about 1 MB (OpenAI's are 1-2 MB),
not a solid colour that compresses to a few kilobytes; `--solid` answers the solid PNG (how
the figures before 2026-12-03 were measured).

Also printed, as the floor under those figures: the same calls made by the `openai` SDK
alone (one thread per cell, released together, no VibeGen code), first request → last answer
parsed. The SDK spends about a millisecond of CPU under the GIL on each call it sends and each
answer it parses, so this is as wide as a Python client built on it can fan out.

Run: python benchmarks/bench_fanout.py [--solid]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fakes, from a checkout

from PIL import Image, ImageFilter  # noqa: E402

from tests.fakes.openai_server import TEST_KEY, OpenAIFake  # noqa: E402
from vibegen.allocator import keep_freed_memory  # noqa: E402
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


def picture(side: int = 1024) -> bytes:
    """A PNG with a model picture's texture (gradients under fine grain): about 1 MB."""
    bands = []
    for i, sigma in enumerate((64, 51, 77)):
        grain = Image.effect_noise((side, side), sigma).filter(ImageFilter.GaussianBlur(2))
        ramp = Image.linear_gradient("L").resize((side, side)).rotate(90 * i)
        bands.append(Image.blend(ramp, grain, 0.5))
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, format="PNG")
    return out.getvalue()


def serve(solid: bool) -> None:
    """The fake's own process: print its URL, then on each stdin line print the arrival
    times (epoch s, JSON) of the requests received since the last line."""
    image = None if solid else picture()
    with OpenAIFake(slow_s=LATENCY_S, image=image) as fake:
        fake.default_scenario = "slow"  # every generation answers after exactly LATENCY_S
        print(json.dumps({"url": fake.url, "image_bytes": len(image or b"")}), flush=True)
        seen = 0
        for _ in sys.stdin:
            sent = fake.requests
            print(json.dumps([r.at for r in sent[seen:]]), flush=True)
            seen = len(sent)


class Fake:
    """The fake router in a child process (see `serve`)."""

    def __init__(self, solid: bool) -> None:
        args = [sys.executable, __file__, "--serve"] + (["--solid"] if solid else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        said = json.loads(self._line())
        self.url, self.image_bytes = said["url"], said["image_bytes"]

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the fake router's process ended")
        return line

    def arrivals(self) -> list[float]:
        """When the requests since the last call arrived (epoch s)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return json.loads(self._line())

    def close(self) -> None:
        """Stop the child."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(10)


def one(n: int, fake: Fake) -> tuple[float, float]:
    """Run n cells; return (first request → last result saved, first → last request) in s."""
    cat = parse_catalog(ROUTER + "".join(MODEL.format(i=i) for i in range(n)))
    env = {"OPENAI_API_KEY": TEST_KEY, "OPENAI_BASE_URL": fake.url}
    fake.arrivals()  # forget earlier runs' requests
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/bench.db")
        # The limit raised past the cell count: this measures the runner, not a cap.
        runner = Runner(store, cat, env=env, heartbeat=False, concurrency={"openai": n})
        run_id = runner.start_run(
            "a lighthouse at dusk", [m.key for m in cat.models], CommonParams(quality="low")
        )
        if not runner.wait(run_id, 120):
            raise SystemExit(f"{n} cells did not finish in 120 s")
        view = store.run_view(run_id)
        saved = store.images_bulk([c.id for c in view.cells])
        runner.close()
        store.engine.dispose()
    if view.failures:
        raise SystemExit(f"{view.failures} of {n} cells failed: the figures would mean nothing")
    if len(saved) != n or any(c.cost_usd is None for c in view.cells):
        raise SystemExit("a cell ended without its image or its cost in the store")
    sent = fake.arrivals()
    last_saved = max(c.finished_at for c in view.cells)
    wall = last_saved.timestamp() - min(sent)
    return wall, max(sent) - min(sent)


def sdk_alone(n: int, fake: Fake) -> float:
    """The same n calls made by the SDK alone: first request → last answer parsed, in s."""
    import threading
    import time

    import openai

    client = openai.OpenAI(api_key=TEST_KEY, base_url=fake.url, max_retries=0)
    fake.arrivals()
    done: list[float] = []
    start = threading.Barrier(n + 1)

    def call() -> None:
        start.wait()
        raw = client.images.with_raw_response.generate(
            model="gpt-image-2", prompt="a lighthouse at dusk", n=1, quality="low"
        )
        raw.parse()
        done.append(time.time())

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    client.close()
    if len(done) != n:
        raise SystemExit(f"the SDK alone: {n - len(done)} of {n} calls failed")
    return max(done) - min(fake.arrivals())


def main() -> int:
    """Print the ratio per cell count, its target and MET / NOT MET."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--solid", action="store_true", help="answer a solid-colour PNG")
    parser.add_argument("--serve", action="store_true", help="be the fake (run by the bench)")
    args = parser.parse_args()
    solid = args.solid
    if args.serve:
        serve(solid)
        return 0
    fake = Fake(solid)
    # As the app's process does when it opens its store (vibegen/process.py).
    allocator = "heap reuse set" if keep_freed_memory() else "the C library's defaults"
    try:
        image = "a solid-colour PNG" if solid else f"a {fake.image_bytes / 1e6:.2f} MB PNG"
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"bench_fanout: {platform.machine()}, {os.cpu_count()} cores (load {load}), Python "
            f"{platform.python_version()}, fake latency {LATENCY_S:.1f} s, {image} per image, "
            f"allocator: {allocator}"
        )
        print("cells  requests_leave_s  run_wall_s  ratio  sdk_alone_ratio  target")
        met = True
        one(1, fake)  # warm-up: imports, the SDK's first client
        for n in SIZES:
            wall, spread = one(n, fake)
            floor = sdk_alone(n, fake) / LATENCY_S
            ratio = wall / LATENCY_S
            target = TARGETS.get(n)
            verdict = ""
            if target is not None:
                ok = ratio <= target
                met &= ok
                verdict = f"≤ {target:.2f} {'MET' if ok else 'NOT MET'}"
            print(f"{n:5d}  {spread:16.3f}  {wall:10.3f}  {ratio:5.3f}  {floor:15.3f}  {verdict}")
        print(f"overall: {'MET' if met else 'NOT MET'}")
    finally:
        fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
