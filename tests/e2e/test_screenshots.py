"""Every page at a designer's 1440×900 and a phone's 390×844, screenshotted in Chromium.

The screenshots go to a temporary folder; with VIBEGEN_SCREENSHOT_DIR=docs/screenshots they
refresh the README's gallery instead (a normal test run leaves the checkout untouched). On each
page and size the layout fact that holds everywhere is asserted: nothing is wider than the
window, so no page scrolls sideways.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    ROOT,
    generate,
    shared_links,
    wait_for_app,
    wait_for_images,
    wait_until_idle,
)

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
MODELS = ("Prism", "Halo", "Mosaic", "Tide")
WAIT_MS = 60_000  # fourteen pages in a row, in a suite that loads the machine
# (file name, path after the server URL, text that says the page has drawn)
PAGES = (
    ("history", "/History", "History"),
    ("leaderboard", "/Leaderboard", "Leaderboard"),
    ("models", "/Models", "Models"),
    ("spend", "/Spend", "Spend"),
    ("briefs", "/Briefs", "Briefs"),
)


def _folder(tmp_path: Path) -> Path:
    chosen = os.environ.get("VIBEGEN_SCREENSHOT_DIR")
    folder = (ROOT / chosen) if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _no_sideways_scroll(page, where: str) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 1, f"{where} is {wide} px wider than the window"


def _shoot(page, folder: Path, name: str, size: str) -> None:
    wait_until_idle(page)
    _no_sideways_scroll(page, f"{name} at {size}")
    page.screenshot(path=str(folder / f"{name}-{size}.png"))


@pytest.mark.browser
def test_every_page_at_desktop_and_phone_size(start_server, chromium, tmp_path: Path):
    folder = _folder(tmp_path)
    server = start_server(VIBEGEN_SANDBOX_SPEED="0.2")
    desk = chromium.new_context(viewport=SIZES["desktop"])
    desk.set_default_timeout(WAIT_MS)
    try:
        page = desk.new_page()
        page.goto(server.url)
        wait_for_app(page)
        run_id = generate(page, "a lighthouse in a storm, linocut", MODELS)
        wait_for_images(page, len(MODELS))
        review, _blind = shared_links(page)
        run_url = f"{server.url}/?run={run_id}"
    finally:
        desk.close()

    for size, viewport in SIZES.items():
        context = chromium.new_context(viewport=viewport)
        context.set_default_timeout(WAIT_MS)
        try:
            page = context.new_page()
            page.goto(run_url)
            wait_for_images(page, len(MODELS))
            _shoot(page, folder, "generate", size)
            for name, path, drawn in PAGES:
                page.goto(server.url + path)
                page.get_by_role("heading", name=drawn).first.wait_for()
                _shoot(page, folder, name, size)
            page.goto(review)
            page.get_by_label("Your name").fill(f"Dana {size}")
            page.get_by_role("button", name="Start reviewing").click()
            page.get_by_text(f"Rating as Dana {size}").wait_for()
            wait_for_images(page, len(MODELS), at_least=True)
            _shoot(page, folder, "review", size)
        finally:
            context.close()
    shot = sorted(p.name for p in folder.glob("*.png"))
    assert len(shot) == 2 * (len(PAGES) + 2), shot
