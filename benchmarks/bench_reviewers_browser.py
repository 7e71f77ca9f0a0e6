"""Load: N concurrent reviewers in real browsers, rating one run THROUGH the running server.

Unlike bench_reviewers.py (threads calling the store), every rating here is a real click in a
Chromium page on the Review page, sent over Streamlit's websocket, handled by the widget's
callback in the server and written by the app's store: the whole path a teammate's click takes.

For each N a fresh app server is started on a fresh VIBEGEN_HOME with a finished 8-image
sandbox run made in-process; N browser contexts (each its own cookie jar, so its own rater) in
one Chromium open the run's review link, type a name and click stars on every image of the
grid, R rounds (each round gives every image a different number of stars, so every click is a
change), as fast as the page allows, in one of two paces:

- eager: the next click as soon as the widget shows the previous one (a fast human);
- acked: the next click once the page has its answer from the server (a `script_finished`
  message on the page's websocket after the click), so each rater has at most one click in
  flight;
- eager-close: eager, and each rater closes the tab the moment its last click shows (a rater
  who rates the last image and closes the tab). The tab is closed as a browser closes it, with
  `beforeunload` first: while a click is still on its way the Review page asks "Leave site?",
  and this rater stays (`warned` counts those), waits until the page is idle and closes again.
  The other paces keep the pages open until the store has settled.

Accounting, per click (matched to the rater's stored events by image and stars):

- events: rating events stored; missing = clicks - events (the raw comparison);
- superseded: a click with no event of its own, on an image the same rater clicked again
  later. Streamlit folds widget changes that arrive while the session's script (here the grid
  fragment) is still running into one rerun, so an image clicked twice before the server got
  to it fires one callback, with its latest value: the earlier value never becomes an event;
- lost: a click with no event that was NOT clicked over later: a rating the rater was shown
  but the store never got. Must be 0. So must `wrong`: (rater, image) pairs whose final
  stored stars differ from the rater's last click;
- ratings/s = events ÷ seconds from the first click to the last event stored.

Everything is bounded in time; the server is stopped by its pid in `finally`.
Needs Debian's /usr/bin/chromium and the `playwright` package (never `playwright install`).
Run: python benchmarks/bench_reviewers_browser.py [--reviewers 10,50] [--pace eager,acked]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `tests.e2e.conftest` importable
    sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, Server  # noqa: E402
from vibegen.settings import load_settings  # noqa: E402

MODELS = ["sandbox:prism", "sandbox:halo", "sandbox:mosaic", "sandbox:tide"]
IMAGES_PER_MODEL = 2
N_IMAGES = len(MODELS) * IMAGES_PER_MODEL
PAGE_IMAGES = N_IMAGES + 2  # the grid's and the (hidden) pairwise tab's two
IMAGES = "[data-testid=stImage] img"
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
SANDBOX_ENV = {
    "VIBEGEN_SANDBOX_SPEED": "0.01",
    "VIBEGEN_SANDBOX_FAILURES": "off",
    "VIBEGEN_SANDBOX_JITTER": "off",
}
PACES = ("eager", "acked", "eager-close")
LOADING = 10  # pages loading at once


@dataclass
class Reviewer:
    """One rater's page and what it did."""

    name: str
    clicks: int = 0
    log: list[tuple[int, int]] = field(default_factory=list)  # (grid position, stars)
    load_s: float = 0.0
    click_s: list[float] = field(default_factory=list)  # click until the pace allows the next
    finished: int = 0  # script runs the server reported finished to this page
    warned: int = 0  # "Leave site?" prompts met on closing the tab
    forced: int = 0  # closes that neither asked nor closed within 5 s, then forced
    error: str | None = None

    def on_frame(self, payload: bytes | str) -> None:
        """Count the `script_finished` messages on the page's websocket (not preempted ones)."""
        if isinstance(payload, str):
            return
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = ForwardMsg()
        try:
            msg.ParseFromString(payload)
        except Exception:  # noqa: BLE001 - not a ForwardMsg: not ours to count
            return
        if (
            msg.WhichOneof("type") == "script_finished"
            and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN
        ):
            self.finished += 1


