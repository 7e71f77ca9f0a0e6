"""Benchmark: launch -> first page drawn, for VibeGen's Generate page and a minimal Streamlit app.

Run: python3 benchmarks/bench_startup.py [--repeats 5]. Target: VibeGen's first page is drawn
within 2x the time a minimal Streamlit app (a title and a button) takes, both measured in the
same run, alternately, on the same machine.

Method. One headless Chromium (Debian's /usr/bin/chromium through playwright) is started
before any server, so its own start-up is not counted. Then, for each launch, the clock starts
as `python -m streamlit run <app> --server.headless true` is spawned; `/_stcore/health` is
polled every 20 ms; as soon as it answers, a fresh browser page loads the app, and the clock
stops when the page's own first content is visible: the Generate page's header line and its
Generate button, or the minimal app's title and button. That is what a user sees first: it
counts Python's start, Streamlit's start, the page script's imports and first run, and the
browser drawing the delta. VIBEGEN_HOME is one temporary directory whose database an uncounted
first launch creates (a returning user's start, not a first install's); medians over the
launches are compared.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, streamlit_command  # noqa: E402

TARGET_RATIO = 2.0
MINIMAL_APP = 'import streamlit as st\n\nst.title("Hello")\nst.button("Go")\n'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def launch(
    browser, app: Path, visible: list[str], home: str, timeout_s: float = 120.0
) -> dict[str, float]:
    """Start one server for `app`; return seconds to health and to the first page drawn."""
    port = _free_port()
    env = {**os.environ, "VIBEGEN_HOME": home, "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        streamlit_command(str(app), port),
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not _healthy(port):
            if proc.poll() is not None or time.perf_counter() - t0 > timeout_s:
                raise RuntimeError(f"{app.name}: the server did not become healthy")
            time.sleep(0.02)
        health = time.perf_counter() - t0
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/", wait_until="commit")
        for text in visible:
            page.get_by_text(text, exact=False).first.wait_for(
                state="visible", timeout=timeout_s * 1000
            )
        drawn = time.perf_counter() - t0
        context.close()
        return {"health": health, "drawn": drawn}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    """Launch both apps alternately and compare the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="vibegen-startup-"))
    home = str(tmp / "home")
    minimal = tmp / "minimal_app.py"
    minimal.write_text(MINIMAL_APP)
    apps = {
        "minimal Streamlit app": (minimal, ["Hello", "Go"]),
        "VibeGen app.py (Generate)": (
            ROOT / "app.py",
            ["many image models, side by side", "Generate"],
        ),
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {time.strftime('%Y-%m-%d')}; load average "
        f"{os.getloadavg()[0]:.1f} at the start"
    )
    results: dict[str, list[dict[str, float]]] = {name: [] for name in apps}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        try:
            # Uncounted first launches warm the disk cache and create VibeGen's database, so
            # the launches measured are a returning user's, not a first install's.
            launch(browser, minimal, ["Hello"], home)
            launch(browser, ROOT / "app.py", ["Generate"], home)
            for _ in range(args.repeats):
                for name, (app, visible) in apps.items():
                    results[name].append(launch(browser, app, visible, home))
        finally:
            browser.close()
    shutil.rmtree(tmp, ignore_errors=True)
    medians = {}
    for name, runs in results.items():
        health = statistics.median(r["health"] for r in runs)
        drawn = statistics.median(r["drawn"] for r in runs)
        medians[name] = drawn
        each = ", ".join(f"{r['drawn']:.2f}" for r in runs)
        print(
            f"{name}: launch -> healthy {health:.2f} s, launch -> first page drawn "
            f"{drawn:.2f} s (median of {len(runs)}; {each})"
        )
    ratio = medians["VibeGen app.py (Generate)"] / medians["minimal Streamlit app"]
    print(
        f"first page drawn: VibeGen / minimal = {ratio:.2f}; target <= {TARGET_RATIO:.0f}x: "
        f"{'MET' if ratio <= TARGET_RATIO else 'NOT MET'}"
    )


if __name__ == "__main__":
    main()
