"""Reviewing is quick: the pair and its vote buttons on one 1440x900 screen, votes on keys with
a visible "saved", A and B side by side on a phone too (a real browser, a fresh server)."""

from __future__ import annotations

import contextlib
import threading

from tests.e2e.conftest import wait_for_images, wait_until, wait_until_idle
from tests.e2e.test_review_browser import (
    MODELS,
    PAGE_IMAGES,
    enter_name,
    finished_run,
    my_ratings,
    review_url,
    visible_pair,
)

PAIR_TAB = "Pairwise: A / B"
VOTES = ("A is better", "B is better", "Tie", "Both bad")


def _box(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None, locator
    return box


def _pair_images(page):
    return [page.get_by_role("img", name=f"image {side}") for side in "AB"]


def _on_screen(box: dict, width: int, height: int) -> bool:
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= width
        and box["y"] + box["height"] <= height
    )


def test_pair_and_votes_fit_one_screen_and_a_key_votes(store, start_server, page, monkeypatch):
    """At 1440x900 A, B and the four vote buttons are on screen unscrolled; "a" votes A."""
    run_id = finished_run(store, monkeypatch)
    server = start_server()
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(review_url(store, server, run_id))
    enter_name(page, "Ana")
    wait_until_idle(page)
    page.mouse.click(5, 450)  # focus on the page, not on a field
    page.keyboard.press("a")  # on the grid tab: no pair in sight, so no vote
    page.get_by_role("tab", name=PAIR_TAB).click()
    page.get_by_text("keys: A, B, T tie, X both bad, U undo").wait_for()
    assert my_ratings(store, run_id) == set()
    images = _pair_images(page)
    for img in images:
        img.wait_for(state="visible")
    page.evaluate("window.scrollTo(0, 0)")
    boxes = [_box(img) for img in images]
    assert all(b["height"] >= 250 for b in boxes), boxes  # big enough to judge
    buttons = [page.get_by_role("button", name=label, exact=False) for label in VOTES]
    for loc, box in zip((*images, *buttons), (*boxes, *(_box(b) for b in buttons)), strict=True):
        assert _on_screen(box, 1440, 900), (loc, box)
    assert page.evaluate("window.scrollY") == 0
    assert my_ratings(store, run_id) == set()

    wait_until_idle(page)  # the keys are bound once the tab switch's rerun has drawn
    page.mouse.click(5, 450)  # focus on the page, not on a field
    page.keyboard.press("a")
    saved = page.get_by_text("✓ Vote 1 saved")
    saved.wait_for()
    assert _on_screen(_box(saved), 1440, 900), _box(saved)  # said where the rater looks
    (vote,) = wait_until(lambda: my_ratings(store, run_id), what="the vote in the store")
    assert vote[1] == "pair" and vote[5] in ("a", "b"), vote
    page.keyboard.press("u")  # undo on its key
    page.get_by_text("↩ Vote 1 withdrawn").wait_for()
    wait_until(lambda: not my_ratings(store, run_id), what="the vote withdrawn")


def test_a_and_b_stay_side_by_side_on_a_phone(store, start_server, chromium, monkeypatch):
    """At 390x844 A and B share a row (same top, A left of B) instead of stacking."""
    run_id = finished_run(store, monkeypatch)
    server = start_server()
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(20_000)
    try:
        phone = context.new_page()
        phone.goto(review_url(store, server, run_id))
        enter_name(phone, "Bo")
        phone.get_by_role("tab", name=PAIR_TAB).click()
        a, b = _pair_images(phone)
        wait_for_images(phone, PAGE_IMAGES)
        a.wait_for(state="visible")
        box_a, box_b = _box(a), _box(b)
        assert abs(box_a["y"] - box_b["y"]) < 2, (box_a, box_b)
        assert box_a["x"] + box_a["width"] <= box_b["x"], (box_a, box_b)
        assert box_b["x"] + box_b["width"] <= 390, box_b  # both within the phone's width
        assert box_a["width"] >= 120, box_a
        for label in VOTES:  # every vote button within the phone's width, none scrolled away
            box = _box(phone.get_by_role("button", name=label, exact=False))
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (label, box)
    finally:
        context.close()


def _finish(store, cell) -> None:
    import io

    from PIL import Image

    from vibegen.costs import Cost

    out = io.BytesIO()
    Image.new("RGB", (256, 256), (40 * cell.position % 256, 120, 160)).save(out, format="PNG")
    store.save_success(cell.id, out.getvalue(), cost=Cost(None, "simulated"), wall_s=0.5)


def test_pairs_fill_while_the_run_goes_without_a_reload(store, start_server, page):
    """Images finishing after the page opened join the pairs on their own; the pair on screen
    stays put, and the grid fills too."""
    runner = "runner-elsewhere"  # a live runner on another host is making the rest
    with _beating(store, runner):
        _fill_live(store, start_server, page, runner)


@contextlib.contextmanager
def _beating(store, runner: str):
    # The runner's heartbeat, kept fresh all along: a slow server start must not find its
    # cells stale and mark them interrupted.
    stop = threading.Event()

    def beat() -> None:
        while True:
            store.heartbeat(runner)
            if stop.wait(1.0):
                return

    thread = threading.Thread(target=beat, name="test-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _fill_live(store, start_server, page, runner: str) -> None:
    from vibegen.costs import Cost
    from vibegen.records import CellSpec

    specs = [
        CellSpec(m, "sandbox", label, 0, "a fox", {}, {}, Cost(None, "simulated"))
        for m, label in MODELS.items()
    ]
    run_id = store.create_run("a fox", {}, specs, runner_id=runner)
    made = store.run_view(run_id).cells
    for cell in made[:2]:
        _finish(store, cell)
    server = start_server()
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(review_url(store, server, run_id))
    enter_name(page, "Ana", n_images=2 + 2)  # the grid's two, the pair's two
    page.get_by_role("tab", name=PAIR_TAB).click()
    page.get_by_text("You have voted on 0 of 1 pairs · 2 images still being made").wait_for()
    shown = visible_pair(page)
    assert set(shown) == {made[0].label, made[1].label}

    _finish(store, made[2])  # the run still going: the pairs' own refresh shows it
    page.get_by_text("You have voted on 0 of 3 pairs · 1 image still being made").wait_for(
        timeout=10_000
    )
    assert visible_pair(page) == shown
    _finish(store, made[3])
    page.get_by_text("You have voted on 0 of 6 pairs").wait_for(timeout=10_000)  # no reload
    wait_for_images(page, len(made) + 2)
    assert visible_pair(page) == shown  # not swapped for a new draw under the rater's eyes
    assert page.get_by_text("still being made").count() == 0
