"""Real-browser end-to-end fixtures: a freshly started Streamlit server per test, Chromium.

Chromium is Debian's `/usr/bin/chromium` driven by the Python `playwright` package (never
`playwright install`). Without them the browser tests skip on a developer machine and fail in
CI (`CI=true`): CI must never skip them silently.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("VIBEGEN_CHROMIUM", "/usr/bin/chromium")  # Debian's chromium
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
TIMEOUT_MS = 20_000

IMAGES = "[data-testid=stImage] img"
NAV = "[data-testid=stSidebar] [data-testid=stPageLink-NavLink]"  # the sidebar's page links
# The sidebar's page list as a user reads it: the Image page is opened from a grid only.
PAGE_NAMES = ["Generate", "History", "Review", "Briefs", "Leaderboard", "Models", "Spend"]
UNFINISHED = ("pending", "running")
# Every sandbox model's checkbox label, in picker order.
SANDBOX_LABELS = ("Prism", "Halo", "Mosaic", "Tide", "Pointil", "Lattice (slow)")

T = TypeVar("T")


# ------------------------------------------------------------------ availability
def in_ci() -> bool:
    """Whether we run in CI, where a missing browser is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _browser_missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package `playwright` is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session; each test gets its own context and server."""
    missing = _browser_missing()
    if missing:
        if in_ci():
            pytest.fail(
                f"browser tests cannot run: {missing}; CI=true must not skip them", pytrace=False
            )
        pytest.skip(f"browser tests skipped: {missing}")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        pw.stop()


@pytest.fixture
def page(chromium):
    """A fresh browser context (no cookies, no storage) and page at 1400×1000."""
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


# ------------------------------------------------------------------------ server
def streamlit_command(app: str, port: int, address: str = "127.0.0.1", *extra: str) -> list[str]:
    """`python -m streamlit run APP` headless on `address:port`, no usage stats, no watcher.

    `python -m streamlit`, not a console-script wrapper: the child's pid is the server.
    """
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        app,
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        *extra,
    ]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The VibeGen Streamlit app in a child process, on a fixed port and VIBEGEN_HOME.

    `start` waits until `/_stcore/health` answers (the page content is the test's to wait
    for); `kill` SIGKILLs the Streamlit process itself, as a crash would; `restart` starts a
    new process on the same port and data directory, so the old links keep working.
    """

    def __init__(
        self,
        home: Path,
        logs: Path,
        env: dict[str, str] | None = None,
        base_path: str = "",
        address: str = "127.0.0.1",
    ) -> None:
        self.home = Path(home)
        self.base_path = base_path.strip("/")  # Streamlit's server.baseUrlPath
        self.address = address  # what the server binds; tests still connect to 127.0.0.1
        self.logs = Path(logs)
        self.port = free_port()
        self.env = dict(env or {})
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.log_files: list[Path] = []

    @property
    def url(self) -> str:
        """The app's base URL (no trailing slash), with its base path if it has one."""
        return f"http://127.0.0.1:{self.port}" + (f"/{self.base_path}" if self.base_path else "")

    @property
    def pid(self) -> int:
        """The Streamlit server's own process id."""
        assert self.proc is not None, "server not started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0, **env: str) -> Server:
        """Start the app (extra env vars override the constructor's) and wait for health."""
        assert not self.running, "server already running"
        self.env.update(env)
        child_env = {
            **os.environ,
            "VIBEGEN_HOME": str(self.home),
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        self.starts += 1
        log_path = self.logs / f"server-{self.port}-{self.starts}.log"
        self.log_files.append(log_path)
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                streamlit_command(
                    "app.py",
                    self.port,
                    self.address,
                    *(["--server.baseUrlPath", self.base_path] if self.base_path else []),
                ),
                cwd=ROOT,
                env=child_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.proc.returncode}:\n" + self.log_tail()
                )
            if self.healthy():
                return self
            time.sleep(0.1)
        raise AssertionError(f"server not healthy after {timeout} s:\n" + self.log_tail())

    def healthy(self) -> bool:
        """Whether `/_stcore/health` answers ok (the server is up, not that a page works)."""
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as r:
                return r.status == 200 and r.read().strip() == b"ok"
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL the Streamlit process: no shutdown hook, no cleanup, like a crash."""
        assert self.running, "server not running"
        cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        assert b"streamlit" in cmdline and b"run" in cmdline, (
            f"pid {self.pid} is not the Streamlit server: {cmdline}"
        )
        os.kill(self.pid, signal.SIGKILL)
        assert self.proc.wait(10) == -signal.SIGKILL
        assert not self.healthy(), "something still answers on the port after the kill"

    def stop(self) -> None:
        """Stop the server by its process id (SIGTERM, then SIGKILL if it hangs)."""
        if not self.running:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, **env: str) -> Server:
        """A new server process on the same port and VIBEGEN_HOME."""
        self.stop()
        return self.start(**env)

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the latest server log."""
        if not self.log_files or not self.log_files[-1].exists():
            return "(no log)"
        return self.log_files[-1].read_text(errors="replace")[-chars:]


