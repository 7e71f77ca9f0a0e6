"""The Generate page in a real browser, against a freshly started server on the sandbox."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    CAPTION,
    IMAGES,
    NAV,
    ROOT,
    VIEWPORT,
    cell_captions,
    cells,
    generate,
    progress_text,
    run_id_of,
    shown_images,
    shown_prompt,
    statuses,
    wait_for_app,
    wait_for_images,
    wait_until,
    wait_until_idle,
)
from vibegen.money import cents
from vibegen.settings import load_settings

# The README screenshot is made by this suite; set VIBEGEN_UPDATE_SCREENSHOT=1 to refresh it
# (otherwise it goes to a temporary file, so a test run leaves the working tree clean).
README_SCREENSHOT = ROOT / "docs" / "screenshot.png"
PROMPT = "A poster of a lighthouse at dusk, flat colours"
FOX = "a red fox in the snow, woodcut"
BOAT = "a paper boat on a puddle"
FIVE = ("Prism", "Halo", "Mosaic", "Tide", "Pointil")
MARGIN_S = 1.0  # the first image must land at least this long before the slowest model ends

# In the browser: loaded grid images (alt texts) and cells still showing a skeleton.
GRID_STATE = """sel => ({
    images: Array.from(document.querySelectorAll(sel))
        .filter(i => i.complete && i.naturalWidth > 0).map(i => i.alt),
    waiting: Array.from(document.querySelectorAll(
        '[data-testid=stGridCell] [data-testid=stCaptionContainer]'))
        .filter(c => /queued…|generating…/.test(c.innerText)).length,
})"""


@pytest.mark.browser
def test_run_link_opened_first_on_a_fresh_server_shows_the_run(
    store, start_server, page, monkeypatch
):
    """A run made beforehand, its link the server's first page request: all of it is shown."""
    from vibegen.params import CommonParams
    from vibegen.runner import Runner

    monkeypatch.setenv("VIBEGEN_SANDBOX_SPEED", "0.01")
    monkeypatch.setenv("VIBEGEN_SANDBOX_FAILURES", "off")
    keys = ["sandbox:prism", "sandbox:halo", "sandbox:mosaic"]
    runner = Runner(store, heartbeat=False, env=load_settings().environ)
    try:
        run_id = runner.start_run(FOX, keys, CommonParams(images_per_model=2))
        assert runner.wait(run_id, 30)
    finally:
        runner.close()
    assert [c.status for c in cells(store, run_id)] == ["ok"] * 6

    server = start_server()
    # The first page request this server ever gets is the run's link.
    page.goto(f"{server.url}/?run={run_id}")

    alts = wait_for_images(page, 6)
    assert sorted(alts) == sorted(
        f"{label} image" for label in ("Prism", "Halo", "Mosaic") for _ in range(2)
    )
    grid = page.locator("[data-testid=stGridCell]")
    assert grid.count() == 6
    titles = [t.splitlines()[0] for t in grid.all_inner_texts()]
    assert titles == [
        "Prism sandbox",
        "Prism sandbox · #2",
        "Halo sandbox",
        "Halo sandbox · #2",
        "Mosaic sandbox",
        "Mosaic sandbox · #2",
    ], titles
    assert progress_text(page).startswith("6 of 6 done")
    assert shown_prompt(page, FOX)
    assert len(cell_captions(page)) == 6
    # The shared frame ran (pure pages/ mode): Generate page title and the page nav are there.
    assert page.get_by_role("heading", name="VibeGen").is_visible()
    assert page.locator(NAV, has_text="History").is_visible()
    assert page.locator("[data-testid=stAlertContentError]").count() == 0


