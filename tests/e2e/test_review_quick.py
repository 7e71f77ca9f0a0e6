"""Reviewing is quick: the pair and its vote buttons on one 1440x900 screen, votes on keys with
a visible "saved", A and B side by side on a phone too (a real browser, a fresh server)."""

from __future__ import annotations

from tests.e2e.conftest import wait_for_images, wait_until
from tests.e2e.test_review_browser import (
    PAGE_IMAGES,
    enter_name,
    finished_run,
    my_ratings,
    review_url,
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
    finally:
        context.close()