@pytest.fixture
def home(isolated_env) -> Path:
    """This test's VIBEGEN_HOME (made by the suite-wide `isolated_env` fixture)."""
    isolated_env.mkdir(parents=True, exist_ok=True)
    return isolated_env


@pytest.fixture
def start_server(home, tmp_path):
    """`start_server(base_path="", **env)`: a fresh app on this test's home; stopped at the end.

    Sandbox failures and jitter are off unless a test says otherwise, so runs are exact.
    """
    servers: list[Server] = []

    def _start(base_path: str = "", address: str = "127.0.0.1", **env: str) -> Server:
        server = Server(
            home,
            tmp_path,
            {"VIBEGEN_SANDBOX_FAILURES": "off", "VIBEGEN_SANDBOX_JITTER": "off", **env},
            base_path,
            address,
        )
        servers.append(server)
        return server.start()

    try:
        yield _start
    finally:
        for server in servers:
            server.stop()
            # Shown only when the test failed (pytest prints captured teardown output then).
            for log in server.log_files:
                print(f"----- {log.name}\n{log.read_text(errors='replace')[-3000:]}")


# ------------------------------------------------------------------------- store
@pytest.fixture
def store(home):
    """The store the server uses (same SQLite file), opened by the test to read facts."""
    from vibegen.store import Store

    s = Store.open(f"sqlite:///{home / 'vibegen.db'}")
    try:
        yield s
    finally:
        s.engine.dispose()


def cells(store, run_id: str) -> list:
    """A run's cells as stored, in grid order."""
    return store.run_view(run_id).cells


def statuses(store, run_id: str) -> dict[str, str]:
    """{label: status} of a run's cells (labels are unique with one image per model)."""
    return {c.label: c.status for c in cells(store, run_id)}


def image_hashes(store, run_id: str) -> dict[str, str]:
    """{generation id: sha256 of the stored original image} for the run's finished images."""
    return {
        c.id: hashlib.sha256(store.image(c.id)).hexdigest()
        for c in cells(store, run_id)
        if c.status == "ok"
    }


# ----------------------------------------------------------------------- waiting
def wait_until(
    probe: Callable[[], T], timeout: float = 20.0, interval: float = 0.05, what: str = "condition"
) -> T:
    """Call `probe` until it returns something truthy; return that, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def shown_images(page) -> list[str]:
    """Alt texts ("<label> image") of the grid images the browser has actually loaded."""
    return page.evaluate(
        """sel => Array.from(document.querySelectorAll(sel))
                 .filter(i => i.complete && i.naturalWidth > 0).map(i => i.alt)""",
        IMAGES,
    )


def wait_for_images(page, n: int, timeout: float = 20.0, at_least: bool = False) -> list[str]:
    """Wait until exactly `n` (or, `at_least`, n or more) grid images are loaded and shown;
    return their alt texts."""
    page.wait_for_function(
        """([sel, n, atLeast]) => {
             const imgs = Array.from(document.querySelectorAll(sel));
             const count = atLeast ? imgs.length >= n : imgs.length === n;
             return count && imgs.every(i => i.complete && i.naturalWidth > 0);
           }""",
        arg=[IMAGES, n, at_least],
        timeout=timeout * 1000,
    )
    return shown_images(page)


def wait_for_app(page, timeout: float = 30.0) -> None:
    """Wait for the Generate page to have rendered (the first script run takes a few s)."""
    page.get_by_role("button", name="Generate").wait_for(timeout=timeout * 1000)


def wait_until_idle(page, timeout: float = 15.0) -> None:
    """Wait for the script to be idle, every image loaded and no CSS animation running."""
    page.wait_for_function(
        """sel => {
             const app = document.querySelector('[data-testid=stApp]');
             return app && app.dataset.testScriptState === 'notRunning'
               && Array.from(document.querySelectorAll(sel)).every(i => i.complete)
               && document.getAnimations().filter(a => a.playState === 'running').length === 0;
           }""",
        arg=IMAGES,
        timeout=timeout * 1000,
    )


def progress_text(page) -> str:
    """The run header's progress text, e.g. '3 of 5 done · generating…'."""
    return page.locator("[data-testid=stProgress]").inner_text()