def make_run(home: Path) -> tuple[str, list[str]]:
    """A finished sandbox run in `home`'s store; its id and its generation ids in grid order."""
    os.environ.update(SANDBOX_ENV, VIBEGEN_HOME=str(home))
    from vibegen.params import CommonParams
    from vibegen.runner import Runner
    from vibegen.store import Store

    store = Store.open(f"sqlite:///{home / 'vibegen.db'}")
    try:
        runner = Runner(store, heartbeat=False, env=load_settings().environ)
        try:
            run_id = runner.start_run(
                "a lighthouse at dusk, flat colours",
                MODELS,
                CommonParams(images_per_model=IMAGES_PER_MODEL),
            )
            if not runner.wait(run_id, 60):
                raise SystemExit("the sandbox run did not finish in 60 s")
        finally:
            runner.close()
        view = store.run_view(run_id)
    finally:
        store.engine.dispose()
    assert [c.status for c in view.cells] == ["ok"] * N_IMAGES, view.cells
    return run_id, [c.id for c in view.cells]


async def open_review(context, url: str, who: Reviewer, timeout_ms: int):
    """Open the review link, type the name, wait for every image; return the page."""
    page = await context.new_page()
    page.set_default_timeout(timeout_ms)
    page.on("websocket", lambda ws: ws.on("framereceived", who.on_frame))
    t = time.perf_counter()
    await page.goto(url)
    await page.get_by_label("Your name").fill(who.name)
    await page.get_by_role("button", name="Start reviewing").click()
    await page.wait_for_function(
        """([sel, n]) => {
             const imgs = Array.from(document.querySelectorAll(sel));
             return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0);
           }""",
        arg=[IMAGES, PAGE_IMAGES],
        timeout=timeout_ms,
    )
    await page.get_by_text(f"Rating as {who.name}").wait_for()
    who.load_s = time.perf_counter() - t
    return page


async def rate_everything(
    page, who: Reviewer, rounds: int, pace: str, start: asyncio.Event, timeout_s: float
) -> None:
    """Click stars on every grid image, R rounds, each click as soon as the pace allows."""
    await start.wait()
    grid = page.locator("[data-testid=stGridCell]")
    for r in range(rounds):
        for i in range(N_IMAGES):
            stars = (r + i) % 5 + 1  # differs from the previous round's: always a change
            star = f'[data-testid=stFeedback] button[aria-label="{stars} out of 5 stars"]'
            runs_before = who.finished
            t = time.perf_counter()
            await grid.nth(i).locator(star).click()
            who.clicks += 1
            who.log.append((i, stars))
            while pace == "acked" and who.finished <= runs_before:  # the server's answer
                if time.perf_counter() - t > timeout_s:
                    raise TimeoutError(f"no script_finished {timeout_s:.0f} s after a click")
                await asyncio.sleep(0.005)
            await grid.nth(i).locator(f'{star}[aria-checked="true"]').wait_for()
            who.click_s.append(time.perf_counter() - t)
    if pace == "eager-close":  # the rater is done and closes the tab at once
        await close_tab(page, who, timeout_s)
        await page.context.close()


async def close_tab(page, who: Reviewer, timeout_s: float) -> None:
    """Close the tab as a browser does (beforeunload first); asked to stay, stay until idle."""
    asked = asyncio.Event()

    async def stay(dialog) -> None:
        who.warned += 1
        await dialog.dismiss()  # "Stay on page"
        asked.set()

    page.on("dialog", stay)
    deadline = time.perf_counter() + timeout_s
    while not page.is_closed():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"the page still asked to stay after {timeout_s:.0f} s")
        asked.clear()
        await page.close(run_before_unload=True)
        attempt = time.perf_counter() + 5.0
        while not page.is_closed() and not asked.is_set() and time.perf_counter() < attempt:
            await asyncio.sleep(0.01)
        if asked.is_set():  # the page said a rating is still being saved: let it finish
            await page.locator(IDLE).wait_for()
            await asyncio.sleep(0.25)
        elif not page.is_closed():
            # Not asked, yet not closed either (seen now and then with headless Chromium after
            # a dismissed prompt): the browser would close the tab, so close it.
            who.forced += 1
            await page.close()