@pytest.mark.browser
def test_generate_fills_the_grid_progressively(store, start_server, page, tmp_path):
    """Images land one by one (timestamps prove it); every cell ends with image, time, cost."""
    # Prism 0.9 s … Pointil 6.75 s: the spread leaves room for a grid refresh that lags on a
    # loaded machine (at 0.8 the first three images once arrived in the same refresh).
    server = start_server(VIBEGEN_SANDBOX_SPEED="1.5")
    page.goto(server.url)
    wait_for_app(page)
    run_id = generate(page, PROMPT, FIVE)
    assert len(run_id) == 32

    seen: dict[str, float] = {}  # alt text -> wall time it was first seen loaded
    waiting_at_first = None
    deadline = time.monotonic() + 30
    while len(seen) < len(FIVE):
        assert time.monotonic() < deadline, f"only {sorted(seen)} appeared"
        state = page.evaluate(GRID_STATE, IMAGES)
        now = time.time()
        for alt in state["images"]:
            seen.setdefault(alt, now)
        if seen and waiting_at_first is None:
            waiting_at_first = state["waiting"]
        time.sleep(0.05)

    run = cells(store, run_id)
    assert [c.status for c in run] == ["ok"] * 5
    slowest_finish = max(c.finished_at.timestamp() for c in run)
    first, last = min(seen.values()), max(seen.values())
    started = min(c.started_at.timestamp() for c in run)
    print(
        "seen (s after start):",
        {k: round(v - started, 2) for k, v in seen.items()},
        "finished:",
        {c.label: round(c.finished_at.timestamp() - started, 2) for c in run},
    )
    # Progressive fill: the fastest model's image was on screen well before the slowest
    # model had even finished, while other cells were still generating.
    assert seen["Prism image"] == first
    assert first < slowest_finish - MARGIN_S, (first, slowest_finish, seen)
    assert waiting_at_first and waiting_at_first >= 1
    # …and nothing is shown before the store has it.
    assert last >= slowest_finish - 0.01, (last, slowest_finish)
    assert sorted(seen) == sorted(f"{label} image" for label in FIVE)

    wait_until(lambda: "generating" not in progress_text(page), what="the run header to settle")
    wait_until_idle(page)
    assert progress_text(page).startswith("5 of 5 done")
    captions = cell_captions(page)
    assert len(captions) == 5 and all(CAPTION.search(c) for c in captions), captions
    cost = sum(c.cost_usd for c in run)
    header = progress_text(page)
    assert f"simulated {cents(cost)} (sandbox: nothing billed)" in header, header
    assert "failed" not in header, header
    assert page.get_by_label("Prompt").input_value() == PROMPT
    assert shown_prompt(page, PROMPT)

    target = (
        README_SCREENSHOT
        if os.environ.get("VIBEGEN_UPDATE_SCREENSHOT") == "1"
        else tmp_path / "screenshot.png"
    )
    _screenshot(page, target)
    assert target.stat().st_size > 10_000


def _screenshot(page, path: Path) -> None:
    """The whole page: Streamlit scrolls inside its main area, so grow the viewport to fit."""
    height = page.evaluate("""() => Math.max(...Array.from(document.querySelectorAll(
        '[data-testid=stMain], [data-testid=stAppViewContainer], [data-testid=stApp]'))
        .map(e => e.scrollHeight))""")
    page.set_viewport_size(
        {"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], min(int(height), 2400))}
    )
    wait_until_idle(page)
    page.mouse.move(0, 0)  # no hover highlight in the picture
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


@pytest.mark.browser
def test_switching_page_mid_run_loses_nothing(store, start_server, page):
    """Leaving for History mid-run: the run still completes, and its link shows every image."""
    # Pointil takes 18 s: on a loaded machine the first image and the click on History took
    # longer than 9 s, and the run was over before the page was left (failed in full runs).
    server = start_server(VIBEGEN_SANDBOX_SPEED="4")
    page.goto(server.url)
    wait_for_app(page)
    run_id = generate(page, BOAT, FIVE)
    page.locator(IMAGES).first.wait_for()  # mid-run: the first image is in

    page.locator(NAV, has_text="History").click()
    page.get_by_role("heading", name="History").wait_for()
    assert page.url.rstrip("/").endswith("/History")
    left_behind = [
        label for label, s in statuses(store, run_id).items() if s in ("pending", "running")
    ]
    assert left_behind, "the run finished before we left the page: the test proves nothing"
    page.locator("[class*=st-key-run-card-]").first.wait_for()  # the gallery is drawn

    # Nobody is looking at the run any more; the background runner still finishes it.
    final = wait_until(
        lambda: (
            (s := statuses(store, run_id))
            and all(v not in ("pending", "running") for v in s.values())
            and s
        ),
        timeout=60,
        interval=0.1,
        what="every cell to finish",
    )
    assert set(final.values()) == {"ok"}, final

    page.goto(f"{server.url}/?run={run_id}")
    assert sorted(wait_for_images(page, 5)) == sorted(f"{label} image" for label in FIVE)
    assert progress_text(page).startswith("5 of 5 done")
    assert run_id_of(page) == run_id
    assert shown_prompt(page, BOAT)
    assert len(cell_captions(page)) == 5
    assert set(shown_images(page)) == {f"{label} image" for label in FIVE}