def shown_prompt(page, prompt: str) -> bool:
    """Whether the run's prompt is on the page, shown literally (st.text above the grid)."""
    texts = page.locator("[data-testid=stText]").all_inner_texts()
    return any(t.strip() == prompt for t in texts)


def run_id_of(page) -> str:
    """The run id in the page's URL (?run=<id>)."""
    return parse_qs(urlparse(page.url).query)["run"][0]


def cell_captions(page) -> list[str]:
    """The time · cost captions of the finished cells, in grid order."""
    return [
        t
        for t in page.locator(
            "[data-testid=stGridCell] [data-testid=stCaptionContainer]"
        ).all_inner_texts()
        if "⏱️" in t
    ]


CAPTION = re.compile(r"⏱️ \d+\.\d s · 💲 \$\d+\.\d{4} · simulated")


# ---------------------------------------------------------------------- actions
def pick_models(page, labels: Iterable[str]) -> None:
    """Make exactly `labels` checked among the sandbox models in the sidebar."""
    wanted = set(labels)
    unknown = wanted - set(SANDBOX_LABELS)
    assert not unknown, f"not sandbox models: {unknown}"
    for label in SANDBOX_LABELS:
        box = page.get_by_role("checkbox", name=label, exact=True)
        if box.is_checked() != (label in wanted):
            page.locator("[data-testid=stCheckbox]").filter(has=box).click()
            page.wait_for_function(
                "([b, v]) => b.checked === v", arg=[box.element_handle(), label in wanted]
            )


def generate(page, prompt: str, labels: Iterable[str]) -> str:
    """Type a prompt, pick models, press Generate; return the run id once it is in the URL."""
    labels = list(labels)
    box = page.get_by_label("Prompt")
    box.fill(prompt)
    box.press("Control+Enter")  # a text area commits on Ctrl+Enter (or on blur)
    pick_models(page, labels)
    # The plan line proves the server has the picks before we press the button.
    page.get_by_text(f"{len(labels)} images from {len(labels)} models").first.wait_for()
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url(re.compile(r"[?&]run=[0-9a-f]{32}"))
    return run_id_of(page)


# ---------------------------------------------------------------------- reading
def dataframe_rows(frame) -> list[dict[str, str]] | None:
    """The rows an `st.dataframe` shows, as {column header: cell text}; None until drawn.

    Read from the accessible table the data grid keeps inside its canvas (visible rows only,
    so keep the table short or scroll it first).
    """
    return frame.evaluate(
        """el => {
             const t = el.querySelector('table[role=grid]');
             if (!t) return null;
             const heads = Array.from(t.querySelectorAll('thead th'))
                 .map(h => h.textContent.trim());
             const cells = Array.from(t.querySelectorAll('tbody tr'))
                 .map(r => Array.from(r.querySelectorAll('td')).map(c => c.textContent.trim()));
             // The grid fills its accessible table in steps: a header row not yet written,
             // or a row with fewer cells than headers, is a table still being drawn.
             if (!heads.length) return null;
             if (!cells.length || cells.some(r => r.length !== heads.length)) return null;
             return cells.map(r => Object.fromEntries(r.map((c, i) => [heads[i], c])));
           }"""
    )


def table_with(frame, column: str) -> list[dict[str, str]] | None:
    """The rows of `frame` once its headers name `column` (None until then): the grid can
    show a whole table whose header row is still an earlier draw's."""
    rows = dataframe_rows(frame)
    return rows if rows and all(column in r for r in rows) else None


def sidebar_pages(page) -> list[str]:
    """The page names the sidebar lists, in order, once the list is drawn."""
    page.locator(NAV).first.wait_for()
    return [t.strip() for t in page.locator(NAV).all_inner_texts()]


def shared_links(page) -> tuple[str, str]:
    """Open the share box under the grid and read the review and blind links as shown."""
    page.get_by_text("Share this run for review").click()
    codes = page.locator("[data-testid=stExpander] [data-testid=stCode]")
    codes.nth(1).wait_for()
    review, blind = (t.strip() for t in codes.all_inner_texts()[:2])
    return review, blind