async def drive(
    server: Server,
    home: Path,
    run_id: str,
    reviewers: list[Reviewer],
    rounds: int,
    pace: str,
    budget_s: float,
    timeout_ms: int,
) -> tuple[float, float, int, int, float]:
    """Open every reviewer's page, then click, then wait for the store to settle.

    Returns (load seconds, first click time, exceptions shown, events stored, last change).
    """
    from playwright.async_api import async_playwright

    url = f"{server.url}/Review?run={run_id}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            contexts = [await browser.new_context(viewport=VIEWPORT) for _ in reviewers]
            # Teammates open the link over a minute or so, not in the same millisecond: at most
            # LOADING pages load at once, so 50 first loads do not starve a 2-core machine.
            gate = asyncio.Semaphore(LOADING)

            async def arrive(context, who: Reviewer):
                async with gate:
                    return await open_review(context, url, who, timeout_ms)

            t_load = time.perf_counter()
            loaded = await asyncio.wait_for(
                asyncio.gather(
                    *(arrive(c, who) for c, who in zip(contexts, reviewers, strict=True)),
                    return_exceptions=True,
                ),
                budget_s,
            )
            load_s = time.perf_counter() - t_load
            pages, raters = [], []
            for page, who in zip(loaded, reviewers, strict=True):
                if isinstance(page, BaseException):
                    who.error = f"page did not load: {type(page).__name__}"
                else:
                    pages.append(page)
                    raters.append(who)

            start = asyncio.Event()
            tasks = [
                asyncio.create_task(rate_everything(p, who, rounds, pace, start, timeout_ms / 1000))
                for p, who in zip(pages, raters, strict=True)
            ]
            t0 = time.perf_counter()
            start.set()
            _, pending = await asyncio.wait(tasks, timeout=budget_s) if tasks else (set(), set())
            for task in pending:
                task.cancel()
            for task, who in zip(tasks, raters, strict=True):
                if task in pending:
                    who.error = f"not finished in {budget_s:.0f} s"
                elif task.exception() is not None:
                    exc = task.exception()
                    who.error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            clicks = sum(who.clicks for who in reviewers)
            exceptions = 0
            if pace != "eager-close":
                stored, t_end = await asyncio.to_thread(wait_stored, home, clicks, 60.0)
                for p in pages:
                    exceptions += await p.locator("[data-testid=stException]").count()
        finally:
            await browser.close()
    if pace == "eager-close":
        stored, t_end = await asyncio.to_thread(wait_stored, home, clicks, 60.0)
    return load_s, t0, exceptions, stored, t_end


def wait_stored(home: Path, clicks: int, settle_s: float) -> tuple[int, float]:
    """Poll the store until it holds `clicks` events or stops growing; (count, last change)."""
    from vibegen.store import Store

    store = Store.open(f"sqlite:///{home / 'vibegen.db'}")
    try:
        deadline = time.perf_counter() + settle_s
        last, last_change = store.rating_events(), time.perf_counter()
        while True:
            count = store.rating_events()
            now = time.perf_counter()
            if count != last:
                last, last_change = count, now
            # All in: one more quiet second catches doubled events; else 5 s of nothing.
            quiet = 1.0 if count >= clicks else 5.0
            if now > deadline or now - last_change > quiet:
                return count, last_change
            time.sleep(0.02)
    finally:
        store.engine.dispose()


def account(home: Path, run_id: str, ids: list[str], reviewers: list[Reviewer]) -> dict:
    """Match clicks to stored events: superseded, lost, extra, wrong final values."""
    import sqlalchemy as sa

    from vibegen.store import Store

    store = Store.open(f"sqlite:///{home / 'vibegen.db'}")
    try:
        final = {
            (r["rater"], r["generation_id"]): int(r["value"])
            for r in store.current_ratings(run_id)
            if r["mode"] == "stars"
        }
        t = store.t["ratings"]
        with store.engine.connect() as conn:
            events = conn.execute(
                sa.select(t.c.rater, t.c.generation_id, t.c.value)
                .where(t.c.run_id == run_id)
                .order_by(t.c.id)
            ).all()
    finally:
        store.engine.dispose()
    superseded = lost = extra = wrong = 0
    examples: list[str] = []
    for who in reviewers:
        got = [
            (e.generation_id, int(e.value) if e.value else None)
            for e in events
            if e.rater == who.name
        ]
        for n, (i, stars) in enumerate(who.log):
            if (ids[i], stars) in got:
                got.remove((ids[i], stars))
            elif any(j == i for j, _ in who.log[n + 1 :]):
                superseded += 1
            else:
                lost += 1
                examples.append(
                    f"{who.name}: click {n + 1} (image {i + 1}, {stars} stars) "
                    "has no event and was not clicked over"
                )
        extra += len(got)
        examples += [f"{who.name}: extra event {g}" for g in got[:3]]
        last = {i: stars for i, stars in who.log}
        bad = [i for i, stars in last.items() if final.get((who.name, ids[i])) != stars]
        wrong += len(bad)
        examples += [
            f"{who.name}: image {i + 1} stored {final.get((who.name, ids[i]))} "
            f"stars, last clicked {last[i]}"
            for i in bad[:3]
        ]
    return {
        "events": len(events),
        "superseded": superseded,
        "lost": lost,
        "extra": extra,
        "wrong": wrong,
        "examples": examples,
    }


def scenario(n: int, rounds: int, pace: str, budget_s: float, timeout_ms: int, keep: bool) -> dict:
    """Start a server, make a run, drive `n` browser reviewers; return the figures."""
    tmp = Path(tempfile.mkdtemp(prefix=f"vibegen-bench-{n}-{pace}-"))
    home = tmp / "home"
    home.mkdir()
    run_id, ids = make_run(home)
    server = Server(home, tmp, dict(SANDBOX_ENV))
    reviewers = [Reviewer(f"reviewer {k:02d}") for k in range(n)]
    try:
        server.start(timeout=60)
        load_s, t0, exceptions, stored, t_end = asyncio.run(
            drive(server, home, run_id, reviewers, rounds, pace, budget_s, timeout_ms)
        )
        clicks = sum(who.clicks for who in reviewers)
        figures = account(home, run_id, ids, reviewers)
        log = server.log_tail(1500)
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    secs = t_end - t0
    click_s = sorted(s for who in reviewers for s in who.click_s)
    return {
        "n": n,
        "pace": pace,
        "clicks": clicks,
        "stored": stored,
        "secs": secs,
        "rate": stored / secs if secs > 0 else 0.0,
        "load_s": load_s,
        "click_p50": statistics.median(click_s) if click_s else float("nan"),
        "click_p95": click_s[int(0.95 * (len(click_s) - 1))] if click_s else float("nan"),
        "exceptions": exceptions,
        "log": log,
        **figures,
        "warned": sum(who.warned for who in reviewers),
        "forced": sum(who.forced for who in reviewers),
        "errors": [f"{w.name}: {w.error}" for w in reviewers if w.error],
    }


def main() -> int:
    """Print clicks, events, superseded, lost and ratings/s per number of browser reviewers."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--reviewers",
        default="10,50",
        help="comma-separated numbers of concurrent browser reviewers",
    )
    parser.add_argument(
        "--pace", default=",".join(PACES), help="comma-separated: " + ", ".join(PACES)
    )
    parser.add_argument("--rounds", type=int, default=2, help="star clicks per image")
    parser.add_argument(
        "--budget",
        type=float,
        default=300.0,
        help="seconds allowed for loading, and again for clicking, per N",
    )
    parser.add_argument(
        "--timeout-ms", type=int, default=60_000, help="Playwright timeout for one action"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        print(f"Chromium is not installed at {CHROMIUM}", file=sys.stderr)
        return 2
    paces = [p.strip() for p in args.pace.split(",") if p.strip()]
    if not set(paces) <= set(PACES):
        parser.error("--pace takes " + ", ".join(PACES))
    print(
        f"{os.cpu_count()} CPUs · {N_IMAGES} images per run · {args.rounds} rounds "
        f"({N_IMAGES * args.rounds} star clicks per reviewer)"
    )
    print(
        "reviewers  pace         clicks  events  missing  superseded  lost  wrong  seconds  "
        "ratings/s  load_s  click_p50_ms  click_p95_ms  warned"
    )
    failed = False
    for n in (int(x) for x in args.reviewers.split(",") if x.strip()):
        for pace in paces:
            r = scenario(n, args.rounds, pace, args.budget, args.timeout_ms, args.keep)
            print(
                f"{r['n']:9d}  {r['pace']:11s}  {r['clicks']:6d}  {r['events']:6d}  "
                f"{r['clicks'] - r['events']:7d}  {r['superseded']:10d}  {r['lost']:4d}  "
                f"{r['wrong']:5d}  {r['secs']:7.2f}  {r['rate']:9.1f}  {r['load_s']:6.1f}  "
                f"{r['click_p50'] * 1000:12.0f}  {r['click_p95'] * 1000:12.0f}  "
                f"{r['warned']:6d}",
                flush=True,
            )
            problems = r["errors"][:5] + r["examples"][:10]
            if r["exceptions"]:
                problems.append(f"{r['exceptions']} exception(s) shown on the pages")
            if r["forced"]:
                problems.append(f"{r['forced']} tab(s) closed without the prompt after 5 s")
            if r["extra"]:
                problems.append(f"{r['extra']} event(s) no click explains")
            for p in problems:
                print(f"    {p}")
            if (
                r["lost"]
                or r["wrong"]
                or r["extra"]
                or r["errors"]
                or r["exceptions"]
                or r["stored"] != r["events"]
            ):
                failed = True
                print("    server log tail:\n" + r["log"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
